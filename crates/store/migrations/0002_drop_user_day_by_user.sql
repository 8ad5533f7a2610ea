-- last_active_time is answered from an in-memory map of active days (ARCHITECTURE.md): the
-- secondary index cost one random B-tree insert per new user-day, the main cost of ingestion at scale.
DROP INDEX IF EXISTS user_day_by_user;
