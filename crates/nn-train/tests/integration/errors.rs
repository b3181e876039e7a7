//! Bad hyper-parameters and mismatched data are typed errors, never panics.

use nn_core::Activation;
use nn_linalg::Mat;
use nn_train::optim::OptimizerConfig;
use nn_train::{Dataset, Error, NoObserver, RandomShift, TrainConfig, Trainer};

use crate::support::{blobs, classifier};

fn net() -> nn_core::Network<f64> {
    classifier::<f64>(&[3, 4, 2], Activation::Relu, 0)
}

fn bad(config: TrainConfig, name: &str) {
    let res = Trainer::new(&net(), config);
    let found = match &res {
        Err(Error::InvalidHyperparameter { name: n, .. }) => Some(*n),
        _ => None,
    };
    assert!(found.is_some_and(|n| n.contains(name)), "expected an invalid {name}, got {res:?}");
}

#[test]
fn bad_hyper_parameters_are_errors() {
    let ok = || TrainConfig::new(8, 0.1, OptimizerConfig::sgd().with_momentum(0.9));
    for lr in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        bad(TrainConfig::new(8, lr, OptimizerConfig::sgd().with_momentum(0.9)), "learning_rate");
    }
    for momentum in [-0.1, 1.0, 1.5, f64::NAN] {
        bad(TrainConfig::new(8, 0.1, OptimizerConfig::sgd().with_momentum(momentum)), "momentum");
    }
    bad(TrainConfig::new(0, 0.1, OptimizerConfig::sgd().with_momentum(0.9)), "batch_size");
    bad(ok().with_shards(0), "n_shards");
    bad(ok().with_threads(0), "n_threads");
    bad(ok().with_dropout(1.0), "dropout");
    bad(ok().with_clip_norm(-1.0), "clip_norm");
    assert!(Trainer::new(&net(), ok()).is_ok());
}

#[test]
fn empty_and_mismatched_data_are_errors() {
    let mut n = net();
    let mut trainer =
        Trainer::new(&n, TrainConfig::new(8, 0.1, OptimizerConfig::sgd().with_momentum(0.9)))
            .unwrap();
    let empty = Dataset::classification(Mat::<f64>::zeros(3, 0), vec![], 2).unwrap();
    assert!(matches!(
        trainer.fit(&mut n, &empty, None, &mut NoObserver),
        Err(Error::EmptyDataset { .. })
    ));
    // Labels beyond the network's outputs.
    let three_classes = blobs::<f64>(12, 3, 3, 0);
    assert!(matches!(
        trainer.fit(&mut n, &three_classes, None, &mut NoObserver),
        Err(Error::Core(nn_core::Error::LabelOutOfRange { .. }))
    ));
    // Inputs of the wrong width.
    let wide = blobs::<f64>(12, 5, 2, 0);
    assert!(matches!(
        trainer.fit(&mut n, &wide, None, &mut NoObserver),
        Err(Error::Core(nn_core::Error::InputRows { expected: 3, found: 5 }))
    ));
    // Datasets that do not hold together: each error says what was expected and found.
    assert_eq!(
        Dataset::classification(Mat::<f64>::zeros(3, 2), vec![0], 2),
        Err(Error::LabelCount { expected: 2, found: 1 })
    );
    assert_eq!(
        Dataset::classification(Mat::<f64>::zeros(3, 1), vec![2], 2),
        Err(Error::LabelOutOfRange { sample_idx: 0, label: 2, n_classes: 2 })
    );
    assert_eq!(
        Dataset::from_samples(3, &[0.0f64; 7], vec![0, 1], 2),
        Err(Error::ValueCount { n_features: 3, n_samples: 2, found: 7 })
    );
    assert!(blobs::<f64>(10, 2, 2, 0).split_validation(1.0, 0).is_err());
    assert_eq!(
        blobs::<f64>(10, 2, 2, 0).subset(&[3, 10]),
        Err(Error::SampleIndex { index: 10, n_samples: 10 })
    );
    // A batch larger than configured, and targets of another length.
    let x = Mat::<f64>::zeros(3, 9);
    let labels = [0; 9];
    assert_eq!(
        trainer.step(&mut n, x.as_ref(), nn_core::Targets::Classes(&labels)),
        Err(Error::BatchCapacity { capacity: 8, found: 9 })
    );
    assert_eq!(
        trainer.step(&mut n, x.as_ref().subcols(0, 4), nn_core::Targets::Classes(&labels[..3])),
        Err(Error::TargetCount { expected: 4, found: 3 })
    );
    assert!(nn_train::evaluate(&n, &empty, 10).is_err());
}

#[test]
fn regression_and_multilabel_targets_are_checked() {
    let x = Mat::<f64>::zeros(2, 3);
    let mut y = Mat::<f64>::zeros(2, 3);
    assert_eq!(
        Dataset::regression(x.clone(), Mat::zeros(2, 4)),
        Err(Error::TargetColumns { expected: 3, found: 4 })
    );
    y[(1, 2)] = f64::INFINITY;
    assert_eq!(
        Dataset::regression(x.clone(), y.clone()),
        Err(Error::NonFiniteTarget { row: 1, col: 2, value: f64::INFINITY })
    );
    y[(1, 2)] = 0.5;
    assert!(Dataset::regression(x.clone(), y.clone()).is_ok());
    assert_eq!(
        Dataset::multilabel(x.clone(), y.clone()),
        Err(Error::NotBinaryTarget { row: 1, col: 2, value: 0.5 })
    );
    y[(1, 2)] = 1.0;
    let data = Dataset::multilabel(x.clone(), y).unwrap();
    assert_eq!(data.task(), nn_train::Task::Multilabel);
    assert_eq!(data.target_matrix().map(|m| m.nrows()), Some(2));
    // Batch buffers refuse data of another shape, naming both.
    let mut batch = nn_train::Batch::for_dataset(&data, 2);
    let regression = Dataset::regression(x, Mat::zeros(1, 3)).unwrap();
    assert!(!batch.fits(&regression));
    assert_eq!(
        batch.gather(&regression, &[0]),
        Err(Error::BatchMismatch {
            expected_features: 2,
            expected: nn_train::Task::Multilabel,
            expected_rows: 2,
            found_features: 2,
            found: nn_train::Task::Regression,
            found_rows: 1,
        })
    );
    assert_eq!(
        batch.gather(&data, &[0, 1, 2]),
        Err(Error::BatchCapacity { capacity: 2, found: 3 })
    );
    for (name, task) in [
        ("classification", nn_train::Task::Classification),
        ("regression", nn_train::Task::Regression),
        ("multi-label", nn_train::Task::Multilabel),
    ] {
        assert_eq!(name.parse::<nn_train::Task>(), Ok(task));
    }
    assert!("ranking".parse::<nn_train::Task>().is_err());
}

#[test]
fn errors_carry_structured_values() {
    let e = Error::StateSize { what: "momentum", layer_idx: Some(2), expected: 12, found: 9 };
    assert_eq!(e.to_string(), "momentum of layer 2: expected 12, found 9");
    let e = Error::LabelCount { expected: 4, found: 3 };
    assert_eq!(e.to_string(), "3 labels for 4 samples");
}

#[test]
fn validation_split_is_seeded_and_complete() {
    let data = blobs::<f64>(100, 2, 2, 0);
    let (train, val) = data.split_validation(0.2, 7).unwrap();
    assert_eq!((train.n_samples(), val.n_samples()), (80, 20));
    let (train2, val2) = data.split_validation(0.2, 7).unwrap();
    assert_eq!(train, train2);
    assert_eq!(val, val2);
    let (_, val3) = data.split_validation(0.2, 8).unwrap();
    assert_ne!(val, val3);
}

#[test]
fn random_shifts_of_images_that_are_not_the_inputs_are_typed_errors() {
    let config = || TrainConfig::new(8, 0.1, OptimizerConfig::adam());
    // The network takes 3 inputs: 2 × 2 images are 4 pixels.
    let shift = RandomShift::new(2, 2, 1).unwrap();
    assert_eq!(
        Trainer::new(&net(), config().with_random_shift(shift)).unwrap_err(),
        Error::ImageFeatures { height: 2, width: 2, n_features: 3 }
    );
    // 1 × 3 images cannot move vertically: refused when built.
    assert!(matches!(RandomShift::new(1, 3, 1), Err(Error::ImageShape { height: 1, .. })));
    // Data of another width than the images, on a trainer built for 4-pixel images.
    let mut n = classifier::<f64>(&[4, 4, 2], Activation::Relu, 0);
    let mut trainer = Trainer::new(&n, config().with_random_shift(shift)).unwrap();
    let before = n.clone();
    let wide = blobs::<f64>(12, 5, 2, 0);
    assert_eq!(
        trainer.fit(&mut n, &wide, None, &mut NoObserver).unwrap_err(),
        Error::ImageFeatures { height: 2, width: 2, n_features: 5 }
    );
    assert_eq!(n, before, "nothing trained");
    assert!(trainer.fit(&mut n, &blobs::<f64>(12, 4, 2, 0), None, &mut NoObserver).is_ok());
    let message = Error::ImageFeatures { height: 28, width: 28, n_features: 100 }.to_string();
    assert_eq!(message, "random shifts of 28 × 28 images need 784 features per sample, found 100");
}

#[test]
fn a_state_with_a_nan_best_loss_is_refused_on_resume() {
    // Training never makes one (the best loss starts at +∞ and only takes lower losses); a
    // damaged or hand-made state could, and it would silently stop early stopping from ever
    // seeing an improvement.
    let net = net();
    let config = TrainConfig::new(8, 0.1, OptimizerConfig::sgd());
    let mut state = Trainer::new(&net, config.clone()).unwrap().state();
    assert!(Trainer::resume(&net, config.clone(), state.clone()).is_ok());
    state.early_stopping.best_loss = f64::NAN;
    let result = Trainer::resume(&net, config, state).map(|_| ());
    let expected =
        matches!(result, Err(Error::StateValue { what: "early stopping's best loss", .. }));
    assert!(expected, "{result:?}");
}
