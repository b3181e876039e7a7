//! Reading a CSV file into a [`Table`] of text cells, with a bound on every record, and seeded
//! splits of its rows.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use nn_core::rng::{ChaCha8Rng, SeedableRng, shuffle};

use super::error::{CellRef, Quoted, TabularError};
use crate::Error;

/// The default of [`CsvOptions::max_record_bytes`]: 16 MiB.
pub const DEFAULT_MAX_RECORD_BYTES: usize = 16 << 20;

/// How to read a CSV file.
///
/// ```
/// let options = nn_io::tabular::CsvOptions::default().with_delimiter(b';');
/// assert_eq!(options.delimiter(), b';');
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CsvOptions {
    delimiter: u8,
    max_record_bytes: usize,
}

impl Default for CsvOptions {
    /// Comma-separated, records of at most 16 MiB.
    fn default() -> Self {
        CsvOptions { delimiter: b',', max_record_bytes: DEFAULT_MAX_RECORD_BYTES }
    }
}

impl CsvOptions {
    /// The field delimiter (default `,`; `\t` for TSV, `;` for some locales).
    #[must_use]
    pub fn with_delimiter(mut self, delimiter: u8) -> Self {
        self.delimiter = delimiter;
        self
    }

    /// The longest record (a row, quoted line breaks included) that is read, in bytes
    /// (default [`DEFAULT_MAX_RECORD_BYTES`]): a longer one is a
    /// [`TabularError::RecordTooLong`], found after reading at most this many bytes of it
    /// (plus a buffer of 8 KiB).
    #[must_use]
    pub fn with_max_record_bytes(mut self, max_record_bytes: usize) -> Self {
        self.max_record_bytes = max_record_bytes;
        self
    }

    /// The field delimiter.
    #[must_use]
    pub fn delimiter(&self) -> u8 {
        self.delimiter
    }

    /// The longest record read, in bytes.
    #[must_use]
    pub fn max_record_bytes(&self) -> usize {
        self.max_record_bytes
    }
}

/// A CSV table: the header's column names and the rows' cells, as text (trimmed of ASCII
/// spaces and tabs around each field). Every row has one cell per column.
///
/// Cells are stored one after the other in a single string, so a table takes about the size of
/// its file plus 8 bytes per cell and 16 per row. Each row remembers its row number and line in
/// the file it came from, so that errors about a [`Table::select`]ed part still point into the
/// file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    columns: Vec<String>,
    text: String,
    /// The end offset in `text` of every cell, row after row.
    ends: Vec<usize>,
    /// The data-row number (from 1) of each row in its file.
    rows: Vec<usize>,
    /// The line of the file where each row starts.
    lines: Vec<u64>,
}

impl Table {
    /// The column names, from the header row.
    #[must_use]
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The number of columns.
    #[must_use]
    pub fn n_columns(&self) -> usize {
        self.columns.len()
    }

    /// The number of data rows.
    #[must_use]
    pub fn n_rows(&self) -> usize {
        self.rows.len()
    }

    /// The index of the column named `name`.
    ///
    /// # Errors
    /// [`TabularError::MissingColumn`], listing the names there are.
    pub fn column_index(&self, name: &str) -> Result<usize, TabularError> {
        self.columns.iter().position(|c| c == name).ok_or_else(|| {
            const SHOWN: usize = 12;
            let mut available: Vec<String> =
                self.columns.iter().take(SHOWN).map(|c| Quoted(c).to_string()).collect();
            if self.columns.len() > SHOWN {
                available.push(format!("… {} in all", self.columns.len()));
            }
            TabularError::MissingColumn { name: name.to_owned(), available: available.join(", ") }
        })
    }

    /// The cell at `row` (from 0, in this table) and `column` (from 0), or `None` out of range.
    #[must_use]
    pub fn cell(&self, row: usize, column: usize) -> Option<&str> {
        if column >= self.columns.len() {
            return None;
        }
        let k = row.checked_mul(self.columns.len())?.checked_add(column)?;
        let end = *self.ends.get(k)?;
        let start = if k == 0 { 0 } else { self.ends[k - 1] };
        self.text.get(start..end)
    }

    /// The cells of `column` (from 0), row after row (empty if out of range).
    pub fn column_cells(&self, column: usize) -> impl Iterator<Item = &str> + '_ {
        let n = if column < self.columns.len() { self.n_rows() } else { 0 };
        (0..n).map(move |row| self.cell(row, column).unwrap_or_default())
    }

    /// Where the cell at `row` (from 0, in this table) and `column` (from 0) is in its file.
    #[must_use]
    pub fn cell_ref(&self, row: usize, column: usize) -> CellRef {
        CellRef {
            row: self.rows.get(row).copied().unwrap_or(0),
            line: self.lines.get(row).copied().unwrap_or(0),
            column: column + 1,
            name: self.columns.get(column).cloned().unwrap_or_default(),
        }
    }

    /// The rows `indices` (from 0), in that order, as a new table with the same columns. Each
    /// keeps its row number and line in the file.
    ///
    /// # Errors
    /// [`TabularError::Spec`] if an index is out of range.
    pub fn select(&self, indices: &[usize]) -> Result<Table, TabularError> {
        let n = self.n_rows();
        if let Some(&bad) = indices.iter().find(|&&i| i >= n) {
            return Err(TabularError::Spec {
                message: format!("row index {bad} is out of range for a table of {n} rows"),
            });
        }
        let n_cols = self.columns.len();
        let mut out = Table {
            columns: self.columns.clone(),
            text: String::new(),
            ends: Vec::with_capacity(indices.len() * n_cols),
            rows: Vec::with_capacity(indices.len()),
            lines: Vec::with_capacity(indices.len()),
        };
        for &i in indices {
            for c in 0..n_cols {
                out.text.push_str(self.cell(i, c).unwrap_or_default());
                out.ends.push(out.text.len());
            }
            out.rows.push(self.rows[i]);
            out.lines.push(self.lines[i]);
        }
        Ok(out)
    }

    /// Splits the rows in two, at random but reproducibly for a `seed`: about `fraction` of
    /// them go to the second table (rounded to nearest), the others to the first; both keep the
    /// file's order.
    ///
    /// With `stratify` naming a column (a classification target), the split is made within each
    /// of its distinct values: every value keeps its share in both parts, and a value with
    /// `n` rows sends `round(n · fraction)` of them, but never all, to the second part; so every
    /// class of the second part also occurs in the first.
    ///
    /// # Errors
    /// [`TabularError::Spec`] unless `0 < fraction < 1`, [`TabularError::MissingColumn`] for an
    /// unknown `stratify` column, [`TabularError::EmptySplit`] if a part would have no row.
    pub fn split(
        &self,
        fraction: f64,
        seed: u64,
        stratify: Option<&str>,
    ) -> Result<(Table, Table), TabularError> {
        if !(fraction > 0.0 && fraction < 1.0) {
            return Err(TabularError::Spec {
                message: format!("a split fraction must be in (0, 1), got {fraction}"),
            });
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let groups: Vec<Vec<usize>> = match stratify {
            None => vec![(0..self.n_rows()).collect()],
            Some(name) => {
                let column = self.column_index(name)?;
                let mut by_value: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
                for (row, cell) in self.column_cells(column).enumerate() {
                    by_value.entry(cell).or_default().push(row);
                }
                by_value.into_values().collect()
            }
        };
        let (mut first, mut second) = (Vec::new(), Vec::new());
        for mut group in groups {
            shuffle(&mut rng, &mut group);
            let n = group.len();
            let mut n_second = (n as f64 * fraction).round() as usize;
            if stratify.is_some() {
                n_second = n_second.min(n.saturating_sub(1));
            }
            second.extend_from_slice(&group[..n_second]);
            first.extend_from_slice(&group[n_second..]);
        }
        let empty = |part| TabularError::EmptySplit { n_rows: self.n_rows(), fraction, part };
        if first.is_empty() {
            return Err(empty("first"));
        }
        if second.is_empty() {
            return Err(empty("second"));
        }
        first.sort_unstable();
        second.sort_unstable();
        Ok((self.select(&first)?, self.select(&second)?))
    }
}

/// The marker of the I/O error that [`Source`] returns when a record runs past the limit.
#[derive(Debug)]
struct TooLong;

impl std::fmt::Display for TooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("record too long")
    }
}

impl std::error::Error for TooLong {}

/// The CSV reader's buffer, and so the most bytes it holds that it has not parsed yet.
const BUFFER: usize = 8 << 10;

/// The reader under the CSV reader. It fails once it has delivered more than `limit` bytes
/// past `record_start`, which [`parse_csv`] moves to the start of each record, so a record can
/// never make the CSV reader's buffers grow past the limit, whatever the input (a 10 GB line,
/// an unclosed quote).
///
/// It also finds the line where each record starts, which the CSV reader's own positions do
/// not give: they point before the blank lines it skips and, in a CRLF file, before the `\n`
/// of the previous line. The line is that of `record_start` plus the `\n` bytes in the run of
/// line breaks that follows it, counted here over the bytes it delivers (the last [`BUFFER`]
/// of which it keeps, as the CSV reader may hold them unparsed).
struct Source<R> {
    inner: R,
    delivered: u64,
    record_start: u64,
    limit: u64,
    /// The last bytes delivered, up to [`BUFFER`] of them.
    tail: std::collections::VecDeque<u8>,
    /// `\n` bytes in the run of line breaks at `record_start` so far.
    leading_newlines: u64,
    /// Whether that run has ended.
    leading_done: bool,
}

impl<R: Read> Source<R> {
    fn new(inner: R, limit: usize) -> Self {
        Source {
            inner,
            delivered: 0,
            record_start: 0,
            limit: limit as u64,
            tail: std::collections::VecDeque::with_capacity(BUFFER),
            leading_newlines: 0,
            leading_done: false,
        }
    }

    /// A record starts at byte `start`, which is at most [`BUFFER`] bytes before the end of
    /// what was delivered.
    fn start_record(&mut self, start: u64) {
        self.record_start = start;
        self.leading_newlines = 0;
        self.leading_done = false;
        let pending = usize::try_from(self.delivered.saturating_sub(start)).unwrap_or(usize::MAX);
        let skip = self.tail.len().saturating_sub(pending);
        // Usually the first byte ends the run: this is O(1) per record, not O(BUFFER).
        let (front, back) = self.tail.as_slices();
        let (front, back) = if skip < front.len() {
            (&front[skip..], back)
        } else {
            (&[][..], &back[skip - front.len()..])
        };
        let (leading, done) = leading_newlines(front.iter().chain(back), 0);
        (self.leading_newlines, self.leading_done) = (leading, done);
    }

    fn scan(&mut self, bytes: &[u8]) {
        if !self.leading_done {
            (self.leading_newlines, self.leading_done) =
                leading_newlines(bytes.iter(), self.leading_newlines);
        }
    }
}

/// Adds to `count` the `\n` bytes of the run of line breaks that starts `bytes`; whether the
/// run ends within them.
fn leading_newlines<'a>(bytes: impl Iterator<Item = &'a u8>, mut count: u64) -> (u64, bool) {
    for &b in bytes {
        match b {
            b'\n' => count += 1,
            b'\r' => {}
            _ => return (count, true),
        }
    }
    (count, false)
}

impl<R: Read> Read for Source<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let allowed = (self.record_start + self.limit).saturating_sub(self.delivered);
        if allowed == 0 {
            return Err(io::Error::other(TooLong));
        }
        let len = buf.len().min(usize::try_from(allowed).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..len])?;
        let bytes = &buf[..n];
        self.delivered += n as u64;
        self.scan(bytes);
        let keep = &bytes[n.saturating_sub(BUFFER)..];
        let excess = (self.tail.len() + keep.len()).saturating_sub(BUFFER);
        self.tail.drain(..excess.min(self.tail.len()));
        self.tail.extend(keep);
        Ok(n)
    }
}

/// Reads a CSV table from `reader`: a header row naming the columns, then the data rows.
///
/// Fields are trimmed of ASCII spaces and tabs; a UTF-8 byte-order mark before the header is
/// dropped; blank lines (and lines of spaces) are skipped; quotes follow RFC 4180 (`"a, b"`,
/// `""` for a quote).
///
/// ```
/// use nn_io::tabular::{CsvOptions, parse_csv};
///
/// let table = parse_csv("x,color\n1.5,red\n2,\"dark blue\"\n".as_bytes(), &CsvOptions::default())?;
/// assert_eq!(table.columns(), ["x", "color"]);
/// assert_eq!(table.cell(1, 1), Some("dark blue"));
/// # Ok::<(), nn_io::tabular::TabularError>(())
/// ```
///
/// # Errors
/// [`TabularError::Empty`] without a header, [`TabularError::NoRows`] without data rows,
/// [`TabularError::EmptyName`] and [`TabularError::DuplicateName`] for a bad header,
/// [`TabularError::Ragged`] for a row whose field count differs from the header's,
/// [`TabularError::NotUtf8`] for a cell that is not UTF-8, [`TabularError::RecordTooLong`]
/// for a record beyond [`CsvOptions::max_record_bytes`] and [`TabularError::Read`] if the
/// reader fails. Never panics; memory stays within a small multiple of the input's size.
pub fn parse_csv(reader: impl Read, options: &CsvOptions) -> Result<Table, TabularError> {
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(options.delimiter)
        .trim(csv::Trim::All)
        .buffer_capacity(BUFFER)
        .from_reader(Source::new(reader, options.max_record_bytes));
    let mut record = csv::ByteRecord::new();
    // The next record that is not a line of spaces (which the CSV reader reads as one empty
    // field), and the line where it starts; `None` at the end.
    let next = |csv: &mut csv::Reader<Source<_>>, record: &mut csv::ByteRecord| loop {
        let start = csv.position().clone();
        csv.get_mut().start_record(start.byte());
        let result = csv.read_byte_record(record);
        let line = start.line() + csv.get_ref().leading_newlines;
        match result {
            Ok(true) if record.len() == 1 && record[0].is_empty() => {}
            Ok(more) => return Ok(more.then_some(line)),
            Err(e) => return Err(read_error(&e, line, options.max_record_bytes)),
        }
    };
    if next(&mut csv, &mut record)?.is_none() {
        return Err(TabularError::Empty);
    }
    let columns = header(&record)?;
    let n_cols = columns.len();
    let mut table = Table {
        columns,
        text: String::new(),
        ends: Vec::new(),
        rows: Vec::new(),
        lines: Vec::new(),
    };
    while let Some(line) = next(&mut csv, &mut record)? {
        let row = table.rows.len() + 1;
        if record.len() != n_cols {
            return Err(TabularError::Ragged { row, line, expected: n_cols, found: record.len() });
        }
        for (c, field) in record.iter().enumerate() {
            let Ok(text) = std::str::from_utf8(field) else {
                let name = table.columns[c].clone();
                return Err(TabularError::NotUtf8 {
                    at: CellRef { row, line, column: c + 1, name },
                });
            };
            table.text.push_str(text);
            table.ends.push(table.text.len());
        }
        table.rows.push(row);
        table.lines.push(line);
    }
    if table.rows.is_empty() {
        return Err(TabularError::NoRows);
    }
    Ok(table)
}

/// The column names of the header record.
fn header(record: &csv::ByteRecord) -> Result<Vec<String>, TabularError> {
    let mut columns: Vec<String> = Vec::with_capacity(record.len());
    for (c, field) in record.iter().enumerate() {
        // A byte-order mark (as spreadsheet programs write) is not part of the first name.
        let field =
            if c == 0 { field.strip_prefix(b"\xef\xbb\xbf").unwrap_or(field) } else { field };
        let Ok(name) = std::str::from_utf8(field) else {
            let at = CellRef { row: 0, line: 1, column: c + 1, name: String::new() };
            return Err(TabularError::NotUtf8 { at });
        };
        let name = name.trim();
        if name.is_empty() {
            return Err(TabularError::EmptyName { column: c + 1 });
        }
        if let Some(first) = columns.iter().position(|n| n == name) {
            return Err(TabularError::DuplicateName {
                name: name.to_owned(),
                first: first + 1,
                second: c + 1,
            });
        }
        columns.push(name.to_owned());
    }
    Ok(columns)
}

/// The error of the CSV reader for the record starting at `line`.
fn read_error(e: &csv::Error, line: u64, limit: usize) -> TabularError {
    if let csv::ErrorKind::Io(io) = e.kind() {
        if io.get_ref().and_then(|inner| inner.downcast_ref::<TooLong>()).is_some() {
            return TabularError::RecordTooLong { line, limit };
        }
        return TabularError::Read { line, message: io.to_string() };
    }
    TabularError::Read { line, message: e.to_string() }
}

/// Reads the CSV file at `path` (see [`parse_csv`]).
///
/// # Errors
/// [`Error::Io`] if the file cannot be opened or read, [`Error::Tabular`] with the errors of
/// [`parse_csv`]; both name the file.
pub fn read_csv(path: impl AsRef<Path>, options: &CsvOptions) -> Result<Table, Error> {
    let path = path.as_ref();
    let file = File::open(path).map_err(|io| Error::Io { path: path.to_owned(), io })?;
    parse_csv(file, options)
        .map_err(|kind| Error::Tabular { path: path.to_owned(), kind: Box::new(kind) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Table, TabularError> {
        parse_csv(s.as_bytes(), &CsvOptions::default())
    }

    #[test]
    fn cells_are_trimmed_and_quoted_fields_kept_whole() {
        let t = parse("\u{feff}a , b\n 1 ,\"x, \"\"y\"\"\"\n\n2,\"multi\nline\"\n").unwrap();
        assert_eq!(t.columns(), ["a", "b"]);
        assert_eq!(t.n_rows(), 2);
        assert_eq!(t.cell(0, 0), Some("1"));
        assert_eq!(t.cell(0, 1), Some("x, \"y\""));
        assert_eq!(t.cell(1, 1), Some("multi\nline"));
        assert_eq!((t.rows[1], t.lines[1]), (2, 4));
        assert_eq!(t.cell(2, 0), None);
        assert_eq!(t.cell(0, 2), None);
    }

    #[test]
    fn a_reader_never_delivers_far_past_the_limit() {
        let mut r = Source::new(io::repeat(0), 10);
        let mut buf = [0u8; 64];
        assert_eq!(r.read(&mut buf).unwrap(), 10);
        assert!(r.read(&mut buf).is_err());
        r.start_record(10);
        assert_eq!(r.read(&mut buf).unwrap(), 10);
    }

    #[test]
    fn lines_count_blank_lines_crlf_and_quoted_line_breaks() {
        for eol in ["\n", "\r\n", "\r"] {
            let text = "a,b|1,2||\"x|y\",3|  |4,5".replace('|', eol);
            let t = parse(&text).unwrap();
            let expected: &[u64] = if eol == "\r" { &[1, 1, 1] } else { &[2, 4, 7] };
            // A lone \r ends records but is not a line break for editors: no line counting.
            if eol != "\r" {
                assert_eq!(t.lines, expected, "{eol:?}");
            }
            assert_eq!(t.rows, [1, 2, 3]);
            assert_eq!(t.cell(1, 0), Some(format!("x{eol}y").as_str()));
        }
        // A record longer than the kept tail still gets its line.
        let long = "x".repeat(3 * BUFFER);
        let t = parse(&format!("a\r\n\r\n{long}\r\n\r\n\r\n1\r\n")).unwrap();
        assert_eq!(t.lines, [3, 6]);
    }
}
