//! The output: the complete segments joined, in order, into the `--output` file (written under a
//! temporary name, synced, then renamed) or copied to stdout.
//!
//! A CSV or JSONL file output takes over the first segment and appends the others to it;
//! Parquet reads the segments' JSON lines back and encodes them as columns.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};

use crate::error::WriteError;
use crate::plan::{Format, Plan};
use crate::segments::SegmentPrefix;
use crate::state::WindowState;
use crate::writers;
use crate::writers::parquet::ParquetOut;

/// Writes the output of an export with no rows: a CSV header alone, an empty JSONL file, or a
/// Parquet file of no rows.
///
/// # Errors
/// The output cannot be written.
pub(crate) fn write_empty(plan: &Plan, segments: &SegmentPrefix) -> Result<(), WriteError> {
    write_output(plan, segments, |out| match plan.format {
        Format::Csv => writers::csv::write_empty(out),
        Format::Jsonl => Ok(()),
        Format::Parquet => ParquetOut::new(out)?.close(),
    })
}

/// Runs `write` on the output: stdout, or a temporary file renamed to the output when `write`
/// succeeds.
fn write_output(
    plan: &Plan,
    segments: &SegmentPrefix,
    write: impl FnOnce(&mut (dyn Write + Send)) -> Result<(), WriteError>,
) -> Result<(), WriteError> {
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

/// Joins the complete segments of `windows`, in order, into the output.
///
/// # Errors
/// A segment cannot be read, or the output cannot be written.
pub(crate) fn join_segments(
    plan: &Plan,
    segments: &SegmentPrefix,
    windows: &[WindowState],
) -> Result<(), WriteError> {
    let open = |i: usize| -> Result<io::Take<File>, WriteError> {
        let path = segments.segment(i);
        let f = File::open(&path).map_err(|source| WriteError::Segment { path, source })?;
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
                    let item = writers::jsonl::read_row(&line).map_err(WriteError::SegmentLine)?;
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
