//! Parquet: typed columns (required UTF-8 strings and int64, named as the API's fields),
//! Snappy-compressed, in row groups of 32,768 rows.

use std::io::Write;
use std::sync::Arc;

use adminstats_client::UserStatItem;
use parquet::file::writer::SerializedFileWriter;

use super::{cells, Cell};
use crate::error::WriteError;

/// Rows per Parquet row group: about 20 MB of column buffers.
pub(crate) const PARQUET_ROW_GROUP: usize = 32 * 1024;

/// A Parquet file being written row group by row group.
pub(crate) struct ParquetOut<'a> {
    writer: SerializedFileWriter<&'a mut (dyn Write + Send)>,
    columns: Vec<Column>,
    rows: usize,
}

/// One column's values of the row group being gathered.
enum Column {
    Str(Vec<parquet::data_type::ByteArray>),
    Int(Vec<i64>),
}

impl<'a> ParquetOut<'a> {
    /// Starts a file on `out`: the schema is [`UserStatItem::FIELDS`], typed by [`cells`].
    ///
    /// # Errors
    /// The schema or the file header cannot be written.
    pub(crate) fn new(out: &'a mut (dyn Write + Send)) -> Result<Self, WriteError> {
        use parquet::basic::Compression;
        use parquet::file::properties::WriterProperties;
        let fields: Vec<String> = UserStatItem::FIELDS
            .iter()
            .zip(cells(&UserStatItem::default()))
            .map(|(name, cell)| match cell {
                Cell::Str(_) => format!("required binary {name} (STRING);"),
                Cell::Int(_) => format!("required int64 {name};"),
            })
            .collect();
        let schema = parquet::schema::parser::parse_message_type(&format!(
            "message admin_user_stats {{ {} }}",
            fields.join(" ")
        ))?;
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_created_by(concat!("adminstats export ", env!("CARGO_PKG_VERSION")).to_owned())
            .build();
        let writer = SerializedFileWriter::new(out, Arc::new(schema), Arc::new(props))?;
        let columns = cells(&UserStatItem::default())
            .iter()
            .map(|c| match c {
                Cell::Str(_) => Column::Str(Vec::with_capacity(PARQUET_ROW_GROUP)),
                Cell::Int(_) => Column::Int(Vec::with_capacity(PARQUET_ROW_GROUP)),
            })
            .collect();
        Ok(ParquetOut { writer, columns, rows: 0 })
    }

    /// Adds a row; writes the row group when it is full.
    ///
    /// # Errors
    /// The row group cannot be written.
    pub(crate) fn push(&mut self, item: &UserStatItem) -> Result<(), WriteError> {
        for (column, cell) in self.columns.iter_mut().zip(cells(item)) {
            match (column, cell) {
                (Column::Str(v), Cell::Str(s)) => v.push(s.as_bytes().to_vec().into()),
                (Column::Int(v), Cell::Int(n)) => v.push(n),
                _ => return Err(WriteError::CellType),
            }
        }
        self.rows += 1;
        if self.rows == PARQUET_ROW_GROUP {
            self.flush_group()?;
        }
        Ok(())
    }

    fn flush_group(&mut self) -> Result<(), WriteError> {
        use parquet::data_type::{ByteArrayType, Int64Type};
        if self.rows == 0 {
            return Ok(());
        }
        let mut group = self.writer.next_row_group()?;
        let mut columns = self.columns.iter_mut();
        while let Some(mut col) = group.next_column()? {
            match columns.next() {
                Some(Column::Str(v)) => {
                    col.typed::<ByteArrayType>().write_batch(v, None, None)?;
                    v.clear();
                }
                Some(Column::Int(v)) => {
                    col.typed::<Int64Type>().write_batch(v, None, None)?;
                    v.clear();
                }
                None => return Err(WriteError::ExtraColumn),
            }
            col.close()?;
        }
        group.close()?;
        self.rows = 0;
        Ok(())
    }

    /// Writes the last row group and the footer.
    ///
    /// # Errors
    /// They cannot be written.
    pub(crate) fn close(mut self) -> Result<(), WriteError> {
        self.flush_group()?;
        self.writer.close()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::fs::File;

    use super::*;
    use crate::writers::distinct_item;

    #[test]
    fn parquet_output_reads_back_typed() {
        use parquet::file::reader::{FileReader, SerializedFileReader};
        use parquet::record::RowAccessor;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.parquet");
        let mut file = File::create(&path).unwrap();
        {
            let out: &mut (dyn Write + Send) = &mut file;
            let mut pq = ParquetOut::new(out).unwrap();
            for n in 0..(PARQUET_ROW_GROUP + 5) {
                let mut it = distinct_item();
                it.user_id = format!("u{n}");
                it.email_send_count = n as i64;
                pq.push(&it).unwrap();
            }
            pq.close().unwrap();
        }
        let reader = SerializedFileReader::new(File::open(&path).unwrap()).unwrap();
        let meta = reader.metadata();
        assert_eq!(meta.file_metadata().num_rows(), (PARQUET_ROW_GROUP + 5) as i64);
        assert_eq!(meta.num_row_groups(), 2);
        let schema = meta.file_metadata().schema_descr();
        let names: Vec<&str> = schema.columns().iter().map(|c| c.name()).collect();
        assert_eq!(names, UserStatItem::FIELDS);
        let last = reader.get_row_iter(None).unwrap().last().unwrap().unwrap();
        assert_eq!(last.get_string(1).unwrap(), &format!("u{}", PARQUET_ROW_GROUP + 4));
        assert_eq!(last.get_long(23).unwrap(), (PARQUET_ROW_GROUP + 4) as i64);
        assert_eq!(last.get_string(0).unwrap(), "s0");
        assert_eq!(last.get_long(7).unwrap(), 1007);
    }
}
