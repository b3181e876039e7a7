//! Benchmarks: `cargo bench`. Groups:
//! - `w1_step`: forward + backward of W1's network (784-256-128-10, ReLU, softmax-CE, f32, batch
//!   128; `../shared/bench/WORKLOADS.md`), one thread, next to `w1_gemms`: the 8 bare GEMMs of the
//!   same shapes, so the ratio of the two is the share of GEMM speed the full step keeps.
//! - `gemm_wrapper`: `nn_linalg::gemm_into` against faer's own `matmul` on one W1 shape.
//! - `forward_backward`: 784-128-10 for batch 32, 128 and 512.
//! - `train_step`, `train_epoch`: the trainer (W1's network, SGD momentum) on synthetic data, with
//!   1 and 2 threads, so regressions show without the data set.

#![allow(missing_docs, reason = "criterion_group! generates undocumented items")]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use nn::linalg::{Accum, Mat, Par, gemm_into};
use nn::net::rng::{ChaCha8Rng, SeedableRng, uniform_f64};
use nn::net::{Activation, Gradients, Loss, Network, Targets, Workspace};
use nn::train::optim::OptimizerConfig;
use nn::train::{Dataset, TrainConfig, Trainer};

// GFLOP/s of a group = its samples/s × 1,007,104 FLOP (one W1 training sample, WORKLOADS.md:
// forward 2N, weight gradients 2N, input gradients of layers 2 and 3).

fn random(rows: usize, cols: usize, rng: &mut ChaCha8Rng) -> Mat<f32> {
    Mat::from_fn(rows, cols, |_, _| uniform_f64(rng) as f32 - 0.5)
}

fn network(sizes: &[usize]) -> Network<f32> {
    let mut b = Network::builder(sizes[0], Loss::SoftmaxCrossEntropy);
    for &n in &sizes[1..sizes.len() - 1] {
        b = b.layer(n, Activation::Relu);
    }
    b.layer(sizes[sizes.len() - 1], Activation::Identity)
        .build(&mut ChaCha8Rng::seed_from_u64(0))
        .expect("valid network")
}

fn step_bench(c: &mut Criterion, group: &str, sizes: &[usize], batch: usize) {
    let net = network(sizes);
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let x = Mat::<f32>::from_fn(sizes[0], batch, |_, _| uniform_f64(&mut rng) as f32);
    let labels: Vec<usize> = (0..batch).map(|k| k % sizes[sizes.len() - 1]).collect();
    let mut ws = Workspace::for_network(&net, batch).expect("workspace");
    let mut grads = Gradients::zeros_like(&net);
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(batch as u64));
    g.bench_function(format!("batch{batch}"), |b| {
        b.iter(|| {
            net.forward_backward_into(
                black_box(x.as_ref()),
                Targets::Classes(&labels),
                &mut ws,
                &mut grads,
            )
            .expect("step")
        });
    });
    g.finish();
}

fn w1(c: &mut Criterion) {
    step_bench(c, "w1_step", &[784, 256, 128, 10], 128);

    // The 8 GEMMs of one W1 step, same shapes and transposes, into reused buffers.
    let b = 128;
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let (w1, w2, w3) =
        (random(256, 784, &mut rng), random(128, 256, &mut rng), random(10, 128, &mut rng));
    let x = random(784, b, &mut rng);
    let (mut a1, mut a2, mut z3) =
        (random(256, b, &mut rng), random(128, b, &mut rng), random(10, b, &mut rng));
    let (mut d1, mut d2, d3) =
        (random(256, b, &mut rng), random(128, b, &mut rng), random(10, b, &mut rng));
    let (mut g1, mut g2, mut g3) =
        (random(256, 784, &mut rng), random(128, 256, &mut rng), random(10, 128, &mut rng));
    let mut g = c.benchmark_group("w1_gemms");
    g.throughput(Throughput::Elements(b as u64));
    g.bench_function(format!("batch{b}"), |bench| {
        bench.iter(|| {
            let p = Par::Seq;
            let r = Accum::Replace;
            gemm_into(a1.as_mut(), r, w1.as_ref(), x.as_ref(), 1.0, p).expect("F2 1");
            gemm_into(a2.as_mut(), r, w2.as_ref(), a1.as_ref(), 1.0, p).expect("F2 2");
            gemm_into(z3.as_mut(), r, w3.as_ref(), a2.as_ref(), 1.0, p).expect("F2 3");
            gemm_into(g3.as_mut(), r, d3.as_ref(), a2.transpose(), 1.0, p).expect("B3 3");
            gemm_into(d2.as_mut(), r, w3.transpose(), d3.as_ref(), 1.0, p).expect("B2 2");
            gemm_into(g2.as_mut(), r, d2.as_ref(), a1.transpose(), 1.0, p).expect("B3 2");
            gemm_into(d1.as_mut(), r, w2.transpose(), d2.as_ref(), 1.0, p).expect("B2 1");
            gemm_into(g1.as_mut(), r, d1.as_ref(), x.transpose(), 1.0, p).expect("B3 1");
            black_box(&g1);
        });
    });
    g.finish();
}

fn gemm_wrapper(c: &mut Criterion) {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let (w, x) = (random(256, 784, &mut rng), random(784, 128, &mut rng));
    let mut z = Mat::<f32>::zeros(256, 128);
    let mut g = c.benchmark_group("gemm_wrapper");
    g.throughput(Throughput::Elements(2 * 256 * 784 * 128));
    g.bench_function("nn_linalg_gemm_into", |b| {
        b.iter(|| {
            gemm_into(z.as_mut(), Accum::Replace, w.as_ref(), black_box(x.as_ref()), 1.0, Par::Seq)
        })
    });
    g.bench_function("faer_matmul", |b| {
        b.iter(|| {
            faer::linalg::matmul::matmul(
                z.as_mut(),
                Accum::Replace,
                w.as_ref(),
                black_box(x.as_ref()),
                1.0,
                faer::Par::Seq,
            )
        })
    });
    g.finish();
}

/// The trainer on synthetic data: one training step (W1's network, batch 128, SGD momentum, 2
/// shards) and one epoch of 10,000 samples, with 1 and 2 threads.
fn training(c: &mut Criterion) {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let n = 10_000;
    let x = Mat::<f32>::from_fn(784, n, |_, _| uniform_f64(&mut rng) as f32);
    let data = Dataset::classification(x, (0..n).map(|k| k % 10).collect(), 10).expect("data");
    let batch = data.head(128);
    for threads in [1, 2] {
        let config = TrainConfig::new(128, 0.05, OptimizerConfig::sgd().with_momentum(0.9))
            .with_threads(threads);
        let mut net = network(&[784, 256, 128, 10]);
        let mut trainer = Trainer::new(&net, config).expect("trainer");
        let mut g = c.benchmark_group("train_step");
        g.throughput(Throughput::Elements(128));
        g.bench_function(format!("w1_batch128_threads{threads}"), |b| {
            b.iter(|| trainer.step(&mut net, batch.inputs(), batch.targets()).expect("step"));
        });
        g.finish();
        let mut g = c.benchmark_group("train_epoch");
        g.throughput(Throughput::Elements(n as u64));
        g.sample_size(10);
        g.bench_function(format!("w1_10k_threads{threads}"), |b| {
            b.iter(|| trainer.run_epoch(&mut net, &data).expect("epoch"));
        });
        g.finish();
    }
}

fn forward_backward(c: &mut Criterion) {
    for batch in [32, 128, 512] {
        step_bench(c, "forward_backward_784_128_10", &[784, 128, 10], batch);
    }
}

criterion_group!(benches, w1, gemm_wrapper, forward_backward, training);
criterion_main!(benches);
