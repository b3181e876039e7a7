//! What to learn from a table: the task, its target columns, and how to treat the features.

use std::fmt;

use super::error::{Quoted, TabularError};

/// The default of [`TabularSpec::with_max_categories`].
pub const DEFAULT_MAX_CATEGORIES: usize = 1000;

/// What the targets are (nn-core's type, shared with nn-train's data sets).
pub use nn_core::{ParseTaskError, Task};

/// What to do with a missing (empty) feature cell. Targets are never imputed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Imputation {
    /// A missing value is an error naming its row and column.
    Off,
    /// A missing value takes the training set's mean of its encoded column(s): for a numeric
    /// column, the mean (0 once standardized); for a string column, the mean of its one-hot
    /// columns, i.e. each category's frequency in the training set.
    Mean,
}

impl Imputation {
    /// `off` or `mean`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Imputation::Off => "off",
            Imputation::Mean => "mean",
        }
    }
}

impl fmt::Display for Imputation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What to fit on a table: the task, its target columns, and options for the feature columns
/// (every column that is neither a target nor ignored).
///
/// ```
/// use nn_io::tabular::{Imputation, TabularSpec, Task};
///
/// let spec = TabularSpec::new(Task::Regression, ["price"])
///     .with_imputation(Imputation::Mean)
///     .with_categorical(["zip"])
///     .with_ignored(["id"]);
/// assert_eq!(spec.targets(), ["price"]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TabularSpec {
    task: Task,
    targets: Vec<String>,
    imputation: Imputation,
    categorical: Vec<String>,
    ignored: Vec<String>,
    max_categories: usize,
}

impl TabularSpec {
    /// A task on the columns `targets`: exactly one for classification, one or more for
    /// regression and multi-label. No imputation, types inferred, at most
    /// [`DEFAULT_MAX_CATEGORIES`] categories per string column.
    #[must_use]
    pub fn new<S: Into<String>>(task: Task, targets: impl IntoIterator<Item = S>) -> Self {
        TabularSpec {
            task,
            targets: targets.into_iter().map(Into::into).collect(),
            imputation: Imputation::Off,
            categorical: Vec::new(),
            ignored: Vec::new(),
            max_categories: DEFAULT_MAX_CATEGORIES,
        }
    }

    /// How missing feature values are handled (default [`Imputation::Off`]).
    #[must_use]
    pub fn with_imputation(mut self, imputation: Imputation) -> Self {
        self.imputation = imputation;
        self
    }

    /// Columns encoded as categories even if every value is a number (zip codes, ids of
    /// stores). Other columns are numeric when every non-empty cell is a number, categorical
    /// otherwise.
    #[must_use]
    pub fn with_categorical<S: Into<String>>(
        mut self,
        columns: impl IntoIterator<Item = S>,
    ) -> Self {
        self.categorical = columns.into_iter().map(Into::into).collect();
        self
    }

    /// Columns that are not features (row ids, free text, leaks of the target).
    #[must_use]
    pub fn with_ignored<S: Into<String>>(mut self, columns: impl IntoIterator<Item = S>) -> Self {
        self.ignored = columns.into_iter().map(Into::into).collect();
        self
    }

    /// The most distinct values a string column (or a classification target) may have: more is
    /// an error (a numeric column with a typo, an id column) rather than a huge one-hot input.
    #[must_use]
    pub fn with_max_categories(mut self, max_categories: usize) -> Self {
        self.max_categories = max_categories;
        self
    }

    /// The task.
    #[must_use]
    pub fn task(&self) -> Task {
        self.task
    }

    /// The target columns.
    #[must_use]
    pub fn targets(&self) -> &[String] {
        &self.targets
    }

    /// How missing feature values are handled.
    #[must_use]
    pub fn imputation(&self) -> Imputation {
        self.imputation
    }

    /// The columns forced to be categorical.
    #[must_use]
    pub fn categorical(&self) -> &[String] {
        &self.categorical
    }

    /// The ignored columns.
    #[must_use]
    pub fn ignored(&self) -> &[String] {
        &self.ignored
    }

    /// The most categories per string column.
    #[must_use]
    pub fn max_categories(&self) -> usize {
        self.max_categories
    }

    /// Checks what can be checked without a table.
    pub(crate) fn validate(&self) -> Result<(), TabularError> {
        let spec = |message: String| Err(TabularError::Spec { message });
        match (self.task, self.targets.len()) {
            (_, 0) => return spec(format!("{} needs a target column", self.task)),
            (Task::Classification, n) if n > 1 => {
                return spec(format!(
                    "classification takes one target column, got {n}: for several 0/1 labels use the multilabel task"
                ));
            }
            _ => {}
        }
        if self.max_categories == 0 {
            return spec("the category limit must be at least 1".to_owned());
        }
        let mut seen: Vec<(&str, &str)> = Vec::new();
        for (role, names) in [
            ("target", &self.targets),
            ("ignored", &self.ignored),
            ("categorical", &self.categorical),
        ] {
            for name in names {
                if let Some((first, _)) = seen.iter().find(|(_, n)| *n == name) {
                    return spec(format!(
                        "column {} is named twice (as {first} and as {role})",
                        Quoted(name)
                    ));
                }
                seen.push((role, name));
            }
        }
        Ok(())
    }
}
