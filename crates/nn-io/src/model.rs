//! Model files: a network (sizes, activations, Θ, loss, penalties, float type) and its metadata,
//! enough to predict; and the model section that training checkpoints start with.
//!
//! # Payload
//! ```text
//! model file payload = model section
//! model section      = precision: 1 byte (0: f32, 1: f64), then the model record of the file's
//!                      format version (bincode 2, standard configuration: little-endian,
//!                      variable-length integers): ModelRecordV1<T> or ModelRecordV2<T>
//!                      (model files have versions 1 and 2; checkpoints of version 3 hold
//!                      version 2's model record)
//! ```
//! The records are private to this crate and frozen per format version (see `records`).

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::Path;

use nn_core::{Float, Loss, Network};

use crate::atomic::write_atomic;
use crate::files::{open_regular, read_rest, reserve};
use crate::format::{self, Container};
use crate::records::model::{ModelRecordV1, ModelRecordV2};
use crate::{CheckpointError, Error};

/// The float type of a stored network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Precision {
    /// `f32`.
    F32,
    /// `f64`.
    F64,
}

impl Precision {
    /// The byte that stands for it in a file.
    fn tag(self) -> u8 {
        match self {
            Precision::F32 => 0,
            Precision::F64 => 1,
        }
    }

    fn from_tag(tag: u8) -> Option<Self> {
        match tag {
            0 => Some(Precision::F32),
            1 => Some(Precision::F64),
            _ => None,
        }
    }
}

/// `f32` or `f64`.
impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Precision::F32 => "f32",
            Precision::F64 => "f64",
        })
    }
}

/// The two kinds of file: a model (enough to predict) or a training checkpoint (a model, plus
/// everything to resume training bit-identically).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// A model file, magic bytes `NNMODEL\0`.
    Model,
    /// A training checkpoint, magic bytes `NNCKPT\0\0`.
    Checkpoint,
}

/// `a model file` or `a training checkpoint`.
impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileKind::Model => "a model file",
            FileKind::Checkpoint => "a training checkpoint",
        })
    }
}

mod sealed {
    pub trait Sealed: serde::Serialize + serde::de::DeserializeOwned {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// A float type whose networks can be stored: `f32` or `f64` (sealed, like [`Float`]).
pub trait StoredFloat: Float + sealed::Sealed {
    /// Which one it is.
    const PRECISION: Precision;
}

impl StoredFloat for f32 {
    const PRECISION: Precision = Precision::F32;
}

impl StoredFloat for f64 {
    const PRECISION: Precision = Precision::F64;
}

/// What a model file says about its network besides the parameters. Any value is valid, except
/// that `class_names`, when not empty, has one name per class of the network's output
/// ([`Loss::n_classes`]); saving and loading check it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModelMetadata {
    /// The name of each class, in the order of the outputs; empty for none.
    pub class_names: Vec<String>,
    /// Free-form entries: data set, preprocessing, command line, ...
    pub extra: BTreeMap<String, String>,
}

/// A network of either float type, as a file holds it.
#[derive(Clone, Debug, PartialEq)]
pub enum AnyNetwork {
    /// An `f32` network.
    F32(Network<f32>),
    /// An `f64` network.
    F64(Network<f64>),
}

impl AnyNetwork {
    /// Its float type.
    #[must_use]
    pub fn precision(&self) -> Precision {
        match self {
            AnyNetwork::F32(_) => Precision::F32,
            AnyNetwork::F64(_) => Precision::F64,
        }
    }

    /// The sizes of all layers of units: inputs first, outputs last.
    #[must_use]
    pub fn sizes(&self) -> Vec<usize> {
        match self {
            AnyNetwork::F32(net) => net.sizes(),
            AnyNetwork::F64(net) => net.sizes(),
        }
    }

    /// The loss.
    #[must_use]
    pub fn loss_kind(&self) -> Loss {
        match self {
            AnyNetwork::F32(net) => net.loss_kind(),
            AnyNetwork::F64(net) => net.loss_kind(),
        }
    }

    /// The network in float type `T`: a copy if it already is, else converted
    /// ([`Network::cast`]; f64 → f32 rounds to nearest).
    #[must_use]
    pub fn cast<T: Float>(&self) -> Network<T> {
        match self {
            AnyNetwork::F32(net) => net.cast(),
            AnyNetwork::F64(net) => net.cast(),
        }
    }
}

/// A network of float type `T` and its metadata, from [`load_model_as`].
#[derive(Clone, Debug, PartialEq)]
pub struct Model<T: Float> {
    /// The network, validated by the constructors that build networks.
    pub network: Network<T>,
    /// Its metadata.
    pub metadata: ModelMetadata,
}

/// A network of whichever float type the file holds, and its metadata, from [`load_model`].
#[derive(Clone, Debug, PartialEq)]
pub struct LoadedModel {
    /// The network, validated by the constructors that build networks.
    pub network: AnyNetwork,
    /// Its metadata.
    pub metadata: ModelMetadata,
}

/// The error of a layer's constructor, attributed to layer `layer_idx` (`Dense` reports 0).
pub(crate) fn at_layer(err: nn_core::Error, layer_idx: usize) -> nn_core::Error {
    match err {
        nn_core::Error::ZeroWidth { what, .. } => nn_core::Error::ZeroWidth { layer_idx, what },
        nn_core::Error::NonFiniteParameter { row, col, value, .. } => {
            nn_core::Error::NonFiniteParameter { layer_idx, row, col, value }
        }
        other => other,
    }
}

/// Checks that the metadata's class names fit the network: none, or one per class.
pub(crate) fn check_class_names<T: Float>(
    net: &Network<T>,
    metadata: &ModelMetadata,
) -> Result<(), CheckpointError> {
    let expected = net.loss_kind().n_classes(net.n_outputs());
    let found = metadata.class_names.len();
    if found == 0 || found == expected {
        Ok(())
    } else {
        Err(CheckpointError::ClassNames { expected, found })
    }
}

// ---------------------------------------------------------------------------------------------
// The model section, shared by model files and checkpoints.

/// Appends the model section of `net` and `metadata` to a payload, after checking that it will
/// load: finite parameters, class names that fit.
pub(crate) fn encode_model_section<T: StoredFloat>(
    net: &Network<T>,
    metadata: &ModelMetadata,
    out: &mut Vec<u8>,
) -> Result<(), CheckpointError> {
    net.check_finite().map_err(CheckpointError::Invalid)?;
    check_class_names(net, metadata)?;
    out.push(T::PRECISION.tag());
    format::encode_into(&ModelRecordV2::of(net, metadata)?, out)
}

/// The precision byte at the start of a model section, and the rest.
fn split_precision(payload: &[u8]) -> Result<(Precision, &[u8]), CheckpointError> {
    let Some((&tag, rest)) = payload.split_first() else {
        return Err(CheckpointError::Decode { message: "empty payload".to_owned() });
    };
    let precision = Precision::from_tag(tag).ok_or_else(|| CheckpointError::Decode {
        message: format!("unknown precision tag {tag}: expected 0 (f32) or 1 (f64)"),
    })?;
    Ok((precision, rest))
}

/// Decodes the model section at the start of the payload of `c` as `T` (which must be its
/// precision); returns the model and the number of payload bytes it took.
pub(crate) fn decode_model_section<T: StoredFloat>(
    c: &Container<'_>,
) -> Result<(Model<T>, usize), CheckpointError> {
    let (found, rest) = split_precision(c.payload)?;
    if found != T::PRECISION {
        return Err(CheckpointError::WrongPrecision { expected: T::PRECISION, found });
    }
    // Every version this build writes or ever wrote gets its arm here. Version 3 changed the
    // training section of checkpoints only: its model section is version 2's (and model files
    // have no version 3, which the header's check refused).
    let (model, used) = match c.version {
        1 => {
            let (record, used) = format::decode_prefix::<ModelRecordV1<T>>(rest)?;
            (record.build()?, used)
        }
        2 | 3 => {
            let (record, used) = format::decode_prefix::<ModelRecordV2<T>>(rest)?;
            (record.build()?, used)
        }
        found => return Err(format::unsupported(c.kind, found)),
    };
    Ok((model, used + 1))
}

/// Checks that a model section ends the payload of a model file; a checkpoint's goes on with
/// its training section, which a model load does not decode.
fn check_model_end(c: &Container<'_>, used: usize) -> Result<(), CheckpointError> {
    match c.kind {
        FileKind::Model => format::check_consumed(c.payload.len(), used),
        FileKind::Checkpoint => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------------
// The public API.

/// The bytes of a model file holding `net` and `metadata`.
///
/// # Errors
/// [`CheckpointError::Invalid`] for a non-finite parameter and [`CheckpointError::ClassNames`]
/// for class names that do not fit the network: nothing is written that would not load.
pub fn encode_model<T: StoredFloat>(
    net: &Network<T>,
    metadata: &ModelMetadata,
) -> Result<Vec<u8>, CheckpointError> {
    let mut payload = Vec::new();
    encode_model_section(net, metadata, &mut payload)?;
    Ok(format::seal(FileKind::Model, &payload))
}

/// The network and metadata in the bytes of a model file, or of a training checkpoint (whose
/// training section is covered by the checksum but not decoded).
///
/// # Errors
/// Every [`CheckpointError`] but [`WrongPrecision`](CheckpointError::WrongPrecision),
/// [`WrongKind`](CheckpointError::WrongKind) and `InvalidState`: the header's, the checksum's,
/// the payload's decoding, and the network's validation. Never panics, whatever the bytes.
pub fn decode_model(bytes: &[u8]) -> Result<LoadedModel, CheckpointError> {
    let c = format::open(bytes)?;
    let (precision, _) = split_precision(c.payload)?;
    let (network, metadata, used) = match precision {
        Precision::F32 => {
            let (m, used) = decode_model_section::<f32>(&c)?;
            (AnyNetwork::F32(m.network), m.metadata, used)
        }
        Precision::F64 => {
            let (m, used) = decode_model_section::<f64>(&c)?;
            (AnyNetwork::F64(m.network), m.metadata, used)
        }
    };
    check_model_end(&c, used)?;
    Ok(LoadedModel { network, metadata })
}

/// [`decode_model`] for a network of float type `T`.
///
/// # Errors
/// Those of [`decode_model`], and [`CheckpointError::WrongPrecision`] if the file holds a
/// network of the other float type (use [`decode_model`] and [`AnyNetwork::cast`] to convert).
pub fn decode_model_as<T: StoredFloat>(bytes: &[u8]) -> Result<Model<T>, CheckpointError> {
    let c = format::open(bytes)?;
    let (model, used) = decode_model_section::<T>(&c)?;
    check_model_end(&c, used)?;
    Ok(model)
}

/// Saves `net` and `metadata` as a model file, atomically: the file at `path` is replaced by
/// the complete new one, or left as it was if anything fails.
///
/// ```
/// use nn_core::rng::{ChaCha8Rng, SeedableRng};
/// use nn_core::{Activation, Loss, Network};
/// use nn_io::{AnyNetwork, ModelMetadata, load_model, save_model};
///
/// let net: Network<f32> = Network::builder(4, Loss::SoftmaxCrossEntropy)
///     .layer(8, Activation::Relu)
///     .layer(3, Activation::Identity)
///     .build(&mut ChaCha8Rng::seed_from_u64(0))?;
/// let metadata = ModelMetadata {
///     class_names: vec!["setosa".into(), "versicolor".into(), "virginica".into()],
///     ..ModelMetadata::default()
/// };
/// let path = std::env::temp_dir().join(format!("nn-io-doc-{}.nnm", std::process::id()));
/// save_model(&path, &net, &metadata)?;
/// let loaded = load_model(&path)?;
/// assert_eq!(loaded.network, AnyNetwork::F32(net));
/// assert_eq!(loaded.metadata, metadata);
/// # std::fs::remove_file(&path).ok();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`Error::Checkpoint`] with the errors of [`encode_model`], and [`Error::Write`].
pub fn save_model<T: StoredFloat>(
    path: impl AsRef<Path>,
    net: &Network<T>,
    metadata: &ModelMetadata,
) -> Result<(), Error> {
    let path = path.as_ref();
    let bytes = encode_model(net, metadata)
        .map_err(|kind| Error::Checkpoint { path: path.to_owned(), kind })?;
    write_atomic(path, &bytes, 1)
}

/// Loads the network and metadata of a model file or a training checkpoint, whichever float
/// type it holds.
///
/// # Errors
/// [`Error::Io`] if the file cannot be read, and [`Error::Checkpoint`] with the errors of
/// [`decode_model`]; both name the file.
pub fn load_model(path: impl AsRef<Path>) -> Result<LoadedModel, Error> {
    let path = path.as_ref();
    let bytes = read(path)?;
    decode_model(&bytes).map_err(|kind| Error::Checkpoint { path: path.to_owned(), kind })
}

/// Loads the network and metadata of a model file or a training checkpoint holding a network
/// of float type `T`.
///
/// # Errors
/// Those of [`load_model`], and [`CheckpointError::WrongPrecision`] (in [`Error::Checkpoint`])
/// if it holds the other float type.
pub fn load_model_as<T: StoredFloat>(path: impl AsRef<Path>) -> Result<Model<T>, Error> {
    let path = path.as_ref();
    let bytes = read(path)?;
    decode_model_as(&bytes).map_err(|kind| Error::Checkpoint { path: path.to_owned(), kind })
}

/// Reads a model file or checkpoint: a regular file, whose header is checked against the file's
/// length before the rest is read (so a huge file of another kind costs 24 bytes of reading),
/// into a buffer reserved fallibly.
pub(crate) fn read(path: &Path) -> Result<Vec<u8>, Error> {
    let (mut file, len) = open_regular(path)?;
    let mut head = Vec::with_capacity(format::HEADER_LEN);
    file.by_ref()
        .take(format::HEADER_LEN as u64)
        .read_to_end(&mut head)
        .map_err(|io| Error::Io { path: path.to_owned(), io })?;
    format::check_header(&head, len)
        .map_err(|kind| Error::Checkpoint { path: path.to_owned(), kind })?;
    let mut bytes = reserve(path, len)?;
    bytes.extend_from_slice(&head);
    read_rest(path, &mut file, len.saturating_sub(head.len() as u64), &mut bytes)?;
    Ok(bytes)
}
