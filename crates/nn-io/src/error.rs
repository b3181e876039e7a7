//! The error types of `nn-io`.
//!
//! Every message is complete on its own: it includes the underlying I/O or format error, which
//! is kept in a field rather than returned by `source()`, so an error chain never repeats it.
//! Errors about bytes or networks ([`IdxError`], [`CheckpointError`], [`SafetensorsError`],
//! [`OnnxError`]) name no file; [`Error`] wraps them with the file's path.

use std::io;
use std::path::PathBuf;

use crate::{FileKind, IdxType, Precision};

/// Why some bytes are not a valid IDX array (no file involved: see [`Error::Idx`] for that).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdxError {
    /// The input does not start with the two zero bytes of the IDX magic number.
    #[error("not an IDX file: expected magic bytes 00 00, found {:02x} {:02x}", found[0], found[1])]
    BadMagic {
        /// The first two bytes.
        found: [u8; 2],
    },
    /// The third byte is not one of the six IDX type codes.
    #[error(
        "unknown IDX type code 0x{code:02x}: expected 0x08 (u8), 0x09 (i8), 0x0b (i16), 0x0c (i32), 0x0d (f32) or 0x0e (f64)"
    )]
    UnknownType {
        /// The type code found.
        code: u8,
    },
    /// The fourth byte, the number of dimensions, is zero.
    #[error("an IDX array needs at least one dimension, found 0")]
    NoDimensions,
    /// The input ends before the header or the data it declares.
    #[error("truncated IDX {part}: expected {expected} bytes, found {found}")]
    Truncated {
        /// `"header"` or `"data"`.
        part: &'static str,
        /// The length of the whole input that the header (so far) declares.
        expected: usize,
        /// The length of the input.
        found: usize,
    },
    /// The input goes on after the data that the header declares.
    #[error("trailing bytes after the IDX data: expected {expected} bytes, found {found}")]
    TrailingBytes {
        /// The length of the whole input that the header declares.
        expected: usize,
        /// The length of the input.
        found: usize,
    },
    /// The sizes in the header multiply to more bytes than this machine can address.
    #[error("sizes {dims:?} of {idx_type} elements overflow the address space")]
    SizeOverflow {
        /// The element type.
        idx_type: IdxType,
        /// The sizes, as the header declares them.
        dims: Vec<u32>,
    },
    /// The input starts with the gzip magic bytes but does not decompress.
    #[error("corrupt gzip stream: {message}")]
    Gzip {
        /// What the decompressor reported.
        message: String,
    },
}

/// Why some bytes are not a valid model file or training checkpoint (no file involved: see
/// [`Error::Checkpoint`] for that).
///
/// Loading checks the header first (magic bytes, version, length), then the checksum, then the
/// kind of file and the float type, then the payload's encoding, and last the network and the
/// training state it describes.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The bytes do not start with the magic bytes of a model file or a checkpoint.
    #[error(
        "not an nn model or checkpoint: expected magic bytes \"NNMODEL\\x00\" or \"NNCKPT\\x00\\x00\", found {}",
        crate::format::show_bytes(found)
    )]
    BadMagic {
        /// The first (up to 8) bytes.
        found: Vec<u8>,
    },
    /// The format version is not one this build reads: written by a newer version of nn-io
    /// (or corrupted).
    #[error(
        "format version {found} is not supported: this build of nn-io reads versions 1 to {supported} (was the file written by a newer version?)"
    )]
    UnsupportedVersion {
        /// The version in the file.
        found: u32,
        /// The newest version this build reads.
        supported: u32,
    },
    /// The bytes end before the header or the payload that the header declares.
    #[error("truncated {part}: expected {expected} bytes, found {found}")]
    Truncated {
        /// `"header"` or `"payload"`.
        part: &'static str,
        /// The length of the whole file that the header (so far) declares.
        expected: u64,
        /// The length of the file.
        found: u64,
    },
    /// The bytes go on after the payload that the header declares.
    #[error("trailing bytes after the payload: expected {expected} bytes, found {found}")]
    TrailingBytes {
        /// The length of the whole file that the header declares.
        expected: u64,
        /// The length of the file.
        found: u64,
    },
    /// The CRC-32 of the payload is not the one in the header: the file is corrupted.
    #[error("corrupted: the payload's CRC-32 is {found:08x}, but the header says {expected:08x}")]
    ChecksumMismatch {
        /// The checksum in the header.
        expected: u32,
        /// The checksum of the payload.
        found: u32,
    },
    /// The payload passed its checksum but does not decode (a bug, or a hand-made file).
    #[error("cannot decode the payload: {message}")]
    Decode {
        /// What the decoder reported.
        message: String,
    },
    /// The value could not be encoded (only with values the format cannot hold).
    #[error("cannot encode: {message}")]
    Encode {
        /// What the encoder reported.
        message: String,
    },
    /// The network in the file is not valid: inconsistent shapes, a non-finite parameter, an
    /// invalid hyper-parameter. Loaded networks go through the constructors built ones do.
    #[error("invalid network: {0}")]
    Invalid(nn_core::Error),
    /// The training state does not fit the network or the configuration.
    #[cfg(feature = "train")]
    #[error("invalid training state: {0}")]
    InvalidState(nn_train::Error),
    /// The metadata's class names do not fit the network's outputs.
    #[error(
        "{found} class names for a network of {expected} classes: give one name per class, or none"
    )]
    ClassNames {
        /// The number of classes of the network's output.
        expected: usize,
        /// The number of names.
        found: usize,
    },
    /// The file holds a network of the other float type.
    #[error(
        "the file holds an {found} network, expected {expected} (load it with `load_model` and `cast` it)"
    )]
    WrongPrecision {
        /// The float type asked for.
        expected: Precision,
        /// The float type in the file.
        found: Precision,
    },
    /// A model file where a training checkpoint was expected, or the other way round.
    #[error("this is {found}, expected {expected}")]
    WrongKind {
        /// The kind of file asked for.
        expected: FileKind,
        /// The kind of file found.
        found: FileKind,
    },
}

/// Why some bytes are not a network in the safetensors layout of [`crate::export_safetensors`]
/// (no file involved: see [`Error::Safetensors`] for that).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SafetensorsError {
    /// Not a valid safetensors file at all.
    #[error("not a valid safetensors file: {message}")]
    Format {
        /// What the safetensors reader reported.
        message: String,
    },
    /// A metadata entry is missing or does not parse.
    #[error("metadata {key:?}: {message}")]
    Metadata {
        /// The key, e.g. `"sizes"`.
        key: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// A tensor the architecture needs is not in the file.
    #[error("tensor {name:?} is missing")]
    MissingTensor {
        /// Its name, e.g. `"layers.0.weight"`.
        name: String,
    },
    /// The file holds a tensor that the architecture does not have.
    #[error("unexpected tensor {name:?}: the metadata describes {n_layers} layers")]
    UnexpectedTensor {
        /// Its name.
        name: String,
        /// The number of layers in the metadata.
        n_layers: usize,
    },
    /// A tensor of another element type than F32 or F64, or than the other tensors.
    #[error("tensor {name:?} has dtype {found}, expected {expected}")]
    Dtype {
        /// Its name.
        name: String,
        /// `"F32 or F64"`, or the dtype of the first tensor.
        expected: String,
        /// Its dtype.
        found: String,
    },
    /// A tensor whose shape does not fit the layer sizes in the metadata.
    #[error("tensor {name:?} has shape {found:?}, expected {expected:?}")]
    Shape {
        /// Its name.
        name: String,
        /// The shape the metadata implies.
        expected: Vec<usize>,
        /// Its shape.
        found: Vec<usize>,
    },
    /// The network is not valid (non-finite parameters, an invalid hyper-parameter, ...).
    #[error("invalid network: {0}")]
    Invalid(nn_core::Error),
}

/// Why a network cannot be exported as ONNX (no file involved: see [`Error::Onnx`] for that).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum OnnxError {
    /// The network is not valid (a non-finite parameter, for instance).
    #[error("invalid network: {0}")]
    Invalid(nn_core::Error),
    /// A value of an f64 network is finite but beyond float32's range, in which ONNX models
    /// compute.
    #[error(
        "{what} of layer {layer_idx} is {value:e}, beyond float32's range (±3.4028235e38): the ONNX model computes in float32"
    )]
    NotFloat32 {
        /// The layer.
        layer_idx: usize,
        /// `"a parameter"`, `"leaky_relu alpha"` or `"elu alpha"`.
        what: &'static str,
        /// The value.
        value: f64,
    },
    /// A metadata key of [`crate::OnnxOptions`] that cannot be written.
    #[error("metadata key {key:?}: {reason}")]
    MetadataKey {
        /// The key.
        key: String,
        /// Why not.
        reason: &'static str,
    },
    /// An option of [`crate::OnnxOptions`] that would make an invalid model.
    #[error("option {option}: {reason}")]
    InvalidOption {
        /// The option's field, e.g. `"graph_name"`.
        option: &'static str,
        /// Why it is refused.
        reason: &'static str,
    },
    /// The model would exceed protobuf's 2 GiB message limit, which every ONNX reader keeps.
    #[error(
        "the ONNX model would take {bytes} bytes, more than protobuf's limit of {limit} bytes (ONNX's external data is not supported)"
    )]
    TooLarge {
        /// The size of the model (or of its parameters alone, if they are already too large).
        bytes: u64,
        /// The largest protobuf message: 2³¹ − 1 bytes.
        limit: u64,
    },
}

/// Everything that can go wrong when reading or writing files: each variant names the
/// file, and what was expected and found.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file cannot be read.
    #[error("cannot read {}: {io}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        io: io::Error,
    },
    /// The file cannot be written (nothing was replaced: an existing file is left as it was).
    #[error("cannot write {}: {io}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        io: io::Error,
    },
    /// The file is not a valid model file or checkpoint, or its content cannot be saved.
    #[error("{}: {kind}", path.display())]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        kind: CheckpointError,
    },
    /// The file is not a network in safetensors, or the network cannot be exported.
    #[error("{}: {kind}", path.display())]
    Safetensors {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        kind: SafetensorsError,
    },
    /// The file is not a CSV table as [`crate::tabular::read_csv`] reads them.
    #[cfg(feature = "tabular")]
    #[error("{}: {kind}", path.display())]
    Tabular {
        /// The file.
        path: PathBuf,
        /// What is wrong, and where (boxed: it is larger than the other variants).
        kind: Box<crate::tabular::TabularError>,
    },
    /// The network cannot be exported as ONNX.
    #[error("{}: {kind}", path.display())]
    Onnx {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        kind: OnnxError,
    },
    /// The file is not a valid IDX file.
    #[error("{}: {kind}", path.display())]
    Idx {
        /// The file.
        path: PathBuf,
        /// What is wrong with its bytes.
        kind: IdxError,
    },
    /// A valid IDX file with another element type than the data set needs.
    #[error("{}: expected {expected} elements for {what}, found {found}", path.display())]
    WrongType {
        /// The file.
        path: PathBuf,
        /// `"images"` or `"labels"`.
        what: &'static str,
        /// The type the data set needs.
        expected: IdxType,
        /// The file's type.
        found: IdxType,
    },
    /// A valid IDX file with another number of dimensions than the data set needs.
    #[error(
        "{}: expected {expected} dimensions for {what}, found {} (sizes {found:?})",
        path.display(),
        found.len()
    )]
    WrongRank {
        /// The file.
        path: PathBuf,
        /// `"images"` (3: samples, rows, columns) or `"labels"` (1: samples).
        what: &'static str,
        /// The number of dimensions the data set needs.
        expected: usize,
        /// The file's sizes.
        found: Vec<usize>,
    },
    /// The path names something else than the file or folder expected: a folder, a device such
    /// as `/dev/zero`, a FIFO, a socket, a broken symbolic link... Refused before reading.
    #[error("{}: expected {expected}, found {found}", path.display())]
    WrongFileType {
        /// The path.
        path: PathBuf,
        /// `"a regular file"` or `"a folder"`.
        expected: &'static str,
        /// What it names, e.g. `"a character device"` or `"a symbolic link to a folder"`.
        found: String,
    },
    /// The file is larger than anything of its kind can be. Refused before reading.
    #[error(
        "{} is {}, but a {what} is at most {}",
        path.display(),
        crate::files::show_size(*found),
        crate::files::show_size(*max)
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// What the file should be, e.g. `"class-names file"`.
        what: &'static str,
        /// The largest size accepted, in bytes.
        max: u64,
        /// The file's size, in bytes.
        found: u64,
    },
    /// The memory to read the file could not be reserved.
    #[error(
        "cannot read {}: {} do not fit in memory",
        path.display(),
        crate::files::show_size(*bytes)
    )]
    OutOfMemory {
        /// The file.
        path: PathBuf,
        /// The bytes that could not be reserved.
        bytes: u64,
    },
    /// A text file that is not UTF-8.
    #[error("{}: line {line} is not UTF-8 text", path.display())]
    NotText {
        /// The file.
        path: PathBuf,
        /// The first line (from 1) with invalid bytes.
        line: usize,
    },
    /// The folder does not exist.
    #[error("the folder {} does not exist", dir.display())]
    MissingFolder {
        /// The folder.
        dir: PathBuf,
    },
    /// A file of the four-file layout is missing, under either of its two names (the folder
    /// exists).
    #[error(
        "neither {file} nor {file}.gz is in {}: an MNIST-like folder holds train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte, raw or gzip",
        dir.display()
    )]
    MissingFile {
        /// The folder searched.
        dir: PathBuf,
        /// The file's name without `.gz`, e.g. `"train-images-idx3-ubyte"`.
        file: String,
    },
    /// The images and labels files disagree on the number of samples.
    #[error(
        "{} holds {n_images} images but {} holds {n_labels} labels",
        images_path.display(),
        labels_path.display()
    )]
    CountMismatch {
        /// The images file.
        images_path: PathBuf,
        /// The labels file.
        labels_path: PathBuf,
        /// The number of images.
        n_images: usize,
        /// The number of labels.
        n_labels: usize,
    },
    /// A label is not below the expected number of classes.
    #[error(
        "{}: label {label} of sample {sample_idx} is out of range: there are {n_classes} classes, so labels must be below {n_classes}",
        path.display()
    )]
    LabelOutOfRange {
        /// The labels file.
        path: PathBuf,
        /// The index of the first sample with such a label.
        sample_idx: usize,
        /// Its label.
        label: u8,
        /// The expected number of classes.
        n_classes: usize,
    },
    /// The training and test images have different sizes.
    #[error(
        "{} holds {}×{} images but {} holds {}×{}",
        train_path.display(),
        train[0],
        train[1],
        test_path.display(),
        test[0],
        test[1]
    )]
    ImageShapeMismatch {
        /// The training images file.
        train_path: PathBuf,
        /// The test images file.
        test_path: PathBuf,
        /// Rows and columns of the training images.
        train: [usize; 2],
        /// Rows and columns of the test images.
        test: [usize; 2],
    },
}
