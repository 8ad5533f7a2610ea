//! [`PostgresStore`]: adminstats' [`Store`] on PostgreSQL, for many `serve` processes over one
//! database (and Citus, distributed by tenant).
//!
//! What differs from the embedded store, and why:
//! - **Nothing is instance-local.** `last_active_time` is read from each user's active-day bits
//!   in `user_active`, not from an in-memory bitset; tokens and the page-token key are rows every
//!   server reads.
//! - **Batches of one tenant commit in parallel, on every server.** An append claims its event
//!   ids (the unique key makes each once), folds its user-days into their rows by commutative
//!   upserts (sums added, sets or-ed, maxima kept: nothing read first), and only last locks the
//!   `tenant_day` rows of its days, for the day's overflow bound and revision, until its commit.
//!   A batch that would pass the bound is rolled back and appended again with those rows locked
//!   first, event by event. Restatements take an advisory lock per tenant, to be numbered in
//!   commit order.
//! - **Department sums are brought up to date when read.** A batch marks its days
//!   (`tenant_day.dept_dirty`); a department query finds a marked day in its range and has
//!   [`Store::refresh_dept_days`] recompute the range's marked days from their user rows, under
//!   their `tenant_day` row locks (the embedded store, with one writer, moves them inline).
//! - **Batches travel as arrays and binary COPY**: one statement per table per batch.
//! - **Failures say what they are.** A server that is down or unreachable is
//!   [`StoreError::Unavailable`] (HTTP 503; nothing of the write was kept), a full disk
//!   [`StoreError::Unwritable`]; a connection that failed is dropped and a new one is made on the
//!   next call, so the servers reconnect by themselves. A deadlock or serialization failure is
//!   retried.
//!
//! Every method is blocking, like the trait's; the `postgres` crate runs each connection on its
//! own small runtime.

mod binary;
mod copy;

pub use copy::{copy_from_sqlite, CopyError, CopyReport};

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use adminstats_core::metrics::{DayCounters, DeptCounts, Fold, Version, DAY_SUM_MAX};
use adminstats_core::{Day, DayTotals, Rejection};
use adminstats_store::{
    AppendOutcome, Counted, DayRevision, DeptDay, NewEvent, Notice, RowResolver, Shared, Store, StoreError,
    StoredToken, UserDayFacts,
};
use postgres::error::SqlState;
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::{ToSql, Type};
use postgres::{Client, IsolationLevel, NoTls, Transaction};

/// Migrations, in order; `adminstats_schema.version` counts how many are applied.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_init.sql"),
    include_str!("../migrations/0002_byte_order.sql"),
    include_str!("../migrations/0003_pairs_in_rows.sql"),
    include_str!("../migrations/0004_lazy_dept_sums.sql"),
    include_str!("../migrations/0005_pending_active_days.sql"),
];

/// Connections kept open at most; more callers wait for one.
const MAX_CONNECTIONS: usize = 16;
/// How long a new connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Attempts of a transaction that a deadlock or a serialization failure aborted.
const MAX_ATTEMPTS: u32 = 5;
/// The advisory lock held while the schema is created or migrated (any fixed number).
const MIGRATION_LOCK: i64 = 0x6164_6d69_6e73_7461; // "adminsta"

#[derive(Default)]
struct Pool {
    idle: Vec<(Client, Prepared)>,
    open: usize,
}

/// Statements prepared once per connection: planning one of the wide `unnest … LATERAL` reads
/// costs more than running it for a page.
#[derive(Default)]
struct Prepared(HashMap<String, postgres::Statement>);

impl Prepared {
    /// The statement for `sql`, prepared on this connection the first time.
    fn get(
        &mut self,
        client: &mut impl postgres::GenericClient,
        sql: &str,
    ) -> Result<postgres::Statement, postgres::Error> {
        if let Some(s) = self.0.get(sql) {
            return Ok(s.clone());
        }
        let s = client.prepare(sql)?;
        self.0.insert(sql.to_owned(), s.clone());
        Ok(s)
    }
}

/// Keys of one day at least this many, ascending, are read by one range scan ([`Store::user_days`]).
const RANGE_SCAN_MIN: usize = 8;

/// The PostgreSQL implementation of [`Store`].
pub struct PostgresStore {
    config: postgres::Config,
    /// The URL without its password, for messages.
    shown: String,
    pool: Mutex<Pool>,
    free: Condvar,
    closed: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// What this server's appends have learnt of each tenant ([`TenantWrites`]).
    writes: Mutex<HashMap<String, TenantWrites>>,
}

/// This server's appends to one tenant, as far as they steer the next ones (a hint: any value
/// gives the same data).
#[derive(Debug, Default)]
struct TenantWrites {
    /// Appends still to fold their user-days by the upsert without trying COPY first, since a copy
    /// of this tenant's met a row already there.
    skip_copies: u32,
    /// How many appends the next copy that meets a row makes skip it (doubling to
    /// [`MAX_COPY_BACKOFF`]; none after a copy that went in).
    copy_backoff: u32,
    /// Rows this server has added to `active_pending` and not folded yet.
    unfolded: u32,
}

/// The most appends that skip COPY after one met a row already there.
const MAX_COPY_BACKOFF: u32 = 64;
/// Past this many unfolded `active_pending` rows of a tenant from this server (about a thousand
/// user-days each), the append that passes it folds them all after it commits.
const FOLD_BEHIND: u32 = 2048;
/// A read meeting more unfolded `active_pending` rows than this has them folded first.
const READ_PENDING_MAX: usize = 64;

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore").field("url", &self.shown).finish_non_exhaustive()
    }
}

/// `postgres://user:secret@host/db` as `postgres://user@host/db`: a store URL fit for logs and
/// messages.
pub fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{user}{}", &url[..s + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://USER[:PASSWORD]@HOST[:PORT]/DB`), creates or
    /// migrates its schema under an advisory lock (several servers starting at once are safe), and
    /// refuses a database whose schema is newer than this binary.
    ///
    /// # Errors
    /// [`StoreError::Backend`] for a URL that does not parse, [`StoreError::Unavailable`] when the
    /// database cannot be reached, [`StoreError::TooNew`] for a newer schema.
    pub fn connect(url: &str) -> Result<PostgresStore, StoreError> {
        let mut config: postgres::Config =
            url.parse().map_err(|e| StoreError::Backend(format!("{}: {e}", redacted(url))))?;
        config.connect_timeout(CONNECT_TIMEOUT);
        config.application_name("adminstats");
        // "relation already exists, skipping" and the like are not news.
        config.options("-c client_min_messages=warning");
        let store = PostgresStore {
            config,
            shown: redacted(url),
            pool: Mutex::new(Pool::default()),
            free: Condvar::new(),
            closed: Default::default(),
            writes: Mutex::default(),
        };
        store.with_client(migrate)?;
        Ok(store)
    }

    /// The URL, without its password.
    pub fn url(&self) -> &str {
        &self.shown
    }

    fn open(&self) -> Result<Client, StoreError> {
        let mut c = self
            .config
            .connect(NoTls)
            .map_err(|e| StoreError::Unavailable(format!("{}: {}", self.shown, error_text(&e))))?;
        c.batch_execute(
            "SET TIME ZONE 'UTC'; \
             CREATE TEMP TABLE IF NOT EXISTS staged_user_day (LIKE user_day) ON COMMIT DELETE ROWS",
        )
        .or_else(|e| match e.code() {
            // Before the first migration there is no user_day to copy the shape of.
            Some(&SqlState::UNDEFINED_TABLE) => Ok(()),
            _ => Err(e),
        })
        .map_err(|e| pg_error(&e))?;
        Ok(c)
    }

    /// Runs `f` on a pooled connection, waiting for one when all [`MAX_CONNECTIONS`] are busy. A
    /// connection that failed is dropped; the next call makes a new one.
    fn with_client<T>(&self, f: impl FnOnce(&mut Client) -> Result<T, StoreError>) -> Result<T, StoreError> {
        self.with_conn(|client, _| f(client))
    }

    /// [`with_client`](Self::with_client), with the connection's prepared statements.
    fn with_conn<T>(
        &self,
        f: impl FnOnce(&mut Client, &mut Prepared) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if self.closed.load(std::sync::atomic::Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        let idle = {
            let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
            loop {
                if let Some(c) = pool.idle.pop() {
                    break Some(c);
                }
                if pool.open < MAX_CONNECTIONS {
                    pool.open += 1;
                    break None;
                }
                pool = self.free.wait(pool).unwrap_or_else(|p| p.into_inner());
            }
        };
        let release = |conn: Option<(Client, Prepared)>| {
            let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
            match conn {
                Some(c) if !c.0.is_closed() => pool.idle.push(c),
                _ => pool.open -= 1,
            }
            drop(pool);
            self.free.notify_one();
        };
        let (mut client, mut prepared) = match idle.filter(|c| !c.0.is_closed()) {
            Some(c) => c,
            None => match self.open() {
                Ok(c) => (c, Prepared::default()),
                Err(e) => {
                    release(None);
                    return Err(e);
                }
            },
        };
        let out = f(&mut client, &mut prepared);
        let keep = !matches!(out, Err(StoreError::Unavailable(_)));
        release(keep.then_some((client, prepared)));
        out
    }

    /// Runs `f` in a transaction, again when a deadlock or a serialization failure aborted it.
    fn write<T>(
        &self,
        mut f: impl FnMut(&mut Transaction<'_>, &mut Prepared) -> Result<T, postgres::Error>,
    ) -> Result<T, StoreError> {
        self.write_or_abandon(|tx, prepared| f(tx, prepared).map(Some))
            // `f` never gives up, so there is always a value.
            .and_then(|out| out.ok_or_else(|| StoreError::Backend("a write gave up".into())))
    }

    /// [`write`](Self::write), where `f` may give the transaction up (`None`): it is rolled back.
    fn write_or_abandon<T>(
        &self,
        mut f: impl FnMut(&mut Transaction<'_>, &mut Prepared) -> Result<Option<T>, postgres::Error>,
    ) -> Result<Option<T>, StoreError> {
        self.with_conn(|client, prepared| {
            let mut attempt = 1;
            loop {
                let run = (|| {
                    let mut tx = client.transaction()?;
                    let Some(out) = f(&mut tx, prepared)? else {
                        tx.rollback()?;
                        return Ok(None);
                    };
                    tx.commit()?;
                    Ok(Some(out))
                })();
                match run {
                    Ok(v) => return Ok(v),
                    Err(e) if attempt < MAX_ATTEMPTS && is_retryable(&e) => {
                        tracing::debug!(error = %e, attempt, "transaction aborted; trying again");
                        attempt += 1;
                    }
                    Err(e) => return Err(pg_error(&e)),
                }
            }
        })
    }

    /// Runs `f` in a read-only transaction over one snapshot.
    fn read<T>(
        &self,
        f: impl FnOnce(&mut Transaction<'_>, &mut Prepared) -> Result<T, postgres::Error>,
    ) -> Result<T, StoreError> {
        self.with_conn(|client, prepared| {
            let run = (|| {
                let mut tx = client
                    .build_transaction()
                    .isolation_level(IsolationLevel::RepeatableRead)
                    .read_only(true)
                    .start()?;
                let out = f(&mut tx, prepared)?;
                tx.commit()?;
                Ok(out)
            })();
            run.map_err(|e: postgres::Error| pg_error(&e))
        })
    }
}

/// A transaction whose statements are prepared once per connection ([`Prepared`]).
struct Db<'a, 't> {
    tx: &'a mut Transaction<'t>,
    prepared: &'a mut Prepared,
}

type Params<'p> = [&'p (dyn ToSql + Sync)];

impl Db<'_, '_> {
    fn query(&mut self, sql: &str, params: &Params<'_>) -> Result<Vec<postgres::Row>, postgres::Error> {
        let st = self.prepared.get(self.tx, sql)?;
        self.tx.query(&st, params)
    }
    fn query_one(&mut self, sql: &str, params: &Params<'_>) -> Result<postgres::Row, postgres::Error> {
        let st = self.prepared.get(self.tx, sql)?;
        self.tx.query_one(&st, params)
    }
    fn execute(&mut self, sql: &str, params: &Params<'_>) -> Result<u64, postgres::Error> {
        let st = self.prepared.get(self.tx, sql)?;
        self.tx.execute(&st, params)
    }
}

fn is_retryable(e: &postgres::Error) -> bool {
    matches!(e.code(), Some(c) if *c == SqlState::T_R_DEADLOCK_DETECTED || *c == SqlState::T_R_SERIALIZATION_FAILURE)
}

/// The message of a database error, with the server's detail when there is one.
fn error_text(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => {
            let mut s = e.to_string();
            let mut src = std::error::Error::source(e);
            while let Some(inner) = src {
                s.push_str(": ");
                s.push_str(&inner.to_string());
                src = inner.source();
            }
            s
        }
    }
}

/// A database error as the store's: unreachable, full, or otherwise.
fn pg_error(e: &postgres::Error) -> StoreError {
    let text = error_text(e);
    match e.code() {
        Some(c) if *c == SqlState::DISK_FULL || *c == SqlState::INSUFFICIENT_RESOURCES => {
            StoreError::Unwritable(text)
        }
        Some(c)
            if c.code().starts_with("08")
                || *c == SqlState::ADMIN_SHUTDOWN
                || *c == SqlState::CRASH_SHUTDOWN
                || *c == SqlState::CANNOT_CONNECT_NOW
                || *c == SqlState::TOO_MANY_CONNECTIONS
                || *c == SqlState::READ_ONLY_SQL_TRANSACTION =>
        {
            StoreError::Unavailable(text)
        }
        Some(_) => StoreError::Backend(text),
        // No SQLSTATE: the connection itself failed (closed, reset, timed out).
        None => StoreError::Unavailable(text),
    }
}

fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let mut run = || -> Result<(), StoreError> {
        let mut tx = client.transaction().map_err(|e| pg_error(&e))?;
        let pg = |e: postgres::Error| pg_error(&e);
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).map_err(pg)?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS adminstats_schema (version integer NOT NULL)")
            .map_err(pg)?;
        let version: i64 = tx
            .query_opt("SELECT version::bigint FROM adminstats_schema", &[])
            .map_err(pg)?
            .map_or(0, |r| r.get(0));
        let supported = MIGRATIONS.len() as i64;
        if version > supported {
            return Err(StoreError::TooNew { found: version, supported });
        }
        for sql in MIGRATIONS.iter().skip(version as usize) {
            tx.batch_execute(sql).map_err(pg)?;
        }
        tx.execute("DELETE FROM adminstats_schema", &[]).map_err(pg)?;
        tx.execute("INSERT INTO adminstats_schema (version) VALUES ($1::bigint)", &[&supported])
            .map_err(pg)?;
        tx.commit().map_err(pg)?;
        Ok(())
    };
    run()?;
    // This connection was opened before the tables existed, or had their shape: give it its
    // staging table now, of the current shape.
    client
        .batch_execute(
            "DROP TABLE IF EXISTS pg_temp.staged_user_day; \
             CREATE TEMP TABLE staged_user_day (LIKE user_day) ON COMMIT DELETE ROWS",
        )
        .map_err(|e| pg_error(&e))
}

/// The columns of `user_day` (and `tenant_day`) after the key, in [`DayCounters::COUNTERS`] order.
fn day_columns() -> String {
    DayCounters::COUNTERS.iter().map(|c| c.name).collect::<Vec<_>>().join(", ")
}

/// The columns of `dept_day` after the key, in [`DeptCounts::COUNTERS`] order.
fn dept_columns() -> String {
    DeptCounts::COUNTERS.iter().map(|c| c.name).collect::<Vec<_>>().join(", ")
}

/// `DayCounters` from `row`'s columns starting at `at`.
fn day_counters(row: &postgres::Row, at: usize) -> DayCounters {
    let v: Vec<i64> = (0..DayCounters::LEN).map(|i| row.get(at + i)).collect();
    DayCounters::from_values(&v)
}

fn dept_counts(row: &postgres::Row, at: usize) -> DeptCounts {
    let v: Vec<i64> = (0..DeptCounts::LEN).map(|i| row.get(at + i)).collect();
    DeptCounts::from_values(&v)
}

/// Rows of counters as one array per column (for `unnest`).
fn columns_of<const N: usize>(rows: impl Iterator<Item = [i64; N]>) -> Vec<Vec<i64>> {
    let mut cols: Vec<Vec<i64>> = vec![Vec::new(); N];
    for r in rows {
        for (c, v) in cols.iter_mut().zip(r) {
            c.push(v);
        }
    }
    cols
}

/// `$from::bigint[], $from+1::bigint[], …` for `n` arrays.
fn array_params(from: usize, n: usize) -> String {
    (from..from + n).map(|i| format!("${i}::bigint[]")).collect::<Vec<_>>().join(", ")
}

/// What the department sums of one key move by.
type DeptKey = (i32, String, bool, Version);

impl Store for PostgresStore {
    fn append_events(
        &self,
        tenant: &str,
        dept_basis: i64,
        events: Vec<NewEvent>,
    ) -> Result<AppendOutcome, StoreError> {
        if events.is_empty() {
            return Ok(AppendOutcome::default());
        }
        let copy = self.tenant_writes(tenant, |w| {
            let skip = w.skip_copies > 0;
            w.skip_copies = w.skip_copies.saturating_sub(1);
            !skip
        });
        let mut route = Route { copy, ..Route::default() };
        let mut appended = self.write_or_abandon(|tx, prepared| {
            route.reset();
            append(tx, prepared, tenant, dept_basis, &events, Bound::Late, &mut route)
        })?;
        if appended.is_none() {
            // A checked append never gives up; if it did, nothing of it is committed.
            appended = self.write_or_abandon(|tx, prepared| {
                route.reset();
                append(tx, prepared, tenant, dept_basis, &events, Bound::Checked, &mut route)
            })?;
        }
        let out =
            appended.ok_or_else(|| StoreError::Backend("a checked append passed a day's bound".into()))?;
        let fold = self.tenant_writes(tenant, |w| {
            if route.copied {
                w.copy_backoff = 0;
            } else if route.copy {
                w.copy_backoff = (w.copy_backoff * 2).clamp(1, MAX_COPY_BACKOFF);
                w.skip_copies = w.copy_backoff;
            }
            w.unfolded += u32::from(route.pending);
            w.unfolded > FOLD_BEHIND
        });
        if fold {
            // The batch is committed and counted whatever the fold does.
            if let Err(e) = self.fold_active(tenant, i32::MAX) {
                tracing::warn!(tenant, error = %e, "could not fold active days; a later append or read will");
            }
        }
        Ok(out)
    }

    fn user_days(&self, tenant: &str, keys: &[(Day, &str)]) -> Result<Vec<UserDayFacts>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        // A read meeting many unfolded user-days has them folded first, and reads again; the
        // days it needs are those up to its last.
        let upto = keys.iter().map(|k| k.0.julian()).max().unwrap_or(i32::MAX);
        let mut pending_max = Some(READ_PENDING_MAX);
        loop {
            match self.read_user_days(tenant, keys, pending_max)? {
                Read::Done(out, pending) => {
                    if pending > 0 {
                        // The next reads need not take them again; this one has its answer.
                        if let Err(e) = self.fold_active(tenant, upto) {
                            tracing::warn!(tenant, error = %e, "could not fold active days; a later read will");
                        }
                    }
                    return Ok(out);
                }
                Read::FoldFirst => {
                    // Failing that (a full disk), the read takes them all in: slower, the same answer.
                    match self.fold_active(tenant, upto) {
                        Ok(()) => {}
                        Err(e @ StoreError::Unavailable(_)) => return Err(e),
                        Err(e) => {
                            tracing::warn!(tenant, error = %e, "could not fold active days before a read")
                        }
                    }
                    pending_max = None;
                }
            }
        }
    }

    fn dept_basis(&self, tenant: &str) -> Result<Option<i64>, StoreError> {
        self.read(|tx, _| {
            Ok(tx.query_opt("SELECT basis FROM dept_basis WHERE tenant = $1", &[&tenant])?.map(|r| r.get(0)))
        })
    }

    fn rebuild_dept_sums(&self, tenant: &str, basis: i64, resolve: RowResolver) -> Result<u64, StoreError> {
        self.write(|tx, prepared| {
            let rows = recompute_dept_days(tx, prepared, tenant, &resolve, None)?;
            tx.execute(
                "INSERT INTO dept_basis (tenant, basis) VALUES ($1, $2) \
                 ON CONFLICT (tenant) DO UPDATE SET basis = excluded.basis",
                &[&tenant, &basis],
            )?;
            Ok(rows)
        })
    }

    fn refresh_dept_days(
        &self,
        tenant: &str,
        resolve: RowResolver,
        first: Day,
        last: Day,
    ) -> Result<u64, StoreError> {
        self.write(|tx, prepared| recompute_dept_days(tx, prepared, tenant, &resolve, Some((first, last))))
    }

    /// `None` unless the sums are kept under `basis` and none of the days asked is marked since.
    fn dept_days(
        &self,
        tenant: &str,
        basis: i64,
        dept: &str,
        subtree: bool,
        first: Day,
        last: Day,
    ) -> Result<Option<Vec<DeptDay>>, StoreError> {
        self.read_dept_days(tenant, basis, dept, subtree, (first, last), Marked::Refused)
    }

    fn dept_days_as_kept(
        &self,
        tenant: &str,
        basis: i64,
        dept: &str,
        subtree: bool,
        first: Day,
        last: Day,
    ) -> Result<Option<Vec<DeptDay>>, StoreError> {
        self.read_dept_days(tenant, basis, dept, subtree, (first, last), Marked::Read)
    }

    fn save_token(&self, token: &StoredToken) -> Result<(), StoreError> {
        self.write(|tx, _| {
            tx.execute(
                "INSERT INTO tokens (token, app_id, issued_at, expires_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (token) DO UPDATE SET app_id = excluded.app_id, issued_at = excluded.issued_at, \
                 expires_at = excluded.expires_at",
                &[&token.token, &token.app_id, &token.issued_at_ms, &token.expires_at_ms],
            )?;
            Ok(())
        })
    }

    fn load_tokens(&self, now_ms: i64) -> Result<Vec<StoredToken>, StoreError> {
        self.read(|tx, _| {
            let rows = tx.query(
                "SELECT token, app_id, issued_at, expires_at FROM tokens WHERE expires_at > $1 ORDER BY issued_at",
                &[&now_ms],
            )?;
            Ok(rows
                .iter()
                .map(stored_token)
                .collect())
        })
    }

    fn page_token_key(&self, fresh: [u8; 32]) -> Result<[u8; 32], StoreError> {
        let stored: Vec<u8> = self.write(|tx, _| {
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('page_token_key', $1) ON CONFLICT (key) DO NOTHING",
                &[&fresh.as_slice()],
            )?;
            Ok(tx.query_one("SELECT value FROM meta WHERE key = 'page_token_key'", &[])?.get(0))
        })?;
        <[u8; 32]>::try_from(stored.as_slice()).map_err(|_| StoreError::BadPageTokenKey { len: stored.len() })
    }

    fn close(&self) -> Result<(), StoreError> {
        self.closed.store(true, std::sync::atomic::Ordering::Release);
        let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        let n = pool.idle.len();
        pool.idle.clear();
        pool.open -= n;
        Ok(())
    }

    fn unwritable(&self) -> Option<String> {
        // Asked by /healthz: whether the database answers now.
        match self.with_client(|c| c.batch_execute("SELECT 1").map_err(|e| pg_error(&e))) {
            Ok(()) => None,
            Err(StoreError::Closed) => Some("the store is shutting down".into()),
            Err(e) => Some(e.to_string()),
        }
    }

    fn day_revisions(&self, tenant: &str, first: Day, last: Day) -> Result<Vec<DayRevision>, StoreError> {
        self.read(|tx, _| {
            let rows = tx.query(
                "SELECT day, revision, changed_at, change_seq FROM tenant_day \
                 WHERE tenant = $1 AND day BETWEEN $2 AND $3 AND revision > 0 ORDER BY day",
                &[&tenant, &first.julian(), &last.julian()],
            )?;
            Ok(rows.iter().map(day_revision).collect())
        })
    }

    fn day_changes(&self, tenant: &str, after_seq: i64) -> Result<(Vec<DayRevision>, i64), StoreError> {
        self.read(|tx, _| {
            let latest: i64 = tx
                .query_one(
                    "SELECT coalesce(max(change_seq), 0)::bigint FROM tenant_day WHERE tenant = $1",
                    &[&tenant],
                )?
                .get(0);
            let rows = tx.query(
                "SELECT day, revision, changed_at, change_seq FROM tenant_day \
                 WHERE tenant = $1 AND change_seq > $2 ORDER BY change_seq",
                &[&tenant, &after_seq],
            )?;
            Ok((rows.iter().map(day_revision).collect(), latest))
        })
    }

    fn size_bytes(&self) -> Result<u64, StoreError> {
        self.read(|tx, _| {
            let n: i64 = tx.query_one("SELECT pg_database_size(current_database())", &[])?.get(0);
            Ok(u64::try_from(n).unwrap_or(0))
        })
    }

    fn shared(&self) -> Option<&dyn Shared> {
        Some(self)
    }
}

/// Whether [`PostgresStore::read_dept_days`] answers for days marked since their sums were
/// recomputed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marked {
    Refused,
    Read,
}

impl PostgresStore {
    /// `f` of what this server's appends have learnt of `tenant`.
    fn tenant_writes<T>(&self, tenant: &str, f: impl FnOnce(&mut TenantWrites) -> T) -> T {
        let mut writes = self.writes.lock().unwrap_or_else(|p| p.into_inner());
        match writes.get_mut(tenant) {
            Some(w) => f(w),
            None => f(writes.entry(tenant.to_owned()).or_default()),
        }
    }

    /// Sets the active-day bits of the user-days in the tenant's `active_pending` rows (those
    /// with a day up to `upto`), and deletes those rows, in one transaction (rows another fold is
    /// taking are left to it): each user's bits are set once however many batches named their
    /// days. Streams the rows, keeping only the bits; this server counts them as folded
    /// (`TenantWrites::unfolded`), whichever server wrote them.
    fn fold_active(&self, tenant: &str, upto: i32) -> Result<(), StoreError> {
        let t0 = std::time::Instant::now();
        let folded = self.write(|tx, prepared| {
            let taken = prepared.get(
                tx,
                "DELETE FROM active_pending p USING (SELECT tenant, min_day, batch FROM active_pending \
                 WHERE tenant = $1 AND min_day <= $2 FOR UPDATE SKIP LOCKED) k \
                 WHERE p.tenant = k.tenant AND p.min_day = k.min_day AND p.batch = k.batch \
                 RETURNING p.open_ids, p.days",
            )?;
            // Each user's (block, bits): a user is looked up by `&str`, and owned once.
            let mut active: HashMap<String, Vec<(i32, i64)>> = HashMap::new();
            let mut rows = 0u32;
            let mut it = tx.query_raw(&taken, [&tenant as &(dyn ToSql + Sync), &upto])?;
            while let Some(r) = it.next()? {
                rows += 1;
                let (open_ids, days): (Vec<&str>, Vec<i32>) = (r.get(0), r.get(1));
                for (open_id, day) in open_ids.into_iter().zip(days) {
                    let blocks = match active.get_mut(open_id) {
                        Some(b) => b,
                        None => active.entry(open_id.to_owned()).or_default(),
                    };
                    let (block, bit) = (day.div_euclid(64), 1i64 << day.rem_euclid(64));
                    match blocks.iter_mut().find(|b| b.0 == block) {
                        Some(b) => b.1 |= bit,
                        None => blocks.push((block, bit)),
                    }
                }
            }
            drop(it);
            let mut bits: Vec<((&str, i32), i64)> = active
                .iter()
                .flat_map(|(o, blocks)| blocks.iter().map(move |&(b, v)| ((o.as_str(), b), v)))
                .collect();
            bits.sort_unstable();
            set_active_bits(&mut Db { tx, prepared }, tenant, &bits)?;
            Ok((rows, bits.len()))
        });
        let (rows, bits) = folded?;
        self.tenant_writes(tenant, |w| w.unfolded = w.unfolded.saturating_sub(rows));
        if rows > 0 {
            let ms = t0.elapsed().as_millis() as u64;
            tracing::info!(tenant, rows, users_blocks = bits, ms, "folded active days");
        }
        Ok(())
    }

    /// The facts of `keys` in one snapshot ([`Store::user_days`]); or, when a key needs its
    /// user's active days and more than `pending_max` rows of them are not folded yet, `FoldFirst`.
    fn read_user_days(
        &self,
        tenant: &str,
        keys: &[(Day, &str)],
        pending_max: Option<usize>,
    ) -> Result<Read, StoreError> {
        let mut out = vec![UserDayFacts::default(); keys.len()];
        let days: Vec<i32> = keys.iter().map(|k| k.0.julian()).collect();
        let ids: Vec<&str> = keys.iter().map(|k| k.1).collect();
        let mut pending = 0;
        let fold_first = self.read(|tx, prepared| {
            let mut db = Db { tx, prepared };
            let mut found: Vec<Option<(DayCounters, Vec<String>)>> = vec![None; keys.len()];
            // Runs of keys of one day ascending by open_id (a listing page's): one range scan of
            // the primary key each, bounded (past the bound, and for other keys: one probe each).
            let mut probe: Vec<usize> = Vec::new();
            let mut at = 0;
            while at < keys.len() {
                let day = keys[at].0;
                let run = keys[at..].iter().take_while(|k| k.0 == day).count();
                let run_keys = &keys[at..at + run];
                if run >= RANGE_SCAN_MIN && run_keys.windows(2).all(|w| w[0].1 < w[1].1) {
                    let bound = (run * 4) as i64;
                    let sql = format!(
                        "SELECT open_id, {}, os_pairs FROM user_day WHERE tenant = $1 AND day = $2 \
                         AND open_id BETWEEN $3 AND $4 ORDER BY open_id LIMIT $5",
                        day_columns()
                    );
                    let rows =
                        db.query(&sql, &[&tenant, &day.julian(), &run_keys[0].1, &run_keys[run - 1].1, &bound])?;
                    let mut k = 0;
                    for r in &rows {
                        let open_id: &str = r.get(0);
                        while k < run && run_keys[k].1 < open_id {
                            k += 1;
                        }
                        if k < run && run_keys[k].1 == open_id {
                            found[at + k] = Some((day_counters(r, 1), r.get(1 + DayCounters::LEN)));
                        }
                    }
                    if rows.len() as i64 == bound {
                        let stop: &str = rows[rows.len() - 1].get(0);
                        probe.extend((0..run).filter(|&k| run_keys[k].1 > stop).map(|k| at + k));
                    }
                } else {
                    probe.extend(at..at + run);
                }
                at += run;
            }
            if !probe.is_empty() {
                let d: Vec<i32> = probe.iter().map(|&i| days[i]).collect();
                let o: Vec<&str> = probe.iter().map(|&i| ids[i]).collect();
                let rows = db.query(
                    &format!(
                        "SELECT k.i, {cols}, u.os_pairs FROM unnest($2::integer[], $3::text[]) WITH ORDINALITY AS k(day, open_id, i) \
                         CROSS JOIN LATERAL (SELECT * FROM user_day u WHERE u.tenant = $1 AND u.day = k.day \
                         AND u.open_id = k.open_id) u",
                        cols = DayCounters::COUNTERS.iter().map(|c| format!("u.{}", c.name)).collect::<Vec<_>>().join(", ")
                    ),
                    &[&tenant, &d, &o],
                )?;
                for r in rows {
                    let n = usize::try_from(r.get::<_, i64>(0) - 1).unwrap_or(0);
                    found[probe[n]] = Some((day_counters(&r, 1), r.get(1 + DayCounters::LEN)));
                }
            }
            for (i, f) in found.into_iter().enumerate() {
                let Some((c, pairs)) = f else { continue };
                out[i] = UserDayFacts {
                    last_active_ms: Some(c.max_ts),
                    totals: Some(DayTotals { c, os_pairs: pairs.into_iter().collect() }),
                };
            }
            // Users without a row that day: the latest event of their latest earlier active day,
            // found in their active-day bits (the block of the day and the one before it with
            // any: blocks without a day have no row) and in the user-days not folded into them yet.
            let idle: Vec<usize> = (0..keys.len()).filter(|&i| out[i].totals.is_none()).collect();
            if !idle.is_empty() {
                let upto_day = idle.iter().map(|&i| days[i]).max();
                let limit = pending_max.map_or(i64::MAX, |m| m as i64 + 1);
                let unfolded = db.query(
                    "SELECT open_ids, days FROM active_pending WHERE tenant = $1 AND min_day <= $2 LIMIT $3",
                    &[&tenant, &upto_day, &limit],
                )?;
                if pending_max.is_some_and(|m| unfolded.len() > m) {
                    return Ok(true);
                }
                pending = unfolded.len();
                let o: Vec<&str> = idle.iter().map(|&i| ids[i]).collect();
                let upto: Vec<i32> = idle.iter().map(|&i| days[i].div_euclid(64)).collect();
                let rows = db.query(
                    "SELECT k.i, a.block, a.bits FROM unnest($2::text[], $3::integer[]) WITH ORDINALITY AS k(open_id, upto, i) \
                     CROSS JOIN LATERAL (SELECT block, bits FROM user_active a WHERE a.tenant = $1 \
                     AND a.open_id = k.open_id AND a.block <= k.upto ORDER BY block DESC LIMIT 2) a",
                    &[&tenant, &o, &upto],
                )?;
                // For each idle key (by its place in `idle`), the latest active day at or before its day.
                let mut latest: Vec<Option<i32>> = vec![None; idle.len()];
                for r in rows {
                    let n = usize::try_from(r.get::<_, i64>(0) - 1).unwrap_or(0);
                    let (block, bits): (i32, i64) = (r.get(1), r.get(2));
                    let day = days[idle[n]];
                    let found = (0..64).rev().map(|b| block * 64 + b).find(|&d| d <= day && bits & (1i64 << (d - block * 64)) != 0);
                    latest[n] = latest[n].max(found);
                }
                if !unfolded.is_empty() {
                    let mut of_user: HashMap<&str, Vec<usize>> = HashMap::new();
                    for (n, &i) in idle.iter().enumerate() {
                        of_user.entry(ids[i]).or_default().push(n);
                    }
                    for r in &unfolded {
                        let (open_ids, active): (Vec<&str>, Vec<i32>) = (r.get(0), r.get(1));
                        for (open_id, day) in open_ids.into_iter().zip(active) {
                            for &n in of_user.get(open_id).into_iter().flatten() {
                                if day <= days[idle[n]] {
                                    latest[n] = latest[n].max(Some(day));
                                }
                            }
                        }
                    }
                }
                let found: Vec<(usize, i32)> =
                    latest.iter().enumerate().filter_map(|(n, d)| d.map(|d| (idle[n], d))).collect();
                if !found.is_empty() {
                    let d: Vec<i32> = found.iter().map(|f| f.1).collect();
                    let o: Vec<&str> = found.iter().map(|f| ids[f.0]).collect();
                    let rows = db.query(
                        "SELECT k.i, u.max_ts FROM unnest($2::integer[], $3::text[]) WITH ORDINALITY AS k(day, open_id, i) \
                         CROSS JOIN LATERAL (SELECT max_ts FROM user_day u WHERE u.tenant = $1 AND u.day = k.day \
                         AND u.open_id = k.open_id) u",
                        &[&tenant, &d, &o],
                    )?;
                    for r in rows {
                        let n = usize::try_from(r.get::<_, i64>(0) - 1).unwrap_or(0);
                        out[found[n].0].last_active_ms = Some(r.get(1));
                    }
                }
            }
            Ok(false)
        })?;
        Ok(if fold_first { Read::FoldFirst } else { Read::Done(out, pending) })
    }

    fn read_dept_days(
        &self,
        tenant: &str,
        basis: i64,
        dept: &str,
        subtree: bool,
        (first, last): (Day, Day),
        marked: Marked,
    ) -> Result<Option<Vec<DeptDay>>, StoreError> {
        self.read(|tx, _| {
            let current: Option<i64> = tx
                .query_opt(
                    "SELECT basis FROM dept_basis WHERE tenant = $1 AND ($4 OR NOT EXISTS (SELECT 1 \
                     FROM tenant_day WHERE tenant = $1 AND dept_dirty AND day BETWEEN $2 AND $3))",
                    &[&tenant, &first.julian(), &last.julian(), &(marked == Marked::Read)],
                )?
                .map(|r| r.get(0));
            if current != Some(basis) {
                return Ok(None);
            }
            let rows = tx.query(
                &format!(
                    "SELECT day, version, {} FROM dept_day WHERE tenant = $1 AND day BETWEEN $2 AND $3 \
                     AND dept = $4 AND subtree = $5 ORDER BY day, version",
                    dept_columns()
                ),
                &[&tenant, &first.julian(), &last.julian(), &dept, &subtree],
            )?;
            Ok(Some(
                rows.iter()
                    .map(|r| DeptDay {
                        day: Day::from_julian(r.get(0)),
                        version: Version::try_from(r.get::<_, i16>(1)).unwrap_or(0),
                        sums: dept_counts(r, 2),
                    })
                    .collect(),
            ))
        })
    }
}

impl Shared for PostgresStore {
    fn find_token(&self, token: &str) -> Result<Option<StoredToken>, StoreError> {
        self.with_client(|c| {
            let row = c
                .query_opt(
                    "SELECT token, app_id, issued_at, expires_at FROM tokens WHERE token = $1",
                    &[&token],
                )
                .map_err(|e| pg_error(&e))?;
            Ok(row.as_ref().map(stored_token))
        })
    }

    fn newest_token(&self, app: &str, valid_at_ms: i64) -> Result<Option<StoredToken>, StoreError> {
        self.with_client(|c| {
            let row = c
                .query_opt(
                    "SELECT token, app_id, issued_at, expires_at FROM tokens \
                     WHERE app_id = $1 AND expires_at > $2 ORDER BY expires_at DESC LIMIT 1",
                    &[&app, &valid_at_ms],
                )
                .map_err(|e| pg_error(&e))?;
            Ok(row.as_ref().map(stored_token))
        })
    }

    fn count_request(&self, tenant: &str, app: &str, api: &str, second: i64) -> Result<Counted, StoreError> {
        self.with_conn(|c, prepared| {
            let pg = |e: postgres::Error| pg_error(&e);
            let st = prepared
                .get(
                    c,
                    "WITH c AS (INSERT INTO rate_window (tenant, app_id, api, second, n) VALUES ($1, $2, $3, $4, 1) \
                     ON CONFLICT (tenant, app_id, api, second) DO UPDATE SET n = rate_window.n + 1 RETURNING n) \
                     SELECT c.n, (SELECT coalesce(max(change_seq), 0)::bigint FROM tenant_day \
                     WHERE tenant = $1 AND change_seq > 0) FROM c",
                )
                .map_err(pg)?;
            let row = c.query_one(&st, &[&tenant, &app, &api, &second]).map_err(pg)?;
            let (n, restatements): (i32, i64) = (row.get(0), row.get(1));
            // The first request of each of this app's seconds clears its seconds older than a minute.
            if n == 1 {
                c.execute(
                    "DELETE FROM rate_window WHERE tenant = $1 AND app_id = $2 AND second < $3",
                    &[&tenant, &app, &(second - 60)],
                )
                .map_err(|e| pg_error(&e))?;
            }
            Ok(Counted {
                n: u32::try_from(n).unwrap_or(u32::MAX),
                restatements: u64::try_from(restatements).unwrap_or(0),
            })
        })
    }

    fn watch(&self, notice: Box<dyn Fn(Notice<'_>) + Send + Sync>) -> Result<(), StoreError> {
        let config = self.config.clone();
        let closed = self.closed.clone();
        std::thread::Builder::new()
            .name("store-listen".into())
            .spawn(move || {
                let mut first = true;
                while !closed.load(std::sync::atomic::Ordering::Acquire) {
                    let listened = config.connect(NoTls).and_then(|mut c| {
                        c.batch_execute(&format!("LISTEN {RESTATED_CHANNEL}; LISTEN {RELOAD_CHANNEL}"))?;
                        if !first {
                            // Whatever was announced while we were away.
                            notice(Notice::Missed);
                        }
                        first = false;
                        loop {
                            if closed.load(std::sync::atomic::Ordering::Acquire) {
                                return Ok(());
                            }
                            // A fresh iterator for every wait: one's timer, once elapsed, is not
                            // rearmed (postgres 0.19), so a kept iterator answers "nothing" at once
                            // for ever after its first quiet second, and this thread spun a core.
                            match c.notifications().timeout_iter(Duration::from_secs(1)).next() {
                                Ok(Some(n)) if n.channel() == RELOAD_CHANNEL => notice(Notice::DirectoryReloaded),
                                Ok(Some(n)) => notice(Notice::Restated(n.payload())),
                                Ok(None) => {}
                                Err(e) => return Err(e),
                            }
                        }
                    });
                    if let Err(e) = listened {
                        tracing::warn!(error = %error_text(&e), "listening to the other servers failed; trying again in 1 s");
                        first = false;
                        std::thread::sleep(Duration::from_secs(1));
                    }
                }
            })
            .map(drop)
            .map_err(StoreError::Io)
    }

    fn announce_reload(&self) -> Result<(), StoreError> {
        self.with_client(|c| {
            c.execute("SELECT pg_notify($1, '')", &[&RELOAD_CHANNEL]).map(drop).map_err(|e| pg_error(&e))
        })
    }
}

/// The channel on which a server announces that it reloaded its directory.
const RELOAD_CHANNEL: &str = "adminstats_reload";

/// The channel on which an append announces, at commit, that it restated some of a tenant's days
/// (the payload is the tenant).
const RESTATED_CHANNEL: &str = "adminstats_restated";

/// A [`StoredToken`] from `token, app_id, issued_at, expires_at`.
fn stored_token(r: &postgres::Row) -> StoredToken {
    StoredToken { token: r.get(0), app_id: r.get(1), issued_at_ms: r.get(2), expires_at_ms: r.get(3) }
}

fn day_revision(r: &postgres::Row) -> DayRevision {
    DayRevision {
        day: Day::from_julian(r.get(0)),
        revision: r.get(1),
        changed_at_ms: Some(r.get::<_, i64>(2)).filter(|&t| t > 0),
        change_seq: r.get(3),
    }
}

/// What a read of user-days came to.
enum Read {
    /// The facts, and how many unfolded `active_pending` rows the read took in.
    Done(Vec<UserDayFacts>, usize),
    /// Too many unfolded rows: fold them, then read.
    FoldFirst,
}

/// How an append writes its user-days, and what came of it.
#[derive(Debug, Default)]
struct Route {
    /// Try COPY first.
    copy: bool,
    /// The COPY went in (every user-day was new).
    copied: bool,
    /// The batch created user-days, and a row of `active_pending` with them.
    pending: bool,
}

impl Route {
    /// Before each attempt of the transaction: nothing came of it yet.
    fn reset(&mut self) {
        (self.copied, self.pending) = (false, false);
    }
}

/// How an append meets the bound on a day's sums ([`DAY_SUM_MAX`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bound {
    /// Every claimed event is taken, and the days' totals are locked only at the end, for as
    /// long as the commit takes; if one would pass the bound, the transaction is given up and
    /// the batch appended again `Checked`. The bound is 2^53 − 1 per tenant and day, so this is
    /// every batch of a real tenant.
    Late,
    /// The days' totals are locked first and each event checked against them in order: the event
    /// that would pass the bound is refused, the rest of the batch accepted.
    Checked,
}

/// A tenant's day as an append finds it under its row lock.
struct LockedDay {
    totals: DayCounters,
    revision: i64,
    changed_at: i64,
}

/// What the accepted events of a batch add to one day: their counters, and the instant of the
/// latest that restated the day (if one did).
type DayMove = (DayCounters, Option<i64>);

// Key lookups go through `unnest(…) CROSS JOIN LATERAL (… WHERE key = k.key)`: one index probe per
// key whatever the planner's statistics say (a plain join of a fresh table's stale statistics was
// planned as a hash join over the tenant's whole `user_day`, which made ingestion quadratic).

/// One batch, in the caller's transaction: the events' ids, the user-days' rows, and the days'
/// totals, revisions and marks for the department sums. `None`: a `Late` append met the bound,
/// and the caller rolls back and appends again `Checked`.
///
/// Nothing is locked for the tenant as a whole: the ids' unique key makes each event once, new
/// rows are copied in and existing ones folded by a commutative upsert (each in key order, so
/// that two batches' waits never cross), and the days' totals rows are each append's last lock,
/// held only until commit.
fn append(
    tx: &mut Transaction<'_>,
    prepared: &mut Prepared,
    tenant: &str,
    basis: i64,
    events: &[NewEvent],
    bound: Bound,
    route: &mut Route,
) -> Result<Option<AppendOutcome>, postgres::Error> {
    let mut db = Db { tx, prepared };
    let mut locked = match bound {
        Bound::Checked => {
            let mut days: Vec<i32> = events.iter().map(|e| e.day.julian()).collect();
            days.sort_unstable();
            days.dedup();
            Some(lock_days(&mut db, tenant, &days)?)
        }
        Bound::Late => None,
    };
    // The ids: the unique key alone makes them exactly once (a concurrent insert of the same id
    // waits for the other transaction's end). In ascending order, so that two such waits never
    // cross.
    let mut ids: Vec<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    // New ids, as nearly all are, go in by COPY; a batch with any id taken (a retried batch, or
    // the same ids racing on another server) is told which of its ids are new by an upsert.
    let rows: Vec<Vec<&(dyn ToSql + Sync)>> = ids.iter().map(|id| vec![&tenant as _, id as _]).collect();
    let copied = copy_unless_taken(
        db.tx,
        "COPY seen_events (tenant, event_id) FROM STDIN BINARY",
        &[Type::TEXT, Type::TEXT],
        &rows,
    )?;
    // `None`: every id is new.
    let inserted: Option<HashSet<String>> = if copied {
        None
    } else {
        Some(
            db.query(
                "INSERT INTO seen_events (tenant, event_id) SELECT $1, id FROM unnest($2::text[]) AS id \
                 ON CONFLICT DO NOTHING RETURNING event_id",
                &[&tenant, &ids],
            )?
            .into_iter()
            .map(|r| r.get(0))
            .collect(),
        )
    };
    // A batch judged under another directory than the kept department sums': they are stale, and
    // the next query rebuilds them.
    db.execute("DELETE FROM dept_basis WHERE tenant = $1 AND basis <> $2", &[&tenant, &basis])?;

    let mut out = AppendOutcome::default();
    let mut claimed: HashSet<&str> = HashSet::new();
    let mut refused_ids: Vec<&str> = Vec::new();
    let mut folded: BTreeMap<(i32, &str), DayTotals> = BTreeMap::new();
    let mut moved: BTreeMap<i32, DayMove> = BTreeMap::new();
    let mut running: Option<BTreeMap<i32, DayCounters>> =
        locked.as_ref().map(|l| l.iter().map(|(d, l)| (*d, l.totals)).collect());
    for (i, e) in events.iter().enumerate() {
        if inserted.as_ref().is_some_and(|new| !new.contains(&e.event_id))
            || !claimed.insert(e.event_id.as_str())
        {
            out.duplicates += 1;
            continue;
        }
        let day = e.day.julian();
        if let Some(running) = &mut running {
            if let Err(counter) = running.entry(day).or_default().checked_fold(&e.totals.c, DAY_SUM_MAX) {
                refused_ids.push(&e.event_id);
                out.refused.push((i, Rejection::DayTotalExceeded { counter, day: e.day }));
                continue;
            }
        }
        let (sums, restated) = moved.entry(day).or_default();
        sums.fold(&e.totals.c);
        if let (Some(at), Some(_)) = (e.restates_at_ms, &e.row) {
            *restated = Some(restated.map_or(at, |r: i64| r.max(at)));
        }
        out.accepted += 1;
        folded.entry((day, e.open_id.as_str())).or_default().merge(&e.totals);
    }
    if !refused_ids.is_empty() {
        // A refused event's id is not kept: a corrected event may use it.
        db.execute(
            "DELETE FROM seen_events WHERE tenant = $1 AND event_id = ANY($2)",
            &[&tenant, &refused_ids],
        )?;
    }
    if folded.is_empty() {
        return Ok(Some(out));
    }

    // The batch's user-days, ascending. All go in by COPY (each a new row, as they are where the
    // events of a day come in once per user), unless this tenant's last copies met rows already
    // there: then, or when this one does (it is undone), they go through binary COPY into the
    // session's staging table and are folded into their rows by one upsert, each counter as
    // `DayCounters` folds it and the OS pairs as a sorted union; the upsert says which rows it
    // created.
    let mut types = vec![Type::TEXT, Type::INT4, Type::TEXT];
    types.extend(std::iter::repeat_n(Type::INT8, DayCounters::LEN));
    types.push(Type::TEXT_ARRAY);
    let keys: Vec<(i32, &str)> = folded.keys().copied().collect();
    // Each user-day's values, and its cells borrowing them.
    let values: Vec<_> = folded.values().map(|t| t.c.values()).collect();
    let pairs: Vec<Vec<&str>> =
        folded.values().map(|t| t.os_pairs.iter().map(String::as_str).collect()).collect();
    fn row<'a>(
        tenant: &'a &'a str,
        (day, open_id): &'a (i32, &'a str),
        values: &'a [i64],
        pairs: &'a (dyn ToSql + Sync),
    ) -> Vec<&'a (dyn ToSql + Sync)> {
        let mut cells: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(values.len() + 4);
        cells.extend([tenant as &(dyn ToSql + Sync), day, open_id]);
        cells.extend(values.iter().map(|v| v as &(dyn ToSql + Sync)));
        cells.push(pairs);
        cells
    }
    let rows: Vec<_> =
        keys.iter().enumerate().map(|(at, k)| row(&tenant, k, &values[at], &pairs[at])).collect();
    let columns = format!("(tenant, day, open_id, {}, os_pairs) FROM STDIN BINARY", day_columns());
    if route.copy {
        route.copied = copy_unless_taken(db.tx, &format!("COPY user_day {columns}"), &types, &rows)?;
    }
    // The user-days this batch created.
    let mut created: Vec<(i32, &str)> = Vec::new();
    if route.copied {
        created = keys;
    } else {
        binary::copy_in(db.tx, &format!("COPY staged_user_day {columns}"), &types, &rows)?;
        for r in db.query(&user_day_upsert(), &[])? {
            if r.get::<_, bool>(2) {
                let (day, open_id): (i32, &str) = (r.get(0), r.get(1));
                if let Ok(n) = keys.binary_search(&(day, open_id)) {
                    created.push(keys[n]);
                }
            }
        }
    }
    // Their active-day bits are set later, many batches' at once (`fold_active`).
    if !created.is_empty() {
        let min_day = created.iter().map(|k| k.0).min();
        let days: Vec<i32> = created.iter().map(|k| k.0).collect();
        let open_ids: Vec<&str> = created.iter().map(|k| k.1).collect();
        db.execute(
            "INSERT INTO active_pending (tenant, min_day, open_ids, days) VALUES ($1, $2, $3, $4)",
            &[&tenant, &min_day, &open_ids, &days],
        )?;
        route.pending = true;
    }

    // Last, the days' totals, locked until commit.
    let locked = match locked.take() {
        Some(l) => l,
        None => lock_days(&mut db, tenant, &moved.keys().copied().collect::<Vec<_>>())?,
    };
    let mut days = Vec::with_capacity(moved.len());
    let mut totals = Vec::with_capacity(moved.len());
    let mut revision = Vec::with_capacity(moved.len());
    let mut changed_at = Vec::with_capacity(moved.len());
    // 0: not restated by this commit (the stored number stays).
    let mut change_seq = Vec::with_capacity(moved.len());
    let restating = moved.values().any(|m| m.1.is_some());
    let mut seq: i64 = 0;
    if restating {
        // Restatements are numbered in commit order, one tenant's at a time on every server.
        db.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", &[&tenant])?;
        seq = db
            .query_one(
                "SELECT coalesce(max(change_seq), 0)::bigint FROM tenant_day WHERE tenant = $1",
                &[&tenant],
            )?
            .get(0);
        // Delivered at commit to every server listening (their long polls wake).
        db.execute("SELECT pg_notify($1, $2)", &[&RESTATED_CHANNEL, &tenant])?;
    }
    for (day, (sums, restated)) in &moved {
        let Some(found) = locked.get(day) else { continue };
        let mut total = found.totals;
        if total.checked_fold(sums, DAY_SUM_MAX).is_err() {
            debug_assert_eq!(bound, Bound::Late, "a checked append folds only what fits");
            return Ok(None);
        }
        days.push(*day);
        totals.push(total.values());
        match restated {
            Some(ms) => {
                seq += 1;
                revision.push(found.revision + 1);
                changed_at.push(found.changed_at.max(*ms));
                change_seq.push(seq);
            }
            None => {
                revision.push(found.revision);
                changed_at.push(found.changed_at);
                change_seq.push(0);
            }
        }
    }
    let cols_of = columns_of(totals.into_iter());
    let n = DayCounters::LEN;
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&tenant, &days];
    params.extend(cols_of.iter().map(|c| c as &(dyn ToSql + Sync)));
    params.push(&revision);
    params.push(&changed_at);
    params.push(&change_seq);
    let set =
        DayCounters::COUNTERS.iter().map(|c| format!("{0} = k.{0}", c.name)).collect::<Vec<_>>().join(", ");
    db.execute(
        &format!(
            "UPDATE tenant_day t SET {set}, revision = k.revision, changed_at = k.changed_at, \
             change_seq = CASE WHEN k.change_seq > 0 THEN k.change_seq ELSE t.change_seq END, dept_dirty = true \
             FROM unnest($2::integer[], {arrays}) AS k(day, {cols}, revision, changed_at, change_seq) \
             WHERE t.tenant = $1 AND t.day = k.day",
            arrays = array_params(3, n + 3),
            cols = day_columns(),
        ),
        &params,
    )?;
    Ok(Some(out))
}

/// ORs `bits` (ascending by key, each key once) into the tenant's active-day bits
/// (`user_active`), each `(open_id, block)`'s row, in key order (so that two folds' row locks
/// never wait on each other in a cycle); a bit already set is left alone.
fn set_active_bits(
    db: &mut Db<'_, '_>,
    tenant: &str,
    bits: &[((&str, i32), i64)],
) -> Result<(), postgres::Error> {
    for chunk in bits.chunks(10_000) {
        let o: Vec<&str> = chunk.iter().map(|k| k.0 .0).collect();
        let b: Vec<i32> = chunk.iter().map(|k| k.0 .1).collect();
        let values: Vec<i64> = chunk.iter().map(|k| k.1).collect();
        db.execute(
            "INSERT INTO user_active (tenant, open_id, block, bits) \
             SELECT $1, o, b, bits FROM unnest($2::text[], $3::integer[], $4::bigint[]) AS k(o, b, bits) \
             ON CONFLICT (tenant, open_id, block) DO UPDATE SET bits = user_active.bits | excluded.bits \
             WHERE user_active.bits | excluded.bits <> user_active.bits",
            &[&tenant, &o, &b, &values],
        )?;
    }
    Ok(())
}

/// `rows` into a table by binary COPY (`copy`, of `types`), inside a savepoint: `false`, with none
/// of them kept, when a row's key is taken (a unique violation; a concurrent insert of the same
/// key is waited for first), so that the caller can upsert instead.
/// COPY inserts a page of rows at a time and checks each key once, where an upsert's speculative
/// insertion probes each key twice and writes a record more per row.
fn copy_unless_taken(
    tx: &mut Transaction<'_>,
    copy: &str,
    types: &[Type],
    rows: &[Vec<&(dyn ToSql + Sync)>],
) -> Result<bool, postgres::Error> {
    let mut sp = tx.savepoint("copy_unless_taken")?;
    match binary::copy_in(&mut sp, copy, types, rows) {
        Ok(_) => sp.commit().map(|()| true),
        Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => sp.rollback().map(|()| false),
        Err(e) => Err(e),
    }
}

/// Locks the tenant's `days` (ascending) in `tenant_day`, creating the rows of new days, and
/// reads them.
fn lock_days(
    db: &mut Db<'_, '_>,
    tenant: &str,
    days: &[i32],
) -> Result<BTreeMap<i32, LockedDay>, postgres::Error> {
    let select = format!(
        "SELECT day, revision, changed_at, {} FROM tenant_day WHERE tenant = $1 AND day = ANY($2) \
         ORDER BY day FOR UPDATE",
        day_columns()
    );
    let read = |rows: Vec<postgres::Row>| {
        rows.iter()
            .map(|r| {
                (r.get(0), LockedDay { revision: r.get(1), changed_at: r.get(2), totals: day_counters(r, 3) })
            })
            .collect::<BTreeMap<i32, LockedDay>>()
    };
    let mut locked = read(db.query(&select, &[&tenant, &days])?);
    // Days seen for the first time (rare: a tenant's first batch of a day) get their rows; the
    // rows may appear meanwhile, and the locks are still taken in ascending order, the new days'
    // after the others' (the same for every batch).
    let new: Vec<i32> = days.iter().copied().filter(|d| !locked.contains_key(d)).collect();
    if !new.is_empty() {
        let zeros = vec!["0"; DayCounters::LEN].join(", ");
        db.execute(
            &format!(
                "INSERT INTO tenant_day (tenant, day, {}) SELECT $1, d, {zeros} FROM unnest($2::integer[]) AS d \
                 ON CONFLICT (tenant, day) DO NOTHING",
                day_columns()
            ),
            &[&tenant, &new],
        )?;
        locked.extend(read(db.query(&select, &[&tenant, &new])?));
    }
    Ok(locked)
}

/// The upsert of the staged user-days into `user_day`: each counter folded as [`DayCounters`]
/// declares, the OS pairs as a sorted union. Returns each row's key, and whether the upsert
/// created it: a row it inserted has no `xmax`; a row it updated carries the upsert's row lock
/// there.
fn user_day_upsert() -> String {
    let cols = day_columns();
    let fold = DayCounters::COUNTERS
        .iter()
        .map(|c| match c.fold {
            Fold::Sum => format!("{0} = user_day.{0} + excluded.{0}", c.name),
            Fold::BitOr => format!("{0} = user_day.{0} | excluded.{0}", c.name),
            Fold::Max => format!("{0} = greatest(user_day.{0}, excluded.{0})", c.name),
        })
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "INSERT INTO user_day (tenant, day, open_id, {cols}, os_pairs) \
         SELECT tenant, day, open_id, {cols}, os_pairs FROM staged_user_day \
         ON CONFLICT (tenant, day, open_id) DO UPDATE SET {fold}, \
         os_pairs = CASE WHEN excluded.os_pairs <@ user_day.os_pairs THEN user_day.os_pairs \
         ELSE ARRAY(SELECT p FROM unnest(user_day.os_pairs || excluded.os_pairs) AS p \
         GROUP BY p ORDER BY p COLLATE \"C\") END \
         RETURNING day, open_id, xmax = 0"
    )
}

/// Folds department sums into `dept_day` (adding), in key order.
fn write_dept_sums(
    db: &mut Db<'_, '_>,
    tenant: &str,
    sums: &HashMap<DeptKey, DeptCounts>,
) -> Result<(), postgres::Error> {
    if sums.is_empty() {
        return Ok(());
    }
    let mut sorted: Vec<(&DeptKey, &DeptCounts)> = sums.iter().collect();
    sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let days: Vec<i32> = sorted.iter().map(|(k, _)| k.0).collect();
    let depts: Vec<&str> = sorted.iter().map(|(k, _)| k.1.as_str()).collect();
    let subtrees: Vec<bool> = sorted.iter().map(|(k, _)| k.2).collect();
    let versions: Vec<i16> = sorted.iter().map(|(k, _)| i16::from(k.3)).collect();
    let cols_of = columns_of(sorted.iter().map(|(_, c)| c.values()));
    let n = DeptCounts::LEN;
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&tenant, &days, &depts, &subtrees, &versions];
    params.extend(cols_of.iter().map(|c| c as &(dyn ToSql + Sync)));
    let cols = dept_columns();
    let add = DeptCounts::COUNTERS
        .iter()
        .map(|c| format!("{0} = dept_day.{0} + excluded.{0}", c.name))
        .collect::<Vec<_>>()
        .join(", ");
    db.execute(
        &format!(
            "INSERT INTO dept_day (tenant, day, dept, subtree, version, {cols}) \
             SELECT $1, k.* FROM unnest($2::integer[], $3::text[], $4::boolean[], $5::smallint[], {arrays}) AS k \
             ON CONFLICT (tenant, day, dept, subtree, version) DO UPDATE SET {add}",
            arrays = array_params(6, n),
        ),
        &params,
    )?;
    Ok(())
}

/// Recomputes the department sums of the tenant's days marked within `marked` (every day, marked
/// or not, when `None`) from their user rows, and clears their marks. The days are locked
/// (ascending) against appends until commit: an append that committed before is in the rows read,
/// one that commits after marks its day again.
fn recompute_dept_days(
    tx: &mut Transaction<'_>,
    prepared: &mut Prepared,
    tenant: &str,
    resolve: &RowResolver,
    marked: Option<(Day, Day)>,
) -> Result<u64, postgres::Error> {
    let days: Vec<i32> = match marked {
        None => {
            tx.query("SELECT day FROM tenant_day WHERE tenant = $1 ORDER BY day FOR UPDATE", &[&tenant])?
        }
        Some((first, last)) => tx.query(
            "SELECT day FROM tenant_day WHERE tenant = $1 AND dept_dirty AND day BETWEEN $2 AND $3 \
             ORDER BY day FOR UPDATE",
            &[&tenant, &first.julian(), &last.julian()],
        )?,
    }
    .iter()
    .map(|r| r.get(0))
    .collect();
    if marked.is_some() && days.is_empty() {
        return Ok(0);
    }
    // Every day: the tenant's whole history (its days without a `tenant_day` row have no rows).
    let which = if marked.is_none() { "" } else { " AND day = ANY($2)" };
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&tenant];
    if marked.is_some() {
        params.push(&days);
    }
    tx.execute(&format!("DELETE FROM dept_day WHERE tenant = $1{which}"), &params)?;
    let mut sums: HashMap<DeptKey, DeptCounts> = HashMap::new();
    let mut rows = 0u64;
    let st = format!("SELECT day, open_id, {} FROM user_day WHERE tenant = $1{which}", day_columns());
    // Streamed: a tenant's whole history need not fit in memory.
    let mut it = tx.query_raw(&st, params.iter().copied())?;
    while let Some(r) = it.next()? {
        let day: i32 = r.get(0);
        let open_id: &str = r.get(1);
        let Some(row) = resolve(open_id, Day::from_julian(day)) else { continue };
        rows += 1;
        let c = day_counters(&r, 2);
        for (version, d) in DeptCounts::delta(row.facts, None, &c) {
            for g in row.groups.iter() {
                sums.entry((day, g.dept.to_string(), g.subtree, version)).or_default().fold(&d);
            }
        }
    }
    drop(it);
    write_dept_sums(&mut Db { tx: &mut *tx, prepared: &mut *prepared }, tenant, &sums)?;
    tx.execute(
        "UPDATE tenant_day SET dept_dirty = false WHERE tenant = $1 AND day = ANY($2) AND dept_dirty",
        &[&tenant, &days],
    )?;
    Ok(rows)
}
