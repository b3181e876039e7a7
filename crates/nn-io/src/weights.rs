//! Weight export and import in the safetensors format, for Python (numpy, PyTorch).
//!
//! # Layout
//! For layer `i` (0 is the first `Dense` layer) with `m` inputs and `n` outputs:
//! - `layers.{i}.weight`: shape `[n, m]`, row-major, i.e. `W` itself (Θ without its bias
//!   column), as PyTorch's `nn.Linear(m, n).weight` holds it;
//! - `layers.{i}.bias`: shape `[n]`, Θ's column 0.
//!
//! Every tensor has dtype `F32` or `F64` (the network's float type), little-endian. The
//! architecture is in the file's metadata, all strings:
//! `format` = `nn`, `sizes` = `784,256,128,10` (inputs first), `activations` =
//! `relu,relu,identity` (one per layer, as [`Activation`]'s `Display` writes them, e.g.
//! `leaky_relu:0.01`), `loss` (as [`Loss`]'s `Display`, e.g. `softmax_cross_entropy`), `l2`
//! (λ of R1, e.g. `0`), and, only when the network has them, `class_weights` (comma-separated).
//! Numbers are written in Rust's shortest form that reads back to the same value, so an import
//! gives back the exported network bit for bit.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use nn_core::{Activation, Dense, Loss, Network};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

use crate::atomic::write_atomic;
use crate::files::read_regular_file;
use crate::model::at_layer;
use crate::{AnyNetwork, Error, Precision, SafetensorsError, StoredFloat};

/// The value of the `format` metadata entry.
const FORMAT: &str = "nn";

fn dtype(precision: Precision) -> Dtype {
    match precision {
        Precision::F32 => Dtype::F32,
        Precision::F64 => Dtype::F64,
    }
}

fn weight_name(layer_idx: usize) -> String {
    format!("layers.{layer_idx}.weight")
}

fn bias_name(layer_idx: usize) -> String {
    format!("layers.{layer_idx}.bias")
}

/// Little-endian bytes of values of type `T`.
fn le_bytes<T: StoredFloat>(values: impl Iterator<Item = T>, out: &mut Vec<u8>) {
    for v in values {
        match T::PRECISION {
            // `to_bits_u64` widens the f32 bits: the low 32 bits are the f32's.
            Precision::F32 => out.extend_from_slice(&(v.to_bits_u64() as u32).to_le_bytes()),
            Precision::F64 => out.extend_from_slice(&v.to_bits_u64().to_le_bytes()),
        }
    }
}

/// Values of type `T` from little-endian bytes of the same type (exact: f32 → f64 → f32 is).
fn from_le_bytes<T: StoredFloat>(bytes: &[u8]) -> Vec<T> {
    match T::PRECISION {
        Precision::F32 => bytes
            .as_chunks::<4>()
            .0
            .iter()
            .map(|c| T::from_f64(f64::from(f32::from_le_bytes(*c))))
            .collect(),
        Precision::F64 => {
            bytes.as_chunks::<8>().0.iter().map(|c| T::from_f64(f64::from_le_bytes(*c))).collect()
        }
    }
}

fn join<I: IntoIterator<Item = S>, S: ToString>(items: I) -> String {
    items.into_iter().map(|s| s.to_string()).collect::<Vec<_>>().join(",")
}

/// The bytes of a safetensors file holding `net`'s weights and architecture (see the
/// [layout](crate#safetensors-export)).
///
/// # Errors
/// [`SafetensorsError::Invalid`] for a non-finite parameter, [`SafetensorsError::Format`] if
/// the safetensors writer fails.
pub fn encode_safetensors<T: StoredFloat>(net: &Network<T>) -> Result<Vec<u8>, SafetensorsError> {
    net.check_finite().map_err(SafetensorsError::Invalid)?;
    let mut buffers = Vec::with_capacity(net.layers().len());
    for layer in net.layers() {
        // Θ column-major: column 0 (the biases), then column j + 1 holds W's column j.
        let (n, m) = (layer.n_outputs(), layer.n_inputs());
        let theta = layer.theta_col_major();
        let (bias, weights) = theta.split_at(n);
        let mut w = Vec::with_capacity(n * m * size_of::<T>());
        // Row-major: row i of W, the weights into output unit i, is W[(i, j)] for j = 0..m.
        le_bytes((0..n).flat_map(|i| (0..m).map(move |j| weights[j * n + i])), &mut w);
        let mut b = Vec::with_capacity(n * size_of::<T>());
        le_bytes(bias.iter().copied(), &mut b);
        buffers.push((w, b));
    }
    let dtype = dtype(T::PRECISION);
    let format_error =
        |e: safetensors::SafeTensorError| SafetensorsError::Format { message: e.to_string() };
    let mut tensors = Vec::with_capacity(buffers.len() * 2);
    for (layer_idx, (layer, (w, b))) in net.layers().iter().zip(&buffers).enumerate() {
        let shape = vec![layer.n_outputs(), layer.n_inputs()];
        tensors.push((
            weight_name(layer_idx),
            TensorView::new(dtype, shape, w).map_err(format_error)?,
        ));
        let shape = vec![layer.n_outputs()];
        tensors
            .push((bias_name(layer_idx), TensorView::new(dtype, shape, b).map_err(format_error)?));
    }
    let mut metadata = HashMap::new();
    metadata.insert("format".to_owned(), FORMAT.to_owned());
    metadata.insert("sizes".to_owned(), join(net.sizes()));
    metadata.insert("activations".to_owned(), join(net.layers().iter().map(Dense::activation)));
    metadata.insert("loss".to_owned(), net.loss_kind().to_string());
    metadata.insert("l2".to_owned(), net.l2().to_f64().to_string());
    if let Some(w) = net.class_weights() {
        metadata.insert("class_weights".to_owned(), join(w.iter().map(|v| v.to_f64())));
    }
    let mut bytes = safetensors::serialize(tensors, Some(metadata)).map_err(format_error)?;
    sort_metadata(&mut bytes)?;
    Ok(bytes)
}

/// Rewrites the `__metadata__` object that `safetensors::serialize` puts first in the header
/// with its entries sorted by key: the crate writes them in `HashMap` order, which changes from
/// run to run, and exports must be reproducible to the byte. The same entries take the same
/// number of bytes in any order, so nothing else moves.
fn sort_metadata(bytes: &mut [u8]) -> Result<(), SafetensorsError> {
    const PREFIX: &[u8] = b"{\"__metadata__\":";
    let error = |message: &str| SafetensorsError::Format { message: message.to_owned() };
    let header_len = bytes
        .first_chunk::<8>()
        .and_then(|n| usize::try_from(u64::from_le_bytes(*n)).ok())
        .ok_or_else(|| error("no header length"))?;
    let header = bytes
        .get_mut(8..8_usize.saturating_add(header_len))
        .ok_or_else(|| error("truncated header"))?;
    let object = header
        .strip_prefix(PREFIX)
        .map(|_| PREFIX.len())
        .ok_or_else(|| error("the header does not start with the metadata"))?;
    let mut stream = serde_json::Deserializer::from_slice(&header[object..])
        .into_iter::<BTreeMap<String, String>>();
    let entries = match stream.next() {
        Some(Ok(entries)) => entries,
        _ => return Err(error("unreadable metadata")),
    };
    let end = object + stream.byte_offset();
    let sorted = serde_json::to_vec(&entries).map_err(|e| error(&e.to_string()))?;
    let slot = &mut header[object..end];
    if sorted.len() != slot.len() {
        return Err(error("the sorted metadata does not take the same bytes"));
    }
    slot.copy_from_slice(&sorted);
    Ok(())
}

/// The architecture read from the metadata.
struct Architecture {
    sizes: Vec<usize>,
    activations: Vec<Activation>,
    loss: Loss,
    l2: f64,
    class_weights: Option<Vec<f64>>,
}

fn metadata_error(key: &'static str, message: impl Into<String>) -> SafetensorsError {
    SafetensorsError::Metadata { key, message: message.into() }
}

/// Parses `relu`, `leaky_relu:-0.2`, ...: the parameter is parsed here, so that a negative one
/// reads back (`Activation::from_str` turns `-` into `_`).
fn parse_activation(s: &str) -> Option<Activation> {
    match s.split_once(':') {
        None => s.parse().ok(),
        Some((name, param)) => {
            let alpha: f64 = param.trim().parse().ok()?;
            match name.parse().ok()? {
                Activation::LeakyRelu { .. } => Some(Activation::LeakyRelu { alpha }),
                Activation::Elu { .. } => Some(Activation::Elu { alpha }),
                _ => None,
            }
        }
    }
}

fn parse_list<V: std::str::FromStr>(
    key: &'static str,
    value: &str,
) -> Result<Vec<V>, SafetensorsError> {
    value
        .split(',')
        .map(|s| {
            s.trim()
                .parse()
                .map_err(|_| metadata_error(key, format!("cannot parse {s:?} in {value:?}")))
        })
        .collect()
}

impl Architecture {
    fn read(metadata: Option<&HashMap<String, String>>) -> Result<Self, SafetensorsError> {
        let get = |key: &'static str| {
            metadata.and_then(|m| m.get(key)).map(String::as_str).ok_or_else(|| {
                metadata_error(
                    key,
                    "missing: the file was not exported by nn (or lost its metadata)",
                )
            })
        };
        let format = get("format")?;
        if format != FORMAT {
            return Err(metadata_error("format", format!("expected {FORMAT:?}, found {format:?}")));
        }
        let sizes: Vec<usize> = parse_list("sizes", get("sizes")?)?;
        if let Some(i) = sizes.iter().position(|&n| n == 0) {
            return Err(metadata_error(
                "sizes",
                format!("size {i} is 0: every layer needs a unit"),
            ));
        }
        if sizes.len() < 2 {
            return Err(metadata_error(
                "sizes",
                format!("expected at least 2 sizes (inputs and outputs), found {}", sizes.len()),
            ));
        }
        let activations_str = get("activations")?;
        let activations = activations_str
            .split(',')
            .map(|s| {
                parse_activation(s.trim()).ok_or_else(|| {
                    metadata_error("activations", format!("unknown activation {s:?}"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if activations.len() != sizes.len() - 1 {
            return Err(metadata_error(
                "activations",
                format!(
                    "expected {} (one per layer), found {}",
                    sizes.len() - 1,
                    activations.len()
                ),
            ));
        }
        let loss_str = get("loss")?;
        let loss = loss_str
            .parse()
            .map_err(|e: nn_core::ParseLossError| metadata_error("loss", e.to_string()))?;
        let l2_str = get("l2")?;
        let l2 = l2_str
            .trim()
            .parse()
            .map_err(|_| metadata_error("l2", format!("cannot parse {l2_str:?}")))?;
        let class_weights = match metadata.and_then(|m| m.get("class_weights")) {
            Some(w) => Some(parse_list("class_weights", w)?),
            None => None,
        };
        Ok(Architecture { sizes, activations, loss, l2, class_weights })
    }

    fn n_layers(&self) -> usize {
        self.activations.len()
    }

    /// The network, with the weights of `tensors` (already checked: names, dtype, shapes).
    fn build<T: StoredFloat>(
        &self,
        tensors: &SafeTensors<'_>,
    ) -> Result<Network<T>, SafetensorsError> {
        let mut layers = Vec::with_capacity(self.n_layers());
        for (layer_idx, (pair, &act)) in self.sizes.windows(2).zip(&self.activations).enumerate() {
            let (n_inputs, n_outputs) = (pair[0], pair[1]);
            let w: Vec<T> = from_le_bytes(tensor(tensors, &weight_name(layer_idx))?.data());
            let b: Vec<T> = from_le_bytes(tensor(tensors, &bias_name(layer_idx))?.data());
            // Θ column-major: the biases, then column j of W (row-major in the file).
            let mut theta = b;
            theta.reserve(w.len());
            for j in 0..n_inputs {
                theta.extend((0..n_outputs).map(|i| w[i * n_inputs + j]));
            }
            let layer = Dense::from_theta_col_major(n_inputs, n_outputs, &theta, act)
                .map_err(|e| SafetensorsError::Invalid(at_layer(e, layer_idx)))?;
            layers.push(layer);
        }
        let invalid = SafetensorsError::Invalid;
        let mut net =
            Network::new(layers, self.loss).map_err(invalid)?.with_l2(self.l2).map_err(invalid)?;
        if let Some(w) = &self.class_weights {
            net = net
                .with_class_weights(w.iter().map(|&v| T::from_f64(v)).collect())
                .map_err(invalid)?;
        }
        Ok(net)
    }
}

fn tensor<'a>(tensors: &SafeTensors<'a>, name: &str) -> Result<TensorView<'a>, SafetensorsError> {
    tensors.tensor(name).map_err(|_| SafetensorsError::MissingTensor { name: name.to_owned() })
}

/// The network in the bytes of a safetensors file in the [layout](crate#safetensors-export)
/// that [`encode_safetensors`] writes, of whichever float type its tensors have.
///
/// # Errors
/// [`SafetensorsError::Format`] for bytes that are not safetensors; [`Metadata`], if an
/// architecture entry is missing or wrong; [`MissingTensor`] and [`UnexpectedTensor`] if the
/// tensors are not exactly a weight and a bias per layer; [`Dtype`] for tensors of another
/// type than F32 or F64, or of mixed types; [`Shape`] for shapes that do not fit the sizes; and
/// [`SafetensorsError::Invalid`] for a network that the constructors reject (non-finite
/// parameters, for instance). Never panics, whatever the bytes.
///
/// [`Metadata`]: SafetensorsError::Metadata
/// [`MissingTensor`]: SafetensorsError::MissingTensor
/// [`UnexpectedTensor`]: SafetensorsError::UnexpectedTensor
/// [`Dtype`]: SafetensorsError::Dtype
/// [`Shape`]: SafetensorsError::Shape
pub fn decode_safetensors(bytes: &[u8]) -> Result<AnyNetwork, SafetensorsError> {
    let (_, header) = SafeTensors::read_metadata(bytes)
        .map_err(|e| SafetensorsError::Format { message: e.to_string() })?;
    let tensors = SafeTensors::deserialize(bytes)
        .map_err(|e| SafetensorsError::Format { message: e.to_string() })?;
    let arch = Architecture::read(header.metadata().as_ref())?;
    let n_layers = arch.n_layers();
    // Exactly a weight and a bias per layer, nothing else.
    let mut names = tensors.names();
    names.sort_unstable();
    for name in &names {
        let known = (0..n_layers).any(|i| **name == weight_name(i) || **name == bias_name(i));
        if !known {
            return Err(SafetensorsError::UnexpectedTensor { name: (*name).to_owned(), n_layers });
        }
    }
    let mut precision = None;
    for (layer_idx, pair) in arch.sizes.windows(2).enumerate() {
        let (n_inputs, n_outputs) = (pair[0], pair[1]);
        for (name, expected) in [
            (weight_name(layer_idx), vec![n_outputs, n_inputs]),
            (bias_name(layer_idx), vec![n_outputs]),
        ] {
            let view = tensor(&tensors, &name)?;
            let found = match view.dtype() {
                Dtype::F32 => Precision::F32,
                Dtype::F64 => Precision::F64,
                other => {
                    return Err(SafetensorsError::Dtype {
                        name,
                        expected: "F32 or F64".to_owned(),
                        found: other.to_string(),
                    });
                }
            };
            let first = *precision.get_or_insert(found);
            if found != first {
                return Err(SafetensorsError::Dtype {
                    name,
                    expected: dtype(first).to_string(),
                    found: view.dtype().to_string(),
                });
            }
            if view.shape() != expected.as_slice() {
                return Err(SafetensorsError::Shape {
                    name,
                    expected,
                    found: view.shape().to_vec(),
                });
            }
        }
    }
    match precision {
        Some(Precision::F64) => Ok(AnyNetwork::F64(arch.build(&tensors)?)),
        // The sizes have at least one layer, so some tensor set the precision.
        _ => Ok(AnyNetwork::F32(arch.build(&tensors)?)),
    }
}

/// Exports `net`'s weights and architecture as a safetensors file (see the
/// [layout](crate#safetensors-export)), atomically.
///
/// # Errors
/// [`Error::Safetensors`] with the errors of [`encode_safetensors`], and [`Error::Write`].
pub fn export_safetensors<T: StoredFloat>(
    path: impl AsRef<Path>,
    net: &Network<T>,
) -> Result<(), Error> {
    let path = path.as_ref();
    let bytes = encode_safetensors(net)
        .map_err(|kind| Error::Safetensors { path: path.to_owned(), kind })?;
    write_atomic(path, &bytes, 1)
}

/// Imports a network from a safetensors file in the [layout](crate#safetensors-export) of
/// [`export_safetensors`].
///
/// # Errors
/// [`Error::Io`] if the file cannot be read, and [`Error::Safetensors`] with the errors of
/// [`decode_safetensors`]; both name the file.
pub fn import_safetensors(path: impl AsRef<Path>) -> Result<AnyNetwork, Error> {
    let path = path.as_ref();
    let bytes = read_regular_file(path, "safetensors file", u64::MAX)?;
    decode_safetensors(&bytes).map_err(|kind| Error::Safetensors { path: path.to_owned(), kind })
}
