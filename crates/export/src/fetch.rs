//! The fetch loop: window tasks, `concurrency` at a time, each reading its range from the bulk
//! endpoint or page by page into its segment, and fetching again from its last checkpoint when
//! a retryable failure cuts it short.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use adminstats_client::{parse_date, Client, UserStatItem, UserStatsRequest};

use crate::error::{FetchError, WindowError};
use crate::plan::{Format, Source};
use crate::progress::Progress;
use crate::segments::{Segment, SegmentPrefix};
use crate::state::{Book, Checkpoint, WindowState};

/// Consecutive failures of one window, without progress, before the export gives up.
const MAX_WINDOW_FAILURES: u32 = 5;

/// Whether the server has the bulk endpoint: not known yet.
pub(crate) const MODE_UNKNOWN: u8 = 0;
/// The server has the bulk endpoint.
const MODE_BULK: u8 = 1;
/// Pages only: the server has no bulk endpoint, or `--source pages`.
pub(crate) const MODE_PAGES: u8 = 2;

/// What the window tasks share.
pub(crate) struct Shared {
    pub(crate) client: Client,
    pub(crate) request: UserStatsRequest,
    pub(crate) format: Format,
    pub(crate) source: Source,
    /// Whether the server has the bulk endpoint: learnt from the first answer.
    pub(crate) mode: AtomicU8,
    pub(crate) book: Mutex<Book>,
    pub(crate) progress: Progress,
    pub(crate) total_days: u64,
    pub(crate) rows: AtomicU64,
    pub(crate) segments: SegmentPrefix,
}

impl Shared {
    /// Records a window's new checkpoint, in memory and (at most every 250 ms, or when `force`)
    /// in the state file.
    fn checkpoint(&self, index: usize, cp: &Checkpoint, force: bool) -> std::io::Result<()> {
        let mut book = self.book.lock().unwrap_or_else(|p| p.into_inner());
        let Some(run) = book.state.run.as_mut() else { return Ok(()) };
        run.windows[index].cp = cp.clone();
        self.progress.estimate(run, self.total_days);
        book.save(force)
    }

    fn count_row(&self) {
        let n = self.rows.fetch_add(1, Ordering::Relaxed) + 1;
        // Drawing reads the clock: once per 64 rows is plenty (bulk streams 200k rows/s).
        if n.is_multiple_of(64) {
            self.progress.set_rows(n);
        }
    }

    /// How the rows came, for the closing summary.
    pub(crate) fn via(&self) -> &'static str {
        match self.mode.load(Ordering::Relaxed) {
            MODE_BULK => "bulk endpoint",
            _ => "pages",
        }
    }
}

/// Fetches every unfinished window, `concurrency` at a time; the first failure aborts the rest.
///
/// # Errors
/// The first window that failed for good.
pub(crate) async fn fetch_all(
    shared: &Arc<Shared>,
    windows: &[WindowState],
    concurrency: usize,
) -> Result<(), WindowError> {
    let mut pending =
        windows.iter().enumerate().filter(|(_, w)| !w.cp.done).map(|(i, _)| i).collect::<Vec<_>>();
    pending.reverse();
    let mut running = tokio::task::JoinSet::new();
    loop {
        while running.len() < concurrency {
            let Some(i) = pending.pop() else { break };
            let shared = shared.clone();
            let w = windows[i].clone();
            running.spawn(async move {
                let r = fetch_window(&shared, i, &w).await;
                r.map_err(|error| WindowError::Fetch { start: w.start, end: w.end, error })
            });
        }
        match running.join_next().await {
            None => return Ok(()),
            Some(Ok(Ok(()))) => {}
            Some(Ok(Err(e))) => return Err(e),
            Some(Err(join)) => return Err(WindowError::Task(join)),
        }
    }
}

/// Fetches one window into its segment, from its checkpoint to its end, retrying from the last
/// checkpoint after a retryable failure.
async fn fetch_window(shared: &Shared, index: usize, w: &WindowState) -> Result<(), FetchError> {
    let window_start = parse_date(&w.start).map_err(|_| FetchError::Protocol("bad state".into()))?;
    let window_end = parse_date(&w.end).map_err(|_| FetchError::Protocol("bad state".into()))?;
    let header = index == 0 && shared.format == Format::Csv;
    let path = shared.segments.segment(index);
    let mut seg = Segment::open(&path, window_start, &w.end, w.cp.clone(), header, shared.format)?;
    if seg.cp != w.cp {
        // The segment was shorter than recorded (lost): the window starts over.
        shared.checkpoint(index, &seg.cp, true)?;
    }
    let mut failures = 0;
    loop {
        let from =
            parse_date(&seg.cp.next_date).map_err(|_| FetchError::Protocol("bad checkpoint".into()))?;
        let request = shared.request.with_range(from, window_end);
        let before = (seg.cp.next_date.clone(), seg.cp.rows);
        let result = fetch_range(shared, index, &request, &mut seg).await;
        match result {
            Ok(()) => {
                seg.finish()?;
                shared.checkpoint(index, &seg.cp, true)?;
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
                let rows = shared.rows.fetch_sub(lost, Ordering::Relaxed) - lost;
                shared.progress.set_rows(rows);
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
    shared: &Shared,
    index: usize,
    request: &UserStatsRequest,
    seg: &mut Segment,
) -> Result<(), FetchError> {
    if shared.mode.load(Ordering::Relaxed) != MODE_PAGES {
        match shared.client.bulk_user_stats(&request.to_query()).await? {
            Some(mut rows) => {
                shared.mode.store(MODE_BULK, Ordering::Relaxed);
                while let Some(item) = rows.next_row().await? {
                    push(shared, index, seg, &item)?;
                }
                return Ok(());
            }
            None if shared.source == Source::Bulk => {
                return Err(FetchError::Protocol(
                    "the server has no bulk export endpoint (HTTP 404); use --source pages".into(),
                ))
            }
            None => shared.mode.store(MODE_PAGES, Ordering::Relaxed),
        }
    }
    let mut query = request.to_query();
    loop {
        let page = shared.client.list_user_stats(&query).await?;
        for item in &page.items {
            push(shared, index, seg, item)?;
        }
        match (page.has_more, page.page_token) {
            (true, Some(t)) if !t.is_empty() => query.page_token = Some(t),
            (true, _) => return Err(FetchError::Protocol("has_more without a page_token".into())),
            (false, _) => return Ok(()),
        }
    }
}

/// Writes one row to the segment, records the checkpoint if it moved, and counts the row.
fn push(shared: &Shared, index: usize, seg: &mut Segment, item: &UserStatItem) -> Result<(), FetchError> {
    if seg.push(item)? {
        shared.checkpoint(index, &seg.cp, false)?;
    }
    shared.count_row();
    Ok(())
}
