//! The SQLite store: one file `adminstats.db` in the data directory, WAL, `synchronous=FULL`.
//!
//! Writes go through one writer thread that commits several waiting batches in one transaction
//! (group commit) and answers each caller only after the commit; reads use a small pool of
//! read-only connections, which WAL lets run beside the writer.

use std::collections::HashMap;
use std::path::Path;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread::JoinHandle;

use adminstats_core::{Day, DayTotals};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

use crate::active_days::ActiveDays;
use crate::{AppendOutcome, NewEvent, Store, StoreError, StoredToken, UserDayFacts};

/// Migrations, in order; `user_version` counts how many are applied.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_init.sql"),
    include_str!("../migrations/0002_drop_user_day_by_user.sql"),
];

/// Read-only connections kept open at most; more readers wait for one.
const MAX_READERS: usize = 8;
/// Page cache of each reader, in KiB (the OS page cache does the rest without counting in our RSS).
const READER_CACHE_KIB: i64 = 4096;

#[derive(Default)]
struct ReaderPool {
    idle: Vec<Connection>,
    open: usize,
}

/// How many waiting batches one transaction may take.
const GROUP_MAX_JOBS: usize = 64;

const TOTALS_COLUMNS: &str = "events, im_events, docs_events, cal_events, vc_events, search_events, task_events, \
     send_messenger_num, create_docs_num, create_cal_num, create_task_num, vc_num, vc_seconds, active_seconds, \
     email_send_ext, email_send_in, email_receive_ext, email_receive_in, quick_search, tab_search, \
     platforms, packages, max_ts";

enum Job {
    Append { tenant: String, events: Vec<NewEvent>, reply: SyncSender<Result<AppendOutcome, StoreError>> },
    Token { token: StoredToken, reply: SyncSender<Result<(), StoreError>> },
}

/// The writer's queue and thread; the thread returns how its final checkpoint went.
type Writer = (SyncSender<Job>, JoinHandle<Result<(), StoreError>>);

/// The SQLite implementation of [`Store`].
pub struct SqliteStore {
    path: std::path::PathBuf,
    /// Held for the life of the store: the data directory's lock.
    _lock: std::fs::File,
    writer: Mutex<Option<Writer>>,
    readers: Mutex<ReaderPool>,
    reader_free: Condvar,
    /// Each user's active days, for `last_active_time`; shared with the writer.
    active: Arc<RwLock<ActiveDays>>,
    tenant_ids: RwLock<HashMap<String, i64>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.path).finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the store in directory `dir`, migrating it to the current schema.
    ///
    /// # Errors
    /// The directory cannot be created, the database cannot be opened, or it is newer than this binary.
    pub fn open(dir: &Path) -> Result<SqliteStore, StoreError> {
        std::fs::create_dir_all(dir)?;
        // One process per data directory: the in-memory parts (tokens, active days) would diverge.
        // The OS drops the lock with the process, kill -9 included.
        let lock = std::fs::File::create(dir.join("adminstats.lock"))?;
        lock.try_lock().map_err(|_| StoreError::InUse(dir.display().to_string()))?;
        let path = dir.join("adminstats.db");
        let mut conn = Connection::open(&path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "cache_size", -65_536)?;
        // Checkpoint less often than the default 1,000 pages: fewer, larger copies into the database.
        conn.pragma_update(None, "wal_autocheckpoint", 8_192)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        migrate(&mut conn)?;
        let active = Arc::new(RwLock::new(load_active_days(&conn)?));
        let (tx, rx) = mpsc::sync_channel::<Job>(1024);
        let writer_active = active.clone();
        let handle = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer_loop(conn, rx, &writer_active))?;
        let store = SqliteStore {
            path,
            _lock: lock,
            writer: Mutex::new(Some((tx, handle))),
            readers: Mutex::new(ReaderPool::default()),
            reader_free: Condvar::new(),
            active,
            tenant_ids: RwLock::new(HashMap::new()),
        };
        Ok(store)
    }

    fn send(&self, job: Job) -> Result<(), StoreError> {
        let guard = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let (tx, _) = guard.as_ref().ok_or(StoreError::Closed)?;
        tx.send(job).map_err(|_| StoreError::Closed)
    }

    /// Runs `f` on a pooled read-only connection, inside one read transaction (one snapshot, one
    /// lock round-trip), waiting for a free connection when all `MAX_READERS` are busy.
    fn with_reader<T>(&self, f: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let conn = {
            let mut pool = self.readers.lock().unwrap_or_else(|p| p.into_inner());
            loop {
                if let Some(c) = pool.idle.pop() {
                    break Some(c);
                }
                if pool.open < MAX_READERS {
                    pool.open += 1;
                    break None;
                }
                pool = self.reader_free.wait(pool).unwrap_or_else(|p| p.into_inner());
            }
        };
        let conn = match conn {
            Some(c) => c,
            None => match self.open_reader() {
                Ok(c) => c,
                Err(e) => {
                    self.readers.lock().unwrap_or_else(|p| p.into_inner()).open -= 1;
                    self.reader_free.notify_one();
                    return Err(e);
                }
            },
        };
        let out = (|| {
            conn.execute_batch("BEGIN")?;
            let out = f(&conn);
            conn.execute_batch("COMMIT")?;
            out
        })();
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        self.readers.lock().unwrap_or_else(|p| p.into_inner()).idle.push(conn);
        self.reader_free.notify_one();
        out
    }

    fn open_reader(&self) -> Result<Connection, StoreError> {
        let c = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        c.pragma_update(None, "cache_size", -READER_CACHE_KIB)?;
        c.busy_timeout(std::time::Duration::from_secs(5))?;
        c.set_prepared_statement_cache_capacity(32);
        Ok(c)
    }

    /// The numeric id of a tenant, if it ever stored anything.
    fn tenant_id(&self, conn: &Connection, tenant: &str) -> Result<Option<i64>, StoreError> {
        if let Some(&id) = self.tenant_ids.read().unwrap_or_else(|p| p.into_inner()).get(tenant) {
            return Ok(Some(id));
        }
        let id: Option<i64> = conn
            .prepare_cached("SELECT id FROM tenants WHERE tenant_key = ?1")?
            .query_row([tenant], |r| r.get(0))
            .optional()?;
        if let Some(id) = id {
            self.tenant_ids.write().unwrap_or_else(|p| p.into_inner()).insert(tenant.to_owned(), id);
        }
        Ok(id)
    }
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let supported = MIGRATIONS.len() as i64;
    if version > supported {
        return Err(StoreError::TooNew { found: version, supported });
    }
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
    }
    tx.commit()?;
    Ok(())
}

/// Every (tenant, day, open_id) with a row, into the active-days map.
fn load_active_days(conn: &Connection) -> Result<ActiveDays, StoreError> {
    let mut active = ActiveDays::default();
    let mut st = conn.prepare("SELECT tenant, day, open_id FROM user_day")?;
    let mut rows = st.query([])?;
    while let Some(r) = rows.next()? {
        let open_id: String = r.get(2)?;
        active.set(r.get(0)?, &open_id, r.get(1)?);
    }
    Ok(active)
}

/// Commits jobs until every sender is gone, then checkpoints the WAL into the database and returns
/// how that went (to [`Store::close`]).
fn writer_loop(
    mut conn: Connection,
    rx: Receiver<Job>,
    active: &RwLock<ActiveDays>,
) -> Result<(), StoreError> {
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < GROUP_MAX_JOBS {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let mut outcomes: Vec<Result<GroupOutcome, String>> = match write_group(&mut conn, &jobs, active) {
            Ok(v) => v.into_iter().map(Ok).collect(),
            Err(e) => {
                tracing::error!(error = %e, "store commit failed; the group's batches were not acknowledged");
                Vec::new()
            }
        };
        outcomes.resize_with(jobs.len(), || Err("the commit failed".to_owned()));
        for (job, outcome) in jobs.into_iter().zip(outcomes) {
            match job {
                Job::Append { reply, .. } => {
                    let _ = reply.send(match outcome {
                        Ok(GroupOutcome::Append(o)) => Ok(o),
                        Ok(GroupOutcome::Token) | Err(_) => Err(StoreError::CommitFailed),
                    });
                }
                Job::Token { reply, .. } => {
                    let _ = reply.send(outcome.map(drop).map_err(|_| StoreError::CommitFailed));
                }
            }
        }
    }
    checkpoint(&conn)
}

/// Copies the whole WAL into the database and truncates it.
///
/// `wal_checkpoint` reports a checkpoint it could not complete (a reader in the way) as a row with
/// `busy = 1`, not as an error, so the row is read.
fn checkpoint(conn: &Connection) -> Result<(), StoreError> {
    let busy: i64 = conn
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))
        .map_err(StoreError::CheckpointFailed)?;
    if busy != 0 {
        return Err(StoreError::CheckpointFailed(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            Some("the WAL could not be checkpointed completely (busy)".into()),
        )));
    }
    Ok(())
}

enum GroupOutcome {
    Append(AppendOutcome),
    Token,
}

/// Commits every job of a group in one transaction.
fn write_group(
    conn: &mut Connection,
    jobs: &[Job],
    active: &RwLock<ActiveDays>,
) -> Result<Vec<GroupOutcome>, StoreError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mut outcomes = Vec::with_capacity(jobs.len());
    // Folded per (tenant, day, open_id) across the group, written once each.
    let mut folded: HashMap<(i64, i32, &str), DayTotals> = HashMap::new();
    {
        let mut seen =
            tx.prepare_cached("INSERT OR IGNORE INTO seen_events (tenant, event_id) VALUES (?1, ?2)")?;
        let mut tenant_ids: HashMap<&str, i64> = HashMap::new();
        for job in jobs {
            match job {
                Job::Append { tenant, events, .. } => {
                    let tid = match tenant_ids.get(tenant.as_str()) {
                        Some(&id) => id,
                        None => {
                            tx.execute("INSERT OR IGNORE INTO tenants (tenant_key) VALUES (?1)", [tenant])?;
                            let id: i64 = tx.query_row(
                                "SELECT id FROM tenants WHERE tenant_key = ?1",
                                [tenant],
                                |r| r.get(0),
                            )?;
                            tenant_ids.insert(tenant, id);
                            id
                        }
                    };
                    let mut out = AppendOutcome::default();
                    for e in events {
                        if seen.execute(params![tid, e.event_id])? == 0 {
                            out.duplicates += 1;
                            continue;
                        }
                        out.accepted += 1;
                        folded.entry((tid, e.day.julian(), e.open_id.as_str())).or_default().merge(&e.totals);
                    }
                    outcomes.push(GroupOutcome::Append(out));
                }
                Job::Token { token, .. } => {
                    tx.execute(
                        "INSERT OR REPLACE INTO tokens (token, app_id, issued_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
                        params![token.token, token.app_id, token.issued_at_ms, token.expires_at_ms],
                    )?;
                    outcomes.push(GroupOutcome::Token);
                }
            }
        }
        let mut upsert = tx.prepare_cached(&format!(
            "INSERT INTO user_day (tenant, day, open_id, {TOTALS_COLUMNS}) VALUES \
             (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26) \
             ON CONFLICT (tenant, day, open_id) DO UPDATE SET \
             events = events + excluded.events, im_events = im_events + excluded.im_events, \
             docs_events = docs_events + excluded.docs_events, cal_events = cal_events + excluded.cal_events, \
             vc_events = vc_events + excluded.vc_events, search_events = search_events + excluded.search_events, \
             task_events = task_events + excluded.task_events, \
             send_messenger_num = send_messenger_num + excluded.send_messenger_num, \
             create_docs_num = create_docs_num + excluded.create_docs_num, \
             create_cal_num = create_cal_num + excluded.create_cal_num, \
             create_task_num = create_task_num + excluded.create_task_num, \
             vc_num = vc_num + excluded.vc_num, vc_seconds = vc_seconds + excluded.vc_seconds, \
             active_seconds = active_seconds + excluded.active_seconds, \
             email_send_ext = email_send_ext + excluded.email_send_ext, \
             email_send_in = email_send_in + excluded.email_send_in, \
             email_receive_ext = email_receive_ext + excluded.email_receive_ext, \
             email_receive_in = email_receive_in + excluded.email_receive_in, \
             quick_search = quick_search + excluded.quick_search, tab_search = tab_search + excluded.tab_search, \
             platforms = platforms | excluded.platforms, packages = packages | excluded.packages, \
             max_ts = max(max_ts, excluded.max_ts)"
        ))?;
        let mut pair = tx.prepare_cached(
            "INSERT OR IGNORE INTO user_day_os (tenant, day, open_id, pair) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for ((tid, day, open_id), t) in &folded {
            upsert.execute(params![
                tid,
                day,
                open_id,
                t.events,
                t.im_events,
                t.docs_events,
                t.cal_events,
                t.vc_events,
                t.search_events,
                t.task_events,
                t.send_messenger_num,
                t.create_docs_num,
                t.create_cal_num,
                t.create_task_num,
                t.vc_num,
                t.vc_seconds,
                t.active_seconds,
                t.email_send_ext,
                t.email_send_in,
                t.email_receive_ext,
                t.email_receive_in,
                t.quick_search,
                t.tab_search,
                t.platforms,
                t.packages,
                t.max_ts_ms,
            ])?;
            for p in &t.os_pairs {
                pair.execute(params![tid, day, open_id, p])?;
            }
        }
    }
    tx.commit()?;
    // After the commit: a reader never finds a bit without its row for long (and copes if it does).
    let mut a = active.write().unwrap_or_else(|p| p.into_inner());
    for (tid, day, open_id) in folded.keys() {
        a.set(*tid, open_id, *day);
    }
    Ok(outcomes)
}

fn totals_from_row(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<DayTotals> {
    Ok(DayTotals {
        events: r.get(at)?,
        im_events: r.get(at + 1)?,
        docs_events: r.get(at + 2)?,
        cal_events: r.get(at + 3)?,
        vc_events: r.get(at + 4)?,
        search_events: r.get(at + 5)?,
        task_events: r.get(at + 6)?,
        send_messenger_num: r.get(at + 7)?,
        create_docs_num: r.get(at + 8)?,
        create_cal_num: r.get(at + 9)?,
        create_task_num: r.get(at + 10)?,
        vc_num: r.get(at + 11)?,
        vc_seconds: r.get(at + 12)?,
        active_seconds: r.get(at + 13)?,
        email_send_ext: r.get(at + 14)?,
        email_send_in: r.get(at + 15)?,
        email_receive_ext: r.get(at + 16)?,
        email_receive_in: r.get(at + 17)?,
        quick_search: r.get(at + 18)?,
        tab_search: r.get(at + 19)?,
        platforms: r.get(at + 20)?,
        packages: r.get(at + 21)?,
        max_ts_ms: r.get(at + 22)?,
        os_pairs: Default::default(),
    })
}

/// Keys of one day at least this many use one range scan instead of point lookups.
const RANGE_SCAN_MIN: usize = 8;

/// One key, by primary key.
fn point_lookup(conn: &Connection, tid: i64, day: Day, open_id: &str) -> Result<UserDayFacts, StoreError> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {TOTALS_COLUMNS} FROM user_day WHERE tenant = ?1 AND day = ?2 AND open_id = ?3"
    ))?;
    let totals = st.query_row(params![tid, day.julian(), open_id], |r| totals_from_row(r, 0)).optional()?;
    Ok(match totals {
        Some(mut t) => {
            if t.platforms != 0 {
                load_pairs(conn, tid, day.julian(), open_id, &mut t)?;
            }
            UserDayFacts { last_active_ms: Some(t.max_ts_ms), totals: Some(t) }
        }
        None => UserDayFacts::default(),
    })
}

/// Ascending keys of one day, by scanning the primary key between the first and the last. The scan
/// is bounded (a sparse run falls back to point lookups past the bound).
fn day_run_by_range(
    conn: &Connection,
    tid: i64,
    day: Day,
    keys: &[(Day, &str)],
) -> Result<Vec<UserDayFacts>, StoreError> {
    let (lo, hi) = (keys[0].1, keys[keys.len() - 1].1);
    let bound = keys.len() * 4;
    let mut st = conn.prepare_cached(&format!(
        "SELECT open_id, {TOTALS_COLUMNS} FROM user_day WHERE tenant = ?1 AND day = ?2 AND open_id BETWEEN ?3 AND ?4 \
         ORDER BY open_id LIMIT ?5"
    ))?;
    let mut rows = st.query(params![tid, day.julian(), lo, hi, bound as i64])?;
    let mut out: Vec<UserDayFacts> = vec![UserDayFacts::default(); keys.len()];
    let mut k = 0;
    let mut scanned = 0;
    let mut last_seen: Option<String> = None;
    let mut with_pairs = false;
    while let Some(r) = rows.next()? {
        scanned += 1;
        let open_id: String = r.get(0)?;
        while k < keys.len() && keys[k].1 < open_id.as_str() {
            k += 1;
        }
        if k < keys.len() && keys[k].1 == open_id {
            let t = totals_from_row(r, 1)?;
            with_pairs |= t.platforms != 0;
            out[k] = UserDayFacts { last_active_ms: Some(t.max_ts_ms), totals: Some(t) };
        }
        last_seen = Some(open_id);
    }
    if with_pairs {
        let mut st = conn.prepare_cached(
            "SELECT open_id, pair FROM user_day_os WHERE tenant = ?1 AND day = ?2 AND open_id BETWEEN ?3 AND ?4",
        )?;
        let upto = if scanned == bound { last_seen.as_deref().unwrap_or(hi) } else { hi };
        let mut rows = st.query(params![tid, day.julian(), lo, upto])?;
        while let Some(r) = rows.next()? {
            let open_id: String = r.get(0)?;
            if let Ok(i) = keys.binary_search_by(|k| k.1.cmp(open_id.as_str())) {
                if let Some(t) = out[i].totals.as_mut() {
                    t.os_pairs.insert(r.get(1)?);
                }
            }
        }
    }
    if scanned == bound {
        // The scan stopped early: look up the keys beyond where it stopped one by one.
        let stop = last_seen.unwrap_or_default();
        for (i, &(d, open_id)) in keys.iter().enumerate() {
            if open_id > stop.as_str() {
                out[i] = point_lookup(conn, tid, d, open_id)?;
            }
        }
    }
    Ok(out)
}

fn load_pairs(
    conn: &Connection,
    tid: i64,
    day: i32,
    open_id: &str,
    t: &mut DayTotals,
) -> Result<(), StoreError> {
    let mut st =
        conn.prepare_cached("SELECT pair FROM user_day_os WHERE tenant = ?1 AND day = ?2 AND open_id = ?3")?;
    let rows = st.query_map(params![tid, day, open_id], |r| r.get::<_, String>(0))?;
    for p in rows {
        t.os_pairs.insert(p?);
    }
    Ok(())
}

impl Store for SqliteStore {
    fn append_events(&self, tenant: &str, events: Vec<NewEvent>) -> Result<AppendOutcome, StoreError> {
        let (reply, rx) = mpsc::sync_channel(1);
        self.send(Job::Append { tenant: tenant.to_owned(), events, reply })?;
        rx.recv().map_err(|_| StoreError::Closed)?
    }

    fn user_days(&self, tenant: &str, keys: &[(Day, &str)]) -> Result<Vec<UserDayFacts>, StoreError> {
        self.with_reader(|conn| {
            let Some(tid) = self.tenant_id(conn, tenant)? else {
                return Ok(vec![UserDayFacts::default(); keys.len()]);
            };
            let mut out: Vec<UserDayFacts> = Vec::with_capacity(keys.len());
            // Runs of keys on the same day, ascending by open_id (the listing order).
            let mut at = 0;
            while at < keys.len() {
                let day = keys[at].0;
                let run = keys[at..].iter().take_while(|k| k.0 == day).count();
                let run_keys = &keys[at..at + run];
                let sorted = run_keys.windows(2).all(|w| w[0].1 < w[1].1);
                if run >= RANGE_SCAN_MIN && sorted {
                    out.extend(day_run_by_range(conn, tid, day, run_keys)?);
                } else {
                    for &(d, open_id) in run_keys {
                        out.push(point_lookup(conn, tid, d, open_id)?);
                    }
                }
                at += run;
            }
            // Users without a row that day: their latest earlier active day, found in memory.
            let mut max_ts = conn.prepare_cached(
                "SELECT max_ts FROM user_day WHERE tenant = ?1 AND day = ?2 AND open_id = ?3",
            )?;
            let active = self.active.read().unwrap_or_else(|p| p.into_inner());
            for (facts, &(day, open_id)) in out.iter_mut().zip(keys) {
                if facts.totals.is_some() {
                    continue;
                }
                let mut upto = day.julian();
                while let Some(d) = active.latest_at_or_before(tid, open_id, upto) {
                    // A bit whose row this snapshot does not hold yet: look further back.
                    if let Some(ms) = max_ts.query_row(params![tid, d, open_id], |r| r.get(0)).optional()? {
                        facts.last_active_ms = Some(ms);
                        break;
                    }
                    upto = d - 1;
                }
            }
            Ok(out)
        })
    }

    fn scan_user_days(
        &self,
        tenant: &str,
        first: Day,
        last: Day,
        f: &mut dyn FnMut(Day, &str, DayTotals) -> bool,
    ) -> Result<(), StoreError> {
        self.with_reader(|conn| {
            let Some(tid) = self.tenant_id(conn, tenant)? else { return Ok(()) };
            let mut st = conn.prepare_cached(&format!(
                "SELECT day, open_id, {TOTALS_COLUMNS} FROM user_day WHERE tenant = ?1 AND day BETWEEN ?2 AND ?3 \
                 ORDER BY day, open_id"
            ))?;
            let mut pairs = conn.prepare_cached(
                "SELECT day, open_id, pair FROM user_day_os WHERE tenant = ?1 AND day BETWEEN ?2 AND ?3 \
                 ORDER BY day, open_id, pair",
            )?;
            let mut pair_rows = pairs.query(params![tid, first.julian(), last.julian()])?;
            let mut pending: Option<(i32, String, String)> = None;
            let mut rows = st.query(params![tid, first.julian(), last.julian()])?;
            while let Some(r) = rows.next()? {
                let day: i32 = r.get(0)?;
                let open_id: String = r.get(1)?;
                let mut t = totals_from_row(r, 2)?;
                if t.platforms != 0 {
                    // Both cursors walk (day, open_id) in order: advance the pairs to this row.
                    loop {
                        if pending.is_none() {
                            pending = match pair_rows.next()? {
                                Some(p) => Some((p.get(0)?, p.get(1)?, p.get(2)?)),
                                None => break,
                            };
                        }
                        let Some((pd, po, pp)) = pending.take() else { break };
                        match (pd, po.as_str()).cmp(&(day, open_id.as_str())) {
                            std::cmp::Ordering::Less => continue,
                            std::cmp::Ordering::Equal => {
                                t.os_pairs.insert(pp);
                            }
                            std::cmp::Ordering::Greater => {
                                pending = Some((pd, po, pp));
                                break;
                            }
                        }
                    }
                }
                if !f(Day::from_julian(day), &open_id, t) {
                    break;
                }
            }
            Ok(())
        })
    }

    fn last_active_all(&self, tenant: &str, day: Day) -> Result<Vec<(String, i64)>, StoreError> {
        self.with_reader(|conn| {
            let Some(tid) = self.tenant_id(conn, tenant)? else { return Ok(Vec::new()) };
            let mut st = conn.prepare_cached(
                "SELECT open_id, max(max_ts) FROM user_day WHERE tenant = ?1 AND day <= ?2 GROUP BY open_id",
            )?;
            let rows = st.query_map(params![tid, day.julian()], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn save_token(&self, token: &StoredToken) -> Result<(), StoreError> {
        let (reply, rx) = mpsc::sync_channel(1);
        self.send(Job::Token { token: token.clone(), reply })?;
        rx.recv().map_err(|_| StoreError::Closed)?
    }

    fn load_tokens(&self, now_ms: i64) -> Result<Vec<StoredToken>, StoreError> {
        self.with_reader(|conn| {
            let mut st = conn.prepare_cached(
                "SELECT token, app_id, issued_at, expires_at FROM tokens WHERE expires_at > ?1 ORDER BY issued_at",
            )?;
            let rows = st.query_map([now_ms], |r| {
                Ok(StoredToken { token: r.get(0)?, app_id: r.get(1)?, issued_at_ms: r.get(2)?, expires_at_ms: r.get(3)? })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    fn page_token_key(&self, fresh: [u8; 32]) -> Result<[u8; 32], StoreError> {
        // Rare (once per start): a direct connection is simpler than a writer job.
        let conn = Connection::open(&self.path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('page_token_key', ?1)", [&fresh[..]])?;
        let v: Vec<u8> =
            conn.query_row("SELECT value FROM meta WHERE key = 'page_token_key'", [], |r| r.get(0))?;
        <[u8; 32]>::try_from(v.as_slice()).map_err(|_| StoreError::BadPageTokenKey { len: v.len() })
    }

    fn close(&self) -> Result<(), StoreError> {
        let taken = self.writer.lock().unwrap_or_else(|p| p.into_inner()).take();
        // The readers go first: an open read transaction would keep the checkpoint from finishing.
        self.readers.lock().unwrap_or_else(|p| p.into_inner()).idle.clear();
        let Some((tx, handle)) = taken else { return Ok(()) };
        drop(tx);
        handle.join().map_err(|_| StoreError::WriterPanicked)?
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        // A store closed explicitly returns `Ok` here; one dropped without `close` still says how
        // its flush went.
        if let Err(e) = self.close() {
            tracing::warn!(error = %e, "store closed on drop");
        }
    }
}
