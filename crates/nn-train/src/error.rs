//! The error type of `nn-train`.

use std::fmt;
use std::sync::Arc;

use nn_linalg::Shape;

use crate::augment::RandomShift;
use crate::data::Task;

/// Everything that can go wrong while configuring or running training. Each variant carries what
/// was expected and what was found.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An error of the network, its buffers or the targets (from `nn-core`).
    #[error(transparent)]
    Core(#[from] nn_core::Error),
    /// A hyper-parameter outside its domain.
    #[error("invalid {name} = {value}: expected {expected}")]
    InvalidHyperparameter {
        /// Its name, e.g. `"learning_rate"` or `"momentum"`.
        name: &'static str,
        /// The value passed.
        value: f64,
        /// What would have been accepted.
        expected: &'static str,
    },
    /// A data set with no samples.
    #[error("the {what} data set is empty")]
    EmptyDataset {
        /// `"training"`, `"validation"`, `"evaluation"`, `"batch"`.
        what: &'static str,
    },
    /// Class labels whose number is not the number of samples.
    #[error("{found} labels for {expected} samples")]
    LabelCount {
        /// The number of samples.
        expected: usize,
        /// The number of labels.
        found: usize,
    },
    /// A class label that is not below the number of classes.
    #[error("label {label} of sample {sample_idx} is out of range: there are {n_classes} classes")]
    LabelOutOfRange {
        /// The sample.
        sample_idx: usize,
        /// The label.
        label: usize,
        /// The number of classes.
        n_classes: usize,
    },
    /// A target matrix whose columns are not the samples.
    #[error("{found} target columns for {expected} samples (targets are outputs × samples)")]
    TargetColumns {
        /// The number of samples.
        expected: usize,
        /// The number of target columns.
        found: usize,
    },
    /// A target value that is NaN or infinite.
    #[error("target ({row}, {col}) is not finite: {value}")]
    NonFiniteTarget {
        /// Output index.
        row: usize,
        /// Sample index.
        col: usize,
        /// The value.
        value: f64,
    },
    /// A multi-label target that is neither 0 nor 1.
    #[error("target ({row}, {col}) is {value}: multi-label targets are 0 or 1")]
    NotBinaryTarget {
        /// Label index.
        row: usize,
        /// Sample index.
        col: usize,
        /// The value.
        value: f64,
    },
    /// A flat buffer of values that is not a whole number of samples.
    #[error("{found} values are not {n_samples} samples of {n_features} features")]
    ValueCount {
        /// The number of features per sample.
        n_features: usize,
        /// The number of samples (labels).
        n_samples: usize,
        /// The number of values.
        found: usize,
    },
    /// A sample index beyond the data set.
    #[error("sample index {index} is out of range for {n_samples} samples")]
    SampleIndex {
        /// The index.
        index: usize,
        /// The number of samples.
        n_samples: usize,
    },
    /// A batch larger than its buffers or than the configured batch size.
    #[error("a batch of {found} samples: the capacity is {capacity}")]
    BatchCapacity {
        /// The largest batch allowed.
        capacity: usize,
        /// The batch's number of samples.
        found: usize,
    },
    /// Targets whose number of samples is not the batch's.
    #[error("{found} targets for a batch of {expected} samples")]
    TargetCount {
        /// The batch's number of samples.
        expected: usize,
        /// The targets' number of samples.
        found: usize,
    },
    /// Batch buffers made for data of another shape.
    #[error(
        "batch buffers made for {expected_features} features and {expected} targets ({expected_rows} rows), given {found_features} features and {found} targets ({found_rows} rows)"
    )]
    BatchMismatch {
        /// The features the buffers hold.
        expected_features: usize,
        /// The kind of targets they hold.
        expected: Task,
        /// The target rows they hold (0 for class labels).
        expected_rows: usize,
        /// The data set's features.
        found_features: usize,
        /// The data set's kind of targets.
        found: Task,
        /// The data set's target rows (0 for class labels).
        found_rows: usize,
    },
    /// Training diverged: the loss, a gradient, or a value written by the optimizer's update (Θ,
    /// moments) became NaN or infinite. For the loss or a gradient, the parameters are left as
    /// they were before the bad step; for the update, they hold it. The message counts epochs
    /// and batches from 1.
    #[error(
        "training diverged at epoch {}, batch {}: the {what} is not finite (try a smaller learning rate or gradient clipping)",
        epoch + 1,
        batch_idx + 1
    )]
    NonFiniteLoss {
        /// The epoch (0-based).
        epoch: usize,
        /// The batch within the epoch (0-based).
        batch_idx: usize,
        /// `"loss"`, `"gradient"` or `"result of the update (parameters or optimizer state)"`.
        what: &'static str,
    },
    /// A gradient with a NaN or infinite entry, found by
    /// [`clip_grad_norm`](crate::optim::clip_grad_norm), which then leaves it untouched.
    #[error("the gradient is not finite (its norm is {norm}): skip this step")]
    NonFiniteGradient {
        /// The global norm (NaN or +∞).
        norm: f64,
    },
    /// Saved state whose size does not fit this network or configuration.
    #[error("{what}{}: expected {expected}, found {found}", at_layer(*layer_idx))]
    StateSize {
        /// What was counted: `"optimizer layers"`, `"momentum values"`, ...
        what: &'static str,
        /// The layer, if the count is per layer.
        layer_idx: Option<usize>,
        /// The count this network or configuration needs.
        expected: usize,
        /// The count found.
        found: usize,
    },
    /// A saved state value outside its domain.
    #[error("{what}{}[{index}] = {value}: expected {expected}", at_layer(*layer_idx))]
    StateValue {
        /// The value's name: `"exp_avg_sq"`, `"learning rate"`, `"best metric"`, ...
        what: &'static str,
        /// The layer, if the value belongs to one.
        layer_idx: Option<usize>,
        /// The index of the value in its buffer (0 for a single value).
        index: usize,
        /// The value.
        value: f64,
        /// What would have been accepted.
        expected: &'static str,
    },
    /// Random shifts in the configuration given to [`Trainer::resume`](crate::Trainer::resume)
    /// that are not those of the run it resumes (see
    /// [`TrainerState::resume_config`](crate::TrainerState::resume_config)).
    #[error(
        "the configuration's random shifts ({}) contradict the run resumed, which trains with {}: leave them unset to continue the run as it was",
        show_shift(Some(*found)),
        show_shift(*expected)
    )]
    ResumeRandomShift {
        /// The state's shifts (`None`: the run trains without).
        expected: Option<RandomShift>,
        /// The configuration's.
        found: RandomShift,
    },
    /// A label smoothing in the configuration given to
    /// [`Trainer::resume`](crate::Trainer::resume) that is not that of the run it resumes (see
    /// [`TrainerState::resume_config`](crate::TrainerState::resume_config)).
    #[error(
        "the configuration's label smoothing ({found}) contradicts the run resumed, which trains with {expected}: leave it unset to continue the run as it was"
    )]
    ResumeLabelSmoothing {
        /// The state's ε (0: the run trains without).
        expected: f64,
        /// The configuration's.
        found: f64,
    },
    /// Parameters or gradients of another shape than an optimizer was built for.
    #[error(
        "layer {layer_idx}: the optimizer was built for a Θ of {expected}, the {what} is {found}"
    )]
    LayerShape {
        /// `"network"` or `"gradient"`.
        what: &'static str,
        /// The layer.
        layer_idx: usize,
        /// The shape the optimizer was built for.
        expected: Shape,
        /// The shape found.
        found: Shape,
    },
    /// An image shape for [`RandomShift`](crate::RandomShift) that cannot be shifted.
    #[error(
        "invalid image shape {height} × {width} with shifts up to {max_shift} pixels: expected {expected}"
    )]
    ImageShape {
        /// Rows of an image.
        height: usize,
        /// Columns of an image.
        width: usize,
        /// The largest shift asked for.
        max_shift: usize,
        /// What would have been accepted.
        expected: &'static str,
    },
    /// Samples that are not images of the shape [`RandomShift`](crate::RandomShift) was given.
    #[error(
        "random shifts of {height} × {width} images need {} features per sample, found {n_features}",
        height * width
    )]
    ImageFeatures {
        /// Rows of an image.
        height: usize,
        /// Columns of an image.
        width: usize,
        /// The features per sample of the network or the data.
        n_features: usize,
    },
    /// The gradient reduction across processes failed (from a
    /// [`GradientReducer`](crate::reduce::GradientReducer) other than the local sum): another
    /// process failed, is lost, or is not in step.
    #[error("distributed training failed: {source}")]
    Reduction {
        /// Whether every process of the group returns this same error at the same step (they can
        /// all stop cleanly); when false, others may still wait for this one, and the group must
        /// be aborted.
        all_processes: bool,
        /// The reducer's own error (from `nn-dist`: an `nn_dist::Error`, which
        /// [`ReductionError::downcast_ref`] gives back).
        source: ReductionError,
    },
    /// A [`GradientReducer`](crate::reduce::GradientReducer) asked for shards that do not exist.
    #[error("a reducer asked for shards {start}..{end} of a batch cut into {n_shards} shards")]
    ShardRange {
        /// The first shard it asked for.
        start: usize,
        /// One past the last.
        end: usize,
        /// The shards of a batch.
        n_shards: usize,
    },
    /// The thread pool could not be built.
    #[error("cannot start {n_threads} training threads: {source}")]
    ThreadPool {
        /// The requested number of threads.
        n_threads: usize,
        /// Why rayon could not build the pool.
        source: ThreadPoolError,
    },
}

/// Random shifts in words, for messages.
fn show_shift(shift: Option<RandomShift>) -> String {
    match shift {
        Some(s) => format!(
            "shifts of up to {} pixel{} of {} × {} images",
            s.max_shift(),
            if s.max_shift() == 1 { "" } else { "s" },
            s.height(),
            s.width()
        ),
        None => "none".to_owned(),
    }
}

fn at_layer(layer_idx: Option<usize>) -> String {
    layer_idx.map_or_else(String::new, |l| format!(" of layer {l}"))
}

/// Why rayon could not build a thread pool (opaque; compares equal only to itself).
#[derive(Debug, Clone)]
pub struct ThreadPoolError(Arc<rayon::ThreadPoolBuildError>);

impl ThreadPoolError {
    pub(crate) fn new(e: rayon::ThreadPoolBuildError) -> Self {
        ThreadPoolError(Arc::new(e))
    }
}

impl PartialEq for ThreadPoolError {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl fmt::Display for ThreadPoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for ThreadPoolError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

/// The error of a [`GradientReducer`](crate::reduce::GradientReducer), kept with its type.
/// Two are equal when they say the same (the same failure seen by two processes).
#[derive(Clone, Debug)]
pub struct ReductionError(Arc<dyn std::error::Error + Send + Sync>);

impl ReductionError {
    /// Wraps a reducer's error.
    pub fn new(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        ReductionError(Arc::new(e))
    }

    /// The reducer's error, if it has type `E`.
    #[must_use]
    pub fn downcast_ref<E: std::error::Error + 'static>(&self) -> Option<&E> {
        self.0.downcast_ref()
    }
}

impl PartialEq for ReductionError {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_string() == other.0.to_string()
    }
}

impl fmt::Display for ReductionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for ReductionError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

/// Checks a hyper-parameter: `ok(value)` must hold.
pub(crate) fn check_param(
    name: &'static str,
    value: f64,
    expected: &'static str,
    ok: impl Fn(f64) -> bool,
) -> Result<(), Error> {
    if value.is_finite() && ok(value) {
        Ok(())
    } else {
        Err(Error::InvalidHyperparameter { name, value, expected })
    }
}
