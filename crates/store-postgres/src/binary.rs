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

#[cfg(test)]
mod tests {
    use super::*;

    /// The bytes of `COPY … BINARY` as PostgreSQL's documentation lays them out: the header, a
    /// row's field count, each field's length (−1 for NULL) and bytes, the trailer; and data sent
    /// in parts is the same bytes.
    #[test]
    fn rows_are_copy_binary_format() {
        let types = [Type::TEXT, Type::INT4, Type::INT8, Type::INT8, Type::TEXT_ARRAY];
        let none: Option<i64> = None;
        let pairs = vec!["a"];
        let mut data = CopyData::new();
        data.row(&types, &[&"t", &7i32, &-1i64, &none, &pairs]).unwrap();
        let first = data.split();
        data.row(&types, &[&"", &0i32, &0i64, &none, &Vec::<&str>::new()]).unwrap();
        let mut all = first.to_vec();
        all.extend_from_slice(&data.finish());

        let mut want: Vec<u8> = b"PGCOPY\n\xff\r\n\0".to_vec();
        want.extend([0, 0, 0, 0, 0, 0, 0, 0]); // flags, header extension
        want.extend(5i16.to_be_bytes());
        want.extend(1i32.to_be_bytes());
        want.extend(b"t");
        want.extend(4i32.to_be_bytes());
        want.extend(7i32.to_be_bytes());
        want.extend(8i32.to_be_bytes());
        want.extend((-1i64).to_be_bytes());
        // NULL.
        want.extend((-1i32).to_be_bytes());
        // A one-dimensional text array of one element: dims, no nulls, element type, length and
        // lower bound, then the element.
        want.extend(25i32.to_be_bytes());
        for v in [1i32, 0, 25, 1, 1, 1] {
            want.extend(v.to_be_bytes());
        }
        want.extend(b"a");
        want.extend(5i16.to_be_bytes());
        want.extend(0i32.to_be_bytes());
        want.extend(4i32.to_be_bytes());
        want.extend(0i32.to_be_bytes());
        want.extend(8i32.to_be_bytes());
        want.extend(0i64.to_be_bytes());
        want.extend((-1i32).to_be_bytes());
        // The empty array, as `postgres-types` writes it: one dimension of length 0.
        want.extend(20i32.to_be_bytes());
        for v in [1i32, 0, 25, 0, 1] {
            want.extend(v.to_be_bytes());
        }
        want.extend((-1i16).to_be_bytes());
        assert_eq!(all, want);
    }

    /// A value that is not of its column's type is an error, not bytes.
    #[test]
    fn a_value_of_the_wrong_type_is_refused() {
        let mut data = CopyData::new();
        assert!(data.row(&[Type::INT4], &[&"seven"]).is_err());
    }
}
