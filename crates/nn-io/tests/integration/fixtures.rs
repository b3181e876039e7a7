//! Every format version ever written stays readable: `tests/fixtures/` holds a file of each kind,
//! precision and version, and each must load with exactly the values it was written from.
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

use nn_core::{Activation, Loss, Network};
use nn_io::{AnyNetwork, ModelMetadata, StoredFloat, decode_model, decode_model_as, encode_model};

use crate::support::{assert_same_network, exact_network};

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

fn check_model<T: StoredFloat>(name: &str, (net, metadata): (Network<T>, ModelMetadata)) {
    let current = encode_model(&net, &metadata).unwrap();
    let bytes = fixture(name, &current);
    let model = decode_model_as::<T>(&bytes).unwrap();
    assert_same_network(&model.network, &net);
    assert_eq!(model.metadata, metadata);
    // While version 1 is the current version, the writer reproduces it byte for byte.
    assert_eq!(bytes, current, "{name}: the writer no longer writes format version 1");
}

#[test]
fn model_v1_fixtures_load_with_their_values() {
    check_model("model-v1-f32.nnm", model_f32());
    check_model("model-v1-f64.nnm", model_f64());
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

#[cfg(feature = "train")]
mod train {
    use nn_io::{Checkpoint, decode_checkpoint, encode_checkpoint};
    use nn_train::metrics::{ConfusionMatrix, Evaluation};
    use nn_train::optim::{LayerState, OptimizerConfig, OptimizerState};
    use nn_train::schedule::{Schedule, ScheduleState};
    use nn_train::{
        EarlyStopping, EarlyStoppingState, EpochReport, RngState, TrainConfig, TrainerState,
    };

    use super::*;

    /// The checkpoint of `checkpoint-v1-{f32,f64}.nnc`, built field by field (no training, so
    /// the values do not depend on floating-point arithmetic): the model of `model-v1-f32.nnm`
    /// in `T`, Adam, dropout, early stopping with the best parameters, two epochs of history
    /// with a confusion matrix.
    pub(crate) fn checkpoint<T: StoredFloat>() -> Checkpoint<T> {
        let (net, metadata) = model_f32();
        let network: Network<T> = net.cast();
        let config = TrainConfig::new(4, 0.5, OptimizerConfig::adam())
            .with_epochs(5)
            .with_dropout(0.25)
            .with_seed(42)
            .with_schedule(Schedule::Constant)
            .with_early_stopping(EarlyStopping { patience: 3, min_delta: 0.0, restore_best: true });
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
        let report = |epoch: usize, loss: f64| EpochReport {
            epoch,
            train_loss: loss,
            train_accuracy: Some(0.75),
            validation: Some(Evaluation {
                n_samples: 6,
                loss: loss + 0.125,
                accuracy: Some(0.5),
                top5_accuracy: Some(1.0),
                confusion: Some(
                    ConfusionMatrix::from_predictions(&[0, 1, 1, 0, 1, 0], &[0, 1, 0, 0, 1, 1], 2)
                        .unwrap(),
                ),
                mse: None,
                mae: None,
            }),
            learning_rate: 0.5,
            seconds: 0.25,
            samples_per_s: 24.0,
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
            history: vec![report(0, 0.875), report(1, 0.625)],
            early_stopping: EarlyStoppingState {
                best_loss: 0.75,
                best_epoch: Some(1),
                bad_epochs: 0,
                best_params: Some(params),
            },
        };
        Checkpoint { network, config, state, metadata }
    }

    fn check_checkpoint<T: StoredFloat>(name: &str) {
        let expected = checkpoint::<T>();
        let current = encode_checkpoint(&expected).unwrap();
        let bytes = fixture(name, &current);
        let loaded = decode_checkpoint::<T>(&bytes).unwrap();
        assert_same_network(&loaded.network, &expected.network);
        assert_eq!(loaded, expected);
        // The model of a checkpoint loads as a model.
        assert_same_network(&decode_model_as::<T>(&bytes).unwrap().network, &expected.network);
        assert_eq!(bytes, current, "{name}: the writer no longer writes format version 1");
    }

    #[test]
    fn checkpoint_v1_fixtures_load_with_their_values() {
        check_checkpoint::<f32>("checkpoint-v1-f32.nnc");
        check_checkpoint::<f64>("checkpoint-v1-f64.nnc");
    }
}
