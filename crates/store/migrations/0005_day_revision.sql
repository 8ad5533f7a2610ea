-- adminstats schema v5: each tenant's day says how often it was restated after publication
-- (`/admin_user_stats/days`): `revision` moves by one for every commit of late events that changed
-- the day's rows, in that commit; `changed_at` is the instant (ms) of the latest, 0 when none.
ALTER TABLE tenant_day ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tenant_day ADD COLUMN changed_at INTEGER NOT NULL DEFAULT 0;
