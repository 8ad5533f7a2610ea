//! Durable storage for adminstats: the [`Store`] trait, in domain verbs, and [`SqliteStore`]
//! (the PostgreSQL implementation is the `adminstats-store-postgres` crate).
//!
//! The trait is deliberately narrow so that a second backend (PostgreSQL) can stand beside SQLite:
//! append judged events exactly once, read folded user-days, keep tokens, keep the page-token key.
//! Every method is blocking; async callers use `spawn_blocking`.
//!
//! **Invariant:** [`Store::append_events`] returns only after the events are committed to disk
//! (`synchronous=FULL`), so an acknowledgement never precedes durability.

mod active_days;
mod sqlite;

use std::sync::Arc;

use adminstats_core::directory::DeptGroup;
use adminstats_core::metrics::{DeptCounts, RowFacts, Version};
use adminstats_core::{Day, DayTotals};

pub use sqlite::SqliteStore;

/// The errors of a store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The data directory holds a database written by a newer adminstats.
    #[error(
        "the database is at schema version {found}, newer than this binary's {supported}; upgrade adminstats"
    )]
    TooNew { found: i64, supported: i64 },
    /// Another process holds the data directory.
    #[error("{0} is in use by another adminstats process (one server per data directory)")]
    InUse(String),
    /// The store is shutting down and takes no more writes.
    #[error("the store is shutting down")]
    Closed,
    /// The transaction holding this write failed and was rolled back (the cause is logged).
    #[error("the write could not be committed")]
    CommitFailed,
    /// The stored page-token key is not 32 bytes: the `meta` table was edited or damaged. Page tokens
    /// cannot be verified with it, and a made-up key would silently invalidate every token issued.
    #[error(
        "the stored page-token key is {len} bytes, not 32; the database's meta table is damaged \
         (delete its page_token_key row to start over, which invalidates outstanding page tokens)"
    )]
    BadPageTokenKey { len: usize },
    /// The final WAL checkpoint at shutdown failed: everything committed is durable in the WAL and will
    /// be checkpointed when the store next opens, but the database file alone is not up to date.
    #[error("the checkpoint at shutdown failed: {0}")]
    CheckpointFailed(#[source] rusqlite::Error),
    /// The store cannot write now (the disk or file system is full, or refuses writes); nothing of
    /// the write was kept. Reads go on; the store retries by itself and writes again once it can.
    #[error("the store cannot write: {0}")]
    Unwritable(String),
    /// The writer thread panicked; writes it had not acknowledged were not committed.
    #[error("the store's writer thread panicked")]
    WriterPanicked,
    /// The database server cannot be reached (a shared database that is down, restarting or
    /// unreachable): nothing of the write was kept, and the store reconnects by itself.
    #[error("the database cannot be reached: {0}")]
    Unavailable(String),
    /// The shared database (PostgreSQL) failed otherwise.
    #[error("database error: {0}")]
    Backend(String),
    /// The database failed.
    #[error("database error: {0}")]
    Db(#[from] rusqlite::Error),
    /// The file system failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

impl StoreError {
    /// Whether this failure says the storage is full or refuses writes (as opposed to a bug or a
    /// damaged database): a caller should retry later, and nothing was written.
    pub fn is_storage_full(&self) -> bool {
        match self {
            StoreError::Unwritable(_) => true,
            StoreError::Db(rusqlite::Error::SqliteFailure(e, _)) => {
                matches!(e.code, rusqlite::ErrorCode::DiskFull | rusqlite::ErrorCode::ReadOnly)
            }
            StoreError::Io(e) => matches!(
                e.kind(),
                std::io::ErrorKind::StorageFull
                    | std::io::ErrorKind::QuotaExceeded
                    | std::io::ErrorKind::ReadOnlyFilesystem
            ),
            _ => false,
        }
    }
}

/// One judged event, ready to be folded into its user's day.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub event_id: String,
    pub open_id: String,
    pub day: Day,
    pub totals: DayTotals,
    /// What the department sums need to know of the user's row that day; `None` when the user has
    /// no row that day (the event is kept but counts in no department).
    pub row: Option<RowMeta>,
    /// When the day was already published as the event was judged: that instant (ms). Such an
    /// event, accepted and moving a row, restates its day: the day's revision moves
    /// ([`Store::day_revisions`]).
    pub restates_at_ms: Option<i64>,
}

/// How often a tenant's published day was restated ([`Store::day_revisions`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayRevision {
    pub day: Day,
    /// 0 at publication, +1 for every commit of late events that changed the day's rows.
    pub revision: i64,
    /// The instant (ms) of the latest such change.
    pub changed_at_ms: Option<i64>,
    /// The tenant's restatements are numbered 1, 2, … in commit order; this day's latest (0 when
    /// never restated).
    pub change_seq: i64,
}

/// A user's row on one day, as the department sums see it: the directory's facts and the sums
/// the row counts in (shared by every user of a department).
#[derive(Debug, Clone)]
pub struct RowMeta {
    pub facts: RowFacts,
    pub groups: Arc<[DeptGroup]>,
}

/// Tells the store, during a rebuild of the department sums, what the directory in force says of
/// a user (by `open_id`) on a day.
pub type RowResolver = Box<dyn Fn(&str, Day) -> Option<RowMeta> + Send>;

/// One stored department sum of one day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeptDay {
    pub day: Day,
    pub version: Version,
    pub sums: DeptCounts,
}

/// What [`Store::append_events`] did with a batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppendOutcome {
    /// Events seen for the first time, now counted and durable.
    pub accepted: u64,
    /// Events whose id the tenant already had (earlier, or earlier in this batch): not counted again.
    pub duplicates: u64,
    /// Events refused by what the store holds (their index in the batch, and why): folding them
    /// would take a tenant's day past [`adminstats_core::metrics::DAY_SUM_MAX`]. Their ids are not
    /// recorded, so a corrected event may reuse them.
    pub refused: Vec<(usize, adminstats_core::Rejection)>,
}

/// What the store knows of one user on one day.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserDayFacts {
    /// The day's folded events, if the user had any.
    pub totals: Option<DayTotals>,
    /// The latest event instant at or before the end of the day, on this day or any earlier one.
    pub last_active_ms: Option<i64>,
}

/// A tenant access token as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredToken {
    pub token: String,
    pub app_id: String,
    pub issued_at_ms: i64,
    pub expires_at_ms: i64,
}

/// Durable storage behind the service.
pub trait Store: Send + Sync + 'static {
    /// Folds a tenant's events into their days, each `event_id` at most once per tenant, ever, and
    /// keeps the tenant's department sums current when they are kept under `dept_basis` (the
    /// directory's [`adminstats_core::directory::Tenant::dept_basis`]): the embedded store moves
    /// them in the same transaction, PostgreSQL marks the batch's days for
    /// [`refresh_dept_days`](Self::refresh_dept_days) to recompute. Under any other basis the
    /// stored sums are marked stale instead.
    ///
    /// # Errors
    /// A database failure; then nothing of the batch was stored. [`StoreError::Unwritable`] when
    /// the storage is full.
    fn append_events(
        &self,
        tenant: &str,
        dept_basis: i64,
        events: Vec<NewEvent>,
    ) -> Result<AppendOutcome, StoreError>;

    /// Reads the facts of each `(day, open_id)` of a tenant, in the order asked: the day's folded
    /// numbers, and the latest event instant at or before the end of the day.
    ///
    /// # Errors
    /// A database failure.
    fn user_days(&self, tenant: &str, keys: &[(Day, &str)]) -> Result<Vec<UserDayFacts>, StoreError>;

    /// The basis under which the tenant's department sums are kept, if they are.
    ///
    /// # Errors
    /// A database failure.
    fn dept_basis(&self, tenant: &str) -> Result<Option<i64>, StoreError>;

    /// Recomputes the tenant's department sums from its user-days, with `resolve` saying what the
    /// directory of `basis` says of each user-day, and keeps them under `basis` from now on.
    /// Returns the number of user-days that count in a department.
    ///
    /// # Errors
    /// A database failure; then the old sums stay as they were.
    fn rebuild_dept_sums(&self, tenant: &str, basis: i64, resolve: RowResolver) -> Result<u64, StoreError>;

    /// Recomputes the department sums of the tenant's days within `[first, last]` that batches
    /// marked since ([`append_events`](Self::append_events)), from their user-days, with `resolve`
    /// saying what the directory of the kept basis says of each. Returns the number of user-days
    /// recomputed that count in a department. A store whose batches move the sums themselves (the
    /// embedded one) marks nothing, and this does nothing.
    ///
    /// # Errors
    /// A database failure; then the old sums stay as they were.
    fn refresh_dept_days(
        &self,
        tenant: &str,
        resolve: RowResolver,
        first: Day,
        last: Day,
    ) -> Result<u64, StoreError> {
        let _ = (tenant, resolve, first, last);
        Ok(0)
    }

    /// The stored sums of one department (its subtree, or its direct members) within
    /// `[first, last]`, ordered by day, then version; `None` when the tenant's sums are not kept
    /// under `basis`, or a day of the range is marked (read in the same snapshot as the sums).
    ///
    /// # Errors
    /// A database failure.
    fn dept_days(
        &self,
        tenant: &str,
        basis: i64,
        dept: &str,
        subtree: bool,
        first: Day,
        last: Day,
    ) -> Result<Option<Vec<DeptDay>>, StoreError>;

    /// [`dept_days`](Self::dept_days), answering for marked days too, with their sums as last
    /// recomputed: for a caller that has just brought the sums up to date
    /// ([`refresh_dept_days`](Self::refresh_dept_days)) and would otherwise chase the batches
    /// that keep marking a busy day. Each day's sums are then exact as of an instant after the
    /// caller began (its recompute, or a later one), which is all one request can be promised.
    /// `None` when the sums are not kept under `basis`.
    ///
    /// # Errors
    /// A database failure.
    fn dept_days_as_kept(
        &self,
        tenant: &str,
        basis: i64,
        dept: &str,
        subtree: bool,
        first: Day,
        last: Day,
    ) -> Result<Option<Vec<DeptDay>>, StoreError> {
        self.dept_days(tenant, basis, dept, subtree, first, last)
    }

    /// Records a newly issued token.
    ///
    /// # Errors
    /// A database failure.
    fn save_token(&self, token: &StoredToken) -> Result<(), StoreError>;

    /// Every token still valid at `now_ms`.
    ///
    /// # Errors
    /// A database failure.
    fn load_tokens(&self, now_ms: i64) -> Result<Vec<StoredToken>, StoreError>;

    /// The 32-byte key that authenticates page tokens: the stored one, or `fresh`, stored now, on
    /// first use. It is kept forever so that page tokens survive restarts.
    ///
    /// # Errors
    /// A database failure, or [`StoreError::BadPageTokenKey`] when the stored key is not 32 bytes.
    fn page_token_key(&self, fresh: [u8; 32]) -> Result<[u8; 32], StoreError>;

    /// Stops taking writes, waits for the writes already taken, and flushes the log into the
    /// database. Calling it again does nothing and returns `Ok`.
    ///
    /// # Errors
    /// [`StoreError::CheckpointFailed`] when the final flush failed (the data stays durable in the
    /// log), [`StoreError::WriterPanicked`] when the writer thread died.
    fn close(&self) -> Result<(), StoreError>;

    /// Why the store cannot write now, if it cannot (the last write found the storage full, and no
    /// write or retry has succeeded since); `None` when it can.
    fn unwritable(&self) -> Option<String>;

    /// The revision of each day of `first..=last` the tenant has one for (days never restated and
    /// days without events are absent: their revision is 0).
    ///
    /// # Errors
    /// A database failure.
    fn day_revisions(&self, tenant: &str, first: Day, last: Day) -> Result<Vec<DayRevision>, StoreError>;

    /// The days the tenant restated after restatement number `after_seq`, in the order of their
    /// latest restatement, and the tenant's latest restatement number (0 when none). Every
    /// restatement committed before the call has a number at most the one returned.
    ///
    /// # Errors
    /// A database failure.
    fn day_changes(&self, tenant: &str, after_seq: i64) -> Result<(Vec<DayRevision>, i64), StoreError>;

    /// The size of the stored statistics, in bytes (`/metrics`).
    ///
    /// # Errors
    /// A database failure.
    fn size_bytes(&self) -> Result<u64, StoreError>;

    /// What servers sharing this store share beyond the statistics (tokens issued by another
    /// server, the rate limits); `None` for a store only one server opens (the embedded one, whose
    /// server holds all of it in memory).
    fn shared(&self) -> Option<&dyn Shared> {
        None
    }
}

/// What many servers over one store share, beyond the statistics.
pub trait Shared: Send + Sync {
    /// A token another server issued (or this one, before a restart), if the store has it.
    ///
    /// # Errors
    /// A database failure.
    fn find_token(&self, token: &str) -> Result<Option<StoredToken>, StoreError>;

    /// The app's token that expires last, if it is still valid at `valid_at_ms` (whichever server
    /// issued it): a server reuses it rather than issue another.
    ///
    /// # Errors
    /// A database failure.
    fn newest_token(&self, app: &str, valid_at_ms: i64) -> Result<Option<StoredToken>, StoreError>;

    /// Counts one request of `app` (of `tenant`) to `api` in the wall-clock second `second` (Unix seconds),
    /// across every server, and returns how many that second now holds (this one included), with
    /// the tenant's latest restatement number (0 before any, whichever server committed it), read
    /// in the same statement: a page kept in memory is served while that has not moved since the
    /// page was read, and one round trip is cheaper than two.
    ///
    /// # Errors
    /// A database failure.
    fn count_request(&self, tenant: &str, app: &str, api: &str, second: i64) -> Result<Counted, StoreError>;

    /// Calls `notice` with what the servers announce, from a thread of the store's, for as long
    /// as the store lives: a tenant's restated days (committed by any server), a directory
    /// reloaded on any server, and [`Notice::Missed`] when some may have been missed (the database
    /// connection was lost and made again).
    ///
    /// # Errors
    /// The thread cannot be started.
    fn watch(&self, notice: Box<dyn Fn(Notice<'_>) + Send + Sync>) -> Result<(), StoreError>;

    /// Tells every server that the directory was reloaded here (they reload theirs).
    ///
    /// # Errors
    /// A database failure.
    fn announce_reload(&self) -> Result<(), StoreError>;
}

/// A request counted against its app's limit ([`Shared::count_request`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counted {
    /// Requests of the app to the API in that second, this one included.
    pub n: u32,
    /// The tenant's latest restatement number, read with the count.
    pub restatements: u64,
}

/// What one server announces to the others through a shared store ([`Shared::watch`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice<'a> {
    /// Some of this tenant's published days were restated (their long polls look again).
    Restated(&'a str),
    /// A server reloaded its directory file (every server reloads its own).
    DirectoryReloaded,
    /// The watch was interrupted: anything may have been missed.
    Missed,
}
