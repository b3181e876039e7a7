//! Benchmarks: `cargo bench`. Groups:
//! - `w1_step`: forward + backward of W1's network (784-256-128-10, ReLU, softmax-CE, f32, batch
//!   128; `docs/workloads.md`), one thread, next to `w1_gemms`: the 8 bare GEMMs of the
//!   same shapes, so the ratio of the two is the share of GEMM speed the full step keeps.
//! - `gemm_wrapper`: `nn_linalg::gemm_into` against faer's own `matmul` on one W1 shape.
//! - `forward_backward`: 784-128-10 for batch 32, 128 and 512.
//! - `train_step`, `train_epoch`: the trainer (W1's network, SGD momentum) on synthetic data, with
//!   1 and 2 threads, so regressions show without the data set.
//! - `vmath`: every element-wise kernel of `nn_linalg::vmath` (the math functions, each activation
//!   forward and backward, identity included, softmax, the binary cross-entropy, row sums, the
//!   bias copy) on 4096 f32 elements, at every level this CPU runs (`…/avx512`, `…/avx2-fma`,
//!   `…/neon`) and at the portable level (`…/portable`), in elements per second.
//! - `packed`: the inference product of `nn_linalg::packed` (`PackedTheta::product_into`, f32)
//!   on W3's first layer (256 × 785: the bias and 784 inputs) at every level this CPU runs
//!   (`…/avx512`, `…/avx2-fma`, `…/portable` for batch 1 only), for batch 1 (the Predictor's
//!   batch-1 path; Θ too large for L1, streamed from L2 or L3), batch 12 (one register tile) and
//!   batch 500 (a W3 chunk with 2 threads), next to faer's GEMM on the same shapes (`faer/…`,
//!   a bias broadcast then `gemm_into`: training's forward product); and whole W3 forward passes
//!   (`w3_predict_one`, `w3_batch500`) through `nn_core::Predictor`. In multiply-adds per second
//!   (elements = n·(m+1)·b).
//! - `sse_after_gemm`: a scalar loop compiled for baseline x86-64 (legacy SSE instructions), timed
//!   right after a GEMM that runs faer's assembly micro-kernels, once after faer's own `matmul`
//!   (which leaves the upper halves of the vector registers dirty) and once after
//!   `nn_linalg::gemm_into` (which clears them). On Intel CPUs the first is many times slower (a
//!   scalar sigmoid: 182 ns against 4.5 ns per element on a Xeon with AVX-512); on AMD CPUs, which
//!   have no SSE/AVX transition penalty, both run at the same speed. A regression of the fix in
//!   `nn_linalg::upper_state` shows here on Intel (and in `crates/nn-linalg/tests/integration/upper_state.rs`
//!   on every CPU with XINUSE).

#![allow(missing_docs, reason = "criterion_group! generates undocumented items")]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use nn::linalg::packed::PackedTheta;
use nn::linalg::vmath::{Act, BceTargets, Kernels, MathFn, SimdLevel};
use nn::linalg::{Accum, Mat, Par, broadcast_col_into, gemm_into};
use nn::net::rng::{ChaCha8Rng, SeedableRng, uniform_f64};
use nn::net::{Activation, Gradients, Loss, Network, Predictor, Targets, Workspace};
use nn::train::optim::OptimizerConfig;
use nn::train::{Dataset, TrainConfig, Trainer};

// GFLOP/s of a group = its samples/s × 1,007,104 FLOP (one W1 training sample, docs/workloads.md:
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

/// A scalar loop of legacy-SSE instructions after a GEMM, with and without the vzeroupper fix.
fn sse_after_gemm(c: &mut Criterion) {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let (a, b) = (random(64, 64, &mut rng), random(64, 64, &mut rng));
    let mut dst = Mat::<f32>::zeros(64, 64);
    let z: Vec<f32> = (0..1024).map(|i| (i as f32) * 0.01 - 5.0).collect();
    let mut out = vec![0.0f32; z.len()];
    // The scalar sigmoid of the issue (libm's expf, then SSE arithmetic) and a loop of SSE
    // arithmetic alone (softsign), timed without the GEMM before them.
    let sigmoid = |z: &[f32], out: &mut [f32]| {
        for (o, &v) in out.iter_mut().zip(z) {
            *o = 1.0 / (1.0 + (-v).exp());
        }
    };
    let softsign = |z: &[f32], out: &mut [f32]| {
        for (o, &v) in out.iter_mut().zip(z) {
            *o = v / (1.0 + v.abs());
        }
    };
    let mut g = c.benchmark_group("sse_after_gemm");
    g.throughput(Throughput::Elements(z.len() as u64));
    for (name, kernel) in
        [("sigmoid", &sigmoid as &dyn Fn(&[f32], &mut [f32])), ("softsign", &softsign)]
    {
        for fixed in [false, true] {
            let label = if fixed { "after_gemm_into" } else { "after_faer_matmul" };
            g.bench_function(format!("{name}_{label}"), |bench| {
                bench.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        if fixed {
                            gemm_into(
                                dst.as_mut(),
                                Accum::Replace,
                                a.as_ref(),
                                b.as_ref(),
                                1.0,
                                Par::Seq,
                            )
                            .expect("gemm");
                        } else {
                            faer::linalg::matmul::matmul(
                                dst.as_mut(),
                                Accum::Replace,
                                a.as_ref(),
                                b.as_ref(),
                                1.0,
                                faer::Par::Seq,
                            );
                        }
                        let started = Instant::now();
                        kernel(black_box(&z), &mut out);
                        total += started.elapsed();
                        black_box(&out);
                    }
                    total
                });
            });
        }
    }
    g.finish();
}

/// The element-wise kernels, vector (the detected level) against portable.
fn vmath(c: &mut Criterion) {
    const N: usize = 4096;
    let z: Vec<f32> = (0..N).map(|i| ((i * 7919 % 4096) as f32 - 2048.0) / 256.0).collect();
    let positive: Vec<f32> = z.iter().map(|v| v.abs() + 0.01).collect();
    let mut out = vec![0.0f32; N];
    let mut delta = vec![0.0f32; N];
    let mask: Vec<f32> = (0..N).map(|i| if i % 5 == 0 { 0.0 } else { 1.25 }).collect();
    let y: Vec<f32> = (0..N).map(|i| (i % 2) as f32).collect();
    // Every level this CPU runs, widest first, down to the portable one: on an AVX-512 CPU the
    // AVX2 path (what AVX2-only CPUs run) is measured too.
    let levels: Vec<SimdLevel> = SimdLevel::supported().collect();
    let mut g = c.benchmark_group("vmath");
    g.throughput(Throughput::Elements(N as u64));
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));
    for level in levels {
        let k = Kernels::with_level(level).expect("supported level");
        for f in MathFn::ALL {
            let x = if f == MathFn::Ln { &positive } else { &z };
            g.bench_function(format!("{f:?}/{level}"), |b| {
                b.iter(|| k.map(f, black_box(x), &mut out).expect("lengths"));
            });
        }
        for act in [
            Act::Sigmoid,
            Act::Tanh,
            Act::Relu,
            Act::LeakyRelu { alpha: 0.01 },
            Act::Elu { alpha: 1.0 },
            Act::Gelu,
            Act::GeluTanh,
            Act::Silu,
            Act::Softplus,
            Act::Identity,
        ] {
            let name = format!("{act:?}").split_whitespace().next().unwrap_or("act").to_owned();
            k.forward(act, &z, &mut out).expect("lengths");
            g.bench_function(format!("{name}_forward/{level}"), |b| {
                b.iter(|| k.forward(act, black_box(&z), &mut out).expect("lengths"));
            });
            g.bench_function(format!("{name}_backward/{level}"), |b| {
                b.iter(|| {
                    delta.fill(1.0);
                    k.backward(act, black_box(&z), &out, &mut delta).expect("lengths");
                });
            });
            g.bench_function(format!("{name}_backward_masked/{level}"), |b| {
                b.iter(|| {
                    delta.fill(1.0);
                    k.backward_masked(act, black_box(&z), &mask, &mut delta).expect("lengths");
                });
            });
        }
        // Softmax and the binary cross-entropy on columns of 10 (W1's output layer).
        g.bench_function(format!("softmax_columns_of_10/{level}"), |b| {
            b.iter(|| {
                for (zc, ac) in z.chunks(10).zip(out.chunks_mut(10)) {
                    black_box(k.softmax(black_box(zc), ac).expect("lengths"));
                }
            });
        });
        g.bench_function(format!("bce_columns_of_10/{level}"), |b| {
            b.iter(|| {
                for (zc, yc) in z.chunks(10).zip(y.chunks(10)) {
                    black_box(k.bce_sum(black_box(zc), BceTargets::Values(yc), None).expect("len"));
                }
            });
        });
        g.bench_function(format!("row_sums_add/{level}"), |b| {
            b.iter(|| k.add_scaled(&mut delta, black_box(&z), 1.0).expect("lengths"));
        });
        g.bench_function(format!("bias_copy/{level}"), |b| {
            b.iter(|| k.copy(&mut out, black_box(&z)).expect("lengths"));
        });
    }
    g.finish();
}

fn packed(c: &mut Criterion) {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let theta = random(256, 785, &mut rng);
    let x = random(784, 500, &mut rng);
    let mut out = Mat::<f32>::zeros(256, 500);
    let mut g = c.benchmark_group("packed");
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));
    for b in [1usize, 12, 500] {
        g.throughput(Throughput::Elements((256 * 785 * b) as u64));
        for level in SimdLevel::supported() {
            if level == SimdLevel::Portable && b > 1 {
                continue;
            }
            let k = Kernels::with_level(level).expect("supported level");
            let p = PackedTheta::with_kernels(theta.as_ref(), k).expect("packs");
            g.bench_function(format!("batch{b}/{level}"), |bench| {
                bench.iter(|| {
                    let dst = out.as_mut().subcols_mut(0, b);
                    p.product_into(black_box(x.as_ref().subcols(0, b)), dst).expect("shapes");
                });
            });
        }
        g.bench_function(format!("batch{b}/faer"), |bench| {
            bench.iter(|| {
                let mut dst = out.as_mut().subcols_mut(0, b);
                broadcast_col_into(dst.as_mut(), theta.col(0)).expect("bias");
                let (w, x) = (theta.as_ref().subcols(1, 784), black_box(x.as_ref().subcols(0, b)));
                gemm_into(dst, Accum::Add, w, x, 1.0, Par::Seq).expect("shapes");
            });
        });
    }
    let net = network(&[784, 256, 128, 10]);
    let one: Vec<f32> = x.col_as_slice(0).to_vec();
    let mut predictor = Predictor::new(&net, 500).expect("predictor");
    let mut classes = vec![0usize; 500];
    g.throughput(Throughput::Elements(235_000));
    g.bench_function("w3_predict_one", |bench| {
        bench.iter(|| predictor.classify_one(black_box(&one)).expect("shape"));
    });
    g.throughput(Throughput::Elements(235_000 * 500));
    g.bench_function("w3_batch500", |bench| {
        bench.iter(|| predictor.predict_into(black_box(x.as_ref()), &mut classes).expect("shape"));
    });
    g.finish();
}

criterion_group!(
    benches,
    w1,
    gemm_wrapper,
    forward_backward,
    training,
    sse_after_gemm,
    vmath,
    packed
);
criterion_main!(benches);
