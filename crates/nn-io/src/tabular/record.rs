//! The preprocessing as versioned JSON, stored in a model file's metadata under
//! [`METADATA_KEY`]; read back with every field checked.
//!
//! # Version 1
//! ```json
//! {
//!   "format": "nn-tabular-preprocessing",
//!   "version": 1,
//!   "task": "regression",                       // or "classification", "multilabel"
//!   "imputation": "off",                        // or "mean"
//!   "columns": ["area", "city", "price"],       // the training file's columns, in order
//!   "features": [                               // the network's inputs, in order
//!     {"kind": "numeric", "name": "area", "mean": 81.5, "scale": 23.1},
//!     {"kind": "categorical", "name": "city", "categories": ["Lyon", "Paris"],
//!      "frequencies": [0.4, 0.6]}
//!   ],
//!   "target": {"kind": "regression", "columns": [{"name": "price", "mean": 310.0, "scale": 95.2}]}
//!   // or {"kind": "classification", "column": "species", "classes": ["setosa", ...]}
//!   // or {"kind": "multilabel", "columns": ["tag_a", "tag_b"]}
//! }
//! ```
//! Numbers are written in the shortest form that reads back to the same `f64`, and read back
//! exactly, so a model applies bit for bit the preprocessing it was trained with. A numeric
//! input is `(x − mean) / scale`; a categorical column gives one input per category (1 for the
//! row's, 0 for the others); a regression output is `mean + scale · output`.
//! Unknown fields are ignored; a change of meaning is a new version.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::error::{Quoted, TabularError};
use super::preprocess::{CategoricalColumn, Feature, NumericColumn, Preprocessor, TargetEncoding};
use super::spec::{Imputation, Task};
use crate::ModelMetadata;

/// The key of [`ModelMetadata::extra`] that holds the preprocessing's JSON.
pub const METADATA_KEY: &str = "tabular.preprocessing";

/// The value of the JSON's `format` field.
pub const FORMAT: &str = "nn-tabular-preprocessing";

/// The version this build writes (and the newest it reads).
pub const VERSION: u64 = 1;

#[derive(Deserialize)]
struct Header {
    format: String,
    version: u64,
}

#[derive(Serialize, Deserialize)]
struct Record {
    format: String,
    version: u64,
    task: String,
    imputation: String,
    columns: Vec<String>,
    features: Vec<FeatureRecord>,
    target: TargetRecord,
}

#[derive(Serialize, Deserialize)]
struct NumericRecord {
    name: String,
    mean: f64,
    scale: f64,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum FeatureRecord {
    Numeric { name: String, mean: f64, scale: f64 },
    Categorical { name: String, categories: Vec<String>, frequencies: Vec<f64> },
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum TargetRecord {
    Classification { column: String, classes: Vec<String> },
    Regression { columns: Vec<NumericRecord> },
    Multilabel { columns: Vec<String> },
}

fn invalid(message: impl Into<String>) -> TabularError {
    TabularError::Metadata { message: message.into() }
}

fn numeric(name: String, mean: f64, scale: f64) -> Result<NumericColumn, TabularError> {
    if !(mean.is_finite() && scale.is_finite() && scale > 0.0) {
        return Err(invalid(format!(
            "column {}: mean {mean} and scale {scale} (expected a finite mean and a finite scale > 0)",
            Quoted(&name)
        )));
    }
    Ok(NumericColumn { name, mean, scale })
}

/// Checks that `names` are distinct and not empty.
fn distinct_names<'a>(
    what: &str,
    names: impl IntoIterator<Item = &'a String>,
) -> Result<(), TabularError> {
    let mut seen = HashSet::new();
    for name in names {
        if name.is_empty() {
            return Err(invalid(format!("an empty {what}")));
        }
        if !seen.insert(name) {
            return Err(invalid(format!("{what} {} appears twice", Quoted(name))));
        }
    }
    Ok(())
}

impl Preprocessor {
    /// The preprocessing as JSON (see [the format](crate::tabular#stored-in-the-model)).
    #[must_use]
    pub fn to_json(&self) -> String {
        let features = self
            .features
            .iter()
            .map(|f| match f {
                Feature::Numeric(c) => {
                    FeatureRecord::Numeric { name: c.name.clone(), mean: c.mean, scale: c.scale }
                }
                Feature::Categorical(c) => FeatureRecord::Categorical {
                    name: c.name.clone(),
                    categories: c.categories.clone(),
                    frequencies: c.frequencies.clone(),
                },
            })
            .collect();
        let target = match &self.target {
            TargetEncoding::Classes { column, classes } => {
                TargetRecord::Classification { column: column.clone(), classes: classes.clone() }
            }
            TargetEncoding::Regression { columns } => TargetRecord::Regression {
                columns: columns
                    .iter()
                    .map(|c| NumericRecord { name: c.name.clone(), mean: c.mean, scale: c.scale })
                    .collect(),
            },
            TargetEncoding::Multilabel { columns } => {
                TargetRecord::Multilabel { columns: columns.clone() }
            }
        };
        let record = Record {
            format: FORMAT.to_owned(),
            version: VERSION,
            task: self.task.name().to_owned(),
            imputation: self.imputation.name().to_owned(),
            columns: self.columns.clone(),
            features,
            target,
        };
        // Strings and finite numbers (checked when fitted or read) always serialize.
        serde_json::to_string(&record).unwrap_or_default()
    }

    /// The preprocessing written by [`Preprocessor::to_json`], checked: the format and version,
    /// finite statistics and positive scales, distinct non-empty names and categories,
    /// frequencies in [0, 1] that add up to 1, a target that fits the task.
    ///
    /// # Errors
    /// [`TabularError::UnsupportedVersion`] for a newer version, [`TabularError::Metadata`]
    /// for anything else. Never panics, whatever the text.
    pub fn from_json(json: &str) -> Result<Self, TabularError> {
        let header: Header =
            serde_json::from_str(json).map_err(|e| invalid(format!("not valid JSON: {e}")))?;
        if header.format != FORMAT {
            return Err(invalid(format!("format {}, expected {FORMAT:?}", Quoted(&header.format))));
        }
        if header.version != VERSION {
            return Err(TabularError::UnsupportedVersion {
                found: header.version,
                supported: VERSION,
            });
        }
        let r: Record =
            serde_json::from_str(json).map_err(|e| invalid(format!("not valid JSON: {e}")))?;
        let task: Task =
            r.task.parse().map_err(|e: super::spec::ParseTaskError| invalid(e.to_string()))?;
        let imputation = match r.imputation.as_str() {
            "off" => Imputation::Off,
            "mean" => Imputation::Mean,
            other => return Err(invalid(format!("unknown imputation {}", Quoted(other)))),
        };
        distinct_names("column name", &r.columns)?;
        if r.features.is_empty() {
            return Err(invalid("no feature"));
        }
        let mut features = Vec::with_capacity(r.features.len());
        for f in r.features {
            features.push(match f {
                FeatureRecord::Numeric { name, mean, scale } => {
                    Feature::Numeric(numeric(name, mean, scale)?)
                }
                FeatureRecord::Categorical { name, categories, frequencies } => {
                    if categories.is_empty() || categories.len() != frequencies.len() {
                        return Err(invalid(format!(
                            "column {}: {} categories and {} frequencies",
                            Quoted(&name),
                            categories.len(),
                            frequencies.len()
                        )));
                    }
                    distinct_names("category", &categories)?;
                    let sum: f64 = frequencies.iter().sum();
                    if frequencies.iter().any(|f| !(0.0..=1.0).contains(f))
                        || (sum - 1.0).abs() > 1e-9
                    {
                        return Err(invalid(format!(
                            "column {}: frequencies must be in [0, 1] and add up to 1",
                            Quoted(&name)
                        )));
                    }
                    Feature::Categorical(CategoricalColumn { name, categories, frequencies })
                }
            });
        }
        distinct_names(
            "feature",
            features.iter().map(|f| match f {
                Feature::Numeric(c) => &c.name,
                Feature::Categorical(c) => &c.name,
            }),
        )?;
        let target = match (task, r.target) {
            (Task::Classification, TargetRecord::Classification { column, classes }) => {
                if classes.len() < 2 {
                    return Err(invalid(format!("{} classes (at least 2)", classes.len())));
                }
                distinct_names("class", &classes)?;
                TargetEncoding::Classes { column, classes }
            }
            (Task::Regression, TargetRecord::Regression { columns }) => {
                let columns = columns
                    .into_iter()
                    .map(|c| numeric(c.name, c.mean, c.scale))
                    .collect::<Result<Vec<_>, _>>()?;
                TargetEncoding::Regression { columns }
            }
            (Task::Multilabel, TargetRecord::Multilabel { columns }) => {
                TargetEncoding::Multilabel { columns }
            }
            (task, _) => return Err(invalid(format!("the target does not fit the task {task}"))),
        };
        let pre = Preprocessor::new(task, imputation, r.columns, features, target);
        let targets = pre.target_columns();
        if targets.is_empty() {
            return Err(invalid("no target column"));
        }
        distinct_names("target column", &targets)?;
        if let Some(t) = targets.iter().find(|t| pre.features.iter().any(|f| f.name() == *t)) {
            return Err(invalid(format!("column {} is both a feature and a target", Quoted(t))));
        }
        // The input count must be addressable (it is a sum of category counts).
        pre.features
            .iter()
            .try_fold(0usize, |n, f| n.checked_add(f.width()))
            .ok_or_else(|| invalid("too many inputs"))?;
        Ok(pre)
    }

    /// The preprocessing as string entries for another runtime's metadata (ONNX's
    /// `metadata_props`, for example), so that a model exported without this crate's code can
    /// be fed and read:
    /// - `tabular.preprocessing`: the JSON of [`Preprocessor::to_json`], every statistic;
    /// - `tabular.task`: `classification`, `regression` or `multilabel`;
    /// - `tabular.columns`: the training file's columns in order, as a JSON array;
    /// - `tabular.inputs`: the network's inputs in order (`area`, `city=Paris`, ...), as a
    ///   JSON array;
    /// - `tabular.outputs`: the network's outputs in order (class names, or target columns), as
    ///   a JSON array;
    /// - `tabular.targets`: the target columns, as a JSON array;
    /// - `tabular.input_transform` and `tabular.output_transform`: what to do, in words.
    #[must_use]
    pub fn metadata_entries(&self) -> std::collections::BTreeMap<String, String> {
        let array = |names: &[String]| serde_json::to_string(names).unwrap_or_default();
        let output_transform = match &self.target {
            TargetEncoding::Classes { .. } => {
                "output k is the probability of class tabular.outputs[k] (softmax applied)"
            }
            TargetEncoding::Regression { .. } => {
                "output k is target tabular.outputs[k] standardized: value = mean + scale * output, with the target's mean and scale in tabular.preprocessing"
            }
            TargetEncoding::Multilabel { .. } => {
                "output k is the probability that label tabular.outputs[k] is 1 (sigmoid applied); predict 1 from 0.5"
            }
        };
        let imputation = match self.imputation {
            Imputation::Off => "a missing value is an error",
            Imputation::Mean => {
                "a missing numeric value is the mean (input 0); a missing category is its columns' frequencies"
            }
        };
        [
            (METADATA_KEY, self.to_json()),
            ("tabular.task", self.task.name().to_owned()),
            ("tabular.columns", array(&self.columns)),
            ("tabular.inputs", array(&self.input_names())),
            ("tabular.outputs", array(&self.output_names())),
            ("tabular.targets", array(&self.target_columns())),
            (
                "tabular.input_transform",
                format!(
                    "one input per numeric column: (x - mean) / scale; one input per category of each string column: 1 for the row's category, else 0 (all 0 for a category not seen in training); {imputation}; means, scales and categories in tabular.preprocessing"
                ),
            ),
            ("tabular.output_transform", output_transform.to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// Stores the preprocessing in `metadata` under [`METADATA_KEY`], and for a classification
    /// its class names in [`ModelMetadata::class_names`].
    pub fn store_in(&self, metadata: &mut ModelMetadata) {
        metadata.extra.insert(METADATA_KEY.to_owned(), self.to_json());
        if let TargetEncoding::Classes { classes, .. } = &self.target {
            metadata.class_names.clone_from(classes);
        }
    }

    /// The preprocessing stored in `metadata` by [`Preprocessor::store_in`], or `None` if
    /// there is none (a model not trained on a table).
    ///
    /// # Errors
    /// Those of [`Preprocessor::from_json`].
    pub fn from_metadata(metadata: &ModelMetadata) -> Result<Option<Self>, TabularError> {
        metadata.extra.get(METADATA_KEY).map(|json| Preprocessor::from_json(json)).transpose()
    }
}
