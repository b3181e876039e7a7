//! After the first batch, training steps allocate nothing: a counting global allocator (this test
//! binary only) proves it, with 1 and 2 threads, dropout, clipping, random shifts of the inputs
//! (as 10 × 10 images) and every optimizer.

#![allow(clippy::unwrap_used, reason = "a test: a failure should stop it")]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use nn_core::rng::{ChaCha8Rng, SeedableRng, uniform_f64};
use nn_core::{Activation, Loss, Network};
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

#[test]
fn training_steps_and_epochs_allocate_nothing_after_the_first_batch() {
    let before = count();
    let v = std::hint::black_box(vec![1u8; 64]);
    assert!(count() > before && v.len() == 64, "the counter works");

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
            // 200 × 101 parameters in the first layer: the optimizer's update is split over
            // the pool's threads (rayon::join).
            let mut net: Network<f32> = Network::builder(100, Loss::SoftmaxCrossEntropy)
                .layer(200, Activation::Relu)
                .layer(32, Activation::Tanh)
                .layer(4, Activation::Identity)
                .l2(1e-4)
                .build(&mut ChaCha8Rng::seed_from_u64(1))
                .unwrap();
            let config = TrainConfig::new(64, 0.01, optimizer)
                .with_threads(threads)
                .with_shards(2)
                .with_dropout(0.1)
                .with_clip_norm(1.0)
                .with_random_shift(RandomShift::new(10, 10, 2).unwrap());
            let mut trainer = Trainer::new(&net, config).unwrap();
            // Warm-up: the first epoch allocates the batch buffers, the permutation and the masks;
            // each pool thread allocates its GEMM packing buffers (thread-local, in faer) the
            // first time it runs a shard.
            for _ in 0..3 {
                trainer.run_epoch(&mut net, &data).unwrap();
            }
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
        }
    }
}
