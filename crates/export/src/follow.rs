//! `--follow`: an export that keeps running. It brings a directory up to date (every published
//! day after the state's last one, and every exported day restated since), then long-polls
//! `admin_user_stats/days/changes` and exports each day as it is published or restated, until
//! stopped. Each day is its own file, `DIR/YYYY-MM-DD.<format>`, written under a temporary name
//! and renamed over the old one, so a reader only ever sees a whole day at one revision.
//!
//! The state file records, after each day, its revision as the server gave it before the day's
//! rows were fetched: a restart resumes with nothing missed, and a restatement during an export
//! is exported again.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use adminstats_client::{format_date, parse_date, split_windows, Client, RetryPolicy, DAYS_MAX_DAYS};
use time::Date;

use crate::error::{ExportError, UsageError};
use crate::plan::{Format, Options, Plan};
use crate::run::{run, Outcome};
use crate::state::Book;

/// How long one long poll waits on the server (below the client's 60 s read timeout).
const POLL_WAIT_SECONDS: u32 = 50;
/// The pause after a failed poll before the next (the client has already retried it).
const POLL_FAILURE_PAUSE: Duration = Duration::from_secs(5);

/// A checked `--follow` export: the flags, the output directory and the state.
pub struct Follow {
    options: Options,
    dir: PathBuf,
    book: Book,
    /// The secret [`Plan::new`] resolved (flag or environment).
    secret: String,
    /// The first date to export when the state has none (`--start-date`).
    start: Option<Date>,
}

impl std::fmt::Debug for Follow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Follow")
            .field("dir", &self.dir)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Follow {
    /// Checks the flags of a `--follow` export and reads its state file.
    ///
    /// # Errors
    /// A [`UsageError`]: no `--state`, an `--output` that is not a directory, `--end-date` (a
    /// follow has no end), a first run without `--start-date`, or any error of [`Plan::new`].
    pub fn new(options: Options) -> Result<Follow, UsageError> {
        if options.state.is_none() {
            return Err(UsageError("--follow needs --state FILE (it records what is exported)".into()));
        }
        if options.end_date.is_some() {
            return Err(UsageError("--follow has no end: leave out --end-date".into()));
        }
        let dir = PathBuf::from(&options.output);
        if options.output == "-" || !dir.is_dir() {
            return Err(UsageError(format!(
                "--follow writes one file per day: --output {:?} must be an existing directory",
                options.output
            )));
        }
        // The flags and the state file, checked as a `--since-last` run to stdout would be.
        let plan = Plan::new(Options { output: "-".into(), since_last: true, ..options.clone() })?;
        let start = options.start_date.as_deref().and_then(|d| parse_date(d).ok());
        if plan.book.state.last_date.is_none() && plan.book.state.revisions.is_empty() && start.is_none() {
            return Err(UsageError(
                "--follow: the first run needs --start-date (the state file has no previous run)".into(),
            ));
        }
        Ok(Follow { options, dir, book: plan.book, secret: plan.app_secret, start })
    }

    /// Exports until `shutdown` resolves (or a failure that retrying cannot cure).
    ///
    /// # Errors
    /// The server has no `admin_user_stats/days/changes` (Lark's), refuses the app, or a day's
    /// export fails; see [`ExportError`].
    pub async fn run(mut self, shutdown: impl Future<Output = &'static str>) -> Result<Outcome, ExportError> {
        let mut shutdown = std::pin::pin!(shutdown);
        let client = Client::builder(&self.options.app_id, &self.secret)
            .base_url(&self.options.base_url)
            .retry(RetryPolicy { max_attempts: self.options.max_attempts, ..RetryPolicy::default() })
            .build()
            .map_err(|error| ExportError::BaseUrl { base_url: self.options.base_url.clone(), error })?;
        // The cursor first: whatever is published or restated from here on, the poll will say.
        let mut cursor = tokio::select! {
            page = client.day_changes(None, 0) => page.map_err(no_changes_endpoint)?.cursor,
            signal = shutdown.as_mut() => return Ok(Outcome::Interrupted { signal, resumable: true }),
        };
        let backlog = tokio::select! {
            days = self.backlog(&client) => days?,
            signal = shutdown.as_mut() => return Ok(Outcome::Interrupted { signal, resumable: true }),
        };
        eprintln!("following {}: {} days to bring up to date", self.options.base_url, backlog.len());
        for (day, revision) in backlog {
            if let Some(outcome) = self.export_day(day, revision, shutdown.as_mut()).await? {
                return Ok(outcome);
            }
        }
        loop {
            let page = tokio::select! {
                page = client.day_changes(Some(&cursor), POLL_WAIT_SECONDS) => page,
                signal = shutdown.as_mut() => return Ok(Outcome::Interrupted { signal, resumable: true }),
            };
            let page = match page {
                Ok(page) => page,
                Err(e) if e.is_retryable() => {
                    eprintln!(
                        "warning: waiting for new days failed ({e}); trying again in {POLL_FAILURE_PAUSE:?}"
                    );
                    tokio::select! {
                        () = tokio::time::sleep(POLL_FAILURE_PAUSE) => continue,
                        signal = shutdown.as_mut() => return Ok(Outcome::Interrupted { signal, resumable: true }),
                    }
                }
                Err(e) => return Err(no_changes_endpoint(e)),
            };
            for item in page.items {
                let Ok(day) = parse_date(&item.date) else { continue };
                if self.wants(day, item.revision) {
                    if let Some(outcome) = self.export_day(day, item.revision, shutdown.as_mut()).await? {
                        return Ok(outcome);
                    }
                }
            }
            cursor = page.cursor;
        }
    }

    /// Whether `day` at `revision` is still to export: a day after the last one exported, or one
    /// exported at an older revision.
    fn wants(&self, day: Date, revision: i64) -> bool {
        let key = format_date(day);
        match self.book.state.revisions.get(&key) {
            Some(&r) => revision > r,
            None => {
                let after_last = self.book.state.last_date.as_ref().is_none_or(|l| key > *l);
                after_last && self.start.is_none_or(|s| day >= s)
            }
        }
    }

    /// The published days still to export, by date, with their revisions now.
    async fn backlog(&self, client: &Client) -> Result<Vec<(Date, i64)>, ExportError> {
        let known = self.book.state.revisions.keys().filter_map(|d| parse_date(d).ok()).min();
        let after_last =
            self.book.state.last_date.as_deref().and_then(|d| parse_date(d).ok()).and_then(Date::next_day);
        let Some(first) = [known, after_last, self.start].into_iter().flatten().min() else {
            return Ok(Vec::new());
        };
        // Through tomorrow in UTC: the latest day any tenant's calendar can have published.
        let last = crate::plan::today_utc().next_day().unwrap_or(Date::MAX);
        let mut out = Vec::new();
        for (s, e) in split_windows(first, last, DAYS_MAX_DAYS) {
            let items = client
                .days(s, e)
                .await
                .map_err(ExportError::Days)?
                .ok_or_else(|| ExportError::Follow(NOT_ADMINSTATS.into()))?;
            for item in items.into_iter().filter(|i| i.published) {
                if let Ok(day) = parse_date(&item.date) {
                    if self.wants(day, item.revision) {
                        out.push((day, item.revision));
                    }
                }
            }
        }
        Ok(out)
    }

    /// Exports one day to its file, then records it at `revision`. `Some` when stopped.
    async fn export_day(
        &mut self,
        day: Date,
        revision: i64,
        shutdown: std::pin::Pin<&mut impl Future<Output = &'static str>>,
    ) -> Result<Option<Outcome>, ExportError> {
        let date = format_date(day);
        let ext = match self.options.format {
            Format::Csv => "csv",
            Format::Jsonl => "jsonl",
            Format::Parquet => "parquet",
        };
        let file = self.dir.join(format!("{date}.{ext}"));
        let options = Options {
            start_date: Some(date.clone()),
            end_date: Some(date.clone()),
            output: file.to_string_lossy().into_owned(),
            state: None,
            since_last: false,
            ..self.options.clone()
        };
        let plan = Plan::new(options).map_err(|e| ExportError::Follow(e.0))?;
        match run(plan, shutdown).await? {
            Outcome::Complete => {}
            Outcome::Interrupted { signal, .. } => {
                return Ok(Some(Outcome::Interrupted { signal, resumable: true }))
            }
        }
        let state = &mut self.book.state;
        state.revisions.insert(date.clone(), revision);
        if state.last_date.as_ref().is_none_or(|l| date > *l) {
            state.last_date = Some(date);
        }
        self.book.save(true).map_err(ExportError::State)?;
        Ok(None)
    }
}

/// Why `--follow` cannot run against Lark's own servers.
const NOT_ADMINSTATS: &str =
    "the server has no admin_user_stats/days/changes (Lark's own has none): --follow needs an adminstats server; use --since-last from a scheduler instead";

/// A failed `days/changes` call, saying so when the server does not have it.
fn no_changes_endpoint(e: adminstats_client::Error) -> ExportError {
    if e.status() == Some(404) {
        ExportError::Follow(NOT_ADMINSTATS.into())
    } else {
        ExportError::Days(e)
    }
}
