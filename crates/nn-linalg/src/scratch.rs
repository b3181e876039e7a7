//! faer's GEMM scratch memory, which lives in thread-local storage: [`warm_gemm_scratch`].
//!
//! # Why
//! On x86-64 with AVX2 + FMA or AVX-512, faer runs every product larger than 16×16×16 through the
//! crate `private-gemm-x86`, which packs its operands into one buffer per thread (a
//! `thread_local!`, twice the L3 cache's size). The buffer is allocated by the first such product
//! on the thread and kept until the thread exits; it does not depend on the shape, the scalar
//! type or the product (it is sized from the cache alone, so later products never grow it).
//!
//! A loop that must not allocate (a training step, a prediction) therefore allocates once on each
//! thread the first time that thread multiplies. Which threads of a rayon pool run the products is
//! decided by work stealing, so "the first epoch warms every thread" is false: a worker that
//! steals no shard for a few epochs allocates when it first does, in the middle of training. The
//! fix is to warm every thread that will multiply before the loop starts, on purpose:
//! `pool.broadcast(|_| warm_gemm_scratch::<T>())` runs once on every worker of the pool.

use crate::{Accum, Float, Mat, Par, gemm_into};

/// The side of the warm-up product: 32³ multiply-adds, above faer's threshold (16³) for the
/// small-matrix kernels, which use no scratch, so the product reaches the packing GEMM.
const WARM_SIDE: usize = 32;

/// Makes faer's GEMM allocate, now and on the calling thread, the thread-local packing buffer it
/// would otherwise allocate on this thread's first product larger than 16×16×16 (see the
/// [module docs](crate::scratch)). Later products with [`Par::Seq`] on this thread then allocate nothing.
/// Call it on every thread that will multiply inside a loop that must not allocate, for example
/// on each worker of a rayon pool with `pool.broadcast(|_| warm_gemm_scratch::<f32>())`.
///
/// Allocation: the buffer (once per thread; about twice the L3 cache, reserved but not written,
/// so the pages it does not use cost no memory) and three 32×32 matrices, freed on return. Cost:
/// one 32×32×32 product, a few microseconds. Calling it again on a warm thread only repeats the
/// product. Where faer does not keep such a buffer (other CPUs run the `gemm` crate, which
/// allocates its scratch per call), it does no harm.
pub fn warm_gemm_scratch<T: Float>() {
    let lhs = Mat::<T>::zeros(WARM_SIDE, WARM_SIDE);
    let rhs = Mat::<T>::zeros(WARM_SIDE, WARM_SIDE);
    let mut dst = Mat::<T>::zeros(WARM_SIDE, WARM_SIDE);
    // The shapes agree by construction: this cannot fail.
    let _ = gemm_into(
        dst.as_mut(),
        Accum::Replace,
        lhs.as_ref(),
        rhs.as_ref(),
        T::from_f64(1.0),
        Par::Seq,
    );
}
