-- adminstats on PostgreSQL, schema v2: every text key compares as bytes (COLLATE "C").
--
-- Ids are compared, never read by people: under the database's locale each comparison went
-- through strcoll (a sixth of the database's time serving a listing page), and a range of open_ids
-- followed the locale's order rather than the byte order in which the service lists users (the
-- embedded store's, and Rust's). The indexes are rebuilt; no value changes.

ALTER TABLE meta ALTER COLUMN key TYPE text COLLATE "C";
ALTER TABLE seen_events ALTER COLUMN tenant TYPE text COLLATE "C", ALTER COLUMN event_id TYPE text COLLATE "C";
ALTER TABLE user_day ALTER COLUMN tenant TYPE text COLLATE "C", ALTER COLUMN open_id TYPE text COLLATE "C";
ALTER TABLE user_active ALTER COLUMN tenant TYPE text COLLATE "C", ALTER COLUMN open_id TYPE text COLLATE "C";
ALTER TABLE user_day_os ALTER COLUMN tenant TYPE text COLLATE "C", ALTER COLUMN open_id TYPE text COLLATE "C",
    ALTER COLUMN pair TYPE text COLLATE "C";
ALTER TABLE tenant_day ALTER COLUMN tenant TYPE text COLLATE "C";
ALTER TABLE dept_day ALTER COLUMN tenant TYPE text COLLATE "C", ALTER COLUMN dept TYPE text COLLATE "C";
ALTER TABLE dept_basis ALTER COLUMN tenant TYPE text COLLATE "C";
ALTER TABLE tokens ALTER COLUMN token TYPE text COLLATE "C", ALTER COLUMN app_id TYPE text COLLATE "C";
ALTER TABLE rate_window ALTER COLUMN tenant TYPE text COLLATE "C", ALTER COLUMN app_id TYPE text COLLATE "C",
    ALTER COLUMN api TYPE text COLLATE "C";
