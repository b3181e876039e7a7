//! The error type of `nn-core`.

use nn_linalg::{Shape, ShapeError};

use crate::{Activation, Loss};

/// Everything that can go wrong when building or running a network: each variant names what was
/// expected and what was found.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A kernel's operands do not fit (forwarded from `nn-linalg`).
    #[error(transparent)]
    Shape(#[from] ShapeError),
    /// A network needs at least one layer.
    #[error("a network needs at least one layer")]
    NoLayers,
    /// A layer with no inputs or no outputs.
    #[error("layer {layer_idx} has zero width: {what} must be at least 1")]
    ZeroWidth {
        /// Index of the layer (0 is the first `Dense` layer).
        layer_idx: usize,
        /// `"n_inputs"` or `"n_outputs"`.
        what: &'static str,
    },
    /// Adjacent layers disagree on their sizes.
    #[error("layer {layer_idx} takes {expected} inputs, but the layer before it produces {found}")]
    LayerMismatch {
        /// Index of the layer whose inputs do not match.
        layer_idx: usize,
        /// Its number of inputs.
        expected: usize,
        /// The previous layer's number of outputs.
        found: usize,
    },
    /// The input batch has the wrong number of rows (samples are columns).
    #[error(
        "input has {found} rows, but the network takes {expected} inputs (samples are columns)"
    )]
    InputRows {
        /// The network's number of inputs.
        expected: usize,
        /// The rows of the batch.
        found: usize,
    },
    /// The batch is empty or larger than the workspace was built for.
    #[error("batch of {found} samples: expected 1 to {max} (the workspace's capacity)")]
    BatchSize {
        /// The workspace's capacity.
        max: usize,
        /// The batch's number of columns.
        found: usize,
    },
    /// A target matrix of the wrong shape.
    #[error("target matrix is {found}, expected {expected} (outputs × samples)")]
    TargetShape {
        /// outputs × batch size.
        expected: Shape,
        /// What was passed.
        found: Shape,
    },
    /// A class-index target with the wrong number of labels.
    #[error("{found} class labels for a batch of {expected} samples")]
    LabelCount {
        /// The batch size.
        expected: usize,
        /// The number of labels.
        found: usize,
    },
    /// A class label beyond the network's outputs.
    #[error("label {label} of sample {sample_idx} is out of range: there are {n_classes} classes")]
    LabelOutOfRange {
        /// The sample (column) index within the batch.
        sample_idx: usize,
        /// The label.
        label: usize,
        /// The number of classes the output encodes.
        n_classes: usize,
    },
    /// A target value is NaN or infinite.
    #[error("target ({row}, {col}) is not finite: {value}")]
    NonFiniteTarget {
        /// Output index.
        row: usize,
        /// Sample index within the batch.
        col: usize,
        /// The value.
        value: f64,
    },
    /// A hyper-parameter outside its domain.
    #[error("invalid {name} = {value}: expected {expected}")]
    InvalidHyperparameter {
        /// Its name, e.g. `"l2"` or `"leaky_relu alpha"`.
        name: &'static str,
        /// The value passed.
        value: f64,
        /// What would have been accepted.
        expected: &'static str,
    },
    /// A fused loss applies its own output function, so the last layer must output raw logits.
    #[error(
        "{loss} applies its own output function, so the last layer's activation must be identity, found {found}"
    )]
    OutputActivation {
        /// The loss.
        loss: Loss,
        /// The last layer's activation.
        found: Activation,
    },
    /// A workspace or gradient buffer built for a network of other sizes.
    #[error("{what} was built for layer sizes {expected:?}, but the network has {found:?}")]
    WorkspaceMismatch {
        /// `"workspace"` or `"gradients"`.
        what: &'static str,
        /// The sizes the buffer was built for.
        expected: Vec<usize>,
        /// The network's sizes (inputs first).
        found: Vec<usize>,
    },
    /// Per-class weights that do not fit the output layer or the loss.
    #[error("{found} class weights for a {loss} output of {expected} classes")]
    ClassWeights {
        /// The number of outputs.
        expected: usize,
        /// The number of weights passed.
        found: usize,
        /// The loss.
        loss: Loss,
    },
    /// A parameter is NaN or infinite.
    #[error("parameter ({row}, {col}) of layer {layer_idx} is not finite: {value}")]
    NonFiniteParameter {
        /// The layer.
        layer_idx: usize,
        /// Row of Θ.
        row: usize,
        /// Column of Θ (0: bias).
        col: usize,
        /// The value.
        value: f64,
    },
    /// Dropout rates that do not match the hidden layers.
    #[error("{found} dropout rates for a network with {expected} hidden layers")]
    DropoutRates {
        /// The number of hidden layers (all layers but the last).
        expected: usize,
        /// The number of rates passed.
        found: usize,
    },
    /// More classes than a confusion matrix holds.
    #[error("{found} classes: a confusion matrix holds at most {max}")]
    ClassCount {
        /// The number of classes asked for.
        found: usize,
        /// [`crate::metrics::MAX_CLASSES`].
        max: usize,
    },
    /// Counts whose total does not fit a `u64`.
    #[error("the counts' total overflows a u64")]
    CountOverflow,
    /// A metric over no samples (or no outputs), which is undefined.
    #[error("a metric needs at least one sample and one output")]
    NoSamples,
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
    /// A mean-squared-error scale ([`crate::MseScale`]) other than the default on a network
    /// whose loss is not mean squared error.
    #[error("{found} has no mean-squared-error scale: only {} does", Loss::MeanSquaredError)]
    MseScale {
        /// The network's loss.
        found: Loss,
    },
    /// A flat parameter buffer of the wrong length.
    #[error("parameter buffer has {found} values, expected {expected}")]
    ParameterCount {
        /// n_outputs × (n_inputs + 1).
        expected: usize,
        /// The length passed.
        found: usize,
    },
}

impl Error {
    /// The same error, attributed to layer `idx` (for errors raised by a layer that does not know
    /// its position).
    pub(crate) fn at_layer(self, idx: usize) -> Self {
        match self {
            Error::ZeroWidth { what, .. } => Error::ZeroWidth { layer_idx: idx, what },
            Error::NonFiniteParameter { row, col, value, .. } => {
                Error::NonFiniteParameter { layer_idx: idx, row, col, value }
            }
            other => other,
        }
    }
}
