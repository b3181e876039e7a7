//! Training checkpoints: bit-exact round trips, resuming bit-identically, corruption, kinds,
//! precision, validation of the state, rotation.

use std::fs;
use std::path::PathBuf;

use nn_core::rng::uniform_f64;
use nn_core::{Activation, Float, Network};
use nn_io::{
    Checkpoint, CheckpointError, Error, FileKind, ModelMetadata, Precision, StoredFloat,
    decode_checkpoint, decode_model, encode_checkpoint, encode_model, load_checkpoint, load_model,
    save_checkpoint, save_checkpoint_rotating,
};
use nn_linalg::Mat;
use nn_train::metrics::ConfusionMatrix;
use nn_train::optim::OptimizerConfig;
use nn_train::schedule::Schedule;
use nn_train::{
    Control, Dataset, EarlyStopping, EpochReport, NoObserver, Observer, TrainConfig, Trainer,
};

use crate::support::{
    CHECKPOINT_MAGIC, CURRENT_VERSION, HEADER_LEN, TempDir, assert_same_network, bits, metadata,
    random_network, reseal, seal_version,
};

/// Blobs: `n` samples of 5 features in 3 classes, as columns.
fn blobs<T: Float>(n: usize, seed: u64) -> Dataset<T> {
    let mut rng = <nn_core::rng::ChaCha8Rng as nn_core::rng::SeedableRng>::seed_from_u64(seed);
    let labels: Vec<usize> = (0..n).map(|k| k % 3).collect();
    let x = Mat::<T>::from_fn(5, n, |i, j| {
        let center = if (i + labels[j]).is_multiple_of(3) { 1.5 } else { -0.5 };
        T::from_f64(center + uniform_f64(&mut rng) - 0.5)
    });
    Dataset::classification(x, labels, 3).unwrap()
}

/// Adam, dropout, a step schedule, validation and early stopping that keeps the best
/// parameters: every part of the state matters when resuming.
fn config() -> TrainConfig {
    TrainConfig::new(16, 0.01, OptimizerConfig::adam())
        .with_epochs(2)
        .with_dropout(0.25)
        .with_seed(5)
        .with_shards(2)
        .with_schedule(Schedule::Step { step_epochs: 1, gamma: 0.5 })
        .with_early_stopping(EarlyStopping::new(5))
}

/// A checkpoint after one epoch of training.
fn trained_checkpoint<T: StoredFloat>(seed: u64) -> Checkpoint<T> {
    let mut net = random_network::<T>(seed);
    let mut trainer = Trainer::new(&net, config().with_epochs(1)).unwrap();
    trainer.fit(&mut net, &blobs(40, seed), Some(&blobs(12, seed + 1)), &mut NoObserver).unwrap();
    Checkpoint::of(&net, &trainer, metadata(&["a", "b", "c"]))
}

fn state_bits<T: StoredFloat>(ckpt: &Checkpoint<T>) -> Vec<u64> {
    let opt = &ckpt.state.optimizer;
    opt.layers
        .iter()
        .flat_map(|l| l.momentum.iter().chain(&l.exp_avg).chain(&l.exp_avg_sq))
        .chain(ckpt.state.early_stopping.best_params.iter().flatten().flatten())
        .map(|v| v.to_bits_u64())
        .collect()
}

fn assert_same_checkpoint<T: StoredFloat>(a: &Checkpoint<T>, b: &Checkpoint<T>) {
    assert_same_network(&a.network, &b.network);
    assert_eq!(a.config, b.config);
    assert_eq!(a.state, b.state);
    assert_eq!(state_bits(a), state_bits(b));
    assert_eq!(a.metadata, b.metadata);
    assert_eq!(a, b);
}

#[test]
fn f32_and_f64_checkpoints_round_trip_bit_exactly() {
    let dir = TempDir::new("ckpt-round-trip");
    let ckpt = trained_checkpoint::<f32>(1);
    assert!(ckpt.state.early_stopping.best_params.is_some());
    assert!(ckpt.state.history[0].validation.as_ref().unwrap().confusion.is_some());
    let path = dir.join("c32.nnc");
    save_checkpoint(&path, &ckpt).unwrap();
    assert_same_checkpoint(&load_checkpoint::<f32>(&path).unwrap(), &ckpt);

    let ckpt = trained_checkpoint::<f64>(2);
    let path = dir.join("c64.nnc");
    save_checkpoint(&path, &ckpt).unwrap();
    assert_same_checkpoint(&load_checkpoint::<f64>(&path).unwrap(), &ckpt);
    assert_eq!(dir.names(), ["c32.nnc", "c64.nnc"]);
}

/// Saves a checkpoint after every epoch and stops after the first, as a CLI would on Ctrl-C.
struct SaveAndStop {
    path: PathBuf,
}

impl<T: StoredFloat> Observer<T> for SaveAndStop {
    fn on_epoch(&mut self, _: &EpochReport, net: &Network<T>, trainer: &Trainer<T>) -> Control {
        let ckpt = Checkpoint::of(net, trainer, ModelMetadata::default());
        save_checkpoint(&self.path, &ckpt).unwrap();
        Control::Stop
    }
}

/// What of an epoch report does not depend on the clock.
fn timeless(history: &[EpochReport]) -> Vec<EpochReport> {
    history
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r.seconds = 0.0;
            r.samples_per_s = 0.0;
            r
        })
        .collect()
}

fn resume_is_bit_identical<T: StoredFloat>() {
    let dir = TempDir::new("resume");
    let path = dir.join("run.nnc");
    let (train, val) = (blobs::<T>(70, 3), blobs::<T>(15, 4));
    let start = random_network::<T>(11);

    let mut straight = start.clone();
    let mut trainer = Trainer::new(&straight, config()).unwrap();
    trainer.fit(&mut straight, &train, Some(&val), &mut NoObserver).unwrap();
    assert_eq!(trainer.epoch(), 2);

    let mut first = start.clone();
    let report = Trainer::new(&first, config())
        .unwrap()
        .fit(&mut first, &train, Some(&val), &mut SaveAndStop { path: path.clone() })
        .unwrap();
    assert!(report.stopped_by_observer);
    assert_eq!(report.epochs_completed, 1);

    let ckpt = load_checkpoint::<T>(&path).unwrap();
    let mut resumed = ckpt.network;
    let mut second = Trainer::resume(&resumed, ckpt.config, ckpt.state).unwrap();
    assert_eq!(second.epoch(), 1);
    second.fit(&mut resumed, &train, Some(&val), &mut NoObserver).unwrap();

    assert_eq!(bits(&resumed), bits(&straight));
    assert_eq!(second.n_steps(), trainer.n_steps());
    assert_eq!(timeless(second.history()), timeless(trainer.history()));
    assert_eq!(second.state().optimizer, trainer.state().optimizer);
    assert_ne!(bits(&resumed), bits(&start));
}

#[test]
fn resuming_from_a_checkpoint_is_bit_identical_to_training_straight_through() {
    resume_is_bit_identical::<f32>();
    resume_is_bit_identical::<f64>();
}

#[test]
fn every_byte_flip_and_every_truncation_of_a_checkpoint_is_detected() {
    let bytes = encode_checkpoint(&trained_checkpoint::<f32>(5)).unwrap();
    assert!(bytes.len() > 1000, "a checkpoint with history: {} bytes", bytes.len());
    for i in 0..bytes.len() {
        for mask in [0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xff] {
            let mut flipped = bytes.clone();
            flipped[i] ^= mask;
            assert!(
                decode_checkpoint::<f32>(&flipped).is_err(),
                "flip {mask:#x} at byte {i} not detected"
            );
        }
    }
    for len in 0..bytes.len() {
        assert!(decode_checkpoint::<f32>(&bytes[..len]).is_err(), "truncation to {len} bytes");
    }
}

#[test]
fn load_model_reads_the_model_of_a_checkpoint() {
    let dir = TempDir::new("model-of-ckpt");
    let path = dir.join("run.nnc");
    let ckpt = trained_checkpoint::<f64>(6);
    save_checkpoint(&path, &ckpt).unwrap();
    let model = load_model(&path).unwrap();
    assert_eq!(model.metadata, ckpt.metadata);
    assert_eq!(model.network, nn_io::AnyNetwork::F64(ckpt.network.clone()));
    assert_same_network(&nn_io::load_model_as::<f64>(&path).unwrap().network, &ckpt.network);
}

#[test]
fn kind_and_precision_mismatches_are_typed_errors() {
    let dir = TempDir::new("kinds");
    let model_path = dir.join("m.nnm");
    nn_io::save_model(&model_path, &random_network::<f32>(1), &ModelMetadata::default()).unwrap();
    let err = load_checkpoint::<f32>(&model_path).unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Checkpoint {
                kind: CheckpointError::WrongKind {
                    expected: FileKind::Checkpoint,
                    found: FileKind::Model
                },
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("this is a model file, expected a training checkpoint"),
        "{err}"
    );

    let ckpt_path = dir.join("c.nnc");
    save_checkpoint(&ckpt_path, &trained_checkpoint::<f32>(2)).unwrap();
    let err = load_checkpoint::<f64>(&ckpt_path).unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Checkpoint {
                kind: CheckpointError::WrongPrecision {
                    expected: Precision::F64,
                    found: Precision::F32
                },
                ..
            }
        ),
        "{err}"
    );
}

/// The bytes of a checkpoint whose model section is `model`'s and whose training section is
/// `training`'s: the checksum is valid, the content inconsistent.
fn spliced(model: &Checkpoint<f32>, training: &Checkpoint<f32>) -> Vec<u8> {
    let section =
        |c: &Checkpoint<f32>| encode_model(&c.network, &c.metadata).unwrap()[HEADER_LEN..].to_vec();
    let full = encode_checkpoint(training).unwrap();
    let training_section = &full[HEADER_LEN + section(training).len()..];
    seal_version(
        CHECKPOINT_MAGIC,
        CURRENT_VERSION,
        &[section(model).as_slice(), training_section].concat(),
    )
}

#[test]
fn a_state_that_does_not_fit_the_network_is_rejected_on_save_and_on_load() {
    let ckpt = trained_checkpoint::<f32>(7);
    let mut other = ckpt.clone();
    other.network = Network::builder(5, nn_core::Loss::SoftmaxCrossEntropy)
        .layer(6, Activation::Relu)
        .layer(3, Activation::Identity)
        .build(&mut <nn_core::rng::ChaCha8Rng as nn_core::rng::SeedableRng>::seed_from_u64(1))
        .unwrap();
    // Saving refuses it.
    let err = encode_checkpoint(&other).unwrap_err();
    assert!(
        matches!(err, CheckpointError::InvalidState(nn_train::Error::StateSize { .. })),
        "{err}"
    );
    // A file that holds it anyway (the checksum is right) does not load.
    let bytes = spliced(&other, &ckpt);
    let err = decode_checkpoint::<f32>(&bytes).unwrap_err();
    assert!(matches!(err, CheckpointError::InvalidState(_)), "{err}");
    assert!(err.to_string().starts_with("invalid training state"), "{err}");
    // Its model alone is fine.
    assert!(decode_model(&bytes).is_ok());
    // The spliced file of matching parts loads: the test's splicing is right.
    assert_eq!(decode_checkpoint::<f32>(&spliced(&ckpt, &ckpt)).unwrap(), ckpt);
}

#[test]
fn an_invalid_configuration_is_rejected() {
    let mut ckpt = trained_checkpoint::<f32>(8);
    ckpt.config.batch_size = 0;
    let err = encode_checkpoint(&ckpt).unwrap_err();
    assert!(
        matches!(
            err,
            CheckpointError::InvalidState(nn_train::Error::InvalidHyperparameter {
                name: "batch_size",
                ..
            })
        ),
        "{err}"
    );
    let mut ckpt = trained_checkpoint::<f32>(8);
    ckpt.config.dropout = vec![0.1, 0.2, 0.3];
    let err = encode_checkpoint(&ckpt).unwrap_err();
    assert!(
        matches!(
            err,
            CheckpointError::InvalidState(nn_train::Error::Core(nn_core::Error::DropoutRates {
                expected: 2,
                found: 3
            }))
        ),
        "{err}"
    );
    let mut ckpt = trained_checkpoint::<f32>(8);
    ckpt.state.optimizer.layers[0].exp_avg_sq[0] = -1.0;
    assert!(matches!(encode_checkpoint(&ckpt), Err(CheckpointError::InvalidState(_))));
    let mut ckpt = trained_checkpoint::<f32>(8);
    ckpt.state.schedule.lr = f64::NAN;
    assert!(matches!(encode_checkpoint(&ckpt), Err(CheckpointError::InvalidState(_))));
    let mut ckpt = trained_checkpoint::<f32>(8);
    ckpt.state.early_stopping.best_params.as_mut().unwrap()[1][0] = f32::NAN;
    assert!(matches!(encode_checkpoint(&ckpt), Err(CheckpointError::InvalidState(_))));
}

#[test]
fn a_confusion_matrix_whose_counts_do_not_fit_its_classes_is_rejected() {
    // A confusion matrix of 3 classes with the distinctive counts 21..=29, found in the bytes
    // (n_classes, the count of counts, the counts: one varint byte each), then made to claim 2
    // classes: 9 counts for 2 classes would make its accessors index out of bounds.
    let mut ckpt = trained_checkpoint::<f32>(9);
    let (mut truth, mut predicted) = (vec![], vec![]);
    for (k, count) in (21..=29).enumerate() {
        for _ in 0..count {
            truth.push(k / 3);
            predicted.push(k % 3);
        }
    }
    let confusion = ConfusionMatrix::from_predictions(&truth, &predicted, 3).unwrap();
    ckpt.state.history[0].validation.as_mut().unwrap().confusion = Some(confusion);
    let bytes = encode_checkpoint(&ckpt).unwrap();
    let pattern: Vec<u8> = [3u8, 9].into_iter().chain(21..=29).collect();
    let at = bytes.windows(pattern.len()).position(|w| w == pattern).unwrap();
    let mut cut = bytes.clone();
    cut[at] = 2;
    let err = decode_checkpoint::<f32>(&reseal(&cut)).unwrap_err();
    // The record is rebuilt through `ConfusionMatrix::from_counts`, which checks the counts.
    assert_eq!(
        err,
        CheckpointError::InvalidState(nn_train::Error::Core(nn_core::Error::ParameterCount {
            expected: 4,
            found: 9
        }))
    );
}

#[test]
fn rotation_keeps_the_last_checkpoints_and_they_all_load() {
    let dir = TempDir::new("rotation");
    let path = dir.join("run.nnc");
    let ckpts: Vec<Checkpoint<f32>> = (0..5).map(|s| trained_checkpoint::<f32>(20 + s)).collect();
    for c in &ckpts {
        save_checkpoint_rotating(&path, c, 3).unwrap();
    }
    assert_eq!(dir.names(), ["run.nnc", "run.nnc.1", "run.nnc.2"]);
    assert_eq!(load_checkpoint::<f32>(&path).unwrap(), ckpts[4]);
    assert_eq!(load_checkpoint::<f32>(dir.join("run.nnc.1")).unwrap(), ckpts[3]);
    assert_eq!(load_checkpoint::<f32>(dir.join("run.nnc.2")).unwrap(), ckpts[2]);
    // A failed save (the state does not fit) leaves every file as it was.
    let before: Vec<Vec<u8>> = dir.names().iter().map(|n| fs::read(dir.join(n)).unwrap()).collect();
    let mut bad = ckpts[0].clone();
    bad.config.learning_rate = -1.0;
    assert!(save_checkpoint_rotating(&path, &bad, 3).is_err());
    let after: Vec<Vec<u8>> = dir.names().iter().map(|n| fs::read(dir.join(n)).unwrap()).collect();
    assert_eq!(before, after);
}
