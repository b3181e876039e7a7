//! Multi-label metrics: subset accuracy, Hamming loss, micro- and macro-averaged F1.

use nn_linalg::{Float, MatRef, Shape};

use super::{ClassMetrics, f1, ratio};
use crate::Error;

/// Multi-label metrics of predicted label sets against true ones (each a column of 0/1
/// indicators), as scikit-learn's `accuracy_score` (subset accuracy), `hamming_loss`, and
/// `precision_score`, `recall_score`, `f1_score` with `average = "micro"` and `"macro"`
/// (0 where a ratio is undefined).
///
/// ```text
/// subset_accuracy = (samples whose whole label set is right) / N
/// hamming_loss    = (wrong labels) / (N · n_labels)
/// micro_f1        = 2 TP / (2 TP + FP + FN)      with TP, FP, FN summed over all labels
/// macro_f1        = (1/n_labels) Σ_j F1_j
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct MultilabelMetrics {
    /// The number of samples.
    pub n_samples: usize,
    /// The fraction of samples whose predicted label set is exactly the true one.
    pub subset_accuracy: f64,
    /// The fraction of (sample, label) pairs predicted wrong.
    pub hamming_loss: f64,
    /// TP / (TP + FP) over all labels.
    pub micro_precision: f64,
    /// TP / (TP + FN) over all labels.
    pub micro_recall: f64,
    /// The F1 of the counts summed over all labels.
    pub micro_f1: f64,
    /// The unweighted mean of the per-label F1.
    pub macro_f1: f64,
}

impl Default for MultilabelMetrics {
    /// No samples, every metric 0 (to fill in field by field).
    fn default() -> Self {
        MultilabelMetrics {
            n_samples: 0,
            subset_accuracy: 0.0,
            hamming_loss: 0.0,
            micro_precision: 0.0,
            micro_recall: 0.0,
            micro_f1: 0.0,
            macro_f1: 0.0,
        }
    }
}

/// Counts for [`MultilabelMetrics`], accumulated batch after batch.
///
/// Outputs are scores, e.g. the label probabilities that
/// [`predict_proba`](crate::Network::predict_proba) gives for a sigmoid cross-entropy network
/// ([`Loss::SigmoidBinaryCrossEntropy`](crate::Loss::SigmoidBinaryCrossEntropy)): a label is
/// predicted where its score is ≥ the threshold (0.5 unless [`MultilabelStats::with_threshold`] says otherwise). Targets are
/// 0 or 1.
#[derive(Clone, Debug, PartialEq)]
pub struct MultilabelStats {
    threshold: f64,
    n_samples: u64,
    exact: u64,
    /// Per label: true positives, false positives, false negatives.
    tp: Vec<u64>,
    fp: Vec<u64>,
    fn_: Vec<u64>,
}

impl MultilabelStats {
    /// Empty counts for `n_labels` labels, threshold 0.5. Allocates.
    #[must_use]
    pub fn new(n_labels: usize) -> Self {
        MultilabelStats {
            threshold: 0.5,
            n_samples: 0,
            exact: 0,
            tp: vec![0; n_labels],
            fp: vec![0; n_labels],
            fn_: vec![0; n_labels],
        }
    }

    /// The same counts with another decision threshold (a label is predicted where its score is
    /// ≥ `threshold`; NaN predicts nothing).
    #[must_use]
    pub fn with_threshold(mut self, threshold: f64) -> Self {
        self.threshold = threshold;
        self
    }

    /// The number of labels.
    #[must_use]
    pub fn n_labels(&self) -> usize {
        self.tp.len()
    }

    /// Adds a batch: `outputs` (scores) and `targets` (0 or 1) are both labels × samples.
    ///
    /// # Errors
    /// [`Error::TargetShape`] if `targets` has not the shape of `outputs`, or `outputs` not
    /// [`MultilabelStats::n_labels`] rows; [`Error::NotBinaryTarget`] for a target other than 0
    /// or 1. Nothing is added then.
    pub fn add<T: Float>(
        &mut self,
        outputs: MatRef<'_, T>,
        targets: MatRef<'_, T>,
    ) -> Result<(), Error> {
        let expected = Shape { rows: self.n_labels(), cols: outputs.ncols() };
        for found in [Shape::of(outputs), Shape::of(targets)] {
            if found != expected {
                return Err(Error::TargetShape { expected, found });
            }
        }
        check_binary(targets)?;
        for k in 0..outputs.ncols() {
            let mut all_right = true;
            for j in 0..self.n_labels() {
                let predicted = outputs[(j, k)].to_f64() >= self.threshold;
                let truth = targets[(j, k)] == T::ONE;
                match (truth, predicted) {
                    (true, true) => self.tp[j] += 1,
                    (false, true) => self.fp[j] += 1,
                    (true, false) => self.fn_[j] += 1,
                    (false, false) => {}
                }
                all_right &= truth == predicted;
            }
            self.exact += u64::from(all_right);
            self.n_samples += 1;
        }
        Ok(())
    }

    /// Precision, recall, F1 and support (samples whose label is 1) of each label, in order, over
    /// everything added (scikit-learn's `precision_recall_fscore_support` with `average = None`;
    /// 0 where a ratio is undefined).
    #[must_use]
    pub fn per_label(&self) -> Vec<ClassMetrics> {
        (0..self.n_labels())
            .map(|j| {
                let (tp, fp, fn_) = (self.tp[j], self.fp[j], self.fn_[j]);
                ClassMetrics::from_counts(tp, tp + fp, tp + fn_)
            })
            .collect()
    }

    /// The metrics of everything added.
    ///
    /// # Errors
    /// [`Error::NoSamples`] if nothing was added or there are no labels.
    pub fn finish(&self) -> Result<MultilabelMetrics, Error> {
        let n_labels = self.n_labels();
        if self.n_samples == 0 || n_labels == 0 {
            return Err(Error::NoSamples);
        }
        let sum = |v: &[u64]| v.iter().sum::<u64>();
        let (tp, fp, fn_) = (sum(&self.tp), sum(&self.fp), sum(&self.fn_));
        let micro_precision = ratio(tp, tp + fp);
        let micro_recall = ratio(tp, tp + fn_);
        let macro_f1 = self.per_label().iter().map(|m| m.f1).sum::<f64>() / n_labels as f64;
        Ok(MultilabelMetrics {
            n_samples: self.n_samples as usize,
            subset_accuracy: ratio(self.exact, self.n_samples),
            hamming_loss: ratio(fp + fn_, self.n_samples * n_labels as u64),
            micro_precision,
            micro_recall,
            micro_f1: f1(micro_precision, micro_recall),
            macro_f1,
        })
    }
}

/// Checks that every target is 0 or 1.
pub(crate) fn check_binary<T: Float>(targets: MatRef<'_, T>) -> Result<(), Error> {
    for col in 0..targets.ncols() {
        for row in 0..targets.nrows() {
            let value = targets[(row, col)];
            if value != T::ZERO && value != T::ONE {
                return Err(Error::NotBinaryTarget { row, col, value: value.to_f64() });
            }
        }
    }
    Ok(())
}

/// [`MultilabelMetrics`] of `outputs` (scores, threshold 0.5) against `targets` (0 or 1), both
/// labels × samples.
///
/// # Errors
/// Those of [`MultilabelStats::add`] and [`MultilabelStats::finish`].
pub fn multilabel_metrics<T: Float>(
    outputs: MatRef<'_, T>,
    targets: MatRef<'_, T>,
) -> Result<MultilabelMetrics, Error> {
    let mut stats = MultilabelStats::new(outputs.nrows());
    stats.add(outputs, targets)?;
    stats.finish()
}

#[cfg(test)]
#[allow(clippy::float_cmp, reason = "exact ratios of small integers")]
mod tests {
    use super::*;
    use nn_linalg::Mat;

    /// Expected values from scikit-learn 1.9.1:
    /// ```python
    /// import numpy as np
    /// from sklearn.metrics import (accuracy_score, f1_score, hamming_loss, precision_score,
    ///                              recall_score, precision_recall_fscore_support)
    /// Y = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 0]])
    /// P = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 1], [0, 0, 0]])
    /// accuracy_score(Y, P)                                  # 0.5
    /// hamming_loss(Y, P)                                    # 0.25
    /// precision_score(Y, P, average="micro")                # 0.75
    /// recall_score(Y, P, average="micro")                   # 0.6
    /// f1_score(Y, P, average="micro")                       # 0.6666666666666666
    /// f1_score(Y, P, average="macro", zero_division=0)      # 0.5555555555555555
    /// precision_recall_fscore_support(Y, P, zero_division=0)
    /// # precision [1, 1, 0], recall [1, 0.5, 0], F1 [1, 0.6666666666666666, 0], support [2, 2, 1]
    /// ```
    #[test]
    fn matches_scikit_learn() {
        let y = [[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 0]];
        let p = [[1, 0, 0], [0, 1, 0], [1, 0, 1], [0, 0, 0]];
        let targets = Mat::<f32>::from_fn(3, 4, |j, k| y[k][j] as f32);
        // Scores on both sides of the threshold, and exactly on it (a positive).
        let outputs = Mat::<f32>::from_fn(3, 4, |j, k| if p[k][j] == 1 { 0.5 } else { 0.25 });
        let m = multilabel_metrics(outputs.as_ref(), targets.as_ref()).unwrap();
        assert_eq!(m.n_samples, 4);
        assert_eq!(m.subset_accuracy, 0.5);
        assert_eq!(m.hamming_loss, 0.25);
        assert_eq!((m.micro_precision, m.micro_recall), (0.75, 0.6));
        assert!((m.micro_f1 - 2.0 / 3.0).abs() < 1e-15);
        assert!((m.macro_f1 - 5.0 / 9.0).abs() < 1e-15);
        let mut stats = MultilabelStats::new(3);
        stats.add(outputs.as_ref(), targets.as_ref()).unwrap();
        let per_label = stats.per_label();
        let column = |f: fn(&ClassMetrics) -> f64| per_label.iter().map(f).collect::<Vec<_>>();
        assert_eq!(column(|m| m.precision), [1.0, 1.0, 0.0]);
        assert_eq!(column(|m| m.recall), [1.0, 0.5, 0.0]);
        assert_eq!(column(|m| m.f1), [1.0, 2.0 / 3.0, 0.0]);
        assert_eq!(per_label.iter().map(|m| m.support).collect::<Vec<_>>(), [2, 2, 1]);
        assert_eq!(m.macro_f1, column(|m| m.f1).iter().sum::<f64>() / 3.0);
        let strict = MultilabelStats::new(3).with_threshold(0.75);
        let mut strict = strict;
        strict.add(outputs.as_ref(), targets.as_ref()).unwrap();
        assert_eq!(strict.finish().unwrap().micro_precision, 0.0);
    }

    #[test]
    fn targets_must_be_zero_or_one() {
        let outputs = Mat::<f64>::zeros(2, 2);
        let targets = Mat::<f64>::from_fn(2, 2, |i, j| if (i, j) == (1, 1) { 0.5 } else { 1.0 });
        assert!(matches!(
            multilabel_metrics(outputs.as_ref(), targets.as_ref()),
            Err(Error::NotBinaryTarget { row: 1, col: 1, value: 0.5 })
        ));
        assert!(matches!(
            multilabel_metrics(outputs.as_ref(), Mat::<f64>::zeros(3, 2).as_ref()),
            Err(Error::TargetShape { .. })
        ));
        assert!(matches!(MultilabelStats::new(2).finish(), Err(Error::NoSamples)));
    }
}
