//! The training records of checkpoints (feature `train`): the configuration and the trainer's
//! state, mirrors of `nn-train`'s public types.
//!
//! ```text
//! version 1: TrainingRecordV1<T> = { config: TrainConfigRecord, state: TrainerStateV1<T> }
//!            (the serde layout that nn-train's own derives had: transcribed here, frozen)
//! version 2: TrainingRecordV2<T> = { config: TrainConfigRecord, state: TrainerStateV2<T> }
//!            TrainerStateV2 = version 1's + the unfinished epoch; its history's evaluations
//!            hold the regression and multi-label metrics instead of version 1's MSE and MAE
//! version 3: TrainingRecordV3<T> = { config: TrainConfigV3, state: TrainerStateV2<T> }
//!            TrainConfigV3 = { TrainConfigRecord's fields,
//!                              random_shift: Option<{ height: u64, width: u64, max_shift: u64 }>,
//!                              label_smoothing: f64 }
//! ```
//! Versions 1 and 2 hold neither random shifts nor label smoothing: they load as off (the
//! configuration's defaults), in the configuration and in the state.

use nn_core::metrics::{ConfusionMatrix, MultilabelMetrics, RegressionMetrics};
use nn_train::optim::{LayerState, OptimizerConfig, OptimizerState};
use nn_train::schedule::{Schedule, ScheduleState};
use nn_train::{
    EarlyStopping, EarlyStoppingState, EpochProgress, EpochReport, Evaluation, Parallelism,
    RandomShift, RngState, TrainConfig, TrainerState,
};
use serde::{Deserialize, Serialize};

use super::size;
use crate::CheckpointError;

// ---------------------------------------------------------------------------------------------
// Format version 1 (frozen). Version 2 reuses every record below but the `V1` ones.

/// The training section of format version 1.
#[derive(Serialize, Deserialize)]
pub(crate) struct TrainingRecordV1<T> {
    config: TrainConfigRecord,
    state: TrainerStateV1<T>,
}

#[derive(Serialize, Deserialize)]
struct TrainConfigRecord {
    batch_size: u64,
    learning_rate: f64,
    optimizer: OptimizerRecord,
    schedule: ScheduleRecord,
    epochs: u64,
    n_shards: u64,
    n_threads: u64,
    parallelism: ParallelismRecord,
    clip_norm: Option<f64>,
    dropout: Vec<f64>,
    seed: u64,
    early_stopping: Option<EarlyStoppingRecord>,
    eval_batch_size: u64,
}

#[derive(Serialize, Deserialize)]
enum OptimizerRecord {
    Sgd(SgdRecord),
    Adam(AdamRecord),
    AdamW(AdamRecord),
    RmsProp(RmsPropRecord),
}

#[derive(Serialize, Deserialize)]
struct SgdRecord {
    momentum: f64,
    nesterov: bool,
    weight_decay: f64,
}

#[derive(Serialize, Deserialize)]
struct AdamRecord {
    beta1: f64,
    beta2: f64,
    eps: f64,
    weight_decay: f64,
}

#[derive(Serialize, Deserialize)]
struct RmsPropRecord {
    alpha: f64,
    eps: f64,
    momentum: f64,
    weight_decay: f64,
}

#[derive(Serialize, Deserialize)]
enum ScheduleRecord {
    Constant,
    Step { step_epochs: u64, gamma: f64 },
    Exponential { gamma: f64 },
    Cosine { t_max_epochs: u64, eta_min: f64 },
    OneCycle { total_steps: u64, pct_start: f64, div_factor: f64, final_div_factor: f64 },
    InverseScaling { power_t: f64 },
    ReduceOnPlateau { factor: f64, patience: u64, threshold: f64, min_lr: f64, cooldown: u64 },
}

#[derive(Serialize, Deserialize)]
enum ParallelismRecord {
    Shards,
    FaerGemm,
}

#[derive(Serialize, Deserialize)]
struct EarlyStoppingRecord {
    patience: u64,
    min_delta: f64,
    restore_best: bool,
}

#[derive(Serialize, Deserialize)]
struct TrainerStateV1<T> {
    epoch: u64,
    step: u64,
    optimizer: OptimizerStateRecord<T>,
    schedule: ScheduleStateRecord,
    shuffle_rng: RngRecord,
    history: Vec<EpochReportV1>,
    early_stopping: EarlyStoppingStateRecord<T>,
}

#[derive(Serialize, Deserialize)]
struct OptimizerStateRecord<T> {
    step: u64,
    layers: Vec<LayerStateRecord<T>>,
}

#[derive(Serialize, Deserialize)]
struct LayerStateRecord<T> {
    momentum: Vec<T>,
    exp_avg: Vec<T>,
    exp_avg_sq: Vec<T>,
}

#[derive(Serialize, Deserialize)]
struct ScheduleStateRecord {
    epoch: u64,
    step: u64,
    lr: f64,
    best: Option<f64>,
    bad_epochs: u64,
    cooldown_counter: u64,
}

#[derive(Serialize, Deserialize)]
struct RngRecord {
    seed: [u8; 32],
    stream: u64,
    word_pos: u128,
}

#[derive(Serialize, Deserialize)]
struct EpochReportV1 {
    epoch: u64,
    train_loss: f64,
    train_accuracy: Option<f64>,
    validation: Option<EvaluationV1>,
    learning_rate: f64,
    seconds: f64,
    samples_per_s: f64,
}

#[derive(Serialize, Deserialize)]
struct EvaluationV1 {
    n_samples: u64,
    loss: f64,
    accuracy: Option<f64>,
    top5_accuracy: Option<f64>,
    confusion: Option<ConfusionRecord>,
    mse: Option<f64>,
    mae: Option<f64>,
}

#[derive(Serialize, Deserialize)]
struct ConfusionRecord {
    n_classes: u64,
    counts: Vec<u64>,
}

#[derive(Serialize, Deserialize)]
struct EarlyStoppingStateRecord<T> {
    best_loss: f64,
    best_epoch: Option<u64>,
    bad_epochs: u64,
    best_params: Option<Vec<Vec<T>>>,
}

// ---------------------------------------------------------------------------------------------
// Format version 2: the unfinished epoch, and the regression and multi-label metrics.

/// The training section of format version 2.
#[derive(Serialize, Deserialize)]
pub(crate) struct TrainingRecordV2<T> {
    config: TrainConfigRecord,
    state: TrainerStateV2<T>,
}

#[derive(Serialize, Deserialize)]
struct TrainerStateV2<T> {
    epoch: u64,
    step: u64,
    optimizer: OptimizerStateRecord<T>,
    schedule: ScheduleStateRecord,
    shuffle_rng: RngRecord,
    history: Vec<EpochReportV2>,
    early_stopping: EarlyStoppingStateRecord<T>,
    epoch_progress: Option<EpochProgressRecord>,
}

#[derive(Serialize, Deserialize)]
struct EpochReportV2 {
    epoch: u64,
    train_loss: f64,
    train_accuracy: Option<f64>,
    validation: Option<EvaluationV2>,
    learning_rate: f64,
    seconds: f64,
    samples_per_s: f64,
}

#[derive(Serialize, Deserialize)]
struct EvaluationV2 {
    n_samples: u64,
    loss: f64,
    accuracy: Option<f64>,
    top5_accuracy: Option<f64>,
    confusion: Option<ConfusionRecord>,
    regression: Option<RegressionRecord>,
    multilabel: Option<MultilabelRecord>,
}

#[derive(Serialize, Deserialize)]
struct RegressionRecord {
    n_samples: u64,
    mse: f64,
    rmse: f64,
    mae: f64,
    r2: f64,
    mse_per_output: Vec<f64>,
    r2_per_output: Vec<f64>,
}

#[derive(Serialize, Deserialize)]
struct MultilabelRecord {
    n_samples: u64,
    subset_accuracy: f64,
    hamming_loss: f64,
    micro_precision: f64,
    micro_recall: f64,
    micro_f1: f64,
    macro_f1: f64,
}

#[derive(Serialize, Deserialize)]
struct EpochProgressRecord {
    shuffle_rng: RngRecord,
    n_samples: u64,
    batches_done: u64,
    loss_sum: f64,
    correct: u64,
    seconds: f64,
}

// ---------------------------------------------------------------------------------------------
// Format version 3: random shifts and label smoothing, in the configuration.

/// The training section of format version 3.
#[derive(Serialize, Deserialize)]
pub(crate) struct TrainingRecordV3<T> {
    config: TrainConfigV3,
    state: TrainerStateV2<T>,
}

/// Version 1's configuration record, then the options that version 3 adds (serde encodes the
/// nested record's fields in place: the same bytes as one flat record).
#[derive(Serialize, Deserialize)]
struct TrainConfigV3 {
    base: TrainConfigRecord,
    random_shift: Option<RandomShiftRecord>,
    label_smoothing: f64,
}

#[derive(Serialize, Deserialize)]
struct RandomShiftRecord {
    height: u64,
    width: u64,
    max_shift: u64,
}

// ---------------------------------------------------------------------------------------------
// Public types → records (the writer: the current version only).

/// A value that no record of the current version holds (a variant added to a public enum
/// after this version): refused rather than written wrong.
fn no_record(what: &str, value: &dyn std::fmt::Debug) -> CheckpointError {
    CheckpointError::Encode { message: format!("{what} {value:?} has no record in this format") }
}

impl TrainConfigRecord {
    fn of(c: &TrainConfig) -> Result<Self, CheckpointError> {
        let optimizer = match c.optimizer {
            OptimizerConfig::Sgd(o) => OptimizerRecord::Sgd(SgdRecord {
                momentum: o.momentum,
                nesterov: o.nesterov,
                weight_decay: o.weight_decay,
            }),
            OptimizerConfig::Adam(o) => OptimizerRecord::Adam(AdamRecord {
                beta1: o.beta1,
                beta2: o.beta2,
                eps: o.eps,
                weight_decay: o.weight_decay,
            }),
            OptimizerConfig::AdamW(o) => OptimizerRecord::AdamW(AdamRecord {
                beta1: o.beta1,
                beta2: o.beta2,
                eps: o.eps,
                weight_decay: o.weight_decay,
            }),
            OptimizerConfig::RmsProp(o) => OptimizerRecord::RmsProp(RmsPropRecord {
                alpha: o.alpha,
                eps: o.eps,
                momentum: o.momentum,
                weight_decay: o.weight_decay,
            }),
            other => return Err(no_record("optimizer", &other)),
        };
        let schedule = match c.schedule {
            Schedule::Constant => ScheduleRecord::Constant,
            Schedule::Step { step_epochs, gamma } => {
                ScheduleRecord::Step { step_epochs: step_epochs as u64, gamma }
            }
            Schedule::Exponential { gamma } => ScheduleRecord::Exponential { gamma },
            Schedule::Cosine { t_max_epochs, eta_min } => {
                ScheduleRecord::Cosine { t_max_epochs: t_max_epochs as u64, eta_min }
            }
            Schedule::OneCycle { total_steps, pct_start, div_factor, final_div_factor } => {
                ScheduleRecord::OneCycle {
                    total_steps: total_steps as u64,
                    pct_start,
                    div_factor,
                    final_div_factor,
                }
            }
            Schedule::InverseScaling { power_t } => ScheduleRecord::InverseScaling { power_t },
            Schedule::ReduceOnPlateau { factor, patience, threshold, min_lr, cooldown } => {
                ScheduleRecord::ReduceOnPlateau {
                    factor,
                    patience: patience as u64,
                    threshold,
                    min_lr,
                    cooldown: cooldown as u64,
                }
            }
            other => return Err(no_record("schedule", &other)),
        };
        let parallelism = match c.parallelism {
            Parallelism::Shards => ParallelismRecord::Shards,
            Parallelism::FaerGemm => ParallelismRecord::FaerGemm,
            other => return Err(no_record("parallelism", &other)),
        };
        Ok(TrainConfigRecord {
            batch_size: c.batch_size as u64,
            learning_rate: c.learning_rate,
            optimizer,
            schedule,
            epochs: c.epochs as u64,
            n_shards: c.n_shards as u64,
            n_threads: c.n_threads as u64,
            parallelism,
            clip_norm: c.clip_norm,
            dropout: c.dropout.clone(),
            seed: c.seed,
            early_stopping: c.early_stopping.map(|e| EarlyStoppingRecord {
                patience: e.patience as u64,
                min_delta: e.min_delta,
                restore_best: e.restore_best,
            }),
            eval_batch_size: c.eval_batch_size as u64,
        })
    }
}

impl RngRecord {
    fn of(r: &RngState) -> Self {
        RngRecord { seed: r.seed, stream: r.stream, word_pos: r.word_pos }
    }

    fn get(self) -> RngState {
        RngState { seed: self.seed, stream: self.stream, word_pos: self.word_pos }
    }
}

impl ConfusionRecord {
    fn of(c: &ConfusionMatrix) -> Self {
        ConfusionRecord { n_classes: c.n_classes() as u64, counts: c.counts().to_vec() }
    }

    fn get(self) -> Result<ConfusionMatrix, CheckpointError> {
        ConfusionMatrix::from_counts(size(self.n_classes, "n_classes")?, self.counts)
            .map_err(|e| CheckpointError::InvalidState(e.into()))
    }
}

impl EvaluationV2 {
    fn of(e: &Evaluation) -> Self {
        EvaluationV2 {
            n_samples: e.n_samples as u64,
            loss: e.loss,
            accuracy: e.accuracy,
            top5_accuracy: e.top5_accuracy,
            confusion: e.confusion.as_ref().map(ConfusionRecord::of),
            regression: e.regression.as_ref().map(|r| RegressionRecord {
                n_samples: r.n_samples as u64,
                mse: r.mse,
                rmse: r.rmse,
                mae: r.mae,
                r2: r.r2,
                mse_per_output: r.mse_per_output.clone(),
                r2_per_output: r.r2_per_output.clone(),
            }),
            multilabel: e.multilabel.as_ref().map(|m| MultilabelRecord {
                n_samples: m.n_samples as u64,
                subset_accuracy: m.subset_accuracy,
                hamming_loss: m.hamming_loss,
                micro_precision: m.micro_precision,
                micro_recall: m.micro_recall,
                micro_f1: m.micro_f1,
                macro_f1: m.macro_f1,
            }),
        }
    }
}

impl<T: Clone> TrainerStateV2<T> {
    fn of(s: &TrainerState<T>) -> Self {
        let history = s
            .history
            .iter()
            .map(|r| EpochReportV2 {
                epoch: r.epoch as u64,
                train_loss: r.train_loss,
                train_accuracy: r.train_accuracy,
                validation: r.validation.as_ref().map(EvaluationV2::of),
                learning_rate: r.learning_rate,
                seconds: r.seconds,
                samples_per_s: r.samples_per_s,
            })
            .collect();
        TrainerStateV2 {
            epoch: s.epoch as u64,
            step: s.step,
            optimizer: OptimizerStateRecord {
                step: s.optimizer.step,
                layers: s
                    .optimizer
                    .layers
                    .iter()
                    .map(|l| LayerStateRecord {
                        momentum: l.momentum.clone(),
                        exp_avg: l.exp_avg.clone(),
                        exp_avg_sq: l.exp_avg_sq.clone(),
                    })
                    .collect(),
            },
            schedule: ScheduleStateRecord {
                epoch: s.schedule.epoch,
                step: s.schedule.step,
                lr: s.schedule.lr,
                best: s.schedule.best,
                bad_epochs: s.schedule.bad_epochs,
                cooldown_counter: s.schedule.cooldown_counter,
            },
            shuffle_rng: RngRecord::of(&s.shuffle_rng),
            history,
            early_stopping: EarlyStoppingStateRecord {
                best_loss: s.early_stopping.best_loss,
                best_epoch: s.early_stopping.best_epoch.map(|e| e as u64),
                bad_epochs: s.early_stopping.bad_epochs as u64,
                best_params: s.early_stopping.best_params.clone(),
            },
            epoch_progress: s.epoch_progress.as_ref().map(|p| EpochProgressRecord {
                shuffle_rng: RngRecord::of(&p.shuffle_rng),
                n_samples: p.n_samples as u64,
                batches_done: p.batches_done as u64,
                loss_sum: p.loss_sum,
                correct: p.correct as u64,
                seconds: p.seconds,
            }),
        }
    }
}

impl<T> TrainingRecordV3<T> {
    /// The record of a configuration and a state: the random shifts and label smoothing that a
    /// resume trains with (the state's where the configuration leaves them unset), once.
    ///
    /// # Errors
    /// [`CheckpointError::InvalidState`] if the configuration contradicts the state's options
    /// (see `TrainerState::resume_config`), and [`CheckpointError::Encode`] for a value that no
    /// record of this version holds.
    pub(crate) fn of(config: &TrainConfig, state: &TrainerState<T>) -> Result<Self, CheckpointError>
    where
        T: Clone,
    {
        let config = state.resume_config(config.clone()).map_err(CheckpointError::InvalidState)?;
        Ok(TrainingRecordV3 {
            config: TrainConfigV3 {
                base: TrainConfigRecord::of(&config)?,
                random_shift: config.random_shift.map(|s| RandomShiftRecord {
                    height: s.height() as u64,
                    width: s.width() as u64,
                    max_shift: s.max_shift() as u64,
                }),
                label_smoothing: config.label_smoothing,
            },
            state: TrainerStateV2::of(state),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Records → public types (the readers: every version).

impl<T> TrainingRecordV3<T> {
    /// The configuration and the state (to be checked against the network by the caller); both
    /// hold the random shifts and the label smoothing.
    pub(crate) fn get(self) -> Result<(TrainConfig, TrainerState<T>), CheckpointError> {
        let TrainConfigV3 { base, random_shift, label_smoothing } = self.config;
        let random_shift = random_shift.map(RandomShiftRecord::get).transpose()?;
        let mut config = base.get()?;
        config.random_shift = random_shift;
        config.label_smoothing = label_smoothing;
        let mut state = self.state.get()?;
        state.random_shift = random_shift;
        state.label_smoothing = label_smoothing;
        Ok((config, state))
    }
}

impl RandomShiftRecord {
    fn get(self) -> Result<RandomShift, CheckpointError> {
        RandomShift::new(
            size(self.height, "random_shift height")?,
            size(self.width, "random_shift width")?,
            size(self.max_shift, "random_shift max_shift")?,
        )
        .map_err(CheckpointError::InvalidState)
    }
}

impl<T> TrainingRecordV2<T> {
    /// The configuration and the state, without random shifts or label smoothing (version 2
    /// has neither).
    pub(crate) fn get(self) -> Result<(TrainConfig, TrainerState<T>), CheckpointError> {
        Ok((self.config.get()?, self.state.get()?))
    }
}

impl<T> TrainerStateV2<T> {
    fn get(self) -> Result<TrainerState<T>, CheckpointError> {
        let TrainerStateV2 {
            epoch,
            step,
            optimizer,
            schedule,
            shuffle_rng,
            history,
            early_stopping,
            epoch_progress,
        } = self;
        let history = history
            .into_iter()
            .map(|r| {
                let validation = r
                    .validation
                    .map(|v| {
                        let mut e = evaluation(v.n_samples, v.loss, v.accuracy, v.top5_accuracy)?;
                        e.confusion = v.confusion.map(ConfusionRecord::get).transpose()?;
                        e.regression = v.regression.map(regression).transpose()?;
                        e.multilabel = v.multilabel.as_ref().map(multilabel).transpose()?;
                        Ok::<_, CheckpointError>(e)
                    })
                    .transpose()?;
                epoch_report(
                    r.epoch,
                    r.train_loss,
                    r.train_accuracy,
                    validation,
                    [r.learning_rate, r.seconds, r.samples_per_s],
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let epoch_progress = epoch_progress
            .map(|p| {
                Ok::<_, CheckpointError>(EpochProgress {
                    shuffle_rng: p.shuffle_rng.get(),
                    n_samples: size(p.n_samples, "n_samples")?,
                    batches_done: size(p.batches_done, "batches_done")?,
                    loss_sum: p.loss_sum,
                    correct: size(p.correct, "correct")?,
                    seconds: p.seconds,
                })
            })
            .transpose()?;
        let state = TrainerState {
            epoch: size(epoch, "epoch")?,
            step,
            optimizer: optimizer.get(),
            schedule: schedule.get(),
            shuffle_rng: shuffle_rng.get(),
            history,
            early_stopping: early_stopping.get()?,
            epoch_progress,
            random_shift: None,
            label_smoothing: 0.0,
        };
        Ok(state)
    }
}

impl TrainConfigRecord {
    fn get(self) -> Result<TrainConfig, CheckpointError> {
        let optimizer: OptimizerConfig = match self.optimizer {
            OptimizerRecord::Sgd(o) => OptimizerConfig::sgd()
                .with_momentum(o.momentum)
                .with_nesterov(o.nesterov)
                .with_weight_decay(o.weight_decay)
                .into(),
            OptimizerRecord::Adam(o) => OptimizerConfig::adam()
                .with_betas(o.beta1, o.beta2)
                .with_eps(o.eps)
                .with_weight_decay(o.weight_decay)
                .into(),
            OptimizerRecord::AdamW(o) => OptimizerConfig::adamw()
                .with_betas(o.beta1, o.beta2)
                .with_eps(o.eps)
                .with_weight_decay(o.weight_decay)
                .into(),
            OptimizerRecord::RmsProp(o) => OptimizerConfig::rmsprop()
                .with_alpha(o.alpha)
                .with_eps(o.eps)
                .with_momentum(o.momentum)
                .with_weight_decay(o.weight_decay)
                .into(),
        };
        let schedule = match self.schedule {
            ScheduleRecord::Constant => Schedule::Constant,
            ScheduleRecord::Step { step_epochs, gamma } => {
                Schedule::Step { step_epochs: size(step_epochs, "step_epochs")?, gamma }
            }
            ScheduleRecord::Exponential { gamma } => Schedule::Exponential { gamma },
            ScheduleRecord::Cosine { t_max_epochs, eta_min } => {
                Schedule::Cosine { t_max_epochs: size(t_max_epochs, "t_max_epochs")?, eta_min }
            }
            ScheduleRecord::OneCycle { total_steps, pct_start, div_factor, final_div_factor } => {
                Schedule::OneCycle {
                    total_steps: size(total_steps, "total_steps")?,
                    pct_start,
                    div_factor,
                    final_div_factor,
                }
            }
            ScheduleRecord::InverseScaling { power_t } => Schedule::InverseScaling { power_t },
            ScheduleRecord::ReduceOnPlateau { factor, patience, threshold, min_lr, cooldown } => {
                Schedule::ReduceOnPlateau {
                    factor,
                    patience: size(patience, "patience")?,
                    threshold,
                    min_lr,
                    cooldown: size(cooldown, "cooldown")?,
                }
            }
        };
        let parallelism = match self.parallelism {
            ParallelismRecord::Shards => Parallelism::Shards,
            ParallelismRecord::FaerGemm => Parallelism::FaerGemm,
        };
        let mut config =
            TrainConfig::new(size(self.batch_size, "batch_size")?, self.learning_rate, optimizer)
                .with_schedule(schedule)
                .with_epochs(size(self.epochs, "epochs")?)
                .with_shards(size(self.n_shards, "n_shards")?)
                .with_threads(size(self.n_threads, "n_threads")?)
                .with_parallelism(parallelism)
                .with_dropout_rates(self.dropout)
                .with_seed(self.seed)
                .with_eval_batch_size(size(self.eval_batch_size, "eval_batch_size")?);
        if let Some(c) = self.clip_norm {
            config = config.with_clip_norm(c);
        }
        if let Some(e) = self.early_stopping {
            config = config.with_early_stopping(
                EarlyStopping::new(size(e.patience, "patience")?)
                    .with_min_delta(e.min_delta)
                    .with_restore_best(e.restore_best),
            );
        }
        Ok(config)
    }
}

impl<T> OptimizerStateRecord<T> {
    fn get(self) -> OptimizerState<T> {
        OptimizerState {
            step: self.step,
            layers: self
                .layers
                .into_iter()
                .map(|l| LayerState {
                    momentum: l.momentum,
                    exp_avg: l.exp_avg,
                    exp_avg_sq: l.exp_avg_sq,
                })
                .collect(),
        }
    }
}

impl ScheduleStateRecord {
    fn get(self) -> ScheduleState {
        ScheduleState {
            epoch: self.epoch,
            step: self.step,
            lr: self.lr,
            best: self.best,
            bad_epochs: self.bad_epochs,
            cooldown_counter: self.cooldown_counter,
        }
    }
}

impl<T> EarlyStoppingStateRecord<T> {
    fn get(self) -> Result<EarlyStoppingState<T>, CheckpointError> {
        Ok(EarlyStoppingState {
            best_loss: self.best_loss,
            best_epoch: self.best_epoch.map(|e| size(e, "best_epoch")).transpose()?,
            bad_epochs: size(self.bad_epochs, "bad_epochs")?,
            best_params: self.best_params,
        })
    }
}

fn evaluation(
    n_samples: u64,
    loss: f64,
    accuracy: Option<f64>,
    top5_accuracy: Option<f64>,
) -> Result<Evaluation, CheckpointError> {
    // `Evaluation` is `#[non_exhaustive]`: built from its default, field by field.
    let mut e = Evaluation::default();
    e.n_samples = size(n_samples, "n_samples")?;
    e.loss = loss;
    e.accuracy = accuracy;
    e.top5_accuracy = top5_accuracy;
    Ok(e)
}

fn epoch_report(
    epoch: u64,
    train_loss: f64,
    train_accuracy: Option<f64>,
    validation: Option<Evaluation>,
    [learning_rate, seconds, samples_per_s]: [f64; 3],
) -> Result<EpochReport, CheckpointError> {
    let mut r = EpochReport::default();
    r.epoch = size(epoch, "epoch")?;
    r.train_loss = train_loss;
    r.train_accuracy = train_accuracy;
    r.validation = validation;
    r.learning_rate = learning_rate;
    r.seconds = seconds;
    r.samples_per_s = samples_per_s;
    Ok(r)
}

fn regression(r: RegressionRecord) -> Result<RegressionMetrics, CheckpointError> {
    let mut m = RegressionMetrics::default();
    m.n_samples = size(r.n_samples, "n_samples")?;
    m.mse = r.mse;
    m.rmse = r.rmse;
    m.mae = r.mae;
    m.r2 = r.r2;
    m.mse_per_output = r.mse_per_output;
    m.r2_per_output = r.r2_per_output;
    Ok(m)
}

fn multilabel(r: &MultilabelRecord) -> Result<MultilabelMetrics, CheckpointError> {
    let mut m = MultilabelMetrics::default();
    m.n_samples = size(r.n_samples, "n_samples")?;
    m.subset_accuracy = r.subset_accuracy;
    m.hamming_loss = r.hamming_loss;
    m.micro_precision = r.micro_precision;
    m.micro_recall = r.micro_recall;
    m.micro_f1 = r.micro_f1;
    m.macro_f1 = r.macro_f1;
    Ok(m)
}

impl<T> TrainingRecordV1<T> {
    /// The configuration and the state, in today's types: version 1 had no unfinished epochs,
    /// and its evaluations had an MSE and an MAE where today's have regression metrics (those
    /// become regression metrics with RMSE = √MSE and no R², NaN).
    pub(crate) fn get(self) -> Result<(TrainConfig, TrainerState<T>), CheckpointError> {
        let TrainerStateV1 {
            epoch,
            step,
            optimizer,
            schedule,
            shuffle_rng,
            history,
            early_stopping,
        } = self.state;
        let history = history
            .into_iter()
            .map(|r| {
                let validation = r
                    .validation
                    .map(|v| {
                        let mut e = evaluation(v.n_samples, v.loss, v.accuracy, v.top5_accuracy)?;
                        e.confusion = v.confusion.map(ConfusionRecord::get).transpose()?;
                        if let (Some(mse), Some(mae)) = (v.mse, v.mae) {
                            let mut m = RegressionMetrics::default();
                            m.n_samples = e.n_samples;
                            m.mse = mse;
                            m.rmse = mse.sqrt();
                            m.mae = mae;
                            m.r2 = f64::NAN;
                            e.regression = Some(m);
                        }
                        Ok::<_, CheckpointError>(e)
                    })
                    .transpose()?;
                epoch_report(
                    r.epoch,
                    r.train_loss,
                    r.train_accuracy,
                    validation,
                    [r.learning_rate, r.seconds, r.samples_per_s],
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let state = TrainerState {
            epoch: size(epoch, "epoch")?,
            step,
            optimizer: optimizer.get(),
            schedule: schedule.get(),
            shuffle_rng: shuffle_rng.get(),
            history,
            early_stopping: early_stopping.get()?,
            epoch_progress: None,
            random_shift: None,
            label_smoothing: 0.0,
        };
        Ok((self.config.get()?, state))
    }
}
