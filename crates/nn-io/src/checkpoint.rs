//! Training checkpoints (feature `train`): a model, the training configuration and the
//! trainer's state, enough to resume training bit-identically.
//!
//! # Payload, format version 1
//! ```text
//! checkpoint payload = model section (as in a model file: see the model module),
//!                      then TrainingRecord<T> = { config: TrainConfig, state: TrainerState<T> }
//! ```
//! `TrainConfig` and `TrainerState` are encoded by their serde derives in `nn-train` (feature
//! `serde`), so their field and variant order is part of format version 1; the committed
//! fixtures in `tests/fixtures/` fail to load if it changes.

use std::path::Path;

use nn_core::{Float, Network};
use nn_train::metrics::ConfusionMatrix;
use nn_train::optim::Optimizer;
use nn_train::schedule::LrScheduler;
use nn_train::{TrainConfig, Trainer, TrainerState};
use serde::{Deserialize, Serialize};

use crate::atomic::write_atomic;
use crate::format;
use crate::model::{ModelMetadata, decode_model_section, encode_model_section, read};
use crate::{CheckpointError, Error, FileKind, StoredFloat};

/// A training checkpoint: a network, how it is trained, where training stands, and metadata.
///
/// Saving and loading check that the parts fit together (the state has the network's shapes,
/// the configuration is valid), so [`Trainer::resume`] accepts a loaded checkpoint.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint<T: Float> {
    /// The network's current parameters.
    pub network: Network<T>,
    /// The training configuration.
    pub config: TrainConfig,
    /// The trainer's state: epoch, optimizer moments, schedule, random generator, history.
    pub state: TrainerState<T>,
    /// The model's metadata; `extra` is free for whatever the application needs to resume
    /// (data set path, command line, ...).
    pub metadata: ModelMetadata,
}

impl<T: Float> Checkpoint<T> {
    /// A checkpoint of `net` trained by `trainer` (copies the network, the configuration and
    /// the state): what an [`nn_train::Observer::on_epoch`] saves.
    #[must_use]
    pub fn of(net: &Network<T>, trainer: &Trainer<T>, metadata: ModelMetadata) -> Self {
        Checkpoint {
            network: net.clone(),
            config: trainer.config().clone(),
            state: trainer.state(),
            metadata,
        }
    }
}

/// The training section, as written (borrowing) and as read (owning): the same encoding.
#[derive(Serialize)]
struct TrainingRecordRef<'a, T> {
    config: &'a TrainConfig,
    state: &'a TrainerState<T>,
}

#[derive(Deserialize)]
struct TrainingRecord<T> {
    config: TrainConfig,
    state: TrainerState<T>,
}

/// The fields of [`ConfusionMatrix`], in the order of its serde derive.
#[derive(Deserialize)]
struct ConfusionRecord {
    n_classes: u64,
    counts: Vec<u64>,
}

/// Checks that `config` and `state` fit `net`, with the checks that [`Trainer::resume`] and
/// training itself would make later, so that a checkpoint that loads also resumes.
fn check_training<T: StoredFloat>(
    net: &Network<T>,
    config: &TrainConfig,
    state: &TrainerState<T>,
) -> Result<(), CheckpointError> {
    let invalid = CheckpointError::InvalidState;
    let mismatch = |detail: String| invalid(nn_train::Error::StateMismatch { detail });
    config.validate().map_err(invalid)?;
    let n_hidden = net.layers().len() - 1;
    if config.dropout.len() > 1 && config.dropout.len() != n_hidden {
        return Err(invalid(
            nn_core::Error::DropoutRates { expected: n_hidden, found: config.dropout.len() }.into(),
        ));
    }
    Optimizer::from_state(config.optimizer, net, state.optimizer.clone()).map_err(invalid)?;
    LrScheduler::from_state(config.learning_rate, config.schedule, state.schedule)
        .map_err(invalid)?;
    if let Some(best) = &state.early_stopping.best_params {
        let expected: Vec<usize> = net.layers().iter().map(nn_core::Dense::n_params).collect();
        let found: Vec<usize> = best.iter().map(Vec::len).collect();
        if expected != found {
            return Err(mismatch(format!(
                "early stopping's best parameters have sizes {found:?}, the network {expected:?}"
            )));
        }
        if best.iter().flatten().any(|v| !v.is_finite()) {
            return Err(mismatch("early stopping's best parameters are not finite".to_owned()));
        }
    }
    let confusions = state
        .history
        .iter()
        .filter_map(|r| r.validation.as_ref().and_then(|v| v.confusion.as_ref()));
    for (epoch, confusion) in confusions.enumerate() {
        check_confusion(confusion).map_err(|detail| {
            mismatch(format!("the confusion matrix of history entry {epoch} {detail}"))
        })?;
    }
    Ok(())
}

/// `ConfusionMatrix` derives `Deserialize` without checking that it holds `n_classes²` counts
/// (its accessors index them), so a decoded one is checked here: through its own encoding, since
/// its fields are private.
fn check_confusion(confusion: &ConfusionMatrix) -> Result<(), String> {
    let mut bytes = Vec::new();
    format::encode_into(confusion, &mut bytes).map_err(|e| e.to_string())?;
    let record: ConfusionRecord = format::decode_exact(&bytes).map_err(|e| e.to_string())?;
    let n = u128::from(record.n_classes);
    if n * n != record.counts.len() as u128 {
        return Err(format!(
            "has {} counts for {} classes, expected {n}²",
            record.counts.len(),
            record.n_classes
        ));
    }
    if record.counts.iter().try_fold(0u64, |sum, &c| sum.checked_add(c)).is_none() {
        return Err("has counts whose total overflows".to_owned());
    }
    Ok(())
}

/// The bytes of a training checkpoint.
///
/// # Errors
/// [`CheckpointError::Invalid`] for a non-finite parameter, [`CheckpointError::ClassNames`],
/// and [`CheckpointError::InvalidState`] if the configuration is invalid or the state does not
/// fit the network: nothing is written that would not load.
pub fn encode_checkpoint<T: StoredFloat>(
    checkpoint: &Checkpoint<T>,
) -> Result<Vec<u8>, CheckpointError> {
    let Checkpoint { network, config, state, metadata } = checkpoint;
    check_training(network, config, state)?;
    let mut payload = Vec::new();
    encode_model_section(network, metadata, &mut payload)?;
    format::encode_into(&TrainingRecordRef { config, state }, &mut payload)?;
    Ok(format::seal(FileKind::Checkpoint, &payload))
}

/// The training checkpoint in `bytes`, with a network of float type `T`.
///
/// # Errors
/// Every [`CheckpointError`]: the header's, [`WrongKind`](CheckpointError::WrongKind) for a
/// model file, the checksum's, [`WrongPrecision`](CheckpointError::WrongPrecision), the
/// payload's decoding, and the validation of the network, the configuration and the state.
/// Never panics, whatever the bytes.
pub fn decode_checkpoint<T: StoredFloat>(bytes: &[u8]) -> Result<Checkpoint<T>, CheckpointError> {
    let c = format::open(bytes)?;
    if c.kind != FileKind::Checkpoint {
        return Err(CheckpointError::WrongKind { expected: FileKind::Checkpoint, found: c.kind });
    }
    // Every version this build writes or ever wrote gets its arm here.
    match c.version {
        1 => {}
        found => {
            return Err(CheckpointError::UnsupportedVersion {
                found,
                supported: format::FORMAT_VERSION,
            });
        }
    }
    let (model, used) = decode_model_section::<T>(c.payload)?;
    let rest = c.payload.get(used..).unwrap_or_default();
    let TrainingRecord { config, state } = format::decode_exact::<TrainingRecord<T>>(rest)?;
    check_training(&model.network, &config, &state)?;
    Ok(Checkpoint { network: model.network, config, state, metadata: model.metadata })
}

/// Saves a training checkpoint atomically: the file at `path` is replaced by the complete new
/// one, or left as it was if anything fails.
///
/// # Errors
/// [`Error::Checkpoint`] with the errors of [`encode_checkpoint`], and [`Error::Write`].
pub fn save_checkpoint<T: StoredFloat>(
    path: impl AsRef<Path>,
    checkpoint: &Checkpoint<T>,
) -> Result<(), Error> {
    save_checkpoint_rotating(path, checkpoint, 1)
}

/// [`save_checkpoint`], keeping the `keep_last` newest checkpoints: before the new file
/// replaces `path`, the old one becomes `path.1`, `path.1` becomes `path.2`, and so on up to
/// `path.{keep_last − 1}`; the oldest beyond that is deleted. `keep_last` 0 or 1 keeps only
/// `path`. The old `path` stays in place until the new one atomically replaces it.
///
/// # Errors
/// Those of [`save_checkpoint`]; a rotation that fails is an [`Error::Write`], and leaves
/// `path` as it was.
pub fn save_checkpoint_rotating<T: StoredFloat>(
    path: impl AsRef<Path>,
    checkpoint: &Checkpoint<T>,
    keep_last: usize,
) -> Result<(), Error> {
    let path = path.as_ref();
    let bytes = encode_checkpoint(checkpoint)
        .map_err(|kind| Error::Checkpoint { path: path.to_owned(), kind })?;
    write_atomic(path, &bytes, keep_last)
}

/// Loads a training checkpoint whose network has float type `T`.
///
/// ```
/// use nn_core::rng::{ChaCha8Rng, SeedableRng};
/// use nn_core::{Activation, Loss, Network};
/// use nn_io::{Checkpoint, ModelMetadata, load_checkpoint, save_checkpoint};
/// use nn_train::optim::OptimizerConfig;
/// use nn_train::{TrainConfig, Trainer};
///
/// let net: Network<f32> = Network::builder(2, Loss::SoftmaxCrossEntropy)
///     .layer(4, Activation::Tanh)
///     .layer(2, Activation::Identity)
///     .build(&mut ChaCha8Rng::seed_from_u64(0))?;
/// let trainer = Trainer::new(&net, TrainConfig::new(8, 0.01, OptimizerConfig::adam()))?;
/// let path = std::env::temp_dir().join(format!("nn-io-doc-{}.nnc", std::process::id()));
/// save_checkpoint(&path, &Checkpoint::of(&net, &trainer, ModelMetadata::default()))?;
///
/// let ckpt = load_checkpoint::<f32>(&path)?;
/// let resumed = Trainer::resume(&ckpt.network, ckpt.config, ckpt.state)?;
/// assert_eq!(resumed.epoch(), 0);
/// # std::fs::remove_file(&path).ok();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`Error::Io`] if the file cannot be read, and [`Error::Checkpoint`] with the errors of
/// [`decode_checkpoint`]; both name the file.
pub fn load_checkpoint<T: StoredFloat>(path: impl AsRef<Path>) -> Result<Checkpoint<T>, Error> {
    let path = path.as_ref();
    let bytes = read(path)?;
    decode_checkpoint(&bytes).map_err(|kind| Error::Checkpoint { path: path.to_owned(), kind })
}
