//! Classification metrics: the confusion matrix and what follows from it, accuracy, top-k.

use nn_linalg::{Float, MatRef};

use super::{f1, ratio};
use crate::Error;

/// The largest number of classes a [`ConfusionMatrix`] holds: its `n_classes²` counts must stay a
/// reasonable allocation (128 MiB of `u64` on 64-bit targets, 8 MiB on 32-bit ones).
pub const MAX_CLASSES: usize = if usize::BITS >= 64 { 1 << 12 } else { 1 << 10 };

/// Counts of (true class, predicted class) pairs, as scikit-learn's `confusion_matrix`: row =
/// truth, column = prediction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfusionMatrix {
    n_classes: usize,
    /// Row-major: `counts[truth * n_classes + predicted]`.
    counts: Vec<u64>,
}

/// Precision, recall and F1 of one class (0 where a ratio is undefined: no prediction of the
/// class, or no sample of it), and its support; or of one label of a multi-label problem
/// ([`MultilabelStats::per_label`](super::MultilabelStats::per_label)).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClassMetrics {
    /// TP / (TP + FP).
    pub precision: f64,
    /// TP / (TP + FN).
    pub recall: f64,
    /// The harmonic mean of precision and recall.
    pub f1: f64,
    /// The number of samples of this class (TP + FN).
    pub support: u64,
}

impl ClassMetrics {
    /// The metrics of `tp` true positives among `predicted` predictions of the class and
    /// `support` samples of it.
    pub(super) fn from_counts(tp: u64, predicted: u64, support: u64) -> Self {
        let precision = ratio(tp, predicted);
        let recall = ratio(tp, support);
        ClassMetrics { precision, recall, f1: f1(precision, recall), support }
    }
}

impl ConfusionMatrix {
    /// An empty matrix for `n_classes` classes. Allocates `n_classes²` counts.
    ///
    /// # Errors
    /// [`Error::ClassCount`] if `n_classes` is above [`MAX_CLASSES`].
    pub fn new(n_classes: usize) -> Result<Self, Error> {
        let n_counts = checked_square(n_classes)?;
        Ok(ConfusionMatrix { n_classes, counts: vec![0; n_counts] })
    }

    /// A matrix from its counts, row-major (`counts[truth * n_classes + predicted]`, the layout
    /// of [`ConfusionMatrix::counts`]): to rebuild a saved one.
    ///
    /// # Errors
    /// [`Error::ClassCount`] if `n_classes` is above [`MAX_CLASSES`], [`Error::ParameterCount`]
    /// if there are not `n_classes²` counts, [`Error::CountOverflow`] if their total does not fit
    /// a `u64`.
    pub fn from_counts(n_classes: usize, counts: Vec<u64>) -> Result<Self, Error> {
        let expected = checked_square(n_classes)?;
        if counts.len() != expected {
            return Err(Error::ParameterCount { expected, found: counts.len() });
        }
        if counts.iter().try_fold(0u64, |sum, &c| sum.checked_add(c)).is_none() {
            return Err(Error::CountOverflow);
        }
        Ok(ConfusionMatrix { n_classes, counts })
    }

    /// Counts one sample.
    ///
    /// # Errors
    /// [`Error::LabelOutOfRange`] (sample 0) if a class is out of range; [`Error::CountOverflow`]
    /// after 2⁶⁴ − 1 samples.
    pub fn add(&mut self, truth: usize, predicted: usize) -> Result<(), Error> {
        self.add_sample(0, truth, predicted)
    }

    fn add_sample(
        &mut self,
        sample_idx: usize,
        truth: usize,
        predicted: usize,
    ) -> Result<(), Error> {
        let n_classes = self.n_classes;
        for label in [truth, predicted] {
            if label >= n_classes {
                return Err(Error::LabelOutOfRange { sample_idx, label, n_classes });
            }
        }
        let count = &mut self.counts[truth * n_classes + predicted];
        *count = count.checked_add(1).ok_or(Error::CountOverflow)?;
        Ok(())
    }

    /// Counts the samples of `truth` against `predicted`, one pair per sample.
    ///
    /// # Errors
    /// [`Error::LabelCount`] if the lengths differ, [`Error::LabelOutOfRange`] naming the first
    /// sample with a class out of range (the counts before it stay added).
    pub fn add_all(&mut self, truth: &[usize], predicted: &[usize]) -> Result<(), Error> {
        if truth.len() != predicted.len() {
            return Err(Error::LabelCount { expected: truth.len(), found: predicted.len() });
        }
        for (sample_idx, (&t, &p)) in truth.iter().zip(predicted).enumerate() {
            self.add_sample(sample_idx, t, p)?;
        }
        Ok(())
    }

    /// The matrix of `truth` against `predicted`.
    ///
    /// # Errors
    /// Those of [`ConfusionMatrix::new`] and [`ConfusionMatrix::add_all`].
    pub fn from_predictions(
        truth: &[usize],
        predicted: &[usize],
        n_classes: usize,
    ) -> Result<Self, Error> {
        let mut m = ConfusionMatrix::new(n_classes)?;
        m.add_all(truth, predicted)?;
        Ok(m)
    }

    /// The number of classes.
    #[must_use]
    pub fn n_classes(&self) -> usize {
        self.n_classes
    }

    /// Every count, row-major: `counts()[truth * n_classes + predicted]`.
    #[must_use]
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// The number of samples of class `truth` predicted as `predicted` (0 out of range).
    #[must_use]
    pub fn count(&self, truth: usize, predicted: usize) -> u64 {
        if truth < self.n_classes && predicted < self.n_classes {
            self.counts[truth * self.n_classes + predicted]
        } else {
            0
        }
    }

    /// The total number of samples.
    #[must_use]
    pub fn total(&self) -> u64 {
        // `add` and `from_counts` keep the total within u64.
        self.counts.iter().fold(0u64, |sum, &c| sum.saturating_add(c))
    }

    /// The fraction of samples on the diagonal (0 for no samples).
    #[must_use]
    pub fn accuracy(&self) -> f64 {
        let correct: u64 = (0..self.n_classes).map(|c| self.count(c, c)).sum();
        ratio(correct, self.total())
    }

    /// Precision, recall and F1 of class `c` (all 0 for a class out of range).
    #[must_use]
    pub fn class_metrics(&self, c: usize) -> ClassMetrics {
        let tp = self.count(c, c);
        let predicted: u64 = (0..self.n_classes).map(|t| self.count(t, c)).sum();
        let support: u64 = (0..self.n_classes).map(|p| self.count(c, p)).sum();
        ClassMetrics::from_counts(tp, predicted, support)
    }

    /// [`ConfusionMatrix::class_metrics`] of every class.
    #[must_use]
    pub fn per_class(&self) -> Vec<ClassMetrics> {
        (0..self.n_classes).map(|c| self.class_metrics(c)).collect()
    }

    /// The unweighted mean F1 over the classes (scikit-learn's `average = "macro"`; 0 for no
    /// classes).
    #[must_use]
    pub fn macro_f1(&self) -> f64 {
        if self.n_classes == 0 {
            return 0.0;
        }
        self.per_class().iter().map(|m| m.f1).sum::<f64>() / self.n_classes as f64
    }
}

/// `n²`, if `n` is at most [`MAX_CLASSES`].
fn checked_square(n_classes: usize) -> Result<usize, Error> {
    if n_classes > MAX_CLASSES {
        return Err(Error::ClassCount { found: n_classes, max: MAX_CLASSES });
    }
    n_classes.checked_mul(n_classes).ok_or(Error::ClassCount { found: n_classes, max: MAX_CLASSES })
}

/// The fraction of samples whose predicted class is the true one (scikit-learn's
/// `accuracy_score`).
///
/// # Errors
/// [`Error::LabelCount`] if the lengths differ, [`Error::NoSamples`] if they are empty.
pub fn accuracy(truth: &[usize], predicted: &[usize]) -> Result<f64, Error> {
    if truth.len() != predicted.len() {
        return Err(Error::LabelCount { expected: truth.len(), found: predicted.len() });
    }
    if truth.is_empty() {
        return Err(Error::NoSamples);
    }
    let correct = truth.iter().zip(predicted).filter(|(t, p)| t == p).count();
    Ok(correct as f64 / truth.len() as f64)
}

/// Whether `label` is among the `k` largest of `scores`, ties broken towards lower indices (as
/// an arg-max that takes the first maximum, so `k = 1` agrees with
/// [`Network::predict`](crate::Network::predict)). False for a label out of range.
#[must_use]
pub fn in_top_k<T: Float>(scores: &[T], label: usize, k: usize) -> bool {
    let Some(&s) = scores.get(label) else {
        return false;
    };
    let better =
        scores.iter().enumerate().filter(|&(i, &v)| v > s || (v == s && i < label)).count();
    better < k
}

/// The fraction of samples whose label is among the `k` highest of their scores column
/// (`scores`: classes × samples, e.g. [`Network::predict_proba`](crate::Network::predict_proba)),
/// as scikit-learn's `top_k_accuracy_score` (ties broken towards lower indices).
///
/// # Errors
/// [`Error::LabelCount`] if there is not one label per column, [`Error::NoSamples`] for no
/// samples, [`Error::LabelOutOfRange`] for a label that is not a row of `scores`.
pub fn top_k_accuracy<T: Float>(
    scores: MatRef<'_, T>,
    labels: &[usize],
    k: usize,
) -> Result<f64, Error> {
    if labels.len() != scores.ncols() {
        return Err(Error::LabelCount { expected: scores.ncols(), found: labels.len() });
    }
    if labels.is_empty() {
        return Err(Error::NoSamples);
    }
    let mut column = Vec::with_capacity(scores.nrows());
    let mut hits = 0usize;
    for (sample_idx, &label) in labels.iter().enumerate() {
        if label >= scores.nrows() {
            return Err(Error::LabelOutOfRange { sample_idx, label, n_classes: scores.nrows() });
        }
        column.clear();
        column.extend((0..scores.nrows()).map(|i| scores[(i, sample_idx)]));
        hits += usize::from(in_top_k(&column, label, k));
    }
    Ok(hits as f64 / labels.len() as f64)
}

#[cfg(test)]
#[allow(clippy::float_cmp, reason = "exact ratios of small integers")]
mod tests {
    use super::*;
    use nn_linalg::Mat;

    #[test]
    fn confusion_matrix_metrics() {
        // truth:     0 0 0 1 1 2
        // predicted: 0 0 1 1 2 2
        let m =
            ConfusionMatrix::from_predictions(&[0, 0, 0, 1, 1, 2], &[0, 0, 1, 1, 2, 2], 3).unwrap();
        assert_eq!(m.total(), 6);
        assert_eq!(m.accuracy(), 4.0 / 6.0);
        let c1 = m.class_metrics(1);
        assert_eq!((c1.precision, c1.recall, c1.support), (0.5, 0.5, 2));
        let c0 = m.class_metrics(0);
        assert_eq!((c0.precision, c0.recall), (1.0, 2.0 / 3.0));
        assert!((c0.f1 - 0.8).abs() < 1e-15);
        // Macro F1: (0.8 + 0.5 + 2/3) / 3, as scikit-learn's f1_score(average="macro").
        assert!((m.macro_f1() - (0.8 + 0.5 + 2.0 / 3.0) / 3.0).abs() < 1e-15);
        assert_eq!(m.counts(), &[2, 1, 0, 0, 1, 1, 0, 0, 1]);
        assert_eq!(ConfusionMatrix::from_counts(3, m.counts().to_vec()).unwrap(), m);
        assert!(matches!(
            m.clone().add(3, 0),
            Err(Error::LabelOutOfRange { label: 3, n_classes: 3, .. })
        ));
        assert!(matches!(
            ConfusionMatrix::from_predictions(&[0], &[0, 1], 2),
            Err(Error::LabelCount { expected: 1, found: 2 })
        ));
        assert!(matches!(
            ConfusionMatrix::from_predictions(&[0, 1, 5], &[0, 1, 1], 2),
            Err(Error::LabelOutOfRange { sample_idx: 2, label: 5, n_classes: 2 })
        ));
        assert_eq!(ConfusionMatrix::new(2).unwrap().accuracy(), 0.0);
    }

    #[test]
    fn confusion_matrix_sizes_are_checked() {
        // n² would overflow (or be an absurd allocation): an error, never a panic.
        for n in [MAX_CLASSES + 1, 1 << 32, usize::MAX] {
            assert!(
                matches!(ConfusionMatrix::new(n), Err(Error::ClassCount { found, .. }) if found == n)
            );
            assert!(ConfusionMatrix::from_counts(n, vec![]).is_err());
        }
        assert_eq!(ConfusionMatrix::new(MAX_CLASSES).unwrap().counts().len(), MAX_CLASSES.pow(2));
        assert!(matches!(
            ConfusionMatrix::from_counts(2, vec![0; 3]),
            Err(Error::ParameterCount { expected: 4, found: 3 })
        ));
        assert!(matches!(
            ConfusionMatrix::from_counts(2, vec![u64::MAX, 1, 0, 0]),
            Err(Error::CountOverflow)
        ));
    }

    #[test]
    fn the_class_limit_fits_the_pointer_width() {
        // The counts of the largest matrix, in bytes, fit an isize on this target (and on 32-bit
        // targets, where MAX_CLASSES is smaller).
        let bytes = (MAX_CLASSES * MAX_CLASSES).checked_mul(8).unwrap();
        assert!(bytes <= isize::MAX as usize);
        assert!(bytes <= 1 << 27, "at most 128 MiB");
    }

    #[test]
    fn accuracy_and_top_k() {
        assert_eq!(accuracy(&[0, 1, 2, 2], &[0, 1, 1, 2]).unwrap(), 0.75);
        assert!(matches!(accuracy(&[], &[]), Err(Error::NoSamples)));
        assert!(matches!(accuracy(&[0], &[]), Err(Error::LabelCount { .. })));
        let s = [0.1, 0.5, 0.5, 0.2];
        assert!(in_top_k(&s, 1, 1));
        assert!(!in_top_k(&s, 2, 1));
        assert!(in_top_k(&s, 2, 2));
        assert!(!in_top_k(&s, 0, 3));
        assert!(in_top_k(&s, 0, 4));
        assert!(!in_top_k(&s, 9, 4));
        // Two samples (columns): label 2 is second best in the first, best in the second.
        let scores = Mat::from_fn(3, 2, |i, j| [[0.5, 0.1, 0.4], [0.1, 0.2, 0.7]][j][i]);
        assert_eq!(top_k_accuracy::<f64>(scores.as_ref(), &[2, 2], 1).unwrap(), 0.5);
        assert_eq!(top_k_accuracy::<f64>(scores.as_ref(), &[2, 2], 2).unwrap(), 1.0);
        assert!(matches!(
            top_k_accuracy::<f64>(scores.as_ref(), &[2, 3], 2),
            Err(Error::LabelOutOfRange { sample_idx: 1, label: 3, n_classes: 3 })
        ));
    }
}
