//! Metrics computed from a network's outputs (or predicted classes) and the targets, with no
//! training machinery: classification ([`ConfusionMatrix`], [`accuracy`], [`top_k_accuracy`]),
//! regression ([`RegressionStats`], [`regression_metrics`]) and multi-label classification
//! ([`MultilabelStats`], [`multilabel_metrics`]).
//!
//! Samples are columns, as everywhere in `nn`: an output or target matrix is outputs × samples.
//! The accumulators ([`ConfusionMatrix`], [`RegressionStats`], [`MultilabelStats`]) take one batch
//! after another, so a data set of any size is evaluated in the batches of a workspace; the free
//! functions take everything at once. Sums are kept in `f64` (or `u64` counts) whatever the float
//! type of the network.
//!
//! The definitions follow scikit-learn's, so numbers can be compared with it directly:
//! `accuracy_score`, `confusion_matrix`, `precision_recall_fscore_support` (0 where a ratio is
//! undefined), `top_k_accuracy_score`, `mean_squared_error`, `root_mean_squared_error`,
//! `mean_absolute_error` and `r2_score` (all with `multioutput = "uniform_average"`),
//! `f1_score(average = "micro")` and `hamming_loss`.
//!
//! ```
//! use nn_core::metrics::{ConfusionMatrix, regression_metrics};
//! use nn_linalg::Mat;
//!
//! let confusion = ConfusionMatrix::from_predictions(&[0, 1, 1, 2], &[0, 1, 2, 2], 3)?;
//! assert_eq!(confusion.accuracy(), 0.75);
//! assert_eq!(confusion.class_metrics(2).precision, 0.5);
//!
//! // One output, three samples (columns): the prediction is off by 1 on the last one.
//! let outputs = Mat::from_fn(1, 3, |_, j| [1.0, 2.0, 4.0][j]);
//! let targets = Mat::from_fn(1, 3, |_, j| [1.0, 2.0, 3.0][j]);
//! let m = regression_metrics::<f64>(outputs.as_ref(), targets.as_ref())?;
//! assert_eq!((m.mse, m.mae), (1.0 / 3.0, 1.0 / 3.0));
//! assert_eq!(m.r2, 0.5); // 1 − SS_res / SS_tot = 1 − 1 / 2
//! # Ok::<(), nn_core::Error>(())
//! ```

mod classification;
mod multilabel;
mod regression;

pub use classification::{
    ClassMetrics, ConfusionMatrix, MAX_CLASSES, accuracy, in_top_k, top_k_accuracy,
};
pub use multilabel::{MultilabelMetrics, MultilabelStats, multilabel_metrics};
pub use regression::{OutputMetrics, RegressionMetrics, RegressionStats, regression_metrics};

/// `a / b`, or 0 when `b` is 0 (scikit-learn's `zero_division = 0`).
fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// The harmonic mean of precision and recall, 0 when both are 0.
fn f1(precision: f64, recall: f64) -> f64 {
    if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 }
}
