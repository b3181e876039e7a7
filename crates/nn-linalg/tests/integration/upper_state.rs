//! The upper halves of the vector registers are clean after our kernels (see `upper_state.rs`).
//!
//! Checked with the XINUSE bits (`XGETBV` with `ECX = 1`), not with a timer: AMD CPUs pay no
//! penalty for dirty registers, Intel CPUs do, and both report the state. Each test first shows
//! that faer's own `matmul` leaves the state dirty on this machine (so the test can fail), then
//! that our wrapper leaves it clean.
//!
//! On a CPU with AVX2 but not AVX-512 (faer then runs private-gemm-x86's AVX2 kernels) the same
//! checks hold on bit 2 (upper YMM) alone: XCR0 has no AVX-512 state there, so bits 6 and 7 read 0.
//! Where XINUSE is reported but does not follow the state (QEMU's emulator, see
//! [`xinuse_tracks_the_upper_state`]), the tests say so and check nothing.

use nn_linalg::{Accum, Mat, Par, UpperState, gemm_into, upper_state};

/// Whether the upper halves of YMM0–15 or ZMM0–15 are dirty on this thread.
fn dirty() -> bool {
    upper_state().is_some_and(UpperState::is_dirty)
}

/// Whether the CPU reports XINUSE and its bit for the upper YMM state follows that state: clear
/// once compiled AVX code has returned (LLVM ends such a function with `vzeroupper`; pulp's AVX2
/// level here, not our `clear_upper_state`, so a broken `clear_upper_state` still fails the
/// tests). Each test's control then shows that the bits are set while the state is dirty.
///
/// The architecture does not promise that XINUSE clears: a component back in its initial
/// configuration "may" be reported in use (Intel SDM vol. 1, §13.6 and the XRSTOR rules of
/// §13.8.3). Intel CPUs since Skylake and AMD Zen CPUs clear it; QEMU's TCG emulator (7.2, run
/// by `scripts/emulated-cpus.sh`) reports every component in use at all times. There the bits say
/// nothing and there is nothing to check.
fn xinuse_tracks_the_upper_state() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        let Some(v3) = pulp::x86::V3::try_new() else {
            return false;
        };
        if upper_state().is_none() {
            return false;
        }
        v3.vectorize(|| {
            let v = v3.splat_f32x8(std::hint::black_box(1.5));
            std::hint::black_box(v3.mul_add_f32x8(v, v, v));
        });
        let tracks = upper_state().is_some_and(|s| !s.is_dirty());
        if !tracks {
            #[expect(clippy::print_stderr, reason = "says why nothing was checked")]
            {
                eprintln!("skipped: this CPU reports XINUSE but does not clear it (an emulator?)");
            }
        }
        tracks
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether faer runs private-gemm-x86's assembly kernels here (its own selection: AVX-512, or
/// AVX2 + FMA), and the CPU's XINUSE bits follow the upper state. Elsewhere there is nothing to
/// check.
fn faer_runs_assembly_kernels() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        let kernels = std::arch::is_x86_feature_detected!("avx512f")
            || (std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma"));
        kernels && xinuse_tracks_the_upper_state()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

fn matrix<T: nn_linalg::Float>(rows: usize, cols: usize) -> Mat<T> {
    Mat::from_fn(rows, cols, |i, j| T::from_f64(((i * 7 + j * 3) % 11) as f64 / 11.0 - 0.5))
}

/// The state right after faer's own matmul (the control) and right after `gemm_into`.
fn states_after<T: nn_linalg::Float>(m: usize, k: usize, n: usize) -> (bool, bool) {
    let (a, b) = (matrix::<T>(m, k), matrix::<T>(k, n));
    let mut c = Mat::<T>::zeros(m, n);
    faer::linalg::matmul::matmul(
        c.as_mut(),
        Accum::Replace,
        a.as_ref(),
        b.as_ref(),
        T::ONE,
        faer::Par::Seq,
    );
    let after_faer = dirty();
    gemm_into(c.as_mut(), Accum::Add, a.as_ref(), b.as_ref(), T::ONE, Par::Seq).unwrap();
    let after_ours = dirty();
    (after_faer, after_ours)
}

#[test]
fn gemm_into_leaves_the_upper_vector_state_clean() {
    if !faer_runs_assembly_kernels() {
        #[expect(clippy::print_stderr, reason = "says why nothing was checked")]
        {
            eprintln!(
                "skipped: faer runs no assembly kernels here, or XINUSE does not report the state"
            );
        }
        return;
    }
    // Shapes above faer's nano-gemm threshold (16³ multiply-adds), which go to private-gemm-x86:
    // square, W1's first layer, and a thin one.
    for (m, k, n) in [(64, 64, 64), (256, 784, 128), (10, 128, 128)] {
        let (faer_f32, ours_f32) = states_after::<f32>(m, k, n);
        let (faer_f64, ours_f64) = states_after::<f64>(m, k, n);
        assert!(
            faer_f32 && faer_f64,
            "control: faer's matmul {m}×{k}×{n} left the state clean; this test could not fail"
        );
        assert!(!ours_f32, "gemm_into f32 {m}×{k}×{n} left the upper vector state dirty");
        assert!(!ours_f64, "gemm_into f64 {m}×{k}×{n} left the upper vector state dirty");
    }
}

#[test]
fn clear_upper_state_cleans_and_upper_state_reads_without_changing() {
    if !faer_runs_assembly_kernels() {
        return;
    }
    let (dirty, _) = states_after::<f32>(64, 64, 64);
    assert!(dirty);
    let (a, b) = (matrix::<f32>(64, 64), matrix::<f32>(64, 64));
    let mut c = Mat::<f32>::zeros(64, 64);
    faer::linalg::matmul::matmul(
        c.as_mut(),
        Accum::Replace,
        a.as_ref(),
        b.as_ref(),
        1.0,
        faer::Par::Seq,
    );
    // Reading twice does not clean it.
    assert!(upper_state().unwrap().is_dirty());
    assert!(upper_state().unwrap().is_dirty());
    nn_linalg::clear_upper_state();
    let s = upper_state().unwrap();
    assert!(!s.ymm_upper && !s.zmm_upper, "{s:?}");
}

/// Under `Par::Threads` the product runs on the workers of the pool: every one of them (and the
/// caller) must be clean afterwards.
#[cfg(feature = "rayon")]
#[test]
fn parallel_gemm_into_leaves_every_worker_clean() {
    use std::num::NonZeroUsize;
    if !faer_runs_assembly_kernels() {
        return;
    }
    let threads = NonZeroUsize::new(2).unwrap();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads.get()).build().unwrap();
    let (a, b) = (matrix::<f32>(256, 784), matrix::<f32>(784, 256));
    let mut c = Mat::<f32>::zeros(256, 256);
    let dirty_workers = |pool: &rayon::ThreadPool| {
        let dirty = pool.broadcast(|_| dirty());
        dirty.into_iter().filter(|d| *d).count()
    };
    // Control: faer's own parallel product leaves every worker dirty (each ran a part of it).
    // On a busy machine one worker may not get a part, so a few tries.
    let control = (0..20).any(|_| {
        pool.install(|| {
            faer::linalg::matmul::matmul(
                c.as_mut(),
                Accum::Replace,
                a.as_ref(),
                b.as_ref(),
                1.0,
                faer::Par::Rayon(threads),
            );
        });
        dirty_workers(&pool) == threads.get()
    });
    assert!(control, "control: faer's parallel product never left every worker dirty");
    for _ in 0..5 {
        let caller_dirty = pool.install(|| {
            let par = Par::Threads(threads);
            gemm_into(c.as_mut(), Accum::Replace, a.as_ref(), b.as_ref(), 1.0, par).unwrap();
            dirty()
        });
        assert!(!caller_dirty, "the calling worker is dirty after gemm_into");
        assert_eq!(dirty_workers(&pool), 0, "a worker is dirty after a parallel gemm_into");
    }
}

/// Our own SIMD kernels (AVX-512 and AVX2 through pulp) are compiled functions: LLVM puts a
/// `vzeroupper` before they return, so they must leave the state clean too.
#[test]
fn our_simd_kernels_leave_the_upper_vector_state_clean() {
    use nn_linalg::vmath::{Act, BceTargets, Kernels, MathFn, SimdLevel};
    if !xinuse_tracks_the_upper_state() {
        return;
    }
    let z: Vec<f32> = (0..1000).map(|i| (i as f32) * 0.01 - 5.0).collect();
    let mut out = vec![0.0f32; z.len()];
    let mut d = vec![1.0f32; z.len()];
    for level in SimdLevel::supported() {
        let k = Kernels::with_level(level).unwrap();
        k.map(MathFn::Exp, &z, &mut out).unwrap();
        assert!(!dirty(), "{level}: map");
        k.forward(Act::Gelu, &z, &mut out).unwrap();
        assert!(!dirty(), "{level}: forward");
        k.backward(Act::Sigmoid, &z, &out, &mut d).unwrap();
        assert!(!dirty(), "{level}: backward");
        k.backward_masked(Act::Tanh, &z, &out, &mut d).unwrap();
        assert!(!dirty(), "{level}: backward_masked");
        k.softmax(&z[..10], &mut out[..10]).unwrap();
        assert!(!dirty(), "{level}: softmax");
        k.bce_sum(&z[..10], BceTargets::OneHot(3), None).unwrap();
        assert!(!dirty(), "{level}: bce_sum");
        k.add_scaled(&mut d, &z, 0.5).unwrap();
        assert!(!dirty(), "{level}: add_scaled");
        k.copy(&mut d, &z).unwrap();
        assert!(!dirty(), "{level}: copy");
    }
    let m = matrix::<f32>(64, 64);
    let mut c = faer::Col::<f32>::zeros(64);
    nn_linalg::row_sums_into(c.as_mut(), Accum::Replace, m.as_ref(), 1.0).unwrap();
    assert!(!dirty(), "row_sums_into");
    let mut dst = Mat::<f32>::zeros(64, 64);
    nn_linalg::broadcast_col_into(dst.as_mut(), c.as_ref()).unwrap();
    assert!(!dirty(), "broadcast_col_into");
}
