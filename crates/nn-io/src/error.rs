//! The error types of `nn-io`.
//!
//! Every message is complete on its own: it includes the underlying I/O or format error, which
//! is kept in a field rather than returned by `source()`, so an error chain never repeats it.

use std::io;
use std::path::PathBuf;

use crate::IdxType;

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

/// Everything that can go wrong when reading IDX files and data sets: each variant names the
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
    /// A file of the four-file layout is missing, under either of its two names.
    #[error(
        "neither {file} nor {file}.gz is in {}: pass a folder of MNIST-like IDX files, or install Fashion-MNIST with `apt-get install dataset-fashion-mnist` (it goes to {})",
        dir.display(),
        crate::FASHION_MNIST_DIR
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
