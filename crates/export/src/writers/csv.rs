//! CSV: a header of the API's field names, then one RFC 4180 record per row, CRLF-terminated.
//! Integers are written with `itoa`, strings quoted only when they must be.

use std::io::{self, Write};

use adminstats_client::UserStatItem;

use super::{cells, Cell};

/// A writer of records with no header of its own (a segment writes the header itself, once).
pub(crate) fn records<W: Write>(out: W) -> csv::Writer<W> {
    csv::WriterBuilder::new().has_headers(false).terminator(csv::Terminator::CRLF).from_writer(out)
}

/// Writes the header record, [`UserStatItem::FIELDS`].
///
/// # Errors
/// The underlying writer's.
pub(crate) fn write_header<W: Write>(w: &mut csv::Writer<W>) -> csv::Result<()> {
    w.write_record(UserStatItem::FIELDS)
}

/// The whole CSV output of an export with no rows: the header alone.
///
/// # Errors
/// The underlying writer's.
pub(crate) fn write_empty(out: &mut (dyn Write + Send)) -> Result<(), crate::WriteError> {
    let mut w = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(out);
    write_header(&mut w)?;
    w.flush()?;
    Ok(())
}

/// Writes one row as a record.
///
/// # Errors
/// The underlying writer's.
pub(crate) fn write_row<W: Write>(w: &mut csv::Writer<W>, item: &UserStatItem) -> io::Result<()> {
    let mut num = itoa::Buffer::new();
    for cell in cells(item) {
        match cell {
            Cell::Str(s) => w.write_field(s)?,
            Cell::Int(n) => w.write_field(num.format(n))?,
        }
    }
    w.write_record(None::<&[u8]>)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_per_rfc_4180() {
        let item = UserStatItem {
            date: "2026-01-01".into(),
            user_name: "Zhang, San".into(),
            department_name: "R&D \"Core\"".into(),
            department_path: "A\nB".into(),
            active_os: "'ios 14.2,-'".into(),
            email_send_count: 12,
            ..Default::default()
        };
        let mut w = records(vec![]);
        write_row(&mut w, &item).unwrap();
        let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
        assert!(text.starts_with("2026-01-01,,\"Zhang, San\",\"R&D \"\"Core\"\"\",\"A\nB\","), "{text}");
        assert!(text.contains(",\"'ios 14.2,-'\","), "{text}");
        assert!(text.ends_with(",0,0,0\r\n"), "{text}");
        let back: Vec<csv::StringRecord> = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(text.as_bytes())
            .records()
            .map(Result::unwrap)
            .collect();
        assert_eq!(back.len(), 1);
        assert_eq!(&back[0][2], "Zhang, San");
        assert_eq!(&back[0][3], "R&D \"Core\"");
        assert_eq!(&back[0][4], "A\nB");
        assert_eq!(&back[0][23], "12");
        assert_eq!(back[0].len(), 33);
    }
}
