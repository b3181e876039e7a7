//! The training configuration: [`TrainConfig`], [`EarlyStopping`] and [`Parallelism`].

use nn_core::{Dropout, Float, Network};

use crate::Error;
use crate::augment::RandomShift;
use crate::error::check_param;
use crate::optim::OptimizerConfig;
use crate::schedule::{LrScheduler, Schedule};

/// How a training step uses several threads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Parallelism {
    /// The batch is cut into [`TrainConfig::n_shards`] shards; each runs forward and backward with
    /// sequential GEMMs on its own buffers, on the trainer's rayon pool, and the shard gradients
    /// are summed in shard order. The result does not depend on the number of threads: the same
    /// seed gives bit-identical parameters with 1, 2, 4 or 8 threads.
    Shards,
    /// One shard; faer's own parallel GEMM uses the pool's threads inside each product. Not
    /// bit-identical across thread counts. Faster only for very wide layers.
    FaerGemm,
}

/// Early stopping: stop when the monitored loss (validation loss, or training loss without a
/// validation set) has not improved by more than `min_delta` for `patience` epochs.
///
/// ```
/// use nn_train::EarlyStopping;
///
/// let es = EarlyStopping::new(5).with_min_delta(1e-4);
/// assert_eq!((es.patience, es.min_delta, es.restore_best), (5, 1e-4, true));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct EarlyStopping {
    /// Epochs without improvement before stopping (≥ 1).
    pub patience: usize,
    /// The smallest decrease that counts as an improvement (≥ 0).
    pub min_delta: f64,
    /// Put back the parameters of the best epoch when stopping (and at the end of `fit`).
    pub restore_best: bool,
}

impl EarlyStopping {
    /// Stop after `patience` epochs without improvement; any decrease counts (`min_delta = 0`),
    /// and the best epoch's parameters are restored (`restore_best = true`).
    #[must_use]
    pub fn new(patience: usize) -> Self {
        EarlyStopping { patience, min_delta: 0.0, restore_best: true }
    }

    /// Sets the smallest decrease that counts as an improvement.
    #[must_use]
    pub fn with_min_delta(mut self, min_delta: f64) -> Self {
        self.min_delta = min_delta;
        self
    }

    /// Whether to restore the best epoch's parameters.
    #[must_use]
    pub fn with_restore_best(mut self, restore_best: bool) -> Self {
        self.restore_best = restore_best;
        self
    }
}

/// Everything that configures training. The values without a universal default are arguments
/// of [`TrainConfig::new`]; the others have defaults, changed with the `with_*` methods. The
/// struct is `#[non_exhaustive]`: fields will be added, with defaults, without breaking callers.
///
/// ```
/// use nn_train::optim::OptimizerConfig;
/// use nn_train::schedule::Schedule;
/// use nn_train::{EarlyStopping, TrainConfig};
///
/// let config = TrainConfig::new(128, 1e-3, OptimizerConfig::adamw().with_weight_decay(1e-4))
///     .with_epochs(15)
///     .with_schedule(Schedule::Cosine { t_max_epochs: 15, eta_min: 0.0 })
///     .with_dropout(0.1)
///     .with_threads(2)
///     .with_early_stopping(EarlyStopping::new(3));
/// config.validate()?;
/// # Ok::<(), nn_train::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct TrainConfig {
    /// Samples per batch (the last batch of an epoch may be smaller).
    pub batch_size: usize,
    /// The base learning rate (the schedule scales it).
    pub learning_rate: f64,
    /// The update rule.
    pub optimizer: OptimizerConfig,
    /// The learning-rate schedule. Default: constant.
    pub schedule: Schedule,
    /// The total number of epochs `fit` runs (resumed ones included). Default: 10.
    pub epochs: usize,
    /// Shards per batch (part of the result: changing it changes the rounding). Default: 2.
    pub n_shards: usize,
    /// Threads of the trainer's pool. Default: 1.
    pub n_threads: usize,
    /// How threads are used. Default: [`Parallelism::Shards`].
    pub parallelism: Parallelism,
    /// Clip the gradient to this global norm. Default: none.
    pub clip_norm: Option<f64>,
    /// Inverted dropout rates: empty for none, one rate for every hidden layer, or one per hidden
    /// layer ([`Trainer::new`](crate::Trainer::new) refuses any other length). Default: none.
    pub dropout: Vec<f64>,
    /// The seed of the shuffling and dropout random numbers. Default: 0.
    pub seed: u64,
    /// Early stopping. Default: none.
    pub early_stopping: Option<EarlyStopping>,
    /// Batch size of the evaluation passes. Default: 1000.
    pub eval_batch_size: usize,
    /// Data augmentation: every image of a batch gathered by [`Trainer::run_epoch`] or
    /// [`Trainer::fit`] is shifted by a random offset of up to `max_shift` pixels before its step
    /// ([`Trainer::step`] trains on the batch as given). Default: none.
    ///
    /// [`Trainer::run_epoch`]: crate::Trainer::run_epoch
    /// [`Trainer::fit`]: crate::Trainer::fit
    /// [`Trainer::step`]: crate::Trainer::step
    pub random_shift: Option<RandomShift>,
    /// Label smoothing ε in [0, 1) of a softmax cross-entropy network (L2): each sample's
    /// target `y` is replaced by `(1 − ε) y + ε/K` (K outputs) in the training steps; the
    /// evaluations use the targets as given. Default: 0 (none). See
    /// [`TrainConfig::with_label_smoothing`].
    pub label_smoothing: f64,
}

impl TrainConfig {
    /// A configuration with the given batch size, learning rate and optimizer, and defaults for
    /// the rest.
    #[must_use]
    pub fn new(
        batch_size: usize,
        learning_rate: f64,
        optimizer: impl Into<OptimizerConfig>,
    ) -> Self {
        TrainConfig {
            batch_size,
            learning_rate,
            optimizer: optimizer.into(),
            schedule: Schedule::Constant,
            epochs: 10,
            n_shards: 2,
            n_threads: 1,
            parallelism: Parallelism::Shards,
            clip_norm: None,
            dropout: Vec::new(),
            seed: 0,
            early_stopping: None,
            eval_batch_size: 1000,
            random_shift: None,
            label_smoothing: 0.0,
        }
    }

    /// Sets the batch size.
    #[must_use]
    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size;
        self
    }

    /// Sets the base learning rate.
    #[must_use]
    pub fn with_learning_rate(mut self, learning_rate: f64) -> Self {
        self.learning_rate = learning_rate;
        self
    }

    /// Sets the update rule.
    #[must_use]
    pub fn with_optimizer(mut self, optimizer: impl Into<OptimizerConfig>) -> Self {
        self.optimizer = optimizer.into();
        self
    }

    /// Sets the schedule.
    #[must_use]
    pub fn with_schedule(mut self, schedule: Schedule) -> Self {
        self.schedule = schedule;
        self
    }

    /// Sets the number of epochs.
    #[must_use]
    pub fn with_epochs(mut self, epochs: usize) -> Self {
        self.epochs = epochs;
        self
    }

    /// Sets the number of shards per batch.
    #[must_use]
    pub fn with_shards(mut self, n_shards: usize) -> Self {
        self.n_shards = n_shards;
        self
    }

    /// Sets the number of threads.
    #[must_use]
    pub fn with_threads(mut self, n_threads: usize) -> Self {
        self.n_threads = n_threads;
        self
    }

    /// Sets how threads are used.
    #[must_use]
    pub fn with_parallelism(mut self, parallelism: Parallelism) -> Self {
        self.parallelism = parallelism;
        self
    }

    /// Clips gradients to a global norm.
    #[must_use]
    pub fn with_clip_norm(mut self, max_norm: f64) -> Self {
        self.clip_norm = Some(max_norm);
        self
    }

    /// Sets dropout: one rate for every hidden layer.
    #[must_use]
    pub fn with_dropout(mut self, rate: f64) -> Self {
        self.dropout = vec![rate];
        self
    }

    /// Sets dropout: one rate per hidden layer, first to last.
    #[must_use]
    pub fn with_dropout_rates(mut self, rates: Vec<f64>) -> Self {
        self.dropout = rates;
        self
    }

    /// Sets the seed.
    #[must_use]
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets early stopping.
    #[must_use]
    pub fn with_early_stopping(mut self, early_stopping: EarlyStopping) -> Self {
        self.early_stopping = Some(early_stopping);
        self
    }

    /// Sets the batch size of evaluation passes.
    #[must_use]
    pub fn with_eval_batch_size(mut self, eval_batch_size: usize) -> Self {
        self.eval_batch_size = eval_batch_size;
        self
    }

    /// Augments the training data by random pixel shifts of its images (see
    /// [`RandomShift`]): each image of a gathered batch moves by its own offset of up to
    /// `max_shift` pixels in each direction, drawn from the seed and the step only (the same for
    /// any thread count and across a resumed run).
    ///
    /// ```
    /// use nn_train::optim::OptimizerConfig;
    /// use nn_train::{RandomShift, TrainConfig};
    ///
    /// // 28 × 28 images (784 inputs), moved by up to 2 pixels.
    /// let config = TrainConfig::new(128, 1e-3, OptimizerConfig::adamw())
    ///     .with_random_shift(RandomShift::new(28, 28, 2)?);
    /// assert_eq!(config.random_shift.map(|s| s.max_shift()), Some(2));
    /// # Ok::<(), nn_train::Error>(())
    /// ```
    #[must_use]
    pub fn with_random_shift(mut self, shift: RandomShift) -> Self {
        self.random_shift = Some(shift);
        self
    }

    /// Trains a softmax cross-entropy network (L2) on smoothed targets: the target of a sample
    /// of class c is `y' = (1 − ε) e_c + (ε/K) 1` for K classes (a target distribution `y`
    /// becomes `(1 − ε) y + (ε/K) 1`), which keeps the network from pushing its logits apart
    /// without end.
    ///
    /// # The gradient with smoothed targets
    /// L2's per-sample loss with target `y'` is `loss = −Σ_i y'_i log a_i` with
    /// `a = softmax(z)` (F3 of the last layer), `log a_i = z_i − lse(z)`. With `Σ_i y'_i = 1`
    /// (true of `y'` whenever it is of `y`: `(1 − ε) + K · ε/K = 1`):
    ///
    /// ```text
    /// loss = lse(z) Σ_i y'_i − Σ_i y'_i z_i = lse(z) − (1 − ε) Σ_i y_i z_i − (ε/K) Σ_i z_i
    /// ∂loss/∂z_j = a_j − y'_j = a_j − (1 − ε) y_j − ε/K          (since ∂lse/∂z_j = a_j)
    /// ```
    ///
    /// so `δ^(L) = a − y'`: L2's `δ^(L) = a − y` with the smoothed target, and B1–B3 carry it
    /// back unchanged (`∂J/∂Θ^(l) = (1/B) Δ^(l+1) A^(l)ᵀ` over the batch). With class weights
    /// `w` (`Network::with_class_weights`), L2's general form `δ = (Σ_i w_i y'_i) a − w ⊙ y'`
    /// applies to `y'` the same way. The trainer gives `y'` to nn-core as a target matrix, built
    /// per shard in a buffer allocated with the trainer; the gradient is checked in f64 against
    /// finite differences of this loss (`label_smoothing_gradient_matches_finite_differences`).
    ///
    /// ```
    /// use nn_train::TrainConfig;
    /// use nn_train::optim::OptimizerConfig;
    ///
    /// let config = TrainConfig::new(128, 1e-3, OptimizerConfig::adamw()).with_label_smoothing(0.1);
    /// config.validate()?;
    /// assert!(config.clone().with_label_smoothing(1.0).validate().is_err());
    /// # Ok::<(), nn_train::Error>(())
    /// ```
    #[must_use]
    pub fn with_label_smoothing(mut self, epsilon: f64) -> Self {
        self.label_smoothing = epsilon;
        self
    }

    /// Checks every value.
    ///
    /// # Errors
    /// [`Error::InvalidHyperparameter`] naming the first bad value.
    pub fn validate(&self) -> Result<(), Error> {
        let max_batch = nn_core::MAX_BATCH as f64;
        check_param("batch_size", self.batch_size as f64, "1 to 2^24", |v| {
            (1.0..=max_batch).contains(&v)
        })?;
        check_param("learning_rate", self.learning_rate, "a finite number > 0", |v| v > 0.0)?;
        check_param("n_shards", self.n_shards as f64, "1 to 1024", |v| {
            (1.0..=1024.0).contains(&v)
        })?;
        check_param("n_threads", self.n_threads as f64, "1 to 1024", |v| {
            (1.0..=1024.0).contains(&v)
        })?;
        check_param("eval_batch_size", self.eval_batch_size as f64, "1 to 2^24", |v| {
            (1.0..=max_batch).contains(&v)
        })?;
        check_param("label_smoothing", self.label_smoothing, "a number in [0, 1)", |v| {
            (0.0..1.0).contains(&v)
        })?;
        if let Some(c) = self.clip_norm {
            check_param("clip_norm", c, "a finite number > 0", |v| v > 0.0)?;
        }
        for &p in &self.dropout {
            check_param("dropout", p, "a number in [0, 1)", |v| (0.0..1.0).contains(&v))?;
        }
        if let Some(e) = self.early_stopping {
            check_param("early_stopping patience", e.patience as f64, "at least 1", |v| v >= 1.0)?;
            check_param("early_stopping min_delta", e.min_delta, "a finite number ≥ 0", |v| {
                v >= 0.0
            })?;
        }
        self.optimizer.validate()?;
        LrScheduler::new(self.learning_rate, self.schedule)?;
        Ok(())
    }

    /// Checks that this configuration can train `net`: every value ([`TrainConfig::validate`]),
    /// the dropout list against the hidden layers, random shifts of images that are `net`'s
    /// inputs, and label smoothing only with a softmax cross-entropy output. What
    /// [`Trainer::new`](crate::Trainer::new) checks before it builds anything.
    ///
    /// # Errors
    /// [`Error::InvalidHyperparameter`] for a bad value (label smoothing included, on a network
    /// without a softmax cross-entropy output), [`nn_core::Error::DropoutRates`] (in
    /// [`Error::Core`]) for a dropout list of another length, and [`Error::ImageFeatures`] for
    /// a [`TrainConfig::random_shift`] whose images are not `net`'s inputs.
    pub fn validate_for<T: Float>(&self, net: &Network<T>) -> Result<(), Error> {
        self.validate()?;
        self.dropout_for(net)?;
        if let Some(shift) = self.random_shift {
            shift.check_features(net.n_inputs())?;
        }
        if self.label_smoothing > 0.0 && net.loss_kind() != nn_core::Loss::SoftmaxCrossEntropy {
            return Err(Error::InvalidHyperparameter {
                name: "label_smoothing",
                value: self.label_smoothing,
                expected: "0 for a network without a softmax cross-entropy output",
            });
        }
        Ok(())
    }

    /// The dropout of `net`'s hidden layers: none, one rate for all, or one rate each.
    ///
    /// # Errors
    /// [`nn_core::Error::DropoutRates`] for a list of another length (neither 0, 1 nor the
    /// number of hidden layers).
    pub fn dropout_for<T: Float>(&self, net: &Network<T>) -> Result<Dropout, Error> {
        let n_hidden = net.layers().len() - 1;
        let rates = match self.dropout.len() {
            0 => vec![0.0; n_hidden],
            1 => vec![self.dropout[0]; n_hidden],
            n if n == n_hidden => self.dropout.clone(),
            found => {
                return Err(nn_core::Error::DropoutRates { expected: n_hidden, found }.into());
            }
        };
        Ok(Dropout::new(rates)?)
    }
}
