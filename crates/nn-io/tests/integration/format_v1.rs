//! An independent transcription of the model payload of format version 1, from its
//! documentation, to write files that the library's own writer refuses to write: hostile sizes,
//! non-finite parameters, inconsistent layers.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::support::{MODEL_MAGIC, seal};

#[derive(Serialize, Clone)]
pub(crate) struct ModelRecord<T> {
    pub(crate) layers: Vec<LayerRecord<T>>,
    pub(crate) loss: LossRecord,
    pub(crate) l2: T,
    pub(crate) class_weights: Option<Vec<T>>,
    pub(crate) metadata: MetadataRecord,
}

#[derive(Serialize, Clone)]
pub(crate) struct LayerRecord<T> {
    pub(crate) n_inputs: u64,
    pub(crate) n_outputs: u64,
    pub(crate) activation: ActivationRecord,
    pub(crate) theta: Vec<T>,
}

#[derive(Serialize, Clone, Copy)]
#[allow(dead_code, reason = "the variants are the format's, whether a test uses them or not")]
pub(crate) enum ActivationRecord {
    Sigmoid,
    Tanh,
    Relu,
    LeakyRelu { alpha: f64 },
    Elu { alpha: f64 },
    Gelu,
    GeluTanh,
    Silu,
    Softplus,
    Identity,
}

#[derive(Serialize, Clone, Copy)]
#[allow(dead_code, reason = "the variants are the format's, whether a test uses them or not")]
pub(crate) enum LossRecord {
    MeanSquaredError,
    SoftmaxCrossEntropy,
    SigmoidBinaryCrossEntropy,
}

#[derive(Serialize, Clone, Default)]
pub(crate) struct MetadataRecord {
    pub(crate) class_names: Vec<String>,
    pub(crate) extra: BTreeMap<String, String>,
}

/// A valid record: a 2-3-2 tanh network, mean squared error.
pub(crate) fn valid_record() -> ModelRecord<f32> {
    ModelRecord {
        layers: vec![
            LayerRecord {
                n_inputs: 2,
                n_outputs: 3,
                activation: ActivationRecord::Tanh,
                theta: (0..9).map(|k| k as f32 / 4.0).collect(),
            },
            LayerRecord {
                n_inputs: 3,
                n_outputs: 2,
                activation: ActivationRecord::Identity,
                theta: (0..8).map(|k| -(k as f32) / 8.0).collect(),
            },
        ],
        loss: LossRecord::MeanSquaredError,
        l2: 0.0,
        class_weights: None,
        metadata: MetadataRecord::default(),
    }
}

/// The payload bytes of a record: the precision tag (0 for f32, 1 for f64), then bincode 2.
pub(crate) fn payload<T: Serialize>(tag: u8, record: &T) -> Vec<u8> {
    let mut bytes = vec![tag];
    bytes.extend(bincode::serde::encode_to_vec(record, bincode::config::standard()).unwrap());
    bytes
}

/// A model file holding an f32 `record`.
pub(crate) fn model_file(record: &ModelRecord<f32>) -> Vec<u8> {
    seal(MODEL_MAGIC, &payload(0, record))
}
