//! After the first batch, training steps allocate nothing: a counting global allocator (this test
//! binary only) proves it, with 1 and 2 threads, dropout, clipping, random shifts of the inputs
//! (as 10 × 10 images) and every optimizer. The first step of a new trainer allocates nothing
//! either: `Trainer::new` warms faer's thread-local GEMM buffer on every pool thread, whichever
//! thread work stealing later gives a shard, and allocates the dropout masks. A caller's own loop
//! of `Trainer::step` run in `Trainer::run_in_pool` allocates nothing with 2 threads either.
//!
//! The counter is global, so it also counts threads that are not training. Hence one `#[test]`
//! (libtest's bookkeeping when another test of the binary ends allocates on its own threads), and
//! every trainer lives until the end: dropping one lets its pool's threads exit in the
//! background, and each exit allocates (crossbeam-epoch moves the thread's garbage bag to a
//! global queue node), possibly during a later trainer's counted steps on a loaded machine.

#![allow(clippy::unwrap_used, reason = "a test: a failure should stop it")]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use nn_core::rng::{ChaCha8Rng, SeedableRng, uniform_f64};
use nn_core::{Activation, Loss, Network, Targets};
use nn_linalg::Mat;
use nn_train::optim::OptimizerConfig;
use nn_train::{Dataset, RandomShift, TrainConfig, Trainer};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

#[allow(unsafe_code, reason = "a global allocator must implement the unsafe GlobalAlloc trait")]
// SAFETY: every method forwards unchanged to the system allocator; it only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn count() -> usize {
    ALLOCATIONS.load(Ordering::SeqCst)
}

/// The 100-200-32-4 network of these tests: 200 × 101 parameters in the first layer, so the
/// optimizer's update is split over the pool's threads (rayon::join).
fn network() -> Network<f32> {
    Network::builder(100, Loss::SoftmaxCrossEntropy)
        .layer(200, Activation::Relu)
        .layer(32, Activation::Tanh)
        .layer(4, Activation::Identity)
        .l2(1e-4)
        .build(&mut ChaCha8Rng::seed_from_u64(1))
        .unwrap()
}

#[test]
fn training_steps_and_epochs_allocate_nothing_after_the_first_batch() {
    let before = count();
    let v = std::hint::black_box(vec![1u8; 64]);
    assert!(count() > before && v.len() == 64, "the counter works");
    // Kept until the end of the test, with their pools (see the top of the file).
    let mut trainers = Vec::new();
    first_step_of_a_new_trainer_allocates_nothing(&mut trainers);
    a_callers_loop_in_the_pool_allocates_nothing(&mut trainers);
    steps_and_epochs_allocate_nothing_after_the_first_epoch(&mut trainers);
}

/// Reproduces a flaky failure: a pool thread that work stealing gave no shard during the first
/// epochs allocated faer's GEMM buffer the first time it got one, in a later step (about one run
/// in five failed). Here no step at all comes before counting, so any thread that was not warmed
/// by `Trainer::new` allocates during the counted steps, every time: the one that runs the
/// shards, with 1 or 2 threads. With dropout: its masks are allocated by `Trainer::new` too (the
/// first step allocated them before).
fn first_step_of_a_new_trainer_allocates_nothing(trainers: &mut Vec<Trainer<f32>>) {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let b = 64;
    let x = Mat::<f32>::from_fn(100, b, |_, _| uniform_f64(&mut rng) as f32);
    let labels: Vec<usize> = (0..b).map(|k| k % 4).collect();
    for threads in [1, 2] {
        let mut net = network();
        let config = TrainConfig::new(b, 0.01, OptimizerConfig::adam())
            .with_threads(threads)
            .with_shards(2)
            .with_dropout(0.1)
            .with_clip_norm(1.0);
        let mut trainer = Trainer::new(&net, config).unwrap();
        let before = count();
        for _ in 0..3 {
            trainer.step(&mut net, x.as_ref(), Targets::Classes(&labels)).unwrap();
        }
        let after = count();
        assert_eq!(
            after - before,
            0,
            "first steps, {threads} threads: {} allocations",
            after - before
        );
        trainers.push(trainer);
    }
}

/// A caller's own loop of 300 steps with 2 threads and dropout: called from outside the pool,
/// every step enters it from outside, and rayon's job queue allocates a block every 63 entries
/// (checked here, so that the test below can fail); run in `Trainer::run_in_pool`, the loop
/// enters the pool once and its steps allocate nothing, from the first one on. Both loops train
/// the same bits.
fn a_callers_loop_in_the_pool_allocates_nothing(trainers: &mut Vec<Trainer<f32>>) {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let b = 64;
    let x = Mat::<f32>::from_fn(100, b, |_, _| uniform_f64(&mut rng) as f32);
    let labels: Vec<usize> = (0..b).map(|k| k % 4).collect();
    let config = TrainConfig::new(b, 0.01, OptimizerConfig::adam())
        .with_threads(2)
        .with_shards(2)
        .with_dropout(0.1);
    let steps = 300;

    let mut outside_net = network();
    let mut outside = Trainer::new(&outside_net, config.clone()).unwrap();
    let before = count();
    for _ in 0..steps {
        outside.step(&mut outside_net, x.as_ref(), Targets::Classes(&labels)).unwrap();
    }
    let outside_allocations = count() - before;
    assert!(outside_allocations > 0, "steps entering the pool from outside allocate");

    let mut net = network();
    let mut trainer = Trainer::new(&net, config).unwrap();
    let before = count();
    let result = trainer.run_in_pool(|t| {
        for _ in 0..steps {
            t.step(&mut net, x.as_ref(), Targets::Classes(&labels))?;
        }
        Ok::<(), nn_train::Error>(())
    });
    let after = count();
    result.unwrap();
    assert_eq!(after - before, 0, "{steps} steps in run_in_pool: {} allocations", after - before);
    assert!(net == outside_net, "the same bits inside and outside");
    trainers.push(outside);
    trainers.push(trainer);
}

/// Every optimizer, 1 and 2 threads, dropout, clipping and random shifts: after the first epoch,
/// epochs allocate nothing.
fn steps_and_epochs_allocate_nothing_after_the_first_epoch(trainers: &mut Vec<Trainer<f32>>) {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let n = 300;
    let x = Mat::<f32>::from_fn(100, n, |_, _| uniform_f64(&mut rng) as f32);
    let labels: Vec<usize> = (0..n).map(|k| k % 4).collect();
    let data = Dataset::classification(x, labels, 4).unwrap();
    let optimizers: [OptimizerConfig; 4] = [
        OptimizerConfig::sgd().with_momentum(0.9).into(),
        OptimizerConfig::adam().into(),
        OptimizerConfig::adamw().with_weight_decay(0.01).into(),
        OptimizerConfig::rmsprop().into(),
    ];
    for optimizer in optimizers {
        for threads in [1, 2] {
            let mut net = network();
            let config = TrainConfig::new(64, 0.01, optimizer)
                .with_threads(threads)
                .with_shards(2)
                .with_dropout(0.1)
                .with_clip_norm(1.0)
                .with_random_shift(RandomShift::new(10, 10, 2).unwrap());
            let mut trainer = Trainer::new(&net, config).unwrap();
            // Warm-up: the first epoch allocates the batch buffers, the permutation and the
            // dropout masks (the GEMM buffers of the pool's threads were allocated by
            // `Trainer::new`). Any user's first epoch does exactly this: one epoch, whichever
            // threads ran its shards.
            trainer.run_epoch(&mut net, &data).unwrap();
            let before = count();
            for _ in 0..5 {
                trainer.run_epoch(&mut net, &data).unwrap();
            }
            let after = count();
            assert_eq!(
                after - before,
                0,
                "{optimizer:?}, {threads} threads: {} allocations",
                after - before
            );
            trainers.push(trainer);
        }
    }
}
