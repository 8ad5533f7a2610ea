//! JSONL: one JSON object per row, exactly as on the wire, each ending in `\n`.
//! It is also what a Parquet run's segments hold until they are joined.

use std::io::{self, Write};

use adminstats_client::UserStatItem;

/// Writes one row and its newline.
///
/// # Errors
/// The underlying writer's.
pub(crate) fn write_row<W: Write>(w: &mut W, item: &UserStatItem) -> io::Result<()> {
    serde_json::to_writer(&mut *w, item).map_err(io::Error::from)?;
    w.write_all(b"\n")
}

/// Reads back one line written by [`write_row`].
///
/// # Errors
/// The line is not a row.
pub(crate) fn read_row(line: &[u8]) -> serde_json::Result<UserStatItem> {
    serde_json::from_slice(line)
}
