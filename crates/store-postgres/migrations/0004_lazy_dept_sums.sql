-- adminstats on PostgreSQL, schema v4: department sums brought up to date when read, not by every
-- batch.
--
-- A batch moved the department sums of every department its users belong to, reading each
-- user-day's old row first to know what it moved them by; under one lock per tenant, so that
-- those old rows stayed true until commit. That serialised a tenant's ingestion on every server,
-- and the sums were a third of each batch's time. Now a batch only marks its days (`dept_dirty`);
-- a query of a marked day first recomputes that day's sums from its user rows (one scan of the
-- day), under the day's row lock.

ALTER TABLE tenant_day ADD COLUMN dept_dirty boolean NOT NULL DEFAULT false;
CREATE INDEX tenant_day_dept_dirty ON tenant_day (tenant, day) WHERE dept_dirty;
