-- Department sums per day, kept current as events are folded (ARCHITECTURE.md): one row per
-- tenant, tenant-local day, department (department_id, "0" the root), kind (subtree = 1: the
-- department's whole subtree; 0: its direct members) and product version (0 every version, 1 + i
-- the i-th package). The day comes before the department so that a commit of one day's events
-- dirties the few pages of that day, not a page per department. The columns after the key are `DeptCounts` of core's metrics, in order; the
-- version-0 rows hold only the event-derived sums (the directory-derived ones come from the
-- directory at query time).
CREATE TABLE dept_day (
    tenant                   INTEGER NOT NULL,
    day                      INTEGER NOT NULL,
    dept                     TEXT NOT NULL,
    subtree                  INTEGER NOT NULL,
    version                  INTEGER NOT NULL,
    total_user_num           INTEGER NOT NULL,
    active_user_num          INTEGER NOT NULL,
    suite_dau                INTEGER NOT NULL,
    new_user_num             INTEGER NOT NULL,
    new_active_num           INTEGER NOT NULL,
    resign_user_num          INTEGER NOT NULL,
    im_dau                   INTEGER NOT NULL,
    send_messenger_user_num  INTEGER NOT NULL,
    send_messenger_num       INTEGER NOT NULL,
    docs_dau                 INTEGER NOT NULL,
    create_docs_user_num     INTEGER NOT NULL,
    create_docs_num          INTEGER NOT NULL,
    cal_dau                  INTEGER NOT NULL,
    create_cal_user_num      INTEGER NOT NULL,
    create_cal_num           INTEGER NOT NULL,
    vc_dau                   INTEGER NOT NULL,
    vc_duration              INTEGER NOT NULL,
    task_dau                 INTEGER NOT NULL,
    create_task_user_num     INTEGER NOT NULL,
    create_task_num          INTEGER NOT NULL,
    active_seconds           INTEGER NOT NULL,
    email_send_ext           INTEGER NOT NULL,
    email_send_in            INTEGER NOT NULL,
    email_receive_ext        INTEGER NOT NULL,
    email_receive_in         INTEGER NOT NULL,
    search_active_dau        INTEGER NOT NULL,
    quick_search             INTEGER NOT NULL,
    tab_search               INTEGER NOT NULL,
    PRIMARY KEY (tenant, day, dept, subtree, version)
) STRICT, WITHOUT ROWID;

-- The directory basis (a fingerprint of the department tree and of each user's department and
-- days) under which a tenant's dept_day rows were computed. No row, or another basis: rebuild.
CREATE TABLE dept_basis (
    tenant INTEGER PRIMARY KEY,
    basis  INTEGER NOT NULL
) STRICT;
