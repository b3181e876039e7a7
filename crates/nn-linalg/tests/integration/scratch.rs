//! `warm_gemm_scratch` allocates faer's thread-local GEMM buffer beforehand: after it, products
//! on the thread allocate nothing, while the first product on a thread that was not warmed does
//! allocate (the control, so the test can fail).
//!
//! Allocations are counted per thread (see `main.rs`), so the other tests of this binary, which
//! run at the same time, do not disturb the counts.

use nn_linalg::{Accum, Float, Mat, Par, gemm_into, warm_gemm_scratch};

use crate::thread_allocations;

/// Whether faer multiplies with private-gemm-x86's kernels here (AVX-512, or AVX2 + FMA), the
/// backend with one buffer per thread. Elsewhere faer's fallback (the `gemm` crate) allocates its
/// scratch on every call, and there is nothing to warm.
fn faer_keeps_a_buffer_per_thread() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            || (std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The allocations on the calling thread of the three products of a training step (F2, B2 and
/// B3 of a 100 → 200 layer, batch 64), with operands allocated beforehand.
fn allocations_of_a_step<T: Float>() -> usize {
    let theta = Mat::<T>::from_fn(200, 100, |i, j| T::from_f64(((i + 2 * j) % 7) as f64 / 7.0));
    let a = Mat::<T>::from_fn(100, 64, |i, j| T::from_f64(((3 * i + j) % 5) as f64 / 5.0));
    let delta = Mat::<T>::from_fn(200, 64, |i, j| T::from_f64(((i + j) % 3) as f64 / 3.0));
    let mut z = Mat::<T>::zeros(200, 64);
    let mut delta_prev = Mat::<T>::zeros(100, 64);
    let mut grad = Mat::<T>::zeros(200, 100);
    let one = T::from_f64(1.0);
    let before = thread_allocations();
    gemm_into(z.as_mut(), Accum::Replace, theta.as_ref(), a.as_ref(), one, Par::Seq).unwrap();
    gemm_into(
        delta_prev.as_mut(),
        Accum::Replace,
        theta.transpose(),
        delta.as_ref(),
        one,
        Par::Seq,
    )
    .unwrap();
    gemm_into(grad.as_mut(), Accum::Replace, delta.as_ref(), a.transpose(), one, Par::Seq).unwrap();
    thread_allocations() - before
}

#[test]
fn products_on_a_warmed_thread_allocate_nothing() {
    if !faer_keeps_a_buffer_per_thread() {
        return;
    }
    // Fresh threads: no product ran on them before.
    let cold = std::thread::spawn(allocations_of_a_step::<f32>).join().unwrap();
    assert!(cold > 0, "control: the first product on a thread allocates faer's buffer");
    for warmed in [
        std::thread::spawn(|| {
            warm_gemm_scratch::<f32>();
            allocations_of_a_step::<f32>()
        }),
        std::thread::spawn(|| {
            warm_gemm_scratch::<f64>();
            allocations_of_a_step::<f64>()
        }),
        // The buffer does not depend on the scalar type.
        std::thread::spawn(|| {
            warm_gemm_scratch::<f64>();
            allocations_of_a_step::<f32>()
        }),
    ] {
        assert_eq!(warmed.join().unwrap(), 0);
    }
}
