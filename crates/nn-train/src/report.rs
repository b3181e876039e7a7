//! What training reports while it runs: [`BatchReport`], [`EpochReport`], [`FitReport`], and the
//! [`Observer`] that sees them and can stop training.

use nn_core::{Float, Network};

use crate::Trainer;
use crate::metrics::Evaluation;

/// What the observer may tell `fit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Go on.
    Continue,
    /// Stop after this batch or epoch (the parameters stay as they are). A stop after a batch
    /// that does not end the epoch leaves the epoch unfinished: it is not counted or recorded,
    /// and the next `fit` (or a trainer resumed from [`Trainer::state`]) finishes it exactly.
    Stop,
}

/// One batch, as seen by an [`Observer`].
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct BatchReport {
    /// The epoch (0-based).
    pub epoch: usize,
    /// The batch within the epoch (0-based).
    pub batch_idx: usize,
    /// The number of batches in the epoch.
    pub n_batches: usize,
    /// The batch's loss J.
    pub loss: f64,
    /// The learning rate used for this step.
    pub learning_rate: f64,
}

/// One epoch, as seen by an [`Observer`] and kept in the history.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct EpochReport {
    /// The epoch (0-based).
    pub epoch: usize,
    /// The mean training loss over the epoch's samples (each batch's J weighted by its size;
    /// training mode: with dropout and the L2 penalty).
    pub train_loss: f64,
    /// The fraction of training samples classified right during the epoch (training mode).
    pub train_accuracy: Option<f64>,
    /// Metrics on the validation set after the epoch, if there is one.
    pub validation: Option<Evaluation>,
    /// The learning rate of the epoch's last step.
    pub learning_rate: f64,
    /// Wall-clock seconds of the epoch's training steps.
    pub seconds: f64,
    /// Training samples per second.
    pub samples_per_s: f64,
}

impl Default for EpochReport {
    /// Epoch 0, every value 0 and no metrics (to fill in field by field).
    fn default() -> Self {
        EpochReport {
            epoch: 0,
            train_loss: 0.0,
            train_accuracy: None,
            validation: None,
            learning_rate: 0.0,
            seconds: 0.0,
            samples_per_s: 0.0,
        }
    }
}

/// Watches training: sees every batch and every epoch, and can stop it. The hook for progress
/// bars and checkpoints. Both methods default to doing nothing.
pub trait Observer<T: Float> {
    /// After each batch.
    fn on_batch(&mut self, _report: &BatchReport) -> Control {
        Control::Continue
    }

    /// After each completed epoch (validation and early stopping done), with the trainer to
    /// checkpoint.
    fn on_epoch(
        &mut self,
        _report: &EpochReport,
        _net: &Network<T>,
        _trainer: &Trainer<T>,
    ) -> Control {
        Control::Continue
    }
}

/// An observer that does nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoObserver;

impl<T: Float> Observer<T> for NoObserver {}

/// How `fit` ended.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct FitReport {
    /// The number of epochs completed in total (resumed ones included).
    pub epochs_completed: usize,
    /// Whether early stopping ended training.
    pub stopped_early: bool,
    /// Whether the observer ended training.
    pub stopped_by_observer: bool,
    /// The epoch with the lowest monitored loss, if early stopping is on.
    pub best_epoch: Option<usize>,
    /// If the observer stopped training in the middle of an epoch: that epoch so far, its loss
    /// and accuracy over the samples it trained on (no validation). The epoch is not in the
    /// history; the next `fit` finishes it.
    pub partial_epoch: Option<EpochReport>,
}
