//! The `--state` file: what it holds (the source it is about, the last date exported, the
//! unfinished run and each window's checkpoint), how it is read and checked, and how it is saved
//! (atomically, at most every 250 ms unless forced).
//!
//! Every type written to the file is declared here, so the file's format is this module.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use adminstats_client::{format_date, parse_date};
use serde::{Deserialize, Serialize};
use time::Date;

use crate::error::UsageError;
use crate::plan::Format;

/// The state file is rewritten at most this often (and always when a window completes).
const STATE_SAVE_INTERVAL: Duration = Duration::from_millis(250);

/// The version of the state file's format.
const STATE_VERSION: u32 = 1;

/// Where a window stands: every row of the dates before `next_date` is in the first `offset`
/// bytes of its segment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Checkpoint {
    pub(crate) next_date: String,
    pub(crate) offset: u64,
    pub(crate) rows: u64,
    /// The last date rows were received for.
    pub(crate) last_date: Option<String>,
    pub(crate) done: bool,
}

impl Checkpoint {
    /// The checkpoint of a window not started: nothing written, `start` next.
    pub(crate) fn at(start: Date) -> Self {
        Checkpoint { next_date: format_date(start), offset: 0, rows: 0, last_date: None, done: false }
    }
}

/// What the state file is about: exporting another server's, app's or filter's rows with it is
/// refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Identity {
    pub(crate) base_url: String,
    pub(crate) app_id: String,
    pub(crate) department_id: Option<String>,
    pub(crate) department_id_type: Option<String>,
    pub(crate) user_id_type: Option<String>,
}

/// Which run a state describes: a re-run resumes it only if all of these are the same.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RunKey {
    /// The first and last date of the new days (both empty when only restated days are fetched).
    pub(crate) start: String,
    pub(crate) end: String,
    /// Days exported before and restated since (`--since-last`), fetched again ahead of the new ones.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) restated: Vec<String>,
    pub(crate) format: Format,
    pub(crate) output: String,
}

/// An unfinished run: its key and where each of its windows stands.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RunState {
    #[serde(flatten)]
    pub(crate) key: RunKey,
    pub(crate) windows: Vec<WindowState>,
    /// The revision of each published day of the run, as `admin_user_stats/days` said before its
    /// first row was fetched (empty on a server without it). Recorded as exported when the run
    /// completes: a day restated during the run is fetched again by the next `--since-last`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) revisions: BTreeMap<String, i64>,
}

/// One window of a run: its dates (inclusive) and its checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct WindowState {
    pub(crate) start: String,
    pub(crate) end: String,
    #[serde(flatten)]
    pub(crate) cp: Checkpoint,
}

impl WindowState {
    /// The window's days whose rows are all in its segment.
    pub(crate) fn days_done(&self) -> u64 {
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
pub(crate) struct State {
    version: u32,
    #[serde(flatten)]
    identity: Identity,
    /// The last date a completed run received rows for (`--since-last` starts the day after).
    pub(crate) last_date: Option<String>,
    /// The revision at which each published day was exported (adminstats servers only):
    /// `--since-last` fetches again every day whose revision has moved since.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) revisions: BTreeMap<String, i64>,
    /// The unfinished run, if any.
    pub(crate) run: Option<RunState>,
}

/// The state, and the file it is kept in (none without `--state`).
#[derive(Debug)]
pub(crate) struct Book {
    path: Option<PathBuf>,
    pub(crate) state: State,
    last_save: Option<Instant>,
}

impl Book {
    /// A book kept in no file, standing in while the real one is shared with the window tasks.
    pub(crate) fn detached() -> Book {
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
                revisions: BTreeMap::new(),
                run: None,
            },
            last_save: None,
        }
    }

    /// Reads the state file if it exists; refuses one written for another source.
    ///
    /// # Errors
    /// A [`UsageError`] naming `--state` when the file cannot be read, is not a state file, has
    /// another version, or was written for another base URL, app or filter.
    pub(crate) fn load(path: Option<PathBuf>, identity: Identity) -> Result<Book, UsageError> {
        let fresh = State {
            version: STATE_VERSION,
            identity: identity.clone(),
            last_date: None,
            revisions: BTreeMap::new(),
            run: None,
        };
        let Some(p) = path else { return Ok(Book { path: None, state: fresh, last_save: None }) };
        let state = match fs::read(&p) {
            Ok(bytes) => {
                let state: State = serde_json::from_slice(&bytes).map_err(|e| {
                    UsageError(format!("--state {}: not an adminstats export state file: {e}", p.display()))
                })?;
                if state.version != STATE_VERSION {
                    return Err(UsageError(format!(
                        "--state {}: version {} is not {STATE_VERSION}",
                        p.display(),
                        state.version
                    )));
                }
                if state.identity != identity {
                    return Err(UsageError(format!(
                        "--state {}: written for another export (base URL, app or filters differ); use another state file",
                        p.display()
                    )));
                }
                state
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => fresh,
            Err(e) => return Err(UsageError(format!("--state {}: {e}", p.display()))),
        };
        Ok(Book { path: Some(p), state, last_save: None })
    }

    /// Writes the state file (atomically: a temporary file renamed over it), unless it was
    /// written less than 250 ms ago and `force` is false.
    ///
    /// # Errors
    /// The temporary file cannot be written or renamed.
    pub(crate) fn save(&mut self, force: bool) -> io::Result<()> {
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
                restated: vec![],
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
            revisions: BTreeMap::new(),
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
}
