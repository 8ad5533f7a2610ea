//! The SQLite store: one file `adminstats.db` in the data directory, WAL, `synchronous=FULL`.
//!
//! Writes go through one writer thread that commits several waiting batches in one transaction
//! (group commit) and answers each caller only after the commit; reads use a small pool of
//! read-only connections, which WAL lets run beside the writer.

use rustc_hash::FxHashMap as HashMap;
use std::borrow::Cow;
use std::collections::hash_map::Entry;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Condvar, LazyLock, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use adminstats_core::metrics::{Counter, DayCounters, DeptCounts, Fold, Version, DAY_SUM_MAX};
use adminstats_core::{Day, DayTotals, Rejection};
use rusqlite::{params, params_from_iter, Connection, OpenFlags, OptionalExtension, ToSql};

use crate::active_days::ActiveIndex;
use crate::{
    AppendOutcome, DayRevision, DeptDay, NewEvent, RowMeta, RowResolver, Store, StoreError, StoredToken,
    UserDayFacts,
};
use adminstats_core::directory::DeptGroup;

/// Migrations, in order; `user_version` counts how many are applied.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_init.sql"),
    include_str!("../migrations/0002_drop_user_day_by_user.sql"),
    include_str!("../migrations/0003_dept_day.sql"),
    include_str!("../migrations/0004_strict_numbers.sql"),
    include_str!("../migrations/0005_day_revision.sql"),
    include_str!("../migrations/0006_day_changes.sql"),
    include_str!("../migrations/0007_user_day_log.sql"),
];

/// The page size of a new database, in bytes.
const PAGE_SIZE: i64 = 16_384;

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

/// The columns of `user_day` after its key, in [`DayCounters::COUNTERS`] order.
static DAY_COLUMNS: LazyLock<String> = LazyLock::new(|| column_list(DayCounters::COUNTERS));
/// The columns of `dept_day` after its key, in [`DeptCounts::COUNTERS`] order.
static DEPT_COLUMNS: LazyLock<String> = LazyLock::new(|| column_list(DeptCounts::COUNTERS));

fn column_list(counters: &[Counter]) -> String {
    counters.iter().map(|c| c.name).collect::<Vec<_>>().join(", ")
}

/// `INSERT … ON CONFLICT (key) DO UPDATE` folding every counter by its declared [`Fold`]:
/// the upsert is derived from the declaration, so a counter cannot be stored one way and folded
/// another.
fn upsert_sql(table: &str, key: &[&str], counters: &[Counter]) -> String {
    let n = key.len() + counters.len();
    let placeholders = (1..=n).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ");
    let folds = counters
        .iter()
        .map(|c| {
            let name = c.name;
            match c.fold {
                Fold::Sum => format!("{name} = {table}.{name} + excluded.{name}"),
                Fold::BitOr => format!("{name} = {table}.{name} | excluded.{name}"),
                Fold::Max => format!("{name} = max({table}.{name}, excluded.{name})"),
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "INSERT INTO {table} ({}, {}) VALUES ({placeholders}) ON CONFLICT ({}) DO UPDATE SET {folds}",
        key.join(", "),
        column_list(counters),
        key.join(", ")
    )
}

static DAY_UPSERT: LazyLock<String> =
    LazyLock::new(|| upsert_sql("user_day", &["tenant", "day", "open_id"], DayCounters::COUNTERS));
/// Writes one `tenant_day` row's totals whole, and moves its revision by the last two values
/// (`1, instant` for a commit that restated the day, `0, 0` otherwise). A restated day takes the
/// tenant's next `change_seq`.
static TENANT_DAY_PUT: LazyLock<String> = LazyLock::new(|| {
    let n = 2 + DayCounters::COUNTERS.len() + 2;
    let placeholders = (1..=n).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ");
    let rev = n - 1;
    let totals =
        DayCounters::COUNTERS.iter().map(|c| format!("{0} = excluded.{0}", c.name)).collect::<Vec<_>>();
    format!(
        "INSERT INTO tenant_day (tenant, day, {}, revision, changed_at, change_seq) VALUES ({placeholders}, \
         CASE WHEN ?{rev} > 0 THEN (SELECT coalesce(max(change_seq), 0) + 1 FROM tenant_day WHERE tenant = ?1) \
         ELSE 0 END) \
         ON CONFLICT (tenant, day) DO UPDATE SET {}, revision = revision + excluded.revision, \
         changed_at = max(changed_at, excluded.changed_at), \
         change_seq = CASE WHEN excluded.revision > 0 THEN excluded.change_seq ELSE change_seq END",
        *DAY_COLUMNS,
        totals.join(", ")
    )
});
static DEPT_UPSERT: LazyLock<String> = LazyLock::new(|| {
    upsert_sql("dept_day", &["tenant", "day", "dept", "subtree", "version"], DeptCounts::COUNTERS)
});

enum Job {
    Append {
        tenant: String,
        basis: i64,
        events: Vec<NewEvent>,
        reply: SyncSender<Result<AppendOutcome, StoreError>>,
    },
    Rebuild {
        tenant: String,
        basis: i64,
        resolve: RowResolver,
        reply: SyncSender<Result<u64, StoreError>>,
    },
    Token {
        token: StoredToken,
        reply: SyncSender<Result<(), StoreError>>,
    },
    /// Fold the logged user rows and their department sums in now (a reader is about to read them).
    Flush {
        reply: SyncSender<Result<(), StoreError>>,
    },
    /// Read user-days with the logged rows folded in (when they cannot be written).
    Read {
        tenant: String,
        keys: Vec<(Day, String)>,
        reply: SyncSender<Result<Vec<UserDayFacts>, StoreError>>,
    },
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
    /// Each user's active days, for `last_active_time`; shared with the writer, loaded in the
    /// background when the store opens.
    active: Arc<ActiveIndex>,
    tenant_ids: RwLock<HashMap<String, i64>>,
    /// What the writer has logged but not yet folded into `user_day` (see `Pending`).
    unflushed: Arc<Unflushed>,
    /// Whether the writer's last write found the storage full.
    health: Arc<WriteHealth>,
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
        // Only the writer thread uses this connection: SQLite need not lock it on every call.
        let mut conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // A new database's pages (an existing one keeps its own): larger pages mean fewer B-tree
        // levels and splits under the flush's sorted inserts (+8% new rows/s against 4 KiB).
        conn.pragma_update(None, "page_size", PAGE_SIZE)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "cache_size", -65_536)?;
        // Checkpoint less often than the default 1,000 pages: fewer, larger copies into the database
        // (every 32 MiB of log, whatever the page size).
        let page_size: i64 = conn.pragma_query_value(None, "page_size", |r| r.get(0))?;
        conn.pragma_update(None, "wal_autocheckpoint", (32 << 20) / page_size.max(512))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        migrate(&mut conn)?;
        replay_log(&mut conn)?;
        let active = Arc::new(ActiveIndex::default());
        let loader = (Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY)?, active.clone());
        std::thread::Builder::new().name("store-active-days".into()).spawn(move || {
            let (conn, active) = loader;
            if let Err(e) = load_active_days(&conn, &active) {
                tracing::error!(error = %e, "loading the active days failed; last_active_time may be empty for idle days");
            }
            active.complete();
        })?;
        let (tx, rx) = mpsc::sync_channel::<Job>(1024);
        let writer_active = active.clone();
        let unflushed = Arc::new(Unflushed::default());
        let writer_unflushed = unflushed.clone();
        let health = Arc::new(WriteHealth::default());
        let writer_health = health.clone();
        let handle = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer_loop(conn, rx, &writer_active, &writer_unflushed, &writer_health))?;
        let store = SqliteStore {
            path,
            _lock: lock,
            writer: Mutex::new(Some((tx, handle))),
            readers: Mutex::new(ReaderPool::default()),
            reader_free: Condvar::new(),
            active,
            tenant_ids: RwLock::new(HashMap::default()),
            unflushed,
            health,
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

    /// Has the writer fold in everything it logged, if anything, before department sums are read.
    fn flush_pending(&self) -> Result<(), StoreError> {
        if !self.unflushed.any() {
            return Ok(());
        }
        let (reply, rx) = mpsc::sync_channel(1);
        self.send(Job::Flush { reply })?;
        rx.recv().map_err(|_| StoreError::Closed)?
    }

    /// Has the writer fold in what it logged before a read of a tenant's `keys`, if any day up to
    /// the last of them has logged rows (a user's last active day before a key included). When
    /// it cannot (a full disk), the writer answers the read itself, with the logged rows folded
    /// in: reads go on.
    fn settle(&self, tenant: &str, keys: &[(Day, &str)]) -> Result<Option<Vec<UserDayFacts>>, StoreError> {
        let Some(last) = keys.iter().map(|k| k.0).max() else { return Ok(None) };
        if !self.unflushed.reaches(tenant, last) {
            return Ok(None);
        }
        let (reply, rx) = mpsc::sync_channel(1);
        self.send(Job::Flush { reply })?;
        match rx.recv().map_err(|_| StoreError::Closed)? {
            Ok(()) => Ok(None),
            Err(e) => {
                tracing::debug!(error = %e, "the logged rows cannot be folded in; the writer reads");
                let (reply, rx) = mpsc::sync_channel(1);
                let keys = keys.iter().map(|(d, o)| (*d, (*o).to_owned())).collect();
                self.send(Job::Read { tenant: tenant.to_owned(), keys, reply })?;
                rx.recv().map_err(|_| StoreError::Closed)?.map(Some)
            }
        }
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

/// Every (tenant, day, open_id) with a row, into the active-days map, tenant by tenant (the
/// primary key's order), telling waiting readers as each tenant is done.
fn load_active_days(conn: &Connection, active: &ActiveIndex) -> Result<(), StoreError> {
    let started = std::time::Instant::now();
    let mut st = conn.prepare("SELECT tenant, day, open_id FROM user_day ORDER BY tenant, day, open_id")?;
    let mut rows = st.query([])?;
    let mut batch: Vec<(i64, String, i32)> = Vec::with_capacity(BATCH);
    let mut current: Option<i64> = None;
    let mut n = 0u64;
    const BATCH: usize = 65_536;
    let flush = |batch: &mut Vec<(i64, String, i32)>| {
        active.set_all(batch.iter().map(|(t, o, d)| (*t, o.as_str(), *d)));
        batch.clear();
    };
    while let Some(r) = rows.next()? {
        let tenant: i64 = r.get(0)?;
        if current != Some(tenant) {
            flush(&mut batch);
            active.loaded_below(tenant);
            current = Some(tenant);
        }
        batch.push((tenant, r.get(2)?, r.get(1)?));
        n += 1;
        if batch.len() == BATCH {
            flush(&mut batch);
        }
    }
    flush(&mut batch);
    tracing::info!(rows = n, elapsed_ms = started.elapsed().as_millis() as u64, "active days loaded");
    Ok(())
}

/// Commits jobs until every sender is gone, then checkpoints the WAL into the database and returns
/// how that went (to [`Store::close`]).
fn writer_loop(
    mut conn: Connection,
    rx: Receiver<Job>,
    active: &ActiveIndex,
    unflushed: &Unflushed,
    health: &WriteHealth,
) -> Result<(), StoreError> {
    let mut bases = Bases::default();
    let mut pending = Pending::default();
    // A rebuild or a flush found while gathering a group runs after it, alone.
    let mut next: Option<Job> = None;
    loop {
        // Logged rows are folded in when ingestion pauses, at the latest; a full store tries again.
        let wait = [
            pending.since.map(|since| FLUSH_AFTER.saturating_sub(since.elapsed())),
            health.get().map(|_| PROBE_EVERY),
        ]
        .into_iter()
        .flatten()
        .min();
        let first = match next.take() {
            Some(j) => j,
            None => match wait {
                Some(wait) => match rx.recv_timeout(wait) {
                    Ok(j) => j,
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        // A failure is logged; the rows stay in the log for the next try.
                        if pending.since.is_some() {
                            let _ = health.record(pending.flush(&mut conn, &mut bases, active, unflushed));
                        } else {
                            let _ = health.record(probe(&conn));
                        }
                        continue;
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                },
                None => match rx.recv() {
                    Ok(j) => j,
                    Err(_) => break,
                },
            },
        };
        match first {
            Job::Rebuild { tenant, basis, resolve, reply } => {
                // The rebuild reads `user_day`: every logged row goes in first.
                let out =
                    health.record(pending.flush(&mut conn, &mut bases, active, unflushed).and_then(|()| {
                        rebuild_dept_sums(&mut conn, &mut bases, &mut pending, &tenant, basis, &resolve)
                    }));
                if let Err(e) = &out {
                    tracing::error!(error = %e, tenant, "rebuilding the department sums failed");
                    bases.forget();
                }
                let _ = reply.send(out);
                continue;
            }
            Job::Flush { reply } => {
                let _ = reply.send(health.record(pending.flush(&mut conn, &mut bases, active, unflushed)));
                continue;
            }
            Job::Read { tenant, keys, reply } => {
                let _ = reply.send(read_with_pending(&conn, active, &pending, &tenant, &keys));
                continue;
            }
            first => next = Some(first),
        }
        let mut jobs = vec![next.take().expect("just set")];
        while jobs.len() < GROUP_MAX_JOBS {
            match rx.try_recv() {
                Ok(j @ (Job::Rebuild { .. } | Job::Flush { .. } | Job::Read { .. })) => {
                    next = Some(j);
                    break;
                }
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        // Why the group failed, when the storage is full (each batch is told to retry).
        let mut full: Option<String> = None;
        let mut outcomes: Vec<GroupOutcome> = match health.record(write_group(
            &mut conn,
            &jobs,
            &mut bases,
            &mut pending,
            unflushed,
        )) {
            Ok(v) => v,
            Err(e) => {
                if let StoreError::Unwritable(why) = e {
                    full = Some(why);
                } else {
                    tracing::error!(error = %e, "store commit failed; the group's batches were not acknowledged");
                }
                // What the rolled-back transaction did to the bases is undone: read them again.
                bases.forget();
                Vec::new()
            }
        };
        let failed = || full.clone().map_or(StoreError::CommitFailed, StoreError::Unwritable);
        let mut outcomes = outcomes.drain(..).map(Some).chain(std::iter::repeat_with(|| None));
        for job in jobs {
            let outcome = outcomes.next().flatten();
            match job {
                Job::Append { reply, .. } => {
                    let _ = reply.send(match outcome {
                        Some(GroupOutcome::Append(o)) => Ok(o),
                        Some(GroupOutcome::Token) | None => Err(failed()),
                    });
                }
                Job::Token { reply, .. } => {
                    let _ = reply.send(outcome.map(drop).ok_or_else(failed));
                }
                Job::Rebuild { .. } | Job::Flush { .. } | Job::Read { .. } => {
                    unreachable!("rebuilds, flushes and reads are never grouped")
                }
            }
        }
        // After the answers: the group's batches do not wait for a flush.
        if pending.rows.len() >= FLUSH_KEYS || pending.since.is_some_and(|t| t.elapsed() >= FLUSH_AFTER) {
            let _ = health.record(pending.flush(&mut conn, &mut bases, active, unflushed));
        }
    }
    pending.flush(&mut conn, &mut bases, active, unflushed)?;
    checkpoint(&conn)
}

/// How often a store that found its storage full tries a small write, while no other write comes.
const PROBE_EVERY: Duration = Duration::from_secs(1);

/// Whether the last write could be made: set by the writer, read by [`Store::unwritable`].
#[derive(Default)]
struct WriteHealth(Mutex<Option<String>>);

impl WriteHealth {
    fn get(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Records how a write went; returns the error a caller should see.
    fn record<T>(&self, out: Result<T, StoreError>) -> Result<T, StoreError> {
        let mut state = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match out {
            Ok(v) => {
                if state.take().is_some() {
                    tracing::info!("the store writes again");
                }
                Ok(v)
            }
            Err(e) if e.is_storage_full() => {
                let why = match e {
                    StoreError::Unwritable(why) => why,
                    other => format!("{other} (is the disk full?)"),
                };
                if state.is_none() {
                    tracing::error!(error = %why, "the store cannot write; reads go on, writes are refused with 503 until it can");
                }
                *state = Some(why.clone());
                Err(StoreError::Unwritable(why))
            }
            Err(e) => Err(e),
        }
    }
}

/// User rows and department sums are written at most this long after the events that moved them
/// were committed (to the log).
const FLUSH_AFTER: Duration = Duration::from_millis(500);
/// ... or once this many user-days wait.
const FLUSH_KEYS: usize = 65_536;

/// A key of `dept_day`: tenant, day, department, subtree, version (the table's key order).
type DeptKey<D> = (i64, i32, D, bool, Version);

/// A user-day committed to `user_day_log` but not yet folded into `user_day`: its totals, and
/// what the department sums need to know of the row (when they are kept under the batch's basis).
type Unmerged = Vec<(RowKey, DayTotals, Option<RowMeta>)>;

/// A key of `user_day`: tenant, day, open_id.
type RowKey = (i64, i32, Box<str>);

/// A user-day of a flush, each key once: its totals folded over the groups that logged it.
type Folded<'a> = (&'a RowKey, Cow<'a, DayTotals>, Option<&'a RowMeta>);

/// What the writer has committed but not yet folded into `user_day` and `dept_day`.
///
/// A group of new events commits its event ids, its day totals and one `user_day_log` row (the
/// group's user-days, folded), and is acknowledged: durable from then on. Folding a user-day into
/// `user_day` is a B-tree upsert at a random place; a group of a thousand new user-days touches
/// hundreds of pages and would write each whole to the WAL. Gathered over half a second, each page
/// is written once for many rows. The flush folds every row here into `user_day`, writes the
/// department sums they move, and empties the log, in one transaction.
///
/// Readers never see a user-day short: [`Unflushed`] names, per tenant, the earliest day with rows
/// here, and a reader of that day or a later one asks for a flush first (`Job::Flush`); readers of
/// department sums always do while anything waits. After a crash the log is folded in at open
/// (`replay_log`).
///
/// A tenant with sums held back (here in `tenants`) has no `dept_basis` row: the group that first
/// held them back deleted it in its own transaction, and the flush puts it back in the same
/// transaction as the sums. So a crash in between leaves the tenant's sums without a basis, and
/// they are rebuilt from `user_day`, never served short.
#[derive(Default)]
struct Pending {
    rows: Unmerged,
    /// Tenants with sums held back, and the basis their row gets back when they are written.
    tenants: HashMap<i64, i64>,
    /// When the oldest row here was committed.
    since: Option<Instant>,
}

/// Shared between the writer and the readers: per tenant, the earliest day with user rows not
/// yet folded into `user_day` (marked before the batches that logged them are answered, cleared
/// after the flush that folds them in commits).
#[derive(Default)]
struct Unflushed(RwLock<HashMap<Box<str>, i32>>);

impl Unflushed {
    fn days(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<Box<str>, i32>> {
        self.0.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether anything at all waits.
    fn any(&self) -> bool {
        !self.0.read().unwrap_or_else(|p| p.into_inner()).is_empty()
    }

    /// Whether a tenant has rows waiting on `last` or a day before it.
    fn reaches(&self, tenant: &str, last: Day) -> bool {
        self.0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(tenant)
            .is_some_and(|&first| first <= last.julian())
    }
}

impl Pending {
    /// Folds every waiting row into `user_day`, writes the department sums they move, puts the
    /// tenants' bases back and empties the log, in one transaction. On failure everything stays
    /// waiting for the next try.
    fn flush(
        &mut self,
        conn: &mut Connection,
        bases: &mut Bases,
        active: &ActiveIndex,
        unflushed: &Unflushed,
    ) -> Result<(), StoreError> {
        if self.since.is_none() {
            return Ok(());
        }
        let out = (|| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let sums = merge_rows(&tx, &self.rows, Some(active))?;
            write_dept_sums(&tx, &sums)?;
            for (tid, basis) in &self.tenants {
                tx.execute(
                    "INSERT OR REPLACE INTO dept_basis (tenant, basis) VALUES (?1, ?2)",
                    params![tid, basis],
                )?;
            }
            tx.execute("DELETE FROM user_day_log", [])?;
            tx.commit()?;
            Ok::<_, StoreError>(())
        })();
        match &out {
            Ok(()) => {
                for (tid, basis) in self.tenants.drain() {
                    bases.0.insert(tid, Some(basis));
                }
                // After the commit: a reader never finds a bit without its row for long (and copes
                // if it does).
                active.set_all(self.rows.iter().map(|((tid, day, open_id), ..)| (*tid, &**open_id, *day)));
                self.rows.clear();
                self.since = None;
                unflushed.days().clear();
            }
            Err(e) => {
                tracing::error!(error = %e, "folding the logged user rows failed; they stay in the log")
            }
        }
        out
    }

    /// Stops holding a tenant's sums back (they are being rebuilt, or became stale): its waiting
    /// rows still go into `user_day`, but move no sums.
    fn drop_tenant(&mut self, tid: i64) {
        if self.tenants.remove(&tid).is_some() {
            for ((t, ..), _, meta) in self.rows.iter_mut() {
                if *t == tid {
                    *meta = None;
                }
            }
        }
    }
}

/// Folds user-days into `user_day` in key order (neighbouring keys share B-tree pages), and
/// returns the department sums they move (of rows with a [`RowMeta`]).
fn merge_rows<'a>(
    tx: &Connection,
    rows: &'a Unmerged,
    active: Option<&ActiveIndex>,
) -> Result<HashMap<DeptKey<&'a str>, DeptCounts>, StoreError> {
    // In key order, each key once (a user-day logged by several groups is folded here).
    let mut order: Vec<u32> = (0..rows.len() as u32).collect();
    order.sort_unstable_by(|&a, &b| rows[a as usize].0.cmp(&rows[b as usize].0));
    let mut keys: Vec<Folded<'a>> = Vec::with_capacity(order.len());
    for run in order.chunk_by(|&a, &b| rows[a as usize].0 == rows[b as usize].0) {
        let first = &rows[run[0] as usize];
        let mut totals = Cow::Borrowed(&first.1);
        let mut meta = first.2.as_ref();
        for &i in &run[1..] {
            let (_, t, m) = &rows[i as usize];
            totals.to_mut().merge(t);
            meta = meta.or(m.as_ref());
        }
        keys.push((&first.0, totals, meta));
    }
    // Which keys have no row yet, from the active days (set after every flush, so once a tenant
    // is loaded they are exact): their old counters need no lookup.
    let mut known_new: Vec<bool> = Vec::with_capacity(keys.len());
    for run in keys.chunk_by(|a, b| a.0 .0 == b.0 .0) {
        let flags = active.and_then(|active| {
            active.try_read(run[0].0 .0, |days| {
                run.iter().map(|((tid, day, open_id), ..)| !days.has(*tid, open_id, *day)).collect::<Vec<_>>()
            })
        });
        match flags {
            Some(flags) => known_new.extend(flags),
            None => known_new.extend(std::iter::repeat_n(false, run.len())),
        }
    }
    // The sums moved by new rows need no old row. (Adding them up on a thread of their own, one
    // spawned per flush, gained 4% and cost 200 MB of RSS under ingestion: each new thread took a
    // malloc arena that kept its high-water mark.)
    let mut by_list: ByList<'a> = HashMap::default();
    for ((key, t, row), _) in keys.iter().zip(&known_new).filter(|(_, new)| **new) {
        if let Some(row) = row {
            fold_delta(&mut by_list, key, row, None, &t.c);
        }
    }
    for (i, old) in write_rows(tx, &keys, &known_new)? {
        let (key, t, row) = &keys[i];
        if let Some(row) = row {
            fold_delta(&mut by_list, key, row, old.as_ref(), &t.c);
        }
    }
    let mut sums: HashMap<DeptKey<&str>, DeptCounts> = HashMap::default();
    for ((tid, day, _, version), (groups, d)) in &by_list {
        for g in groups.iter() {
            sums.entry((*tid, *day, &*g.dept, g.subtree, *version)).or_default().fold(d);
        }
    }
    Ok(sums)
}

/// A user-day of a flush (its index) with a [`RowMeta`], and its old counters, if it had a row.
type Changed = (usize, Option<DayCounters>);

/// Upserts the rows of a flush, in order; returns, for the rows with a [`RowMeta`] not known to
/// be new, their old counters (read before the upsert).
fn write_rows<'a>(
    tx: &Connection,
    keys: &[Folded<'a>],
    known_new: &[bool],
) -> Result<Vec<Changed>, StoreError> {
    let mut upsert = tx.prepare_cached(&DAY_UPSERT)?;
    let mut pair = tx.prepare_cached(
        "INSERT OR IGNORE INTO user_day_os (tenant, day, open_id, pair) VALUES (?1, ?2, ?3, ?4)",
    )?;
    let mut before = tx.prepare_cached(&format!(
        "SELECT {} FROM user_day WHERE tenant = ?1 AND day = ?2 AND open_id = ?3",
        *DAY_COLUMNS
    ))?;
    let mut changed = Vec::new();
    for (i, ((key, t, row), is_new)) in keys.iter().zip(known_new).enumerate() {
        let (tid, day, open_id) = key;
        let open_id: &str = open_id;
        if row.is_some() && !is_new {
            let old = before
                .query_row(params![tid, day, open_id], |r| counters_from_row::<DayCounters>(r, 0))
                .optional()?;
            changed.push((i, old));
        }
        let k: [&dyn ToSql; 3] = [tid, day, &open_id];
        let values = t.c.values();
        upsert.execute(params_from_iter(k.into_iter().chain(values.iter().map(|v| v as &dyn ToSql))))?;
        for p in &t.os_pairs {
            pair.execute(params![tid, day, open_id, p])?;
        }
    }
    Ok(changed)
}

/// Adds what a user-day's `added` counters do to its department sums (from `old`, if it had a row).
fn fold_delta<'a>(
    by_list: &mut ByList<'a>,
    key: &RowKey,
    row: &'a RowMeta,
    old: Option<&DayCounters>,
    added: &DayCounters,
) {
    let mut new = old.copied().unwrap_or_default();
    new.fold(added);
    for (version, d) in DeptCounts::delta(row.facts, old, &new) {
        by_list
            .entry((key.0, key.1, row.groups.as_ptr() as usize, version))
            .or_insert_with(|| (&row.groups, DeptCounts::default()))
            .1
            .fold(&d);
    }
}

/// Department sums of a flush per (tenant, day, list of groups by address, version): the users
/// of one department share one list, so this hashes one key per user-day and version, not one
/// per department above the user.
type ByList<'a> = HashMap<(i64, i32, usize, Version), (&'a Arc<[DeptGroup]>, DeptCounts)>;

/// Folds the user-days that a crash left in `user_day_log` into `user_day`, at open. Their tenants'
/// department sums are dropped (rebuilt on first use): what they moved is not known any more.
fn replay_log(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mut rows: Unmerged = Vec::new();
    {
        let mut st = tx.prepare("SELECT body FROM user_day_log ORDER BY seq")?;
        let mut q = st.query([])?;
        while let Some(r) = q.next()? {
            let body: Vec<u8> = r.get(0)?;
            log::decode(&body, |tid, day, open_id, t| {
                rows.push(((tid, day, open_id.into()), t, None));
            })?;
        }
    }
    if rows.is_empty() {
        return Ok(());
    }
    merge_rows(&tx, &rows, None)?;
    let mut tenants: Vec<i64> = rows.iter().map(|(k, ..)| k.0).collect();
    tenants.sort_unstable();
    tenants.dedup();
    for tid in tenants {
        tx.execute("DELETE FROM dept_basis WHERE tenant = ?1", [tid])?;
    }
    tx.execute("DELETE FROM user_day_log", [])?;
    tx.commit()?;
    tracing::info!(user_days = rows.len(), "folded the user rows logged before the last stop into user_day");
    Ok(())
}

/// The body of a `user_day_log` row: its user-days, each as varints (zigzag for signed numbers)
/// and length-prefixed strings: tenant, day, open_id, the counters (count first), the `os,client`
/// pairs (count first).
mod log {
    use adminstats_core::metrics::DayCounters;
    use adminstats_core::DayTotals;

    use crate::StoreError;

    fn put(buf: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            buf.push(v as u8 | 0x80);
            v >>= 7;
        }
        buf.push(v as u8);
    }

    fn put_signed(buf: &mut Vec<u8>, v: i64) {
        put(buf, ((v << 1) ^ (v >> 63)) as u64);
    }

    fn put_str(buf: &mut Vec<u8>, s: &str) {
        put(buf, s.len() as u64);
        buf.extend_from_slice(s.as_bytes());
    }

    pub(super) fn encode(buf: &mut Vec<u8>, tid: i64, day: i32, open_id: &str, t: &DayTotals) {
        put_signed(buf, tid);
        put_signed(buf, day.into());
        put_str(buf, open_id);
        let values = t.c.values();
        put(buf, values.len() as u64);
        for v in values {
            put_signed(buf, v);
        }
        put(buf, t.os_pairs.len() as u64);
        for p in &t.os_pairs {
            put_str(buf, p);
        }
    }

    struct Reader<'a>(&'a [u8]);

    impl<'a> Reader<'a> {
        fn get(&mut self) -> Option<u64> {
            let mut v = 0u64;
            for shift in (0..64).step_by(7) {
                let (&b, rest) = self.0.split_first()?;
                self.0 = rest;
                v |= u64::from(b & 0x7f) << shift;
                if b < 0x80 {
                    return Some(v);
                }
            }
            None
        }

        fn signed(&mut self) -> Option<i64> {
            let v = self.get()?;
            Some((v >> 1) as i64 ^ -((v & 1) as i64))
        }

        fn str(&mut self) -> Option<&'a str> {
            let len = usize::try_from(self.get()?).ok()?;
            if len > self.0.len() {
                return None;
            }
            let (s, rest) = self.0.split_at(len);
            self.0 = rest;
            std::str::from_utf8(s).ok()
        }
    }

    /// Calls `each` with every user-day of a body.
    pub(super) fn decode(
        body: &[u8],
        mut each: impl FnMut(i64, i32, &str, DayTotals),
    ) -> Result<(), StoreError> {
        let damaged =
            || StoreError::Backend("a user_day_log row is damaged; the store cannot fold it in".into());
        let mut r = Reader(body);
        while !r.0.is_empty() {
            let tid = r.signed().ok_or_else(damaged)?;
            let day = r.signed().and_then(|d| i32::try_from(d).ok()).ok_or_else(damaged)?;
            let open_id = r.str().ok_or_else(damaged)?;
            let n = r.get().ok_or_else(damaged)?;
            if n != DayCounters::COUNTERS.len() as u64 {
                return Err(damaged());
            }
            let mut values = [0i64; 64];
            for v in values.iter_mut().take(DayCounters::COUNTERS.len()) {
                *v = r.signed().ok_or_else(damaged)?;
            }
            let mut t = DayTotals {
                c: DayCounters::from_values(&values[..DayCounters::COUNTERS.len()]),
                os_pairs: Default::default(),
            };
            for _ in 0..r.get().ok_or_else(damaged)? {
                t.os_pairs.insert(r.str().ok_or_else(damaged)?.to_owned());
            }
            each(tid, day, open_id, t);
        }
        Ok(())
    }
}

/// The smallest write that needs new space in the log: tells a store that found its storage full
/// whether it has room again.
fn probe(conn: &Connection) -> Result<(), StoreError> {
    static PROBES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = PROBES.fetch_add(1, Ordering::Relaxed);
    conn.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES ('write_probe', ?1)",
        [n.to_le_bytes().to_vec()],
    )?;
    Ok(())
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

/// The writer's view of `dept_basis`: under which directory basis each tenant's sums are kept.
#[derive(Default)]
struct Bases(HashMap<i64, Option<i64>>);

impl Bases {
    /// Whether a batch judged under `basis` may move the tenant's stored sums. A batch under another
    /// basis than the stored one makes the stored sums stale: the basis is dropped, in the same
    /// transaction, so that the next query rebuilds them.
    fn check(
        &mut self,
        tx: &Connection,
        tid: i64,
        basis: i64,
        pending: &Pending,
    ) -> Result<Check, StoreError> {
        if let Some(&held) = pending.tenants.get(&tid) {
            // The row is already gone (held back): the basis is the one the flush will write.
            return Ok(if held == basis { Check::Kept } else { Check::Stale });
        }
        let stored = match self.0.get(&tid) {
            Some(b) => *b,
            None => tx
                .prepare_cached("SELECT basis FROM dept_basis WHERE tenant = ?1")?
                .query_row([tid], |r| r.get(0))
                .optional()?,
        };
        if stored.is_some() {
            // Held back from now on (kept), or stale: either way the row goes, in this transaction.
            tx.execute("DELETE FROM dept_basis WHERE tenant = ?1", [tid])?;
        }
        self.0.insert(tid, None);
        Ok(match stored {
            Some(b) if b == basis => Check::Holds(b),
            Some(_) => {
                tracing::info!(
                    tenant = tid,
                    "department sums are stale (directory changed); dropped their basis"
                );
                Check::Stale
            }
            None => Check::Stale,
        })
    }

    /// Forgets what it knew (after a rollback).
    fn forget(&mut self) {
        self.0.clear();
    }
}

/// What [`Bases::check`] found for a batch's basis.
enum Check {
    /// The tenant's sums are held back under this basis already: fold into them.
    Kept,
    /// The tenant's sums were kept under this basis: fold, and hold the tenant's sums back from
    /// now on (its row was deleted in this transaction).
    Holds(i64),
    /// Not kept under this basis: move nothing; the sums will be rebuilt.
    Stale,
}

/// The id of a tenant, created on first write.
fn tenant_id_for_write(tx: &Connection, tenant: &str) -> Result<i64, StoreError> {
    tx.execute("INSERT OR IGNORE INTO tenants (tenant_key) VALUES (?1)", [tenant])?;
    Ok(tx.query_row("SELECT id FROM tenants WHERE tenant_key = ?1", [tenant], |r| r.get(0))?)
}

/// A list of department groups (by address: users of one department share it), a day, a version.
type ListKey = (*const DeptGroup, i32, Version);

/// Recomputes a tenant's department sums from its user-days, in one transaction.
fn rebuild_dept_sums(
    conn: &mut Connection,
    bases: &mut Bases,
    pending: &mut Pending,
    tenant: &str,
    basis: i64,
    resolve: &RowResolver,
) -> Result<u64, StoreError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let tid = tenant_id_for_write(&tx, tenant)?;
    // Everything held back is in `user_day` already: the rebuild counts it.
    pending.drop_tenant(tid);
    tx.execute("DELETE FROM dept_day WHERE tenant = ?1", [tid])?;
    // Summed per (group list, day, version) first: the users of one department share one list.
    let mut by_list: HashMap<ListKey, (Arc<[DeptGroup]>, DeptCounts)> = HashMap::default();
    let mut rows = 0u64;
    {
        let mut st =
            tx.prepare(&format!("SELECT day, open_id, {} FROM user_day WHERE tenant = ?1", *DAY_COLUMNS))?;
        let mut q = st.query([tid])?;
        while let Some(r) = q.next()? {
            let day: i32 = r.get(0)?;
            let open_id: String = r.get(1)?;
            let Some(row) = resolve(&open_id, Day::from_julian(day)) else { continue };
            let c = counters_from_row::<DayCounters>(r, 2)?;
            rows += 1;
            for (version, d) in DeptCounts::delta(row.facts, None, &c) {
                by_list
                    .entry((row.groups.as_ptr(), day, version))
                    .or_insert_with(|| (row.groups.clone(), DeptCounts::default()))
                    .1
                    .fold(&d);
            }
        }
    }
    let mut sums: HashMap<DeptKey<&str>, DeptCounts> = HashMap::default();
    for ((_, day, version), (groups, d)) in &by_list {
        for g in groups.iter() {
            sums.entry((tid, *day, &g.dept, g.subtree, *version)).or_default().fold(d);
        }
    }
    write_dept_sums(&tx, &sums)?;
    tx.execute("INSERT OR REPLACE INTO dept_basis (tenant, basis) VALUES (?1, ?2)", params![tid, basis])?;
    tx.commit()?;
    bases.0.insert(tid, Some(basis));
    Ok(rows)
}

enum GroupOutcome {
    Append(AppendOutcome),
    Token,
}

/// Commits every job of a group in one transaction.
fn write_group(
    conn: &mut Connection,
    jobs: &[Job],
    bases: &mut Bases,
    pending: &mut Pending,
    unflushed: &Unflushed,
) -> Result<Vec<GroupOutcome>, StoreError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    // What the group does to the held-back sums, applied only once it is committed.
    let mut holds: Vec<(i64, i64)> = Vec::new();
    let mut stale: Vec<i64> = Vec::new();
    let mut outcomes = Vec::with_capacity(jobs.len());
    // Folded per (tenant, day, open_id) across the group, written once each, with what the
    // department sums need to know of the row (when they are kept under the batch's basis).
    let mut folded: HashMap<(i64, i32, &str), (DayTotals, Option<&RowMeta>)> = HashMap::default();
    // The totals of each (tenant, day) the group touches, whether an event moved them, and when
    // the latest late event restated the day (if one did).
    let mut day_totals: HashMap<(i64, i32), (DayCounters, bool, Option<i64>)> = HashMap::default();
    let mut tenant_ids: HashMap<&str, i64> = HashMap::default();
    {
        let mut seen =
            tx.prepare_cached("INSERT OR IGNORE INTO seen_events (tenant, event_id) VALUES (?1, ?2)")?;
        let mut unsee = tx.prepare_cached("DELETE FROM seen_events WHERE tenant = ?1 AND event_id = ?2")?;
        for job in jobs {
            match job {
                Job::Append { tenant, basis, events, .. } => {
                    let tid = match tenant_ids.get(tenant.as_str()) {
                        Some(&id) => id,
                        None => {
                            let id = tenant_id_for_write(&tx, tenant)?;
                            tenant_ids.insert(tenant, id);
                            id
                        }
                    };
                    // An earlier job of this group may have started holding the tenant's sums
                    // back (its basis row is gone in this transaction): fold into them too.
                    // (Asking `bases` again would find no row and call the sums stale, losing
                    // this job's deltas while the flush puts the basis back: sums served short.)
                    let held_here = holds.iter().find(|(t, _)| *t == tid).map(|&(_, b)| b);
                    let check = match held_here {
                        Some(b) if b == *basis => Check::Kept,
                        Some(_) => {
                            // Another directory within one group: the sums are stale after all.
                            holds.retain(|(t, _)| *t != tid);
                            Check::Stale
                        }
                        None => bases.check(&tx, tid, *basis, pending)?,
                    };
                    let sums_kept = match check {
                        Check::Kept => true,
                        Check::Holds(b) => {
                            holds.push((tid, b));
                            true
                        }
                        Check::Stale => {
                            stale.push(tid);
                            false
                        }
                    };
                    let mut out = AppendOutcome::default();
                    for (i, e) in events.iter().enumerate() {
                        if seen.execute(params![tid, e.event_id])? == 0 {
                            out.duplicates += 1;
                            continue;
                        }
                        let (total, dirty, restated) = match day_totals.entry((tid, e.day.julian())) {
                            Entry::Occupied(o) => o.into_mut(),
                            Entry::Vacant(v) => v.insert((day_total(&tx, tid, e.day)?, false, None)),
                        };
                        if let Err(counter) = total.checked_fold(&e.totals.c, DAY_SUM_MAX) {
                            unsee.execute(params![tid, e.event_id])?;
                            out.refused.push((i, Rejection::DayTotalExceeded { counter, day: e.day }));
                            continue;
                        }
                        *dirty = true;
                        if let (Some(at), Some(_)) = (e.restates_at_ms, &e.row) {
                            *restated = Some(restated.map_or(at, |r: i64| r.max(at)));
                        }
                        out.accepted += 1;
                        let entry = folded.entry((tid, e.day.julian(), e.open_id.as_str())).or_default();
                        entry.0.merge(&e.totals);
                        if sums_kept {
                            entry.1 = entry.1.or(e.row.as_ref());
                        }
                    }
                    outcomes.push(GroupOutcome::Append(out));
                }
                Job::Rebuild { .. } | Job::Flush { .. } | Job::Read { .. } => {
                    unreachable!("rebuilds, flushes and reads are never grouped")
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
    }
    // The group's user-days, durable in one log row; folded into `user_day` by a later flush.
    if !folded.is_empty() {
        let mut body = Vec::with_capacity(folded.len() * 64);
        for ((tid, day, open_id), (t, _)) in &folded {
            log::encode(&mut body, *tid, *day, open_id, t);
        }
        tx.prepare_cached("INSERT INTO user_day_log (body) VALUES (?1)")?.execute([body])?;
    }
    {
        let mut put = tx.prepare_cached(&TENANT_DAY_PUT)?;
        for ((tid, day), (total, _, restated)) in day_totals.iter().filter(|(_, (_, dirty, _))| *dirty) {
            let key: [&dyn ToSql; 2] = [tid, day];
            let values = total.values();
            let revision: [i64; 2] = [i64::from(restated.is_some()), restated.unwrap_or(0)];
            put.execute(params_from_iter(
                key.into_iter().chain(values.iter().chain(&revision).map(|v| v as &dyn ToSql)),
            ))?;
        }
    }
    tx.commit()?;
    for &tid in &stale {
        pending.drop_tenant(tid);
    }
    pending.tenants.extend(holds);
    if folded.is_empty() {
        return Ok(outcomes);
    }
    // Readers of these days flush first from now on (before any batch of the group is answered).
    {
        let mut first: HashMap<i64, i32> = HashMap::default();
        for &(tid, day, _) in folded.keys() {
            first.entry(tid).and_modify(|d| *d = (*d).min(day)).or_insert(day);
        }
        let mut days = unflushed.days();
        for (name, tid) in &tenant_ids {
            if let Some(&day) = first.get(tid) {
                days.entry((*name).into()).and_modify(|d| *d = (*d).min(day)).or_insert(day);
            }
        }
    }
    pending.since.get_or_insert_with(Instant::now);
    for ((tid, day, open_id), (t, row)) in folded {
        // (A tenant found stale later in the group than an earlier job folded for it moves no
        // sums: they are rebuilt.)
        let row = row.filter(|_| !stale.contains(&tid)).cloned();
        pending.rows.push(((tid, day, open_id.into()), t, row));
    }
    Ok(outcomes)
}

/// The fold of every user row of a tenant's day: its `tenant_day` row, or, for a day not written
/// since migration 0004, the fold of its `user_day` rows (saturating, as a float an older binary
/// stored was brought back into range).
fn day_total(tx: &rusqlite::Transaction<'_>, tid: i64, day: Day) -> Result<DayCounters, StoreError> {
    let kept = tx
        .prepare_cached(&format!("SELECT {} FROM tenant_day WHERE tenant = ?1 AND day = ?2", *DAY_COLUMNS))?
        .query_row(params![tid, day.julian()], |r| counters_from_row::<DayCounters>(r, 0))
        .optional()?;
    if let Some(total) = kept {
        return Ok(total);
    }
    let mut st =
        tx.prepare_cached(&format!("SELECT {} FROM user_day WHERE tenant = ?1 AND day = ?2", *DAY_COLUMNS))?;
    let mut total = DayCounters::default();
    for row in st.query_map(params![tid, day.julian()], |r| counters_from_row::<DayCounters>(r, 0))? {
        total.fold(&row?);
    }
    Ok(total)
}

fn totals_from_row(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<DayTotals> {
    Ok(DayTotals { c: counters_from_row::<DayCounters>(r, at)?, os_pairs: Default::default() })
}

/// Counters declared with [`adminstats_core::metrics`], read from consecutive columns from `at`.
fn counters_from_row<C: Counters>(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<C> {
    let mut v = [0i64; 64];
    for (i, slot) in v.iter_mut().enumerate().take(C::COUNTERS.len()) {
        *slot = r.get(at + i)?;
    }
    Ok(C::from_values(&v[..C::COUNTERS.len()]))
}

/// The declared counter structs a store reads back.
trait Counters: Sized {
    const COUNTERS: &'static [Counter];
    fn from_values(v: &[i64]) -> Self;
}

impl Counters for DayCounters {
    const COUNTERS: &'static [Counter] = DayCounters::COUNTERS;
    fn from_values(v: &[i64]) -> Self {
        DayCounters::from_values(v)
    }
}

impl Counters for DeptCounts {
    const COUNTERS: &'static [Counter] = DeptCounts::COUNTERS;
    fn from_values(v: &[i64]) -> Self {
        DeptCounts::from_values(v)
    }
}

/// Folds department sums into `dept_day`.
fn write_dept_sums(
    tx: &rusqlite::Transaction<'_>,
    sums: &HashMap<DeptKey<&str>, DeptCounts>,
) -> Result<(), StoreError> {
    let mut upsert = tx.prepare_cached(&DEPT_UPSERT)?;
    // In key order, so that the B-tree is walked once.
    let mut sorted: Vec<_> = sums.iter().collect();
    sorted.sort_unstable_by_key(|(k, _)| **k);
    for ((tid, day, dept, subtree, version), d) in sorted {
        let key: [&dyn ToSql; 5] = [tid, day, dept, subtree, version];
        let values = d.values();
        upsert.execute(params_from_iter(key.into_iter().chain(values.iter().map(|v| v as &dyn ToSql))))?;
    }
    Ok(())
}

/// The facts of `keys` as `conn` sees them (see [`Store::user_days`]).
fn read_user_days(
    conn: &Connection,
    tid: i64,
    active: &ActiveIndex,
    keys: &[(Day, &str)],
) -> Result<Vec<UserDayFacts>, StoreError> {
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
    let mut max_ts =
        conn.prepare_cached("SELECT max_ts FROM user_day WHERE tenant = ?1 AND day = ?2 AND open_id = ?3")?;
    if out.iter().all(|f| f.totals.is_some()) {
        return Ok(out);
    }
    active.read(tid, |active| -> Result<(), StoreError> {
        // Idle keys by their latest active day: a large group (an export's batch, where
        // most idle users were last seen on the same few days) is read with one range scan
        // of that day; the rest, and anything the scan does not find, one key at a time.
        let mut by_day: HashMap<i32, Vec<usize>> = HashMap::default();
        for (i, (facts, &(day, open_id))) in out.iter().zip(keys).enumerate() {
            if facts.totals.is_none() {
                if let Some(d) = active.latest_at_or_before(tid, open_id, day.julian()) {
                    by_day.entry(d).or_default().push(i);
                }
            }
        }
        let mut scan = conn.prepare_cached(
            "SELECT open_id, max_ts FROM user_day WHERE tenant = ?1 AND day = ?2 AND open_id BETWEEN ?3 AND ?4",
        )?;
        for (d, idx) in &by_day {
            if idx.len() < IDLE_SCAN_MIN {
                continue;
            }
            let (lo, hi) = idx.iter().fold((keys[idx[0]].1, keys[idx[0]].1), |(lo, hi), &i| {
                (lo.min(keys[i].1), hi.max(keys[i].1))
            });
            let mut want: HashMap<&str, usize> = idx.iter().map(|&i| (keys[i].1, i)).collect();
            let mut rows = scan.query(params![tid, d, lo, hi])?;
            while let Some(r) = rows.next()? {
                let open_id: String = r.get(0)?;
                if let Some(i) = want.remove(open_id.as_str()) {
                    out[i].last_active_ms = Some(r.get(1)?);
                }
            }
        }
        for (facts, &(day, open_id)) in out.iter_mut().zip(keys) {
            if facts.totals.is_some() || facts.last_active_ms.is_some() {
                continue;
            }
            let mut upto = day.julian();
            while let Some(d) = active.latest_at_or_before(tid, open_id, upto) {
                // A bit whose row this snapshot does not hold yet: look further back.
                if let Some(ms) =
                    max_ts.query_row(params![tid, d, open_id], |r| r.get(0)).optional()?
                {
                    facts.last_active_ms = Some(ms);
                    break;
                }
                upto = d - 1;
            }
        }
        Ok(())
    })?;
    Ok(out)
}

/// [`read_user_days`] on the writer's connection, with the rows still waiting in `pending` folded
/// in: how a reader is answered when the writer cannot fold them into `user_day` (a full disk).
/// No flush can commit meanwhile (the writer is busy with this), so nothing is counted twice.
fn read_with_pending(
    conn: &Connection,
    active: &ActiveIndex,
    pending: &Pending,
    tenant: &str,
    keys: &[(Day, String)],
) -> Result<Vec<UserDayFacts>, StoreError> {
    let borrowed: Vec<(Day, &str)> = keys.iter().map(|(d, o)| (*d, o.as_str())).collect();
    let tid: Option<i64> =
        conn.query_row("SELECT id FROM tenants WHERE tenant_key = ?1", [tenant], |r| r.get(0)).optional()?;
    let Some(tid) = tid else { return Ok(vec![UserDayFacts::default(); keys.len()]) };
    let mut out = read_user_days(conn, tid, active, &borrowed)?;
    // The waiting rows of these users, by user.
    let mut by_user: HashMap<&str, Vec<(i32, &DayTotals)>> = HashMap::default();
    for (_, open_id) in &borrowed {
        by_user.entry(open_id).or_default();
    }
    for ((t, day, open_id), totals, _) in &pending.rows {
        if *t == tid {
            if let Some(v) = by_user.get_mut(&**open_id) {
                v.push((*day, totals));
            }
        }
    }
    for (facts, (day, open_id)) in out.iter_mut().zip(&borrowed) {
        for &(d, t) in &by_user[open_id] {
            if d == day.julian() {
                facts.totals.get_or_insert_with(DayTotals::default).merge(t);
            }
            // A later day's events are later than an earlier day's: the latest `max_ts` of the
            // days up to this one is that of the latest active day.
            if d <= day.julian() {
                facts.last_active_ms = Some(facts.last_active_ms.map_or(t.c.max_ts, |ms| ms.max(t.c.max_ts)));
            }
        }
    }
    Ok(out)
}

/// Idle keys sharing their latest active day at least this many use one range scan of that day.
const IDLE_SCAN_MIN: usize = 32;

/// Keys of one day at least this many use one range scan instead of point lookups.
const RANGE_SCAN_MIN: usize = 8;

/// One key, by primary key.
fn point_lookup(conn: &Connection, tid: i64, day: Day, open_id: &str) -> Result<UserDayFacts, StoreError> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {cols} FROM user_day WHERE tenant = ?1 AND day = ?2 AND open_id = ?3",
        cols = *DAY_COLUMNS
    ))?;
    let totals = st.query_row(params![tid, day.julian(), open_id], |r| totals_from_row(r, 0)).optional()?;
    Ok(match totals {
        Some(mut t) => {
            if t.c.platforms != 0 {
                load_pairs(conn, tid, day.julian(), open_id, &mut t)?;
            }
            UserDayFacts { last_active_ms: Some(t.c.max_ts), totals: Some(t) }
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
        "SELECT open_id, {cols} FROM user_day WHERE tenant = ?1 AND day = ?2 AND open_id BETWEEN ?3 AND ?4 \
         ORDER BY open_id LIMIT ?5",
        cols = *DAY_COLUMNS
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
            with_pairs |= t.c.platforms != 0;
            out[k] = UserDayFacts { last_active_ms: Some(t.c.max_ts), totals: Some(t) };
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
    fn append_events(
        &self,
        tenant: &str,
        dept_basis: i64,
        events: Vec<NewEvent>,
    ) -> Result<AppendOutcome, StoreError> {
        let (reply, rx) = mpsc::sync_channel(1);
        self.send(Job::Append { tenant: tenant.to_owned(), basis: dept_basis, events, reply })?;
        rx.recv().map_err(|_| StoreError::Closed)?
    }

    fn dept_basis(&self, tenant: &str) -> Result<Option<i64>, StoreError> {
        self.flush_pending()?;
        self.with_reader(|conn| {
            let Some(tid) = self.tenant_id(conn, tenant)? else { return Ok(None) };
            Ok(conn
                .prepare_cached("SELECT basis FROM dept_basis WHERE tenant = ?1")?
                .query_row([tid], |r| r.get(0))
                .optional()?)
        })
    }

    fn rebuild_dept_sums(&self, tenant: &str, basis: i64, resolve: RowResolver) -> Result<u64, StoreError> {
        let (reply, rx) = mpsc::sync_channel(1);
        self.send(Job::Rebuild { tenant: tenant.to_owned(), basis, resolve, reply })?;
        rx.recv().map_err(|_| StoreError::Closed)?
    }

    fn dept_days(
        &self,
        tenant: &str,
        basis: i64,
        dept: &str,
        subtree: bool,
        first: Day,
        last: Day,
    ) -> Result<Option<Vec<DeptDay>>, StoreError> {
        self.flush_pending()?;
        self.with_reader(|conn| {
            let Some(tid) = self.tenant_id(conn, tenant)? else { return Ok(None) };
            let kept: Option<i64> = conn
                .prepare_cached("SELECT basis FROM dept_basis WHERE tenant = ?1")?
                .query_row([tid], |r| r.get(0))
                .optional()?;
            if kept != Some(basis) {
                return Ok(None);
            }
            // One short range a day: the key leads with the day (see migration 0003).
            let mut st = conn.prepare_cached(&format!(
                "SELECT version, {} FROM dept_day WHERE tenant = ?1 AND day = ?2 AND dept = ?3 AND subtree = ?4 \
                 ORDER BY version",
                *DEPT_COLUMNS
            ))?;
            let mut out = Vec::new();
            let mut day = first;
            while day <= last {
                let rows = st.query_map(params![tid, day.julian(), dept, subtree], |r| {
                    Ok(DeptDay { day, version: r.get(0)?, sums: counters_from_row::<DeptCounts>(r, 1)? })
                })?;
                for r in rows {
                    out.push(r?);
                }
                day = day.plus(1);
            }
            Ok(Some(out))
        })
    }

    fn user_days(&self, tenant: &str, keys: &[(Day, &str)]) -> Result<Vec<UserDayFacts>, StoreError> {
        if let Some(read) = self.settle(tenant, keys)? {
            return Ok(read);
        }
        self.with_reader(|conn| match self.tenant_id(conn, tenant)? {
            Some(tid) => read_user_days(conn, tid, &self.active, keys),
            None => Ok(vec![UserDayFacts::default(); keys.len()]),
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

    fn unwritable(&self) -> Option<String> {
        self.health.get()
    }

    fn day_revisions(&self, tenant: &str, first: Day, last: Day) -> Result<Vec<DayRevision>, StoreError> {
        self.with_reader(|conn| {
            let Some(tid) = self.tenant_id(conn, tenant)? else { return Ok(Vec::new()) };
            let mut st = conn.prepare_cached(
                "SELECT day, revision, changed_at, change_seq FROM tenant_day \
                 WHERE tenant = ?1 AND day BETWEEN ?2 AND ?3 AND revision > 0 ORDER BY day",
            )?;
            let rows = st.query_map(params![tid, first.julian(), last.julian()], day_revision)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn day_changes(&self, tenant: &str, after_seq: i64) -> Result<(Vec<DayRevision>, i64), StoreError> {
        self.with_reader(|conn| {
            let Some(tid) = self.tenant_id(conn, tenant)? else { return Ok((Vec::new(), 0)) };
            let latest: i64 = conn
                .prepare_cached("SELECT coalesce(max(change_seq), 0) FROM tenant_day WHERE tenant = ?1")?
                .query_row(params![tid], |r| r.get(0))?;
            let mut st = conn.prepare_cached(
                "SELECT day, revision, changed_at, change_seq FROM tenant_day \
                 WHERE tenant = ?1 AND change_seq > ?2 ORDER BY change_seq",
            )?;
            let rows = st.query_map(params![tid, after_seq], day_revision)?;
            Ok((rows.collect::<Result<_, _>>()?, latest))
        })
    }

    fn size_bytes(&self) -> Result<u64, StoreError> {
        self.with_reader(|conn| {
            let bytes: i64 = conn.query_row(
                "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
                [],
                |r| r.get(0),
            )?;
            Ok(u64::try_from(bytes).unwrap_or(0))
        })
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

/// A [`DayRevision`] from `day, revision, changed_at, change_seq`.
fn day_revision(r: &rusqlite::Row<'_>) -> rusqlite::Result<DayRevision> {
    Ok(DayRevision {
        day: Day::from_julian(r.get(0)?),
        revision: r.get(1)?,
        changed_at_ms: Some(r.get::<_, i64>(2)?).filter(|&t| t > 0),
        change_seq: r.get(3)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals(send: i64, pairs: &[&str]) -> DayTotals {
        let c = DayCounters {
            send_messenger_num: send,
            max_ts: -5,
            platforms: i64::from(!pairs.is_empty()),
            ..Default::default()
        };
        DayTotals { c, os_pairs: pairs.iter().map(|p| (*p).to_owned()).collect() }
    }

    #[test]
    fn a_log_body_decodes_to_what_was_encoded() {
        let mut body = Vec::new();
        log::encode(&mut body, 7, -3, "ou_a", &totals(i64::MAX, &["'ios 14','feishu 3'"]));
        let first = body.len();
        log::encode(&mut body, 1, 2_460_000, "", &totals(i64::MIN, &[]));
        let mut out = Vec::new();
        log::decode(&body, |tid, day, open_id, t| out.push((tid, day, open_id.to_owned(), t))).unwrap();
        assert_eq!(
            out,
            vec![
                (7, -3, "ou_a".to_owned(), totals(i64::MAX, &["'ios 14','feishu 3'"])),
                (1, 2_460_000, String::new(), totals(i64::MIN, &[])),
            ]
        );
        for cut in (1..body.len()).filter(|&cut| cut != first) {
            assert!(log::decode(&body[..cut], |_, _, _, _| ()).is_err(), "a body cut at {cut} is refused");
        }
    }

    /// What a crash leaves: log rows not folded into `user_day`, and the sums' basis deleted by the
    /// group that held them back. Opening folds the rows in, once, and the sums stay without a
    /// basis (rebuilt on first use).
    #[test]
    fn opening_folds_in_the_rows_a_crash_left_in_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let day = Day::parse("2026-11-20").unwrap();
        SqliteStore::open(dir.path()).unwrap().close().unwrap();
        {
            let c = Connection::open(dir.path().join("adminstats.db")).unwrap();
            c.execute("INSERT INTO tenants (id, tenant_key) VALUES (4, 'acme')", []).unwrap();
            c.execute("INSERT INTO dept_basis (tenant, basis) VALUES (4, 9)", []).unwrap();
            for (send, pairs) in [(2, vec!["'ios 14','feishu 3'"]), (3, vec!["'macos 13','feishu 3'"])] {
                let mut body = Vec::new();
                log::encode(&mut body, 4, day.julian(), "ou_a", &totals(send, &pairs));
                c.execute("INSERT INTO user_day_log (body) VALUES (?1)", [body]).unwrap();
            }
        }
        for _ in 0..2 {
            let s = SqliteStore::open(dir.path()).unwrap();
            let facts = s.user_days("acme", &[(day, "ou_a")]).unwrap();
            let t = facts[0].totals.as_ref().unwrap();
            assert_eq!(t.c.send_messenger_num, 5, "both groups, once, however often the store opens");
            assert_eq!(t.os_pairs.len(), 2);
            assert_eq!(s.dept_basis("acme").unwrap(), None, "the sums are rebuilt, not trusted");
            s.close().unwrap();
        }
        let c = Connection::open(dir.path().join("adminstats.db")).unwrap();
        let left: i64 = c.query_row("SELECT count(*) FROM user_day_log", [], |r| r.get(0)).unwrap();
        assert_eq!(left, 0);
    }
}
