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
    BatchReport, Control, Dataset, EarlyStopping, EpochReport, NoObserver, Observer, RandomShift,
    TrainConfig, Trainer,
};

use crate::support::{
    CHECKPOINT_MAGIC, CHECKPOINT_VERSION, HEADER_LEN, TempDir, assert_same_network, bits, metadata,
    random_network, reseal, seal_version,
};

/// Blobs: `n` samples of 5 features in 3 classes, as columns.
fn blobs<T: Float>(n: usize, seed: u64) -> Dataset<T> {
    blobs_of(n, 5, seed)
}

/// Blobs: `n` samples of `n_features` features in 3 classes, as columns.
fn blobs_of<T: Float>(n: usize, n_features: usize, seed: u64) -> Dataset<T> {
    let mut rng = <nn_core::rng::ChaCha8Rng as nn_core::rng::SeedableRng>::seed_from_u64(seed);
    let labels: Vec<usize> = (0..n).map(|k| k % 3).collect();
    let x = Mat::<T>::from_fn(n_features, n, |i, j| {
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
        CHECKPOINT_VERSION,
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

/// Stops training after batch `stop_after` of epoch `epoch`.
struct StopAt {
    epoch: usize,
    stop_after: usize,
}

impl<T: StoredFloat> Observer<T> for StopAt {
    fn on_batch(&mut self, b: &BatchReport) -> Control {
        if b.epoch == self.epoch && b.batch_idx == self.stop_after {
            Control::Stop
        } else {
            Control::Continue
        }
    }
}

/// [`config`] without early stopping (whose `restore_best` puts the best epoch's parameters
/// back when `fit` returns, so a run stopped in the middle of an epoch is checkpointed here
/// without it).
fn plain_config() -> TrainConfig {
    TrainConfig::new(16, 0.01, OptimizerConfig::adam())
        .with_epochs(3)
        .with_dropout(0.25)
        .with_seed(5)
        .with_shards(2)
        .with_schedule(Schedule::Step { step_epochs: 1, gamma: 0.5 })
}

/// Random shifts of 3 × 4 images by up to 1 pixel and label smoothing 0.1, with
/// [`plain_config`]'s dropout, Adam and schedule.
fn augmented_config() -> TrainConfig {
    plain_config().with_random_shift(RandomShift::new(3, 4, 1).unwrap()).with_label_smoothing(0.1)
}

/// A network for 3 × 4 images in 3 classes.
fn image_network<T: Float>(seed: u64) -> Network<T> {
    Network::builder(12, nn_core::Loss::SoftmaxCrossEntropy)
        .layer(9, Activation::Tanh)
        .layer(3, Activation::Identity)
        .build(&mut <nn_core::rng::ChaCha8Rng as nn_core::rng::SeedableRng>::seed_from_u64(seed))
        .unwrap()
}

fn resume_with_shifts_and_smoothing_is_bit_identical<T: StoredFloat>() {
    let dir = TempDir::new("resume-augmented");
    let path = dir.join("run.nnc");
    let (train, val) = (blobs_of::<T>(70, 12, 3), blobs_of::<T>(15, 12, 4));
    let start = image_network::<T>(11);
    let mut straight = start.clone();
    let mut trainer = Trainer::new(&straight, augmented_config()).unwrap();
    trainer.fit(&mut straight, &train, Some(&val), &mut NoObserver).unwrap();

    // Stopped and saved after 7 steps (5 batches an epoch), in the middle of the second epoch.
    let mut first = start.clone();
    let mut stopped = Trainer::new(&first, augmented_config()).unwrap();
    stopped.fit(&mut first, &train, Some(&val), &mut StopAt { epoch: 1, stop_after: 1 }).unwrap();
    assert_eq!(stopped.n_steps(), 7);
    save_checkpoint(&path, &Checkpoint::of(&first, &stopped, ModelMetadata::default())).unwrap();

    let ckpt = load_checkpoint::<T>(&path).unwrap();
    assert_eq!(ckpt.config.random_shift, Some(RandomShift::new(3, 4, 1).unwrap()));
    assert_eq!(ckpt.config.label_smoothing, 0.1);
    // Resumed with the checkpoint's configuration, and with one of the caller's that does not
    // set the two options again (a library user's): both continue as the run would have.
    let own = plain_config();
    for (name, config) in [("the checkpoint's", ckpt.config.clone()), ("the caller's", own)] {
        let mut resumed = ckpt.network.clone();
        let mut second = Trainer::resume(&resumed, config, ckpt.state.clone()).unwrap();
        second.fit(&mut resumed, &train, Some(&val), &mut NoObserver).unwrap();
        assert_eq!(bits(&resumed), bits(&straight), "resumed with {name} configuration");
        assert_eq!(second.state().optimizer, trainer.state().optimizer, "{name}");
        assert_eq!(timeless(second.history()), timeless(trainer.history()), "{name}");
    }
    // Without the options, the run would have continued otherwise: the test can fail.
    let mut state = ckpt.state.clone();
    (state.random_shift, state.label_smoothing) = (None, 0.0);
    let mut resumed = ckpt.network.clone();
    let mut second = Trainer::resume(&resumed, plain_config(), state).unwrap();
    second.fit(&mut resumed, &train, Some(&val), &mut NoObserver).unwrap();
    assert_ne!(bits(&resumed), bits(&straight));
}

#[test]
fn resuming_a_checkpoint_with_random_shifts_and_label_smoothing_is_bit_identical() {
    resume_with_shifts_and_smoothing_is_bit_identical::<f32>();
    resume_with_shifts_and_smoothing_is_bit_identical::<f64>();
}

#[test]
fn a_resume_that_contradicts_the_checkpoint_s_options_is_a_typed_error() {
    let mut net = image_network::<f32>(1);
    let mut trainer = Trainer::new(&net, augmented_config().with_epochs(1)).unwrap();
    trainer.fit(&mut net, &blobs_of(30, 12, 1), None, &mut NoObserver).unwrap();
    let bytes = encode_checkpoint(&Checkpoint::of(&net, &trainer, metadata(&[]))).unwrap();
    let ckpt = decode_checkpoint::<f32>(&bytes).unwrap();
    let err =
        Trainer::resume(&ckpt.network, config().with_label_smoothing(0.2), ckpt.state.clone())
            .unwrap_err();
    assert!(
        matches!(&err, nn_train::Error::ResumeLabelSmoothing { expected: 0.1, found: 0.2 }),
        "{err}"
    );
    let other = RandomShift::new(4, 3, 1).unwrap();
    let err =
        Trainer::resume(&ckpt.network, config().with_random_shift(other), ckpt.state).unwrap_err();
    assert!(
        matches!(&err, nn_train::Error::ResumeRandomShift { found, .. } if *found == other),
        "{err}"
    );
    // A checkpoint whose configuration contradicts its own state is not written either.
    let mut mixed = ckpt_of_bytes(&bytes);
    mixed.config.label_smoothing = 0.2;
    assert!(matches!(
        encode_checkpoint(&mixed),
        Err(CheckpointError::InvalidState(nn_train::Error::ResumeLabelSmoothing { .. }))
    ));
    // One whose configuration leaves them unset is written with the state's (what a resume
    // trains with), and loads with them in both.
    let mut unset = ckpt_of_bytes(&bytes);
    (unset.config.random_shift, unset.config.label_smoothing) = (None, 0.0);
    assert_eq!(encode_checkpoint(&unset).unwrap(), bytes);
}

fn ckpt_of_bytes(bytes: &[u8]) -> Checkpoint<f32> {
    decode_checkpoint::<f32>(bytes).unwrap()
}

/// The payload offset of the version-3 options in `bytes`: the shift's `Option` tag, followed by
/// the shift's sizes and the label smoothing `smoothing` (found by its bytes, which must be
/// unique in the file).
fn options_at(bytes: &[u8], shift: [u8; 3], smoothing: f64) -> usize {
    let pattern: Vec<u8> = [1].into_iter().chain(shift).chain(smoothing.to_le_bytes()).collect();
    let hits: Vec<usize> = (0..bytes.len() - pattern.len())
        .filter(|&i| bytes[i..i + pattern.len()] == pattern[..])
        .collect();
    assert_eq!(hits.len(), 1, "the options' bytes are not unique");
    hits[0]
}

#[test]
fn hostile_random_shifts_and_label_smoothing_are_typed_errors() {
    // A version-3 checkpoint of 3 × 4 images, shifted by up to 1 pixel, with a label smoothing
    // whose bytes are found nowhere else.
    let smoothing = 0.098_765_432_1;
    let mut net = image_network::<f32>(2);
    let config = augmented_config().with_epochs(1).with_label_smoothing(smoothing);
    let mut trainer = Trainer::new(&net, config).unwrap();
    trainer.fit(&mut net, &blobs_of(30, 12, 2), None, &mut NoObserver).unwrap();
    let bytes = encode_checkpoint(&Checkpoint::of(&net, &trainer, metadata(&[]))).unwrap();
    let at = options_at(&bytes, [3, 4, 1], smoothing);
    let with_options = |options: &[u8]| {
        let rest = &bytes[at + 12..];
        reseal(&[&bytes[..at], options, rest].concat())
    };
    let options = |tag_and_shift: &[u8], smoothing: f64| {
        with_options(&[tag_and_shift, &smoothing.to_le_bytes()[..]].concat())
    };
    // The test's splicing is right: the same options load.
    assert!(decode_checkpoint::<f32>(&options(&[1, 3, 4, 1], smoothing)).is_ok());
    assert!(decode_checkpoint::<f32>(&options(&[0], 0.0)).is_ok());

    let invalid = |bytes: &[u8]| match decode_checkpoint::<f32>(bytes) {
        Err(CheckpointError::InvalidState(e)) => e,
        other => panic!("expected an invalid state, got {other:?}"),
    };
    // Label smoothing outside [0, 1), or not a number.
    for bad in [1.0, 1.5, -0.25, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let err = invalid(&options(&[1, 3, 4, 1], bad));
        assert!(
            matches!(err, nn_train::Error::InvalidHyperparameter { name: "label_smoothing", .. }),
            "{bad}: {err}"
        );
    }
    // Shifts that cannot be made: as large as the image, none at all, an empty image, sizes
    // whose product overflows (varints of u64::MAX: 253 then 8 bytes).
    let max = [[253].as_slice(), &u64::MAX.to_le_bytes()].concat();
    for shift in [
        vec![1, 3, 4, 3],
        vec![1, 3, 4, 0],
        vec![1, 0, 4, 1],
        [&[1u8][..], &max, &max, &[1]].concat(),
    ] {
        let err = invalid(&options(&shift, smoothing));
        assert!(matches!(err, nn_train::Error::ImageShape { .. }), "{shift:?}: {err}");
    }
    // Images that are not the network's inputs (4 × 4 pixels for 12 inputs).
    assert_eq!(
        invalid(&options(&[1, 4, 4, 1], smoothing)),
        nn_train::Error::ImageFeatures { height: 4, width: 4, n_features: 12 }
    );
    // An `Option` tag that is neither 0 nor 1, and options cut short: decoding errors.
    for bytes in [options(&[2, 3, 4, 1], smoothing), with_options(&[1, 3, 4, 1, 0, 0])] {
        assert!(
            matches!(decode_checkpoint::<f32>(&bytes), Err(CheckpointError::Decode { .. })),
            "{:?}",
            decode_checkpoint::<f32>(&bytes)
        );
    }
}

#[test]
fn label_smoothing_on_a_network_without_softmax_is_refused_on_load() {
    // A sigmoid network's checkpoint with label smoothing spliced in.
    let net = Network::<f32>::builder(12, nn_core::Loss::SigmoidBinaryCrossEntropy)
        .layer(1, Activation::Identity)
        .build(&mut <nn_core::rng::ChaCha8Rng as nn_core::rng::SeedableRng>::seed_from_u64(3))
        .unwrap();
    let config = config().with_random_shift(RandomShift::new(3, 4, 1).unwrap());
    let trainer = Trainer::new(&net, config).unwrap();
    let mut ckpt = Checkpoint::of(&net, &trainer, ModelMetadata::default());
    let bytes = encode_checkpoint(&ckpt).unwrap();
    let at = options_at(&bytes, [3, 4, 1], 0.0);
    let smoothed = [&bytes[..at + 4], &0.25f64.to_le_bytes()[..], &bytes[at + 12..]].concat();
    assert!(matches!(
        decode_checkpoint::<f32>(&reseal(&smoothed)),
        Err(CheckpointError::InvalidState(nn_train::Error::InvalidHyperparameter {
            name: "label_smoothing",
            ..
        }))
    ));
    // And it is not written.
    ckpt.config.label_smoothing = 0.25;
    ckpt.state.label_smoothing = 0.25;
    assert!(matches!(encode_checkpoint(&ckpt), Err(CheckpointError::InvalidState(_))));
}

#[test]
fn every_byte_flip_and_every_truncation_of_a_checkpoint_with_the_v3_options_is_detected() {
    let mut net = image_network::<f32>(4);
    let mut trainer = Trainer::new(&net, augmented_config().with_epochs(1)).unwrap();
    trainer.fit(&mut net, &blobs_of(30, 12, 4), None, &mut NoObserver).unwrap();
    let bytes = encode_checkpoint(&Checkpoint::of(&net, &trainer, metadata(&[]))).unwrap();
    for i in 0..bytes.len() {
        let mut flipped = bytes.clone();
        flipped[i] ^= 0x10;
        assert!(decode_checkpoint::<f32>(&flipped).is_err(), "flip at byte {i} not detected");
        // Resealed, a flip is an error or a checkpoint that saves and loads back the same (as
        // bytes: a flip can make a NaN, which is not equal to itself).
        if let Ok(c) = decode_checkpoint::<f32>(&reseal(&flipped)) {
            let again = encode_checkpoint(&c).unwrap();
            assert_eq!(
                encode_checkpoint(&decode_checkpoint::<f32>(&again).unwrap()).unwrap(),
                again
            );
        }
    }
    for len in 0..bytes.len() {
        assert!(decode_checkpoint::<f32>(&bytes[..len]).is_err(), "truncation to {len} bytes");
    }
}
