//! Metrics of a network on a [`Dataset`]: [`evaluate`] runs the network over the data set in
//! batches and fills in the metrics that fit its [`Task`]. The metrics themselves live in
//! [`nn_core::metrics`] (usable without `nn-train`) and are re-exported here.

use nn_core::{Float, Network, Workspace};

pub use nn_core::metrics::{
    ClassMetrics, ConfusionMatrix, MAX_CLASSES, MultilabelMetrics, MultilabelStats, OutputMetrics,
    RegressionMetrics, RegressionStats, accuracy, in_top_k, multilabel_metrics, regression_metrics,
    top_k_accuracy,
};

use crate::Error;
use crate::data::{Batch, Dataset, TargetData, Task};

/// Metrics of a network on a data set, from [`evaluate`]. Which fields are set depends on the
/// data set's [`Task`]: `accuracy`, `top5_accuracy` and `confusion` for classification,
/// `regression` for regression, `multilabel` for multi-label data.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Evaluation {
    /// The number of samples.
    pub n_samples: usize,
    /// The mean loss J over the samples, without the L2 penalty R1 (with the network's
    /// [`MseScale`](nn_core::MseScale) for mean squared error).
    pub loss: f64,
    /// Classification: the fraction of samples whose predicted class is the label.
    pub accuracy: Option<f64>,
    /// Classification: the fraction whose label is among the 5 highest outputs (all outputs for
    /// 5 classes or fewer).
    pub top5_accuracy: Option<f64>,
    /// Classification: truth × predicted counts (`None` above
    /// [`MAX_CLASSES`] classes).
    pub confusion: Option<ConfusionMatrix>,
    /// Regression: MSE, RMSE, MAE and R², per output and averaged.
    pub regression: Option<RegressionMetrics>,
    /// Multi-label: subset accuracy, Hamming loss, micro- and macro-F1 (a label is predicted
    /// where its probability is ≥ 0.5).
    pub multilabel: Option<MultilabelMetrics>,
}

impl Default for Evaluation {
    /// No samples, loss 0, no metrics (to fill in field by field).
    fn default() -> Self {
        Evaluation {
            n_samples: 0,
            loss: 0.0,
            accuracy: None,
            top5_accuracy: None,
            confusion: None,
            regression: None,
            multilabel: None,
        }
    }
}

/// Runs `net` over `data` in batches of `batch_size` (evaluation mode: no dropout) and computes
/// the loss and the metrics of the data set's [`Task`]. Allocates its buffers.
///
/// ```
/// use nn_core::rng::{ChaCha8Rng, SeedableRng};
/// use nn_core::{Activation, Loss, Network};
/// use nn_linalg::Mat;
/// use nn_train::{Dataset, evaluate};
///
/// let net: Network<f64> = Network::builder(1, Loss::MeanSquaredError)
///     .layer(1, Activation::Identity)
///     .build(&mut ChaCha8Rng::seed_from_u64(0))?;
/// let x = Mat::from_fn(1, 8, |_, j| j as f64);
/// let y = Mat::from_fn(1, 8, |_, j| 3.0 * j as f64);
/// let eval = evaluate(&net, &Dataset::regression(x, y)?, 4)?;
/// let regression = eval.regression.expect("a regression data set");
/// assert!(regression.r2 < 1.0 && eval.accuracy.is_none());
/// # Ok::<(), nn_train::Error>(())
/// ```
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
    let task = data.task();
    let n_classes = data.n_classes().map(|n| n.max(net.loss_kind().n_classes(n_out)));
    // No confusion matrix beyond MAX_CLASSES classes: accuracy is counted without it.
    let mut confusion = n_classes.and_then(|n| ConfusionMatrix::new(n).ok());
    let mut regression = (task == Task::Regression).then(|| RegressionStats::new(n_out));
    let mut multilabel = (task == Task::Multilabel).then(|| MultilabelStats::new(n_out));
    let (mut loss, mut correct, mut top5) = (0.0, 0u64, 0u64);
    let indices: Vec<usize> = (0..data.n_samples()).collect();
    for chunk in indices.chunks(batch_size) {
        batch.gather(data, chunk)?;
        let pass = net.forward_into(batch.inputs(), &mut ws)?;
        loss += pass.data_loss_sum(batch.targets())?;
        let out = pass.output();
        match data.target_data() {
            TargetData::Classes { labels, .. } => {
                let Some(columns) = nn_linalg::cols(out) else { continue };
                for (&i, col) in chunk.iter().zip(columns) {
                    let predicted = net.class_of(col);
                    correct += u64::from(predicted == labels[i]);
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
            _ => {
                let y = match batch.targets() {
                    nn_core::Targets::Matrix(y) => y,
                    nn_core::Targets::Classes(_) => continue,
                };
                if let Some(stats) = regression.as_mut() {
                    stats.add(out, y)?;
                }
                if let Some(stats) = multilabel.as_mut() {
                    stats.add(out, y)?;
                }
            }
        }
    }
    let n = data.n_samples() as f64;
    let classes = task == Task::Classification;
    Ok(Evaluation {
        n_samples: data.n_samples(),
        loss: loss / n,
        accuracy: classes.then(|| correct as f64 / n),
        top5_accuracy: classes.then(|| top5 as f64 / n),
        confusion,
        regression: regression.map(|s| s.finish()).transpose()?,
        multilabel: multilabel.map(|s| s.finish()).transpose()?,
    })
}
