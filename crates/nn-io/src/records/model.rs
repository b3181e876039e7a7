//! The model records: a network (layers, loss, penalties) and its metadata.
//!
//! ```text
//! version 1: ModelRecordV1<T>   = { layers, loss, l2, class_weights, metadata }
//! version 2: ModelRecordV2<T>   = { layers, loss, l2, class_weights, mse_scale, metadata }
//! ```
//! `LayerRecord`, `ActivationRecord`, `LossRecord` and `MetadataRecord` are version 1's and
//! unchanged in version 2.

use std::collections::BTreeMap;

use nn_core::{Activation, Dense, Float, Loss, MseScale, Network};
use serde::{Deserialize, Serialize};

use super::size;
use crate::CheckpointError;
use crate::model::{Model, ModelMetadata, StoredFloat, at_layer, check_class_names};

// ---------------------------------------------------------------------------------------------
// Format version 1 (frozen).

/// The model of format version 1.
#[derive(Serialize, Deserialize)]
pub(crate) struct ModelRecordV1<T> {
    layers: Vec<LayerRecord<T>>,
    loss: LossRecord,
    l2: T,
    class_weights: Option<Vec<T>>,
    metadata: MetadataRecord,
}

#[derive(Serialize, Deserialize)]
struct LayerRecord<T> {
    n_inputs: u64,
    n_outputs: u64,
    activation: ActivationRecord,
    /// Θ, n_outputs × (n_inputs + 1), column-major: the biases first.
    theta: Vec<T>,
}

#[derive(Serialize, Deserialize)]
enum ActivationRecord {
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

#[derive(Serialize, Deserialize)]
enum LossRecord {
    MeanSquaredError,
    SoftmaxCrossEntropy,
    SigmoidBinaryCrossEntropy,
}

#[derive(Serialize, Deserialize)]
struct MetadataRecord {
    class_names: Vec<String>,
    extra: BTreeMap<String, String>,
}

// ---------------------------------------------------------------------------------------------
// Format version 2: the scale of the mean squared error.

/// The model of format version 2.
#[derive(Serialize, Deserialize)]
pub(crate) struct ModelRecordV2<T> {
    layers: Vec<LayerRecord<T>>,
    loss: LossRecord,
    l2: T,
    class_weights: Option<Vec<T>>,
    mse_scale: MseScaleRecord,
    metadata: MetadataRecord,
}

#[derive(Serialize, Deserialize)]
enum MseScaleRecord {
    HalfSum,
    HalfMean,
    Mean,
}

// ---------------------------------------------------------------------------------------------
// Conversions.

impl ActivationRecord {
    fn of(act: Activation) -> Self {
        // Exhaustive on purpose: a new activation needs a decision about the format.
        match act {
            Activation::Sigmoid => ActivationRecord::Sigmoid,
            Activation::Tanh => ActivationRecord::Tanh,
            Activation::Relu => ActivationRecord::Relu,
            Activation::LeakyRelu { alpha } => ActivationRecord::LeakyRelu { alpha },
            Activation::Elu { alpha } => ActivationRecord::Elu { alpha },
            Activation::Gelu => ActivationRecord::Gelu,
            Activation::GeluTanh => ActivationRecord::GeluTanh,
            Activation::Silu => ActivationRecord::Silu,
            Activation::Softplus => ActivationRecord::Softplus,
            Activation::Identity => ActivationRecord::Identity,
        }
    }

    fn get(self) -> Activation {
        match self {
            ActivationRecord::Sigmoid => Activation::Sigmoid,
            ActivationRecord::Tanh => Activation::Tanh,
            ActivationRecord::Relu => Activation::Relu,
            ActivationRecord::LeakyRelu { alpha } => Activation::LeakyRelu { alpha },
            ActivationRecord::Elu { alpha } => Activation::Elu { alpha },
            ActivationRecord::Gelu => Activation::Gelu,
            ActivationRecord::GeluTanh => Activation::GeluTanh,
            ActivationRecord::Silu => Activation::Silu,
            ActivationRecord::Softplus => Activation::Softplus,
            ActivationRecord::Identity => Activation::Identity,
        }
    }
}

impl LossRecord {
    fn of(loss: Loss) -> Self {
        match loss {
            Loss::MeanSquaredError => LossRecord::MeanSquaredError,
            Loss::SoftmaxCrossEntropy => LossRecord::SoftmaxCrossEntropy,
            Loss::SigmoidBinaryCrossEntropy => LossRecord::SigmoidBinaryCrossEntropy,
        }
    }

    fn get(self) -> Loss {
        match self {
            LossRecord::MeanSquaredError => Loss::MeanSquaredError,
            LossRecord::SoftmaxCrossEntropy => Loss::SoftmaxCrossEntropy,
            LossRecord::SigmoidBinaryCrossEntropy => Loss::SigmoidBinaryCrossEntropy,
        }
    }
}

impl MseScaleRecord {
    fn of(scale: MseScale) -> Result<Self, CheckpointError> {
        match scale {
            MseScale::HalfSum => Ok(MseScaleRecord::HalfSum),
            MseScale::HalfMean => Ok(MseScaleRecord::HalfMean),
            MseScale::Mean => Ok(MseScaleRecord::Mean),
            other => Err(CheckpointError::Encode {
                message: format!("the mean-squared-error scale {other} has no record"),
            }),
        }
    }

    fn get(self) -> MseScale {
        match self {
            MseScaleRecord::HalfSum => MseScale::HalfSum,
            MseScaleRecord::HalfMean => MseScale::HalfMean,
            MseScaleRecord::Mean => MseScale::Mean,
        }
    }
}

fn layer_records<T: StoredFloat>(net: &Network<T>) -> Vec<LayerRecord<T>> {
    net.layers()
        .iter()
        .map(|layer| LayerRecord {
            n_inputs: layer.n_inputs() as u64,
            n_outputs: layer.n_outputs() as u64,
            activation: ActivationRecord::of(layer.activation()),
            theta: layer.theta_col_major(),
        })
        .collect()
}

fn metadata_record(metadata: &ModelMetadata) -> MetadataRecord {
    MetadataRecord { class_names: metadata.class_names.clone(), extra: metadata.extra.clone() }
}

/// The network, through the constructors that check built networks, and its metadata.
fn build<T: Float>(
    layer_records: Vec<LayerRecord<T>>,
    loss: LossRecord,
    l2: T,
    class_weights: Option<Vec<T>>,
    mse_scale: MseScale,
    metadata: MetadataRecord,
) -> Result<Model<T>, CheckpointError> {
    let mut layers = Vec::with_capacity(layer_records.len().min(1024));
    for (layer_idx, layer) in layer_records.into_iter().enumerate() {
        let (n_inputs, n_outputs) =
            (size(layer.n_inputs, "n_inputs")?, size(layer.n_outputs, "n_outputs")?);
        // Dense checks the sizes (with checked products) before it reads Θ.
        let dense =
            Dense::from_theta_col_major(n_inputs, n_outputs, &layer.theta, layer.activation.get())
                .map_err(|e| CheckpointError::Invalid(at_layer(e, layer_idx)))?;
        layers.push(dense);
    }
    let invalid = CheckpointError::Invalid;
    let mut network = Network::new(layers, loss.get())
        .map_err(invalid)?
        .with_l2(l2.to_f64())
        .map_err(invalid)?
        .with_mse_scale(mse_scale)
        .map_err(invalid)?;
    if let Some(weights) = class_weights {
        network = network.with_class_weights(weights).map_err(invalid)?;
    }
    let metadata = ModelMetadata { class_names: metadata.class_names, extra: metadata.extra };
    check_class_names(&network, &metadata)?;
    Ok(Model { network, metadata })
}

impl<T: StoredFloat> ModelRecordV1<T> {
    /// The model.
    pub(crate) fn build(self) -> Result<Model<T>, CheckpointError> {
        let ModelRecordV1 { layers, loss, l2, class_weights, metadata } = self;
        build(layers, loss, l2, class_weights, MseScale::HalfSum, metadata)
    }
}

impl<T: StoredFloat> ModelRecordV2<T> {
    /// The record of `net` and `metadata`.
    pub(crate) fn of(net: &Network<T>, metadata: &ModelMetadata) -> Result<Self, CheckpointError> {
        Ok(ModelRecordV2 {
            layers: layer_records(net),
            loss: LossRecord::of(net.loss_kind()),
            l2: net.l2(),
            class_weights: net.class_weights().map(<[T]>::to_vec),
            mse_scale: MseScaleRecord::of(net.mse_scale())?,
            metadata: metadata_record(metadata),
        })
    }

    /// The model.
    pub(crate) fn build(self) -> Result<Model<T>, CheckpointError> {
        let ModelRecordV2 { layers, loss, l2, class_weights, mse_scale, metadata } = self;
        build(layers, loss, l2, class_weights, mse_scale.get(), metadata)
    }
}
