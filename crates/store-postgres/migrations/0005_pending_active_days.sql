-- adminstats on PostgreSQL, schema v5: active-day bits folded many batches at a time, not by each.
--
-- A batch set the bit of each of its user-days in `user_active` itself: a B-tree probe, a row lock
-- and a row update per user-day, a third of the database's time when every event is a new
-- user-day. Now a batch writes the user-days it created in one row here, in its transaction, and
-- their bits are set later, many batches at a time (by a read that needs them, or by the
-- appends once many have gathered): each fold takes rows from here and sets their bits in one
-- transaction, so in every snapshot a created user-day is either here or in its bits, and a read
-- that takes both together answers the same whenever the fold runs.
CREATE TABLE active_pending (
    tenant   text COLLATE "C" NOT NULL,
    -- The earliest of `days`: a read of days before it need not look at this row.
    min_day  integer NOT NULL,
    batch    bigserial,
    open_ids text[] COLLATE "C" NOT NULL,
    days     integer[] NOT NULL,
    PRIMARY KEY (tenant, min_day, batch)
);
-- Written once and read whole: stored as they are rather than compressed on every batch.
ALTER TABLE active_pending ALTER COLUMN open_ids SET STORAGE EXTERNAL, ALTER COLUMN days SET STORAGE EXTERNAL;
