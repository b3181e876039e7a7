//! The preprocessing fitted on a training table: standardized numeric columns, one-hot encoded
//! string columns, encoded targets; and its application to other tables.

use std::collections::{BTreeMap, HashMap};

use nn_core::{Float, Network};

use super::error::{TabularError, UnseenCategories};
use super::spec::{Imputation, TabularSpec, Task};
use super::table::Table;

/// A numeric column and the statistics it is standardized with: `(x − mean) / scale`.
#[derive(Clone, Debug, PartialEq)]
pub struct NumericColumn {
    /// The column's name.
    pub name: String,
    /// The training set's mean.
    pub mean: f64,
    /// The training set's standard deviation (population, as numpy's and scikit-learn's
    /// default), or 1 for a constant column.
    pub scale: f64,
}

/// A string column and its one-hot encoding.
#[derive(Clone, Debug, PartialEq)]
pub struct CategoricalColumn {
    /// The column's name.
    pub name: String,
    /// The training set's distinct values, sorted (by their UTF-8 bytes): category `k` is
    /// input `k` of the column's block.
    pub categories: Vec<String>,
    /// The share of each category among the training set's non-missing values (they add up
    /// to 1): what [`Imputation::Mean`] puts in place of a missing value.
    pub frequencies: Vec<f64>,
}

/// A feature column and how it becomes network inputs.
#[derive(Clone, Debug, PartialEq)]
pub enum Feature {
    /// One input: the standardized value.
    Numeric(NumericColumn),
    /// One input per category: 1 for the row's category, 0 for the others (all 0 for a
    /// category not seen in training).
    Categorical(CategoricalColumn),
}

impl Feature {
    /// The column's name.
    #[must_use]
    pub fn name(&self) -> &str {
        match self {
            Feature::Numeric(c) => &c.name,
            Feature::Categorical(c) => &c.name,
        }
    }

    /// The number of network inputs it takes.
    #[must_use]
    pub fn width(&self) -> usize {
        match self {
            Feature::Numeric(_) => 1,
            Feature::Categorical(c) => c.categories.len(),
        }
    }
}

/// The targets and how they become network outputs.
#[derive(Clone, Debug, PartialEq)]
pub enum TargetEncoding {
    /// A class index per row; class `k` is output `k`.
    Classes {
        /// The target column's name.
        column: String,
        /// The class names: the training set's distinct values, sorted as numbers if all are
        /// numbers, as strings otherwise.
        classes: Vec<String>,
    },
    /// Standardized numeric targets, one output each. Predictions are turned back into the
    /// original units (`mean + scale · output`).
    Regression {
        /// The target columns.
        columns: Vec<NumericColumn>,
    },
    /// 0/1 labels, one output each (the probability that the label is 1).
    Multilabel {
        /// The target columns.
        columns: Vec<String>,
    },
}

/// Encoded network inputs: features × samples, column-major (sample `j`'s inputs are
/// `values[j * n_inputs..(j + 1) * n_inputs]`), ready for
/// `nn_linalg::MatRef::from_column_major_slice(&values, n_inputs, n_samples)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Inputs<T> {
    /// The values.
    pub values: Vec<T>,
    /// Inputs per sample.
    pub n_inputs: usize,
    /// Samples (the table's rows).
    pub n_samples: usize,
    /// Categories not seen in training, encoded as all zeros: one entry per column that had
    /// any.
    pub warnings: Vec<UnseenCategories>,
}

/// Encoded targets of a table.
#[derive(Clone, Debug, PartialEq)]
pub enum EncodedTargets<T> {
    /// A class index per sample.
    Classes {
        /// The indices, each below `n_classes`.
        labels: Vec<usize>,
        /// The number of classes.
        n_classes: usize,
    },
    /// Numeric targets, targets × samples, column-major.
    Regression {
        /// Standardized, as the network is trained on them.
        values: Vec<T>,
        /// In the file's units, for metrics.
        original: Vec<f64>,
        /// Targets per sample.
        n_targets: usize,
    },
    /// 0/1 labels, labels × samples, column-major.
    Multilabel {
        /// The labels, 0 or 1.
        values: Vec<T>,
        /// Labels per sample.
        n_labels: usize,
    },
}

/// The preprocessing fitted on a training table, that turns tables with the same columns into
/// network inputs and targets. See [the module docs](crate::tabular) for the rules.
#[derive(Clone, Debug, PartialEq)]
pub struct Preprocessor {
    pub(crate) task: Task,
    pub(crate) imputation: Imputation,
    pub(crate) columns: Vec<String>,
    pub(crate) features: Vec<Feature>,
    pub(crate) target: TargetEncoding,
    /// For each feature, its categories' positions (empty for a numeric column).
    lookup: Vec<HashMap<String, usize>>,
    /// The class names' positions (empty but for classification).
    class_lookup: HashMap<String, usize>,
}

/// A parsed number, or why a cell is not one.
enum Number {
    Missing,
    Finite(f64),
    NonFinite,
    Text,
}

fn number(cell: &str) -> Number {
    if cell.is_empty() {
        return Number::Missing;
    }
    match cell.parse::<f64>() {
        Ok(v) if v.is_finite() => Number::Finite(v),
        Ok(_) => Number::NonFinite,
        Err(_) => Number::Text,
    }
}

/// Mean and scale of `values` (all finite): the population standard deviation, or 1 where the
/// deviation is 0 or negligible next to the mean (at most 1e-12 of it), so a constant column
/// is centered and not divided by zero.
fn standardization(name: &str, values: &[f64]) -> Result<NumericColumn, TabularError> {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    let std = var.sqrt();
    if !mean.is_finite() || !std.is_finite() {
        return Err(TabularError::Overflow { column: name.to_owned() });
    }
    let scale = if std > 1e-12 * mean.abs() && std > 0.0 { std } else { 1.0 };
    Ok(NumericColumn { name: name.to_owned(), mean, scale })
}

/// The numbers of a target column, each checked.
fn target_numbers(table: &Table, column: usize) -> Result<Vec<f64>, TabularError> {
    table
        .column_cells(column)
        .enumerate()
        .map(|(row, cell)| {
            let at = || table.cell_ref(row, column);
            match number(cell) {
                Number::Finite(v) => Ok(v),
                Number::Missing => Err(TabularError::MissingTarget { at: at() }),
                Number::NonFinite => {
                    Err(TabularError::NonFinite { at: at(), value: cell.to_owned() })
                }
                Number::Text => {
                    Err(TabularError::NotANumber { at: at(), value: cell.to_owned(), target: true })
                }
            }
        })
        .collect()
}

/// A multi-label cell: 0 or 1.
#[expect(clippy::float_cmp, reason = "a label is exactly 0 or 1")]
fn binary(table: &Table, row: usize, column: usize, cell: &str) -> Result<f64, TabularError> {
    let at = || table.cell_ref(row, column);
    match number(cell) {
        Number::Finite(v) if v == 0.0 || v == 1.0 => Ok(v),
        Number::Missing => Err(TabularError::MissingTarget { at: at() }),
        _ => Err(TabularError::NotBinary { at: at(), value: cell.to_owned() }),
    }
}

/// The distinct values of a column, stopping with [`TabularError::TooManyCategories`] as soon
/// as there are more than `limit`; with their counts.
fn distinct<'t>(
    table: &'t Table,
    column: usize,
    limit: usize,
    what: &'static str,
) -> Result<BTreeMap<&'t str, usize>, TabularError> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for cell in table.column_cells(column).filter(|c| !c.is_empty()) {
        *counts.entry(cell).or_default() += 1;
        if counts.len() > limit {
            // A hint for a numeric column spoilt by a few non-numbers.
            let cells = || table.column_cells(column).enumerate().filter(|(_, c)| !c.is_empty());
            let n_numbers = cells().filter(|(_, c)| matches!(number(c), Number::Finite(_))).count();
            let first_non_number = if 2 * n_numbers >= cells().count() {
                cells()
                    .find(|(_, c)| !matches!(number(c), Number::Finite(_)))
                    .map(|(row, c)| Box::new((table.cell_ref(row, column), c.to_owned())))
            } else {
                None
            };
            return Err(TabularError::TooManyCategories {
                column: table.columns()[column].clone(),
                what,
                found: counts.len(),
                limit,
                first_non_number,
            });
        }
    }
    Ok(counts)
}

fn fit_feature(table: &Table, column: usize, spec: &TabularSpec) -> Result<Feature, TabularError> {
    let name = &table.columns()[column];
    let mut n_present = 0usize;
    let mut numeric = !spec.categorical().contains(name);
    for (row, cell) in table.column_cells(column).enumerate() {
        match number(cell) {
            Number::Missing => {
                if spec.imputation() == Imputation::Off {
                    return Err(TabularError::MissingValue { at: table.cell_ref(row, column) });
                }
                continue;
            }
            Number::Text => numeric = false,
            Number::Finite(_) | Number::NonFinite => {}
        }
        n_present += 1;
    }
    if n_present == 0 {
        return Err(TabularError::EmptyColumn { column: name.clone() });
    }
    if numeric {
        let mut values = Vec::with_capacity(n_present);
        for (row, cell) in table.column_cells(column).enumerate() {
            match number(cell) {
                Number::Finite(v) => values.push(v),
                Number::NonFinite => {
                    let at = table.cell_ref(row, column);
                    return Err(TabularError::NonFinite { at, value: cell.to_owned() });
                }
                Number::Missing | Number::Text => {}
            }
        }
        return Ok(Feature::Numeric(standardization(name, &values)?));
    }
    let counts = distinct(table, column, spec.max_categories(), "categories")?;
    let total = n_present as f64;
    Ok(Feature::Categorical(CategoricalColumn {
        name: name.clone(),
        frequencies: counts.values().map(|&c| c as f64 / total).collect(),
        categories: counts.into_keys().map(str::to_owned).collect(),
    }))
}

fn fit_target(
    table: &Table,
    columns: &[usize],
    spec: &TabularSpec,
) -> Result<TargetEncoding, TabularError> {
    let name = |c: usize| table.columns()[c].clone();
    match spec.task() {
        Task::Classification => {
            let column = columns[0];
            if let Some(row) = table.column_cells(column).position(str::is_empty) {
                return Err(TabularError::MissingTarget { at: table.cell_ref(row, column) });
            }
            let what = "classes (is it a regression target?)";
            let counts = distinct(table, column, spec.max_categories(), what)?;
            let mut classes: Vec<&str> = counts.into_keys().collect();
            if let [only] = classes[..] {
                return Err(TabularError::SingleClass { column: name(column), class: only.into() });
            }
            let numbers: Option<Vec<f64>> = classes
                .iter()
                .map(|c| match number(c) {
                    Number::Finite(v) => Some(v),
                    _ => None,
                })
                .collect();
            if let Some(numbers) = numbers {
                // Numeric labels in numeric order ("2" before "10"); ties ("1" and "1.0") keep
                // their string order, as the sort is stable.
                let mut pairs: Vec<(f64, &str)> = numbers.into_iter().zip(classes).collect();
                pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
                classes = pairs.into_iter().map(|(_, c)| c).collect();
            }
            Ok(TargetEncoding::Classes {
                column: name(column),
                classes: classes.into_iter().map(str::to_owned).collect(),
            })
        }
        Task::Regression => {
            let mut out = Vec::with_capacity(columns.len());
            for &c in columns {
                let values = target_numbers(table, c)?;
                out.push(standardization(&name(c), &values)?);
            }
            Ok(TargetEncoding::Regression { columns: out })
        }
        Task::Multilabel => {
            for &c in columns {
                for (row, cell) in table.column_cells(c).enumerate() {
                    binary(table, row, c, cell)?;
                }
            }
            Ok(TargetEncoding::Multilabel { columns: columns.iter().map(|&c| name(c)).collect() })
        }
    }
}

impl Preprocessor {
    /// Fits the preprocessing on a training table: infers each feature column's type, and
    /// computes the statistics (means, deviations, categories, frequencies, classes) from it.
    ///
    /// ```
    /// use nn_io::tabular::{CsvOptions, Feature, Preprocessor, TabularSpec, Task, parse_csv};
    ///
    /// let csv = "size,color,label\n1,red,yes\n3,blue,no\n2,red,yes\n";
    /// let table = parse_csv(csv.as_bytes(), &CsvOptions::default())?;
    /// let pre = Preprocessor::fit(&table, &TabularSpec::new(Task::Classification, ["label"]))?;
    /// assert_eq!(pre.n_inputs(), 3); // size, color=blue, color=red
    /// assert_eq!(pre.input_names(), ["size", "color=blue", "color=red"]);
    /// let Feature::Numeric(size) = &pre.features()[0] else { unreachable!() };
    /// assert_eq!((size.mean, size.scale), (2.0, (2.0f64 / 3.0).sqrt()));
    ///
    /// let inputs = pre.transform_inputs::<f64>(&table)?;
    /// assert_eq!(&inputs.values[..3], &[-1.0 / size.scale, 0.0, 1.0]);
    /// # Ok::<(), nn_io::tabular::TabularError>(())
    /// ```
    ///
    /// # Errors
    /// [`TabularError::Spec`] for an inconsistent spec, [`TabularError::MissingColumn`] for a
    /// target, ignored or categorical column the table lacks, and the errors of the cells:
    /// [`MissingValue`](TabularError::MissingValue) (without imputation),
    /// [`MissingTarget`](TabularError::MissingTarget),
    /// [`NonFinite`](TabularError::NonFinite), [`NotANumber`](TabularError::NotANumber) (a
    /// regression target), [`NotBinary`](TabularError::NotBinary) (a multi-label target),
    /// [`TooManyCategories`](TabularError::TooManyCategories),
    /// [`EmptyColumn`](TabularError::EmptyColumn), [`SingleClass`](TabularError::SingleClass),
    /// [`Overflow`](TabularError::Overflow).
    pub fn fit(table: &Table, spec: &TabularSpec) -> Result<Self, TabularError> {
        spec.validate()?;
        let targets: Vec<usize> =
            spec.targets().iter().map(|t| table.column_index(t)).collect::<Result<_, _>>()?;
        let ignored: Vec<usize> =
            spec.ignored().iter().map(|t| table.column_index(t)).collect::<Result<_, _>>()?;
        for name in spec.categorical() {
            table.column_index(name)?;
        }
        let feature_columns: Vec<usize> = (0..table.n_columns())
            .filter(|c| !targets.contains(c) && !ignored.contains(c))
            .collect();
        if feature_columns.is_empty() {
            return Err(TabularError::Spec {
                message: "no feature column: every column is a target or ignored".to_owned(),
            });
        }
        let features = feature_columns
            .iter()
            .map(|&c| fit_feature(table, c, spec))
            .collect::<Result<Vec<_>, _>>()?;
        let target = fit_target(table, &targets, spec)?;
        Ok(Preprocessor::new(
            spec.task(),
            spec.imputation(),
            table.columns().to_vec(),
            features,
            target,
        ))
    }

    /// Assembles a preprocessor from checked parts, building its look-up tables.
    pub(crate) fn new(
        task: Task,
        imputation: Imputation,
        columns: Vec<String>,
        features: Vec<Feature>,
        target: TargetEncoding,
    ) -> Self {
        let lookup = features
            .iter()
            .map(|f| match f {
                Feature::Numeric(_) => HashMap::new(),
                Feature::Categorical(c) => {
                    c.categories.iter().enumerate().map(|(k, s)| (s.clone(), k)).collect()
                }
            })
            .collect();
        let class_lookup = match &target {
            TargetEncoding::Classes { classes, .. } => {
                classes.iter().enumerate().map(|(k, s)| (s.clone(), k)).collect()
            }
            _ => HashMap::new(),
        };
        Preprocessor { task, imputation, columns, features, target, lookup, class_lookup }
    }

    /// The task.
    #[must_use]
    pub fn task(&self) -> Task {
        self.task
    }

    /// How missing feature values are handled.
    #[must_use]
    pub fn imputation(&self) -> Imputation {
        self.imputation
    }

    /// The training table's columns, in its order (features, targets and ignored columns).
    #[must_use]
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The feature columns, in the training table's order: the order of the network's inputs.
    #[must_use]
    pub fn features(&self) -> &[Feature] {
        &self.features
    }

    /// The targets' encoding.
    #[must_use]
    pub fn target(&self) -> &TargetEncoding {
        &self.target
    }

    /// The number of network inputs: 1 per numeric column, 1 per category of each string
    /// column.
    #[must_use]
    pub fn n_inputs(&self) -> usize {
        self.features.iter().map(Feature::width).sum()
    }

    /// The number of network outputs: 1 per class, per regression target or per label.
    #[must_use]
    pub fn n_outputs(&self) -> usize {
        match &self.target {
            TargetEncoding::Classes { classes, .. } => classes.len(),
            TargetEncoding::Regression { columns } => columns.len(),
            TargetEncoding::Multilabel { columns } => columns.len(),
        }
    }

    /// The name of each network input: the column's name for a numeric column,
    /// `column=category` for a one-hot input.
    #[must_use]
    pub fn input_names(&self) -> Vec<String> {
        let mut names = Vec::with_capacity(self.n_inputs());
        for f in &self.features {
            match f {
                Feature::Numeric(c) => names.push(c.name.clone()),
                Feature::Categorical(c) => {
                    names.extend(c.categories.iter().map(|k| format!("{}={k}", c.name)));
                }
            }
        }
        names
    }

    /// The name of each network output: the class names, or the target columns.
    #[must_use]
    pub fn output_names(&self) -> Vec<String> {
        match &self.target {
            TargetEncoding::Classes { classes, .. } => classes.clone(),
            TargetEncoding::Regression { columns } => {
                columns.iter().map(|c| c.name.clone()).collect()
            }
            TargetEncoding::Multilabel { columns } => columns.clone(),
        }
    }

    /// The target columns' names.
    #[must_use]
    pub fn target_columns(&self) -> Vec<String> {
        match &self.target {
            TargetEncoding::Classes { column, .. } => vec![column.clone()],
            _ => self.output_names(),
        }
    }

    /// Checks that `net` takes this preprocessing's inputs and gives its outputs with the
    /// task's loss.
    ///
    /// # Errors
    /// [`TabularError::NetworkMismatch`].
    pub fn check_network<T: Float>(&self, net: &Network<T>) -> Result<(), TabularError> {
        let mismatch = |what, expected: String, found: String| {
            Err(TabularError::NetworkMismatch { what, expected, found })
        };
        if net.n_inputs() != self.n_inputs() {
            return mismatch("inputs", self.n_inputs().to_string(), net.n_inputs().to_string());
        }
        if net.n_outputs() != self.n_outputs() {
            return mismatch("outputs", self.n_outputs().to_string(), net.n_outputs().to_string());
        }
        if net.loss_kind() != self.task.loss() {
            return mismatch("loss", self.task.loss().to_string(), net.loss_kind().to_string());
        }
        Ok(())
    }

    /// The network inputs for the rows of `table`, which needs every feature column (found by
    /// name: the order of the columns and other columns do not matter).
    ///
    /// Numeric cells are standardized, string cells one-hot encoded; a category not seen in
    /// training is encoded as all zeros and counted in [`Inputs::warnings`]; a missing value is
    /// imputed or an error, as fitted.
    ///
    /// # Errors
    /// [`TabularError::MissingColumn`], [`MissingValue`](TabularError::MissingValue),
    /// [`NotANumber`](TabularError::NotANumber) and [`NonFinite`](TabularError::NonFinite) for a
    /// numeric column, [`OutOfRange`](TabularError::OutOfRange) for a value that overflows `T`
    /// once standardized, [`TooLarge`](TabularError::TooLarge) if the inputs do not fit in
    /// memory.
    pub fn transform_inputs<T: Float>(&self, table: &Table) -> Result<Inputs<T>, TabularError> {
        let columns: Vec<usize> =
            self.features.iter().map(|f| table.column_index(f.name())).collect::<Result<_, _>>()?;
        let n_inputs = self.n_inputs();
        let n_samples = table.n_rows();
        let mut values = zeros(n_inputs, n_samples)?;
        let mut warnings = Vec::new();
        let mut offset = 0;
        for ((feature, &column), lookup) in self.features.iter().zip(&columns).zip(&self.lookup) {
            let mut unseen: Option<UnseenCategories> = None;
            for (row, cell) in table.column_cells(column).enumerate() {
                let slot = row * n_inputs + offset;
                let at = || table.cell_ref(row, column);
                match feature {
                    Feature::Numeric(c) => {
                        let x = match number(cell) {
                            Number::Finite(x) => x,
                            // Standardized, the training mean is 0.
                            Number::Missing if self.imputation == Imputation::Mean => continue,
                            Number::Missing => {
                                return Err(TabularError::MissingValue { at: at() });
                            }
                            Number::NonFinite => {
                                return Err(TabularError::NonFinite {
                                    at: at(),
                                    value: cell.to_owned(),
                                });
                            }
                            Number::Text => {
                                return Err(TabularError::NotANumber {
                                    at: at(),
                                    value: cell.to_owned(),
                                    target: false,
                                });
                            }
                        };
                        let z = (x - c.mean) / c.scale;
                        let v = T::from_f64(z);
                        if !v.is_finite() {
                            return Err(TabularError::OutOfRange {
                                at: at(),
                                value: cell.to_owned(),
                                standardized: z,
                                float: T::NAME,
                            });
                        }
                        values[slot] = v;
                    }
                    Feature::Categorical(c) => {
                        if cell.is_empty() {
                            if self.imputation == Imputation::Off {
                                return Err(TabularError::MissingValue { at: at() });
                            }
                            for (k, &f) in c.frequencies.iter().enumerate() {
                                values[slot + k] = T::from_f64(f);
                            }
                        } else if let Some(&k) = lookup.get(cell) {
                            values[slot + k] = T::ONE;
                        } else {
                            match &mut unseen {
                                Some(w) => w.count += 1,
                                None => {
                                    unseen = Some(UnseenCategories {
                                        column: c.name.clone(),
                                        count: 1,
                                        first: at(),
                                        first_value: cell.to_owned(),
                                    });
                                }
                            }
                        }
                    }
                }
            }
            warnings.extend(unseen);
            offset += feature.width();
        }
        Ok(Inputs { values, n_inputs, n_samples, warnings })
    }

    /// The targets of the rows of `table`, which needs the target columns.
    ///
    /// # Errors
    /// [`TabularError::MissingColumn`], [`MissingTarget`](TabularError::MissingTarget), and for
    /// a classification [`UnknownClass`](TabularError::UnknownClass), a regression
    /// [`NotANumber`](TabularError::NotANumber), [`NonFinite`](TabularError::NonFinite) or
    /// [`OutOfRange`](TabularError::OutOfRange), a multi-label
    /// [`NotBinary`](TabularError::NotBinary).
    pub fn transform_targets<T: Float>(
        &self,
        table: &Table,
    ) -> Result<EncodedTargets<T>, TabularError> {
        let n = table.n_rows();
        match &self.target {
            TargetEncoding::Classes { column, classes } => {
                let c = table.column_index(column)?;
                let labels = table
                    .column_cells(c)
                    .enumerate()
                    .map(|(row, cell)| {
                        if cell.is_empty() {
                            return Err(TabularError::MissingTarget { at: table.cell_ref(row, c) });
                        }
                        self.class_lookup.get(cell).copied().ok_or_else(|| {
                            TabularError::UnknownClass {
                                at: table.cell_ref(row, c),
                                value: cell.to_owned(),
                                n_classes: classes.len(),
                            }
                        })
                    })
                    .collect::<Result<_, _>>()?;
                Ok(EncodedTargets::Classes { labels, n_classes: classes.len() })
            }
            TargetEncoding::Regression { columns } => {
                let n_targets = columns.len();
                let mut values = zeros(n_targets, n)?;
                let mut original = zeros(n_targets, n)?;
                for (k, target) in columns.iter().enumerate() {
                    let c = table.column_index(&target.name)?;
                    for (row, y) in target_numbers(table, c)?.into_iter().enumerate() {
                        let z = (y - target.mean) / target.scale;
                        let v = T::from_f64(z);
                        if !v.is_finite() {
                            return Err(TabularError::OutOfRange {
                                at: table.cell_ref(row, c),
                                value: table.cell(row, c).unwrap_or_default().to_owned(),
                                standardized: z,
                                float: T::NAME,
                            });
                        }
                        values[row * n_targets + k] = v;
                        original[row * n_targets + k] = y;
                    }
                }
                Ok(EncodedTargets::Regression { values, original, n_targets })
            }
            TargetEncoding::Multilabel { columns } => {
                let n_labels = columns.len();
                let mut values = zeros(n_labels, n)?;
                for (k, name) in columns.iter().enumerate() {
                    let c = table.column_index(name)?;
                    for (row, cell) in table.column_cells(c).enumerate() {
                        values[row * n_labels + k] = T::from_f64(binary(table, row, c, cell)?);
                    }
                }
                Ok(EncodedTargets::Multilabel { values, n_labels })
            }
        }
    }

    /// Regression outputs (targets × samples, column-major, as the network gives them) in the
    /// targets' original units: `mean + scale · output`. Other tasks' outputs are returned as
    /// they are (probabilities), in f64.
    ///
    /// # Errors
    /// [`TabularError::OutputShape`] if the length is not a multiple of the output count.
    pub fn outputs_to_original<T: Float>(&self, outputs: &[T]) -> Result<Vec<f64>, TabularError> {
        let n_outputs = self.n_outputs();
        if n_outputs == 0 || !outputs.len().is_multiple_of(n_outputs) {
            return Err(TabularError::OutputShape {
                n_outputs,
                n_samples: outputs.len() / n_outputs.max(1),
                found: outputs.len(),
            });
        }
        Ok(match &self.target {
            TargetEncoding::Regression { columns } => outputs
                .iter()
                .enumerate()
                .map(|(i, &v)| {
                    let c = &columns[i % n_outputs];
                    c.mean + c.scale * v.to_f64()
                })
                .collect(),
            _ => outputs.iter().map(|v| v.to_f64()).collect(),
        })
    }
}

/// A zeroed buffer of `n_rows × n_cols` values, or [`TabularError::TooLarge`] if it does not fit
/// in memory (it is reserved fallibly, so an absurd size is an error, not an abort).
pub(crate) fn zeros<T: Copy + Default>(
    n_per_sample: usize,
    n_samples: usize,
) -> Result<Vec<T>, TabularError> {
    let too_large = || TabularError::TooLarge {
        n_inputs: n_per_sample,
        n_rows: n_samples,
        n_values: n_per_sample.saturating_mul(n_samples),
    };
    let len = n_per_sample.checked_mul(n_samples).ok_or_else(too_large)?;
    let mut values = Vec::new();
    values.try_reserve_exact(len).map_err(|_| too_large())?;
    values.resize(len, T::default());
    Ok(values)
}
