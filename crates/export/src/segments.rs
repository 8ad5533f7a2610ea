//! Segment files: where each window's rows are written, in the server's order, before the
//! output exists.
//!
//! A segment is named after the output (`.{name}.adminstats.partNNNN`), beside it; beside the
//! state file when the output is stdout; else in a temporary directory of our own.
//! [`Segment`] moves its window's checkpoint whenever a new date starts, and can be cut back to
//! it: the bytes before the checkpoint's offset are exactly the rows of the dates before its
//! `next_date`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use adminstats_client::{parse_date, UserStatItem};
use time::Date;

use crate::error::FetchError;
use crate::plan::Format;
use crate::state::Checkpoint;
use crate::writers;

/// No run has more windows than this (a bound for cleaning up after an interrupted one).
pub(crate) const MAX_SEGMENTS: usize = 10_000;

/// Where a run's segment files live.
#[derive(Debug, Clone)]
pub(crate) struct SegmentPrefix {
    prefix: PathBuf,
    /// A directory of our own, removed at the end.
    temp_dir: Option<PathBuf>,
}

impl SegmentPrefix {
    /// The prefix of the segment files: beside the output, beside the state file when the
    /// output is stdout, else in a fresh temporary directory.
    ///
    /// # Errors
    /// The temporary directory cannot be made.
    pub(crate) fn new(output: Option<&Path>, state: Option<&Path>) -> io::Result<SegmentPrefix> {
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

    /// The temporary directory of our own, if the segments are in one.
    pub(crate) fn temp_dir(&self) -> Option<&Path> {
        self.temp_dir.as_deref()
    }

    /// The segment file of window `index`.
    pub(crate) fn segment(&self, index: usize) -> PathBuf {
        let mut p = self.prefix.clone().into_os_string();
        p.push(format!(".part{index:04}"));
        PathBuf::from(p)
    }

    /// The temporary name of the output being written.
    pub(crate) fn joined(&self) -> PathBuf {
        let mut p = self.prefix.clone().into_os_string();
        p.push(".tmp");
        PathBuf::from(p)
    }

    /// Removes the segments of `windows` windows, the joined file and our temporary directory,
    /// ignoring failures.
    pub(crate) fn remove_all(&self, windows: usize) {
        for i in 0..windows {
            let _ = fs::remove_file(self.segment(i));
        }
        let _ = fs::remove_file(self.joined());
        if let Some(d) = &self.temp_dir {
            let _ = fs::remove_dir_all(d);
        }
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

/// The encoder of a segment: CSV records, or JSON lines (JSONL and Parquet runs).
enum Sink {
    Csv(Box<csv::Writer<SegmentFile>>),
    Lines(SegmentFile),
}

/// One window's segment file, being written.
pub(crate) struct Segment {
    path: PathBuf,
    window_start: Date,
    window_end: String,
    header: bool,
    format: Format,
    sink: Sink,
    /// The last durable point.
    pub(crate) cp: Checkpoint,
    /// The date being written, whose rows are not in `cp` yet.
    current: Option<String>,
    /// The rows of `current` written so far.
    pub(crate) pending: u64,
}

impl Segment {
    /// Opens the segment at its checkpoint: anything after it is cut off. A segment shorter than
    /// its checkpoint (lost) starts the window over. With `header`, a new CSV segment starts with
    /// the header record.
    ///
    /// # Errors
    /// The file cannot be opened, cut, or written.
    pub(crate) fn open(
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
            Format::Csv => Sink::Csv(Box::new(writers::csv::records(out))),
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
                writers::csv::write_header(w)?;
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
    ///
    /// # Errors
    /// [`FetchError::Protocol`] for a row out of order or outside the window;
    /// [`FetchError::Io`] when the file cannot be written.
    pub(crate) fn push(&mut self, item: &UserStatItem) -> Result<bool, FetchError> {
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
            Sink::Csv(w) => writers::csv::write_row(w, item)?,
            Sink::Lines(w) => writers::jsonl::write_row(w, item)?,
        }
        self.pending += 1;
        Ok(moved)
    }

    /// Marks the window complete.
    ///
    /// # Errors
    /// The file cannot be flushed.
    pub(crate) fn finish(&mut self) -> io::Result<()> {
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
    ///
    /// # Errors
    /// As [`Segment::open`].
    pub(crate) fn rollback(self) -> io::Result<Segment> {
        let Segment { path, window_start, window_end, header, format, sink, cp, .. } = self;
        drop(sink);
        Segment::open(&path, window_start, &window_end, cp, header, format)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
