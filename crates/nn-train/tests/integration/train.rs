//! End-to-end learning, early stopping, observers and divergence.

use nn_core::{Activation, Network, Targets};
use nn_linalg::Mat;
use nn_train::optim::OptimizerConfig;
use nn_train::{
    Control, Dataset, EarlyStopping, EpochReport, Error, NoObserver, Observer, TrainConfig, Trainer,
};

use crate::support::{bits, blobs, classifier, spirals};

#[test]
fn xor_is_learned_with_a_fixed_seed() {
    let x = Mat::<f32>::from_fn(2, 4, |i, j| ((j >> i) & 1) as f32);
    let data = Dataset::classification(x, vec![0, 1, 1, 0], 2).unwrap();
    let mut net = classifier::<f32>(&[2, 4, 2], Activation::Tanh, 3);
    let config = TrainConfig::new(4, 0.3, OptimizerConfig::sgd(0.9)).with_epochs(300);
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
    let es = EarlyStopping { patience: 3, min_delta: 0.0, restore_best: true };
    let config = TrainConfig::new(16, 0.1, OptimizerConfig::sgd(0.0))
        .with_epochs(50)
        .with_early_stopping(es);
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
    let config = TrainConfig::new(8, 0.05, OptimizerConfig::sgd(0.9)).with_epochs(20);
    let mut trainer = Trainer::new(&net, config).unwrap();
    let mut rec = Recorder { params: vec![], stop_at: Some(2), batches: 0 };
    let report = trainer.fit(&mut net, &data, None, &mut rec).unwrap();
    assert!(report.stopped_by_observer && !report.stopped_early);
    assert_eq!(report.epochs_completed, 3);
    assert_eq!(trainer.history().len(), 3);
}

#[test]
fn divergence_is_an_error_and_leaves_the_parameters_as_they_were() {
    let mut net = classifier::<f32>(&[2, 3, 2], Activation::Relu, 1);
    let before = bits(&net);
    let config = TrainConfig::new(4, 0.1, OptimizerConfig::sgd(0.0));
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
    let config = TrainConfig::new(8, 1e6, OptimizerConfig::adamw(0.01)).with_epochs(100);
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
    assert!(eval.mse.is_none());
    // The loss is the mean data loss, without any penalty, whatever the batch size.
    let eval_all = nn_train::evaluate(&net, &data, 1000).unwrap();
    assert!((eval.loss - eval_all.loss).abs() < 1e-12);
}
