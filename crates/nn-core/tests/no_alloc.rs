//! After warm-up, forward + backward on a batch allocates nothing: a counting global allocator
//! (this test binary only) proves it.

#![allow(clippy::unwrap_used, reason = "a test: a failure should stop it")]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use nn_core::rng::{ChaCha8Rng, SeedableRng};
use nn_core::{Activation, Gradients, Loss, Network, Targets, Workspace};
use nn_linalg::Mat;

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// The one `unsafe` of the workspace: `GlobalAlloc` is an unsafe trait. It only counts and forwards
// to the system allocator.
#[allow(unsafe_code, reason = "a global allocator must implement the unsafe GlobalAlloc trait")]
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

/// The counter is global, so it also counts libtest's own threads: when one `#[test]` ends,
/// libtest allocates (its result, the next test's thread) while another may be counting, which
/// made these checks fail in 2 of 4 runs when they were three tests. Hence one test that
/// runs them in turn.
#[test]
fn nothing_allocates_after_warm_up() {
    // The counter itself works: a real allocation is seen.
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    let v = std::hint::black_box(vec![1u8; 64]);
    assert!(ALLOCATIONS.load(Ordering::SeqCst) > before && v.len() == 64);
    forward_and_backward_allocate_nothing_after_warm_up();
    the_predictor_allocates_nothing_after_it_is_built();
    a_workspace_with_dropout_masks_allocates_nothing_in_its_first_training_pass();
}

fn steps<T: nn_linalg::Float>(loss: Loss, act: Activation, sizes: &[usize], batch: usize) -> usize {
    let mut b = Network::<T>::builder(sizes[0], loss);
    for &n in &sizes[1..sizes.len() - 1] {
        b = b.layer(n, act);
    }
    let out = if loss.fuses_output() { Activation::Identity } else { act };
    let net = b
        .layer(sizes[sizes.len() - 1], out)
        .l2(1e-4)
        .build(&mut ChaCha8Rng::seed_from_u64(0))
        .unwrap();
    let n_out = net.n_outputs();
    let x = Mat::<T>::from_fn(sizes[0], batch, |i, j| {
        T::from_f64(((i * 7 + j * 3) % 11) as f64 / 11.0)
    });
    let labels: Vec<usize> = (0..batch).map(|k| k % loss.n_classes(n_out)).collect();
    let y = Mat::<T>::from_fn(n_out, batch, |i, j| T::from_usize((i + j) % 2));
    let mut ws = Workspace::for_network(&net, batch).unwrap();
    let mut grads = Gradients::zeros_like(&net);
    let mut run = |k: usize| {
        // Alternate full and partial batches and both kinds of targets.
        let b = if k.is_multiple_of(2) { batch } else { batch - 1 };
        let xs = x.as_ref().subcols(0, b);
        let t = if k.is_multiple_of(3) {
            Targets::Classes(&labels[..b])
        } else {
            Targets::Matrix(y.as_ref().subcols(0, b))
        };
        net.forward_backward_into(xs, t, &mut ws, &mut grads).unwrap();
    };
    for k in 0..3 {
        run(k);
    }
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    for k in 0..12 {
        run(k);
    }
    ALLOCATIONS.load(Ordering::SeqCst) - before
}

fn forward_and_backward_allocate_nothing_after_warm_up() {
    // The W1 network of WORKLOADS.md and small ones, every loss, f32 and f64.
    assert_eq!(
        steps::<f32>(Loss::SoftmaxCrossEntropy, Activation::Relu, &[784, 256, 128, 10], 128),
        0
    );
    for loss in Loss::ALL {
        assert_eq!(steps::<f32>(loss, Activation::Tanh, &[20, 16, 8, 4], 33), 0, "{loss}");
        assert_eq!(steps::<f64>(loss, Activation::Gelu, &[20, 16, 4], 17), 0, "{loss}");
    }
}

/// Allocations made by `f` after it ran once (the warm-up).
fn allocations_after_warm_up(mut f: impl FnMut()) -> usize {
    f();
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    for _ in 0..5 {
        f();
    }
    ALLOCATIONS.load(Ordering::SeqCst) - before
}

fn the_predictor_allocates_nothing_after_it_is_built() {
    let net: Network<f32> = Network::builder(784, Loss::SoftmaxCrossEntropy)
        .layer(256, Activation::Relu)
        .layer(128, Activation::Relu)
        .layer(10, Activation::Identity)
        .build(&mut ChaCha8Rng::seed_from_u64(0))
        .unwrap();
    let n = 301;
    let x = Mat::<f32>::from_fn(784, n, |i, j| ((i * 7 + j * 3) % 11) as f32 / 11.0);
    let one: Vec<f32> = (0..784).map(|i| (i % 13) as f32 / 13.0).collect();
    let mut out = Mat::<f32>::zeros(10, n);
    let mut classes = vec![0usize; n];
    let mut p = nn_core::Predictor::new(&net, 64).unwrap();
    assert_eq!(
        allocations_after_warm_up(|| {
            p.predict_proba_into(x.as_ref(), out.as_mut()).unwrap();
            p.predict_into(x.as_ref(), &mut classes).unwrap();
            std::hint::black_box(p.predict_one(&one).unwrap());
            std::hint::black_box(p.classify_one(&one).unwrap());
        }),
        0
    );
    #[cfg(feature = "rayon")]
    {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
        // faer keeps its GEMM packing buffers in thread-locals, grown the first time a thread
        // multiplies a shape: every worker runs every chunk shape once before counting (which
        // worker takes which chunk depends on rayon's work stealing).
        pool.broadcast(|_| {
            let mut p = nn_core::Predictor::new(&net, 64).unwrap();
            let mut out = Mat::<f32>::zeros(10, n);
            p.predict_proba_into(x.as_ref(), out.as_mut()).unwrap();
        });
        let mut p = nn_core::Predictor::new(&net, 64).unwrap().with_threads(2).unwrap();
        let allocations = allocations_after_warm_up(|| {
            pool.install(|| {
                p.predict_proba_into(x.as_ref(), out.as_mut()).unwrap();
                p.predict_into(x.as_ref(), &mut classes).unwrap();
            });
        });
        assert_eq!(allocations, 0, "two threads");
    }
}

fn a_workspace_with_dropout_masks_allocates_nothing_in_its_first_training_pass() {
    let net: Network<f32> = Network::builder(20, Loss::SoftmaxCrossEntropy)
        .layer(16, Activation::Relu)
        .layer(8, Activation::Relu)
        .layer(4, Activation::Identity)
        .build(&mut ChaCha8Rng::seed_from_u64(0))
        .unwrap();
    let x = Mat::<f32>::from_fn(20, 9, |i, j| ((i * 7 + j * 3) % 11) as f32 / 11.0);
    let dropout = nn_core::Dropout::new(vec![0.2, 0.1]).unwrap();
    let first_pass = |ws: &mut Workspace<f32>| {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let before = ALLOCATIONS.load(Ordering::SeqCst);
        let out = net.forward_train_into(x.as_ref(), ws, &dropout, &mut rng).unwrap();
        std::hint::black_box(out.output());
        ALLOCATIONS.load(Ordering::SeqCst) - before
    };
    let mut lazy = Workspace::for_network(&net, 9).unwrap();
    assert!(first_pass(&mut lazy) > 0, "without with_dropout_masks, the first pass allocates");
    let mut ready = Workspace::for_network(&net, 9).unwrap().with_dropout_masks();
    assert_eq!(first_pass(&mut ready), 0);
    // The same masks and outputs either way.
    assert_eq!(lazy.a(1).unwrap(), ready.a(1).unwrap());
}
