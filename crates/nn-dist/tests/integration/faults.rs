//! Lost ranks, divergence, and shard counts that do not fit.

use nn_core::{Activation, Network};
use nn_dist::{Error, FailureCause, Options};
use nn_linalg::Mat;
use nn_train::optim::OptimizerConfig;
use nn_train::{BatchReport, Control, Dataset, NoObserver, Observer, TrainConfig, Trainer};

use crate::support::{blobs, classifier, on_ranks, quick, train_alone, train_in_group};

/// Stops after `n` batches: for this rank, as if it were killed there.
struct StopAfter(usize);

impl<T: nn_core::Float> Observer<T> for StopAfter {
    fn on_batch(&mut self, report: &BatchReport) -> Control {
        if report.batch_idx + 1 >= self.0 { Control::Stop } else { Control::Continue }
    }
}

/// The peer a timeout names.
fn timeout_peer(e: &nn_train::Error) -> Option<usize> {
    match e {
        nn_train::Error::Reduction { all_processes: false, source } => {
            match source.downcast_ref::<Error>() {
                Some(Error::Timeout { peer, .. }) => Some(*peer),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The nn-dist error inside a trainer's error.
fn dist_error(e: &nn_train::Error) -> Option<(&Error, bool)> {
    match e {
        nn_train::Error::Reduction { all_processes, source } => {
            source.downcast_ref::<Error>().map(|d| (d, *all_processes))
        }
        _ => None,
    }
}

#[test]
fn a_rank_that_disappears_mid_training_is_named_by_its_neighbours() {
    let data = blobs::<f32>(80, 6, 3, 7);
    let start = classifier::<f32>(&[6, 16, 3], Activation::Relu, 8);
    let config = TrainConfig::new(10, 0.01, OptimizerConfig::sgd().with_momentum(0.9))
        .with_epochs(2)
        .with_shards(4);
    for lost in 0..4 {
        let started = std::time::Instant::now();
        let results = on_ranks(4, quick(), |g| {
            let rank = g.rank();
            let mut stop = StopAfter(3);
            let observer: &mut (dyn Observer<f32> + Send) =
                if rank == lost { &mut stop } else { &mut NoObserver };
            let r = train_in_group(&g, &start, &data, &config, None, observer);
            // The lost rank leaves the group: its channel closes.
            drop(g);
            r.map(|_| ())
        });
        assert!(results[lost].is_ok());
        // Its neighbours give up first and name it (the others, in-process, then time out on the
        // neighbours; over MPI the first one aborts the whole job).
        for neighbour in [lost.wrapping_sub(1), lost + 1] {
            if let Some(Err(e)) = results.get(neighbour) {
                assert_eq!(timeout_peer(e), Some(lost), "rank {neighbour}: {e}");
            } else if neighbour < 4 {
                panic!("rank {neighbour} did not fail: {:?}", results[neighbour]);
            }
        }
        for (rank, r) in results.iter().enumerate() {
            assert!(rank == lost || r.is_err(), "rank {rank} went on without rank {lost}");
        }
        assert!(started.elapsed().as_secs() < 30);
    }
}

#[test]
fn a_non_finite_loss_in_one_rank_stops_every_rank_with_the_same_error() {
    // Sample 17 overflows f32 in the forward pass; it lands in some rank's shard at some step.
    let mut x = Mat::<f32>::from_fn(4, 40, |i, j| ((i * 7 + j * 3) % 5) as f32 * 0.2);
    x[(2, 17)] = 3e38;
    let data = Dataset::classification(x, (0..40).map(|j| j % 2).collect(), 2).unwrap();
    let start = classifier::<f32>(&[4, 8, 2], Activation::Relu, 1);
    let config = TrainConfig::new(8, 0.01, OptimizerConfig::sgd().with_momentum(0.0))
        .with_epochs(1)
        .with_shards(4);
    let expected = {
        let mut net = start.clone();
        let mut trainer = Trainer::new(&net, config.clone()).unwrap();
        trainer.fit(&mut net, &data, None, &mut NoObserver).unwrap_err()
    };
    assert!(matches!(expected, nn_train::Error::NonFiniteLoss { .. }));
    let results = on_ranks(4, Options::default(), |g| {
        train_in_group(&g, &start, &data, &config, None, &mut NoObserver).map(|_| ())
    });
    for r in results {
        assert_eq!(r.unwrap_err(), expected);
    }
}

#[test]
fn fewer_shards_than_ranks_is_an_error_in_every_rank() {
    let data = blobs::<f32>(20, 3, 2, 1);
    let start = classifier::<f32>(&[3, 4, 2], Activation::Relu, 1);
    let config =
        TrainConfig::new(10, 0.01, OptimizerConfig::sgd().with_momentum(0.0)).with_shards(2);
    let results = on_ranks(3, Options::default(), |g| {
        train_in_group(&g, &start, &data, &config, None, &mut NoObserver).map(|_| ())
    });
    for r in results {
        let e = r.unwrap_err();
        assert_eq!(
            dist_error(&e),
            Some((&Error::TooFewShards { n_shards: 2, n_processes: 3 }, true))
        );
        assert!(e.to_string().contains("use at least as many shards as processes (--shards 3)"));
    }
}

#[test]
fn a_rank_that_never_starts_is_a_timeout_naming_it() {
    let results =
        on_ranks(3, quick().with_startup_timeout(std::time::Duration::from_millis(300)), |g| {
            if g.rank() == 2 {
                return None;
            }
            let mut net: Network<f32> = classifier(&[3, 4, 2], Activation::Relu, 1);
            Some(g.broadcast_parameters(&mut net))
        });
    match &results[0] {
        Some(Err(Error::Timeout { rank: 0, peer: 2, .. })) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn single_process_errors_are_unchanged_by_the_seam() {
    // The local reducer still reports a shard's error (a shape error) as before.
    let data = blobs::<f32>(10, 3, 2, 1);
    let start = classifier::<f32>(&[3, 4, 2], Activation::Relu, 1);
    let config = TrainConfig::new(10, 0.01, OptimizerConfig::sgd().with_momentum(0.0));
    let (net, _) = train_alone(&start, &data, &config.clone().with_epochs(1), None);
    let mut trainer = Trainer::new(&net, config).unwrap();
    let wrong = Mat::<f32>::zeros(5, 4);
    let mut net = net;
    assert!(
        trainer.step(&mut net, wrong.as_ref(), nn_core::Targets::Classes(&[0, 1, 0, 1])).is_err()
    );
}

#[test]
fn a_reducer_built_for_another_network_is_an_error_in_every_rank() {
    let data = blobs::<f32>(20, 3, 2, 1);
    let net = classifier::<f32>(&[3, 4, 2], Activation::Relu, 1);
    let other = classifier::<f32>(&[3, 5, 2], Activation::Relu, 1);
    let config =
        TrainConfig::new(10, 0.01, OptimizerConfig::sgd().with_momentum(0.0)).with_shards(2);
    let results = on_ranks(2, Options::default(), |g| {
        let mut net = net.clone();
        let reducer = g.chain_reducer(&other).unwrap();
        let mut trainer =
            Trainer::new(&net, config.clone()).unwrap().with_reducer(&net, reducer)?;
        trainer.fit(&mut net, &data, None, &mut NoObserver).map(|_| ())
    });
    for (rank, r) in results.into_iter().enumerate() {
        let e = r.unwrap_err();
        // Rank 0 is the first to see it (and marks it in the header); every rank stops at step 0.
        let (d, all) = dist_error(&e).unwrap();
        assert!(all, "rank {rank}");
        assert_eq!(d, &Error::RankFailed { rank: 0, step: 0, cause: FailureCause::Shape });
    }
}
