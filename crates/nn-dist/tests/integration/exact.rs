//! Training in a group gives the bits of training in one process.

use nn_core::Activation;
use nn_dist::{ChainReducer, Options};
use nn_train::optim::OptimizerConfig;
use nn_train::{NoObserver, TrainConfig};

use crate::support::{blobs, classifier, on_ranks, outcome, train_alone, train_in_group};

fn config(shards: usize, threads: usize) -> TrainConfig {
    // 50 samples in batches of 16: the last batch has 2 samples, fewer than most shard counts, so
    // some shards are empty in it.
    TrainConfig::new(16, 0.01, OptimizerConfig::adam())
        .with_epochs(2)
        .with_shards(shards)
        .with_threads(threads)
        .with_dropout(0.2)
        .with_seed(5)
        .with_clip_norm(5.0)
}

#[test]
fn one_to_four_ranks_train_bit_identically_to_one_process() {
    let data = blobs::<f32>(50, 7, 3, 1);
    let start = classifier::<f32>(&[7, 24, 12, 3], Activation::Relu, 2);
    for ranks in 1..=4 {
        for shards in [ranks, ranks + 1, 2 * ranks + 1] {
            let alone = {
                let (net, trainer) = train_alone(&start, &data, &config(shards, 1), None);
                outcome(&net, &trainer)
            };
            // Small chunks: the gradient travels in many pieces, some cut inside a layer.
            let options = Options::default().with_chunk_elems(40);
            let results = on_ranks(ranks, options, |g| {
                let threads = 1 + g.rank() % 2;
                let (net, trainer) = train_in_group(
                    &g,
                    &start,
                    &data,
                    &config(shards, threads),
                    None,
                    &mut NoObserver,
                )
                .unwrap();
                outcome(&net, &trainer)
            });
            for (rank, got) in results.iter().enumerate() {
                assert!(
                    got == &alone,
                    "{ranks} ranks, {shards} shards: rank {rank} differs from one process"
                );
            }
        }
    }
}

#[test]
fn f64_and_sgd_with_momentum_are_bit_identical_too() {
    let data = blobs::<f64>(37, 5, 2, 3);
    let start = classifier::<f64>(&[5, 9, 2], Activation::Tanh, 4).with_l2(0.01).unwrap();
    let config = TrainConfig::new(10, 0.05, OptimizerConfig::sgd().with_momentum(0.9))
        .with_epochs(3)
        .with_shards(3);
    let alone = {
        let (net, trainer) = train_alone(&start, &data, &config, None);
        outcome(&net, &trainer)
    };
    let results = on_ranks(3, Options::default(), |g| {
        let (net, trainer) =
            train_in_group(&g, &start, &data, &config, None, &mut NoObserver).unwrap();
        outcome(&net, &trainer)
    });
    assert!(results.iter().all(|r| r == &alone));
}

#[test]
fn resuming_with_another_number_of_ranks_gives_the_same_bits() {
    let data = blobs::<f32>(60, 6, 3, 7);
    let start = classifier::<f32>(&[6, 16, 3], Activation::Relu, 8);
    let full = config(4, 1);
    let half = full.clone().with_epochs(1);
    let alone = {
        let (net, trainer) = train_alone(&start, &data, &full, None);
        outcome(&net, &trainer)
    };
    // Epoch 1 with 2 ranks, epoch 2 with 3 ranks (from rank 0's state), and 4 then 1.
    for (first, second) in [(2, 3), (4, 1), (1, 2)] {
        let saved = on_ranks(first, Options::default(), |g| {
            let (net, trainer) =
                train_in_group(&g, &start, &data, &half, None, &mut NoObserver).unwrap();
            (net, trainer.state())
        });
        let (net, state) = saved.into_iter().next().unwrap();
        let results = on_ranks(second, Options::default(), |g| {
            let (net, trainer) =
                train_in_group(&g, &net, &data, &full, Some(state.clone()), &mut NoObserver)
                    .unwrap();
            outcome(&net, &trainer)
        });
        for got in &results {
            assert!(got == &alone, "{first} ranks, then {second}: differs from one process");
        }
    }
}

#[test]
fn shards_are_split_in_contiguous_runs_covering_all() {
    for size in 1..6 {
        for n_shards in size..20 {
            let mut next = 0;
            for rank in 0..size {
                let run = ChainReducer::<f32>::shards_of(rank, size, n_shards);
                assert_eq!(run.start, next);
                assert!(!run.is_empty());
                next = run.end;
            }
            assert_eq!(next, n_shards);
        }
    }
}

#[test]
fn the_bytes_sent_per_step_are_one_gradient_per_neighbour_and_direction() {
    let data = blobs::<f32>(40, 6, 3, 7);
    let start = classifier::<f32>(&[6, 16, 3], Activation::Relu, 8);
    let n_params = start.n_params() as u64;
    let config = TrainConfig::new(10, 0.01, OptimizerConfig::sgd().with_momentum(0.0))
        .with_epochs(1)
        .with_shards(3);
    let stats = on_ranks(3, Options::default(), |g| {
        let mut net = start.clone();
        let reducer = g.chain_reducer(&net).unwrap();
        let stats = reducer.stats();
        let mut trainer = nn_train::Trainer::new(&net, config.clone())
            .unwrap()
            .with_reducer(&net, reducer)
            .unwrap();
        trainer.fit(&mut net, &data, None, &mut NoObserver).unwrap();
        let mine = stats.get();
        (mine, g.gather_stats(&mine).unwrap())
    });
    // Per step: each rank sends the gradient (4 bytes an entry) and a 32-byte header to each
    // neighbour: ranks 0 and 2 have one neighbour, rank 1 two.
    let one = 4 * n_params + 32;
    for (rank, expected) in [one, 2 * one, one].into_iter().enumerate() {
        assert_eq!(stats[rank].0.steps, 4);
        assert_eq!(stats[rank].0.bytes_sent, 4 * expected, "rank {rank}");
        assert_eq!(stats[rank].0.bytes_received, 4 * expected, "rank {rank}");
    }
    let gathered = &stats[0].1;
    assert_eq!(gathered.len(), 3);
    for (rank, s) in gathered.iter().enumerate() {
        assert_eq!(s.bytes_sent, stats[rank].0.bytes_sent);
    }
    assert!(stats[1].1.is_empty() && stats[2].1.is_empty());
}

#[test]
fn steps_on_a_batch_given_by_the_caller_are_bit_identical_too() {
    // `Trainer::step` takes the whole batch in every rank; each rank uses its shards' columns.
    let data = blobs::<f64>(23, 5, 3, 9);
    let start = classifier::<f64>(&[5, 8, 3], Activation::Relu, 1);
    let config = TrainConfig::new(23, 0.1, OptimizerConfig::adam()).with_shards(5);
    let run = |trainer: &mut nn_train::Trainer<f64>, net: &mut nn_core::Network<f64>| {
        (0..3)
            .map(|_| trainer.step(net, data.inputs(), data.targets()).unwrap().to_bits())
            .collect::<Vec<_>>()
    };
    let mut net = start.clone();
    let mut trainer = nn_train::Trainer::new(&net, config.clone()).unwrap();
    let losses = run(&mut trainer, &mut net);
    let alone = crate::support::bits(&net);
    let results = on_ranks(3, Options::default(), |g| {
        let mut net = start.clone();
        let reducer = g.chain_reducer(&net).unwrap();
        let mut trainer = nn_train::Trainer::new(&net, config.clone())
            .unwrap()
            .with_reducer(&net, reducer)
            .unwrap();
        (run(&mut trainer, &mut net), crate::support::bits(&net))
    });
    for (l, params) in results {
        assert_eq!(l, losses);
        assert!(params == alone);
    }
}
