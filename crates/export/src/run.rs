//! One export, from start to finish: the output's directory checked, the server probed, the
//! state's unfinished run resumed or dropped, the windows fetched, the segments joined, the
//! state file brought up to date; or, on a signal, the segments left for a re-run.

use std::fs;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicU8};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use std::collections::BTreeMap;

use adminstats_client::{format_date, parse_date, split_windows, Client, RetryPolicy};
use time::Date;

use crate::error::ExportError;
use crate::fetch::{fetch_all, Shared, MODE_PAGES, MODE_UNKNOWN};
use crate::output::{join_segments, write_empty};
use crate::plan::{Plan, Source};

/// The longest range one `admin_user_stats/days` request may ask for.
const DAYS_MAX_DAYS: u32 = adminstats_client::DAYS_MAX_DAYS;
use crate::progress::Progress;
use crate::segments::{SegmentPrefix, MAX_SEGMENTS};
use crate::state::{Book, Checkpoint, RunState, WindowState};

/// How an export ended, short of an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every row is in the output, and the state file (if any) records the run as complete.
    Complete,
    /// `shutdown` resolved first.
    /// Without a state file the segments are removed; with one they stay, and a re-run with the
    /// same state continues where this one stopped.
    Interrupted {
        /// What `shutdown` resolved to: the signal's name.
        signal: &'static str,
        /// Whether a state file records what was complete.
        resumable: bool,
    },
}

/// Runs the export `plan` describes, until it completes or `shutdown` resolves.
///
/// # Errors
/// Anything that could not be fetched or written; see [`ExportError`] for each case and
/// [`ExportError::is_broken_pipe`] for a reader of stdout that went away.
pub async fn run(
    mut plan: Plan,
    shutdown: impl Future<Output = &'static str>,
) -> Result<Outcome, ExportError> {
    for (flag, path) in [("--output", plan.output.as_deref()), ("--state", plan.state_path.as_deref())] {
        let Some(path) = path else { continue };
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if !dir.is_dir() {
            return Err(ExportError::MissingDirectory { flag, path: path.to_owned(), dir: dir.to_owned() });
        }
    }
    let segments = SegmentPrefix::new(plan.output.as_deref(), plan.state_path.as_deref())
        .map_err(ExportError::TempDir)?;
    let mut book = std::mem::replace(&mut plan.book, Book::detached());
    let outcome = tokio::select! {
        result = export(&plan, &mut book, &segments) => result.map(|()| Outcome::Complete),
        signal = shutdown => {
            // The window tasks are aborted with the export future. Without a state file nothing
            // can resume, so the segments go; with one, they stay for the next run.
            let resumable = plan.state_path.is_some();
            if !resumable {
                segments.remove_all(MAX_SEGMENTS);
            }
            Ok(Outcome::Interrupted { signal, resumable })
        }
    };
    if let Some(dir) = segments.temp_dir() {
        // Ours alone, and nothing in it can be resumed without a state file.
        let _ = fs::remove_dir_all(dir);
    }
    outcome
}

async fn export(plan: &Plan, book: &mut Book, segments: &SegmentPrefix) -> Result<(), ExportError> {
    if plan.range.is_none() && !plan.since_last_checks_restated(book) {
        return nothing_new(plan, book, segments);
    }

    // The URL and the credentials, checked before anything is written, with few retries: an
    // unreachable server or a wrong secret is reported in a second, not after a minute of backoff.
    let probe = Client::builder(&plan.app_id, &plan.app_secret)
        .base_url(&plan.base_url)
        .retry(RetryPolicy { max_attempts: 3, ..RetryPolicy::default() })
        .build()
        .map_err(|error| ExportError::BaseUrl { base_url: plan.base_url.clone(), error })?;
    probe
        .tenant_access_token()
        .await
        .map_err(|source| ExportError::Token { base_url: plan.base_url.clone(), source })?;

    let restated =
        if plan.since_last { restated_days(&probe, &book.state.revisions).await? } else { Vec::new() };
    let restated: Vec<Date> =
        restated.into_iter().filter(|d| plan.range.is_none_or(|(start, _)| *d < start)).collect();
    let Some(key) = plan.run_key(&restated) else {
        return nothing_new(plan, book, segments);
    };

    // Resume the state's unfinished run if it is this one; else drop its files and start afresh.
    if let Some(old) = book.state.run.take() {
        if old.key == key {
            book.state.run = Some(old);
        } else {
            let old_output = (old.key.output != "-").then(|| PathBuf::from(&old.key.output));
            if let Ok(p) = SegmentPrefix::new(old_output.as_deref(), plan.state_path.as_deref()) {
                p.remove_all(old.windows.len());
            }
            eprintln!(
                "note: the state file's unfinished export ({} to {}, {}) is dropped",
                old.key.start, old.key.end, old.key.output
            );
        }
    }
    if book.state.run.is_none() {
        let spans = plan.windows(&restated);
        // What each day's revision is before any of its rows are fetched (kept with a state file).
        let revisions = if plan.state_path.is_some() {
            published_revisions(&probe, &spans).await?
        } else {
            BTreeMap::new()
        };
        book.state.run = Some(RunState {
            key: key.clone(),
            windows: spans
                .into_iter()
                .map(|(s, e)| WindowState {
                    start: format_date(s),
                    end: format_date(e),
                    cp: Checkpoint::at(s),
                })
                .collect(),
            revisions,
        });
    }
    let run = book.state.run.as_ref().expect("just set");
    let windows = run.windows.clone();
    book.save(true).map_err(ExportError::State)?;
    if !restated.is_empty() {
        let list: Vec<String> = restated.iter().map(|&d| format_date(d)).collect();
        eprintln!("restated since exported, fetched again: {}", list.join(", "));
    }

    let total_days: u64 = windows
        .iter()
        .filter_map(|w| Some((parse_date(&w.start).ok()?, parse_date(&w.end).ok()?)))
        .map(|(s, e)| u64::try_from((e - s).whole_days() + 1).unwrap_or(0))
        .sum();
    let progress = Progress::new(windows.iter().map(|w| w.cp.rows).sum());
    if let Some(run) = &book.state.run {
        progress.estimate(run, total_days);
    }

    let mut client = Client::builder(&plan.app_id, &plan.app_secret).base_url(&plan.base_url);
    if let Some(rate) = plan.rate_limit {
        client = client.rate_limit(rate);
    }
    let client = client
        .retry(RetryPolicy {
            max_attempts: plan.max_attempts,
            base_delay: Duration::from_millis(200),
            ..RetryPolicy::default()
        })
        .build()
        .map_err(ExportError::Client)?;

    let shared = Arc::new(Shared {
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

    let result = fetch_all(&shared, &windows, plan.concurrency).await;
    let mut book_back = shared.book.lock().unwrap_or_else(|p| p.into_inner());
    *book = std::mem::replace(&mut *book_back, Book::detached());
    drop(book_back);
    if let Err(source) = result {
        progress.abandon();
        let _ = book.save(true);
        let resumable = plan.state_path.is_some();
        if !resumable {
            segments.remove_all(windows.len());
        }
        return Err(ExportError::Incomplete { resumable, source });
    }

    let run = book.state.run.clone().expect("the run is in the book");
    let rows: u64 = run.windows.iter().map(|w| w.cp.rows).sum();
    progress.set_message(format!("{rows} rows; writing {}", plan.output_name));
    join_segments(plan, segments, &run.windows)
        .map_err(|source| ExportError::Write { output: plan.output_name.clone(), source })?;
    segments.remove_all(run.windows.len());
    progress.finish_and_clear();

    let last = run.windows.iter().filter_map(|w| w.cp.last_date.clone()).max();
    if last > book.state.last_date {
        book.state.last_date = last;
    }
    book.state.revisions.extend(run.revisions.clone());
    book.state.run = None;
    book.save(true).map_err(ExportError::State)?;

    let secs = plan.started.elapsed().as_secs_f64();
    let (first, last) = (
        run.windows.first().map_or("", |w| w.start.as_str()),
        run.windows.last().map_or("", |w| w.end.as_str()),
    );
    eprintln!(
        "exported {rows} rows, {first} to {last}, to {} in {secs:.1}s ({:.0} rows/s, {})",
        plan.output_name,
        rows as f64 / secs.max(1e-9),
        shared.via()
    );
    Ok(())
}

/// A `--since-last` run with no new day and no restated one: an empty export.
fn nothing_new(plan: &Plan, book: &Book, segments: &SegmentPrefix) -> Result<(), ExportError> {
    let last = book.state.last_date.clone().unwrap_or_default();
    let written = write_empty(plan, segments);
    segments.remove_all(0);
    written.map_err(ExportError::Output)?;
    eprintln!("nothing new since {last}: wrote an empty export to {}", plan.output_name);
    Ok(())
}

/// The days of `exported` whose revision on the server has moved past the one recorded, by date.
/// Empty, with a note, when the server does not say (Lark's has no `admin_user_stats/days`).
async fn restated_days(client: &Client, exported: &BTreeMap<String, i64>) -> Result<Vec<Date>, ExportError> {
    let dates: Vec<Date> = exported.keys().filter_map(|d| parse_date(d).ok()).collect();
    let (Some(&first), Some(&last)) = (dates.first(), dates.last()) else { return Ok(Vec::new()) };
    let mut restated = Vec::new();
    for (s, e) in split_windows(first, last, DAYS_MAX_DAYS) {
        let Some(items) = client.days(s, e).await.map_err(ExportError::Days)? else {
            eprintln!("note: the server has no admin_user_stats/days: days restated after export are not fetched again");
            return Ok(Vec::new());
        };
        for item in items {
            if exported.get(&item.date).is_some_and(|&r| item.revision > r) {
                restated.extend(parse_date(&item.date).ok());
            }
        }
    }
    Ok(restated)
}

/// The revision of every published day of `spans`, as the server says now (empty on a server
/// without `admin_user_stats/days`).
async fn published_revisions(
    client: &Client,
    spans: &[(Date, Date)],
) -> Result<BTreeMap<String, i64>, ExportError> {
    let mut out = BTreeMap::new();
    for &(s, e) in spans {
        for (s, e) in split_windows(s, e, DAYS_MAX_DAYS) {
            let Some(items) = client.days(s, e).await.map_err(ExportError::Days)? else { return Ok(out) };
            out.extend(items.into_iter().filter(|i| i.published).map(|i| (i.date, i.revision)));
        }
    }
    Ok(out)
}
