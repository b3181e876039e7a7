//! The register-blocked micro-kernels of the packed product, generic over pulp's instruction
//! sets (compiled once per level inside pulp's `vectorize`).
//!
//! A tile is `P` panels (2 vectors of rows each) × `NB` samples; its `2·P·NB` accumulators stay
//! in registers for the whole sum over k. Every accumulator starts at the bias Θ_j0 and takes one
//! fused multiply-add per k in increasing order (F1), so the blocking changes which sums run side
//! by side, never how one sum is rounded.

use std::array;

use faer::{MatMut, MatRef};
use pulp::{Simd, WithSimd};

use super::lane::Lane;

/// The packed product `out ← Θ·[1; x]` of one call: the operands, already checked.
pub(super) struct Product<'a, T> {
    /// Θ packed: panel after panel, each k-major (`(m + 1) × rows` values).
    pub(super) data: &'a [T],
    /// Rows of a panel (2 vectors).
    pub(super) panel_rows: usize,
    /// n, the outputs.
    pub(super) n: usize,
    /// m, the inputs (k = 1..=m).
    pub(super) m: usize,
    /// m × b, contiguous columns.
    pub(super) x: MatRef<'a, T>,
    /// n × b, contiguous columns.
    pub(super) out: MatMut<'a, T>,
    /// Run the panels from the last to the first (the same bits: panels are independent).
    pub(super) backwards: bool,
    /// One rounding per term (a fused multiply-add), or two (the product, then the sum).
    pub(super) fused: bool,
}

impl<T: Lane> WithSimd for Product<'_, T> {
    /// `false` if the packing does not fit this instruction set (then nothing was written).
    type Output = bool;

    #[inline(always)]
    fn with_simd<S: Simd>(self, s: S) -> bool {
        if self.panel_rows != 2 * T::lanes::<S>() {
            return false;
        }
        // 32 vector registers (AVX-512, NEON): 12 samples × 2 vectors = 24 accumulators;
        // 16 (AVX2): 6 × 2 = 12, leaving room for the two Θ vectors and the broadcast.
        match (S::REGISTER_COUNT >= 32, self.fused) {
            (true, true) => run::<T, S, 12, true>(s, self),
            (false, true) => run::<T, S, 6, true>(s, self),
            (true, false) => run::<T, S, 12, false>(s, self),
            (false, false) => run::<T, S, 6, false>(s, self),
        }
        true
    }
}

/// The whole product: blocks of `NB` samples, then the remaining samples by 4, 2 and 1.
#[inline(always)]
fn run<T: Lane, S: Simd, const NB: usize, const FUSED: bool>(s: S, p: Product<'_, T>) {
    let Product { data, panel_rows, n, m, x, mut out, backwards, fused: _ } = p;
    let b = x.ncols();
    let data = T::vectors::<S>(data);
    let ctx = Ctx { data, panel_vecs: 2 * (m + 1), n, m, panel_rows, backwards };
    let mut c0 = 0;
    while b - c0 >= NB {
        block::<T, S, 1, NB, FUSED>(s, &ctx, x, out.as_mut(), c0);
        c0 += NB;
    }
    while b - c0 >= 4 {
        block::<T, S, 1, 4, FUSED>(s, &ctx, x, out.as_mut(), c0);
        c0 += 4;
    }
    if b - c0 >= 2 {
        block::<T, S, 2, 2, FUSED>(s, &ctx, x, out.as_mut(), c0);
        c0 += 2;
    }
    if b - c0 == 1 {
        // One sample (the batch-1 path): 4 panels side by side, 8 independent sums in flight
        // to hide the latency of the fused multiply-add; Θ streams through once, in order.
        block::<T, S, 4, 1, FUSED>(s, &ctx, x, out.as_mut(), c0);
    }
}

/// What every tile of one product shares.
struct Ctx<'a, V> {
    /// Θ packed, as vectors.
    data: &'a [V],
    /// Vectors per panel: 2 per k.
    panel_vecs: usize,
    n: usize,
    m: usize,
    panel_rows: usize,
    /// Whether to run the groups of panels from the last to the first.
    backwards: bool,
}

/// Samples `c0..c0 + NB` through every panel, `P` panels at a time (the last ones 2 and 1 at a
/// time).
#[inline(always)]
fn block<T: Lane, S: Simd, const P: usize, const NB: usize, const FUSED: bool>(
    s: S,
    ctx: &Ctx<'_, T::V<S>>,
    x: MatRef<'_, T>,
    mut out: MatMut<'_, T>,
    c0: usize,
) {
    let m = ctx.m;
    // Each sample's m inputs (columns are contiguous: checked by the caller).
    let xs: [&[T]; NB] = array::from_fn(|j| {
        x.col(c0 + j).try_as_col_major().map_or(&[][..], |c| c.as_slice()).get(..m).unwrap_or(&[])
    });
    if xs.iter().any(|c| c.len() != m) {
        return;
    }
    let n_panels = ctx.n.div_ceil(ctx.panel_rows);
    let n_full = n_panels / P;
    for g in 0..n_full {
        let g = if ctx.backwards { n_full - 1 - g } else { g };
        tile_store::<T, S, P, NB, FUSED>(s, ctx, xs, out.as_mut(), g * P, c0);
    }
    let mut p0 = n_full * P;
    if P > 2 && n_panels - p0 >= 2 {
        tile_store::<T, S, 2, NB, FUSED>(s, ctx, xs, out.as_mut(), p0, c0);
        p0 += 2;
    }
    while p0 < n_panels {
        tile_store::<T, S, 1, NB, FUSED>(s, ctx, xs, out.as_mut(), p0, c0);
        p0 += 1;
    }
}

/// One tile: panels `p0..p0 + P` × samples `c0..c0 + NB`, computed and stored (rows past n, the
/// zero padding of the last panel, are not stored).
#[inline(always)]
fn tile_store<T: Lane, S: Simd, const P: usize, const NB: usize, const FUSED: bool>(
    s: S,
    ctx: &Ctx<'_, T::V<S>>,
    xs: [&[T]; NB],
    mut out: MatMut<'_, T>,
    p0: usize,
    c0: usize,
) {
    let pv = ctx.panel_vecs;
    let th: [&[T::V<S>]; P] =
        array::from_fn(|p| ctx.data.get((p0 + p) * pv..(p0 + p + 1) * pv).unwrap_or(&[]));
    if th.iter().any(|t| t.len() != pv) {
        return;
    }
    let acc = tile::<T, S, P, NB, FUSED>(s, th, xs, ctx.m);
    let lanes = ctx.panel_rows / 2;
    for (j, acc_j) in (0..NB).map(|j| (j, array::from_fn::<_, P, _>(|p| acc[p][j]))) {
        let Some(col) = out.as_mut().col_mut(c0 + j).try_as_col_major_mut() else { return };
        let col = col.as_slice_mut();
        for (p, vs) in acc_j.iter().enumerate() {
            for (v, &value) in vs.iter().enumerate() {
                let row = (p0 + p) * ctx.panel_rows + v * lanes;
                if row < ctx.n {
                    T::store(s, &mut col[row..ctx.n.min(row + lanes)], value);
                }
            }
        }
    }
}

/// The sums of one tile (F1): for each row i of the panels and each sample j,
/// `acc = Θ_i0; for k in 1..=m { acc = fma(Θ_ik, a_kj, acc) }` (with `FUSED`; without it,
/// `acc = Θ_ik·a_kj + acc` rounded twice, in the same order).
#[inline(always)]
fn tile<T: Lane, S: Simd, const P: usize, const NB: usize, const FUSED: bool>(
    s: S,
    th: [&[T::V<S>]; P],
    xs: [&[T]; NB],
    m: usize,
) -> [[[T::V<S>; 2]; NB]; P] {
    // k = 0: the bias (F1's a_0 = 1) starts every sum, exactly.
    let mut acc: [[[T::V<S>; 2]; NB]; P] = array::from_fn(|p| [[th[p][0], th[p][1]]; NB]);
    for k in 0..m {
        let a: [T::V<S>; NB] = array::from_fn(|j| T::splat(s, xs[j][k]));
        for p in 0..P {
            let t0 = th[p][2 * k + 2];
            let t1 = th[p][2 * k + 3];
            for j in 0..NB {
                if FUSED {
                    acc[p][j][0] = T::mul_add(s, t0, a[j], acc[p][j][0]);
                    acc[p][j][1] = T::mul_add(s, t1, a[j], acc[p][j][1]);
                } else {
                    acc[p][j][0] = T::mul_then_add(s, t0, a[j], acc[p][j][0]);
                    acc[p][j][1] = T::mul_then_add(s, t1, a[j], acc[p][j][1]);
                }
            }
        }
    }
    acc
}
