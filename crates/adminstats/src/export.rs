//! `adminstats export`: every row of any date range, from any server that speaks the API (ours,
//! Feishu's or Lark's), into CSV, JSONL or Parquet — resumable, incremental, and never a silently
//! partial file.
//!
//! How a run goes:
//! 1. The range is split into windows of at most 31 days, fetched concurrently by tasks sharing
//!    one [`Client`] (so one token and one rate limit).
//!    Each window is read from the bulk endpoint when the server has it, else page by page.
//! 2. Each window writes its rows, in the server's order (date, then user), to its own segment
//!    file beside the output (a hidden temporary name).
//!    Whenever a new date starts, the previous one is complete: the segment is flushed and the
//!    window's checkpoint (next date, byte offset, rows) is recorded, in the `--state` file when
//!    there is one.
//! 3. A failure in a window (a stream cut short, retries spent) truncates its segment back to
//!    the checkpoint and fetches again from that date.
//!    A re-run with the same `--state` does the same for every unfinished window, so its result
//!    equals an uninterrupted run's.
//! 4. When every window is complete the segments are joined, in order, under a temporary name,
//!    which is then renamed to the output (or copied to stdout).
//!    Parquet segments hold JSONL and are converted while joining.
//!
//! "Published", for `--since-last`: the state file keeps the last date for which a completed
//! run received rows.
//! A server publishes a day whole (api.md: day D at 09:30 on D+1), so the next `--since-last`
//! run starts the day after it.
//! Restatements of days already exported (late events) are not re-exported.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, IsTerminal, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use adminstats_client::{
    format_date, parse_date, split_windows, Client, DepartmentIdType, RetryPolicy, UserIdType, UserStatItem,
    UserStatsRequest, DEFAULT_RATE_LIMIT, MAX_PAGE_SIZE, MAX_WINDOW_DAYS,
};
use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::{Deserialize, Serialize};
use time::Date;

/// The environment variable read when `--app-secret` is not given.
const SECRET_ENV: &str = "ADMINSTATS_APP_SECRET";
/// Consecutive failures of one window, without progress, before the export gives up.
const MAX_WINDOW_FAILURES: u32 = 5;
/// The state file is rewritten at most this often (and always when a window completes).
const STATE_SAVE_INTERVAL: Duration = Duration::from_millis(250);
/// No run has more windows than this (a bound for cleaning up after an interrupted one).
const MAX_SEGMENTS: usize = 10_000;
/// Rows per Parquet row group: about 20 MB of column buffers.
const PARQUET_ROW_GROUP: usize = 32 * 1024;

/// The output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// A header of the API's field names, then one RFC 4180 record per row.
    Csv,
    /// One JSON object per row, exactly as on the wire.
    Jsonl,
    /// Typed columns: strings and int64.
    Parquet,
}

/// Where rows come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Source {
    /// The bulk endpoint when the server has it, else pages.
    Auto,
    /// The bulk endpoint only (adminstats servers).
    Bulk,
    /// Pages of `admin_user_stats` only, as Lark serves them.
    Pages,
}

/// Flags of `adminstats export` (cli.md).
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The server: https://open.feishu.cn, https://open.larksuite.com, or an adminstats URL.
    #[arg(long, value_name = "URL")]
    base_url: String,
    /// The custom app's id.
    #[arg(long, value_name = "ID")]
    app_id: String,
    /// The app's secret; without it, the environment variable ADMINSTATS_APP_SECRET.
    #[arg(long, value_name = "SECRET")]
    app_secret: Option<String>,
    /// The first date, YYYY-MM-DD. With --since-last, only needed on the first run.
    #[arg(long, value_name = "DATE")]
    start_date: Option<String>,
    /// The last date, inclusive, YYYY-MM-DD. With --since-last, defaults to today (UTC).
    #[arg(long, value_name = "DATE")]
    end_date: Option<String>,
    /// Only the users of this department's subtree.
    #[arg(long, value_name = "ID")]
    department_id: Option<String>,
    /// How --department-id is read: department_id or open_department_id (the server's default).
    #[arg(long, value_name = "TYPE")]
    department_id_type: Option<DepartmentIdType>,
    /// The id in the user_id column: open_id (the server's default), union_id or user_id.
    #[arg(long, value_name = "TYPE")]
    user_id_type: Option<UserIdType>,
    /// The output format.
    #[arg(long, value_enum, default_value_t = Format::Csv)]
    format: Format,
    /// The output file, or - for stdout. Written under a temporary name and renamed when complete.
    #[arg(long, short = 'o', value_name = "FILE", default_value = "-")]
    output: String,
    /// Records what is complete: an interrupted export re-run with it continues where it stopped.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// Only the days after the last day a previous run with this --state received rows for.
    #[arg(long, requires = "state")]
    since_last: bool,
    /// Windows of 31 days fetched at once.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    concurrency: u16,
    /// Requests per second, across all windows (0: no limit). The API allows 20.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_RATE_LIMIT)]
    rate_limit: f64,
    /// Where rows come from.
    #[arg(long, value_enum, default_value_t = Source::Auto)]
    source: Source,
    /// Attempts per request before a failure is final.
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=100))]
    max_attempts: u32,
}

/// Runs `adminstats export`.
///
/// # Errors
/// Anything that could not be fetched or written, with the reason on one line (exit code 1).
/// Usage errors are reported here and return exit code 2.
pub async fn run(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let (plan, mut book) = match Plan::new(args) {
        Ok(p) => p,
        Err(Usage(msg)) => {
            eprintln!("error: {msg}");
            return Ok(ExitCode::from(2));
        }
    };
    for (flag, path) in [("--output", plan.output.as_deref()), ("--state", plan.state_path.as_deref())] {
        let Some(path) = path else { continue };
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if !dir.is_dir() {
            anyhow::bail!("{flag} {}: the directory {} does not exist", path.display(), dir.display());
        }
    }
    let segments = segment_prefix(plan.output.as_deref(), plan.state_path.as_deref())
        .context("cannot create a temporary directory")?;
    let outcome = tokio::select! {
        result = export(&plan, &mut book, &segments, started) => result.map(|()| ExitCode::SUCCESS),
        signal = stop_signal() => {
            // The window tasks are aborted with the export future. Without a state file nothing
            // can resume, so the segments go; with one, they stay for the next run.
            if plan.state_path.is_none() {
                segments.remove_all(MAX_SEGMENTS);
                eprintln!("error: interrupted by {signal}");
            } else {
                eprintln!("error: interrupted by {signal}; re-run with the same --state to continue");
            }
            Ok(ExitCode::from(130))
        }
    };
    if let Some(dir) = &segments.temp_dir {
        // Ours alone, and nothing in it can be resumed without a state file.
        let _ = fs::remove_dir_all(dir);
    }
    outcome
}

/// Waits for SIGINT, SIGTERM or SIGHUP (a closed terminal); returns its name. Never returns
/// where the signals cannot be watched.
async fn stop_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let watch = |kind: SignalKind| signal(kind).ok();
    let (mut int, mut term, mut hup) =
        (watch(SignalKind::interrupt()), watch(SignalKind::terminate()), watch(SignalKind::hangup()));
    async fn recv(s: &mut Option<tokio::signal::unix::Signal>) {
        match s {
            Some(s) => {
                s.recv().await;
            }
            None => std::future::pending().await,
        }
    }
    tokio::select! {
        () = recv(&mut int) => "SIGINT",
        () = recv(&mut term) => "SIGTERM",
        () = recv(&mut hup) => "SIGHUP",
    }
}

/// Today's date in UTC, the default end of a `--since-last` run.
///
/// The export is a client: this is the calendar of the machine it runs on, not the service's
/// (`adminstats_core::Clock`), and the server leaves out whatever it has not published.
#[allow(clippy::disallowed_methods)]
fn today_utc() -> Date {
    time::OffsetDateTime::now_utc().date()
}

/// A usage error: a one-line message, exit code 2.
#[derive(Debug)]
struct Usage(String);

/// Everything the flags decide, checked before any IO but reading the state file.
#[derive(Debug)]
struct Plan {
    base_url: String,
    app_id: String,
    app_secret: String,
    request: UserStatsRequest,
    range: Option<(Date, Date)>,
    format: Format,
    output: Option<PathBuf>,
    output_name: String,
    state_path: Option<PathBuf>,
    concurrency: usize,
    rate_limit: f64,
    source: Source,
    max_attempts: u32,
}

impl Plan {
    fn new(args: ExportArgs) -> Result<(Plan, Book), Usage> {
        let app_secret = match args.app_secret.clone().or_else(|| std::env::var(SECRET_ENV).ok()) {
            Some(s) if !s.is_empty() => s,
            _ => {
                return Err(Usage(format!(
                    "--app-secret is required (or the environment variable {SECRET_ENV})"
                )))
            }
        };
        if !args.rate_limit.is_finite() || args.rate_limit < 0.0 {
            return Err(Usage(format!(
                "--rate-limit {}: must be a number of requests per second, 0 or more",
                args.rate_limit
            )));
        }
        let date = |flag: &str, v: &Option<String>| -> Result<Option<Date>, Usage> {
            v.as_deref()
                .map(|s| {
                    parse_date(s)
                        .map_err(|_| Usage(format!("{flag} {s:?}: not a date of the form YYYY-MM-DD")))
                })
                .transpose()
        };
        let start = date("--start-date", &args.start_date)?;
        let end = date("--end-date", &args.end_date)?;
        if let (Some(s), Some(e)) = (start, end) {
            if e < s {
                return Err(Usage(format!(
                    "--end-date {} is before --start-date {}",
                    format_date(e),
                    format_date(s)
                )));
            }
        }
        if !args.since_last {
            if start.is_none() {
                return Err(Usage("--start-date is required (without --since-last)".into()));
            }
            if end.is_none() {
                return Err(Usage("--end-date is required (without --since-last)".into()));
            }
        }
        if args.output.is_empty() {
            return Err(Usage("--output: give a file name, or - for stdout".into()));
        }
        let output = (args.output != "-").then(|| PathBuf::from(&args.output));
        if let Some(out) = &output {
            if out.is_dir() {
                return Err(Usage(format!("--output {}: is a directory", out.display())));
            }
        }
        let mut request = UserStatsRequest::new(Date::MIN, Date::MIN).page_size(MAX_PAGE_SIZE);
        if let Some(d) = &args.department_id {
            request = request.department_id(d.clone());
        }
        if let Some(t) = args.department_id_type {
            request = request.department_id_type(t);
        }
        if let Some(t) = args.user_id_type {
            request = request.user_id_type(t);
        }
        let identity = Identity {
            base_url: args.base_url.trim_end_matches('/').to_owned(),
            app_id: args.app_id.clone(),
            department_id: args.department_id.clone(),
            department_id_type: args.department_id_type.map(|t| t.as_str().to_owned()),
            user_id_type: args.user_id_type.map(|t| t.as_str().to_owned()),
        };
        let book = Book::load(args.state.clone(), identity)?;
        let range = if args.since_last {
            let after_last =
                book.state.last_date.as_deref().and_then(|d| parse_date(d).ok()).and_then(Date::next_day);
            let start =
                match (after_last, start) {
                    (Some(a), Some(s)) => a.max(s),
                    (Some(a), None) => a,
                    (None, Some(s)) => s,
                    (None, None) => return Err(Usage(
                        "--since-last: the first run needs --start-date (the state file has no previous run)"
                            .into(),
                    )),
                };
            let end = end.unwrap_or_else(today_utc);
            (start <= end).then_some((start, end))
        } else {
            start.zip(end)
        };
        let plan = Plan {
            base_url: args.base_url,
            app_id: args.app_id,
            app_secret,
            request,
            range,
            format: args.format,
            output_name: args.output,
            output,
            state_path: args.state,
            concurrency: usize::from(args.concurrency),
            rate_limit: args.rate_limit,
            source: args.source,
            max_attempts: args.max_attempts,
        };
        Ok((plan, book))
    }

    fn run_key(&self) -> Option<RunKey> {
        let (start, end) = self.range?;
        Some(RunKey {
            start: format_date(start),
            end: format_date(end),
            format: self.format,
            output: self.output_name.clone(),
        })
    }
}

/// The prefix of the segment files: beside the output, beside the state file when the output is
/// stdout, else in a fresh temporary directory.
fn segment_prefix(output: Option<&Path>, state: Option<&Path>) -> io::Result<SegmentPrefix> {
    let beside = |p: &Path| {
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        p.with_file_name(format!(".{name}.adminstats"))
    };
    if let Some(out) = output {
        return Ok(SegmentPrefix { prefix: beside(out), temp_dir: None });
    }
    if let Some(state) = state {
        return Ok(SegmentPrefix { prefix: beside(state), temp_dir: None });
    }
    let nonce: u64 = rand::random();
    let dir = std::env::temp_dir().join(format!("adminstats-export-{}-{nonce:016x}", std::process::id()));
    fs::create_dir_all(&dir)?;
    Ok(SegmentPrefix { prefix: dir.join("out"), temp_dir: Some(dir) })
}

/// Where a run's segment files live.
#[derive(Debug, Clone)]
struct SegmentPrefix {
    prefix: PathBuf,
    /// A directory of our own, removed at the end.
    temp_dir: Option<PathBuf>,
}

impl SegmentPrefix {
    fn segment(&self, index: usize) -> PathBuf {
        let mut p = self.prefix.clone().into_os_string();
        p.push(format!(".part{index:04}"));
        PathBuf::from(p)
    }

    fn joined(&self) -> PathBuf {
        let mut p = self.prefix.clone().into_os_string();
        p.push(".tmp");
        PathBuf::from(p)
    }

    fn remove_all(&self, windows: usize) {
        for i in 0..windows {
            let _ = fs::remove_file(self.segment(i));
        }
        let _ = fs::remove_file(self.joined());
        if let Some(d) = &self.temp_dir {
            let _ = fs::remove_dir_all(d);
        }
    }
}

async fn export(
    plan: &Plan,
    book: &mut Book,
    segments: &SegmentPrefix,
    started: Instant,
) -> anyhow::Result<()> {
    let Some(key) = plan.run_key() else {
        // --since-last, and nothing published since the last run.
        let last = book.state.last_date.clone().unwrap_or_default();
        let written = write_empty(plan, segments);
        segments.remove_all(0);
        written?;
        eprintln!("nothing new since {last}: wrote an empty export to {}", plan.output_name);
        return Ok(());
    };
    let (start, end) = plan.range.expect("a run key has a range");

    // The URL and the credentials, checked before anything is written, with few retries: an
    // unreachable server or a wrong secret is reported in a second, not after a minute of backoff.
    let probe = Client::builder(&plan.app_id, &plan.app_secret)
        .base_url(&plan.base_url)
        .retry(RetryPolicy { max_attempts: 3, ..RetryPolicy::default() })
        .build()
        .map_err(|e| anyhow::anyhow!("--base-url {}: {e}", plan.base_url))?;
    probe
        .tenant_access_token()
        .await
        .with_context(|| format!("cannot get a tenant access token from {}", plan.base_url))?;

    // Resume the state's unfinished run if it is this one; else drop its files and start afresh.
    if let Some(old) = book.state.run.take() {
        if old.key == key {
            book.state.run = Some(old);
        } else {
            let old_output = (old.key.output != "-").then(|| PathBuf::from(&old.key.output));
            if let Ok(p) = segment_prefix(old_output.as_deref(), plan.state_path.as_deref()) {
                p.remove_all(old.windows.len());
            }
            eprintln!(
                "note: the state file's unfinished export ({} to {}, {}) is dropped",
                old.key.start, old.key.end, old.key.output
            );
        }
    }
    let run = book.state.run.get_or_insert_with(|| RunState {
        key: key.clone(),
        windows: split_windows(start, end, MAX_WINDOW_DAYS)
            .into_iter()
            .map(|(s, e)| WindowState { start: format_date(s), end: format_date(e), cp: Checkpoint::at(s) })
            .collect(),
    });
    let windows = run.windows.clone();
    book.save(true).context("cannot write the state file")?;

    let total_days = u64::try_from((end - start).whole_days() + 1).unwrap_or(0);
    let progress = progress_bar(windows.iter().map(|w| w.cp.rows).sum());
    if let Some(run) = &book.state.run {
        estimate_progress(&progress, run, total_days);
    }

    let client = Client::builder(&plan.app_id, &plan.app_secret)
        .base_url(&plan.base_url)
        .rate_limit(plan.rate_limit)
        .retry(RetryPolicy {
            max_attempts: plan.max_attempts,
            base_delay: Duration::from_millis(200),
            ..RetryPolicy::default()
        })
        .build()?;

    let ctx = Arc::new(Ctx {
        client,
        request: plan.request.clone(),
        format: plan.format,
        source: plan.source,
        mode: AtomicU8::new(match plan.source {
            Source::Pages => MODE_PAGES,
            _ => MODE_UNKNOWN,
        }),
        book: Mutex::new(std::mem::replace(book, Book::detached())),
        progress: progress.clone(),
        total_days,
        rows: AtomicU64::new(windows.iter().map(|w| w.cp.rows).sum()),
        segments: segments.clone(),
    });

    let result = fetch_all(&ctx, &windows, plan.concurrency).await;
    let mut book_back = ctx.book.lock().unwrap_or_else(|p| p.into_inner());
    *book = std::mem::replace(&mut *book_back, Book::detached());
    drop(book_back);
    if let Err(e) = result {
        progress.abandon();
        let _ = book.save(true);
        if plan.state_path.is_none() {
            segments.remove_all(windows.len());
        }
        let hint = if plan.state_path.is_some() { "; re-run with the same --state to continue" } else { "" };
        return Err(e.context(format!("export incomplete{hint}")));
    }

    let run = book.state.run.clone().expect("the run is in the book");
    let rows: u64 = run.windows.iter().map(|w| w.cp.rows).sum();
    progress.set_message(format!("{rows} rows; writing {}", plan.output_name));
    join_segments(plan, segments, &run.windows)
        .with_context(|| format!("cannot write {}", plan.output_name))?;
    segments.remove_all(run.windows.len());
    progress.finish_and_clear();

    let last = run.windows.iter().filter_map(|w| w.cp.last_date.clone()).max();
    if last > book.state.last_date {
        book.state.last_date = last;
    }
    book.state.run = None;
    book.save(true).context("cannot write the state file")?;

    let secs = started.elapsed().as_secs_f64();
    let via = match ctx.mode.load(Ordering::Relaxed) {
        MODE_BULK => "bulk endpoint",
        _ => "pages",
    };
    eprintln!(
        "exported {rows} rows, {} to {}, to {} in {secs:.1}s ({:.0} rows/s, {via})",
        run.key.start,
        run.key.end,
        plan.output_name,
        rows as f64 / secs.max(1e-9)
    );
    Ok(())
}

/// A bar of rows, whose length is estimated from the days completed so far; hidden unless stderr
/// is a terminal.
fn progress_bar(rows_done: u64) -> ProgressBar {
    if !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(
        "{elapsed_precise} [{bar:30}] {human_pos} of ~{human_len} rows, {msg}, ETA {eta}",
    )
    .map(|s| s.progress_chars("=> "))
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    pb.set_style(style);
    pb.set_position(rows_done);
    // Redraw (elapsed, ETA) even while a long day is being fetched.
    pb.enable_steady_tick(Duration::from_millis(250));
    pb
}

/// Sets the bar's length to the rows expected: those of the completed days, scaled to all days.
fn estimate_progress(pb: &ProgressBar, run: &RunState, total_days: u64) {
    let days: u64 = run.windows.iter().map(WindowState::days_done).sum();
    let rows: u64 = run.windows.iter().map(|w| w.cp.rows).sum();
    if days > 0 {
        let expected =
            u64::try_from(u128::from(rows) * u128::from(total_days) / u128::from(days)).unwrap_or(u64::MAX);
        pb.set_length(expected.max(pb.position()));
    }
    pb.set_message(format!("{days}/{total_days} days"));
}

const MODE_UNKNOWN: u8 = 0;
const MODE_BULK: u8 = 1;
const MODE_PAGES: u8 = 2;

/// What the window tasks share.
struct Ctx {
    client: Client,
    request: UserStatsRequest,
    format: Format,
    source: Source,
    /// Whether the server has the bulk endpoint: learnt from the first answer.
    mode: AtomicU8,
    book: Mutex<Book>,
    progress: ProgressBar,
    total_days: u64,
    rows: AtomicU64,
    segments: SegmentPrefix,
}

impl Ctx {
    /// Records a window's new checkpoint, in memory and (at most every 250 ms, or when `force`)
    /// in the state file.
    fn checkpoint(&self, index: usize, cp: &Checkpoint, force: bool) -> io::Result<()> {
        let mut book = self.book.lock().unwrap_or_else(|p| p.into_inner());
        let Some(run) = book.state.run.as_mut() else { return Ok(()) };
        run.windows[index].cp = cp.clone();
        estimate_progress(&self.progress, run, self.total_days);
        book.save(force)
    }

    fn count_row(&self) {
        let n = self.rows.fetch_add(1, Ordering::Relaxed) + 1;
        // Drawing reads the clock: once per 64 rows is plenty (bulk streams 200k rows/s).
        if n.is_multiple_of(64) {
            self.progress.set_position(n);
        }
    }
}

/// Why fetching a window stopped.
#[derive(Debug)]
enum FetchError {
    Client(adminstats_client::Error),
    Io(io::Error),
    /// The server broke a promise of the API (order, range); fetching again will not help.
    Protocol(String),
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::Client(e) => e.fmt(f),
            FetchError::Io(e) => write!(f, "writing a segment: {e}"),
            FetchError::Protocol(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for FetchError {}

impl From<adminstats_client::Error> for FetchError {
    fn from(e: adminstats_client::Error) -> Self {
        FetchError::Client(e)
    }
}

impl From<io::Error> for FetchError {
    fn from(e: io::Error) -> Self {
        FetchError::Io(e)
    }
}

/// Fetches every unfinished window, `concurrency` at a time; the first failure aborts the rest.
async fn fetch_all(ctx: &Arc<Ctx>, windows: &[WindowState], concurrency: usize) -> anyhow::Result<()> {
    let mut pending =
        windows.iter().enumerate().filter(|(_, w)| !w.cp.done).map(|(i, _)| i).collect::<Vec<_>>();
    pending.reverse();
    let mut running = tokio::task::JoinSet::new();
    loop {
        while running.len() < concurrency {
            let Some(i) = pending.pop() else { break };
            let ctx = ctx.clone();
            let w = windows[i].clone();
            running.spawn(async move {
                let r = fetch_window(&ctx, i, &w).await;
                r.map_err(|e| anyhow::anyhow!("{} to {}: {e}", w.start, w.end))
            });
        }
        match running.join_next().await {
            None => return Ok(()),
            Some(Ok(Ok(()))) => {}
            Some(Ok(Err(e))) => return Err(e),
            Some(Err(join)) => return Err(anyhow::anyhow!("a window task failed: {join}")),
        }
    }
}

async fn fetch_window(ctx: &Ctx, index: usize, w: &WindowState) -> Result<(), FetchError> {
    let window_start = parse_date(&w.start).map_err(|_| FetchError::Protocol("bad state".into()))?;
    let window_end = parse_date(&w.end).map_err(|_| FetchError::Protocol("bad state".into()))?;
    let header = index == 0 && ctx.format == Format::Csv;
    let path = ctx.segments.segment(index);
    let mut seg = Segment::open(&path, window_start, &w.end, w.cp.clone(), header, ctx.format)?;
    if seg.cp != w.cp {
        // The segment was shorter than recorded (lost): the window starts over.
        ctx.checkpoint(index, &seg.cp, true)?;
    }
    let mut failures = 0;
    loop {
        let from =
            parse_date(&seg.cp.next_date).map_err(|_| FetchError::Protocol("bad checkpoint".into()))?;
        let request = ctx.request.with_range(from, window_end);
        let before = (seg.cp.next_date.clone(), seg.cp.rows);
        let result = fetch_range(ctx, index, &request, &mut seg).await;
        match result {
            Ok(()) => {
                seg.finish()?;
                ctx.checkpoint(index, &seg.cp, true)?;
                return Ok(());
            }
            Err(FetchError::Client(e)) if e.is_retryable() => {
                // Only a moved checkpoint is progress: rows of a date cut short are fetched again.
                if (&seg.cp.next_date, seg.cp.rows) != (&before.0, before.1) {
                    failures = 0;
                }
                failures += 1;
                if failures > MAX_WINDOW_FAILURES {
                    return Err(FetchError::Client(e));
                }
                let lost = seg.pending;
                seg = seg.rollback()?;
                let rows = ctx.rows.fetch_sub(lost, Ordering::Relaxed) - lost;
                ctx.progress.set_position(rows);
                let delay = Duration::from_millis(500) * (1 << failures.min(4));
                tracing::debug!(window = %w.start, error = %e, ?delay, "fetching the window again from {}", seg.cp.next_date);
                tokio::time::sleep(delay).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Fetches `request` into `seg`, from the bulk endpoint or page by page.
async fn fetch_range(
    ctx: &Ctx,
    index: usize,
    request: &UserStatsRequest,
    seg: &mut Segment,
) -> Result<(), FetchError> {
    if ctx.mode.load(Ordering::Relaxed) != MODE_PAGES {
        match ctx.client.bulk_user_stats(&request.to_query()).await? {
            Some(mut rows) => {
                ctx.mode.store(MODE_BULK, Ordering::Relaxed);
                while let Some(item) = rows.next_row().await? {
                    push(ctx, index, seg, &item)?;
                }
                return Ok(());
            }
            None if ctx.source == Source::Bulk => {
                return Err(FetchError::Protocol(
                    "the server has no bulk export endpoint (HTTP 404); use --source pages".into(),
                ))
            }
            None => ctx.mode.store(MODE_PAGES, Ordering::Relaxed),
        }
    }
    let mut query = request.to_query();
    loop {
        let page = ctx.client.list_user_stats(&query).await?;
        for item in &page.items {
            push(ctx, index, seg, item)?;
        }
        match (page.has_more, page.page_token) {
            (true, Some(t)) if !t.is_empty() => query.page_token = Some(t),
            (true, _) => return Err(FetchError::Protocol("has_more without a page_token".into())),
            (false, _) => return Ok(()),
        }
    }
}

fn push(ctx: &Ctx, index: usize, seg: &mut Segment, item: &UserStatItem) -> Result<(), FetchError> {
    if seg.push(item)? {
        ctx.checkpoint(index, &seg.cp, false)?;
    }
    ctx.count_row();
    Ok(())
}

/// Where a window stands: every row of the dates before `next_date` is in the first `offset`
/// bytes of its segment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Checkpoint {
    next_date: String,
    offset: u64,
    rows: u64,
    /// The last date rows were received for.
    last_date: Option<String>,
    done: bool,
}

impl Checkpoint {
    fn at(start: Date) -> Self {
        Checkpoint { next_date: format_date(start), offset: 0, rows: 0, last_date: None, done: false }
    }
}

/// A `Write` that counts the bytes through it.
struct Counting<W> {
    inner: W,
    count: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

type SegmentFile = Counting<BufWriter<File>>;

enum Sink {
    Csv(Box<csv::Writer<SegmentFile>>),
    Lines(SegmentFile),
}

/// One window's segment file, being written.
struct Segment {
    path: PathBuf,
    window_start: Date,
    window_end: String,
    header: bool,
    format: Format,
    sink: Sink,
    /// The last durable point.
    cp: Checkpoint,
    /// The date being written, whose rows are not in `cp` yet.
    current: Option<String>,
    pending: u64,
}

impl Segment {
    /// Opens the segment at its checkpoint: anything after it is cut off. A segment shorter than
    /// its checkpoint (lost) starts the window over.
    fn open(
        path: &Path,
        window_start: Date,
        window_end: &str,
        cp: Checkpoint,
        header: bool,
        format: Format,
    ) -> io::Result<Segment> {
        let mut file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
        let len = file.metadata()?.len();
        let cp = if len < cp.offset { Checkpoint::at(window_start) } else { cp };
        file.set_len(cp.offset)?;
        file.seek(SeekFrom::End(0))?;
        let out = Counting { inner: BufWriter::with_capacity(256 * 1024, file), count: cp.offset };
        let sink = match format {
            Format::Csv => Sink::Csv(Box::new(
                csv::WriterBuilder::new()
                    .has_headers(false)
                    .terminator(csv::Terminator::CRLF)
                    .from_writer(out),
            )),
            Format::Jsonl | Format::Parquet => Sink::Lines(out),
        };
        let mut seg = Segment {
            path: path.to_owned(),
            window_start,
            window_end: window_end.to_owned(),
            header,
            format,
            sink,
            cp,
            current: None,
            pending: 0,
        };
        if header && seg.cp.offset == 0 {
            if let Sink::Csv(w) = &mut seg.sink {
                w.write_record(UserStatItem::FIELDS)?;
            }
            seg.cp.offset = seg.flush()?;
        }
        Ok(seg)
    }

    /// Flushes everything written to the file; returns its length.
    fn flush(&mut self) -> io::Result<u64> {
        match &mut self.sink {
            Sink::Csv(w) => {
                w.flush()?;
                Ok(w.get_ref().count)
            }
            Sink::Lines(w) => {
                w.flush()?;
                Ok(w.count)
            }
        }
    }

    /// Appends a row; returns whether it started a new date, so that the checkpoint moved.
    fn push(&mut self, item: &UserStatItem) -> Result<bool, FetchError> {
        let mut moved = false;
        if self.current.as_deref() != Some(item.date.as_str()) {
            let date = item.date.as_str();
            if parse_date(date).is_err()
                || date < self.cp.next_date.as_str()
                || date > self.window_end.as_str()
                || self.current.as_deref().is_some_and(|c| date < c)
            {
                return Err(FetchError::Protocol(format!(
                    "the server sent a row of {date:?} out of order or outside {}..{}",
                    self.cp.next_date, self.window_end
                )));
            }
            if let Some(previous) = self.current.take() {
                let offset = self.flush()?;
                self.cp = Checkpoint {
                    next_date: date.to_owned(),
                    offset,
                    rows: self.cp.rows + self.pending,
                    last_date: Some(previous),
                    done: false,
                };
                self.pending = 0;
                moved = true;
            }
            self.current = Some(date.to_owned());
        }
        match &mut self.sink {
            Sink::Csv(w) => write_csv_row(w, item)?,
            Sink::Lines(w) => {
                serde_json::to_writer(&mut *w, item).map_err(io::Error::from)?;
                w.write_all(b"\n")?;
            }
        }
        self.pending += 1;
        Ok(moved)
    }

    /// Marks the window complete.
    fn finish(&mut self) -> io::Result<()> {
        let offset = self.flush()?;
        self.cp = Checkpoint {
            next_date: self.window_end.clone(),
            offset,
            rows: self.cp.rows + self.pending,
            last_date: self.current.take().or(self.cp.last_date.take()),
            done: true,
        };
        self.pending = 0;
        Ok(())
    }

    /// Drops everything after the checkpoint.
    fn rollback(self) -> io::Result<Segment> {
        let Segment { path, window_start, window_end, header, format, sink, cp, .. } = self;
        drop(sink);
        Segment::open(&path, window_start, &window_end, cp, header, format)
    }
}

/// One cell of a row, typed as the column is.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Cell<'a> {
    Str(&'a str),
    Int(i64),
}

/// The row's cells in [`UserStatItem::FIELDS`] order.
fn cells(i: &UserStatItem) -> [Cell<'_>; 33] {
    use Cell::{Int, Str};
    [
        Str(&i.date),
        Str(&i.user_id),
        Str(&i.user_name),
        Str(&i.department_name),
        Str(&i.department_path),
        Str(&i.create_time),
        Str(&i.register_time),
        Int(i.user_active_flag),
        Int(i.suite_active_flag),
        Str(&i.last_active_time),
        Int(i.im_active_flag),
        Int(i.send_messenger_num),
        Int(i.docs_active_flag),
        Int(i.create_docs_num),
        Int(i.cal_active_flag),
        Int(i.create_cal_num),
        Int(i.vc_active_flag),
        Int(i.vc_duration),
        Str(&i.active_os),
        Int(i.create_task_num),
        Int(i.vc_num),
        Str(&i.app_package_type),
        Str(&i.os_name),
        Int(i.email_send_count),
        Int(i.email_receive_count),
        Int(i.email_send_ext_count),
        Int(i.email_receive_ext_count),
        Int(i.email_send_in_count),
        Int(i.email_receive_in_count),
        Int(i.search_active_flag),
        Int(i.total_search_count),
        Int(i.quick_search_count),
        Int(i.tab_search_count),
    ]
}

fn write_csv_row<W: Write>(w: &mut csv::Writer<W>, item: &UserStatItem) -> io::Result<()> {
    let mut num = itoa::Buffer::new();
    for cell in cells(item) {
        match cell {
            Cell::Str(s) => w.write_field(s)?,
            Cell::Int(n) => w.write_field(num.format(n))?,
        }
    }
    w.write_record(None::<&[u8]>)?;
    Ok(())
}

/// Writes the output of an export with no rows.
fn write_empty(plan: &Plan, segments: &SegmentPrefix) -> anyhow::Result<()> {
    write_output(plan, segments, |out| match plan.format {
        Format::Csv => {
            let mut w = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(out);
            w.write_record(UserStatItem::FIELDS)?;
            w.flush()?;
            Ok(())
        }
        Format::Jsonl => Ok(()),
        Format::Parquet => ParquetOut::new(out)?.close(),
    })
}

/// Runs `write` on the output: stdout, or a temporary file renamed to the output when `write`
/// succeeds.
fn write_output(
    plan: &Plan,
    segments: &SegmentPrefix,
    write: impl FnOnce(&mut (dyn Write + Send)) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    match &plan.output {
        None => {
            let mut out = BufWriter::with_capacity(256 * 1024, io::stdout());
            write(&mut out)?;
            out.flush()?;
            Ok(())
        }
        Some(path) => {
            let tmp = segments.joined();
            let mut file = BufWriter::with_capacity(256 * 1024, File::create(&tmp)?);
            write(&mut file)?;
            let file = file.into_inner().map_err(|e| e.into_error())?;
            file.sync_all()?;
            fs::rename(&tmp, path)?;
            Ok(())
        }
    }
}

/// Joins the complete segments, in order, into the output.
fn join_segments(plan: &Plan, segments: &SegmentPrefix, windows: &[WindowState]) -> anyhow::Result<()> {
    let open = |i: usize| -> anyhow::Result<io::Take<File>> {
        let path = segments.segment(i);
        let f = File::open(&path).with_context(|| format!("segment {}", path.display()))?;
        Ok(f.take(windows[i].cp.offset))
    };
    match (plan.format, &plan.output) {
        (Format::Parquet, _) => write_output(plan, segments, |out| {
            let mut pq = ParquetOut::new(out)?;
            for i in 0..windows.len() {
                let mut reader = BufReader::with_capacity(256 * 1024, open(i)?);
                let mut line = Vec::new();
                loop {
                    line.clear();
                    if reader.read_until(b'\n', &mut line)? == 0 {
                        break;
                    }
                    let item: UserStatItem = serde_json::from_slice(&line).context("a segment line")?;
                    pq.push(&item)?;
                }
            }
            pq.close()
        }),
        (_, None) => write_output(plan, segments, |out| {
            for i in 0..windows.len() {
                io::copy(&mut open(i)?, out)?;
            }
            Ok(())
        }),
        (_, Some(path)) if !windows.is_empty() => {
            // The first segment (with the CSV header) becomes the output: append the others to it.
            let first = segments.segment(0);
            let mut file = OpenOptions::new().write(true).open(&first)?;
            file.set_len(windows[0].cp.offset)?;
            file.seek(SeekFrom::End(0))?;
            for i in 1..windows.len() {
                io::copy(&mut open(i)?, &mut file)?;
            }
            file.sync_all()?;
            fs::rename(&first, path)?;
            Ok(())
        }
        (_, Some(_)) => write_empty(plan, segments),
    }
}

/// A Parquet file being written row group by row group.
struct ParquetOut<'a> {
    writer: parquet::file::writer::SerializedFileWriter<&'a mut (dyn Write + Send)>,
    columns: Vec<Column>,
    rows: usize,
}

enum Column {
    Str(Vec<parquet::data_type::ByteArray>),
    Int(Vec<i64>),
}

impl<'a> ParquetOut<'a> {
    fn new(out: &'a mut (dyn Write + Send)) -> anyhow::Result<Self> {
        use parquet::basic::Compression;
        use parquet::file::properties::WriterProperties;
        let fields: Vec<String> = UserStatItem::FIELDS
            .iter()
            .zip(cells(&UserStatItem::default()))
            .map(|(name, cell)| match cell {
                Cell::Str(_) => format!("required binary {name} (STRING);"),
                Cell::Int(_) => format!("required int64 {name};"),
            })
            .collect();
        let schema = parquet::schema::parser::parse_message_type(&format!(
            "message admin_user_stats {{ {} }}",
            fields.join(" ")
        ))?;
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_created_by(concat!("adminstats export ", env!("CARGO_PKG_VERSION")).to_owned())
            .build();
        let writer =
            parquet::file::writer::SerializedFileWriter::new(out, Arc::new(schema), Arc::new(props))?;
        let columns = cells(&UserStatItem::default())
            .iter()
            .map(|c| match c {
                Cell::Str(_) => Column::Str(Vec::with_capacity(PARQUET_ROW_GROUP)),
                Cell::Int(_) => Column::Int(Vec::with_capacity(PARQUET_ROW_GROUP)),
            })
            .collect();
        Ok(ParquetOut { writer, columns, rows: 0 })
    }

    fn push(&mut self, item: &UserStatItem) -> anyhow::Result<()> {
        for (column, cell) in self.columns.iter_mut().zip(cells(item)) {
            match (column, cell) {
                (Column::Str(v), Cell::Str(s)) => v.push(s.as_bytes().to_vec().into()),
                (Column::Int(v), Cell::Int(n)) => v.push(n),
                _ => anyhow::bail!("a cell does not match its column type"),
            }
        }
        self.rows += 1;
        if self.rows == PARQUET_ROW_GROUP {
            self.flush_group()?;
        }
        Ok(())
    }

    fn flush_group(&mut self) -> anyhow::Result<()> {
        use parquet::data_type::{ByteArrayType, Int64Type};
        if self.rows == 0 {
            return Ok(());
        }
        let mut group = self.writer.next_row_group()?;
        let mut columns = self.columns.iter_mut();
        while let Some(mut col) = group.next_column()? {
            match columns.next() {
                Some(Column::Str(v)) => {
                    col.typed::<ByteArrayType>().write_batch(v, None, None)?;
                    v.clear();
                }
                Some(Column::Int(v)) => {
                    col.typed::<Int64Type>().write_batch(v, None, None)?;
                    v.clear();
                }
                None => anyhow::bail!("more Parquet columns than fields"),
            }
            col.close()?;
        }
        group.close()?;
        self.rows = 0;
        Ok(())
    }

    fn close(mut self) -> anyhow::Result<()> {
        self.flush_group()?;
        self.writer.close()?;
        Ok(())
    }
}

/// What the state file is about: exporting another server's, app's or filter's rows with it is
/// refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Identity {
    base_url: String,
    app_id: String,
    department_id: Option<String>,
    department_id_type: Option<String>,
    user_id_type: Option<String>,
}

/// Which run a state describes: a re-run resumes it only if all of these are the same.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct RunKey {
    start: String,
    end: String,
    format: Format,
    output: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct RunState {
    #[serde(flatten)]
    key: RunKey,
    windows: Vec<WindowState>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct WindowState {
    start: String,
    end: String,
    #[serde(flatten)]
    cp: Checkpoint,
}

impl WindowState {
    fn days_done(&self) -> u64 {
        let (Ok(s), Ok(e)) = (parse_date(&self.start), parse_date(&self.end)) else { return 0 };
        let upto = if self.cp.done {
            e.next_day().unwrap_or(e)
        } else {
            parse_date(&self.cp.next_date).unwrap_or(s)
        };
        u64::try_from((upto - s).whole_days()).unwrap_or(0)
    }
}

/// The state file's content.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    version: u32,
    #[serde(flatten)]
    identity: Identity,
    /// The last date a completed run received rows for (`--since-last` starts the day after).
    last_date: Option<String>,
    /// The unfinished run, if any.
    run: Option<RunState>,
}

const STATE_VERSION: u32 = 1;

/// The state, and the file it is kept in (none without `--state`).
#[derive(Debug)]
struct Book {
    path: Option<PathBuf>,
    state: State,
    last_save: Option<Instant>,
}

impl Book {
    fn detached() -> Book {
        Book {
            path: None,
            state: State {
                version: STATE_VERSION,
                identity: Identity {
                    base_url: String::new(),
                    app_id: String::new(),
                    department_id: None,
                    department_id_type: None,
                    user_id_type: None,
                },
                last_date: None,
                run: None,
            },
            last_save: None,
        }
    }

    /// Reads the state file if it exists; refuses one written for another source.
    fn load(path: Option<PathBuf>, identity: Identity) -> Result<Book, Usage> {
        let fresh = State { version: STATE_VERSION, identity: identity.clone(), last_date: None, run: None };
        let Some(p) = path else { return Ok(Book { path: None, state: fresh, last_save: None }) };
        let state = match fs::read(&p) {
            Ok(bytes) => {
                let state: State = serde_json::from_slice(&bytes).map_err(|e| {
                    Usage(format!("--state {}: not an adminstats export state file: {e}", p.display()))
                })?;
                if state.version != STATE_VERSION {
                    return Err(Usage(format!(
                        "--state {}: version {} is not {STATE_VERSION}",
                        p.display(),
                        state.version
                    )));
                }
                if state.identity != identity {
                    return Err(Usage(format!(
                        "--state {}: written for another export (base URL, app or filters differ); use another state file",
                        p.display()
                    )));
                }
                state
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => fresh,
            Err(e) => return Err(Usage(format!("--state {}: {e}", p.display()))),
        };
        Ok(Book { path: Some(p), state, last_save: None })
    }

    /// Writes the state file (atomically: a temporary file renamed over it), unless it was
    /// written less than 250 ms ago and `force` is false.
    fn save(&mut self, force: bool) -> io::Result<()> {
        let Some(path) = &self.path else { return Ok(()) };
        if !force && self.last_save.is_some_and(|t| t.elapsed() < STATE_SAVE_INTERVAL) {
            return Ok(());
        }
        let mut tmp = path.clone().into_os_string();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let bytes = serde_json::to_vec_pretty(&self.state).map_err(io::Error::from)?;
        fs::write(&tmp, bytes)?;
        fs::rename(&tmp, path)?;
        self.last_save = Some(Instant::now());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn distinct_item() -> UserStatItem {
        let mut v = serde_json::to_value(UserStatItem::default()).unwrap();
        let map = v.as_object_mut().unwrap();
        for (n, name) in UserStatItem::FIELDS.iter().enumerate() {
            let value = map.get_mut(*name).unwrap();
            *value = match value {
                serde_json::Value::String(s) if s.is_empty() => serde_json::json!(format!("s{n}")),
                serde_json::Value::String(_) => serde_json::json!(format!("{}", 1000 + n)),
                _ => serde_json::json!(1000 + n),
            };
        }
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn cells_follow_the_fields_order_and_types() {
        let item = distinct_item();
        let v = serde_json::to_value(&item).unwrap();
        for (name, cell) in UserStatItem::FIELDS.iter().zip(cells(&item)) {
            match cell {
                Cell::Str(s) => assert_eq!(v[name], serde_json::json!(s), "{name}"),
                Cell::Int(n) => {
                    let wire = &v[name];
                    let got = wire.as_i64().or_else(|| wire.as_str().and_then(|s| s.parse().ok()));
                    assert_eq!(got, Some(n), "{name}");
                }
            }
        }
    }

    #[test]
    fn csv_quotes_per_rfc_4180() {
        let item = UserStatItem {
            date: "2026-01-01".into(),
            user_name: "Zhang, San".into(),
            department_name: "R&D \"Core\"".into(),
            department_path: "A\nB".into(),
            active_os: "'ios 14.2,-'".into(),
            email_send_count: 12,
            ..Default::default()
        };
        let mut w = csv::WriterBuilder::new()
            .has_headers(false)
            .terminator(csv::Terminator::CRLF)
            .from_writer(vec![]);
        write_csv_row(&mut w, &item).unwrap();
        let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
        assert!(text.starts_with("2026-01-01,,\"Zhang, San\",\"R&D \"\"Core\"\"\",\"A\nB\","), "{text}");
        assert!(text.contains(",\"'ios 14.2,-'\","), "{text}");
        assert!(text.ends_with(",0,0,0\r\n"), "{text}");
        let back: Vec<csv::StringRecord> = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(text.as_bytes())
            .records()
            .map(Result::unwrap)
            .collect();
        assert_eq!(back.len(), 1);
        assert_eq!(&back[0][2], "Zhang, San");
        assert_eq!(&back[0][3], "R&D \"Core\"");
        assert_eq!(&back[0][4], "A\nB");
        assert_eq!(&back[0][23], "12");
        assert_eq!(back[0].len(), 33);
    }

    fn item(date: &str, user: &str) -> UserStatItem {
        UserStatItem { date: date.into(), user_id: user.into(), ..Default::default() }
    }

    #[test]
    fn segment_checkpoints_at_each_new_date_and_rolls_back_to_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seg");
        let start = parse_date("2026-01-01").unwrap();
        let mut seg =
            Segment::open(&path, start, "2026-01-31", Checkpoint::at(start), true, Format::Csv).unwrap();
        let header_len = seg.cp.offset;
        assert!(header_len > 0);
        assert!(!seg.push(&item("2026-01-01", "a")).unwrap());
        assert!(!seg.push(&item("2026-01-01", "b")).unwrap());
        assert!(seg.push(&item("2026-01-03", "a")).unwrap(), "a new date moves the checkpoint");
        assert_eq!(seg.cp.next_date, "2026-01-03");
        assert_eq!(seg.cp.rows, 2);
        assert_eq!(seg.cp.last_date.as_deref(), Some("2026-01-01"));
        let cp = seg.cp.clone();
        assert!(matches!(seg.push(&item("2026-01-02", "z")), Err(FetchError::Protocol(_))), "out of order");
        assert!(seg.push(&item("2026-01-03", "b")).is_ok());
        let mut seg = seg.rollback().unwrap();
        assert_eq!(seg.cp, cp);
        assert_eq!(fs::metadata(&path).unwrap().len(), cp.offset, "the partial date is cut off");
        assert!(
            matches!(seg.push(&item("2026-02-01", "a")), Err(FetchError::Protocol(_))),
            "outside the window"
        );
        seg.push(&item("2026-01-03", "a")).unwrap();
        seg.push(&item("2026-01-03", "b")).unwrap();
        seg.finish().unwrap();
        assert!(seg.cp.done);
        assert_eq!(seg.cp.rows, 4);
        assert_eq!(seg.cp.last_date.as_deref(), Some("2026-01-03"));
        let text = fs::read_to_string(&path).unwrap();
        let users: Vec<String> =
            text.lines().skip(1).map(|l| l.split(',').take(2).collect::<Vec<_>>().join(" ")).collect();
        assert_eq!(users, ["2026-01-01 a", "2026-01-01 b", "2026-01-03 a", "2026-01-03 b"]);
        assert_eq!(text.lines().next().unwrap(), UserStatItem::FIELDS.join(","));
    }

    #[test]
    fn a_segment_shorter_than_its_checkpoint_starts_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seg");
        let start = parse_date("2026-01-01").unwrap();
        let cp = Checkpoint {
            next_date: "2026-01-05".into(),
            offset: 10_000,
            rows: 50,
            last_date: None,
            done: false,
        };
        let seg = Segment::open(&path, start, "2026-01-31", cp, false, Format::Jsonl).unwrap();
        assert_eq!(seg.cp, Checkpoint::at(start));
    }

    #[test]
    fn state_file_round_trips_and_refuses_another_source() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let id = Identity {
            base_url: "http://x".into(),
            app_id: "cli_1".into(),
            department_id: None,
            department_id_type: None,
            user_id_type: Some("user_id".into()),
        };
        let mut book = Book::load(Some(path.clone()), id.clone()).unwrap();
        assert!(book.state.run.is_none());
        book.state.last_date = Some("2026-01-31".into());
        book.state.run = Some(RunState {
            key: RunKey {
                start: "2026-02-01".into(),
                end: "2026-03-15".into(),
                format: Format::Csv,
                output: "o.csv".into(),
            },
            windows: vec![WindowState {
                start: "2026-02-01".into(),
                end: "2026-03-03".into(),
                cp: Checkpoint {
                    next_date: "2026-02-10".into(),
                    offset: 77,
                    rows: 9,
                    last_date: None,
                    done: false,
                },
            }],
        });
        book.save(true).unwrap();
        // Throttled: a second save within 250 ms is skipped unless forced.
        book.state.last_date = Some("2099-01-01".into());
        book.save(false).unwrap();
        let again = Book::load(Some(path.clone()), id.clone()).unwrap();
        assert_eq!(again.state.last_date.as_deref(), Some("2026-01-31"));
        let run = again.state.run.unwrap();
        assert_eq!(run.windows[0].cp.offset, 77);
        assert_eq!(run.windows[0].days_done(), 9);
        let other = Identity { app_id: "cli_2".into(), ..id };
        assert!(Book::load(Some(path.clone()), other).is_err());
        fs::write(&path, "garbage").unwrap();
        assert!(Book::load(Some(path), Identity { app_id: "cli_1".into(), ..again_identity() }).is_err());
    }

    fn again_identity() -> Identity {
        Identity {
            base_url: "http://x".into(),
            app_id: String::new(),
            department_id: None,
            department_id_type: None,
            user_id_type: None,
        }
    }

    #[test]
    fn parquet_output_reads_back_typed() {
        use parquet::file::reader::{FileReader, SerializedFileReader};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.parquet");
        let mut file = File::create(&path).unwrap();
        {
            let out: &mut (dyn Write + Send) = &mut file;
            let mut pq = ParquetOut::new(out).unwrap();
            for n in 0..(PARQUET_ROW_GROUP + 5) {
                let mut it = distinct_item();
                it.user_id = format!("u{n}");
                it.email_send_count = n as i64;
                pq.push(&it).unwrap();
            }
            pq.close().unwrap();
        }
        let reader = SerializedFileReader::new(File::open(&path).unwrap()).unwrap();
        let meta = reader.metadata();
        assert_eq!(meta.file_metadata().num_rows(), (PARQUET_ROW_GROUP + 5) as i64);
        assert_eq!(meta.num_row_groups(), 2);
        let schema = meta.file_metadata().schema_descr();
        let names: Vec<&str> = schema.columns().iter().map(|c| c.name()).collect();
        assert_eq!(names, UserStatItem::FIELDS);
        let last = reader.get_row_iter(None).unwrap().last().unwrap().unwrap();
        use parquet::record::RowAccessor;
        assert_eq!(last.get_string(1).unwrap(), &format!("u{}", PARQUET_ROW_GROUP + 4));
        assert_eq!(last.get_long(23).unwrap(), (PARQUET_ROW_GROUP + 4) as i64);
        assert_eq!(last.get_string(0).unwrap(), "s0");
        assert_eq!(last.get_long(7).unwrap(), 1007);
    }
}
