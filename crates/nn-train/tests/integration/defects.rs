//! The defects of issue #10 part 1, each reproduced by a test that failed before its fix.

use nn_core::{Activation, Gradients, Loss, Network, Targets, Workspace};
use nn_linalg::Mat;
use nn_train::optim::{OptimizerConfig, clip_grad_norm};
use nn_train::{
    BatchReport, Control, Dataset, Error, NoObserver, Observer, TrainConfig, Trainer, TrainerState,
};

use crate::support::{bits, blobs, classifier};

/// Stops after its `at`-th batch, and records every batch's loss.
struct StopAtBatch {
    at: usize,
    losses: Vec<f64>,
}

impl Observer<f64> for StopAtBatch {
    fn on_batch(&mut self, report: &BatchReport) -> Control {
        self.losses.push(report.loss);
        if self.losses.len() == self.at { Control::Stop } else { Control::Continue }
    }
}

fn stop_config() -> TrainConfig {
    TrainConfig::new(10, 0.05, OptimizerConfig::sgd().with_momentum(0.9))
        .with_epochs(2)
        .with_seed(4)
        .with_dropout(0.2)
}

#[test]
fn a_stop_after_a_batch_leaves_the_epoch_unfinished_and_the_next_fit_finishes_it() {
    // 100 samples in batches of 10: stopping after the first batch is 1/10 of an epoch. Before
    // the fix, it counted as a whole epoch, its loss divided by all 100 samples (10× too low),
    // and the next fit skipped the other 9 batches.
    let data = blobs::<f64>(100, 3, 2, 1);
    let mut straight = classifier::<f64>(&[3, 5, 2], Activation::Tanh, 1);
    let mut net = straight.clone();
    let mut t1 = Trainer::new(&straight, stop_config()).unwrap();
    t1.fit(&mut straight, &data, None, &mut NoObserver).unwrap();

    let mut t2 = Trainer::new(&net, stop_config()).unwrap();
    let mut observer = StopAtBatch { at: 3, losses: vec![] };
    let report = t2.fit(&mut net, &data, None, &mut observer).unwrap();
    assert!(report.stopped_by_observer);
    assert_eq!((report.epochs_completed, t2.epoch(), t2.history().len()), (0, 0, 0));
    let partial = report.partial_epoch.expect("the unfinished epoch's report");
    // The mean over the 30 samples trained on, not over all 100.
    let mean = observer.losses.iter().sum::<f64>() / 3.0;
    assert!((partial.train_loss - mean).abs() <= 1e-15 * mean, "{} vs {mean}", partial.train_loss);
    assert_eq!(t2.epoch_progress().map(|p| p.batches_done), Some(3));
    // An unfinished epoch cannot be ended by hand.
    assert!(matches!(t2.end_epoch(None), Err(Error::StateValue { .. })));
    assert_eq!(t2.epoch(), 0);

    // Finishing it, here through a checkpoint-like round trip of the state: the same bits as
    // the uninterrupted run, and the same history.
    let state: TrainerState<f64> = t2.state();
    let mut t3 = Trainer::resume(&net, stop_config(), state).unwrap();
    let report = t3.fit(&mut net, &data, None, &mut NoObserver).unwrap();
    assert_eq!(report.epochs_completed, 2);
    assert_eq!(bits(&net), bits(&straight), "finishing the epoch gives the uninterrupted run");
    let losses =
        |t: &Trainer<f64>| t.history().iter().map(|h| h.train_loss.to_bits()).collect::<Vec<_>>();
    assert_eq!(losses(&t3), losses(&t1));
    assert!(t3.epoch_progress().is_none());
}

#[test]
fn a_stop_after_the_last_batch_completes_the_epoch() {
    let data = blobs::<f64>(100, 3, 2, 1);
    let mut net = classifier::<f64>(&[3, 5, 2], Activation::Tanh, 1);
    let mut trainer = Trainer::new(&net, stop_config()).unwrap();
    let report =
        trainer.fit(&mut net, &data, None, &mut StopAtBatch { at: 10, losses: vec![] }).unwrap();
    assert!(report.stopped_by_observer && report.partial_epoch.is_none());
    assert_eq!((report.epochs_completed, trainer.history().len()), (1, 1));
}

#[test]
fn an_unfinished_epoch_refuses_a_data_set_of_another_size() {
    let data = blobs::<f64>(100, 3, 2, 1);
    let mut net = classifier::<f64>(&[3, 5, 2], Activation::Tanh, 1);
    let mut trainer = Trainer::new(&net, stop_config()).unwrap();
    trainer.fit(&mut net, &data, None, &mut StopAtBatch { at: 1, losses: vec![] }).unwrap();
    assert_eq!(
        trainer.run_epoch(&mut net, &data.head(50)),
        Err(Error::StateSize {
            what: "samples of the unfinished epoch",
            layer_idx: None,
            expected: 100,
            found: 50
        })
    );
    // A state whose progress does not fit the batch size is refused on resume.
    let mut state = trainer.state();
    if let Some(p) = state.epoch_progress.as_mut() {
        p.batches_done = 10;
    }
    assert!(matches!(
        Trainer::resume(&net, stop_config(), state),
        Err(Error::StateValue { what: "epoch progress batches", .. })
    ));
}

#[test]
fn dropout_lists_of_the_wrong_length_are_refused_by_the_constructor() {
    // Two hidden layers: 0, 1 or 2 rates are fine, 3 are refused up front (before the fix, at
    // the first step of training).
    let net = classifier::<f64>(&[3, 5, 4, 2], Activation::Relu, 0);
    let config = |rates: Vec<f64>| {
        TrainConfig::new(8, 0.1, OptimizerConfig::sgd()).with_dropout_rates(rates)
    };
    for ok in [vec![], vec![0.1], vec![0.1, 0.2]] {
        assert!(Trainer::new(&net, config(ok)).is_ok());
    }
    assert_eq!(
        Trainer::new(&net, config(vec![0.1, 0.2, 0.3])).err(),
        Some(Error::Core(nn_core::Error::DropoutRates { expected: 2, found: 3 }))
    );
}

fn some_gradients() -> Gradients<f64> {
    let net = classifier::<f64>(&[2, 3, 2], Activation::Tanh, 0);
    let mut ws = Workspace::for_network(&net, 2).unwrap();
    let mut g = Gradients::zeros_like(&net);
    let x = Mat::<f64>::from_fn(2, 2, |i, j| (i + j) as f64);
    net.forward_backward_into(x.as_ref(), Targets::Classes(&[0, 1]), &mut ws, &mut g).unwrap();
    g
}

#[test]
fn clipping_a_non_finite_gradient_leaves_it_untouched_and_reports_it() {
    for bad in [f64::INFINITY, f64::NEG_INFINITY, f64::NAN] {
        let mut g = some_gradients();
        g.layer_mut(0).unwrap()[(0, 1)] = bad;
        let before = g.clone();
        let result = clip_grad_norm(&mut g, 1.0);
        assert!(matches!(result, Err(Error::NonFiniteGradient { norm }) if !norm.is_finite()));
        // Before the fix: scaled by 0 (zeros, and NaN where the entry was infinite).
        for l in 0..g.n_layers() {
            let (a, b) = (g.layer(l).unwrap(), before.layer(l).unwrap());
            for c in 0..a.ncols() {
                for r in 0..a.nrows() {
                    assert_eq!(a[(r, c)].to_bits(), b[(r, c)].to_bits());
                }
            }
        }
    }
    // Finite entries whose squares overflow are clipped, not reported.
    let mut g = some_gradients();
    g.layer_mut(1).unwrap()[(0, 0)] = 1e300;
    let norm = clip_grad_norm(&mut g, 1.0).unwrap();
    assert!(norm >= 1e300 && norm.is_finite());
    assert!((g.global_norm() - 1.0).abs() < 1e-6);
}

#[test]
fn the_trainer_replaces_its_batch_buffers_for_data_of_another_kind() {
    // The same network, first on class labels, then on target columns of the same width
    // (soft labels, as a regression data set of 2 outputs), then on class labels again.
    let data = blobs::<f64>(20, 3, 2, 1);
    let mut net: Network<f64> = classifier::<f64>(&[3, 4, 2], Activation::Tanh, 0);
    let mut trainer = Trainer::new(&net, TrainConfig::new(5, 0.1, OptimizerConfig::sgd())).unwrap();
    trainer.run_epoch(&mut net, &data).unwrap();
    let y = Mat::<f64>::from_fn(2, 20, |i, j| if (i + j) % 2 == 0 { 0.75 } else { 0.25 });
    let soft = Dataset::regression(data.inputs().to_owned(), y).unwrap();
    let report = trainer.run_epoch(&mut net, &soft).unwrap();
    assert!(report.train_loss.is_finite() && report.train_accuracy.is_none());
    trainer.run_epoch(&mut net, &data).unwrap();
    // And a mean-squared-error network: one-hot class targets, then regression targets.
    let mut mse: Network<f64> = Network::builder(3, Loss::MeanSquaredError)
        .layer(4, Activation::Tanh)
        .layer(2, Activation::Identity)
        .build(&mut crate::support::rng(0))
        .unwrap();
    let mut trainer = Trainer::new(&mse, TrainConfig::new(5, 0.1, OptimizerConfig::sgd())).unwrap();
    trainer.run_epoch(&mut mse, &data).unwrap();
    let y2 = Mat::<f64>::from_fn(2, 20, |i, j| (i * j) as f64 / 20.0);
    trainer
        .run_epoch(&mut mse, &Dataset::regression(data.inputs().to_owned(), y2).unwrap())
        .unwrap();
}
