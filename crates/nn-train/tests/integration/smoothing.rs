//! Label smoothing: the trainer's gradient against finite differences of the smoothed loss, in
//! f64, computed here from the network's probabilities alone; and its errors.

use nn_core::{Activation, Loss, Network};
use nn_linalg::Mat;
use nn_train::optim::OptimizerConfig;
use nn_train::{Dataset, Error, TrainConfig, Trainer};

use crate::support::{blobs, classifier, rng};

/// J = (1/B) Σ_k −Σ_i y'_ik ln a_ik with y' = (1 − ε) e_label + ε/K (L2 on smoothed targets).
fn smoothed_loss(net: &Network<f64>, data: &Dataset<f64>, epsilon: f64) -> f64 {
    let a = net.predict_proba(data.inputs()).unwrap();
    let labels = data.labels().unwrap();
    let k = a.nrows() as f64;
    let mut total = 0.0;
    for (j, &label) in labels.iter().enumerate() {
        for i in 0..a.nrows() {
            let y = if i == label { 1.0 - epsilon } else { 0.0 } + epsilon / k;
            total -= y * a[(i, j)].ln();
        }
    }
    total / labels.len() as f64
}

#[test]
fn label_smoothing_gradient_matches_finite_differences() {
    let data = blobs::<f64>(13, 4, 3, 2);
    let start = classifier::<f64>(&[4, 6, 5, 3], Activation::Tanh, 7);
    for epsilon in [0.0, 0.1, 0.4] {
        // Plain SGD with lr = 1 on the whole batch (3 shards, one of 5 samples): Θ − Θ' = ∇J.
        let mut net = start.clone();
        let config = TrainConfig::new(13, 1.0, OptimizerConfig::sgd())
            .with_shards(3)
            .with_label_smoothing(epsilon);
        let mut trainer = Trainer::new(&net, config).unwrap();
        let j = trainer.step(&mut net, data.inputs(), data.targets()).unwrap();
        let j_here = smoothed_loss(&start, &data, epsilon);
        assert!((j - j_here).abs() <= 1e-12 * j_here, "ε = {epsilon}: J {j} vs {j_here}");
        let h = 1e-5;
        for l in 0..start.layers().len() {
            let theta = start.layers()[l].theta();
            for (r, c) in [(0, 0), (1, 2), (theta.nrows() - 1, theta.ncols() - 1)] {
                let analytic = theta[(r, c)] - net.layers()[l].theta()[(r, c)];
                let at = |d: f64| {
                    let mut moved = start.clone();
                    moved.layers_mut()[l].theta_mut()[(r, c)] += d;
                    smoothed_loss(&moved, &data, epsilon)
                };
                let numeric = (at(h) - at(-h)) / (2.0 * h);
                let rel = (analytic - numeric).abs() / analytic.abs().max(numeric.abs()).max(1e-8);
                assert!(rel < 1e-6, "ε = {epsilon}, layer {l} ({r}, {c}): {analytic} vs {numeric}");
            }
        }
    }
}

#[test]
fn smoothing_changes_the_step_but_not_the_evaluation() {
    let data = blobs::<f64>(20, 4, 3, 5);
    let start = classifier::<f64>(&[4, 6, 3], Activation::Relu, 1);
    let run = |epsilon: f64| {
        let mut net = start.clone();
        let config =
            TrainConfig::new(10, 0.1, OptimizerConfig::adam()).with_label_smoothing(epsilon);
        let mut trainer = Trainer::new(&net, config).unwrap();
        let report = trainer.run_epoch(&mut net, &data).unwrap();
        (net, report)
    };
    let (plain, plain_report) = run(0.0);
    let (smooth, smooth_report) = run(0.2);
    assert!(plain != smooth);
    // The training accuracy counts the labels, smoothed or not.
    assert!(smooth_report.train_accuracy.is_some() && plain_report.train_accuracy.is_some());
}

#[test]
fn bad_smoothing_and_networks_without_softmax_are_refused() {
    let net = classifier::<f64>(&[4, 6, 3], Activation::Relu, 1);
    for epsilon in [-0.1, 1.0, f64::NAN] {
        let config = TrainConfig::new(8, 0.1, OptimizerConfig::sgd()).with_label_smoothing(epsilon);
        assert!(matches!(
            Trainer::new(&net, config),
            Err(Error::InvalidHyperparameter { name: "label_smoothing", .. })
        ));
    }
    let mse: Network<f64> = Network::builder(4, Loss::MeanSquaredError)
        .layer(2, Activation::Identity)
        .build(&mut rng(0))
        .unwrap();
    let config = TrainConfig::new(8, 0.1, OptimizerConfig::sgd()).with_label_smoothing(0.1);
    assert!(matches!(
        Trainer::new(&mse, config),
        Err(Error::InvalidHyperparameter { name: "label_smoothing", .. })
    ));
    // Labels beyond the outputs and target matrices of another height: typed errors.
    let mut net = net;
    let config = TrainConfig::new(8, 0.1, OptimizerConfig::sgd()).with_label_smoothing(0.1);
    let mut trainer = Trainer::new(&net, config).unwrap();
    let x = Mat::<f64>::zeros(4, 2);
    let before = net.clone();
    assert!(matches!(
        trainer.step(&mut net, x.as_ref(), nn_core::Targets::Classes(&[0, 3])),
        Err(Error::Core(nn_core::Error::LabelOutOfRange { sample_idx: 1, label: 3, .. }))
    ));
    let y = Mat::<f64>::zeros(2, 2);
    assert!(matches!(
        trainer.step(&mut net, x.as_ref(), nn_core::Targets::Matrix(y.as_ref())),
        Err(Error::Core(nn_core::Error::TargetShape { .. }))
    ));
    assert_eq!(net, before);
}
