//! Bad hyper-parameters and mismatched data are typed errors, never panics.

use nn_core::Activation;
use nn_linalg::Mat;
use nn_train::optim::OptimizerConfig;
use nn_train::{Dataset, Error, NoObserver, TrainConfig, Trainer};

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
    let ok = || TrainConfig::new(8, 0.1, OptimizerConfig::sgd(0.9));
    for lr in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        bad(TrainConfig::new(8, lr, OptimizerConfig::sgd(0.9)), "learning_rate");
    }
    for momentum in [-0.1, 1.0, 1.5, f64::NAN] {
        bad(TrainConfig::new(8, 0.1, OptimizerConfig::sgd(momentum)), "momentum");
    }
    bad(TrainConfig::new(0, 0.1, OptimizerConfig::sgd(0.9)), "batch_size");
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
        Trainer::new(&n, TrainConfig::new(8, 0.1, OptimizerConfig::sgd(0.9))).unwrap();
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
    // Datasets that do not hold together.
    assert!(Dataset::classification(Mat::<f64>::zeros(3, 2), vec![0], 2).is_err());
    assert!(Dataset::classification(Mat::<f64>::zeros(3, 1), vec![2], 2).is_err());
    assert!(Dataset::from_samples(3, &[0.0f64; 7], vec![0, 1], 2).is_err());
    assert!(blobs::<f64>(10, 2, 2, 0).split_validation(1.0, 0).is_err());
    // A batch larger than configured.
    let x = Mat::<f64>::zeros(3, 9);
    let labels = [0; 9];
    assert!(matches!(
        trainer.step(&mut n, x.as_ref(), nn_core::Targets::Classes(&labels)),
        Err(Error::TargetShape { .. })
    ));
    assert!(nn_train::evaluate(&n, &empty, 10).is_err());
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
