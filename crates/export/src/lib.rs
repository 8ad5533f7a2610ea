//! `adminstats export` as a library: every row of any date range, from any server that speaks the
//! API (ours, Feishu's or Lark's), into CSV, JSONL or Parquet — resumable, incremental, and never a
//! silently partial file.
//!
//! How a run goes:
//! 1. The range is split into windows of at most 31 days, fetched concurrently by tasks sharing
//!    one [`adminstats_client::Client`] (so one token and one rate limit).
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
//! Against adminstats, the state also keeps the revision each day was exported at (read from
//! `admin_user_stats/days` before the day's first row), and `--since-last` fetches again, ahead
//! of the new days, every exported day whose revision has moved: a late event's restatement
//! reaches the next nightly file. Lark's servers do not say, so there only new days are fetched.
//!
//! `--follow` ([`Follow`]) keeps running instead: one file per day in a directory, each written
//! when the day is published or restated, woken by the long poll of
//! `admin_user_stats/days/changes`.
//!
//! The caller turns flags into [`Options`], checks them with [`Plan::new`] (a [`UsageError`] is
//! exit code 2), and hands the plan to [`run()`] with a shutdown future ([`stop_signal`] for a
//! command line).
//! The library writes the export's own lines to stderr (the progress bar, notes, the closing
//! summary); errors and exit codes are the caller's.
//!
//! # Layout
//! - `plan`: [`Options`] (the flags, one to one) checked into a [`Plan`];
//! - `run`: [`run()`], one export from the probe of the server to the rename of the output;
//! - `follow`: [`Follow`], one export per day as days are published or restated;
//! - `fetch`: the window tasks, the bulk-or-pages choice, retries from the last checkpoint;
//! - `segments`: one window's segment file, its checkpoints and rollback;
//! - `output`: joining the segments into the output file or stdout;
//! - `writers`: row encoders, one module per format (`csv`, `jsonl`, `parquet`);
//! - `state`: the `--state` file, its format and its atomic saves;
//! - `progress`: the progress bar (hidden unless stderr is a terminal);
//! - `signals`: [`stop_signal`], the signals that stop an export;
//! - `error`: every error type, and the message each prints.

#![warn(missing_docs, clippy::missing_errors_doc)]

mod error;
mod fetch;
mod follow;
mod output;
mod plan;
mod progress;
mod run;
mod segments;
mod signals;
mod state;
mod writers;

pub use adminstats_client::{DepartmentIdType, UserIdType, DEFAULT_RATE_LIMIT};
pub use error::{ExportError, FetchError, UsageError, WindowError, WriteError};
pub use follow::Follow;
pub use plan::{Format, Options, Plan, Source, SECRET_ENV};
pub use run::{run, Outcome};
pub use signals::stop_signal;
