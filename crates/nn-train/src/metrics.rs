//! Metrics: loss, accuracy, top-k accuracy, confusion matrix, per-class precision, recall and
//! F1 for classification; MSE and MAE for regression; and [`evaluate`], which computes them for a
//! network over a data set.

use nn_core::{Float, Network, Workspace};

use crate::Error;
use crate::data::{Batch, Dataset, TargetData};

/// Counts of (true class, predicted class) pairs.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(try_from = "ConfusionRecord"))]
pub struct ConfusionMatrix {
    n_classes: usize,
    /// Row-major: `counts[truth * n_classes + predicted]`.
    counts: Vec<u64>,
}

/// The serialized form of a [`ConfusionMatrix`], checked when read back.
#[cfg(feature = "serde")]
#[derive(serde::Deserialize)]
struct ConfusionRecord {
    n_classes: usize,
    counts: Vec<u64>,
}

#[cfg(feature = "serde")]
impl TryFrom<ConfusionRecord> for ConfusionMatrix {
    type Error = String;

    fn try_from(r: ConfusionRecord) -> Result<Self, String> {
        if r.n_classes.checked_mul(r.n_classes) != Some(r.counts.len()) {
            return Err(format!(
                "a confusion matrix of {} classes with {} counts",
                r.n_classes,
                r.counts.len()
            ));
        }
        Ok(ConfusionMatrix { n_classes: r.n_classes, counts: r.counts })
    }
}

/// Precision, recall and F1 of one class (0 where undefined: no prediction or no sample).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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

impl ConfusionMatrix {
    /// An empty matrix for `n_classes` classes.
    #[must_use]
    pub fn new(n_classes: usize) -> Self {
        ConfusionMatrix { n_classes, counts: vec![0; n_classes * n_classes] }
    }

    /// Counts one sample.
    ///
    /// # Errors
    /// [`Error::TargetShape`] if a class is out of range.
    pub fn add(&mut self, truth: usize, predicted: usize) -> Result<(), Error> {
        if truth >= self.n_classes || predicted >= self.n_classes {
            return Err(Error::TargetShape {
                detail: format!(
                    "class pair ({truth}, {predicted}) is out of range for {} classes",
                    self.n_classes
                ),
            });
        }
        self.counts[truth * self.n_classes + predicted] += 1;
        Ok(())
    }

    /// The matrix of `truth` against `predicted`.
    ///
    /// # Errors
    /// [`Error::TargetShape`] if the lengths differ or a class is out of range.
    pub fn from_predictions(
        truth: &[usize],
        predicted: &[usize],
        n_classes: usize,
    ) -> Result<Self, Error> {
        if truth.len() != predicted.len() {
            return Err(Error::TargetShape {
                detail: format!("{} predictions for {} labels", predicted.len(), truth.len()),
            });
        }
        let mut m = ConfusionMatrix::new(n_classes);
        for (&t, &p) in truth.iter().zip(predicted) {
            m.add(t, p)?;
        }
        Ok(m)
    }

    /// The number of classes.
    #[must_use]
    pub fn n_classes(&self) -> usize {
        self.n_classes
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
        self.counts.iter().sum()
    }

    /// The fraction of samples on the diagonal (0 for no samples).
    #[must_use]
    pub fn accuracy(&self) -> f64 {
        let correct: u64 = (0..self.n_classes).map(|c| self.count(c, c)).sum();
        ratio(correct, self.total())
    }

    /// Precision, recall and F1 of class `c`.
    #[must_use]
    pub fn class_metrics(&self, c: usize) -> ClassMetrics {
        let tp = self.count(c, c);
        let predicted: u64 = (0..self.n_classes).map(|t| self.count(t, c)).sum();
        let support: u64 = (0..self.n_classes).map(|p| self.count(c, p)).sum();
        let precision = ratio(tp, predicted);
        let recall = ratio(tp, support);
        let f1 = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        ClassMetrics { precision, recall, f1, support }
    }

    /// [`ConfusionMatrix::class_metrics`] of every class.
    #[must_use]
    pub fn per_class(&self) -> Vec<ClassMetrics> {
        (0..self.n_classes).map(|c| self.class_metrics(c)).collect()
    }

    /// The unweighted mean F1 over the classes.
    #[must_use]
    pub fn macro_f1(&self) -> f64 {
        if self.n_classes == 0 {
            return 0.0;
        }
        self.per_class().iter().map(|m| m.f1).sum::<f64>() / self.n_classes as f64
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// Whether `label` is among the `k` largest of `scores` (ties broken towards lower indices, as
/// an arg-max that takes the first maximum).
#[must_use]
pub fn in_top_k<T: Float>(scores: &[T], label: usize, k: usize) -> bool {
    let Some(&s) = scores.get(label) else {
        return false;
    };
    let better =
        scores.iter().enumerate().filter(|&(i, &v)| v > s || (v == s && i < label)).count();
    better < k
}

/// Metrics of a network on a data set, from [`evaluate`].
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Evaluation {
    /// The number of samples.
    pub n_samples: usize,
    /// The mean loss (without the L2 penalty R1).
    pub loss: f64,
    /// Classification: the fraction of samples whose predicted class is the label.
    pub accuracy: Option<f64>,
    /// Classification: the fraction whose label is among the 5 highest outputs (or all outputs,
    /// for fewer than 5 classes).
    pub top5_accuracy: Option<f64>,
    /// Classification: truth × predicted counts.
    pub confusion: Option<ConfusionMatrix>,
    /// Target-matrix data: the mean over samples and outputs of (a − y)².
    pub mse: Option<f64>,
    /// Target-matrix data: the mean over samples and outputs of |a − y|.
    pub mae: Option<f64>,
}

/// Runs `net` over `data` in batches of `batch_size` (evaluation mode: no dropout) and computes
/// the loss and the metrics that fit its targets. Allocates its buffers.
///
/// # Errors
/// [`Error::EmptyDataset`], [`Error::InvalidHyperparameter`] for a zero batch size, and the
/// errors of the network for data that does not fit it.
pub fn evaluate<T: Float>(
    net: &Network<T>,
    data: &Dataset<T>,
    batch_size: usize,
) -> Result<Evaluation, Error> {
    if data.n_samples() == 0 {
        return Err(Error::EmptyDataset { what: "evaluation" });
    }
    crate::error::check_param("batch_size", batch_size as f64, "at least 1", |b| b >= 1.0)?;
    let batch_size = batch_size.min(data.n_samples());
    let mut ws = Workspace::for_network(net, batch_size)?;
    let mut batch = Batch::for_dataset(data, batch_size);
    let n_out = net.n_outputs();
    let n_classes = data.n_classes().map(|n| n.max(net.loss_kind().n_classes(n_out)));
    let mut confusion = n_classes.map(ConfusionMatrix::new);
    let (mut loss, mut top5, mut se, mut ae) = (0.0, 0u64, 0.0, 0.0);
    let indices: Vec<usize> = (0..data.n_samples()).collect();
    for chunk in indices.chunks(batch_size) {
        batch.gather(data, chunk)?;
        net.forward_into(batch.inputs(), &mut ws)?;
        loss += net.data_loss_sum(batch.targets(), &ws)?;
        let out = ws.a(net.layers().len() - 1).and_then(nn_linalg::cols);
        let Some(out) = out else {
            continue;
        };
        match data.target_data() {
            TargetData::Classes { labels, .. } => {
                for (&i, col) in chunk.iter().zip(out) {
                    let predicted = net.class_of(col);
                    if let Some(c) = confusion.as_mut() {
                        c.add(labels[i], predicted)?;
                    }
                    let hit = if n_out == 1 {
                        predicted == labels[i]
                    } else {
                        in_top_k(col, labels[i], 5)
                    };
                    top5 += u64::from(hit);
                }
            }
            TargetData::Matrix(y) => {
                for (&i, col) in chunk.iter().zip(out) {
                    for (a, t) in col.iter().zip(y.col_as_slice(i)) {
                        let r = (*a - *t).to_f64();
                        se += r * r;
                        ae += r.abs();
                    }
                }
            }
        }
    }
    let n = data.n_samples() as f64;
    let classes = data.labels().is_some();
    let n_values = n * n_out as f64;
    Ok(Evaluation {
        n_samples: data.n_samples(),
        loss: loss / n,
        accuracy: confusion.as_ref().map(ConfusionMatrix::accuracy),
        top5_accuracy: classes.then(|| top5 as f64 / n),
        confusion,
        mse: (!classes).then(|| se / n_values),
        mae: (!classes).then(|| ae / n_values),
    })
}

#[cfg(test)]
#[allow(clippy::float_cmp, reason = "exact ratios of small integers")]
mod tests {
    use super::*;

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
        assert!(m.clone().add(3, 0).is_err());
        assert!(ConfusionMatrix::from_predictions(&[0], &[0, 1], 2).is_err());
        assert_eq!(ConfusionMatrix::new(2).accuracy(), 0.0);
    }

    #[test]
    fn top_k_breaks_ties_like_argmax() {
        let s = [0.1, 0.5, 0.5, 0.2];
        assert!(in_top_k(&s, 1, 1));
        assert!(!in_top_k(&s, 2, 1));
        assert!(in_top_k(&s, 2, 2));
        assert!(!in_top_k(&s, 0, 3));
        assert!(in_top_k(&s, 0, 4));
        assert!(!in_top_k(&s, 9, 4));
    }
}
