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

#[test]
fn forward_and_backward_allocate_nothing_after_warm_up() {
    // The counter itself works: a real allocation is seen.
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    let v = std::hint::black_box(vec![1u8; 64]);
    assert!(ALLOCATIONS.load(Ordering::SeqCst) > before && v.len() == 64);

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
