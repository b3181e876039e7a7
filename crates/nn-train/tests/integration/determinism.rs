//! Bit-reproducibility across thread counts, shards against the whole batch, and exact resume.

use nn_core::Activation;
use nn_train::optim::OptimizerConfig;
use nn_train::schedule::Schedule;
use nn_train::{
    BatchReport, Control, EarlyStopping, Error, NoObserver, Observer, Parallelism, RandomShift,
    TrainConfig, Trainer,
};

use crate::support::{bits, blobs, classifier};

fn config(threads: usize) -> TrainConfig {
    TrainConfig::new(50, 0.01, OptimizerConfig::adam())
        .with_epochs(2)
        .with_shards(4)
        .with_threads(threads)
        .with_dropout(0.2)
        .with_seed(11)
        .with_clip_norm(5.0)
}

#[test]
fn the_same_seed_gives_bit_identical_parameters_with_1_2_4_and_8_threads() {
    // Layers large enough for every parallel path of a step: the 4 shards run on the pool, the
    // batch gather is split (50 samples ≥ 32), and the second layer's Θ (128 × 257) is split
    // twice by the shard sum and by the optimizer's update (see optim.rs's unit test
    // `the_determinism_test_takes_the_parallel_paths` for the thresholds).
    let data = blobs::<f32>(230, 40, 4, 3);
    let mut results = Vec::new();
    for threads in [1, 2, 4, 8] {
        let mut net = classifier::<f32>(&[40, 256, 128, 4], Activation::Relu, 5);
        let mut trainer = Trainer::new(&net, config(threads)).unwrap();
        trainer.fit(&mut net, &data, None, &mut NoObserver).unwrap();
        results.push((threads, bits(&net), trainer.history().last().unwrap().train_loss.to_bits()));
    }
    for (threads, params, loss) in &results[1..] {
        assert!(params == &results[0].1, "{threads} threads differ from 1 thread");
        assert_eq!(*loss, results[0].2);
    }
}

#[test]
fn faer_parallel_gemm_mode_trains_too() {
    let data = blobs::<f32>(100, 8, 2, 3);
    let mut net = classifier::<f32>(&[8, 16, 2], Activation::Relu, 5);
    let config = TrainConfig::new(25, 0.05, OptimizerConfig::sgd().with_momentum(0.9))
        .with_epochs(3)
        .with_threads(2)
        .with_parallelism(Parallelism::FaerGemm);
    let mut trainer = Trainer::new(&net, config).unwrap();
    trainer.fit(&mut net, &data, None, &mut NoObserver).unwrap();
    assert!(trainer.history()[2].train_loss < trainer.history()[0].train_loss);
}

#[test]
fn sharded_step_equals_the_unsharded_step_in_f64() {
    let data = blobs::<f64>(37, 6, 3, 8);
    let start = classifier::<f64>(&[6, 9, 7, 3], Activation::Tanh, 2).with_l2(0.01).unwrap();
    let mut updates = Vec::new();
    for shards in [1, 3, 5] {
        let mut net = start.clone();
        let config =
            TrainConfig::new(37, 1.0, OptimizerConfig::sgd()).with_shards(shards).with_threads(2);
        let mut trainer = Trainer::new(&net, config).unwrap();
        trainer.step(&mut net, data.inputs(), data.targets()).unwrap();
        // With plain SGD and lr = 1, θ_before − θ_after is the gradient.
        let g: Vec<f64> = start
            .layers()
            .iter()
            .zip(net.layers())
            .flat_map(|(a, b)| {
                a.theta_col_major().into_iter().zip(b.theta_col_major()).map(|(x, y)| x - y)
            })
            .collect();
        updates.push(g);
    }
    for other in &updates[1..] {
        for (a, b) in updates[0].iter().zip(other) {
            assert!((a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1e-3), "{a} vs {b}");
        }
    }
}

#[test]
fn resuming_from_the_state_continues_bit_identically() {
    let data = blobs::<f32>(90, 5, 3, 1);
    let schedule = Schedule::Cosine { t_max_epochs: 4, eta_min: 1e-4 };
    let make = || {
        TrainConfig::new(16, 0.02, OptimizerConfig::adamw().with_weight_decay(0.01))
            .with_epochs(4)
            .with_dropout(0.1)
            .with_schedule(schedule)
            .with_seed(3)
    };
    let mut straight = classifier::<f32>(&[5, 10, 3], Activation::Gelu, 9);
    let mut resumed = straight.clone();
    Trainer::new(&straight, make())
        .unwrap()
        .fit(&mut straight, &data, None, &mut NoObserver)
        .unwrap();

    let mut first = Trainer::new(&resumed, make().with_epochs(2)).unwrap();
    first.fit(&mut resumed, &data, None, &mut NoObserver).unwrap();
    let state = first.state();
    drop(first);
    let mut second = Trainer::resume(&resumed, make(), state).unwrap();
    assert_eq!(second.epoch(), 2);
    second.fit(&mut resumed, &data, None, &mut NoObserver).unwrap();
    assert_eq!(bits(&straight), bits(&resumed));
    assert_eq!(second.history().len(), 4);
}

#[test]
fn partial_last_batch_is_kept() {
    let data = blobs::<f64>(23, 2, 2, 4);
    let mut net = classifier::<f64>(&[2, 3, 2], Activation::Tanh, 1);
    let config = TrainConfig::new(10, 0.1, OptimizerConfig::sgd()).with_epochs(1);
    let mut trainer = Trainer::new(&net, config).unwrap();
    trainer.run_epoch(&mut net, &data).unwrap();
    assert_eq!(trainer.n_steps(), 3);
}

#[test]
fn batches_smaller_than_the_shard_count_use_only_the_non_empty_shards() {
    // A batch of 2 samples on 5 shards, after a full batch: the 3 idle shards must not add the
    // gradients they computed in the previous step.
    let data = blobs::<f64>(12, 3, 2, 6);
    let start = classifier::<f64>(&[3, 4, 2], Activation::Tanh, 3);
    let run = |shards: usize| {
        let mut net = start.clone();
        let config = TrainConfig::new(10, 0.5, OptimizerConfig::sgd()).with_shards(shards);
        let mut trainer = Trainer::new(&net, config).unwrap();
        let first = data.head(10);
        trainer.step(&mut net, first.inputs(), first.targets()).unwrap();
        let last = data.subset(&[10, 11]).unwrap();
        trainer.step(&mut net, last.inputs(), last.targets()).unwrap();
        net
    };
    let (one, five) = (run(1), run(5));
    for (a, b) in one.layers().iter().zip(five.layers()) {
        for (x, y) in a.theta_col_major().iter().zip(b.theta_col_major()) {
            assert!((x - y).abs() <= 1e-12 * x.abs().max(1e-3), "{x} vs {y}");
        }
    }
}

/// Stops `fit` after batch `stop_after` of epoch `epoch` (0-based).
struct StopAt {
    epoch: usize,
    stop_after: usize,
}

impl<T: nn_core::Float> Observer<T> for StopAt {
    fn on_batch(&mut self, b: &BatchReport) -> Control {
        if b.epoch == self.epoch && b.batch_idx == self.stop_after {
            Control::Stop
        } else {
            Control::Continue
        }
    }
}

#[test]
fn random_shifts_are_bit_identical_for_any_thread_count_and_across_resume() {
    // 40 features as 5 × 8 images, shifted by up to 2 pixels.
    let data = blobs::<f32>(230, 40, 4, 3);
    let shift = RandomShift::new(5, 8, 2).unwrap();
    let make = |threads: usize, epochs: usize| config(threads).with_epochs(epochs);
    let start = classifier::<f32>(&[40, 256, 128, 4], Activation::Relu, 5);
    let train = |config: TrainConfig| {
        let mut net = start.clone();
        let mut trainer = Trainer::new(&net, config).unwrap();
        trainer.fit(&mut net, &data, None, &mut NoObserver).unwrap();
        (bits(&net), trainer.history().last().unwrap().train_loss.to_bits())
    };
    let reference = train(make(1, 3).with_random_shift(shift));
    for threads in [2, 4] {
        assert!(train(make(threads, 3).with_random_shift(shift)) == reference, "{threads}");
    }
    // The shifts change the training (the option is not ignored).
    assert!(train(make(1, 3)).0 != reference.0);

    // Resumed after an epoch, and after an observer stopped the second epoch in the middle.
    let mut net = start.clone();
    let mut first = Trainer::new(&net, make(2, 1).with_random_shift(shift)).unwrap();
    first.fit(&mut net, &data, None, &mut NoObserver).unwrap();
    let mut second =
        Trainer::resume(&net, make(1, 3).with_random_shift(shift), first.state()).unwrap();
    let report = second.fit(&mut net, &data, None, &mut StopAt { epoch: 1, stop_after: 1 });
    assert!(report.unwrap().partial_epoch.is_some());
    let mut third =
        Trainer::resume(&net, make(4, 3).with_random_shift(shift), second.state()).unwrap();
    third.fit(&mut net, &data, None, &mut NoObserver).unwrap();
    assert!(bits(&net) == reference.0, "resumed with random shifts differs");
    assert_eq!(third.history().last().unwrap().train_loss.to_bits(), reference.1);
}

#[test]
fn resuming_restores_random_shifts_and_label_smoothing_bit_identically() {
    // 40 features as 5 × 8 images, shifted by up to 2 pixels, and smoothed targets.
    let data = blobs::<f32>(230, 40, 4, 3);
    let shift = RandomShift::new(5, 8, 2).unwrap();
    let plain = |epochs: usize| config(2).with_epochs(epochs);
    let augmented =
        |epochs: usize| plain(epochs).with_random_shift(shift).with_label_smoothing(0.1);
    let start = classifier::<f32>(&[40, 32, 4], Activation::Relu, 5);
    let mut straight = start.clone();
    let mut reference = Trainer::new(&straight, augmented(3)).unwrap();
    reference.fit(&mut straight, &data, None, &mut NoObserver).unwrap();

    // Stopped after 7 steps (in the middle of the second epoch, 5 batches each).
    let mut stopped = start.clone();
    let mut first = Trainer::new(&stopped, augmented(3)).unwrap();
    let report = first.fit(&mut stopped, &data, None, &mut StopAt { epoch: 1, stop_after: 1 });
    assert!(report.unwrap().partial_epoch.is_some());
    assert_eq!(first.n_steps(), 7);
    let state = first.state();
    assert_eq!((state.random_shift, state.label_smoothing), (Some(shift), 0.1));

    // Resumed with the options restated, and with a configuration that leaves them out.
    for (name, config) in [("restated", augmented(3)), ("left out", plain(3))] {
        let mut net = stopped.clone();
        let mut resumed = Trainer::resume(&net, config, state.clone()).unwrap();
        assert_eq!(resumed.config().random_shift, Some(shift), "{name}");
        assert_eq!(resumed.config().label_smoothing, 0.1, "{name}");
        resumed.fit(&mut net, &data, None, &mut NoObserver).unwrap();
        assert!(bits(&net) == bits(&straight), "resumed with the options {name} differs");
        assert_eq!(resumed.state().optimizer, reference.state().optimizer, "{name}");
    }

    // Without them (the state's cleared too), the run continues otherwise: the test can fail.
    let mut cleared = state.clone();
    cleared.random_shift = None;
    cleared.label_smoothing = 0.0;
    let mut net = stopped.clone();
    let mut resumed = Trainer::resume(&net, plain(3), cleared).unwrap();
    resumed.fit(&mut net, &data, None, &mut NoObserver).unwrap();
    assert!(bits(&net) != bits(&straight));
}

#[test]
fn a_resume_that_contradicts_the_random_shifts_or_label_smoothing_is_a_typed_error() {
    let data = blobs::<f32>(60, 40, 4, 3);
    let shift = RandomShift::new(5, 8, 2).unwrap();
    let net = classifier::<f32>(&[40, 8, 4], Activation::Relu, 5);
    let state_of = |config: TrainConfig| {
        let mut n = net.clone();
        let mut trainer = Trainer::new(&n, config.with_epochs(1)).unwrap();
        trainer.fit(&mut n, &data, None, &mut NoObserver).unwrap();
        trainer.state()
    };
    let augmented = state_of(config(1).with_random_shift(shift).with_label_smoothing(0.1));
    let plain = state_of(config(1));
    let resume = |config: TrainConfig, state: &nn_train::TrainerState<f32>| {
        Trainer::resume(&net, config, state.clone()).unwrap_err()
    };
    let other_shift = RandomShift::new(5, 8, 1).unwrap();
    assert_eq!(
        resume(config(1).with_random_shift(other_shift), &augmented),
        Error::ResumeRandomShift { expected: Some(shift), found: other_shift }
    );
    assert_eq!(
        resume(config(1).with_label_smoothing(0.2), &augmented),
        Error::ResumeLabelSmoothing { expected: 0.1, found: 0.2 }
    );
    // Options the run did not train with are contradictions too.
    assert_eq!(
        resume(config(1).with_random_shift(shift), &plain),
        Error::ResumeRandomShift { expected: None, found: shift }
    );
    assert_eq!(
        resume(config(1).with_label_smoothing(0.1), &plain),
        Error::ResumeLabelSmoothing { expected: 0.0, found: 0.1 }
    );
    assert_eq!(
        resume(config(1).with_label_smoothing(0.2), &augmented).to_string(),
        "the configuration's label smoothing (0.2) contradicts the run resumed, which trains with \
         0.1: leave it unset to continue the run as it was"
    );
    assert_eq!(
        resume(config(1).with_random_shift(shift), &plain).to_string(),
        "the configuration's random shifts (shifts of up to 2 pixels of 5 × 8 images) contradict \
         the run resumed, which trains with none: leave them unset to continue the run as it was"
    );
    // A value that is no label smoothing at all is refused as such first.
    assert!(matches!(
        Trainer::resume(&net, config(1).with_label_smoothing(f64::NAN), plain.clone()),
        Err(Error::InvalidHyperparameter { name: "label_smoothing", .. })
    ));
    // A state whose options do not fit the network is refused as a configuration would be.
    let mut bad = plain.clone();
    bad.random_shift = Some(RandomShift::new(4, 4, 1).unwrap());
    assert!(matches!(
        Trainer::resume(&net, config(1), bad),
        Err(Error::ImageFeatures { height: 4, width: 4, n_features: 40 })
    ));
    let mut bad = plain;
    bad.label_smoothing = 1.5;
    assert!(matches!(
        Trainer::resume(&net, config(1), bad),
        Err(Error::InvalidHyperparameter { name: "label_smoothing", .. })
    ));
}

#[test]
fn an_observer_pausing_fit_with_restore_best_leaves_the_parameters_where_training_is() {
    // Early stopping with `restore_best` puts the best epoch's parameters back when training
    // ends. An observer that pauses `fit` in the middle of an epoch does not end it: the
    // parameters must stay those of the last step, or the resumed run differs from an
    // uninterrupted one (they were the best epoch's, undoing the paused epoch's steps).
    let data = blobs::<f32>(230, 40, 4, 3);
    let make = || config(2).with_epochs(3).with_early_stopping(EarlyStopping::new(10));
    let start = classifier::<f32>(&[40, 32, 4], Activation::Relu, 5);
    let mut straight = start.clone();
    let mut reference = Trainer::new(&straight, make()).unwrap();
    reference.fit(&mut straight, &data, Some(&data), &mut NoObserver).unwrap();

    let mut net = start.clone();
    let mut first = Trainer::new(&net, make()).unwrap();
    let report = first.fit(&mut net, &data, Some(&data), &mut StopAt { epoch: 1, stop_after: 1 });
    assert!(report.unwrap().partial_epoch.is_some());
    let mut resumed = Trainer::resume(&net, make(), first.state()).unwrap();
    resumed.fit(&mut net, &data, Some(&data), &mut NoObserver).unwrap();
    assert!(bits(&net) == bits(&straight), "paused and resumed with restore_best differs");
}
