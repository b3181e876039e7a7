//! ONNX export: a network as a standard ONNX model (the layout is documented in the crate's
//! docs, [`crate#onnx-export`]). `graph.rs` builds the graph; `proto.rs` is the prost code
//! generated from `onnx.proto` (both committed; `scripts/gen-onnx-proto.sh` regenerates it).

mod graph;
#[allow(
    dead_code,
    missing_docs,
    unreachable_pub,
    clippy::all,
    reason = "generated from onnx.proto by scripts/gen-onnx-proto.sh; most of the schema is unused"
)]
mod proto;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::Path;

use nn_core::Network;
use prost::Message;

use crate::atomic::write_atomic;
use crate::{Error, OnnxError, StoredFloat};

/// The ONNX operator set the exported models import (default domain `ai.onnx`).
pub const ONNX_OPSET: i64 = 17;
/// The ONNX IR version of the exported models: 8, the one of opset 17's release (ONNX 1.12).
pub const ONNX_IR_VERSION: i64 = 8;

/// The name of the model's input.
const INPUT: &str = "input";
/// The name of the model's output.
const OUTPUT: &str = "output";
/// The symbolic batch dimension of the input and the output.
const BATCH_DIM: &str = "N";
/// Metadata keys starting with this are nn-io's own.
const RESERVED_PREFIX: &str = "nn.";
/// The largest protobuf message, which every ONNX reader keeps to: 2³¹ − 1 bytes.
const PROTOBUF_LIMIT: u64 = (1 << 31) - 1;

/// What [`export_onnx`] writes besides the network: metadata and names.
///
/// Every value is valid except metadata keys that are empty or start with `nn.` (nn-io's own
/// entries) and an empty graph name, which [`encode_onnx`] refuses. Build it with [`OnnxOptions::new`] and the `with_*`
/// setters; the fields can also be changed directly.
///
/// ```
/// use nn_io::OnnxOptions;
///
/// let options = OnnxOptions::new()
///     .with_metadata("preprocessing", "pixel / 255")
///     .with_doc_string("Fashion-MNIST classifier");
/// assert_eq!(options.metadata["preprocessing"], "pixel / 255");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct OnnxOptions {
    /// Free-form entries written into the model's `metadata_props` after nn-io's own `nn.*`
    /// ones: preprocessing, class names, data set, ... onnxruntime shows them as
    /// `session.get_modelmeta().custom_metadata_map`.
    pub metadata: BTreeMap<String, String>,
    /// The model's `producer_name`: `"nn"` by default.
    pub producer_name: String,
    /// The model's `producer_version`: this nn-io's version by default.
    pub producer_version: String,
    /// The model's `doc_string`; `None` (the default) writes a one-line description of the
    /// architecture.
    pub doc_string: Option<String>,
    /// The graph's name: `"nn"` by default; ONNX requires one (not empty).
    pub graph_name: String,
    /// The model's `model_version`, if any (none by default).
    pub model_version: Option<i64>,
}

impl OnnxOptions {
    /// No metadata, producer `nn` at nn-io's version, a generated doc string, graph `nn`.
    #[must_use]
    pub fn new() -> Self {
        OnnxOptions {
            metadata: BTreeMap::new(),
            producer_name: "nn".to_owned(),
            producer_version: env!("CARGO_PKG_VERSION").to_owned(),
            doc_string: None,
            graph_name: "nn".to_owned(),
            model_version: None,
        }
    }

    /// Adds (or replaces) one metadata entry.
    #[must_use]
    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// Adds (or replaces) metadata entries.
    #[must_use]
    pub fn with_metadata_entries<K: Into<String>, V: Into<String>>(
        mut self,
        entries: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.metadata.extend(entries.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    /// Sets the producer's name and version.
    #[must_use]
    pub fn with_producer(mut self, name: impl Into<String>, version: impl Into<String>) -> Self {
        self.producer_name = name.into();
        self.producer_version = version.into();
        self
    }

    /// Sets the model's doc string (instead of the generated description).
    #[must_use]
    pub fn with_doc_string(mut self, doc_string: impl Into<String>) -> Self {
        self.doc_string = Some(doc_string.into());
        self
    }

    /// Sets the graph's name.
    #[must_use]
    pub fn with_graph_name(mut self, name: impl Into<String>) -> Self {
        self.graph_name = name.into();
        self
    }

    /// Sets the model's version.
    #[must_use]
    pub fn with_model_version(mut self, version: i64) -> Self {
        self.model_version = Some(version);
        self
    }
}

impl Default for OnnxOptions {
    fn default() -> Self {
        OnnxOptions::new()
    }
}

/// The bytes of an ONNX model computing `net`'s [`predict_proba`](Network::predict_proba) (see
/// the [layout](crate#onnx-export)).
///
/// # Errors
/// [`OnnxError::Invalid`] for a non-finite parameter; [`OnnxError::NotFloat32`] for an f64
/// value beyond float32's range; [`OnnxError::MetadataKey`] for an empty key or one starting
/// with `nn.`; [`OnnxError::InvalidOption`] for an empty graph name; [`OnnxError::TooLarge`]
/// for a model beyond protobuf's 2 GiB.
pub fn encode_onnx<T: StoredFloat>(
    net: &Network<T>,
    options: &OnnxOptions,
) -> Result<Vec<u8>, OnnxError> {
    let model = graph::model(net, options)?;
    check_size(u64::try_from(model.encoded_len()).unwrap_or(u64::MAX))?;
    Ok(model.encode_to_vec())
}

/// Refuses a model of more than [`PROTOBUF_LIMIT`] bytes.
fn check_size(bytes: u64) -> Result<(), OnnxError> {
    if bytes > PROTOBUF_LIMIT {
        return Err(OnnxError::TooLarge { bytes, limit: PROTOBUF_LIMIT });
    }
    Ok(())
}

/// Exports `net` as an ONNX model (see the [layout](crate#onnx-export)), atomically.
///
/// ```no_run
/// # use nn_core::{Activation, Loss, Network};
/// # use nn_core::rng::{ChaCha8Rng, SeedableRng};
/// # let mut rng = ChaCha8Rng::seed_from_u64(0);
/// let net: Network<f32> = Network::builder(784, Loss::SoftmaxCrossEntropy)
///     .layer(128, Activation::Relu)
///     .layer(10, Activation::Identity)
///     .build(&mut rng)?;
/// let options = nn_io::OnnxOptions::new().with_metadata("preprocessing", "pixel / 255");
/// nn_io::export_onnx("model.onnx", &net, &options)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`Error::Onnx`] with the errors of [`encode_onnx`], and [`Error::Write`].
pub fn export_onnx<T: StoredFloat>(
    path: impl AsRef<Path>,
    net: &Network<T>,
    options: &OnnxOptions,
) -> Result<(), Error> {
    let path = path.as_ref();
    let bytes =
        encode_onnx(net, options).map_err(|kind| Error::Onnx { path: path.to_owned(), kind })?;
    write_atomic(path, &bytes, 1)
}
