//! The cost of the exact reduction alone, on W1's network (784-256-128-10, 235,146 parameters):
//! every rank trains on one sample per step (so the forward and backward passes cost almost
//! nothing) and the chain carries the whole gradient, as in a real step.
//!
//! ```sh
//! cargo build --release -p nn-dist --features mpi --example chain_bench
//! mpirun -np 2 target/release/examples/chain_bench 2000
//! ```
//! prints, from rank 0, the median time of a step over the given number of steps (default 2000)
//! and every rank's counters: bytes sent per step, time in the reduction, time idle in it.
//! Compare with `-np 1` (the same step without communication).

#![allow(clippy::print_stdout, clippy::unwrap_used, reason = "a benchmark program")]

use std::time::Instant;

use nn_core::rng::{ChaCha8Rng, SeedableRng, uniform_f64};
use nn_core::{Activation, Loss, Network};
use nn_dist::{Group, Options};
use nn_linalg::Mat;
use nn_train::optim::OptimizerConfig;
use nn_train::{TrainConfig, Trainer};

fn main() {
    let steps: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(2000);
    let group = Group::mpi(Options::default()).unwrap();
    let n = group.size();
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut net: Network<f32> = Network::builder(784, Loss::SoftmaxCrossEntropy)
        .layer(256, Activation::Relu)
        .layer(128, Activation::Relu)
        .layer(10, Activation::Identity)
        .build(&mut rng)
        .unwrap();
    // One sample per shard, one shard per rank.
    let x = Mat::<f32>::from_fn(784, n, |_, _| uniform_f64(&mut rng) as f32);
    let labels: Vec<usize> = (0..n).map(|j| j % 10).collect();
    let config =
        TrainConfig::new(n, 0.05, OptimizerConfig::sgd().with_momentum(0.9)).with_shards(n);
    group.broadcast_parameters(&mut net).unwrap();
    let reducer = group.chain_reducer(&net).unwrap();
    let stats = reducer.stats();
    let mut trainer = Trainer::new(&net, config).unwrap().with_reducer(&net, reducer).unwrap();
    let mut times = Vec::with_capacity(steps);
    for _ in 0..steps {
        let started = Instant::now();
        trainer.step(&mut net, x.as_ref(), nn_core::Targets::Classes(&labels)).unwrap();
        times.push(started.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let all = group.gather_stats(&stats.get()).unwrap();
    if group.is_root() {
        println!(
            "{n} ranks, {} parameters: median step {:.3} ms (p10 {:.3}, p90 {:.3}) over {steps} steps",
            net.n_params(),
            1e3 * times[steps / 2],
            1e3 * times[steps / 10],
            1e3 * times[9 * steps / 10]
        );
        for (rank, s) in all.iter().enumerate() {
            println!(
                "rank {rank}: {:.0} bytes sent per step, {:.3} ms per step in the reduction ({:.3} ms idle)",
                s.bytes_sent_per_step(),
                1e3 * s.reduce_seconds_per_step(),
                1e3 * s.wait_seconds_per_step()
            );
        }
    }
}
