//! The state of a training run, enough to continue it bit-identically: [`TrainerState`].
//!
//! These are plain data (every field public, so that `nn-io` can rebuild them from its own
//! private file records); [`Trainer::resume`](crate::Trainer::resume) checks them against the
//! network and the configuration.

use nn_core::rng::{ChaCha8Rng, SeedableRng};

use crate::Error;
use crate::augment::RandomShift;
use crate::config::TrainConfig;
use crate::optim::OptimizerState;
use crate::report::EpochReport;
use crate::schedule::ScheduleState;

/// The state of early stopping.
#[derive(Clone, Debug, PartialEq)]
pub struct EarlyStoppingState<T> {
    /// The lowest monitored loss so far.
    pub best_loss: f64,
    /// Its epoch.
    pub best_epoch: Option<usize>,
    /// Epochs since the last improvement.
    pub bad_epochs: usize,
    /// The parameters of the best epoch (every Θ, column-major), kept when `restore_best` is on.
    pub best_params: Option<Vec<Vec<T>>>,
}

impl<T> EarlyStoppingState<T> {
    /// Checks what training itself could never produce: a NaN best loss (it starts at +∞ and
    /// only ever takes a monitored loss lower than itself, which a NaN never is). A NaN would
    /// stop every later epoch from counting as an improvement.
    ///
    /// # Errors
    /// [`Error::StateValue`] for a NaN `best_loss`.
    pub fn validate(&self) -> Result<(), Error> {
        if self.best_loss.is_nan() {
            return Err(Error::StateValue {
                what: "early stopping's best loss",
                layer_idx: None,
                index: 0,
                value: self.best_loss,
                expected: "a loss, or +∞ before the first epoch",
            });
        }
        Ok(())
    }
}

impl<T> Default for EarlyStoppingState<T> {
    fn default() -> Self {
        EarlyStoppingState {
            best_loss: f64::INFINITY,
            best_epoch: None,
            bad_epochs: 0,
            best_params: None,
        }
    }
}

/// The exact state of a ChaCha8 generator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RngState {
    /// The 32-byte key.
    pub seed: [u8; 32],
    /// The stream.
    pub stream: u64,
    /// The position in the stream, in 32-bit words.
    pub word_pos: u128,
}

impl RngState {
    /// The state of `rng`.
    #[must_use]
    pub fn of(rng: &ChaCha8Rng) -> Self {
        RngState { seed: rng.get_seed(), stream: rng.get_stream(), word_pos: rng.get_word_pos() }
    }

    /// A generator in this state.
    #[must_use]
    pub fn to_rng(&self) -> ChaCha8Rng {
        let mut rng = ChaCha8Rng::from_seed(self.seed);
        rng.set_stream(self.stream);
        rng.set_word_pos(self.word_pos);
        rng
    }
}

/// Where an epoch that an observer stopped after one of its batches stands, so that the next
/// `fit` finishes it exactly: the same permutation, the remaining batches, and the sums that the
/// epoch's report needs.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochProgress {
    /// The shuffling generator before this epoch's shuffle (it regenerates the permutation).
    pub shuffle_rng: RngState,
    /// The number of samples of the data set the epoch runs over.
    pub n_samples: usize,
    /// The batches done: at least 1, fewer than the epoch has (all of them full, since only an
    /// epoch's last batch can be smaller).
    pub batches_done: usize,
    /// The sum over the done batches of J × batch size.
    pub loss_sum: f64,
    /// The samples classified right so far (classification).
    pub correct: usize,
    /// Seconds of training so far.
    pub seconds: f64,
}

impl EpochProgress {
    /// The samples of the done batches, for batches of `batch_size` (`None` on overflow).
    #[must_use]
    pub fn samples_done(&self, batch_size: usize) -> Option<usize> {
        self.batches_done.checked_mul(batch_size)
    }

    /// Checks that the counts hold together for batches of `batch_size`.
    ///
    /// # Errors
    /// [`Error::StateValue`] naming the first value out of its range.
    pub fn validate(&self, batch_size: usize) -> Result<(), Error> {
        let bad = |what, value: f64, expected| {
            Err(Error::StateValue { what, layer_idx: None, index: 0, value, expected })
        };
        let done = self.samples_done(batch_size);
        if self.batches_done == 0 || done.is_none_or(|d| d >= self.n_samples) {
            return bad(
                "epoch progress batches",
                self.batches_done as f64,
                "at least 1, and fewer than the epoch has",
            );
        }
        if !self.loss_sum.is_finite() {
            return bad("epoch progress loss sum", self.loss_sum, "a finite number");
        }
        if done.is_some_and(|d| self.correct > d) {
            return bad("epoch progress correct", self.correct as f64, "at most the samples done");
        }
        if !(self.seconds.is_finite() && self.seconds >= 0.0) {
            return bad("epoch progress seconds", self.seconds, "a finite number ≥ 0");
        }
        Ok(())
    }
}

/// Everything a training run needs to continue bit-identically: with the network's parameters
/// and the [`TrainConfig`], this is a training checkpoint.
///
/// Besides the counters and buffers, it holds the options of the configuration that shape the
/// training data itself, [`random_shift`](TrainerState::random_shift) and
/// [`label_smoothing`](TrainerState::label_smoothing): a resume that left them out of its
/// configuration would train on other data without a word, so
/// [`Trainer::resume`](crate::Trainer::resume) takes them from here (see
/// [`TrainerState::resume_config`]).
#[derive(Clone, Debug, PartialEq)]
pub struct TrainerState<T> {
    /// Epochs completed.
    pub epoch: usize,
    /// Optimizer steps taken.
    pub step: u64,
    /// Moments and step count of the optimizer.
    pub optimizer: OptimizerState<T>,
    /// The schedule's counters.
    pub schedule: ScheduleState,
    /// The shuffling generator.
    pub shuffle_rng: RngState,
    /// One report per completed epoch.
    pub history: Vec<EpochReport>,
    /// Early stopping.
    pub early_stopping: EarlyStoppingState<T>,
    /// The epoch an observer stopped after one of its batches, if any.
    pub epoch_progress: Option<EpochProgress>,
    /// The random shifts the run trains with ([`TrainConfig::random_shift`]).
    pub random_shift: Option<RandomShift>,
    /// The label smoothing ε the run trains with ([`TrainConfig::label_smoothing`]).
    pub label_smoothing: f64,
}

impl<T> TrainerState<T> {
    /// The configuration that a resume of this state trains with: `config`, with this state's
    /// [`random_shift`](TrainerState::random_shift) and
    /// [`label_smoothing`](TrainerState::label_smoothing) where `config` leaves them unset
    /// (`None` and 0, the defaults). So a caller who resumes with a configuration of its own
    /// need not repeat them, and continues exactly as the run would have.
    ///
    /// A value that `config` does set must be the state's: another one would silently train
    /// differently from the run resumed. To change them on purpose, change the state's fields
    /// (a value set to the default in the state is then taken from `config` as given).
    ///
    /// ```
    /// use nn_core::rng::{ChaCha8Rng, SeedableRng};
    /// use nn_core::{Activation, Loss, Network};
    /// use nn_train::optim::OptimizerConfig;
    /// use nn_train::{Error, RandomShift, TrainConfig, Trainer};
    ///
    /// // A run on 4 × 4 images, shifted by up to 1 pixel, with label smoothing 0.1.
    /// let net: Network<f32> = Network::builder(16, Loss::SoftmaxCrossEntropy)
    ///     .layer(3, Activation::Identity)
    ///     .build(&mut ChaCha8Rng::seed_from_u64(0))?;
    /// let config = TrainConfig::new(8, 0.1, OptimizerConfig::sgd());
    /// let shift = RandomShift::new(4, 4, 1)?;
    /// let run = Trainer::new(&net, config.clone().with_random_shift(shift).with_label_smoothing(0.1))?;
    /// let state = run.state();
    ///
    /// // Resumed with a configuration that does not repeat them: the state's are taken.
    /// let resumed = state.resume_config(config.clone())?;
    /// assert_eq!((resumed.random_shift, resumed.label_smoothing), (Some(shift), 0.1));
    /// // One that contradicts them is refused.
    /// assert!(matches!(
    ///     state.resume_config(config.with_label_smoothing(0.2)),
    ///     Err(Error::ResumeLabelSmoothing { expected: 0.1, found: 0.2 })
    /// ));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::ResumeRandomShift`] or [`Error::ResumeLabelSmoothing`] if `config` sets random
    /// shifts or a label smoothing other than the state's.
    pub fn resume_config(&self, mut config: TrainConfig) -> Result<TrainConfig, Error> {
        match (config.random_shift, self.random_shift) {
            (None, saved) => config.random_shift = saved,
            (Some(given), Some(saved)) if given == saved => {}
            (Some(found), expected) => return Err(Error::ResumeRandomShift { expected, found }),
        }
        let (found, expected) = (config.label_smoothing, self.label_smoothing);
        if found == 0.0 {
            config.label_smoothing = expected;
        } else if found.to_bits() != expected.to_bits() {
            // Bits, not values: the same NaN is no contradiction (`validate` refuses it).
            return Err(Error::ResumeLabelSmoothing { expected, found });
        }
        Ok(config)
    }
}
