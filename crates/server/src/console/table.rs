//! What a console view shows, as data: tables (each downloadable as CSV) and charts drawn from
//! them. A chart never holds a number its table does not: the series are read off the table's
//! columns, so "read the chart as a table" and "download what it shows" hold by construction.

use serde::Serialize;

/// One cell of a table.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "t", content = "v", rename_all = "lowercase")]
pub enum Cell {
    Text(String),
    /// A whole number, shown grouped in thousands; exact in CSV.
    Int(i64),
    /// A decimal string as the API renders it (`"0.83"`), or a computed ratio.
    Dec(String),
    /// Text linking to another console page (same origin, relative).
    Link(String, String),
}

impl Cell {
    /// The value as CSV and `data-value` carry it: digits for numbers, the text otherwise.
    pub fn raw(&self) -> String {
        match self {
            Cell::Text(s) | Cell::Dec(s) | Cell::Link(s, _) => s.clone(),
            Cell::Int(n) => n.to_string(),
        }
    }

    /// The value as a chart plots it.
    fn number(&self) -> Option<f64> {
        match self {
            Cell::Int(n) => Some(*n as f64),
            Cell::Dec(s) => s.parse().ok(),
            _ => None,
        }
    }
}

/// A column: its key (CSV header, stable across languages) and its label in the page's language.
#[derive(Debug, Clone, Serialize)]
pub struct Column {
    pub key: String,
    pub label: String,
    pub numeric: bool,
    /// Set on sortable columns: the link that sorts by it.
    pub sort_href: Option<String>,
    /// `asc` or `desc` when the table is sorted by this column.
    pub sorted: Option<&'static str>,
}

impl Column {
    pub fn text(key: &str, label: String) -> Column {
        Column { key: key.to_owned(), label, numeric: false, sort_href: None, sorted: None }
    }
    pub fn number(key: &str, label: String) -> Column {
        Column { key: key.to_owned(), label, numeric: true, sort_href: None, sorted: None }
    }
}

/// A table of a view.
#[derive(Debug, Clone, Serialize)]
pub struct Table {
    /// Unique in its view; `?format=csv&table=<id>` downloads it.
    pub id: &'static str,
    pub title: String,
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Cell>>,
    /// Set by the page: the link that downloads this table as CSV.
    pub csv_href: String,
    /// Shown open (a table the view is about) or folded under its chart.
    pub open: bool,
}

impl Table {
    pub fn new(id: &'static str, title: String, columns: Vec<Column>, open: bool) -> Table {
        Table { id, title, columns, rows: Vec::new(), csv_href: String::new(), open }
    }

    fn column(&self, key: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.key == key)
    }

    /// The table as CSV (RFC 4180, UTF-8 with a byte-order mark so that spreadsheet programs read
    /// Chinese names right), headed by the column keys.
    pub fn csv(&self) -> String {
        let mut out = String::from("\u{feff}");
        let line =
            |cells: Vec<String>| cells.into_iter().map(|c| csv_field(&c)).collect::<Vec<_>>().join(",");
        out.push_str(&line(self.columns.iter().map(|c| c.key.clone()).collect()));
        out.push_str("\r\n");
        for row in &self.rows {
            out.push_str(&line(row.iter().map(Cell::raw).collect()));
            out.push_str("\r\n");
        }
        out
    }
}

/// Quotes a CSV field when it needs it; a field a spreadsheet would run as a formula is prefixed
/// with `'` (CSV injection).
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '@', '\t', '\r']) || (s.starts_with('-') && s.parse::<f64>().is_err())
    {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// How a chart draws its table.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChartKind {
    Line,
    Bar,
    /// Bars stacked per category.
    Stack,
    /// Bars laid horizontally (long category names).
    Hbar,
    /// A calendar heatmap of one series over dates.
    Calendar,
}

/// A chart: a kind, the table it draws, the category column and the series columns.
#[derive(Debug, Clone, Serialize)]
pub struct Chart {
    pub id: String,
    pub kind: ChartKind,
    pub title: String,
    /// Category labels (dates, department names, …).
    pub x: Vec<String>,
    pub series: Vec<Series>,
    /// The y axis shows percentages (0–100).
    pub percent: bool,
    /// Drawn across the page's width (set by the page for its first chart and a last odd one).
    pub wide: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Series {
    pub name: String,
    pub data: Vec<Option<f64>>,
}

impl Chart {
    /// A chart of `table`: column `x` as categories, `series` columns as series (each named by its
    /// label). Rates (two-decimal ratios) are drawn as percentages when `percent`.
    pub fn of(kind: ChartKind, table: &Table, x: &str, series: &[&str], percent: bool) -> Chart {
        let xi = table.column(x).expect("the chart's category column is in its table");
        Chart {
            id: format!("chart-{}", table.id),
            kind,
            title: table.title.clone(),
            x: table.rows.iter().map(|r| r[xi].raw()).collect(),
            series: series
                .iter()
                .map(|&key| {
                    let i = table.column(key).expect("the chart's series columns are in its table");
                    Series {
                        name: table.columns[i].label.clone(),
                        data: table
                            .rows
                            .iter()
                            .map(|r| {
                                r[i].number().map(|v| if percent { (v * 10000.0).round() / 100.0 } else { v })
                            })
                            .collect(),
                    }
                })
                .collect(),
            percent,
            wide: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        let mut t = Table::new(
            "t",
            "T".into(),
            vec![Column::text("a", "A".into()), Column::number("b", "B".into())],
            true,
        );
        t.rows.push(vec![Cell::Text("x,\"y\"".into()), Cell::Int(-3)]);
        t.rows.push(vec![Cell::Text("=1+1".into()), Cell::Dec("0.50".into())]);
        assert_eq!(t.csv(), "\u{feff}a,b\r\n\"x,\"\"y\"\"\",-3\r\n'=1+1,0.50\r\n");
        let c = Chart::of(ChartKind::Line, &t, "a", &["b"], true);
        assert_eq!(c.series[0].data, vec![Some(-300.0), Some(50.0)]);
    }
}
