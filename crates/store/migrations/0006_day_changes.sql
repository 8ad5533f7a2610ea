-- adminstats schema v6: the order in which a tenant's days were restated
-- (`/admin_user_stats/days/changes`): `change_seq` is 0 for a day never restated, and each commit
-- that restates a day gives it the tenant's next number, in that commit. A reader that saw every
-- number up to n has seen every restatement committed before it; the single writer (and, on a
-- shared database, the row it updates) commits them in that order.
ALTER TABLE tenant_day ADD COLUMN change_seq INTEGER NOT NULL DEFAULT 0;
-- Days restated before this version are numbered in the order of their latest change.
UPDATE tenant_day SET change_seq = (
    SELECT count(*) FROM tenant_day AS t2
    WHERE t2.tenant = tenant_day.tenant AND t2.revision > 0
      AND (t2.changed_at, t2.day) <= (tenant_day.changed_at, tenant_day.day)
) WHERE revision > 0;
CREATE INDEX tenant_day_changes ON tenant_day (tenant, change_seq) WHERE change_seq > 0;
