//! What can be wrong with a CSV table or with the preprocessing fitted on one, and the warnings
//! a transformation returns instead of printing them.

use std::fmt;

/// The longest excerpt of a cell or column name that a message quotes, in characters.
const EXCERPT_CHARS: usize = 60;

/// A cell of a table: where an error or a warning points.
///
/// `row` counts the data rows from 1 (the header is row 0); `line` is the line of the file where
/// that row starts (the header is line 1), which differs from `row + 1` only when quoted fields
/// hold line breaks. `column` counts from 1; `name` is the column's header (empty in the header
/// row itself).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CellRef {
    /// The data row, from 1 (0: the header row).
    pub row: usize,
    /// The line of the file where the row starts, from 1.
    pub line: u64,
    /// The column, from 1.
    pub column: usize,
    /// The column's name (empty for a cell of the header row).
    pub name: String,
}

/// `row 6 (line 7), column 3 "age"`, or `header (line 1), column 3`.
impl fmt::Display for CellRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.row == 0 {
            write!(f, "header (line {}), column {}", self.line, self.column)
        } else {
            write!(
                f,
                "row {} (line {}), column {} {}",
                self.row,
                self.line,
                self.column,
                Quoted(&self.name)
            )
        }
    }
}

/// A string quoted and escaped as Rust's `Debug` does (so a message stays on one line), cut to
/// [`EXCERPT_CHARS`] characters.
pub(crate) struct Quoted<'a>(pub(crate) &'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut chars = self.0.char_indices();
        match chars.nth(EXCERPT_CHARS) {
            None => write!(f, "{:?}", self.0),
            Some((end, _)) => write!(f, "{:?}…", &self.0[..end]),
        }
    }
}

/// Why a CSV table cannot be read, or cannot be fitted or transformed by a
/// [`Preprocessor`](crate::tabular::Preprocessor) (no file involved: see
/// [`Error::Tabular`](crate::Error::Tabular) for that). Every variant about a cell says which
/// one ([`CellRef`]).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TabularError {
    /// The input holds no record at all: not even the header row.
    #[error("empty file: expected a header row naming the columns")]
    Empty,
    /// The input holds a header row and no data row.
    #[error("no data rows: the file has a header row only")]
    NoRows,
    /// A record runs on beyond the limit: an unterminated quote, a file that is not CSV, or a
    /// huge line. Reading stops there, so nothing beyond the limit is held in memory.
    #[error(
        "the record starting at line {line} is longer than {limit} bytes (an unclosed quote, or not a CSV file?)"
    )]
    RecordTooLong {
        /// The line where the record starts.
        line: u64,
        /// The limit, [`CsvOptions::max_record_bytes`](crate::tabular::CsvOptions).
        limit: usize,
    },
    /// The input cannot be read, or is not CSV (the CSV reader's or the system's message).
    #[error("line {line}: {message}")]
    Read {
        /// The line being read.
        line: u64,
        /// What went wrong.
        message: String,
    },
    /// A cell is not valid UTF-8 text.
    #[error("{at}: not valid UTF-8 text (is the file in another encoding?)")]
    NotUtf8 {
        /// The cell.
        at: CellRef,
    },
    /// A column of the header row has an empty name.
    #[error("header: column {column} has an empty name (every column needs one)")]
    EmptyName {
        /// The column, from 1.
        column: usize,
    },
    /// Two columns of the header row have the same name.
    #[error("header: columns {first} and {second} are both named {}", Quoted(name))]
    DuplicateName {
        /// The name.
        name: String,
        /// The first column with it, from 1.
        first: usize,
        /// The second, from 1.
        second: usize,
    },
    /// A data row has more or fewer fields than the header row.
    #[error(
        "row {row} (line {line}): {found} field{}, but the header has {expected} columns",
        if *found == 1 { "" } else { "s" }
    )]
    Ragged {
        /// The data row, from 1.
        row: usize,
        /// The line where it starts.
        line: u64,
        /// The number of columns of the header.
        expected: usize,
        /// The number of fields in the row.
        found: usize,
    },
    /// A column that the task or the model needs is not in the header.
    #[error("no column {} in the header (its columns: {available})", Quoted(name))]
    MissingColumn {
        /// The name looked for.
        name: String,
        /// The header's names, comma-separated (cut after a few).
        available: String,
    },
    /// A feature cell is empty and imputation is off ([`Imputation::Off`](crate::tabular::Imputation::Off)).
    #[error("{at}: missing value, and imputation is off")]
    MissingValue {
        /// The cell.
        at: CellRef,
    },
    /// A target cell is empty (targets are never imputed).
    #[error("{at}: missing target value")]
    MissingTarget {
        /// The cell.
        at: CellRef,
    },
    /// A cell of a numeric column (a feature that was numeric in the training data, or a
    /// regression target) is not a number.
    #[error("{at}: {} is not a number{}", Quoted(value), if *target { " (regression targets must be numbers)" } else { " (the column is numeric in the training data)" })]
    NotANumber {
        /// The cell.
        at: CellRef,
        /// Its content.
        value: String,
        /// Whether the cell is a target.
        target: bool,
    },
    /// A number cell holds NaN or an infinity.
    #[error("{at}: {} is not a finite number", Quoted(value))]
    NonFinite {
        /// The cell.
        at: CellRef,
        /// Its content.
        value: String,
    },
    /// A multi-label target cell is neither 0 nor 1.
    #[error("{at}: {} is not a 0/1 label (multi-label targets are 0 or 1)", Quoted(value))]
    NotBinary {
        /// The cell.
        at: CellRef,
        /// Its content.
        value: String,
    },
    /// A classification target names a class that the training data does not have.
    #[error(
        "{at}: class {} does not occur in the training data (which has {n_classes} classes)",
        Quoted(value)
    )]
    UnknownClass {
        /// The cell.
        at: CellRef,
        /// Its content.
        value: String,
        /// The number of classes of the training data.
        n_classes: usize,
    },
    /// A number is so far from the training mean that it cannot be represented once
    /// standardized in the float type asked for.
    #[error(
        "{at}: {} standardizes to {standardized:e}, beyond the range of {float}",
        Quoted(value)
    )]
    OutOfRange {
        /// The cell.
        at: CellRef,
        /// Its content.
        value: String,
        /// `(x − mean) / deviation`, in f64.
        standardized: f64,
        /// `"f32"` or `"f64"`.
        float: &'static str,
    },
    /// The values of a column are too large for their mean and deviation to be computed in
    /// f64.
    #[error(
        "column {}: the values are too large to standardize (their mean or deviation overflows)",
        Quoted(column)
    )]
    Overflow {
        /// The column's name.
        column: String,
    },
    /// A string column (or a classification target) has more distinct values than the limit.
    #[error(
        "column {}: {} distinct values, more than the limit of {limit} {what}{}",
        Quoted(column),
        if *found > *limit { format!("at least {}", found) } else { found.to_string() },
        match first_non_number {
            Some(cell) => format!(
                "; most of its values are numbers, but {} holds {}: a typo in a numeric column?",
                cell.0,
                Quoted(&cell.1)
            ),
            None => String::new(),
        }
    )]
    TooManyCategories {
        /// The column's name.
        column: String,
        /// `"categories"` or `"classes (is it a regression target?)"`.
        what: &'static str,
        /// The number of distinct values found before stopping (limit + 1).
        found: usize,
        /// The limit.
        limit: usize,
        /// For a column whose values are mostly numbers, the first cell that is not one, and
        /// its content.
        first_non_number: Option<Box<(CellRef, String)>>,
    },
    /// Every cell of a column is empty in the training data.
    #[error("column {}: every value is missing in the training data", Quoted(column))]
    EmptyColumn {
        /// The column's name.
        column: String,
    },
    /// The classification target has a single class in the training data.
    #[error(
        "target column {}: a single class {} in the training data (classification needs at least 2)",
        Quoted(column),
        Quoted(class)
    )]
    SingleClass {
        /// The column's name.
        column: String,
        /// The class.
        class: String,
    },
    /// The specification is inconsistent: a wrong number of targets for the task, a column
    /// named twice, no feature left, a zero category limit, a bad split fraction.
    #[error("{message}")]
    Spec {
        /// What is wrong.
        message: String,
    },
    /// A split leaves one of its two parts without rows.
    #[error("splitting {n_rows} rows with a fraction of {fraction} leaves the {part} part empty")]
    EmptySplit {
        /// The rows of the table.
        n_rows: usize,
        /// The fraction asked for.
        fraction: f64,
        /// `"first"` or `"second"`.
        part: &'static str,
    },
    /// The encoded table would not fit in memory (or in the address space).
    #[error("{n_values} encoded values ({n_inputs} per row × {n_rows} rows) do not fit in memory")]
    TooLarge {
        /// Values per row.
        n_inputs: usize,
        /// Rows.
        n_rows: usize,
        /// Their product, saturated.
        n_values: usize,
    },
    /// The preprocessing stored in a model's metadata does not parse or is inconsistent.
    #[error("invalid tabular preprocessing in the model's metadata: {message}")]
    Metadata {
        /// What is wrong.
        message: String,
    },
    /// The preprocessing was written by a newer version of this crate.
    #[error(
        "tabular preprocessing version {found} is not supported: this build reads version {supported}"
    )]
    UnsupportedVersion {
        /// The version found.
        found: u64,
        /// The newest version this build reads.
        supported: u64,
    },
    /// A network does not fit the preprocessing: other input or output counts, or a loss that
    /// does not fit the task.
    #[error("the network does not fit the preprocessing: {what} {found}, expected {expected}")]
    NetworkMismatch {
        /// `"inputs"`, `"outputs"` or `"loss"`.
        what: &'static str,
        /// What the preprocessing implies.
        expected: String,
        /// What the network has.
        found: String,
    },
    /// Network outputs whose length is not outputs × samples.
    #[error("{found} output values for {n_samples} samples of {n_outputs} outputs")]
    OutputShape {
        /// Outputs per sample.
        n_outputs: usize,
        /// Samples.
        n_samples: usize,
        /// Values given.
        found: usize,
    },
}

/// A warning of [`Preprocessor::transform_inputs`](crate::tabular::Preprocessor::transform_inputs): cells of a
/// categorical column whose category the training data does not have. They are encoded as all
/// zeros (no category), and counted here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnseenCategories {
    /// The column's name.
    pub column: String,
    /// The number of such cells.
    pub count: usize,
    /// The first of them.
    pub first: CellRef,
    /// Its content.
    pub first_value: String,
}

/// `column "color": 3 values of a category not seen in training (the first: "purple" at row 5
/// (line 6)), encoded as no category`.
impl fmt::Display for UnseenCategories {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "column {}: {} value{} of a category not seen in training (the first: {} at row {} (line {})), encoded as no category (all zeros)",
            Quoted(&self.column),
            self.count,
            if self.count == 1 { "" } else { "s" },
            Quoted(&self.first_value),
            self.first.row,
            self.first.line
        )
    }
}
