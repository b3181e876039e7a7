//! Every format version ever written stays readable: `tests/fixtures/` holds a file of each kind,
//! precision and version, and each must load with exactly the values it was written from.
//!
//! Fixtures of older versions only load; those of the current version (2 for model files, 3
//! for checkpoints) must also be written byte for byte by today's writer, so any change to the
//! current records fails this test (a change is a new format version, not an edit of this
//! one).
//!
//! The files are written once, by this test, when a format version is introduced:
//! ```sh
//! NN_IO_WRITE_FIXTURES=1 cargo test -p nn-io --all-features --test integration fixtures
//! ```
//! writes the fixtures that do not exist yet and never overwrites one: the files of a released
//! version must never change. Commit the new files. (See `tests/fixtures/README.md`.)

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use nn_core::{Activation, Loss, MseScale, Network};
use nn_io::{AnyNetwork, ModelMetadata, StoredFloat, decode_model, decode_model_as, encode_model};

use crate::support::{MODEL_VERSION, assert_same_network, exact_network};

const WRITE_VAR: &str = "NN_IO_WRITE_FIXTURES";

fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// The bytes of fixture `name`; with `NN_IO_WRITE_FIXTURES` set, writes `current` there first
/// if the file does not exist.
fn fixture(name: &str, current: &[u8]) -> Vec<u8> {
    let path = fixture_path(name);
    if std::env::var_os(WRITE_VAR).is_some() && !path.exists() {
        fs::write(&path, current).unwrap();
    }
    fs::read(&path).unwrap_or_else(|e| {
        panic!("{}: {e} (set {WRITE_VAR}=1 to write a missing fixture)", path.display())
    })
}

/// The f32 model of `model-v1-f32.nnm`: 3-4-2, leaky ReLU (α = 0.125), softmax cross-entropy,
/// λ = 0.25, class weights, class names and a free-form entry.
pub(crate) fn model_f32() -> (Network<f32>, ModelMetadata) {
    let net = exact_network::<f32>(
        &[3, 4, 2],
        Activation::LeakyRelu { alpha: 0.125 },
        Loss::SoftmaxCrossEntropy,
    )
    .with_l2(0.25)
    .unwrap()
    .with_class_weights(vec![1.0, 2.0])
    .unwrap();
    let metadata = ModelMetadata {
        class_names: vec!["left".to_owned(), "right".to_owned()],
        extra: BTreeMap::from([("command".to_owned(), "nn train --epochs 5".to_owned())]),
    };
    (net, metadata)
}

/// The f64 model of `model-v1-f64.nnm`: 2-3-1, ELU (α = 0.5), sigmoid binary cross-entropy, no
/// penalty, two class names for the single output.
pub(crate) fn model_f64() -> (Network<f64>, ModelMetadata) {
    let net = exact_network::<f64>(
        &[2, 3, 1],
        Activation::Elu { alpha: 0.5 },
        Loss::SigmoidBinaryCrossEntropy,
    );
    let metadata = ModelMetadata {
        class_names: vec!["no".to_owned(), "yes".to_owned()],
        extra: BTreeMap::new(),
    };
    (net, metadata)
}

/// The f64 model of `model-v2-f64.nnm`: 2-3-2, tanh, mean squared error with scikit-learn's
/// scale (`MseScale::HalfMean`, new in version 2), λ = 0.125, no class names.
pub(crate) fn model_v2_f64() -> (Network<f64>, ModelMetadata) {
    let net = exact_network::<f64>(&[2, 3, 2], Activation::Tanh, Loss::MeanSquaredError)
        .with_l2(0.125)
        .unwrap()
        .with_mse_scale(MseScale::HalfMean)
        .unwrap();
    let metadata = ModelMetadata {
        class_names: vec![],
        extra: BTreeMap::from([("target".to_owned(), "y1,y2".to_owned())]),
    };
    (net, metadata)
}

/// The version of a fixture file's header.
fn version_of(bytes: &[u8]) -> u32 {
    u32::from_le_bytes(bytes[8..12].try_into().unwrap())
}

/// Loads fixture `name` (of format `version`) and compares it with `net` and `metadata`; for the
/// current version, also compares the writer's bytes with the file's.
fn check_model<T: StoredFloat>(
    name: &str,
    version: u32,
    (net, metadata): (Network<T>, ModelMetadata),
) {
    let current = encode_model(&net, &metadata).unwrap();
    let bytes = fixture(name, &current);
    assert_eq!(version_of(&bytes), version, "{name}");
    let model = decode_model_as::<T>(&bytes).unwrap();
    assert_same_network(&model.network, &net);
    assert_eq!(model.metadata, metadata);
    if version == MODEL_VERSION {
        assert_eq!(bytes, current, "{name}: the writer no longer writes format version {version}");
    }
}

#[test]
fn model_v1_fixtures_load_with_their_values() {
    check_model("model-v1-f32.nnm", 1, model_f32());
    check_model("model-v1-f64.nnm", 1, model_f64());
    // Spot checks by value, independent of the helpers that built the expected networks.
    let loaded = decode_model(&fs::read(fixture_path("model-v1-f32.nnm")).unwrap()).unwrap();
    let AnyNetwork::F32(net) = loaded.network else { panic!("not f32") };
    assert_eq!(net.sizes(), [3, 4, 2]);
    assert_eq!(net.layers()[0].theta_col_major()[..3], [-0.5, -0.375, -0.25]);
    assert_eq!(net.layers()[1].theta_col_major()[9], (9.0 - 3.0) / 8.0 - 0.5);
    assert_eq!(net.layers()[0].activation(), Activation::LeakyRelu { alpha: 0.125 });
    assert_eq!((net.l2(), net.class_weights()), (0.25, Some(&[1.0, 2.0][..])));
    assert_eq!(loaded.metadata.extra["command"], "nn train --epochs 5");
}

#[test]
fn model_v2_fixtures_load_with_their_values_and_are_what_the_writer_writes() {
    check_model("model-v2-f32.nnm", 2, model_f32());
    check_model("model-v2-f64.nnm", 2, model_v2_f64());
    let loaded = decode_model(&fs::read(fixture_path("model-v2-f64.nnm")).unwrap()).unwrap();
    let AnyNetwork::F64(net) = loaded.network else { panic!("not f64") };
    assert_eq!(net.mse_scale(), MseScale::HalfMean);
    assert_eq!(net.layers()[1].theta_col_major()[0], (0.0 - 3.0) / 8.0 - 0.5);
    // A version-1 model is read with the derivation's scale, the only one version 1 had.
    let v1 = decode_model(&fs::read(fixture_path("model-v1-f64.nnm")).unwrap()).unwrap();
    let AnyNetwork::F64(net) = v1.network else { panic!("not f64") };
    assert_eq!(net.mse_scale(), MseScale::HalfSum);
}

#[cfg(feature = "train")]
pub(crate) mod train {
    use nn_core::metrics::{MultilabelMetrics, RegressionMetrics};
    use nn_io::{Checkpoint, decode_checkpoint, encode_checkpoint};
    use nn_train::metrics::{ConfusionMatrix, Evaluation};
    use nn_train::optim::{LayerState, OptimizerConfig, OptimizerState};
    use nn_train::schedule::{Schedule, ScheduleState};
    use nn_train::{
        EarlyStopping, EarlyStoppingState, EpochProgress, EpochReport, RandomShift, RngState,
        TrainConfig, TrainerState,
    };

    use super::*;
    use crate::support::CHECKPOINT_VERSION;

    fn report(epoch: usize, loss: f64, validation: Evaluation) -> EpochReport {
        let mut r = EpochReport::default();
        r.epoch = epoch;
        r.train_loss = loss;
        r.train_accuracy = Some(0.75);
        r.validation = Some(validation);
        r.learning_rate = 0.5;
        r.seconds = 0.25;
        r.samples_per_s = 24.0;
        r
    }

    fn classification(loss: f64) -> Evaluation {
        let mut e = Evaluation::default();
        e.n_samples = 6;
        e.loss = loss;
        e.accuracy = Some(0.5);
        e.top5_accuracy = Some(1.0);
        e.confusion = Some(
            ConfusionMatrix::from_predictions(&[0, 1, 1, 0, 1, 0], &[0, 1, 0, 0, 1, 1], 2).unwrap(),
        );
        e
    }

    /// The checkpoint of `checkpoint-v1-{f32,f64}.nnc`, built field by field (no training, so
    /// the values do not depend on floating-point arithmetic): the model of `model-v1-f32.nnm`
    /// in `T`, Adam, dropout, early stopping with the best parameters, two epochs of history
    /// with a confusion matrix.
    pub(crate) fn checkpoint<T: StoredFloat>() -> Checkpoint<T> {
        checkpoint_of(model_f32())
    }

    /// [`checkpoint`]'s content for the f32 model `net` (in `T`).
    fn checkpoint_of<T: StoredFloat>(
        (net, metadata): (Network<f32>, ModelMetadata),
    ) -> Checkpoint<T> {
        let network: Network<T> = net.cast();
        let config = TrainConfig::new(4, 0.5, OptimizerConfig::adam())
            .with_epochs(5)
            .with_dropout(0.25)
            .with_seed(42)
            .with_schedule(Schedule::Constant)
            .with_early_stopping(EarlyStopping::new(3));
        let params: Vec<Vec<T>> =
            network.layers().iter().map(nn_core::Dense::theta_col_major).collect();
        let optimizer = OptimizerState {
            step: 6,
            layers: params
                .iter()
                .map(|p| LayerState {
                    momentum: vec![],
                    exp_avg: (0..p.len()).map(|k| T::from_f64(k as f64 / 16.0 - 1.0)).collect(),
                    exp_avg_sq: (0..p.len()).map(|k| T::from_f64(k as f64 / 32.0)).collect(),
                })
                .collect(),
        };
        let state = TrainerState {
            epoch: 2,
            step: 6,
            optimizer,
            schedule: ScheduleState {
                epoch: 2,
                step: 6,
                lr: 0.5,
                best: None,
                bad_epochs: 0,
                cooldown_counter: 0,
            },
            shuffle_rng: RngState { seed: [7; 32], stream: 3, word_pos: 1234 },
            history: vec![
                report(0, 0.875, classification(1.0)),
                report(1, 0.625, classification(0.75)),
            ],
            early_stopping: EarlyStoppingState {
                best_loss: 0.75,
                best_epoch: Some(1),
                bad_epochs: 0,
                best_params: Some(params),
            },
            epoch_progress: None,
            random_shift: None,
            label_smoothing: 0.0,
        };
        Checkpoint { network, config, state, metadata }
    }

    /// The checkpoint of `checkpoint-v2-{f32,f64}.nnc`: version 1's, with what version 2 adds:
    /// AdamW with a clipping norm and per-layer dropout, history entries with regression and
    /// multi-label metrics, and an epoch stopped after 2 of its batches.
    pub(crate) fn checkpoint_v2<T: StoredFloat>() -> Checkpoint<T> {
        with_v2_content(checkpoint::<T>())
    }

    /// `ckpt` with what version 2 adds (see [`checkpoint_v2`]).
    fn with_v2_content<T: StoredFloat>(mut ckpt: Checkpoint<T>) -> Checkpoint<T> {
        ckpt.config = ckpt
            .config
            .with_optimizer(OptimizerConfig::adamw().with_weight_decay(0.25).with_betas(0.5, 0.75))
            .with_dropout_rates(vec![0.125])
            .with_clip_norm(2.0)
            .with_shards(3)
            .with_schedule(Schedule::Cosine { t_max_epochs: 8, eta_min: 0.0625 });
        // Stored as is (a closed-form schedule's rate is recomputed on resume).
        ckpt.state.schedule.lr = 0.4375;
        let mut regression = RegressionMetrics::default();
        regression.n_samples = 6;
        regression.mse = 0.25;
        regression.rmse = 0.5;
        regression.mae = 0.375;
        regression.r2 = 0.875;
        regression.mse_per_output = vec![0.25];
        regression.r2_per_output = vec![0.875];
        let mut multilabel = MultilabelMetrics::default();
        multilabel.n_samples = 6;
        multilabel.subset_accuracy = 0.5;
        multilabel.hamming_loss = 0.125;
        multilabel.micro_precision = 0.75;
        multilabel.micro_recall = 0.625;
        multilabel.micro_f1 = 0.6875;
        multilabel.macro_f1 = 0.5;
        if let Some(v) = ckpt.state.history[0].validation.as_mut() {
            v.regression = Some(regression);
        }
        if let Some(v) = ckpt.state.history[1].validation.as_mut() {
            v.multilabel = Some(multilabel);
        }
        ckpt.state.epoch_progress = Some(EpochProgress {
            shuffle_rng: RngState { seed: [9; 32], stream: 0, word_pos: 64 },
            n_samples: 10,
            batches_done: 2,
            loss_sum: 6.5,
            correct: 5,
            seconds: 0.5,
        });
        ckpt
    }

    /// The model of `checkpoint-v3-{f32,f64}.nnc`: [`model_f32`]'s with 6 inputs (images of
    /// 2 × 3 pixels, which can be shifted).
    fn model_v3() -> (Network<f32>, ModelMetadata) {
        let net = exact_network::<f32>(
            &[6, 4, 2],
            Activation::LeakyRelu { alpha: 0.125 },
            Loss::SoftmaxCrossEntropy,
        )
        .with_l2(0.25)
        .unwrap()
        .with_class_weights(vec![1.0, 2.0])
        .unwrap();
        (net, model_f32().1)
    }

    /// The checkpoint of `checkpoint-v3-{f32,f64}.nnc`: version 2's content on [`model_v3`],
    /// with what version 3 adds: random shifts of 2 × 3 images by up to 1 pixel and label
    /// smoothing 0.125, in the configuration and in the state.
    pub(crate) fn checkpoint_v3<T: StoredFloat>() -> Checkpoint<T> {
        let mut ckpt = with_v2_content(checkpoint_of::<T>(model_v3()));
        let shift = RandomShift::new(2, 3, 1).unwrap();
        ckpt.config = ckpt.config.with_random_shift(shift).with_label_smoothing(0.125);
        ckpt.state.random_shift = Some(shift);
        ckpt.state.label_smoothing = 0.125;
        ckpt
    }

    fn check_checkpoint<T: StoredFloat>(name: &str, version: u32, expected: &Checkpoint<T>) {
        let current = encode_checkpoint(expected).unwrap();
        let bytes = fixture(name, &current);
        assert_eq!(version_of(&bytes), version, "{name}");
        let loaded = decode_checkpoint::<T>(&bytes).unwrap();
        assert_same_network(&loaded.network, &expected.network);
        assert_eq!(&loaded, expected);
        // The model of a checkpoint loads as a model.
        assert_same_network(&decode_model_as::<T>(&bytes).unwrap().network, &expected.network);
        if version == CHECKPOINT_VERSION {
            assert_eq!(
                bytes, current,
                "{name}: the writer no longer writes format version {version}"
            );
        }
    }

    #[test]
    fn checkpoint_v1_fixtures_load_with_their_values() {
        check_checkpoint::<f32>("checkpoint-v1-f32.nnc", 1, &checkpoint());
        check_checkpoint::<f64>("checkpoint-v1-f64.nnc", 1, &checkpoint());
    }

    #[test]
    fn checkpoint_v2_fixtures_load_with_their_values() {
        check_checkpoint::<f32>("checkpoint-v2-f32.nnc", 2, &checkpoint_v2());
        check_checkpoint::<f64>("checkpoint-v2-f64.nnc", 2, &checkpoint_v2());
        // Version 2 stored no random shifts or label smoothing: they load as off.
        let loaded =
            decode_checkpoint::<f32>(&fs::read(fixture_path("checkpoint-v2-f32.nnc")).unwrap())
                .unwrap();
        assert_eq!((loaded.config.random_shift, loaded.config.label_smoothing), (None, 0.0));
        assert_eq!((loaded.state.random_shift, loaded.state.label_smoothing), (None, 0.0));
    }

    #[test]
    fn checkpoint_v3_fixtures_load_with_their_values_and_are_what_the_writer_writes() {
        check_checkpoint::<f32>("checkpoint-v3-f32.nnc", 3, &checkpoint_v3());
        check_checkpoint::<f64>("checkpoint-v3-f64.nnc", 3, &checkpoint_v3());
        // Spot checks by value, independent of the helpers that built the expected checkpoint.
        let loaded =
            decode_checkpoint::<f64>(&fs::read(fixture_path("checkpoint-v3-f64.nnc")).unwrap())
                .unwrap();
        let shift = loaded.config.random_shift.unwrap();
        assert_eq!((shift.height(), shift.width(), shift.max_shift()), (2, 3, 1));
        assert_eq!(loaded.config.label_smoothing, 0.125);
        assert_eq!(loaded.state.random_shift, Some(shift));
        assert_eq!(loaded.state.label_smoothing, 0.125);
        assert_eq!(loaded.network.sizes(), [6, 4, 2]);
        assert_eq!(loaded.config.dropout, [0.125]);
        assert_eq!(loaded.state.epoch_progress.unwrap().batches_done, 2);
    }
}
