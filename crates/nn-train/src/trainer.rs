//! The training loop: bit-reproducible data-parallel steps, epochs, `fit` with validation,
//! early stopping and an observer.

use std::time::Instant;

use nn_core::rng::{ChaCha8Rng, SeedableRng, shuffle};
use nn_core::{Dropout, Float, Gradients, Network, Par, Targets, Workspace};
use nn_linalg::{MatMut, MatRef};
use rayon::prelude::*;

use crate::Error;
use crate::data::{Batch, Dataset};
use crate::error::check_param;
use crate::metrics::{Evaluation, evaluate};
use crate::optim::{Optimizer, OptimizerConfig, OptimizerState, clip_grad_norm};
use crate::schedule::{LrScheduler, Schedule, ScheduleState};

/// How a training step uses several threads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct EarlyStopping {
    /// Epochs without improvement before stopping (≥ 1).
    pub patience: usize,
    /// The smallest decrease that counts as an improvement (≥ 0).
    pub min_delta: f64,
    /// Put back the parameters of the best epoch when stopping (and at the end of `fit`).
    pub restore_best: bool,
}

/// Everything that configures training. Required values are arguments of [`TrainConfig::new`];
/// the others have defaults, changed with the `with_*` methods.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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
    /// layer. Default: none.
    pub dropout: Vec<f64>,
    /// The seed of the shuffling and dropout random numbers. Default: 0.
    pub seed: u64,
    /// Early stopping. Default: none.
    pub early_stopping: Option<EarlyStopping>,
    /// Batch size of the evaluation passes. Default: 1000.
    pub eval_batch_size: usize,
}

impl TrainConfig {
    /// A configuration with the given batch size, learning rate and optimizer, and defaults for
    /// the rest.
    #[must_use]
    pub fn new(batch_size: usize, learning_rate: f64, optimizer: OptimizerConfig) -> Self {
        TrainConfig {
            batch_size,
            learning_rate,
            optimizer,
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
        }
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

    fn dropout_for<T: Float>(&self, net: &Network<T>) -> Result<Dropout, Error> {
        let n_hidden = net.layers().len() - 1;
        let rates = match self.dropout.len() {
            0 => vec![0.0; n_hidden],
            1 => vec![self.dropout[0]; n_hidden],
            _ => self.dropout.clone(),
        };
        Ok(Dropout::new(rates)?)
    }
}

/// What the observer may tell `fit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Go on.
    Continue,
    /// Stop after this batch or epoch (the parameters stay as they are).
    Stop,
}

/// One batch, as seen by an [`Observer`].
#[derive(Clone, Copy, Debug, PartialEq)]
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
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct EpochReport {
    /// The epoch (0-based).
    pub epoch: usize,
    /// The mean training loss over the epoch's batches, weighted by their sizes (training mode:
    /// with dropout and the L2 penalty).
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

/// Watches training: sees every batch and every epoch, and can stop it. The hook for progress
/// bars and checkpoints. Both methods default to doing nothing.
pub trait Observer<T: Float> {
    /// After each batch.
    fn on_batch(&mut self, _report: &BatchReport) -> Control {
        Control::Continue
    }

    /// After each epoch (validation and early stopping done), with the trainer to checkpoint.
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
pub struct FitReport {
    /// The number of epochs completed in total (resumed ones included).
    pub epochs_completed: usize,
    /// Whether early stopping ended training.
    pub stopped_early: bool,
    /// Whether the observer ended training.
    pub stopped_by_observer: bool,
    /// The epoch with the lowest monitored loss, if early stopping is on.
    pub best_epoch: Option<usize>,
}

/// The state of early stopping.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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

/// Everything a training run needs to continue bit-identically: with the network's parameters
/// and the [`TrainConfig`], this is a training checkpoint.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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
}

/// The buffers of one shard.
struct Shard<T: Float> {
    ws: Workspace<T>,
    grads: Gradients<T>,
    /// This shard's part of the last step: (loss share, samples classified right).
    result: Result<(f64, usize), Error>,
    /// The number of samples it had in the last step (0: its gradient buffer is stale).
    len: usize,
}

/// Runs training steps and epochs on a network it does not own; owns the per-shard buffers, the
/// optimizer, the schedule, the random numbers and the thread pool (no global pool is touched).
pub struct Trainer<T: Float> {
    config: TrainConfig,
    pool: Option<rayon::ThreadPool>,
    /// At least one; shard 0's gradient buffer also holds the sum over the shards.
    shards: Vec<Shard<T>>,
    optimizer: Optimizer<T>,
    scheduler: LrScheduler,
    dropout: Dropout,
    shuffle_rng: ChaCha8Rng,
    batch: Option<Batch<T>>,
    perm: Vec<usize>,
    epoch: usize,
    step: u64,
    batch_idx: usize,
    history: Vec<EpochReport>,
    early: EarlyStoppingState<T>,
}

impl<T: Float> std::fmt::Debug for Trainer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trainer")
            .field("config", &self.config)
            .field("epoch", &self.epoch)
            .field("step", &self.step)
            .finish_non_exhaustive()
    }
}

/// The random stream of a shard's dropout masks at a step: a function of the seed, the step and
/// the shard only, so masks do not depend on which thread runs the shard.
fn dropout_rng(seed: u64, step: u64, n_shards: usize, shard_idx: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6472_6f70_6f75_7421);
    rng.set_stream(step.wrapping_mul(n_shards as u64).wrapping_add(shard_idx as u64));
    rng
}

/// Columns `start..start + len` of targets whose sample count was checked.
fn sub_targets<'a, T: Float>(t: &Targets<'a, T>, start: usize, len: usize) -> Targets<'a, T> {
    match *t {
        Targets::Classes(l) => Targets::Classes(&l[start..start + len]),
        Targets::Matrix(m) => Targets::Matrix(m.subcols(start, len)),
    }
}

impl<T: Float> Trainer<T> {
    /// A trainer for `net` with `config`: builds the thread pool, the shard buffers, the
    /// optimizer and the schedule. Allocates everything the steps need.
    ///
    /// # Errors
    /// [`Error::InvalidHyperparameter`] for a bad configuration, [`Error::ThreadPool`] if the pool
    /// cannot start, and network errors (dropout rates that do not fit its hidden layers).
    pub fn new(net: &Network<T>, config: TrainConfig) -> Result<Self, Error> {
        config.validate()?;
        let dropout = config.dropout_for(net)?;
        let optimizer = Optimizer::new(config.optimizer, net)?;
        let scheduler = LrScheduler::new(config.learning_rate, config.schedule)?;
        let pool = if config.n_threads > 1 {
            Some(rayon::ThreadPoolBuilder::new().num_threads(config.n_threads).build().map_err(
                |e| Error::ThreadPool { n_threads: config.n_threads, detail: e.to_string() },
            )?)
        } else {
            None
        };
        let (n_shards, par) = match config.parallelism {
            Parallelism::Shards => (config.n_shards, Par::Seq),
            Parallelism::FaerGemm => (1, Par::with_threads(config.n_threads)),
        };
        let capacity = config.batch_size.div_ceil(n_shards);
        let shards = (0..n_shards)
            .map(|_| {
                Ok(Shard {
                    ws: Workspace::for_network(net, capacity)?.with_par(par),
                    grads: Gradients::zeros_like(net),
                    result: Ok((0.0, 0)),
                    len: 0,
                })
            })
            .collect::<Result<Vec<_>, nn_core::Error>>()?;
        Ok(Trainer {
            shuffle_rng: ChaCha8Rng::seed_from_u64(config.seed),
            config,
            pool,
            shards,
            optimizer,
            scheduler,
            dropout,
            batch: None,
            perm: Vec::new(),
            epoch: 0,
            step: 0,
            batch_idx: 0,
            history: Vec::new(),
            early: EarlyStoppingState::default(),
        })
    }

    /// A trainer that continues a saved run exactly where it stopped.
    ///
    /// # Errors
    /// Those of [`Trainer::new`], and [`Error::StateMismatch`] if the state does not fit the
    /// network or the configuration.
    pub fn resume(
        net: &Network<T>,
        config: TrainConfig,
        state: TrainerState<T>,
    ) -> Result<Self, Error> {
        let mut trainer = Trainer::new(net, config)?;
        trainer.optimizer = Optimizer::from_state(trainer.config.optimizer, net, state.optimizer)?;
        trainer.scheduler = LrScheduler::from_state(
            trainer.config.learning_rate,
            trainer.config.schedule,
            state.schedule,
        )?;
        if let Some(best) = &state.early_stopping.best_params {
            let expected: Vec<usize> = net.layers().iter().map(nn_core::Dense::n_params).collect();
            let found: Vec<usize> = best.iter().map(Vec::len).collect();
            if expected != found {
                return Err(Error::StateMismatch {
                    detail: format!(
                        "best parameters of sizes {found:?}, the network has {expected:?}"
                    ),
                });
            }
        }
        trainer.shuffle_rng = state.shuffle_rng.to_rng();
        trainer.epoch = state.epoch;
        trainer.step = state.step;
        trainer.history = state.history;
        trainer.early = state.early_stopping;
        Ok(trainer)
    }

    /// The state to save for [`Trainer::resume`]. Allocates.
    #[must_use]
    pub fn state(&self) -> TrainerState<T> {
        TrainerState {
            epoch: self.epoch,
            step: self.step,
            optimizer: self.optimizer.state(),
            schedule: self.scheduler.state(),
            shuffle_rng: RngState::of(&self.shuffle_rng),
            history: self.history.clone(),
            early_stopping: self.early.clone(),
        }
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// Epochs completed.
    #[must_use]
    pub fn epoch(&self) -> usize {
        self.epoch
    }

    /// Optimizer steps taken.
    #[must_use]
    pub fn n_steps(&self) -> u64 {
        self.step
    }

    /// The reports of the completed epochs.
    #[must_use]
    pub fn history(&self) -> &[EpochReport] {
        &self.history
    }

    /// The learning rate of the next step.
    #[must_use]
    pub fn learning_rate(&self) -> f64 {
        self.scheduler.lr()
    }

    /// One training step on a batch given by the caller (samples as columns): forward and
    /// backward over the shards, the shard gradients summed in order, R1, clipping, the
    /// optimizer's update and the schedule's step. Returns the batch's J. Allocation: none.
    ///
    /// If the loss or the gradient is not finite, returns [`Error::NonFiniteLoss`] and leaves the
    /// parameters as they were.
    ///
    /// # Errors
    /// [`Error::EmptyDataset`] for an empty batch, [`Error::TargetShape`] for a batch larger than
    /// the configured batch size or targets of another length, [`Error::NonFiniteLoss`], and the
    /// network's errors.
    pub fn step(
        &mut self,
        net: &mut Network<T>,
        x: MatRef<'_, T>,
        targets: Targets<'_, T>,
    ) -> Result<f64, Error> {
        self.in_pool(|t| t.step_counted(net, x, targets)).map(|(loss, _)| loss)
    }

    /// Runs `f` on the trainer's pool, if it has one: the shards and the optimizer then use its
    /// threads through work stealing, without touching rayon's global pool. Entering a pool from
    /// outside queues a job (rayon's injector allocates a block every 63 jobs), so it is done
    /// once per step or epoch, never per shard.
    fn in_pool<R: Send>(&mut self, f: impl FnOnce(&mut Self) -> R + Send) -> R {
        match self.pool.take() {
            Some(pool) => {
                let result = pool.install(|| f(self));
                self.pool = Some(pool);
                result
            }
            None => f(self),
        }
    }

    fn step_counted(
        &mut self,
        net: &mut Network<T>,
        x: MatRef<'_, T>,
        targets: Targets<'_, T>,
    ) -> Result<(f64, usize), Error> {
        let b = x.ncols();
        if b == 0 {
            return Err(Error::EmptyDataset { what: "batch" });
        }
        if b > self.config.batch_size || targets.n_samples() != b {
            return Err(Error::TargetShape {
                detail: format!(
                    "a batch of {b} samples with {} targets; the batch size is {}",
                    targets.n_samples(),
                    self.config.batch_size
                ),
            });
        }
        let n_shards = self.shards.len();
        let (seed, step) = (self.config.seed, self.step);
        let dropout = &self.dropout;
        let use_dropout = dropout.is_active();
        let frozen: &Network<T> = net;
        let run = |(i, shard): (usize, &mut Shard<T>)| {
            // Shard i takes ⌊b/n⌋ samples, one more for the first b mod n shards.
            let (base, rem) = (b / n_shards, b % n_shards);
            let len = base + usize::from(i < rem);
            let start = i * base + i.min(rem);
            shard.len = len;
            shard.result = if len == 0 {
                Ok((0.0, 0))
            } else {
                let xs = x.subcols(start, len);
                let ts = sub_targets(&targets, start, len);
                (|| -> Result<(f64, usize), Error> {
                    if use_dropout {
                        let mut rng = dropout_rng(seed, step, n_shards, i);
                        frozen.forward_train_into(xs, &mut shard.ws, dropout, &mut rng)?;
                    } else {
                        frozen.forward_into(xs, &mut shard.ws)?;
                    }
                    let correct = count_correct(frozen, &shard.ws, &ts);
                    let loss =
                        frozen.backward_shard_into(xs, ts, &mut shard.ws, &mut shard.grads, b)?;
                    Ok((loss.to_f64(), correct))
                })()
            };
        };
        // Callers enter the trainer's pool (`in_pool`) once per step or epoch, not per shard.
        if n_shards > 1 && rayon::current_thread_index().is_some() {
            self.shards.par_iter_mut().enumerate().for_each(run);
        } else {
            self.shards.iter_mut().enumerate().for_each(run);
        }
        // Sum in shard order into shard 0's buffers, after all shards finished: the same bits for
        // any thread count.
        let (mut loss, mut correct) = (0.0, 0);
        for shard in &self.shards {
            let (l, c) = shard.result.clone()?;
            loss += l;
            correct += c;
        }
        let (first, rest) = self.shards.split_at_mut(1);
        let total = &mut first[0].grads;
        // One pass: add the other shards into shard 0 (in shard order) and check finiteness,
        // split over the pool's threads by columns (element-wise: the same bits either way).
        let parallel = rayon::current_thread_index().is_some();
        let mut finite = true;
        for layer_idx in 0..total.n_layers() {
            if let Some(dst) = total.layer_mut(layer_idx) {
                finite &= reduce_columns(dst, rest, layer_idx, 0, parallel);
            }
        }
        loss += net.l2_penalty(b);
        if !loss.is_finite() || !finite {
            let what = if loss.is_finite() { "gradient" } else { "loss" };
            return Err(Error::NonFiniteLoss {
                epoch: self.epoch,
                batch_idx: self.batch_idx,
                what,
            });
        }
        net.add_l2_into(total, b)?;
        if let Some(max_norm) = self.config.clip_norm {
            clip_grad_norm(total, max_norm)?;
        }
        // In the pool, the element-wise update runs on its threads (same bits). Finite gradients
        // can still overflow in the update (squared gradients, Θ under a huge rate): divergence.
        if !self.optimizer.step_checked(net, total, self.scheduler.lr())? {
            return Err(Error::NonFiniteLoss {
                epoch: self.epoch,
                batch_idx: self.batch_idx,
                what: UPDATE_OVERFLOW,
            });
        }
        self.scheduler.on_step();
        self.step += 1;
        Ok((loss, correct))
    }

    /// One epoch over `data`: a fresh seeded permutation, batches gathered into reused buffers
    /// (the last, partial batch kept), one [`Trainer::step`] each. No validation, no early
    /// stopping: for callers who write their own loop. Allocation: the batch buffers and the
    /// permutation on the first epoch; nothing per step.
    ///
    /// # Errors
    /// Those of [`Trainer::step`], and [`Error::EmptyDataset`].
    pub fn run_epoch(
        &mut self,
        net: &mut Network<T>,
        data: &Dataset<T>,
    ) -> Result<EpochReport, Error> {
        self.run_epoch_observed(net, data, &mut |_| Control::Continue).map(|(r, _)| r)
    }

    fn run_epoch_observed(
        &mut self,
        net: &mut Network<T>,
        data: &Dataset<T>,
        on_batch: &mut (dyn FnMut(&BatchReport) -> Control + Send),
    ) -> Result<(EpochReport, Control), Error> {
        self.in_pool(|t| t.run_epoch_in_pool(net, data, on_batch))
    }

    fn run_epoch_in_pool(
        &mut self,
        net: &mut Network<T>,
        data: &Dataset<T>,
        on_batch: &mut (dyn FnMut(&BatchReport) -> Control + Send),
    ) -> Result<(EpochReport, Control), Error> {
        let n = data.n_samples();
        if n == 0 {
            return Err(Error::EmptyDataset { what: "training" });
        }
        let bs = self.config.batch_size;
        let mut batch = match self.batch.take() {
            Some(b) if b.inputs().nrows() == data.n_features() => b,
            _ => Batch::for_dataset(data, bs),
        };
        let mut perm = std::mem::take(&mut self.perm);
        perm.clear();
        perm.extend(0..n);
        shuffle(&mut self.shuffle_rng, &mut perm);
        let n_batches = n.div_ceil(bs);
        let started = Instant::now();
        let (mut loss_sum, mut correct, mut control) = (0.0, 0usize, Control::Continue);
        let span = tracing::info_span!("epoch", epoch = self.epoch + 1);
        let _entered = span.enter();
        let mut result = Ok(());
        for (batch_idx, chunk) in perm.chunks(bs).enumerate() {
            self.batch_idx = batch_idx;
            let learning_rate = self.scheduler.lr();
            let step = batch
                .gather(data, chunk)
                .and_then(|()| self.step_counted(net, batch.inputs(), batch.targets()));
            let (loss, c) = match step {
                Ok(v) => v,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            };
            loss_sum += loss * chunk.len() as f64;
            correct += c;
            tracing::trace!(batch = batch_idx, loss, learning_rate, "batch");
            let report =
                BatchReport { epoch: self.epoch, batch_idx, n_batches, loss, learning_rate };
            if on_batch(&report) == Control::Stop {
                control = Control::Stop;
                break;
            }
        }
        self.batch = Some(batch);
        self.perm = perm;
        result?;
        let seconds = started.elapsed().as_secs_f64();
        let report = EpochReport {
            epoch: self.epoch,
            train_loss: loss_sum / n as f64,
            train_accuracy: data.labels().map(|_| correct as f64 / n as f64),
            validation: None,
            learning_rate: self.scheduler.lr(),
            seconds,
            samples_per_s: n as f64 / seconds.max(1e-12),
        };
        Ok((report, control))
    }

    /// Trains up to [`TrainConfig::epochs`] epochs in total (a resumed trainer continues its
    /// count), with validation metrics after every epoch, the schedule's epoch step, early
    /// stopping, and the observer. Emits `tracing` events; prints nothing.
    ///
    /// # Errors
    /// Those of [`Trainer::run_epoch`] and of [`evaluate`] on the validation set.
    pub fn fit(
        &mut self,
        net: &mut Network<T>,
        train: &Dataset<T>,
        validation: Option<&Dataset<T>>,
        observer: &mut (dyn Observer<T> + Send),
    ) -> Result<FitReport, Error> {
        let mut report = FitReport {
            epochs_completed: self.epoch,
            stopped_early: false,
            stopped_by_observer: false,
            best_epoch: self.early.best_epoch,
        };
        while self.epoch < self.config.epochs {
            let (mut epoch_report, control) =
                self.run_epoch_observed(net, train, &mut |b| observer.on_batch(b))?;
            if let Some(val) = validation {
                epoch_report.validation = Some(evaluate(net, val, self.config.eval_batch_size)?);
            }
            let monitored =
                epoch_report.validation.as_ref().map_or(epoch_report.train_loss, |v| v.loss);
            self.scheduler.on_epoch_end(Some(monitored))?;
            // Epochs counted from 1, as every message does; the set is named in full.
            tracing::info!(
                epoch = epoch_report.epoch + 1,
                train_loss = epoch_report.train_loss,
                train_accuracy = epoch_report.train_accuracy,
                validation_loss = epoch_report.validation.as_ref().map(|v| v.loss),
                validation_accuracy = epoch_report.validation.as_ref().and_then(|v| v.accuracy),
                learning_rate = epoch_report.learning_rate,
                samples_per_s = epoch_report.samples_per_s,
                "epoch"
            );
            let mut stop = false;
            if let Some(es) = self.config.early_stopping {
                if monitored < self.early.best_loss - es.min_delta {
                    self.early.best_loss = monitored;
                    self.early.best_epoch = Some(self.epoch);
                    self.early.bad_epochs = 0;
                    if es.restore_best {
                        self.early.best_params = Some(
                            net.layers().iter().map(nn_core::Dense::theta_col_major).collect(),
                        );
                    }
                } else {
                    self.early.bad_epochs += 1;
                    stop = self.early.bad_epochs >= es.patience;
                }
            }
            self.epoch += 1;
            self.history.push(epoch_report);
            report.epochs_completed = self.epoch;
            report.best_epoch = self.early.best_epoch;
            if stop {
                report.stopped_early = true;
                tracing::info!(
                    epoch = self.epoch,
                    best_epoch = self.early.best_epoch.map(|e| e + 1),
                    "early stop"
                );
            }
            let observer_stop = match self.history.last().cloned() {
                Some(last) => observer.on_epoch(&last, net, self) == Control::Stop,
                None => false,
            };
            if observer_stop || control == Control::Stop {
                report.stopped_by_observer = true;
                stop = true;
            }
            if stop {
                break;
            }
        }
        if self.config.early_stopping.is_some_and(|es| es.restore_best) {
            self.restore_best(net)?;
        }
        Ok(report)
    }

    /// Puts the best epoch's parameters (kept by early stopping with `restore_best`) into `net`.
    fn restore_best(&self, net: &mut Network<T>) -> Result<(), Error> {
        let Some(best) = &self.early.best_params else {
            return Ok(());
        };
        for (layer, values) in net.layers_mut().iter_mut().zip(best) {
            let restored = nn_core::Dense::from_theta_col_major(
                layer.n_inputs(),
                layer.n_outputs(),
                values,
                layer.activation(),
            )?;
            *layer = restored;
        }
        Ok(())
    }
}

/// The `what` of [`Error::NonFiniteLoss`] when the optimizer's update overflowed.
const UPDATE_OVERFLOW: &str = "result of the update (parameters or optimizer state)";

/// Adds the gradients of the non-empty shards `rest` into `dst` (shard 0's gradient of layer
/// `layer_idx`, columns `first_col..`) and tells whether every sum is finite. Inside a rayon pool,
/// halves the columns recursively with `rayon::join`.
fn reduce_columns<T: Float>(
    dst: MatMut<'_, T>,
    rest: &[Shard<T>],
    layer_idx: usize,
    first_col: usize,
    parallel: bool,
) -> bool {
    let n_cols = dst.ncols();
    if parallel && n_cols >= 64 && dst.nrows() * n_cols >= 1 << 14 {
        let mid = n_cols / 2;
        let (left, right) = dst.split_at_col_mut(mid);
        let (a, b) = rayon::join(
            || reduce_columns(left, rest, layer_idx, first_col, true),
            || reduce_columns(right, rest, layer_idx, first_col + mid, true),
        );
        return a && b;
    }
    let mut dst = dst;
    let mut sources = rest.iter().filter(|s| s.len > 0).filter_map(|s| {
        s.grads.layer(layer_idx).map(|g| g.subcols(first_col, n_cols)).and_then(nn_linalg::cols)
    });
    let (mut finite, mut ok) = (true, true);
    let check = |d: &[T], finite: &mut bool| {
        // A non-short-circuit `&=`: the loop stays a vectorizable and-reduction.
        for x in d {
            *finite &= x.is_finite();
        }
    };
    match sources.next() {
        // The common case, two shards: add and check in one loop.
        Some(mut src_cols) => {
            ok &= nn_linalg::cols_mut(dst.as_mut(), |_, d| {
                if let Some(src) = src_cols.next() {
                    for (x, &y) in d.iter_mut().zip(src) {
                        *x += y;
                        finite &= x.is_finite();
                    }
                }
            })
            .is_ok();
            // More shards: add them in order, then check the final sums.
            let mut more = false;
            for mut src_cols in sources {
                more = true;
                ok &= nn_linalg::cols_mut(dst.as_mut(), |_, d| {
                    if let Some(src) = src_cols.next() {
                        for (x, &y) in d.iter_mut().zip(src) {
                            *x += y;
                        }
                    }
                })
                .is_ok();
            }
            if more {
                finite = true;
                ok &= nn_linalg::cols_mut(dst.as_mut(), |_, d| check(d, &mut finite)).is_ok();
            }
        }
        None => ok &= nn_linalg::cols_mut(dst.as_mut(), |_, d| check(d, &mut finite)).is_ok(),
    }
    finite && ok
}

/// The number of samples of the last forward pass in `ws` whose predicted class is the label.
fn count_correct<T: Float>(net: &Network<T>, ws: &Workspace<T>, targets: &Targets<'_, T>) -> usize {
    let Targets::Classes(labels) = targets else {
        return 0;
    };
    let Some(out) = ws.a(net.layers().len() - 1).and_then(nn_linalg::cols) else {
        return 0;
    };
    out.zip(labels.iter()).filter(|(col, label)| net.class_of(col) == **label).count()
}
