//! The error type of `nn-train`.

/// Everything that can go wrong while configuring or running training.
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
        /// `"training"`, `"validation"`, ...
        what: &'static str,
    },
    /// Targets that do not fit the inputs or the network.
    #[error("targets do not fit: {detail}")]
    TargetShape {
        /// What was expected and what was found.
        detail: String,
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
    /// Saved state that does not fit this network or configuration.
    #[error("state does not fit: {detail}")]
    StateMismatch {
        /// What was expected and what was found.
        detail: String,
    },
    /// The thread pool could not be built.
    #[error("cannot start {n_threads} training threads: {detail}")]
    ThreadPool {
        /// The requested number of threads.
        n_threads: usize,
        /// The reason given by rayon.
        detail: String,
    },
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
