-- adminstats on PostgreSQL, schema v1: the SQLite schema's v6, with the tenant's key (text) in
-- place of SQLite's numeric tenant id. Every table's primary key starts with the tenant, so each
-- can be distributed by it (Citus: ARCHITECTURE.md); `meta` and `tokens` are small and global
-- (reference tables). Days are Julian day numbers of tenant-local dates; instants are ms.

CREATE TABLE meta (
    key   text PRIMARY KEY,
    value bytea NOT NULL
);

-- Every event id a tenant has had accepted, forever: the idempotency ledger.
CREATE TABLE seen_events (
    tenant   text NOT NULL,
    event_id text NOT NULL,
    PRIMARY KEY (tenant, event_id)
);

-- The folded numbers of one user on one local day (only days with events have a row here).
-- The columns after the key are `DayCounters` of core's metrics, in order.
CREATE TABLE user_day (
    tenant             text NOT NULL,
    day                integer NOT NULL,
    open_id            text NOT NULL,
    events             bigint NOT NULL,
    im_events          bigint NOT NULL,
    docs_events        bigint NOT NULL,
    cal_events         bigint NOT NULL,
    vc_events          bigint NOT NULL,
    search_events      bigint NOT NULL,
    task_events        bigint NOT NULL,
    send_messenger_num bigint NOT NULL,
    create_docs_num    bigint NOT NULL,
    create_cal_num     bigint NOT NULL,
    create_task_num    bigint NOT NULL,
    vc_num             bigint NOT NULL,
    vc_seconds         bigint NOT NULL,
    active_seconds     bigint NOT NULL,
    email_send_ext     bigint NOT NULL,
    email_send_in      bigint NOT NULL,
    email_receive_ext  bigint NOT NULL,
    email_receive_in   bigint NOT NULL,
    quick_search       bigint NOT NULL,
    tab_search         bigint NOT NULL,
    platforms          bigint NOT NULL,
    packages           bigint NOT NULL,
    max_ts             bigint NOT NULL,
    PRIMARY KEY (tenant, day, open_id)
);

-- For last_active_time, each user's active days (no in-memory index is the source of truth when
-- many servers write): one row per user and block of 64 days, bit i set when day 64 * block + i
-- has a row in user_day. A second index of user_day by user cost a random B-tree insert per new
-- user-day into an index larger than the cache (and a full-page image in the WAL for most of them
-- after every checkpoint); these rows are few and stay in the cache.
CREATE TABLE user_active (
    tenant  text NOT NULL,
    open_id text NOT NULL,
    block   integer NOT NULL,
    bits    bigint NOT NULL,
    PRIMARY KEY (tenant, open_id, block)
);

-- The distinct 'os,client' pairs of a user's day, quoted as rendered.
CREATE TABLE user_day_os (
    tenant  text NOT NULL,
    day     integer NOT NULL,
    open_id text NOT NULL,
    pair    text NOT NULL,
    PRIMARY KEY (tenant, day, open_id, pair)
);

-- The fold of a tenant's user rows per day (the overflow bound), and the day's restatements.
CREATE TABLE tenant_day (
    tenant             text NOT NULL,
    day                integer NOT NULL,
    events             bigint NOT NULL,
    im_events          bigint NOT NULL,
    docs_events        bigint NOT NULL,
    cal_events         bigint NOT NULL,
    vc_events          bigint NOT NULL,
    search_events      bigint NOT NULL,
    task_events        bigint NOT NULL,
    send_messenger_num bigint NOT NULL,
    create_docs_num    bigint NOT NULL,
    create_cal_num     bigint NOT NULL,
    create_task_num    bigint NOT NULL,
    vc_num             bigint NOT NULL,
    vc_seconds         bigint NOT NULL,
    active_seconds     bigint NOT NULL,
    email_send_ext     bigint NOT NULL,
    email_send_in      bigint NOT NULL,
    email_receive_ext  bigint NOT NULL,
    email_receive_in   bigint NOT NULL,
    quick_search       bigint NOT NULL,
    tab_search         bigint NOT NULL,
    platforms          bigint NOT NULL,
    packages           bigint NOT NULL,
    max_ts             bigint NOT NULL,
    revision           bigint NOT NULL DEFAULT 0,
    changed_at         bigint NOT NULL DEFAULT 0,
    change_seq         bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, day)
);
CREATE INDEX tenant_day_changes ON tenant_day (tenant, change_seq) WHERE change_seq > 0;

-- Department sums per day (see the SQLite migration 0003); `DeptCounts` in order after the key.
CREATE TABLE dept_day (
    tenant                   text NOT NULL,
    day                      integer NOT NULL,
    dept                     text NOT NULL,
    subtree                  boolean NOT NULL,
    version                  smallint NOT NULL,
    total_user_num           bigint NOT NULL,
    active_user_num          bigint NOT NULL,
    suite_dau                bigint NOT NULL,
    new_user_num             bigint NOT NULL,
    new_active_num           bigint NOT NULL,
    resign_user_num          bigint NOT NULL,
    im_dau                   bigint NOT NULL,
    send_messenger_user_num  bigint NOT NULL,
    send_messenger_num       bigint NOT NULL,
    docs_dau                 bigint NOT NULL,
    create_docs_user_num     bigint NOT NULL,
    create_docs_num          bigint NOT NULL,
    cal_dau                  bigint NOT NULL,
    create_cal_user_num      bigint NOT NULL,
    create_cal_num           bigint NOT NULL,
    vc_dau                   bigint NOT NULL,
    vc_duration              bigint NOT NULL,
    task_dau                 bigint NOT NULL,
    create_task_user_num     bigint NOT NULL,
    create_task_num          bigint NOT NULL,
    active_seconds           bigint NOT NULL,
    email_send_ext           bigint NOT NULL,
    email_send_in            bigint NOT NULL,
    email_receive_ext        bigint NOT NULL,
    email_receive_in         bigint NOT NULL,
    search_active_dau        bigint NOT NULL,
    quick_search             bigint NOT NULL,
    tab_search               bigint NOT NULL,
    PRIMARY KEY (tenant, day, dept, subtree, version)
);

-- The directory basis under which a tenant's dept_day rows were computed (none: rebuild).
CREATE TABLE dept_basis (
    tenant text PRIMARY KEY,
    basis  bigint NOT NULL
);

-- Issued tenant access tokens: every server accepts a token any of them issued.
CREATE TABLE tokens (
    token      text PRIMARY KEY,
    app_id     text NOT NULL,
    issued_at  bigint NOT NULL,
    expires_at bigint NOT NULL
);
CREATE INDEX tokens_by_app ON tokens (app_id, expires_at);

-- Requests per app, API and wall-clock second, over every server (the rate limits). Unlogged:
-- after a crash the counts start again from zero, which only forgives a second's requests.
CREATE UNLOGGED TABLE rate_window (
    tenant text NOT NULL,
    app_id text NOT NULL,
    api    text NOT NULL,
    second bigint NOT NULL,
    n      integer NOT NULL,
    PRIMARY KEY (tenant, app_id, api, second)
);
