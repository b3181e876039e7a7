//! The peer workloads of `docs/workloads.md`, exactly as defined there, on Fashion-MNIST.
//!
//! ```sh
//! cargo run --release --example bench -- --workload w1 --threads 2
//! ```
//! prints one line, for example
//! `workload=w1 threads=2 samples_per_s=150000 s_per_epoch=0.40 gflops=151.1 test_accuracy=0.8730 peak_rss_mib=250.1 peak_gflops=210.0 peak_share=0.720`.
//!
//! - `w1`: train 784-256-128-10 ReLU, softmax cross-entropy, He-uniform init (biases 0), SGD with
//!   momentum 0.9, lr 0.05, batch 128, 5 epochs over the 60,000 training images (the partial last
//!   batch kept). Warm-up: 10 steps on the first 10 batches, then the weights and optimizer state
//!   are reset. Timed: the 5 epochs only (permutation, gather, forward, backward, update).
//! - `w2`: the same with 784-100-10 and a sigmoid hidden layer.
//! - `w3`: inference of the W1 network (init from seed 0) over the 10,000 test images with the
//!   library's `nn_core::Predictor`: batches of 1000 (1 warm-up pass, the median of 7 timed passes;
//!   each batch cut into one chunk per thread, each chunk on its own buffers with sequential
//!   products, `nn_linalg::packed`) and batches of 1 (`Predictor::classify_one`, 500 warm-up calls, the median latency of
//!   10,000 calls).
//! - `fma-peak`: the CPU's f32 FMA throughput with `--threads` threads, on the widest vectors pulp
//!   dispatches to (AVX-512, AVX2, NEON), 12 independent chains per thread to hide the FMA
//!   latency; one second. No data needed.
//!
//! Every line reports its GFLOP/s (FLOP counts of docs/workloads.md: W1 1,007,104 and W2 319,600 per
//! training sample, W3 469,504 per inference) and its share of the FMA peak, measured for 0.2 s in
//! the same process with the same thread count (`peak_gflops`, `peak_share`; W3's batch-1 share is
//! of one thread's peak).
//!
//! `benches/peers/` runs the same workloads in PyTorch, numpy and scikit-learn and prints the same
//! line; `scripts/compare-peers.sh` runs both sides interleaved and prints the ratios.
//!
//! Expected, on the 2-core CI machine: see the performance table of the README.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Parser, ValueEnum};
use nn::io::load_folder;
use nn::net::rng::{ChaCha8Rng, SeedableRng};
use nn::net::{Activation, Init, Loss, Network, Predictor};
use nn::train::optim::OptimizerConfig;
use nn::train::{Dataset, Parallelism, TrainConfig, Trainer, evaluate};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ParallelismArg {
    Shards,
    Faer,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Workload {
    W1,
    W2,
    W3,
    /// The CPU's f32 FMA throughput (no data needed).
    FmaPeak,
}

/// FLOP of one W3 sample: the forward products, 2N (docs/workloads.md).
const W3_FLOP: f64 = 469_504.0;

/// Independent FMA chains per thread: enough to hide the FMA latency (4 cycles) on two FMA ports,
/// and with the two constants within the 16 registers of AVX2.
const FMA_ACCUMULATORS: usize = 12;

/// `FMA_ACCUMULATORS` chains of `acc ← acc·a + b` on the widest f32 vectors pulp dispatches to.
struct FmaChains {
    iterations: u64,
}

impl pulp::WithSimd for FmaChains {
    type Output = (f32, usize);

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, s: S) -> (f32, usize) {
        // Opaque constants: the compiler cannot fold or shorten the chains.
        let (a, b) = std::hint::black_box((s.splat_f32s(0.999_999), s.splat_f32s(1e-6)));
        let mut acc = std::hint::black_box([s.splat_f32s(1.0); FMA_ACCUMULATORS]);
        for _ in 0..self.iterations {
            for v in &mut acc {
                *v = s.mul_add_f32s(*v, a, b);
            }
        }
        let total = acc.into_iter().fold(s.splat_f32s(0.0), |t, v| s.add_f32s(t, v));
        (s.reduce_sum_f32s(total), S::F32_LANES)
    }
}

/// The measured FMA peak.
struct Peak {
    gflops: f64,
    seconds: f64,
    lanes: usize,
    simd: &'static str,
}

/// f32 FMA throughput of `threads` threads running FMA chains at once for about `seconds`
/// (calibrated on one short run), in GFLOP/s (an FMA is 2 FLOP).
fn fma_peak(threads: usize, seconds: f64) -> Peak {
    let arch = pulp::Arch::new();
    let run = |iterations: u64| std::hint::black_box(arch.dispatch(FmaChains { iterations }));
    let calibration = 1u32 << 20;
    let started = Instant::now();
    let (_, lanes) = run(u64::from(calibration));
    let per_iteration = started.elapsed().as_secs_f64().max(1e-9) / f64::from(calibration);
    let iterations = ((seconds / per_iteration) as u64).max(u64::from(calibration));
    let barrier = std::sync::Barrier::new(threads + 1);
    let elapsed = std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                barrier.wait();
                run(iterations);
                barrier.wait();
            });
        }
        barrier.wait();
        let started = Instant::now();
        barrier.wait();
        started.elapsed().as_secs_f64()
    });
    let flop = 2.0 * (iterations * (FMA_ACCUMULATORS * lanes * threads) as u64) as f64;
    let simd = match lanes {
        16 => "avx512",
        8 => "avx2",
        4 => "neon",
        _ => "scalar",
    };
    Peak { gflops: flop / elapsed / 1e9, seconds: elapsed, lanes, simd }
}

/// Runs one workload of docs/workloads.md and prints one `key=value` line.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// The workload.
    #[arg(long, value_enum)]
    workload: Workload,
    /// Threads of the training pool (and of faer's GEMM for batch-1000 inference).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Shards per batch (part of the result; the same for every thread count).
    #[arg(long, default_value_t = 2)]
    shards: usize,
    /// How training uses the threads: `shards` (bit-identical for any thread count) or `faer`
    /// (one shard, faer's parallel GEMM inside each large product; not bit-identical).
    #[arg(long, value_enum, default_value = "shards")]
    parallelism: ParallelismArg,
    /// Seed of the initialisation and the shuffling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Epochs (docs/workloads.md: 5).
    #[arg(long, default_value_t = 5)]
    epochs: usize,
    /// The folder of the four IDX files.
    #[arg(long, default_value = nn::io::FASHION_MNIST_DIR)]
    data: PathBuf,
}

/// Peak resident memory of this process, from `/proc/self/status` (VmHWM), in MiB.
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

fn network(sizes: &[usize], hidden: Activation, seed: u64) -> Result<Network<f32>> {
    let mut b = Network::builder(sizes[0], Loss::SoftmaxCrossEntropy).init(Init::HeUniform);
    for &n in &sizes[1..sizes.len() - 1] {
        b = b.layer(n, hidden);
    }
    Ok(b.layer(sizes[sizes.len() - 1], Activation::Identity)
        .build(&mut ChaCha8Rng::seed_from_u64(seed))?)
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.threads == 0 {
        bail!("--threads must be at least 1");
    }
    if args.workload == Workload::FmaPeak {
        let peak = fma_peak(args.threads, 1.0);
        println!(
            "workload=fma-peak threads={} gflops={:.1} gflops_per_thread={:.1} simd={} f32_lanes={} accumulators={} seconds={:.3}",
            args.threads,
            peak.gflops,
            peak.gflops / args.threads as f64,
            peak.simd,
            peak.lanes,
            FMA_ACCUMULATORS,
            peak.seconds
        );
        return Ok(());
    }
    let data = load_folder(&args.data, Some(10)).with_context(|| {
        format!(
            "cannot load the data set from {}; on Debian or Ubuntu: apt-get install dataset-fashion-mnist",
            args.data.display()
        )
    })?;
    // x = (u8 as f32) / 255.0, built in place: no second copy of the pixels.
    let to_dataset = |set: nn::io::ImageSet| -> Result<Dataset<f32>> {
        let n_features = set.n_features();
        let (pixels, labels) = set.into_parts();
        let labels = labels.into_iter().map(usize::from).collect();
        Ok(Dataset::classification_from_fn(n_features, labels, 10, |i, j| {
            f32::from(pixels[j * n_features + i]) / 255.0
        })?)
    };
    let train = to_dataset(data.train)?;
    let test = to_dataset(data.test)?;
    // The FMA peak of this CPU with the workload's thread count, measured briefly in this process
    // (every line reports its GFLOP/s as a share of it).
    let peak = fma_peak(args.threads, 0.2);

    match args.workload {
        Workload::W1 | Workload::W2 => {
            let (sizes, hidden, flop): (&[usize], _, f64) = match args.workload {
                Workload::W1 => (&[784, 256, 128, 10], Activation::Relu, 1_007_104.0),
                _ => (&[784, 100, 10], Activation::Sigmoid, 319_600.0),
            };
            let initial = network(sizes, hidden, args.seed)?;
            let config = TrainConfig::new(128, 0.05, OptimizerConfig::sgd().with_momentum(0.9))
                .with_epochs(args.epochs)
                .with_threads(args.threads)
                .with_shards(args.shards)
                .with_seed(args.seed)
                .with_parallelism(match args.parallelism {
                    ParallelismArg::Shards => Parallelism::Shards,
                    ParallelismArg::Faer => Parallelism::FaerGemm,
                });
            // Warm-up: 10 steps on the first 10 batches, unshuffled; then reset everything.
            {
                let mut net = initial.clone();
                let mut trainer = Trainer::new(&net, config.clone())?;
                let warm = train.head(1280);
                for k in 0..10 {
                    let idx: Vec<usize> = (k * 128..(k + 1) * 128).collect();
                    let batch = warm.subset(&idx)?;
                    trainer.step(&mut net, batch.inputs(), batch.targets())?;
                }
            }
            let mut net = initial;
            let mut trainer = Trainer::new(&net, config)?;
            let started = Instant::now();
            for _ in 0..args.epochs {
                trainer.run_epoch(&mut net, &train)?;
            }
            let seconds = started.elapsed().as_secs_f64();
            let samples_per_s = (args.epochs * train.n_samples()) as f64 / seconds;
            let eval = evaluate(&net, &test, 1000)?;
            println!(
                "workload={} threads={} samples_per_s={:.0} s_per_epoch={:.3} gflops={:.1} test_accuracy={:.4} test_loss={:.4} peak_rss_mib={:.1} peak_gflops={:.1} peak_share={:.3}",
                if args.workload == Workload::W1 { "w1" } else { "w2" },
                args.threads,
                samples_per_s,
                train.n_samples() as f64 / samples_per_s,
                samples_per_s * flop / 1e9,
                eval.accuracy.unwrap_or(f64::NAN),
                eval.loss,
                peak_rss_mib(),
                peak.gflops,
                samples_per_s * flop / 1e9 / peak.gflops,
            );
        }
        Workload::W3 => {
            let net = network(&[784, 256, 128, 10], Activation::Relu, 0)?;
            let x = test.inputs();
            let pool = rayon::ThreadPoolBuilder::new().num_threads(args.threads).build()?;
            // Batch 1000: the library's Predictor, one chunk per thread, each on its own
            // buffers with sequential products (nn_linalg::packed, not faer's parallel GEMM).
            let mut predictor = Predictor::new(&net, 1000usize.div_ceil(args.threads))?
                .with_threads(args.threads)?;
            let mut classes = vec![0usize; x.ncols()];
            let pass = |p: &mut Predictor<'_, f32>, classes: &mut [usize]| -> Result<f64> {
                let started = Instant::now();
                for (b, batch_classes) in classes.chunks_mut(1000).enumerate() {
                    p.predict_into(x.subcols(b * 1000, batch_classes.len()), batch_classes)?;
                }
                Ok(started.elapsed().as_secs_f64())
            };
            pool.install(|| pass(&mut predictor, &mut classes))?;
            let mut times: Vec<f64> = (0..7)
                .map(|_| pool.install(|| pass(&mut predictor, &mut classes)))
                .collect::<Result<_>>()?;
            times.sort_by(f64::total_cmp);
            let batch_rate = x.ncols() as f64 / times[3];
            // Batch 1: one image at a time (pre-sliced), the Predictor's batch-1 path.
            let images: Vec<&[f32]> =
                nn::linalg::cols(x).context("test images are contiguous columns")?.collect();
            let mut one = Predictor::new(&net, 1)?;
            let mut single = |j: usize| -> Result<f64> {
                let started = Instant::now();
                let class = one.classify_one(images[j])?;
                std::hint::black_box(class);
                Ok(started.elapsed().as_secs_f64())
            };
            for j in 0..500 {
                single(j)?;
            }
            let mut lat: Vec<f64> = (0..x.ncols()).map(&mut single).collect::<Result<_>>()?;
            let total: f64 = lat.iter().sum();
            lat.sort_by(f64::total_cmp);
            let accuracy =
                classes.iter().zip(test.labels().unwrap_or(&[])).filter(|(a, b)| a == b).count()
                    as f64
                    / x.ncols() as f64;
            let batch_gflops = batch_rate * W3_FLOP / 1e9;
            let batch1_gflops = W3_FLOP / lat[lat.len() / 2] / 1e9;
            println!(
                "workload=w3 threads={} batch1000_samples_per_s={:.0} batch1_median_us={:.1} batch1_p90_us={:.1} batch1_samples_per_s={:.0} test_accuracy={:.4} peak_rss_mib={:.1} batch1000_gflops={:.1} batch1000_peak_share={:.3} batch1_gflops={:.1} batch1_peak_share={:.3} peak_gflops={:.1}",
                args.threads,
                batch_rate,
                lat[lat.len() / 2] * 1e6,
                lat[lat.len() * 9 / 10] * 1e6,
                x.ncols() as f64 / total,
                accuracy,
                peak_rss_mib(),
                batch_gflops,
                batch_gflops / peak.gflops,
                batch1_gflops,
                // Batch 1 runs on one thread: its share of one thread's peak.
                batch1_gflops / (peak.gflops / args.threads as f64),
                peak.gflops,
            );
        }
        // Measured and printed before the data is loaded.
        Workload::FmaPeak => {}
    }
    Ok(())
}
