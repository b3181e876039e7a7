//! MNIST-like data sets: a folder of four IDX files, images and labels for training and test.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::files::{check_folder, check_regular};
use crate::{Error, IdxData, IdxType, read_idx};

/// Where Debian's `dataset-fashion-mnist` package installs Fashion-MNIST (four `.gz` files).
pub const FASHION_MNIST_DIR: &str = "/usr/share/datasets/fashion-mnist";

const TRAIN_IMAGES: &str = "train-images-idx3-ubyte";
const TRAIN_LABELS: &str = "train-labels-idx1-ubyte";
const TEST_IMAGES: &str = "t10k-images-idx3-ubyte";
const TEST_LABELS: &str = "t10k-labels-idx1-ubyte";

/// Images of `n_rows × n_cols` grey-level bytes, each with a class label.
///
/// # Layout
/// [`pixels`](Self::pixels) holds sample after sample, each image row-major, so the
/// `n_rows * n_cols` pixels of a sample are contiguous. Read as a matrix, that is
/// `n_features × n_samples` in column-major order: samples are columns, which is the layout
/// that [`features_f32`](Self::features_f32) keeps and that the networks take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSet {
    n_samples: usize,
    n_rows: usize,
    n_cols: usize,
    // Invariant: `pixels.len() == n_samples * n_rows * n_cols` and `labels.len() == n_samples`,
    // and every product of the three sizes fits in `usize`.
    pixels: Vec<u8>,
    labels: Vec<u8>,
}

impl ImageSet {
    /// The number of images (and labels).
    pub fn n_samples(&self) -> usize {
        self.n_samples
    }

    /// The height of each image.
    pub fn n_rows(&self) -> usize {
        self.n_rows
    }

    /// The width of each image.
    pub fn n_cols(&self) -> usize {
        self.n_cols
    }

    /// The number of pixels per image, `n_rows * n_cols`: the rows of the feature matrix.
    pub fn n_features(&self) -> usize {
        // Cannot saturate: the loader checked that this product fits.
        self.n_rows.saturating_mul(self.n_cols)
    }

    /// All pixels, `n_features × n_samples` column-major (see [the layout](Self#layout)).
    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }

    /// The pixels of one sample, row-major, or `None` if `sample_idx` is out of range.
    pub fn image(&self, sample_idx: usize) -> Option<&[u8]> {
        let start = sample_idx.checked_mul(self.n_features())?;
        self.pixels.get(start..start.checked_add(self.n_features())?)
    }

    /// One label per sample.
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// The number of classes the labels use: the largest label plus one (0 for no samples).
    pub fn n_classes(&self) -> usize {
        self.labels.iter().max().map_or(0, |&max| usize::from(max) + 1)
    }

    /// The pixels scaled to `[0, 1]` as `x = (p as f32) / 255.0`, in the same layout:
    /// an `n_features × n_samples` column-major matrix.
    pub fn features_f32(&self) -> Vec<f32> {
        self.pixels.iter().map(|&p| f32::from(p) / 255.0).collect()
    }

    /// The pixels scaled to `[0, 1]` as `x = (p as f64) / 255.0`, in the same layout:
    /// an `n_features × n_samples` column-major matrix.
    pub fn features_f64(&self) -> Vec<f64> {
        self.pixels.iter().map(|&p| f64::from(p) / 255.0).collect()
    }

    /// The pixels and the labels, without copying.
    pub fn into_parts(self) -> (Vec<u8>, Vec<u8>) {
        (self.pixels, self.labels)
    }
}

/// A training set and a test set of images, as in MNIST and Fashion-MNIST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MnistLike {
    /// From `train-images-idx3-ubyte` and `train-labels-idx1-ubyte`.
    pub train: ImageSet,
    /// From `t10k-images-idx3-ubyte` and `t10k-labels-idx1-ubyte`.
    pub test: ImageSet,
}

/// Loads an MNIST-like data set from a folder of four IDX files.
///
/// The files are `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
/// `t10k-images-idx3-ubyte` and `t10k-labels-idx1-ubyte`, each raw or gzip-compressed and
/// named with or without `.gz` (if both exist, the name without `.gz` is read; the content
/// decides whether it is decompressed, never the name). Images must be 3-dimensional u8
/// (samples, rows, columns), labels 1-dimensional u8, and the training and test images must
/// have the same size. All four files are located before any is read.
///
/// With `n_classes = Some(k)`, every label must be below `k`.
///
/// # Errors
/// [`Error::MissingFolder`] if `dir` does not exist, [`Error::WrongFileType`] if it is not a
/// folder, or if one of the four names is something else than a regular file (a folder, a
/// device, a broken link); [`Error::MissingFile`] names the first file found under neither name;
/// [`Error::Io`] if the folder cannot be searched (permissions); otherwise the errors of
/// [`load_image_set`], and [`Error::ImageShapeMismatch`].
pub fn load_folder(dir: impl AsRef<Path>, n_classes: Option<usize>) -> Result<MnistLike, Error> {
    let dir = dir.as_ref();
    check_folder(dir)?;
    let train_images = locate(dir, TRAIN_IMAGES)?;
    let train_labels = locate(dir, TRAIN_LABELS)?;
    let test_images = locate(dir, TEST_IMAGES)?;
    let test_labels = locate(dir, TEST_LABELS)?;
    let train = load_image_set(&train_images, &train_labels, n_classes)?;
    let test = load_image_set(&test_images, &test_labels, n_classes)?;
    let (train_shape, test_shape) = ([train.n_rows, train.n_cols], [test.n_rows, test.n_cols]);
    if train_shape != test_shape {
        return Err(Error::ImageShapeMismatch {
            train_path: train_images,
            test_path: test_images,
            train: train_shape,
            test: test_shape,
        });
    }
    Ok(MnistLike { train, test })
}

/// Loads one set of images and labels from two IDX files, raw or gzip-compressed.
///
/// Images must be 3-dimensional u8 (samples, rows, columns), labels 1-dimensional u8, with as
/// many labels as images. With `n_classes = Some(k)`, every label must be below `k`.
///
/// # Errors
/// [`Error::Io`] and [`Error::Idx`] from [`read_idx`], [`Error::WrongType`],
/// [`Error::WrongRank`], [`Error::CountMismatch`] and [`Error::LabelOutOfRange`]; each names
/// the file at fault.
pub fn load_image_set(
    images_path: impl AsRef<Path>,
    labels_path: impl AsRef<Path>,
    n_classes: Option<usize>,
) -> Result<ImageSet, Error> {
    let (images_path, labels_path) = (images_path.as_ref(), labels_path.as_ref());
    let (dims, pixels) = read_u8(images_path, "images", 3)?;
    let &[n_samples, n_rows, n_cols] = dims.as_slice() else {
        return Err(wrong_rank(images_path, "images", 3, dims));
    };
    let (_, labels) = read_u8(labels_path, "labels", 1)?;
    if labels.len() != n_samples {
        return Err(Error::CountMismatch {
            images_path: images_path.to_owned(),
            labels_path: labels_path.to_owned(),
            n_images: n_samples,
            n_labels: labels.len(),
        });
    }
    if let Some(n_classes) = n_classes
        && let Some((sample_idx, &label)) =
            labels.iter().enumerate().find(|&(_, &label)| usize::from(label) >= n_classes)
    {
        return Err(Error::LabelOutOfRange {
            path: labels_path.to_owned(),
            sample_idx,
            label,
            n_classes,
        });
    }
    Ok(ImageSet { n_samples, n_rows, n_cols, pixels, labels })
}

/// Reads a u8 IDX file of the given rank.
fn read_u8(path: &Path, what: &'static str, rank: usize) -> Result<(Vec<usize>, Vec<u8>), Error> {
    let (dims, data) = read_idx(path)?.into_parts();
    let IdxData::U8(bytes) = data else {
        return Err(Error::WrongType {
            path: path.to_owned(),
            what,
            expected: IdxType::U8,
            found: data.idx_type(),
        });
    };
    if dims.len() != rank {
        return Err(wrong_rank(path, what, rank, dims));
    }
    Ok((dims, bytes))
}

fn wrong_rank(path: &Path, what: &'static str, expected: usize, found: Vec<usize>) -> Error {
    Error::WrongRank { path: path.to_owned(), what, expected, found }
}

/// The path of `name` or `name.gz` in `dir`, whichever exists (the former if both do). Whatever
/// is there must be a regular file: a folder or a device under a data file's name is an error,
/// not a missing file, and so is a folder that cannot be searched.
fn locate(dir: &Path, name: &str) -> Result<PathBuf, Error> {
    for path in [dir.join(name), dir.join(format!("{name}.gz"))] {
        match fs::symlink_metadata(&path) {
            Ok(_) => {
                check_regular(&path)?;
                return Ok(path);
            }
            Err(io) if io.kind() == io::ErrorKind::NotFound => {}
            Err(io) => return Err(Error::Io { path, io }),
        }
    }
    Err(Error::MissingFile { dir: dir.to_owned(), file: name.to_owned() })
}
