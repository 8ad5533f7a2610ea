//! `adminstats store copy`: an embedded store (a stopped server's data directory) into an empty
//! PostgreSQL store, then verified.
//!
//! Everything that lets clients carry on unchanged moves: every counted event id (retries stay
//! duplicates), every user-day with its os pairs, each tenant's day totals and revisions, the
//! department sums and their basis, the tokens and the page-token key (page tokens resume). Each
//! table goes over by binary COPY, in one transaction: the target is whole or untouched. The
//! verification then compares, per tenant and day, the number of user rows and the sum of every
//! counter on both sides, and the number of event ids and tokens.

use std::fmt;
use std::io::Write as _;
use std::path::Path;

use adminstats_core::metrics::{DayCounters, DeptCounts};
use adminstats_store::{SqliteStore, Store, StoreError};
use postgres::types::{ToSql, Type};
use rusqlite::OpenFlags;

use crate::binary::CopyData;
use crate::{day_columns, dept_columns, pg_error, PostgresStore};

/// Why a copy did not happen or did not verify.
#[derive(Debug)]
pub enum CopyError {
    /// The request cannot be carried out as asked (exit code 2): no store in DIR, DIR held by a
    /// running server, a target that is not empty.
    Refused(String),
    /// A store failed.
    Store(StoreError),
    /// The copy does not match its source (nothing was committed).
    Mismatch(String),
}

impl fmt::Display for CopyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CopyError::Refused(why) => f.write_str(why),
            CopyError::Store(e) => write!(f, "{e}"),
            CopyError::Mismatch(why) => {
                write!(f, "the copy does not match its source, nothing was kept: {why}")
            }
        }
    }
}

impl std::error::Error for CopyError {}

impl From<StoreError> for CopyError {
    fn from(e: StoreError) -> Self {
        CopyError::Store(e)
    }
}

impl From<rusqlite::Error> for CopyError {
    fn from(e: rusqlite::Error) -> Self {
        CopyError::Store(StoreError::Db(e))
    }
}

impl From<postgres::Error> for CopyError {
    fn from(e: postgres::Error) -> Self {
        CopyError::Store(pg_error(&e))
    }
}

/// What a copy moved.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CopyReport {
    pub tenants: u64,
    pub event_ids: u64,
    pub user_days: u64,
    pub tenant_days: u64,
    pub dept_days: u64,
    pub tokens: u64,
}

/// One table copied: its name, its columns and their PostgreSQL types, and how its rows are
/// read from SQLite (tenant ids become keys).
struct Source {
    table: &'static str,
    columns: String,
    types: Vec<Type>,
    select: String,
}

/// The tables copied, in order.
fn sources() -> Vec<Source> {
    let (day, dept) = (day_columns(), dept_columns());
    let ints = |n: usize| std::iter::repeat_n(Type::INT8, n);
    let with = |key: &[Type], n: usize| key.iter().cloned().chain(ints(n)).collect::<Vec<_>>();
    let days = prefixed("d", DayCounters::COUNTERS.iter().map(|c| c.name));
    let source = |table, columns: String, types, select: String| Source { table, columns, types, select };
    vec![
        source(
            "seen_events",
            "tenant, event_id".into(),
            vec![Type::TEXT, Type::TEXT],
            "SELECT t.tenant_key, s.event_id FROM seen_events s JOIN tenants t ON t.id = s.tenant".into(),
        ),
        source(
            "user_day",
            format!("tenant, day, open_id, {day}, os_pairs"),
            with(&[Type::TEXT, Type::INT4, Type::TEXT], DayCounters::LEN)
                .into_iter()
                .chain([Type::TEXT_ARRAY])
                .collect(),
            // The row's pairs, from their table: joined by the record separator (no pair has one).
            format!(
                "SELECT t.tenant_key, u.day, u.open_id, {}, (SELECT group_concat(o.pair, char(30)) \
                 FROM user_day_os o WHERE o.tenant = u.tenant AND o.day = u.day AND o.open_id = u.open_id) \
                 FROM user_day u JOIN tenants t ON t.id = u.tenant",
                prefixed("u", DayCounters::COUNTERS.iter().map(|c| c.name))
            ),
        ),
        source(
            "tenant_day",
            format!("tenant, day, {day}, revision, changed_at, change_seq"),
            with(&[Type::TEXT, Type::INT4], DayCounters::LEN + 3),
            format!(
                "SELECT t.tenant_key, d.day, {days}, d.revision, d.changed_at, d.change_seq \
                 FROM tenant_day d JOIN tenants t ON t.id = d.tenant"
            ),
        ),
        source(
            "dept_day",
            format!("tenant, day, dept, subtree, version, {dept}"),
            with(&[Type::TEXT, Type::INT4, Type::TEXT, Type::BOOL, Type::INT2], DeptCounts::LEN),
            format!(
                "SELECT t.tenant_key, d.day, d.dept, d.subtree, d.version, {} FROM dept_day d JOIN tenants t ON t.id = d.tenant",
                prefixed("d", DeptCounts::COUNTERS.iter().map(|c| c.name))
            ),
        ),
        source(
            "dept_basis",
            "tenant, basis".into(),
            vec![Type::TEXT, Type::INT8],
            "SELECT t.tenant_key, b.basis FROM dept_basis b JOIN tenants t ON t.id = b.tenant".into(),
        ),
        source(
            "tokens",
            "token, app_id, issued_at, expires_at".into(),
            vec![Type::TEXT, Type::TEXT, Type::INT8, Type::INT8],
            "SELECT token, app_id, issued_at, expires_at FROM tokens".into(),
        ),
    ]
}

fn prefixed<'a>(alias: &str, names: impl Iterator<Item = &'a str>) -> String {
    names.map(|n| format!("{alias}.{n}")).collect::<Vec<_>>().join(", ")
}

/// One SQLite value as the PostgreSQL column's type wants it.
fn cell(row: &rusqlite::Row<'_>, i: usize, ty: &Type) -> rusqlite::Result<Box<dyn ToSql + Sync>> {
    Ok(match *ty {
        Type::TEXT => Box::new(row.get::<_, String>(i)?),
        Type::INT4 => Box::new(row.get::<_, i32>(i)?),
        Type::INT2 => Box::new(row.get::<_, i16>(i)?),
        Type::BOOL => Box::new(row.get::<_, i64>(i)? != 0),
        Type::TEXT_ARRAY => {
            let joined: Option<String> = row.get(i)?;
            let mut pairs: Vec<String> =
                joined.map(|j| j.split('\u{1e}').map(str::to_owned).collect()).unwrap_or_default();
            pairs.sort_unstable();
            Box::new(pairs)
        }
        _ => Box::new(row.get::<_, i64>(i)?),
    })
}

/// Copies the embedded store in `dir` into the empty PostgreSQL store at `url`, verifies it, and
/// commits. `progress(done, total)` is called as rows go over.
///
/// # Errors
/// [`CopyError::Refused`] for no store in `dir`, a `dir` held by a running server, or a target
/// that is not empty; [`CopyError::Mismatch`] when the verification fails (nothing is kept);
/// [`CopyError::Store`] when a database fails.
pub fn copy_from_sqlite(dir: &Path, url: &str, progress: &dyn Fn(u64, u64)) -> Result<CopyReport, CopyError> {
    let db = dir.join("adminstats.db");
    if !db.is_file() {
        return Err(CopyError::Refused(format!("--from {}: no adminstats store there", dir.display())));
    }
    // Held for the whole copy: no server may start on it meanwhile. Opening also brings an older
    // store up to the current schema.
    let embedded = match SqliteStore::open(dir) {
        Ok(s) => s,
        Err(StoreError::InUse(_)) => {
            return Err(CopyError::Refused(format!(
                "--from {}: held by a running adminstats server; stop it first",
                dir.display()
            )))
        }
        Err(e) => return Err(e.into()),
    };
    // Department sums held back by the embedded writer are written before reading.
    let _ = embedded.dept_basis("");
    let src = rusqlite::Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let target = PostgresStore::connect(url)?;
    let shown = target.url().to_owned();
    let result = target.with_client(|client| -> Result<Result<CopyReport, CopyError>, StoreError> {
        Ok((|| -> Result<CopyReport, CopyError> {
            let mut tx = client.transaction()?;
            tx.execute("LOCK TABLE seen_events, user_day, tokens, meta IN EXCLUSIVE MODE", &[])?;
            let busy: bool = tx
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM seen_events) OR EXISTS (SELECT 1 FROM user_day) \
                     OR EXISTS (SELECT 1 FROM tokens) OR EXISTS (SELECT 1 FROM meta)",
                    &[],
                )?
                .get(0);
            if busy {
                return Err(CopyError::Refused(format!(
                    "--to {shown}: not an empty adminstats store; copy into a new database"
                )));
            }
            let total: u64 = sources()
                .iter()
                .map(|Source { table, .. }| {
                    src.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get::<_, i64>(0))
                        .map(|n| n as u64)
                })
                .sum::<Result<u64, _>>()?;
            let mut done = 0u64;
            progress(0, total);
            let mut report = CopyReport::default();
            for Source { table, columns, types, select } in sources() {
                let mut sink = tx.copy_in(&format!("COPY {table} ({columns}) FROM STDIN BINARY"))?;
                let sent = |e: std::io::Error| {
                    CopyError::Store(StoreError::Unavailable(format!("sending the rows of {table}: {e}")))
                };
                let mut data = CopyData::new();
                let mut st = src.prepare(&select)?;
                let mut rows = st.query([])?;
                let mut n = 0u64;
                while let Some(r) = rows.next()? {
                    let cells: Vec<Box<dyn ToSql + Sync>> =
                        types.iter().enumerate().map(|(i, t)| cell(r, i, t)).collect::<Result<_, _>>()?;
                    let refs: Vec<&(dyn ToSql + Sync)> = cells.iter().map(|b| &**b).collect();
                    data.row(&types, &refs).map_err(|e| {
                        CopyError::Store(StoreError::Backend(format!(
                            "a row of {table} does not encode: {e}"
                        )))
                    })?;
                    n += 1;
                    if n.is_multiple_of(10_000) {
                        sink.write_all(&data.split()).map_err(sent)?;
                        progress(done + n, total);
                    }
                }
                sink.write_all(&data.finish()).map_err(sent)?;
                sink.finish()?;
                done += n;
                progress(done, total);
                match table {
                    "seen_events" => report.event_ids = n,
                    "user_day" => report.user_days = n,
                    "tenant_day" => report.tenant_days = n,
                    "dept_day" => report.dept_days = n,
                    "tokens" => report.tokens = n,
                    _ => {}
                }
            }
            // Days written before the embedded store kept day totals (schema 4) get them now.
            tx.execute(
                &format!(
                    "INSERT INTO tenant_day (tenant, day, {day}) \
                     SELECT tenant, day, {folds} FROM user_day GROUP BY tenant, day \
                     ON CONFLICT (tenant, day) DO NOTHING",
                    day = day_columns(),
                    folds = DayCounters::COUNTERS
                        .iter()
                        .map(|c| match c.fold {
                            adminstats_core::metrics::Fold::Sum => format!("sum({})::bigint", c.name),
                            adminstats_core::metrics::Fold::BitOr => format!("bit_or({})", c.name),
                            adminstats_core::metrics::Fold::Max => format!("max({})", c.name),
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                &[],
            )?;
            // Each user's active days, from the rows.
            tx.execute(
                "INSERT INTO user_active (tenant, open_id, block, bits) \
                 SELECT tenant, open_id, day / 64, bit_or(1::bigint << (day % 64)) FROM user_day \
                 GROUP BY tenant, open_id, day / 64",
                &[],
            )?;
            let key: Option<Vec<u8>> = src
                .query_row("SELECT value FROM meta WHERE key = 'page_token_key'", [], |r| r.get(0))
                .map(Some)
                .or_else(|e| match e {
                    rusqlite::Error::QueryReturnedNoRows => Ok(None),
                    e => Err(e),
                })?;
            if let Some(key) = key {
                tx.execute("INSERT INTO meta (key, value) VALUES ('page_token_key', $1)", &[&key])?;
            }
            report.tenants =
                src.query_row("SELECT count(*) FROM tenants", [], |r| r.get::<_, i64>(0))? as u64;
            verify(&src, &mut tx)?;
            tx.commit()?;
            Ok(report)
        })())
    })?;
    embedded.close()?;
    result
}

/// Per tenant and day, the user rows and the sum of every counter; and the ids and tokens.
fn verify(src: &rusqlite::Connection, tx: &mut postgres::Transaction<'_>) -> Result<(), CopyError> {
    let sums =
        DayCounters::COUNTERS.iter().map(|c| format!("sum({})", c.name)).collect::<Vec<_>>().join(", ");
    let mut want: Vec<(String, i32, Vec<i64>)> = Vec::new();
    let mut st = src.prepare(&format!(
        "SELECT t.tenant_key, u.day, count(*), {sums} FROM user_day u JOIN tenants t ON t.id = u.tenant \
         GROUP BY t.tenant_key, u.day ORDER BY t.tenant_key, u.day"
    ))?;
    let mut rows = st.query([])?;
    while let Some(r) = rows.next()? {
        let v: Vec<i64> = (2..3 + DayCounters::LEN).map(|i| r.get(i)).collect::<Result<_, _>>()?;
        want.push((r.get(0)?, r.get(1)?, v));
    }
    let casts = DayCounters::COUNTERS
        .iter()
        .map(|c| format!("sum({})::bigint", c.name))
        .collect::<Vec<_>>()
        .join(", ");
    let got: Vec<(String, i32, Vec<i64>)> = tx
        .query(
            &format!(
                "SELECT tenant, day, count(*), {casts} FROM user_day GROUP BY tenant, day ORDER BY tenant COLLATE \"C\", day"
            ),
            &[],
        )?
        .iter()
        .map(|r| (r.get(0), r.get(1), (2..3 + DayCounters::LEN).map(|i| r.get(i)).collect()))
        .collect();
    if got.len() != want.len() {
        return Err(CopyError::Mismatch(format!(
            "{} tenant-days in the source, {} copied",
            want.len(),
            got.len()
        )));
    }
    for (w, g) in want.iter().zip(&got) {
        if w != g {
            return Err(CopyError::Mismatch(format!("tenant {} day {}: rows or sums differ", w.0, w.1)));
        }
    }
    for (table, what) in [("seen_events", "event ids"), ("tokens", "tokens"), ("dept_day", "department sums")]
    {
        let a: i64 = src.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?;
        let b: i64 = tx.query_one(&format!("SELECT count(*) FROM {table}"), &[])?.get(0);
        if a != b {
            return Err(CopyError::Mismatch(format!("{a} {what} in the source, {b} copied")));
        }
    }
    let a: i64 = src.query_row("SELECT count(*) FROM user_day_os", [], |r| r.get(0))?;
    let b: i64 =
        tx.query_one("SELECT coalesce(sum(cardinality(os_pairs)), 0)::bigint FROM user_day", &[])?.get(0);
    if a != b {
        return Err(CopyError::Mismatch(format!("{a} os pairs in the source, {b} copied")));
    }
    Ok(())
}
