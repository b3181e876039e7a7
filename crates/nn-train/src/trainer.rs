//! The training loop: bit-reproducible data-parallel steps, epochs, `fit` with validation,
//! early stopping and an observer.

use std::sync::Arc;
use std::time::Instant;

use nn_core::rng::{ChaCha8Rng, SeedableRng, shuffle};
use nn_core::{Dropout, Float, Gradients, Network, Par, Targets, Workspace};
use nn_linalg::{Mat, MatMut, MatRef, Shape};
use rayon::prelude::*;

use crate::Error;
use crate::config::{Parallelism, TrainConfig};
use crate::data::{Batch, Dataset};
use crate::error::ThreadPoolError;
use crate::metrics::evaluate;
use crate::optim::{Optimizer, clip_grad_norm};
use crate::reduce::{GradientReducer, LocalReducer, LocalShards, Shard, shard_span};
use crate::report::{BatchReport, Control, EpochReport, FitReport, Observer};
use crate::schedule::LrScheduler;
use crate::state::{EarlyStoppingState, EpochProgress, RngState, TrainerState};

/// Runs training steps and epochs on a network it does not own; owns the per-shard buffers, the
/// optimizer, the schedule, the random numbers and the thread pool (no global pool is touched).
pub struct Trainer<T: Float> {
    config: TrainConfig,
    pool: Option<Arc<rayon::ThreadPool>>,
    /// The local shards (all of them unless a reducer splits them over processes), at least one;
    /// local shard 0's gradient buffer also holds the sum over the shards.
    shards: Vec<Shard<T>>,
    /// The global index of local shard 0.
    first_shard: usize,
    /// The shards of a batch over all processes.
    n_shards: usize,
    /// Sums the shard gradients: [`LocalReducer`] unless [`Trainer::with_reducer`] set another.
    reducer: Box<dyn GradientReducer<T>>,
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
    /// The epoch an observer stopped in the middle, to finish first.
    progress: Option<EpochProgress>,
}

/// How an epoch ended.
struct EpochOutcome {
    report: EpochReport,
    control: Control,
    /// False if the observer stopped it before its last batch.
    complete: bool,
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
    /// optimizer and the schedule. Allocates everything the steps need, including faer's
    /// thread-local GEMM packing buffer on every thread of the pool and on the calling thread
    /// (which runs the steps without a pool): which pool thread runs which shard is left to work
    /// stealing, so any of them may multiply in any step.
    ///
    /// # Errors
    /// [`Error::InvalidHyperparameter`] for a bad configuration (label smoothing included, on a
    /// network without a softmax cross-entropy output), [`Error::ThreadPool`] if the pool cannot
    /// start, [`nn_core::Error::DropoutRates`] (in [`Error::Core`]) for a dropout list that is
    /// neither empty, one rate, nor one rate per hidden layer, and [`Error::ImageFeatures`] for a
    /// [`TrainConfig::random_shift`] whose images are not the network's inputs.
    pub fn new(net: &Network<T>, config: TrainConfig) -> Result<Self, Error> {
        config.validate_for(net)?;
        let dropout = config.dropout_for(net)?;
        let optimizer = Optimizer::new(config.optimizer, net)?;
        let scheduler = LrScheduler::new(config.learning_rate, config.schedule)?;
        let pool = if config.n_threads > 1 {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(config.n_threads)
                .build()
                .map_err(|e| Error::ThreadPool {
                    n_threads: config.n_threads,
                    source: ThreadPoolError::new(e),
                })?;
            Some(Arc::new(pool))
        } else {
            None
        };
        warm_threads::<T>(pool.as_deref());
        let n_shards = match config.parallelism {
            Parallelism::Shards => config.n_shards,
            Parallelism::FaerGemm => 1,
        };
        let shards = build_shards(net, &config, dropout.is_active(), n_shards, n_shards)?;
        Ok(Trainer {
            shuffle_rng: ChaCha8Rng::seed_from_u64(config.seed),
            config,
            pool,
            shards,
            first_shard: 0,
            n_shards,
            reducer: Box::new(LocalReducer),
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
            progress: None,
        })
    }

    /// Sums the shard gradients with `reducer` instead of [`LocalReducer`]: this trainer then runs
    /// only the shards [`GradientReducer::local_shards`] gives it (and gathers only their samples
    /// in [`Trainer::run_epoch`] and [`Trainer::fit`]), and the reducer forms the sum over all
    /// shards. Used by `nn-dist` to train in several processes. Allocates the local shards'
    /// buffers.
    ///
    /// # Errors
    /// Those of `local_shards`, [`Error::ShardRange`] if the range it returns is empty or beyond
    /// the shards, and the network's errors.
    pub fn with_reducer(
        mut self,
        net: &Network<T>,
        reducer: impl GradientReducer<T> + 'static,
    ) -> Result<Self, Error> {
        let local = reducer.local_shards(self.n_shards)?;
        if local.is_empty() || local.end > self.n_shards {
            return Err(Error::ShardRange {
                start: local.start,
                end: local.end,
                n_shards: self.n_shards,
            });
        }
        let masks = self.dropout.is_active();
        self.shards = build_shards(net, &self.config, masks, self.n_shards, local.len())?;
        self.first_shard = local.start;
        self.reducer = Box::new(reducer);
        Ok(self)
    }

    /// A trainer that continues a saved run exactly where it stopped.
    ///
    /// The state carries the options that shape the training data, random shifts and label
    /// smoothing: `config` may leave them unset (the state's are taken) or restate them, not
    /// contradict them (see [`TrainerState::resume_config`]). The trainer's
    /// [`config`](Trainer::config) is the one it trains with, those options included.
    ///
    /// # Errors
    /// Those of [`Trainer::new`], [`Error::ResumeRandomShift`] or
    /// [`Error::ResumeLabelSmoothing`] if `config` sets random shifts or a label smoothing other
    /// than the state's, and [`Error::StateSize`], [`Error::StateValue`]
    /// or [`Error::LayerShape`] if the state does not fit the network or the configuration.
    pub fn resume(
        net: &Network<T>,
        config: TrainConfig,
        state: TrainerState<T>,
    ) -> Result<Self, Error> {
        config.validate()?;
        let config = state.resume_config(config)?;
        let mut trainer = Trainer::new(net, config)?;
        trainer.optimizer = Optimizer::from_state(trainer.config.optimizer, net, state.optimizer)?;
        trainer.scheduler = LrScheduler::from_state(
            trainer.config.learning_rate,
            trainer.config.schedule,
            state.schedule,
        )?;
        state.early_stopping.validate()?;
        if let Some(best) = &state.early_stopping.best_params {
            check_best_params(net, best)?;
        }
        if let Some(progress) = &state.epoch_progress {
            progress.validate(trainer.config.batch_size)?;
        }
        trainer.shuffle_rng = state.shuffle_rng.to_rng();
        trainer.epoch = state.epoch;
        trainer.step = state.step;
        trainer.history = state.history;
        trainer.early = state.early_stopping;
        trainer.progress = state.epoch_progress;
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
            epoch_progress: self.progress.clone(),
            random_shift: self.config.random_shift,
            label_smoothing: self.config.label_smoothing,
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

    /// The epoch an observer stopped in the middle, if any: the next `fit` or `run_epoch`
    /// finishes it.
    #[must_use]
    pub fn epoch_progress(&self) -> Option<&EpochProgress> {
        self.progress.as_ref()
    }

    /// The learning rate of the next step.
    #[must_use]
    pub fn learning_rate(&self) -> f64 {
        self.scheduler.lr()
    }

    /// One training step on a batch given by the caller (samples as columns): forward and
    /// backward over the shards, the shard gradients summed in order, R1, clipping, the
    /// optimizer's update and the schedule's step. Returns the batch's J.
    ///
    /// Allocation: none (the dropout masks are allocated by [`Trainer::new`]), with one
    /// exception a caller of `step` in a loop should know: with more than one thread, a call
    /// from outside the trainer's rayon pool enters it from outside, and rayon's job queue
    /// allocates a block every 63 entries. Run the loop in [`Trainer::run_in_pool`] to enter
    /// the pool once: its steps then allocate nothing. [`Trainer::run_epoch`] and
    /// [`Trainer::fit`] do this for each epoch.
    ///
    /// If the loss or the gradient is not finite, returns [`Error::NonFiniteLoss`] and leaves the
    /// parameters as they were.
    ///
    /// # Errors
    /// [`Error::EmptyDataset`] for an empty batch, [`Error::BatchCapacity`] for a batch larger
    /// than the configured batch size, [`Error::TargetCount`] for targets of another length,
    /// [`Error::NonFiniteLoss`], and the network's errors.
    pub fn step(
        &mut self,
        net: &mut Network<T>,
        x: MatRef<'_, T>,
        targets: Targets<'_, T>,
    ) -> Result<f64, Error> {
        let b = x.ncols();
        self.run_in_pool(|t| t.step_counted(net, x, targets, b, 0)).map(|(loss, _)| loss)
    }

    /// Runs `f`, the caller's own training loop, on a thread of the trainer's rayon pool (on
    /// the calling thread for a one-thread trainer), so that the [`Trainer::step`],
    /// [`Trainer::run_epoch`] and [`Trainer::end_epoch`] calls in it use the pool without
    /// entering it from outside: the pool is entered once, and the steps allocate nothing.
    /// Returns what `f` returns. The results are the same bits as the same calls made outside.
    ///
    /// ```
    /// use nn_core::rng::{ChaCha8Rng, SeedableRng};
    /// use nn_core::{Activation, Loss, Network, Targets};
    /// use nn_linalg::Mat;
    /// use nn_train::{TrainConfig, Trainer};
    ///
    /// let mut net: Network<f32> = Network::builder(2, Loss::SoftmaxCrossEntropy)
    ///     .layer(8, Activation::Relu)
    ///     .layer(2, Activation::Identity)
    ///     .build(&mut ChaCha8Rng::seed_from_u64(0))?;
    /// let config = TrainConfig::new(4, 0.1, nn_train::optim::OptimizerConfig::adam()).with_threads(2);
    /// let mut trainer = Trainer::new(&net, config)?;
    /// let x = Mat::<f32>::from_fn(2, 4, |i, j| (i + j) as f32);
    /// let labels = [0, 1, 1, 0];
    /// let last_loss = trainer.run_in_pool(|t| {
    ///     let mut loss = 0.0;
    ///     for _ in 0..100 {
    ///         loss = t.step(&mut net, x.as_ref(), Targets::Classes(&labels))?;
    ///     }
    ///     Ok::<f64, nn_train::Error>(loss)
    /// })?;
    /// assert!(last_loss.is_finite());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn run_in_pool<R: Send>(&mut self, f: impl FnOnce(&mut Self) -> R + Send) -> R {
        match &self.pool {
            // `install` from one of the pool's own threads runs the closure there directly:
            // the calls inside `f` enter nothing.
            Some(pool) => Arc::clone(pool).install(|| f(self)),
            None => f(self),
        }
    }

    /// Ends an epoch of a loop the caller drives with [`Trainer::step`] or
    /// [`Trainer::run_epoch`]: gives the schedule its end-of-epoch step and counts the epoch,
    /// exactly as [`Trainer::fit`] does after each epoch. `monitored` is the loss the schedule
    /// watches (the validation loss, or the training loss without a validation set);
    /// `ReduceOnPlateau` needs it, the other schedules ignore it. The history is kept by `fit`
    /// only.
    ///
    /// # Errors
    /// [`Error::InvalidHyperparameter`] (name `"metric"`) if the schedule is `ReduceOnPlateau`
    /// and `monitored` is `None`; [`Error::StateValue`] if an observer stopped `fit` in the
    /// middle of the current epoch (finish it with `run_epoch` or `fit` first). Nothing is
    /// changed then.
    pub fn end_epoch(&mut self, monitored: Option<f64>) -> Result<(), Error> {
        if let Some(p) = &self.progress {
            return Err(Error::StateValue {
                what: "batches done of the unfinished epoch",
                layer_idx: None,
                index: 0,
                value: p.batches_done as f64,
                expected: "none: finish the epoch (run_epoch or fit) before ending it",
            });
        }
        self.scheduler.on_epoch_end(monitored)?;
        self.epoch += 1;
        Ok(())
    }

    /// The samples of a batch of `b` that the local shards take.
    fn local_span(&self, b: usize) -> std::ops::Range<usize> {
        let first = shard_span(b, self.n_shards, self.first_shard);
        let last = shard_span(b, self.n_shards, self.first_shard + self.shards.len() - 1);
        first.start..last.end
    }

    /// One step on a batch of `b` samples whose columns `col0..col0 + x.ncols()` are in `x`
    /// (all of them, or at least the local shards' ones).
    fn step_counted(
        &mut self,
        net: &mut Network<T>,
        x: MatRef<'_, T>,
        targets: Targets<'_, T>,
        b: usize,
        col0: usize,
    ) -> Result<(f64, usize), Error> {
        if b == 0 {
            return Err(Error::EmptyDataset { what: "batch" });
        }
        if b > self.config.batch_size {
            return Err(Error::BatchCapacity { capacity: self.config.batch_size, found: b });
        }
        if targets.n_samples() != x.ncols() {
            return Err(Error::TargetCount { expected: x.ncols(), found: targets.n_samples() });
        }
        // The columns must hold at least the local shards' samples (all of them from `step`).
        let span = self.local_span(b);
        if span.start < col0 || span.end > col0 + x.ncols() {
            return Err(Error::TargetCount { expected: span.len(), found: x.ncols() });
        }
        let (n_shards, first_shard) = (self.n_shards, self.first_shard);
        let (seed, step) = (self.config.seed, self.step);
        let dropout = &self.dropout;
        let use_dropout = dropout.is_active();
        let epsilon = self.config.label_smoothing;
        let frozen: &Network<T> = net;
        let run = |(i, shard): (usize, &mut Shard<T>)| {
            let global = first_shard + i;
            let span = shard_span(b, n_shards, global);
            shard.len = span.len();
            shard.result = if span.is_empty() {
                Ok((0.0, 0))
            } else {
                let xs = x.subcols(span.start - col0, span.len());
                let ts = sub_targets(&targets, span.start - col0, span.len());
                (|| -> Result<(f64, usize), Error> {
                    let loss_targets = if epsilon > 0.0 {
                        smooth_targets(&ts, epsilon, span.start, shard.smoothed.as_mut())?;
                        Targets::Matrix(shard.smoothed.as_ref().subcols(0, span.len()))
                    } else {
                        ts
                    };
                    let pass = if use_dropout {
                        let mut rng = dropout_rng(seed, step, n_shards, global);
                        frozen.forward_train_into(xs, &mut shard.ws, dropout, &mut rng)?
                    } else {
                        frozen.forward_into(xs, &mut shard.ws)?
                    };
                    let correct = count_correct(frozen, pass.output(), &ts);
                    let loss = pass.backward_shard_into(loss_targets, &mut shard.grads, b)?;
                    Ok((loss.to_f64(), correct))
                })()
            };
        };
        // Callers enter the trainer's pool (`run_in_pool`) once per step or epoch, not per shard:
        // entering a pool from outside queues a job (rayon's injector allocates a block every 63).
        let parallel = rayon::current_thread_index().is_some();
        if self.shards.len() > 1 && parallel {
            self.shards.par_iter_mut().enumerate().for_each(run);
        } else {
            self.shards.iter_mut().enumerate().for_each(run);
        }
        // Sum in shard order into local shard 0's buffers, after all shards finished: the same
        // bits for any thread count (and, through the reducer, any number of processes).
        let mut local =
            LocalShards { shards: &mut self.shards, first: first_shard, n_shards, step, parallel };
        let totals = self.reducer.reduce(&mut local)?;
        let mut loss = totals.loss;
        loss += net.l2_penalty(b);
        if !loss.is_finite() || !totals.finite {
            let what = if loss.is_finite() { "gradient" } else { "loss" };
            return Err(Error::NonFiniteLoss {
                epoch: self.epoch,
                batch_idx: self.batch_idx,
                what,
            });
        }
        let total = &mut self.shards[0].grads;
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
        Ok((loss, totals.correct))
    }

    /// One epoch over `data`: a fresh seeded permutation, batches gathered into reused buffers
    /// (the last, partial batch kept) and, with [`TrainConfig::random_shift`], their images
    /// shifted, one [`Trainer::step`] each; or, if an observer stopped
    /// `fit` in the middle of an epoch, the rest of that epoch. No validation, no early
    /// stopping: for callers who write their own loop. Allocation: the batch buffers and the
    /// permutation on the first epoch (and for data shaped differently from the last); nothing
    /// per step.
    ///
    /// # Errors
    /// Those of [`Trainer::step`], [`Error::EmptyDataset`], [`Error::StateSize`] if an
    /// unfinished epoch was on a data set of another size, and [`Error::ImageFeatures`] if the
    /// samples are not images of [`TrainConfig::random_shift`]'s shape.
    pub fn run_epoch(
        &mut self,
        net: &mut Network<T>,
        data: &Dataset<T>,
    ) -> Result<EpochReport, Error> {
        self.run_epoch_observed(net, data, &mut |_| Control::Continue).map(|o| o.report)
    }

    fn run_epoch_observed(
        &mut self,
        net: &mut Network<T>,
        data: &Dataset<T>,
        on_batch: &mut (dyn FnMut(&BatchReport) -> Control + Send),
    ) -> Result<EpochOutcome, Error> {
        self.run_in_pool(|t| t.run_epoch_in_pool(net, data, on_batch))
    }

    fn run_epoch_in_pool(
        &mut self,
        net: &mut Network<T>,
        data: &Dataset<T>,
        on_batch: &mut (dyn FnMut(&BatchReport) -> Control + Send),
    ) -> Result<EpochOutcome, Error> {
        let n = data.n_samples();
        if n == 0 {
            return Err(Error::EmptyDataset { what: "training" });
        }
        let bs = self.config.batch_size;
        // Buffers made for other data (other features, kind or number of targets) are replaced.
        let mut batch = match self.batch.take() {
            Some(b) if b.fits(data) && b.capacity() >= bs => b,
            _ => Batch::for_dataset(data, bs),
        };
        let mut perm = std::mem::take(&mut self.perm);
        perm.clear();
        perm.extend(0..n);
        // A fresh epoch shuffles with the trainer's generator; an unfinished one regenerates its
        // permutation from the generator's state before its shuffle, and skips its done batches.
        let progress = self.progress.take();
        let (shuffle_rng_before, start, mut loss_sum, mut correct, seconds_before) = match progress
        {
            Some(p) => {
                if p.n_samples != n {
                    let expected = p.n_samples;
                    // The unfinished epoch stays, for the data set it belongs to.
                    self.progress = Some(p);
                    self.perm = perm;
                    self.batch = Some(batch);
                    return Err(Error::StateSize {
                        what: "samples of the unfinished epoch",
                        layer_idx: None,
                        expected,
                        found: n,
                    });
                }
                (p.shuffle_rng, p.batches_done, p.loss_sum, p.correct, p.seconds)
            }
            None => (RngState::of(&self.shuffle_rng), 0, 0.0, 0usize, 0.0),
        };
        let mut rng = shuffle_rng_before.to_rng();
        shuffle(&mut rng, &mut perm);
        self.shuffle_rng = rng;
        let n_batches = n.div_ceil(bs);
        let started = Instant::now();
        let mut control = Control::Continue;
        let mut batches_done = start;
        let span = tracing::info_span!("epoch", epoch = self.epoch + 1);
        let _entered = span.enter();
        let mut result = Ok(());
        for (batch_idx, chunk) in perm.chunks(bs).enumerate().skip(start) {
            self.batch_idx = batch_idx;
            let learning_rate = self.scheduler.lr();
            // Only the local shards' samples are gathered (all of them without a reducer that
            // splits the shards over processes).
            let span = self.local_span(chunk.len());
            let step = batch
                .gather(data, &chunk[span.clone()])
                .and_then(|()| match self.config.random_shift {
                    // The step about to be taken selects the shifts' stream; sample k of the
                    // batch takes the offsets at position k, wherever it is gathered.
                    Some(shift) => {
                        shift.apply(batch.inputs_mut(), self.config.seed, self.step, span.start)
                    }
                    None => Ok(()),
                })
                .and_then(|()| {
                    self.step_counted(net, batch.inputs(), batch.targets(), chunk.len(), span.start)
                });
            let (loss, c) = match step {
                Ok(v) => v,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            };
            loss_sum += loss * chunk.len() as f64;
            correct += c;
            batches_done = batch_idx + 1;
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
        let seconds = seconds_before + started.elapsed().as_secs_f64();
        // Only the epoch's last batch can be smaller than the batch size.
        let samples = n.min(batches_done * bs);
        let complete = batches_done == n_batches;
        if !complete {
            self.progress = Some(EpochProgress {
                shuffle_rng: shuffle_rng_before,
                n_samples: n,
                batches_done,
                loss_sum,
                correct,
                seconds,
            });
        }
        let report = EpochReport {
            epoch: self.epoch,
            train_loss: loss_sum / samples as f64,
            train_accuracy: data.labels().map(|_| correct as f64 / samples as f64),
            validation: None,
            learning_rate: self.scheduler.lr(),
            seconds,
            samples_per_s: samples as f64 / seconds.max(1e-12),
        };
        Ok(EpochOutcome { report, control, complete })
    }

    /// Trains up to [`TrainConfig::epochs`] epochs in total (a resumed trainer continues its
    /// count), with validation metrics after every epoch, the schedule's epoch step, early
    /// stopping, and the observer. Emits `tracing` events; prints nothing.
    ///
    /// An observer that stops training after a batch that does not end its epoch leaves that
    /// epoch unfinished ([`FitReport::partial_epoch`]): it is not counted, validated or recorded,
    /// and the next `fit` (or a trainer resumed from [`Trainer::state`]) finishes it, bit for bit
    /// as an uninterrupted run would have. With early stopping's `restore_best`, the best
    /// epoch's parameters are put back when training ends (all epochs done, or early stopping),
    /// not when an observer pauses it.
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
            partial_epoch: None,
        };
        while self.epoch < self.config.epochs {
            let EpochOutcome { report: mut epoch_report, control, complete } =
                self.run_epoch_observed(net, train, &mut |b| observer.on_batch(b))?;
            if !complete {
                report.stopped_by_observer = true;
                report.partial_epoch = Some(epoch_report);
                break;
            }
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
        // The best epoch's parameters come back when training ends (every epoch done, or early
        // stopping), not when an observer pauses it: a later `fit` or a resumed trainer goes on
        // from the last step.
        let ended = report.stopped_early || self.epoch >= self.config.epochs;
        if ended && self.config.early_stopping.is_some_and(|es| es.restore_best) {
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

/// Allocates faer's thread-local GEMM packing buffer ([`nn_linalg::warm_gemm_scratch`]) on the
/// calling thread and on every thread of `pool`. Without it, a pool thread allocates the buffer
/// the first time work stealing hands it a shard, which can be in any step, long after the first
/// epoch (a worker that is slow to wake steals nothing while the other runs both shards).
fn warm_threads<T: Float>(pool: Option<&rayon::ThreadPool>) {
    nn_linalg::warm_gemm_scratch::<T>();
    if let Some(pool) = pool {
        // `broadcast` runs the closure once on each of the pool's threads, and waits for all.
        pool.broadcast(|_| nn_linalg::warm_gemm_scratch::<T>());
    }
}

/// The `what` of [`Error::NonFiniteLoss`] when the optimizer's update overflowed.
const UPDATE_OVERFLOW: &str = "result of the update (parameters or optimizer state)";

/// The buffers of `count` shards, each for its part of a batch of `config.batch_size` samples
/// cut into `n_shards` shards.
/// `count` shards of a batch cut into `n_shards`, each with its workspace (its dropout masks
/// allocated now if `masks`), gradient buffers and smoothed-target buffer.
fn build_shards<T: Float>(
    net: &Network<T>,
    config: &TrainConfig,
    masks: bool,
    n_shards: usize,
    count: usize,
) -> Result<Vec<Shard<T>>, Error> {
    let par = match config.parallelism {
        Parallelism::Shards => Par::Seq,
        Parallelism::FaerGemm => Par::with_threads(config.n_threads),
    };
    let capacity = config.batch_size.div_ceil(n_shards.max(1));
    let shards = (0..count)
        .map(|_| {
            let ws = Workspace::for_network(net, capacity)?.with_par(par);
            Ok(Shard {
                ws: if masks { ws.with_dropout_masks() } else { ws },
                grads: Gradients::zeros_like(net),
                result: Ok((0.0, 0)),
                len: 0,
                smoothed: if config.label_smoothing > 0.0 {
                    Mat::zeros(net.n_outputs(), capacity)
                } else {
                    Mat::zeros(0, 0)
                },
            })
        })
        .collect::<Result<Vec<_>, nn_core::Error>>()?;
    Ok(shards)
}

/// Writes the smoothed targets `y' = (1 − ε) y + ε/K` of `targets` (K = the rows of `dst`) into
/// the first columns of `dst` (see [`TrainConfig::with_label_smoothing`] for the gradient).
/// `first_sample` is the batch index of the first target, for error messages. No allocation.
fn smooth_targets<T: Float>(
    targets: &Targets<'_, T>,
    epsilon: f64,
    first_sample: usize,
    mut dst: MatMut<'_, T>,
) -> Result<(), Error> {
    let n_classes = dst.nrows();
    let keep = T::from_f64(1.0 - epsilon);
    let spread = T::from_f64(epsilon / n_classes as f64);
    match *targets {
        Targets::Classes(labels) => {
            for (k, &label) in labels.iter().enumerate() {
                if label >= n_classes {
                    let sample_idx = first_sample + k;
                    return Err(
                        nn_core::Error::LabelOutOfRange { sample_idx, label, n_classes }.into()
                    );
                }
                for i in 0..n_classes {
                    dst[(i, k)] = if i == label { keep + spread } else { spread };
                }
            }
        }
        Targets::Matrix(y) => {
            if y.nrows() != n_classes {
                let expected = Shape { rows: n_classes, cols: y.ncols() };
                return Err(nn_core::Error::TargetShape { expected, found: Shape::of(y) }.into());
            }
            for k in 0..y.ncols() {
                for i in 0..n_classes {
                    dst[(i, k)] = keep * y[(i, k)] + spread;
                }
            }
        }
    }
    Ok(())
}

/// The number of samples of a forward pass's output whose predicted class is the label.
fn count_correct<T: Float>(
    net: &Network<T>,
    out: MatRef<'_, T>,
    targets: &Targets<'_, T>,
) -> usize {
    let Targets::Classes(labels) = targets else {
        return 0;
    };
    let Some(out) = nn_linalg::cols(out) else {
        return 0;
    };
    out.zip(labels.iter()).filter(|(col, label)| net.class_of(col) == **label).count()
}

/// Checks that saved best parameters have the network's layers and parameter counts.
pub(crate) fn check_best_params<T: Float>(net: &Network<T>, best: &[Vec<T>]) -> Result<(), Error> {
    let n_layers = net.layers().len();
    if best.len() != n_layers {
        let found = best.len();
        return Err(Error::StateSize {
            what: "best parameter layers",
            layer_idx: None,
            expected: n_layers,
            found,
        });
    }
    for (layer_idx, (layer, values)) in net.layers().iter().zip(best).enumerate() {
        if values.len() != layer.n_params() {
            return Err(Error::StateSize {
                what: "best parameters",
                layer_idx: Some(layer_idx),
                expected: layer.n_params(),
                found: values.len(),
            });
        }
        if let Some((index, v)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(Error::StateValue {
                what: "best parameters",
                layer_idx: Some(layer_idx),
                index,
                value: v.to_f64(),
                expected: "a finite number",
            });
        }
    }
    Ok(())
}
