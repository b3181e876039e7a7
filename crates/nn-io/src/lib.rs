//! Files for the `nn` networks: versioned checkpoints, IDX data sets and weight export.
//!
//! # What is here
//! So far, the IDX reader for MNIST-like data sets; checkpoints and weight export come later.
//! - [`parse_idx`], [`decode_idx`] and [`read_idx`]: the IDX format in full (every type code,
//!   any rank), raw or gzip-compressed, into an [`IdxArray`] of [`IdxData`].
//! - [`load_folder`]: the usual four-file layout (`train-images-idx3-ubyte`,
//!   `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`, each with or
//!   without `.gz`) into a [`MnistLike`] pair of [`ImageSet`]s, whose
//!   [`features_f32`](ImageSet::features_f32) are a features × samples matrix in column-major
//!   order: samples are columns, as everywhere in `nn`.
//!
//! # Hardening
//! Files are input from users, so nothing in them can make this crate panic or allocate more
//! than the file really holds:
//! - gzip is recognised by its magic bytes (`1f 8b`), never by the file name;
//! - every size in a header is multiplied with overflow checks, and compared with the bytes
//!   present *before* anything is allocated for the data;
//! - gzip streams are decompressed through a limit (the size the header declares, plus one
//!   byte to detect trailing data), so neither a lying header nor a gzip bomb can make a buffer
//!   grow past the content that is really there;
//! - truncated data, trailing bytes, unknown type codes, wrong ranks, image/label count
//!   mismatches and labels beyond the class count are all typed errors ([`IdxError`] for the
//!   bytes, [`Error`] for files, which names the file).
//!
//! What it deliberately does not do: download data sets, guess formats from file names, print.
//! It does not depend on the numeric crates: [`ImageSet::features_f32`] hands over a plain
//! `Vec<f32>`, which `nn_linalg::MatRef::from_column_major_slice(&x, n_features, n_samples)`
//! views as a matrix without copying.
//!
//! # Example
//! ```
//! use nn_io::{IdxData, parse_idx};
//!
//! // A 2 × 3 matrix of u8: magic 00 00, type 0x08, 2 dimensions, sizes 2 and 3 (big-endian).
//! let bytes = [0, 0, 0x08, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6];
//! let array = parse_idx(&bytes)?;
//! assert_eq!(array.dims(), &[2, 3]);
//! assert_eq!(array.data(), &IdxData::U8(vec![1, 2, 3, 4, 5, 6]));
//! # Ok::<(), nn_io::IdxError>(())
//! ```
//!
//! Loading Fashion-MNIST as Debian's `dataset-fashion-mnist` package installs it:
//! ```no_run
//! let data = nn_io::load_folder(nn_io::FASHION_MNIST_DIR, Some(10))?;
//! assert_eq!((data.train.n_samples(), data.test.n_samples()), (60_000, 10_000));
//! let x_train = data.train.features_f32(); // 784 × 60000, column-major, values in [0, 1]
//! # Ok::<(), nn_io::Error>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
mod folder;
mod idx;

pub use error::{Error, IdxError};
pub use folder::{FASHION_MNIST_DIR, ImageSet, MnistLike, load_folder, load_image_set};
pub use idx::{IdxArray, IdxData, IdxType, decode_idx, parse_idx, read_idx};
