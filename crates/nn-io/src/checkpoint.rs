//! Training checkpoints (feature `train`): a model, the training configuration and the
//! trainer's state, enough to resume training bit-identically.
//!
//! # Payload
//! ```text
//! checkpoint payload = model section (as in a model file: see the model module; version 3
//!                      holds version 2's), then the training record of the file's format
//!                      version: TrainingRecordV1<T>, V2<T> or V3<T> = { config, state }
//! ```
//! The records are nn-io's own (see `records::training`), converted to and from `nn-train`'s
//! `TrainConfig` and `TrainerState`: a change to those public types changes no file.
//!
//! Version 3 (written since random shifts and label smoothing exist) stores both options with
//! the rest of the configuration, so a resume trains on the same data as the run it continues;
//! a loaded checkpoint has them in its configuration and in its state (which
//! [`Trainer::resume`] takes them from when the caller's configuration leaves them unset).
//! Versions 1 and 2 stored neither: they load as off.

use std::path::Path;

use nn_core::{Float, Network};
use nn_train::optim::Optimizer;
use nn_train::schedule::LrScheduler;
use nn_train::{TrainConfig, Trainer, TrainerState};

use crate::atomic::write_atomic;
use crate::format;
use crate::model::{ModelMetadata, decode_model_section, encode_model_section, read};
use crate::records::training::{TrainingRecordV1, TrainingRecordV2, TrainingRecordV3};
use crate::{CheckpointError, Error, FileKind, StoredFloat};

/// A training checkpoint: a network, how it is trained, where training stands, and metadata.
///
/// Saving and loading check that the parts fit together (the state has the network's shapes,
/// the configuration is valid), so [`Trainer::resume`] accepts a loaded checkpoint.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint<T: Float> {
    /// The network's current parameters.
    pub network: Network<T>,
    /// The training configuration (random shifts and label smoothing included, from format
    /// version 3 on).
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

/// Checks that `config` and `state` fit `net`, with the checks that [`Trainer::resume`] and
/// training itself would make later, so that a checkpoint that loads also resumes.
fn check_training<T: StoredFloat>(
    net: &Network<T>,
    config: &TrainConfig,
    state: &TrainerState<T>,
) -> Result<(), CheckpointError> {
    let invalid = CheckpointError::InvalidState;
    // The configuration a resume trains with: the state's random shifts and label smoothing
    // where `config` leaves them unset, and no contradiction between the two.
    let config = state.resume_config(config.clone()).map_err(invalid)?;
    config.validate_for(net).map_err(invalid)?;
    Optimizer::from_state(config.optimizer, net, state.optimizer.clone()).map_err(invalid)?;
    LrScheduler::from_state(config.learning_rate, config.schedule, state.schedule)
        .map_err(invalid)?;
    state.early_stopping.validate().map_err(invalid)?;
    if let Some(best) = &state.early_stopping.best_params {
        check_best_params(net, best).map_err(invalid)?;
    }
    if let Some(progress) = &state.epoch_progress {
        progress.validate(config.batch_size).map_err(invalid)?;
    }
    Ok(())
}

/// Checks that early stopping's best parameters have the network's shapes and are finite.
fn check_best_params<T: StoredFloat>(
    net: &Network<T>,
    best: &[Vec<T>],
) -> Result<(), nn_train::Error> {
    let n_layers = net.layers().len();
    if best.len() != n_layers {
        return Err(nn_train::Error::StateSize {
            what: "best parameter layers",
            layer_idx: None,
            expected: n_layers,
            found: best.len(),
        });
    }
    for (layer_idx, (layer, values)) in net.layers().iter().zip(best).enumerate() {
        if values.len() != layer.n_params() {
            return Err(nn_train::Error::StateSize {
                what: "best parameters",
                layer_idx: Some(layer_idx),
                expected: layer.n_params(),
                found: values.len(),
            });
        }
        if let Some((index, v)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(nn_train::Error::StateValue {
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

/// The bytes of a training checkpoint.
///
/// # Errors
/// [`CheckpointError::Invalid`] for a non-finite parameter, [`CheckpointError::ClassNames`],
/// and [`CheckpointError::InvalidState`] if the configuration is invalid, contradicts the
/// state's random shifts or label smoothing, or the state does not fit the network: nothing is
/// written that would not load. Random shifts and label smoothing are written as a resume
/// would train with them (the state's where the configuration leaves them unset).
pub fn encode_checkpoint<T: StoredFloat>(
    checkpoint: &Checkpoint<T>,
) -> Result<Vec<u8>, CheckpointError> {
    let Checkpoint { network, config, state, metadata } = checkpoint;
    check_training(network, config, state)?;
    let mut payload = Vec::new();
    encode_model_section(network, metadata, &mut payload)?;
    format::encode_into(&TrainingRecordV3::of(config, state)?, &mut payload)?;
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
    let (model, used) = decode_model_section::<T>(&c)?;
    let rest = c.payload.get(used..).unwrap_or_default();
    // Every version this build writes or ever wrote gets its arm here.
    let (config, state) = match c.version {
        1 => format::decode_exact::<TrainingRecordV1<T>>(rest)?.get()?,
        2 => format::decode_exact::<TrainingRecordV2<T>>(rest)?.get()?,
        3 => format::decode_exact::<TrainingRecordV3<T>>(rest)?.get()?,
        found => return Err(format::unsupported(c.kind, found)),
    };
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
