-- adminstats schema v1.
-- Days are Julian day numbers of tenant-local dates; instants are milliseconds since the epoch.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;

CREATE TABLE tenants (
    id         INTEGER PRIMARY KEY,
    tenant_key TEXT NOT NULL UNIQUE
);

-- Every event id a tenant has had accepted, forever: the idempotency ledger.
CREATE TABLE seen_events (
    tenant   INTEGER NOT NULL,
    event_id TEXT NOT NULL,
    PRIMARY KEY (tenant, event_id)
) WITHOUT ROWID;

-- The folded numbers of one user on one local day (only days with events have a row here).
CREATE TABLE user_day (
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
) WITHOUT ROWID;

-- For last_active_time: a user's latest active day at or before a date.
CREATE INDEX user_day_by_user ON user_day (tenant, open_id, day);

-- The distinct 'os,client' pairs of a user's day, quoted as rendered.
CREATE TABLE user_day_os (
    tenant  INTEGER NOT NULL,
    day     INTEGER NOT NULL,
    open_id TEXT NOT NULL,
    pair    TEXT NOT NULL,
    PRIMARY KEY (tenant, day, open_id, pair)
) WITHOUT ROWID;

-- Issued tenant access tokens; they outlive restarts.
CREATE TABLE tokens (
    token      TEXT PRIMARY KEY,
    app_id     TEXT NOT NULL,
    issued_at  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
