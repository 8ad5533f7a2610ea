//! Every error type of the export, and the message each prints.
//!
//! The messages are part of the command line's contract: the binary prints an [`ExportError`]
//! as its chain (`{:#}`), one line, so each type's `source` is chosen to print exactly the line
//! the command has always printed.
//! Where a message already contains its cause (a window's failure), there is no `source`.

use std::io;
use std::path::PathBuf;

/// A flag, or the state file it names, that cannot be used: one line, exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub(crate) String);

/// Why an export failed: exit code 1.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The directory of `--output` or `--state` does not exist.
    #[error("{flag} {}: the directory {} does not exist", path.display(), dir.display())]
    MissingDirectory {
        /// The flag, `--output` or `--state`.
        flag: &'static str,
        /// The file the flag names.
        path: PathBuf,
        /// Its directory.
        dir: PathBuf,
    },
    /// The temporary directory for the segments (when neither the output nor the state is a
    /// file) could not be made.
    #[error("cannot create a temporary directory")]
    TempDir(#[source] io::Error),
    /// The base URL cannot make a client.
    #[error("--base-url {base_url}: {error}")]
    BaseUrl {
        /// The `--base-url` given.
        base_url: String,
        /// Why the client refused it (in the message, not a source).
        error: adminstats_client::Error,
    },
    /// The server did not give a tenant access token (unreachable, or a wrong app id or secret).
    #[error("cannot get a tenant access token from {base_url}")]
    Token {
        /// The `--base-url` given.
        base_url: String,
        /// The client's error.
        #[source]
        source: adminstats_client::Error,
    },
    /// The fetching client could not be built.
    #[error(transparent)]
    Client(adminstats_client::Error),
    /// `--follow` cannot go on (the server is not adminstats, or a day's export is misconfigured).
    #[error("--follow: {0}")]
    Follow(String),
    /// `admin_user_stats/days` (which days are published, and their revisions) failed.
    #[error("cannot read which days are published and restated (admin_user_stats/days)")]
    Days(#[source] adminstats_client::Error),
    /// The state file could not be written.
    #[error("cannot write the state file")]
    State(#[source] io::Error),
    /// A window failed for good; with a state file a re-run continues where it stopped.
    #[error("export incomplete{}", resume_hint(*.resumable))]
    Incomplete {
        /// Whether a state file records what was complete.
        resumable: bool,
        /// The window that failed.
        #[source]
        source: WindowError,
    },
    /// The segments could not be joined into the output.
    #[error("cannot write {output}")]
    Write {
        /// The `--output` given (`-` for stdout).
        output: String,
        /// What failed.
        #[source]
        source: WriteError,
    },
    /// The empty output of a `--since-last` run with nothing new could not be written.
    #[error(transparent)]
    Output(WriteError),
}

fn resume_hint(resumable: bool) -> &'static str {
    if resumable {
        "; re-run with the same --state to continue"
    } else {
        ""
    }
}

impl ExportError {
    /// Whether writing the output failed because its reader went away (`export | head`), which is
    /// no failure of the export.
    ///
    /// An [`io::Error`] in the [`std::error::Error::source`] chain answers this for itself; this
    /// covers the write errors that print as the bare `io::Error`, and so are not in the chain.
    pub fn is_broken_pipe(&self) -> bool {
        match self {
            ExportError::Write { source, .. } | ExportError::Output(source) => source.is_broken_pipe(),
            _ => false,
        }
    }
}

/// Why one window of the export stopped for good.
///
/// Its message contains its cause, so it has no `source`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WindowError {
    /// Fetching or writing the window failed after its retries.
    #[error("{start} to {end}: {error}")]
    Fetch {
        /// The window's first date.
        start: String,
        /// The window's last date.
        end: String,
        /// What failed.
        error: FetchError,
    },
    /// The window's task panicked or was cancelled.
    #[error("a window task failed: {0}")]
    Task(tokio::task::JoinError),
}

/// Why fetching a window stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The client's error; [`adminstats_client::Error::is_retryable`] says whether fetching
    /// again from the last checkpoint may help.
    #[error(transparent)]
    Client(#[from] adminstats_client::Error),
    /// Writing the segment (or the state file) failed.
    #[error("writing a segment: {0}")]
    Io(#[from] io::Error),
    /// The server broke a promise of the API (order, range); fetching again will not help.
    #[error("{0}")]
    Protocol(String),
}

/// Why the output could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// Reading a segment or writing the output failed.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// A segment could not be opened.
    #[error("segment {}", path.display())]
    Segment {
        /// The segment's path.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A line of a Parquet run's JSONL segment is not a row.
    #[error("a segment line")]
    SegmentLine(#[source] serde_json::Error),
    /// The CSV writer failed.
    #[error(transparent)]
    Csv(#[from] csv::Error),
    /// The Parquet writer failed.
    #[error(transparent)]
    Parquet(#[from] parquet::errors::ParquetError),
    /// A row's cell has another type than its Parquet column (a bug).
    #[error("a cell does not match its column type")]
    CellType,
    /// The Parquet schema has more columns than a row has fields (a bug).
    #[error("more Parquet columns than fields")]
    ExtraColumn,
}

impl WriteError {
    /// Whether this is the output's reader going away (`export | head`).
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, WriteError::Io(e) if e.kind() == io::ErrorKind::BrokenPipe)
    }
}
