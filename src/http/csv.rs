//! Every CSV the service writes (the awareness figures, the quarterly summary, the CSAF
//! provider's `changes.csv`) goes through [`CsvWriter`], on the `csv` crate: quoting and
//! escaping as RFC 4180 §2 has them (a field with a comma, a double quote or a line break is
//! enclosed in double quotes, a double quote inside one is doubled), never by hand.
//!
//! The writer also neutralises spreadsheet formulas (OWASP, "CSV Injection"): these files are
//! made to be opened in a spreadsheet, and a spreadsheet runs a cell that begins with `=`, `+`,
//! `-` or `@` (or a tab or carriage return before one) as a formula, which can read other cells,
//! call out to the network or, in older programs, start commands. OWASP's remedy is to prefix
//! such a cell with a single quote `'`, which spreadsheets take as "this is text". Only text
//! cells are prefixed: a number is written as a number (`-5` stays `-5`, and stays summable),
//! which is why a row is made of typed [`Cell`]s rather than strings.

use std::borrow::Cow;

/// The characters that make a spreadsheet read a cell as a formula (OWASP, "CSV Injection":
/// equals, plus, minus, at, tab `0x09`, carriage return `0x0D`).
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// `text` as a spreadsheet shows it as text: prefixed with `'` when it begins with a
/// character that starts a formula (see the module), unchanged otherwise.
pub fn neutralise(text: &str) -> Cow<'_, str> {
    if text.starts_with(FORMULA_STARTS) {
        Cow::Owned(format!("'{text}"))
    } else {
        Cow::Borrowed(text)
    }
}

/// One cell of a row. Text is neutralised ([`neutralise`]); numbers and booleans are written
/// as they are; `Empty` is an empty field (a figure withheld or not known).
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'a> {
    Text(&'a str),
    Number(i128),
    Bool(bool),
    Empty,
}

impl<'a> From<&'a str> for Cell<'a> {
    fn from(s: &'a str) -> Self {
        Cell::Text(s)
    }
}

impl<'a> From<&'a String> for Cell<'a> {
    fn from(s: &'a String) -> Self {
        Cell::Text(s)
    }
}

impl From<u64> for Cell<'_> {
    fn from(n: u64) -> Self {
        Cell::Number(n.into())
    }
}

impl From<i64> for Cell<'_> {
    fn from(n: i64) -> Self {
        Cell::Number(n.into())
    }
}

impl From<bool> for Cell<'_> {
    fn from(b: bool) -> Self {
        Cell::Bool(b)
    }
}

impl<'a, T: Into<Cell<'a>>> From<Option<T>> for Cell<'a> {
    fn from(v: Option<T>) -> Self {
        v.map_or(Cell::Empty, Into::into)
    }
}

impl Cell<'_> {
    fn field(&self) -> Cow<'_, str> {
        match self {
            Cell::Text(s) => neutralise(s),
            Cell::Number(n) => Cow::Owned(n.to_string()),
            Cell::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
            Cell::Empty => Cow::Borrowed(""),
        }
    }
}

/// A CSV document built row by row in memory (downloads are small: figures per group, one
/// line per CSAF document).
pub struct CsvWriter {
    inner: csv::Writer<Vec<u8>>,
}

impl CsvWriter {
    /// RFC 4180: records end in CRLF (§2.1), a field is quoted only when it must be (§2.5–2.7).
    pub fn rfc4180() -> Self {
        Self::with(csv::WriterBuilder::new().terminator(csv::Terminator::CRLF))
    }

    /// The CSAF provider's `changes.csv` (CSAF 2.0 §7.1.13): every field enclosed in double
    /// quotes, as the standard's example `"2020/example_company_-_2019-yh3234.json",
    /// "2020-07-01T10:09:07Z"` shows and checkers expect, one document a line ending in LF like
    /// `index.txt` beside it.
    pub fn csaf_changes() -> Self {
        let mut b = csv::WriterBuilder::new();
        b.quote_style(csv::QuoteStyle::Always)
            .terminator(csv::Terminator::Any(b'\n'));
        Self::with(&mut b)
    }

    fn with(builder: &mut csv::WriterBuilder) -> Self {
        Self {
            inner: builder.from_writer(Vec::new()),
        }
    }

    /// Appends one record. Every record of a document has the same number of cells.
    pub fn row<'a>(&mut self, cells: impl IntoIterator<Item = Cell<'a>>) {
        let cells: Vec<Cell<'a>> = cells.into_iter().collect();
        // Writing into memory cannot fail on I/O; the only error left is a record of another
        // length than the first, which is a bug in the caller.
        self.inner
            .write_record(cells.iter().map(|c| c.field().into_owned()))
            .expect("every record of a CSV document has the same number of fields");
    }

    /// The document (UTF-8: every cell is a `str`).
    pub fn finish(self) -> String {
        let bytes = self
            .inner
            .into_inner()
            .expect("flushing into memory cannot fail");
        String::from_utf8(bytes).expect("CSV of UTF-8 cells is UTF-8")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(cells: Vec<Cell>) -> String {
        let mut w = CsvWriter::rfc4180();
        w.row(cells);
        w.finish()
    }

    #[test]
    fn formula_text_is_neutralised() {
        for (text, shown) in [
            ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
            ("+1+2", "'+1+2"),
            ("-5", "'-5"),
            ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
            ("\t=1", "'\t=1"),
            ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
        ] {
            assert_eq!(neutralise(text), shown, "{text:?}");
        }
        assert_eq!(one(vec![Cell::Text("=cmd")]), "'=cmd\r\n");
        assert_eq!(one(vec![Cell::Text("\r=1")]), "\"'\r=1\"\r\n");
    }

    #[test]
    fn numbers_and_plain_text_are_untouched() {
        assert_eq!(
            one(vec![
                Cell::from(-5i64),
                Cell::from(7u64),
                Cell::from(true),
                Cell::from(None::<u64>),
                Cell::from("energy.electricity"),
                Cell::from("2026-W03"),
                Cell::from("a = b"),
                Cell::from("it's"),
            ]),
            "-5,7,true,,energy.electricity,2026-W03,a = b,it's\r\n"
        );
        assert_eq!(neutralise("plain"), Cow::Borrowed("plain"));
    }

    #[test]
    fn quotes_commas_and_line_breaks_are_quoted_as_rfc_4180_says() {
        assert_eq!(
            one(vec![
                Cell::Text("a,b"),
                Cell::Text("say \"hi\""),
                Cell::Text("two\nlines"),
                Cell::Text("=a,b"),
            ]),
            "\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",\"'=a,b\"\r\n"
        );
        // And the csv crate's reader, as a partner's would, gets the cells back.
        let text = one(vec![Cell::Text("x,\"y\"\r\nz"), Cell::Number(-1)]);
        let mut r = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(text.as_bytes());
        let rec = r.records().next().unwrap().unwrap();
        assert_eq!(rec.iter().collect::<Vec<_>>(), ["x,\"y\"\r\nz", "-1"]);
    }

    #[test]
    fn csaf_changes_quotes_every_field() {
        let mut w = CsvWriter::csaf_changes();
        w.row([
            Cell::Text("2026/fd-ncsirt-2026-0001.json"),
            Cell::Text("2026-01-02T03:04:05.000Z"),
        ]);
        w.row([
            Cell::Text("2025/b.json"),
            Cell::Text("2025-12-31T00:00:00Z"),
        ]);
        assert_eq!(
            w.finish(),
            "\"2026/fd-ncsirt-2026-0001.json\",\"2026-01-02T03:04:05.000Z\"\n\
             \"2025/b.json\",\"2025-12-31T00:00:00Z\"\n"
        );
    }
}
