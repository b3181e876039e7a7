//! Files for the `nn` networks: crash-safe versioned checkpoints, safetensors weight export and
//! IDX data sets.
//!
//! # What is here
//! - Model files: [`save_model`] and [`load_model`] (or [`load_model_as`] for a known float
//!   type): a network (sizes, activations, Θ, loss, L2 penalty, class weights, f32 or f64) and
//!   its [`ModelMetadata`] (class names, free-form entries), enough to predict.
//! - Training checkpoints (feature `train`): `save_checkpoint`, `save_checkpoint_rotating` and
//!   `load_checkpoint` of a `Checkpoint`: a model, the training configuration and the trainer's
//!   state, enough to resume training bit-identically. [`load_model`] reads the model of a
//!   checkpoint too.
//! - [`export_safetensors`] and [`import_safetensors`]: the weights for Python (see
//!   [below](#safetensors-export)).
//! - [`export_onnx`]: the network as an ONNX model for onnxruntime, tract and other runtimes
//!   (see [below](#onnx-export)).
//! - [`parse_idx`], [`decode_idx`] and [`read_idx`]: the IDX format in full (every type code,
//!   any rank), raw or gzip-compressed, into an [`IdxArray`] of [`IdxData`].
//! - [`load_folder`]: the usual four-file layout (`train-images-idx3-ubyte`,
//!   `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`, each with or
//!   without `.gz`) into a [`MnistLike`] pair of [`ImageSet`]s, whose
//!   [`features_f32`](ImageSet::features_f32) are a features × samples matrix in column-major
//!   order: samples are columns, as everywhere in `nn`.
//!
//! - [`tabular`] (feature `tabular`): CSV tables, their preprocessing (standardization, one-hot
//!   encoding, imputation, targets for classification, regression and multi-label), stored in
//!   the model file's metadata, and predictions written as CSV.
//!
//! Each file function has a bytes-level twin ([`encode_model`], [`decode_model`],
//! [`decode_model_as`], `encode_checkpoint`, `decode_checkpoint`, [`encode_safetensors`],
//! [`decode_safetensors`], [`encode_onnx`]) whose errors ([`CheckpointError`],
//! [`SafetensorsError`], [`OnnxError`]) name no file; the file functions wrap them in an
//! [`Error`] that does.
//!
//! # Features
//! - default: no features. Loading and saving models for inference needs neither the trainer
//!   nor rayon, so none is built.
//! - `train`: training checkpoints, through `nn-train`.
//! - `tabular`: CSV tables and their preprocessing, through `csv` and `serde_json`.
//!
//! # Checkpoint format
//! Model files (`NNMODEL\0`, by convention `.nnm`) and training checkpoints (`NNCKPT\0\0`,
//! `.nnc`) share one container:
//! ```text
//! offset  size  content
//! 0       8     magic bytes: "NNMODEL\0" or "NNCKPT\0\0"
//! 8       4     format version, u32 little-endian: 2 for model files, 3 for checkpoints
//!               (every older version is still read)
//! 12      8     payload length in bytes, u64 little-endian
//! 20      4     CRC-32 (IEEE, as zlib and gzip) of the payload, u32 little-endian
//! 24      ...   payload: bincode 2 (standard configuration: little-endian, varint integers)
//! ```
//! The payload of a model file is a precision byte (0: f32, 1: f64) then the network and
//! metadata; a checkpoint's starts the same way and goes on with the training configuration and
//! the trainer's state. Both are encoded from records private to this crate, one set per format
//! version, converted to and from the public types of `nn-core` and `nn-train` (which have no
//! serde support): adding a field to `TrainConfig` changes no file. The encoding is private: it
//! appears in no public type or error. Version 3 added the random shifts and the label
//! smoothing to the checkpoint's configuration (a resume trains on the same data as the run it
//! continues; older checkpoints load with both off); model files did not change and are still
//! written as version 2.
//!
//! Guarantees:
//! - **Atomic writes.** Every save writes a temporary file in the same folder, flushes it to
//!   disk, renames it over the target and flushes the folder. A crash or an error at any point
//!   leaves the old file (or none) in place, never a partial one, and no temporary file after
//!   an error.
//! - **Every version readable.** A file written by any released version of this crate loads in
//!   every later one; `tests/fixtures/` holds a file of each kind and version, loaded by the
//!   tests. A file of a newer version is a [`CheckpointError::UnsupportedVersion`].
//! - **Validated loading, no panics.** The header's length is checked against the bytes present
//!   and the checksum against the payload before anything is decoded; the decoder's limit
//!   follows the payload's length (at most 4 times it can be allocated for a lying length
//!   field); the network is rebuilt through `nn-core`'s constructors, so inconsistent shapes and
//!   non-finite parameters are errors, as is a training state that does not fit the network.
//!   Any bytes give a typed error or a valid network; they are fuzzed (`fuzz/`).
//!
//! # safetensors export
//! [`export_safetensors`] writes, for each layer `i`, the tensor `layers.{i}.weight` of shape
//! `[out, in]` (row-major: `W` itself, as PyTorch's `nn.Linear` holds it) and `layers.{i}.bias`
//! of shape `[out]`, both F32 or F64, with the architecture in the file's metadata: `format`
//! (`nn`), `sizes` (`784,256,128,10`), `activations` (`relu,relu,identity`), `loss` and `l2`
//! (and `class_weights` if any). [`import_safetensors`] reads it back and checks it.
//!
//! In Python, with numpy:
//! ```python
//! from safetensors.numpy import load_file
//! w = load_file("model.safetensors")
//! W1, b1 = w["layers.0.weight"], w["layers.0.bias"]   # a2 = g(W1 @ x + b1)
//! ```
//! or with PyTorch, one `nn.Linear` per layer:
//! ```python
//! import torch
//! from safetensors.torch import load_file
//! w = load_file("model.safetensors")
//! layer0 = torch.nn.Linear(784, 256)                  # in, out
//! layer0.load_state_dict({"weight": w["layers.0.weight"], "bias": w["layers.0.bias"]})
//! ```
//! (a module whose `self.layers` is a `torch.nn.ModuleList` of `nn.Linear` takes the whole
//! file: `model.load_state_dict(w)`).
//!
//! # ONNX export
//! [`export_onnx`] (or [`encode_onnx`] for the bytes) writes a standard ONNX model that
//! onnxruntime, tract and the other ONNX runtimes load, with [`OnnxOptions`] for its metadata
//! and names. It is what [`nn_core::Network::predict_proba`] computes:
//! - **Opset 17** of the default domain (`ai.onnx`) and **IR version 8**, both of ONNX 1.12
//!   (2022): runtimes of the last years read them (onnxruntime since 1.12). GELU is written out
//!   with `Erf` or `Tanh`, since ONNX's `Gelu` operator needs opset 20.
//! - One input, `input`: float32 `[N, n_inputs]`, `N` a symbolic (dynamic) batch dimension;
//!   samples are **rows**, as in every ONNX runtime (our matrices hold them as columns).
//! - One output, `output`: float32 `[N, n_outputs]`: the class probabilities for the
//!   cross-entropy losses (softmax over the outputs, or element-wise sigmoid), the last layer's
//!   activations for mean squared error: what [`nn_core::Network::predict_proba`] returns.
//! - Layer `i` is a `Gemm` node (`transB = 1`) with the initializers `layers.{i}.weight`,
//!   `[n_outputs, n_inputs]` (W, as PyTorch's `nn.Linear.weight`), and `layers.{i}.bias`,
//!   `[n_outputs]`, followed by its activation: `Sigmoid`, `Tanh`, `Relu`, `LeakyRelu` (α),
//!   `Elu` (α), GELU as `½z(1 + erf(z/√2))` or its tanh form, SiLU as `z·Sigmoid(z)`, softplus
//!   as `Relu(z) + Log(1 + Exp(−|z|))` (finite for any z), and nothing for the identity.
//! - **float32 throughout.** An f32 network's parameters are stored bit for bit; an f64
//!   network's are rounded to the nearest float32 (a value beyond float32's range is an
//!   [`OnnxError::NotFloat32`]). onnxruntime's outputs agree with `predict_proba` to about 1e-6
//!   relative (sums are added in another order, and `exp`, `erf`, `tanh` are the runtime's);
//!   `.ci/run` checks every activation × loss within 1e-5.
//! - `metadata_props`: `nn.sizes` (`784,256,10`), `nn.activations` (`relu,identity`), `nn.loss`,
//!   `nn.output` (what the output means) and `nn.precision` (`f32` or `f64`: the network's float
//!   type before the export), then the entries of [`OnnxOptions::metadata`]: this is where the
//!   preprocessing the model expects travels (`mnist`'s `preprocessing` is `pixel / 255`).
//!
//! Reading it back in Python, with onnxruntime:
//! ```python
//! import numpy as np, onnxruntime as ort
//! session = ort.InferenceSession("model.onnx")
//! x = np.random.rand(5, 784).astype(np.float32)       # 5 samples, one per row
//! probabilities = session.run(["output"], {"input": x})[0]   # shape (5, 10)
//! print(session.get_modelmeta().custom_metadata_map)  # preprocessing, class names, ...
//! ```
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
//! The IDX reader does not need the numeric crates: [`ImageSet::features_f32`] hands over a plain
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

mod atomic;
#[cfg(feature = "train")]
mod checkpoint;
mod error;
mod files;
mod folder;
mod format;
mod idx;
mod model;
mod onnx;
mod records;
#[cfg(feature = "tabular")]
pub mod tabular;
mod weights;

pub use atomic::{check_writable, write_file_atomic};
#[cfg(feature = "train")]
pub use checkpoint::{
    Checkpoint, decode_checkpoint, encode_checkpoint, load_checkpoint, save_checkpoint,
    save_checkpoint_rotating,
};
pub use error::{CheckpointError, Error, IdxError, OnnxError, SafetensorsError};
pub use files::{MAX_CLASS_NAMES_BYTES, read_class_names, read_regular_file, show_size};
pub use folder::{FASHION_MNIST_DIR, ImageSet, MnistLike, load_folder, load_image_set};
pub use idx::{IdxArray, IdxData, IdxType, decode_idx, parse_idx, read_idx};
pub use model::{
    AnyNetwork, FileKind, LoadedModel, Model, ModelMetadata, Precision, StoredFloat, decode_model,
    decode_model_as, encode_model, load_model, load_model_as, save_model,
};
pub use onnx::{ONNX_IR_VERSION, ONNX_OPSET, OnnxOptions, encode_onnx, export_onnx};
pub use weights::{decode_safetensors, encode_safetensors, export_safetensors, import_safetensors};
