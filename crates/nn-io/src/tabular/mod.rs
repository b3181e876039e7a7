//! Tabular data (feature `tabular`): CSV files read into a [`Table`], a [`Preprocessor`]
//! fitted on the training table that turns tables into network inputs and targets, stored in
//! the model file, and predictions written back as CSV.
//!
//! # Reading
//! [`read_csv`] (or [`parse_csv`] for any reader): a header row naming the columns is required;
//! every row must have as many fields; cells are UTF-8 text, trimmed of surrounding spaces;
//! quotes follow RFC 4180; blank lines are skipped. No record may exceed
//! [`CsvOptions::max_record_bytes`] (16 MiB by default): a 10 GB line is an error after 16 MiB,
//! never a 10 GB buffer. Every error names the row, its line in the file and the column.
//!
//! # Preprocessing
//! [`Preprocessor::fit`] takes a training table and a [`TabularSpec`] (the [`Task`] and its
//! target columns; optionally [`Imputation::Mean`], columns forced categorical, columns
//! ignored). Every other column is a feature, and becomes network inputs in the table's order:
//! - A **numeric** column (every non-empty cell is a number) is standardized with the training
//!   set's mean and population standard deviation: `(x − mean) / scale`. A constant column
//!   (deviation 0, or at most 1e-12 of the mean) gets `scale = 1`: it is centered, never divided
//!   by zero (scikit-learn's `StandardScaler` does the same). NaN and infinities (`nan`, `inf`,
//!   `-Infinity`, ...) are errors, not numbers.
//! - A **string** column (any cell that is not a number) is one-hot encoded: one input per
//!   distinct training value ("category"), sorted. A category that the training set does not
//!   have, at evaluation or prediction time, is encoded as all zeros and counted in a warning
//!   ([`UnseenCategories`]) that the caller gets back: this crate prints nothing. More than
//!   [`TabularSpec::with_max_categories`] categories (1000 by default) is an error: it is
//!   usually a numeric column with a typo (the error shows the first non-number) or an id.
//! - A **missing** value (an empty cell) is an error naming its row and column, unless the spec
//!   asks for [`Imputation::Mean`]: then a numeric cell takes the training mean, and a string
//!   cell takes the mean of its one-hot columns, i.e. each category's training frequency.
//!   Targets are never imputed.
//!
//! Targets, by task:
//! - [`Task::Classification`]: one column of labels (any strings or numbers), mapped to class
//!   indices; the class names are the distinct training values, sorted numerically if all are
//!   numbers, as strings otherwise. Softmax cross-entropy, one output per class.
//! - [`Task::Regression`]: one or more numeric columns, **standardized** like the features (so
//!   the loss does not depend on the units); predictions and metrics are turned back into the
//!   original units. Mean squared error, one output per column.
//! - [`Task::Multilabel`]: several columns of 0/1 labels. Sigmoid binary cross-entropy, one
//!   output per label.
//!
//! # Stored in the model
//! [`Preprocessor::store_in`] writes the fitted preprocessing into
//! [`ModelMetadata::extra`](crate::ModelMetadata) under the key [`METADATA_KEY`]
//! (`tabular.preprocessing`) as versioned JSON (format `nn-tabular-preprocessing`, version 1;
//! every statistic bit-exact), and [`Preprocessor::from_metadata`] reads it back, checked. The
//! model file's own format is unchanged. The JSON holds the task, the training columns in
//! order, each feature (`numeric` with `mean` and `scale`, or `categorical` with `categories`
//! and `frequencies`), and the target (class names, regression means and scales, or label
//! columns). Another runtime can apply it without this crate: see `record.rs` for the layout.
//!
//! # Example
//! ```
//! use nn_io::tabular::{CsvOptions, EncodedTargets, Preprocessor, TabularSpec, Task, parse_csv};
//!
//! let train = "area,city,price\n50,Lyon,150\n80,Paris,400\n65,Lyon,200\n";
//! let table = parse_csv(train.as_bytes(), &CsvOptions::default())?;
//! let pre = Preprocessor::fit(&table, &TabularSpec::new(Task::Regression, ["price"]))?;
//! assert_eq!(pre.input_names(), ["area", "city=Lyon", "city=Paris"]);
//!
//! // A new city is no category, and a warning.
//! let test = parse_csv("city,area\nNice,65\n".as_bytes(), &CsvOptions::default())?;
//! let inputs = pre.transform_inputs::<f32>(&test)?;
//! assert_eq!(inputs.values, [0.0, 0.0, 0.0]);
//! assert_eq!(inputs.warnings[0].count, 1);
//!
//! // The targets, standardized for training and kept in their units for metrics.
//! let EncodedTargets::Regression { original, .. } = pre.transform_targets::<f32>(&table)? else {
//!     unreachable!()
//! };
//! assert_eq!(original, [150.0, 400.0, 200.0]);
//!
//! // Saved with the model, read back identical.
//! let mut metadata = nn_io::ModelMetadata::default();
//! pre.store_in(&mut metadata);
//! assert_eq!(Preprocessor::from_metadata(&metadata)?, Some(pre));
//! # Ok::<(), nn_io::tabular::TabularError>(())
//! ```

mod error;
mod predictions;
mod preprocess;
mod record;
mod spec;
mod table;

pub use error::{CellRef, TabularError, UnseenCategories};
pub use predictions::save_predictions;
pub use preprocess::{
    CategoricalColumn, EncodedTargets, Feature, Inputs, NumericColumn, Preprocessor, TargetEncoding,
};
pub use record::{FORMAT, METADATA_KEY, VERSION};
pub use spec::{DEFAULT_MAX_CATEGORIES, Imputation, ParseTaskError, TabularSpec, Task};
pub use table::{CsvOptions, DEFAULT_MAX_RECORD_BYTES, Table, parse_csv, read_csv};
