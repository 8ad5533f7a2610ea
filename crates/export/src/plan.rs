//! The export's arguments: [`Options`] mirror the flags of `adminstats export` one to one, and
//! [`Plan::new`] checks them into a [`Plan`], before any IO but reading the state file.

use std::fmt;
use std::path::PathBuf;
use std::time::Instant;

use adminstats_client::{
    format_date, parse_date, split_windows, DepartmentIdType, UserIdType, UserStatsRequest, MAX_PAGE_SIZE,
    MAX_WINDOW_DAYS,
};
use serde::{Deserialize, Serialize};
use time::Date;

use crate::error::UsageError;
use crate::state::{Book, Identity, RunKey};

/// The environment variable read when `--app-secret` is not given.
pub const SECRET_ENV: &str = "ADMINSTATS_APP_SECRET";

/// The output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Source {
    /// The bulk endpoint when the server has it, else pages.
    Auto,
    /// The bulk endpoint only (adminstats servers).
    Bulk,
    /// Pages of `admin_user_stats` only, as Lark serves them.
    Pages,
}

/// The flags of `adminstats export` (cli.md), as given: [`Plan::new`] checks them.
#[derive(Clone)]
pub struct Options {
    /// `--base-url`: the server.
    pub base_url: String,
    /// `--app-id`: the custom app's id.
    pub app_id: String,
    /// `--app-secret`; without it, the environment variable [`SECRET_ENV`].
    pub app_secret: Option<String>,
    /// `--start-date`, YYYY-MM-DD; with `since_last`, only needed on the first run.
    pub start_date: Option<String>,
    /// `--end-date`, inclusive, YYYY-MM-DD; with `since_last`, defaults to today (UTC).
    pub end_date: Option<String>,
    /// `--department-id`: only the users of this department's subtree.
    pub department_id: Option<String>,
    /// `--department-id-type`: how `department_id` is read.
    pub department_id_type: Option<DepartmentIdType>,
    /// `--user-id-type`: the id in the `user_id` column.
    pub user_id_type: Option<UserIdType>,
    /// `--format`.
    pub format: Format,
    /// `--output`: a file, or `-` for stdout.
    pub output: String,
    /// `--state`: the file that records what is complete.
    pub state: Option<PathBuf>,
    /// `--since-last`: only the days after the last day a previous run received rows for.
    pub since_last: bool,
    /// `--concurrency`: windows fetched at once, at least 1.
    pub concurrency: u16,
    /// `--rate-limit`: requests per second across all windows (0: no limit); `None`: pace by the
    /// server's quota headers.
    pub rate_limit: Option<f64>,
    /// `--source`: where rows come from.
    pub source: Source,
    /// `--max-attempts`: attempts per request before a failure is final, at least 1.
    pub max_attempts: u32,
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("base_url", &self.base_url)
            .field("app_id", &self.app_id)
            .field("app_secret", &self.app_secret.as_ref().map(|_| "<redacted>"))
            .field("start_date", &self.start_date)
            .field("end_date", &self.end_date)
            .field("format", &self.format)
            .field("output", &self.output)
            .field("state", &self.state)
            .field("since_last", &self.since_last)
            .finish_non_exhaustive()
    }
}

/// Everything the flags decide, checked, with the state file read.
pub struct Plan {
    pub(crate) started: Instant,
    pub(crate) base_url: String,
    pub(crate) app_id: String,
    pub(crate) app_secret: String,
    pub(crate) request: UserStatsRequest,
    /// `None` for a `--since-last` run with nothing published since the last one.
    pub(crate) range: Option<(Date, Date)>,
    pub(crate) format: Format,
    /// `None` for stdout.
    pub(crate) output: Option<PathBuf>,
    /// `--output` as given, `-` for stdout.
    pub(crate) output_name: String,
    pub(crate) state_path: Option<PathBuf>,
    /// `--since-last`: days restated since they were exported are fetched again too.
    pub(crate) since_last: bool,
    pub(crate) concurrency: usize,
    pub(crate) rate_limit: Option<f64>,
    pub(crate) source: Source,
    pub(crate) max_attempts: u32,
    /// The state file's content (an empty, detached book without `--state`).
    pub(crate) book: Book,
}

impl fmt::Debug for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plan")
            .field("base_url", &self.base_url)
            .field("app_id", &self.app_id)
            .field("app_secret", &"<redacted>")
            .field("range", &self.range)
            .field("format", &self.format)
            .field("output_name", &self.output_name)
            .field("state_path", &self.state_path)
            .finish_non_exhaustive()
    }
}

impl Plan {
    /// Checks the options, in the order of cli.md's messages, and reads the state file.
    ///
    /// The export's elapsed time, in its closing summary, counts from here.
    ///
    /// # Errors
    /// A [`UsageError`] naming the flag: a missing secret or date, a date that does not parse or
    /// an end before the start, a rate limit below 0, an output that is a directory, a state file
    /// that cannot be read or was written for another source.
    pub fn new(options: Options) -> Result<Plan, UsageError> {
        let started = Instant::now();
        let args = options;
        if args.concurrency == 0 {
            return Err(UsageError("--concurrency 0: must be at least 1".into()));
        }
        if args.max_attempts == 0 {
            return Err(UsageError("--max-attempts 0: must be at least 1".into()));
        }
        let app_secret = match args.app_secret.clone().or_else(|| std::env::var(SECRET_ENV).ok()) {
            Some(s) if !s.is_empty() => s,
            _ => {
                return Err(UsageError(format!(
                    "--app-secret is required (or the environment variable {SECRET_ENV})"
                )))
            }
        };
        if let Some(rate) = args.rate_limit.filter(|r| !r.is_finite() || *r < 0.0) {
            return Err(UsageError(format!(
                "--rate-limit {rate}: must be a number of requests per second, 0 or more"
            )));
        }
        let date = |flag: &str, v: &Option<String>| -> Result<Option<Date>, UsageError> {
            v.as_deref()
                .map(|s| {
                    parse_date(s)
                        .map_err(|_| UsageError(format!("{flag} {s:?}: not a date of the form YYYY-MM-DD")))
                })
                .transpose()
        };
        let start = date("--start-date", &args.start_date)?;
        let end = date("--end-date", &args.end_date)?;
        if let (Some(s), Some(e)) = (start, end) {
            if e < s {
                return Err(UsageError(format!(
                    "--end-date {} is before --start-date {}",
                    format_date(e),
                    format_date(s)
                )));
            }
        }
        if !args.since_last {
            if start.is_none() {
                return Err(UsageError("--start-date is required (without --since-last)".into()));
            }
            if end.is_none() {
                return Err(UsageError("--end-date is required (without --since-last)".into()));
            }
        }
        if args.output.is_empty() {
            return Err(UsageError("--output: give a file name, or - for stdout".into()));
        }
        let output = (args.output != "-").then(|| PathBuf::from(&args.output));
        if let Some(out) = &output {
            if out.is_dir() {
                return Err(UsageError(format!("--output {}: is a directory", out.display())));
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
                    (None, None) => return Err(UsageError(
                        "--since-last: the first run needs --start-date (the state file has no previous run)"
                            .into(),
                    )),
                };
            let end = end.unwrap_or_else(today_utc);
            (start <= end).then_some((start, end))
        } else {
            start.zip(end)
        };
        Ok(Plan {
            started,
            base_url: args.base_url,
            app_id: args.app_id,
            app_secret,
            request,
            range,
            format: args.format,
            output_name: args.output,
            output,
            state_path: args.state,
            since_last: args.since_last,
            concurrency: usize::from(args.concurrency),
            rate_limit: args.rate_limit,
            source: args.source,
            max_attempts: args.max_attempts,
            book,
        })
    }

    /// Which run this is, for resuming: `None` when there is nothing to fetch (no new day and
    /// none of `restated`).
    pub(crate) fn run_key(&self, restated: &[Date]) -> Option<RunKey> {
        if self.range.is_none() && restated.is_empty() {
            return None;
        }
        let (start, end) = self.range.map(|(s, e)| (format_date(s), format_date(e))).unwrap_or_default();
        Some(RunKey {
            start,
            end,
            restated: restated.iter().map(|&d| format_date(d)).collect(),
            format: self.format,
            output: self.output_name.clone(),
        })
    }

    /// Whether a `--since-last` run must ask the server which exported days were restated
    /// (there are exported days to ask about).
    pub(crate) fn since_last_checks_restated(&self, book: &Book) -> bool {
        self.since_last && !book.state.revisions.is_empty()
    }

    /// The windows of a run: each run of consecutive `restated` days, then the new range, each
    /// split into windows of at most 31 days, in date order.
    pub(crate) fn windows(&self, restated: &[Date]) -> Vec<(Date, Date)> {
        let mut spans: Vec<(Date, Date)> = Vec::new();
        for &d in restated {
            match spans.last_mut() {
                Some((_, e)) if e.next_day() == Some(d) => *e = d,
                _ => spans.push((d, d)),
            }
        }
        spans.extend(self.range);
        spans.into_iter().flat_map(|(s, e)| split_windows(s, e, MAX_WINDOW_DAYS)).collect()
    }
}

/// Today's date in UTC, the default end of a `--since-last` run.
///
/// The export is a client: this is the calendar of the machine it runs on, not the service's
/// (`adminstats_core::Clock`), and the server leaves out whatever it has not published.
#[allow(clippy::disallowed_methods)]
pub(crate) fn today_utc() -> Date {
    time::OffsetDateTime::now_utc().date()
}
