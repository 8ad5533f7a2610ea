-- adminstats schema v4: stored numbers refuse a value of the wrong type, and each tenant's day
-- keeps its totals.
--
-- `user_day` is rebuilt as STRICT: an INTEGER column refuses a REAL, so an arithmetic overflow
-- (SQLite turns an overflowing integer sum into a float) fails its transaction instead of storing
-- a value no reader can use. A value already stored as a float by an older binary is brought back
-- into range (CAST saturates at the int64 bounds).

CREATE TABLE user_day_strict (
    tenant             INTEGER NOT NULL,
    day                INTEGER NOT NULL,
    open_id            TEXT NOT NULL,
    events             INTEGER NOT NULL,
    im_events          INTEGER NOT NULL,
    docs_events        INTEGER NOT NULL,
    cal_events         INTEGER NOT NULL,
    vc_events          INTEGER NOT NULL,
    search_events      INTEGER NOT NULL,
    task_events        INTEGER NOT NULL,
    send_messenger_num INTEGER NOT NULL,
    create_docs_num    INTEGER NOT NULL,
    create_cal_num     INTEGER NOT NULL,
    create_task_num    INTEGER NOT NULL,
    vc_num             INTEGER NOT NULL,
    vc_seconds         INTEGER NOT NULL,
    active_seconds     INTEGER NOT NULL,
    email_send_ext     INTEGER NOT NULL,
    email_send_in      INTEGER NOT NULL,
    email_receive_ext  INTEGER NOT NULL,
    email_receive_in   INTEGER NOT NULL,
    quick_search       INTEGER NOT NULL,
    tab_search         INTEGER NOT NULL,
    platforms          INTEGER NOT NULL,
    packages           INTEGER NOT NULL,
    max_ts             INTEGER NOT NULL,
    PRIMARY KEY (tenant, day, open_id)
) STRICT, WITHOUT ROWID;

INSERT INTO user_day_strict
SELECT tenant, day, open_id,
       CAST(events AS INTEGER),
       CAST(im_events AS INTEGER),
       CAST(docs_events AS INTEGER),
       CAST(cal_events AS INTEGER),
       CAST(vc_events AS INTEGER),
       CAST(search_events AS INTEGER),
       CAST(task_events AS INTEGER),
       CAST(send_messenger_num AS INTEGER),
       CAST(create_docs_num AS INTEGER),
       CAST(create_cal_num AS INTEGER),
       CAST(create_task_num AS INTEGER),
       CAST(vc_num AS INTEGER),
       CAST(vc_seconds AS INTEGER),
       CAST(active_seconds AS INTEGER),
       CAST(email_send_ext AS INTEGER),
       CAST(email_send_in AS INTEGER),
       CAST(email_receive_ext AS INTEGER),
       CAST(email_receive_in AS INTEGER),
       CAST(quick_search AS INTEGER),
       CAST(tab_search AS INTEGER),
       CAST(platforms AS INTEGER),
       CAST(packages AS INTEGER),
       CAST(max_ts AS INTEGER)
  FROM user_day;
DROP TABLE user_day;
ALTER TABLE user_day_strict RENAME TO user_day;

-- The fold of every user row of a tenant's day (the same counters, folded the same way),
-- written in the transaction that folds the rows. Ingestion refuses an event that would take one
-- of these sums past the day's limit (ARCHITECTURE.md, "Exact sums"), so no sum served for that
-- day (a user's, a department's, or one computed from two counters) can overflow int64. Rows are
-- derived from `user_day` the first time a day is written after this migration.
CREATE TABLE tenant_day (
    tenant             INTEGER NOT NULL,
    day                INTEGER NOT NULL,
    events             INTEGER NOT NULL,
    im_events          INTEGER NOT NULL,
    docs_events        INTEGER NOT NULL,
    cal_events         INTEGER NOT NULL,
    vc_events          INTEGER NOT NULL,
    search_events      INTEGER NOT NULL,
    task_events        INTEGER NOT NULL,
    send_messenger_num INTEGER NOT NULL,
    create_docs_num    INTEGER NOT NULL,
    create_cal_num     INTEGER NOT NULL,
    create_task_num    INTEGER NOT NULL,
    vc_num             INTEGER NOT NULL,
    vc_seconds         INTEGER NOT NULL,
    active_seconds     INTEGER NOT NULL,
    email_send_ext     INTEGER NOT NULL,
    email_send_in      INTEGER NOT NULL,
    email_receive_ext  INTEGER NOT NULL,
    email_receive_in   INTEGER NOT NULL,
    quick_search       INTEGER NOT NULL,
    tab_search         INTEGER NOT NULL,
    platforms          INTEGER NOT NULL,
    packages           INTEGER NOT NULL,
    max_ts             INTEGER NOT NULL,
    PRIMARY KEY (tenant, day)
) STRICT, WITHOUT ROWID;
