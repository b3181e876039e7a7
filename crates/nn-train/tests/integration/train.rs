//! End-to-end learning, early stopping, observers and divergence.

use nn_core::{Activation, Network, Targets};
use nn_linalg::Mat;
use nn_train::optim::OptimizerConfig;
use nn_train::schedule::Schedule;
use nn_train::{
    Control, Dataset, EarlyStopping, EpochReport, Error, NoObserver, Observer, TrainConfig, Trainer,
};

use crate::support::{bits, blobs, classifier, spirals};

#[test]
fn xor_is_learned_with_a_fixed_seed() {
    let x = Mat::<f32>::from_fn(2, 4, |i, j| ((j >> i) & 1) as f32);
    let data = Dataset::classification(x, vec![0, 1, 1, 0], 2).unwrap();
    let mut net = classifier::<f32>(&[2, 4, 2], Activation::Tanh, 3);
    let config =
        TrainConfig::new(4, 0.3, OptimizerConfig::sgd().with_momentum(0.9)).with_epochs(300);
    let mut trainer = Trainer::new(&net, config).unwrap();
    trainer.fit(&mut net, &data, None, &mut NoObserver).unwrap();
    assert_eq!(net.predict(data.inputs()).unwrap(), vec![0, 1, 1, 0]);
    assert!(trainer.history().last().unwrap().train_loss < 0.01);
}

#[test]
fn two_spirals_reach_99_percent_training_accuracy() {
    let data = spirals(150);
    let mut net = classifier::<f32>(&[2, 64, 64, 2], Activation::Tanh, 7);
    // Reaches 100 % from about 350 epochs on with this seed (also with lr 0.03, or 500 epochs).
    let config = TrainConfig::new(16, 0.02, OptimizerConfig::adam()).with_epochs(400).with_seed(1);
    let mut trainer = Trainer::new(&net, config).unwrap();
    trainer.fit(&mut net, &data, None, &mut NoObserver).unwrap();
    let predicted = net.predict(data.inputs()).unwrap();
    let correct = predicted.iter().zip(data.labels().unwrap()).filter(|(p, l)| p == l).count();
    let accuracy = correct as f64 / data.n_samples() as f64;
    assert!(accuracy >= 0.99, "training accuracy {accuracy}");
}

/// Records the parameters after every epoch, and stops at `stop_at` if set.
struct Recorder {
    params: Vec<Vec<u64>>,
    stop_at: Option<usize>,
    batches: usize,
}

impl Observer<f64> for Recorder {
    fn on_batch(&mut self, _: &nn_train::BatchReport) -> Control {
        self.batches += 1;
        Control::Continue
    }
    fn on_epoch(&mut self, report: &EpochReport, net: &Network<f64>, _: &Trainer<f64>) -> Control {
        self.params.push(bits(net));
        if Some(report.epoch) == self.stop_at { Control::Stop } else { Control::Continue }
    }
}

#[test]
fn early_stopping_restores_the_best_weights() {
    // The validation set has the training labels swapped: the better the fit, the worse the
    // validation loss, so the best epoch is an early one.
    let train = blobs::<f64>(64, 4, 2, 1);
    let flipped: Vec<usize> = train.labels().unwrap().iter().map(|l| 1 - l).collect();
    let val = Dataset::classification(train.inputs().to_owned(), flipped, 2).unwrap();
    let mut net = classifier::<f64>(&[4, 8, 2], Activation::Tanh, 2);
    let es = EarlyStopping::new(3);
    let config =
        TrainConfig::new(16, 0.1, OptimizerConfig::sgd()).with_epochs(50).with_early_stopping(es);
    let mut trainer = Trainer::new(&net, config).unwrap();
    let mut rec = Recorder { params: vec![], stop_at: None, batches: 0 };
    let report = trainer.fit(&mut net, &train, Some(&val), &mut rec).unwrap();
    assert!(report.stopped_early);
    let best = report.best_epoch.unwrap();
    assert_eq!(report.epochs_completed, best + 1 + 3);
    assert_eq!(rec.params.len(), report.epochs_completed);
    assert_eq!(bits(&net), rec.params[best], "parameters are those of the best epoch");
    assert_ne!(bits(&net), *rec.params.last().unwrap());
    let val_losses: Vec<f64> =
        trainer.history().iter().map(|h| h.validation.as_ref().unwrap().loss).collect();
    let min = val_losses.iter().cloned().fold(f64::INFINITY, f64::min);
    assert_eq!(val_losses[best], min);
    assert_eq!(rec.batches, report.epochs_completed * 4);
}

#[test]
fn an_observer_can_stop_training() {
    let data = blobs::<f64>(40, 3, 2, 5);
    let mut net = classifier::<f64>(&[3, 5, 2], Activation::Relu, 1);
    let config =
        TrainConfig::new(8, 0.05, OptimizerConfig::sgd().with_momentum(0.9)).with_epochs(20);
    let mut trainer = Trainer::new(&net, config).unwrap();
    let mut rec = Recorder { params: vec![], stop_at: Some(2), batches: 0 };
    let report = trainer.fit(&mut net, &data, None, &mut rec).unwrap();
    assert!(report.stopped_by_observer && !report.stopped_early);
    assert_eq!(report.epochs_completed, 3);
    assert_eq!(trainer.history().len(), 3);
}

#[test]
fn run_epoch_then_end_epoch_trains_exactly_as_fit() {
    // A step schedule halving the rate every epoch: without `end_epoch` the loop would keep the
    // first rate, and the parameters would differ from `fit`'s.
    let data = blobs::<f64>(40, 3, 2, 5);
    let config = TrainConfig::new(8, 0.05, OptimizerConfig::sgd().with_momentum(0.9))
        .with_epochs(3)
        .with_schedule(Schedule::Step { step_epochs: 1, gamma: 0.5 });
    let mut fitted = classifier::<f64>(&[3, 5, 2], Activation::Relu, 1);
    let mut looped = fitted.clone();
    Trainer::new(&fitted, config.clone())
        .unwrap()
        .fit(&mut fitted, &data, None, &mut NoObserver)
        .unwrap();
    let mut trainer = Trainer::new(&looped, config).unwrap();
    for epoch in 0..3 {
        let report = trainer.run_epoch(&mut looped, &data).unwrap();
        assert_eq!(trainer.learning_rate(), 0.05 * 0.5f64.powi(epoch));
        trainer.end_epoch(Some(report.train_loss)).unwrap();
        assert_eq!(trainer.epoch(), epoch as usize + 1);
    }
    assert_eq!(trainer.learning_rate(), 0.05 * 0.125);
    assert_eq!(bits(&looped), bits(&fitted));
}

#[test]
fn end_epoch_without_the_metric_reduce_on_plateau_needs_is_an_error() {
    let net = classifier::<f64>(&[3, 5, 2], Activation::Relu, 1);
    let config = TrainConfig::new(8, 0.05, OptimizerConfig::sgd().with_momentum(0.9))
        .with_schedule(Schedule::reduce_on_plateau());
    let mut trainer = Trainer::new(&net, config).unwrap();
    let err = trainer.end_epoch(None).unwrap_err();
    assert!(matches!(err, Error::InvalidHyperparameter { name: "metric", .. }), "{err}");
    assert_eq!(trainer.epoch(), 0);
    trainer.end_epoch(Some(1.0)).unwrap();
    assert_eq!(trainer.epoch(), 1);
}

#[test]
fn divergence_is_an_error_and_leaves_the_parameters_as_they_were() {
    let mut net = classifier::<f32>(&[2, 3, 2], Activation::Relu, 1);
    let before = bits(&net);
    let config = TrainConfig::new(4, 0.1, OptimizerConfig::sgd());
    let mut trainer = Trainer::new(&net, config).unwrap();
    let x = Mat::<f32>::from_fn(2, 4, |_, j| if j == 2 { f32::INFINITY } else { 1.0 });
    let err = trainer.step(&mut net, x.as_ref(), Targets::Classes(&[0, 1, 0, 1])).unwrap_err();
    assert!(matches!(err, Error::NonFiniteLoss { epoch: 0, batch_idx: 0, .. }), "{err}");
    assert_eq!(bits(&net), before);
    assert_eq!(trainer.n_steps(), 0);
}

/// Trains with AdamW and a learning rate of 1e6 until `fit` stops; returns how it ended.
fn diverge<T: nn_core::Float>() -> Result<String, Error> {
    let data = blobs::<T>(64, 4, 3, 2);
    let mut net = classifier::<T>(&[4, 16, 16, 3], Activation::Relu, 1);
    let config = TrainConfig::new(8, 1e6, OptimizerConfig::adamw()).with_epochs(100);
    let mut trainer = Trainer::new(&net, config).unwrap();
    let report = trainer.fit(&mut net, &data, None, &mut NoObserver)?;
    Ok(format!("{report:?}, last loss {:?}", trainer.history().last().map(|h| h.train_loss)))
}

#[test]
fn a_huge_learning_rate_is_divergence_in_f32_and_f64() {
    // 1 − lr·wd = −9999 multiplies Θ at every step: the values leave the float range in a few.
    for result in [diverge::<f32>(), diverge::<f64>()] {
        assert!(matches!(result, Err(Error::NonFiniteLoss { .. })), "{result:?}");
        let err = result.unwrap_err();
        assert!(err.to_string().starts_with("training diverged at epoch "), "{err}");
    }
}

#[test]
fn an_update_that_overflows_the_optimizer_state_is_divergence_at_that_step() {
    // Inputs of 1e200 give finite f64 gradients of about 1e200, whose squares overflow in Adam's
    // second moment while Θ stays finite (the step divides by √∞). Before this was checked, such
    // a run went on "successfully" with a loss of 1e114 and a state that could not be saved.
    let mut net = classifier::<f64>(&[2, 3, 2], Activation::Identity, 1);
    let mut trainer =
        Trainer::new(&net, TrainConfig::new(4, 1e-3, OptimizerConfig::adam())).unwrap();
    let labels = [0, 1, 0, 1];
    let small = Mat::<f64>::from_fn(2, 4, |i, j| (i + j) as f64 / 4.0);
    trainer.step(&mut net, small.as_ref(), Targets::Classes(&labels)).unwrap();
    // The same input with both labels: whatever the prediction, half the samples are wrong.
    let huge = Mat::<f64>::from_fn(2, 4, |i, _| if i == 0 { 1e200 } else { -3e199 });
    let err = trainer.step(&mut net, huge.as_ref(), Targets::Classes(&labels)).unwrap_err();
    assert!(
        matches!(err, Error::NonFiniteLoss { epoch: 0, batch_idx: 0, what }
            if what == "result of the update (parameters or optimizer state)"),
        "{err}"
    );
    assert_eq!(trainer.n_steps(), 1, "the diverged step is not counted");
}

#[test]
fn divergence_messages_count_epochs_and_batches_from_1() {
    let err = Error::NonFiniteLoss { epoch: 0, batch_idx: 4, what: "loss" };
    assert_eq!(
        err.to_string(),
        "training diverged at epoch 1, batch 5: the loss is not finite (try a smaller learning rate or gradient clipping)"
    );
}

#[test]
fn evaluation_metrics_agree_with_predictions() {
    let data = blobs::<f64>(50, 3, 3, 9);
    let net = classifier::<f64>(&[3, 6, 3], Activation::Tanh, 4);
    let eval = nn_train::evaluate(&net, &data, 7).unwrap();
    let predicted = net.predict(data.inputs()).unwrap();
    let correct = predicted.iter().zip(data.labels().unwrap()).filter(|(p, l)| p == l).count();
    assert_eq!(eval.accuracy, Some(correct as f64 / 50.0));
    let confusion = eval.confusion.unwrap();
    assert_eq!(confusion.total(), 50);
    assert_eq!(eval.top5_accuracy, Some(1.0));
    assert!(eval.regression.is_none() && eval.multilabel.is_none());
    // The loss is the mean data loss, without any penalty, whatever the batch size.
    let eval_all = nn_train::evaluate(&net, &data, 1000).unwrap();
    assert!((eval.loss - eval_all.loss).abs() < 1e-12);
}

#[test]
fn a_linear_regression_is_learned_and_evaluated_with_regression_metrics() {
    // y = (2x₀ − x₁ + 0.5, x₀ + x₁): a linear network fits it exactly.
    let n = 64;
    let x = Mat::<f64>::from_fn(2, n, |i, j| ((j * (i + 3)) % 17) as f64 / 8.0 - 1.0);
    let y = Mat::<f64>::from_fn(2, n, |i, j| {
        if i == 0 { 2.0 * x[(0, j)] - x[(1, j)] + 0.5 } else { x[(0, j)] + x[(1, j)] }
    });
    let data = Dataset::regression(x, y.clone()).unwrap();
    let mut net: Network<f64> = Network::builder(2, nn_core::Loss::MeanSquaredError)
        .layer(2, Activation::Identity)
        .build(&mut crate::support::rng(0))
        .unwrap();
    let config =
        TrainConfig::new(16, 0.1, OptimizerConfig::sgd().with_momentum(0.9)).with_epochs(150);
    let mut trainer = Trainer::new(&net, config).unwrap();
    trainer.fit(&mut net, &data, None, &mut NoObserver).unwrap();
    let eval = nn_train::evaluate(&net, &data, 10).unwrap();
    assert!(eval.accuracy.is_none() && eval.confusion.is_none() && eval.multilabel.is_none());
    let m = eval.regression.unwrap();
    assert!(m.r2 > 0.9999 && m.rmse < 1e-2, "{m:?}");
    // The metrics over batches of 10 are those of the whole output at once.
    let whole = nn_core::metrics::regression_metrics(
        net.predict_proba(data.inputs()).unwrap().as_ref(),
        y.as_ref(),
    )
    .unwrap();
    assert!((m.mse - whole.mse).abs() <= 1e-15 + 1e-12 * whole.mse);
    for (a, b) in m.r2_per_output.iter().zip(&whole.r2_per_output) {
        assert!((a - b).abs() < 1e-12);
    }
    // The loss is L1, ½ Σ over the outputs: with 2 outputs, the mean over them, the MSE.
    assert!((eval.loss - m.mse).abs() <= 1e-12 * m.mse.max(1e-300), "{} vs {}", eval.loss, m.mse);
}

#[test]
fn a_multilabel_problem_is_learned_and_evaluated_with_multilabel_metrics() {
    // Label 0: x₀ > 0; label 1: x₁ > 0; label 2: both.
    let n = 80;
    let x = Mat::<f32>::from_fn(2, n, |i, j| ((j * (2 * i + 5)) % 19) as f32 / 9.0 - 1.0);
    let y = Mat::<f32>::from_fn(3, n, |i, j| {
        let (a, b) = (x[(0, j)] > 0.0, x[(1, j)] > 0.0);
        f32::from(u8::from([a, b, a && b][i]))
    });
    let data = Dataset::multilabel(x, y).unwrap();
    let mut net: Network<f32> = Network::builder(2, nn_core::Loss::SigmoidBinaryCrossEntropy)
        .layer(16, Activation::Tanh)
        .layer(3, Activation::Identity)
        .build(&mut crate::support::rng(2))
        .unwrap();
    let config = TrainConfig::new(16, 0.05, OptimizerConfig::adam()).with_epochs(200);
    let mut trainer = Trainer::new(&net, config).unwrap();
    trainer.fit(&mut net, &data, None, &mut NoObserver).unwrap();
    let eval = nn_train::evaluate(&net, &data, 32).unwrap();
    assert!(eval.accuracy.is_none() && eval.regression.is_none());
    let m = eval.multilabel.unwrap();
    assert!(m.subset_accuracy >= 0.95 && m.micro_f1 >= 0.95, "{m:?}");
    // A wrong sample has 1 to 3 of its 3 labels wrong.
    let wrong = 1.0 - m.subset_accuracy;
    assert!(m.hamming_loss >= wrong / 3.0 - 1e-12 && m.hamming_loss <= wrong + 1e-12);
    let whole = nn_core::metrics::multilabel_metrics(
        net.predict_proba(data.inputs()).unwrap().as_ref(),
        data.target_matrix().unwrap(),
    )
    .unwrap();
    assert_eq!(m, whole, "batches of 32 count what the whole does");
}
