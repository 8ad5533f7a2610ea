//! Binary `COPY` data, encoded by `postgres-types` into one buffer and sent in one go.
//!
//! The `postgres` crate's `BinaryCopyInWriter` enters its connection's runtime for every row: a
//! fifth of a server's time when it ingests 1,000-row batches. [`CopyData`] writes the same bytes
//! (`COPY … FROM STDIN BINARY`'s format: a header; each row as its field count, then each field's
//! length and bytes; a trailer) into a buffer, and [`copy_in`] hands a batch's to the connection
//! at once.

use std::error::Error;
use std::io::Write as _;

use bytes::{BufMut, Bytes, BytesMut};
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{IsNull, ToSql, Type};
use postgres::Transaction;

/// The signature, flags and header extension length that open binary `COPY` data.
const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// Rows of binary `COPY` data.
pub(crate) struct CopyData {
    buf: BytesMut,
}

impl CopyData {
    /// Data with its header.
    pub(crate) fn new() -> CopyData {
        let mut buf = BytesMut::with_capacity(64 * 1024);
        buf.put_slice(HEADER);
        CopyData { buf }
    }

    /// Appends a row of `cells`, each encoded as its type in `types` says.
    ///
    /// # Errors
    /// A value that cannot be encoded as its type (the data is then unusable).
    pub(crate) fn row(
        &mut self,
        types: &[Type],
        cells: &[&(dyn ToSql + Sync)],
    ) -> Result<(), Box<dyn Error + Sync + Send>> {
        let fields = i16::try_from(cells.len())?;
        self.buf.put_i16(fields);
        for (cell, ty) in cells.iter().zip(types) {
            let at = self.buf.len();
            self.buf.put_i32(0);
            let len = match cell.to_sql_checked(ty, &mut self.buf)? {
                IsNull::Yes => -1,
                IsNull::No => i32::try_from(self.buf.len() - at - 4)?,
            };
            self.buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
        }
        Ok(())
    }

    /// The bytes written so far, leaving the data empty (to be sent in parts).
    pub(crate) fn split(&mut self) -> Bytes {
        self.buf.split().freeze()
    }

    /// The rest of the data, with its trailer.
    pub(crate) fn finish(mut self) -> Bytes {
        self.buf.put_i16(-1);
        self.buf.freeze()
    }
}

/// Runs `copy` (`COPY … FROM STDIN BINARY`) with `rows` of `types`, sent in one go; or, should a
/// value not encode, through the crate's writer, whose error says which.
///
/// # Errors
/// The database's (a unique violation, say), or the connection's.
pub(crate) fn copy_in(
    tx: &mut Transaction<'_>,
    copy: &str,
    types: &[Type],
    rows: &[Vec<&(dyn ToSql + Sync)>],
) -> Result<u64, postgres::Error> {
    let mut sink = tx.copy_in(copy)?;
    let mut data = CopyData::new();
    if rows.iter().try_for_each(|r| data.row(types, r)).is_err() {
        let mut writer = BinaryCopyInWriter::new(sink, types);
        for r in rows {
            writer.write(r)?;
        }
        return writer.finish();
    }
    if let Err(e) = sink.write_all(&data.finish()) {
        // The writer wraps the connection's error; `finish` reports a broken one too.
        if let Some(Ok(e)) = e.into_inner().map(|inner| inner.downcast::<postgres::Error>()) {
            return Err(*e);
        }
    }
    sink.finish()
}
