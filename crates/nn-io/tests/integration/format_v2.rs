//! An independent transcription of the model payload of format version 2, from its
//! documentation: version 1's model record with the scale of the mean squared error after the
//! class weights. The writer must produce exactly these bytes.

use serde::Serialize;

use nn_core::{Activation, Dense, Loss, MseScale, Network};
use nn_io::{ModelMetadata, encode_model};

use crate::format_v1::{ActivationRecord, LayerRecord, LossRecord, MetadataRecord, payload};
use crate::support::{HEADER_LEN, MODEL_MAGIC, MODEL_VERSION, seal_version};

#[derive(Serialize)]
pub(crate) struct ModelRecord<T> {
    pub(crate) layers: Vec<LayerRecord<T>>,
    pub(crate) loss: LossRecord,
    pub(crate) l2: T,
    pub(crate) class_weights: Option<Vec<T>>,
    pub(crate) mse_scale: MseScaleRecord,
    pub(crate) metadata: MetadataRecord,
}

#[derive(Serialize, Clone, Copy)]
#[allow(dead_code, reason = "the variants are the format's, whether a test uses them or not")]
pub(crate) enum MseScaleRecord {
    HalfSum,
    HalfMean,
    Mean,
}

#[test]
fn the_writer_writes_the_documented_version_2_layout() {
    let theta: Vec<f32> = (0..8).map(|k| k as f32 / 4.0 - 1.0).collect();
    let layer = Dense::from_theta_col_major(3, 2, &theta, Activation::Identity).unwrap();
    let net = Network::new(vec![layer], Loss::MeanSquaredError)
        .unwrap()
        .with_l2(0.5)
        .unwrap()
        .with_mse_scale(MseScale::Mean)
        .unwrap();
    let metadata = ModelMetadata::default();
    let record = ModelRecord {
        layers: vec![LayerRecord {
            n_inputs: 3,
            n_outputs: 2,
            activation: ActivationRecord::Identity,
            theta,
        }],
        loss: LossRecord::MeanSquaredError,
        l2: 0.5f32,
        class_weights: None,
        mse_scale: MseScaleRecord::Mean,
        metadata: MetadataRecord::default(),
    };
    let expected = seal_version(MODEL_MAGIC, MODEL_VERSION, &payload(0, &record));
    let written = encode_model(&net, &metadata).unwrap();
    assert_eq!(written[..HEADER_LEN], expected[..HEADER_LEN], "header");
    assert_eq!(written, expected, "the version 2 model record changed");
}
