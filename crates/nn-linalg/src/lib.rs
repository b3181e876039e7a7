//! Thin, shape-checked wrappers over [faer]'s dense kernels: the only crate of the `nn` workspace
//! that names faer.
//!
//! Everything the layers need from linear algebra goes through here:
//! - [`gemm_into`]: `dst ← alpha·lhs·rhs` or `dst ← dst + alpha·lhs·rhs`, into a caller-provided
//!   destination. Transposes are free views (`a.transpose()`), never copies, so the three products of
//!   the derivation (`A·B`, `Aᵀ·B`, `A·Bᵀ`) are all the same call.
//! - [`broadcast_col_into`], [`row_sums_into`], [`cols`] and [`cols_mut`]: the element-wise helpers
//!   around the products (bias broadcast, bias gradient, column-by-column loops on contiguous slices).
//! - [`Float`]: the two scalar types we support, `f32` (the fast path) and `f64` (the checking path).
//! - [`packed::PackedTheta`]: a layer's Θ packed once for inference, and its product
//!   `Θ·[1; x]` summed in F1's order with one fused multiply-add per term (the same bits for any
//!   batch size and at every SIMD level; faer is not involved).
//! - [`warm_gemm_scratch`]: allocates faer's thread-local GEMM packing buffer on the calling thread
//!   beforehand, so that a loop that must not allocate can run on any thread of a pool.
//!
//! What this crate deliberately does not do: allocate in a kernel, read faer's *global*
//! parallelism setting, or panic on shapes a caller can get wrong. Every kernel checks its operands
//! and returns a [`ShapeError`] that names the operation, the expected and the found shapes.
//! Parallelism is a per-call argument ([`Par`]).
//!
//! ```
//! use nn_linalg::{Accum, Mat, Par, gemm_into};
//!
//! let a = Mat::<f64>::from_fn(2, 3, |i, j| (i + j) as f64);
//! let b = Mat::<f64>::from_fn(2, 3, |i, j| (i * j) as f64);
//! let mut c = Mat::<f64>::zeros(3, 3);
//! // c = aᵀ·b, with the transpose as a view.
//! gemm_into(c.as_mut(), Accum::Replace, a.transpose(), b.as_ref(), 1.0, Par::Seq)?;
//! assert_eq!(c[(2, 2)], 2.0 * 0.0 + 3.0 * 2.0);
//! // A shape mismatch is an error, not a panic.
//! assert!(gemm_into(c.as_mut(), Accum::Replace, a.as_ref(), b.as_ref(), 1.0, Par::Seq).is_err());
//! # Ok::<(), nn_linalg::ShapeError>(())
//! ```

#![deny(unsafe_code)]
#![deny(missing_docs)]

use std::fmt;
use std::iter::Sum;
use std::num::NonZeroUsize;
use std::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};

pub use faer::{Accum, ColMut, ColRef, Mat, MatMut, MatRef};

pub mod packed;
pub mod scratch;
pub mod upper_state;
pub mod vmath;
pub use scratch::warm_gemm_scratch;
#[cfg(feature = "rayon")]
pub use upper_state::clear_upper_state_on_pool;
pub use upper_state::{UpperState, clear_upper_state, upper_state};

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// The floating-point types the workspace computes in: `f32` (speed) and `f64` (gradient checks).
///
/// The trait is sealed. Transcendental functions go through `std` (fast, and the same bits for the
/// same binary on the same platform), except [`Float::erf`], which comes from `libm`.
pub trait Float:
    sealed::Sealed
    + vmath::Elem
    + packed::Lane
    + faer::traits::RealField
    + Copy
    + Send
    + Sync
    + Default
    + PartialOrd
    + fmt::Debug
    + fmt::Display
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
    + Sum
    + 'static
{
    /// Zero.
    const ZERO: Self;
    /// One.
    const ONE: Self;
    /// Machine epsilon.
    const EPSILON: Self;
    /// The type's name, `"f32"` or `"f64"`, for messages and file headers.
    const NAME: &'static str;
    /// Converts from `f64`, rounding to nearest.
    fn from_f64(value: f64) -> Self;
    /// Converts to `f64` (exact for both types).
    fn to_f64(self) -> f64;
    /// Converts a count, rounding to nearest.
    fn from_usize(value: usize) -> Self;
    /// `e^self`.
    fn exp(self) -> Self;
    /// `e^self − 1`, accurate near 0.
    fn exp_m1(self) -> Self;
    /// Natural logarithm.
    fn ln(self) -> Self;
    /// `ln(1 + self)`, accurate near 0.
    fn ln_1p(self) -> Self;
    /// Hyperbolic tangent.
    fn tanh(self) -> Self;
    /// Square root.
    fn sqrt(self) -> Self;
    /// Absolute value.
    fn abs(self) -> Self;
    /// The error function.
    fn erf(self) -> Self;
    /// The larger of two values (the other one if one is NaN, as `f64::max`).
    fn max(self, other: Self) -> Self;
    /// The smaller of two values (the other one if one is NaN, as `f64::min`).
    fn min(self, other: Self) -> Self;
    /// Neither infinite nor NaN.
    fn is_finite(self) -> bool;
    /// Not a number.
    fn is_nan(self) -> bool;
    /// The raw bits, widened to `u64` (for bitwise comparisons and checksums).
    fn to_bits_u64(self) -> u64;
}

macro_rules! impl_float {
    ($t:ident, $erf:path) => {
        impl Float for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const EPSILON: Self = $t::EPSILON;
            const NAME: &'static str = stringify!($t);
            #[inline]
            fn from_f64(value: f64) -> Self {
                value as $t
            }
            #[inline]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline]
            fn from_usize(value: usize) -> Self {
                value as $t
            }
            #[inline]
            fn exp(self) -> Self {
                $t::exp(self)
            }
            #[inline]
            fn exp_m1(self) -> Self {
                $t::exp_m1(self)
            }
            #[inline]
            fn ln(self) -> Self {
                $t::ln(self)
            }
            #[inline]
            fn ln_1p(self) -> Self {
                $t::ln_1p(self)
            }
            #[inline]
            fn tanh(self) -> Self {
                $t::tanh(self)
            }
            #[inline]
            fn sqrt(self) -> Self {
                $t::sqrt(self)
            }
            #[inline]
            fn abs(self) -> Self {
                $t::abs(self)
            }
            #[inline]
            fn erf(self) -> Self {
                $erf(self)
            }
            #[inline]
            fn max(self, other: Self) -> Self {
                $t::max(self, other)
            }
            #[inline]
            fn min(self, other: Self) -> Self {
                $t::min(self, other)
            }
            #[inline]
            fn is_finite(self) -> bool {
                $t::is_finite(self)
            }
            #[inline]
            fn is_nan(self) -> bool {
                $t::is_nan(self)
            }
            #[inline]
            fn to_bits_u64(self) -> u64 {
                u64::from(self.to_bits())
            }
        }
    };
}
impl_float!(f32, libm::erff);
impl_float!(f64, libm::erf);

/// How many threads one kernel call may use. Always explicit: faer's global setting is never read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Par {
    /// One thread: the caller's. Results do not depend on any thread count.
    #[default]
    Seq,
    /// faer's parallel GEMM with this many tasks, on the rayon pool the call runs in (for example a
    /// pool entered with `ThreadPool::install`). Results may differ in the last bits from
    /// [`Par::Seq`]. Without this crate's `rayon` feature, this runs sequentially.
    Threads(NonZeroUsize),
}

impl Par {
    /// `Par::Seq` for `n_threads <= 1`, otherwise `Par::Threads(n_threads)`.
    #[must_use]
    pub fn with_threads(n_threads: usize) -> Self {
        match NonZeroUsize::new(n_threads) {
            Some(n) if n.get() > 1 => Par::Threads(n),
            _ => Par::Seq,
        }
    }

    /// Whether [`Par::Threads`] really runs in parallel in this build (the `rayon` feature).
    #[must_use]
    pub const fn threads_available() -> bool {
        cfg!(feature = "rayon")
    }

    /// Clears the upper vector state after a faer kernel ran with this parallelism: on the calling
    /// thread, and for a parallel call on every worker of the current rayon pool.
    fn clear_upper_state_after(self) {
        match self {
            Par::Seq => clear_upper_state(),
            #[cfg(feature = "rayon")]
            Par::Threads(_) => clear_upper_state_on_pool(),
            #[cfg(not(feature = "rayon"))]
            Par::Threads(_) => clear_upper_state(),
        }
    }

    fn to_faer(self) -> faer::Par {
        match self {
            Par::Seq => faer::Par::Seq,
            #[cfg(feature = "rayon")]
            Par::Threads(n) => faer::Par::Rayon(n),
            #[cfg(not(feature = "rayon"))]
            Par::Threads(_) => faer::Par::Seq,
        }
    }
}

/// The shape of a matrix operand: rows × columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Shape {
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
}

impl Shape {
    /// The shape of a view.
    #[must_use]
    pub fn of<T>(m: MatRef<'_, T>) -> Self {
        Shape { rows: m.nrows(), cols: m.ncols() }
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}×{}", self.rows, self.cols)
    }
}

/// An operand of a kernel has a shape that does not fit the others.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{op}: {operand} expected {expected}, found {found}")]
pub struct ShapeError {
    /// The operation, e.g. `"gemm_into"`.
    pub op: &'static str,
    /// Which operand is wrong, e.g. `"rhs"` or `"dst"`.
    pub operand: &'static str,
    /// The shape the other operands imply.
    pub expected: Shape,
    /// The shape that was passed.
    pub found: Shape,
}

fn check(
    op: &'static str,
    operand: &'static str,
    expected: Shape,
    found: Shape,
) -> Result<(), ShapeError> {
    if expected == found { Ok(()) } else { Err(ShapeError { op, operand, expected, found }) }
}

/// Products with fewer multiply-adds than this run sequentially even under [`Par::Threads`].
pub const PARALLEL_MIN_FLOP: usize = 1 << 21;

/// Matrix product into a caller-provided destination: `dst ← alpha·lhs·rhs` ([`Accum::Replace`])
/// or `dst ← dst + alpha·lhs·rhs` ([`Accum::Add`]).
///
/// Pass `x.transpose()` for a transposed operand: it is a view, nothing is copied.
/// Allocation: none in this wrapper with [`Par::Seq`]; faer's GEMM keeps its packing buffer in
/// thread-local storage, allocated by the first product on each thread (see
/// [`warm_gemm_scratch`], which allocates it beforehand). A product that runs in parallel allocates a few small jobs (faer's and
/// the broadcast below).
///
/// On return, the upper halves of the vector registers are clean on the calling thread and, for
/// a product that ran in parallel, on every worker of the rayon pool it ran in: faer's AVX2 and
/// AVX-512 micro-kernels leave them dirty, which makes every later SSE instruction slow on Intel
/// CPUs (see [`upper_state`](mod@upper_state)).
///
/// # Shapes
/// `lhs`: m × k, `rhs`: k × n, `dst`: m × n.
///
/// # Errors
/// [`ShapeError`] if `rhs` has not `lhs.ncols()` rows, or `dst` is not `lhs.nrows() × rhs.ncols()`.
pub fn gemm_into<T: Float>(
    dst: MatMut<'_, T>,
    accum: Accum,
    lhs: MatRef<'_, T>,
    rhs: MatRef<'_, T>,
    alpha: T,
    par: Par,
) -> Result<(), ShapeError> {
    const OP: &str = "gemm_into";
    check(OP, "rhs rows", Shape { rows: lhs.ncols(), cols: rhs.ncols() }, Shape::of(rhs))?;
    check(OP, "dst", Shape { rows: lhs.nrows(), cols: rhs.ncols() }, Shape::of(dst.as_ref()))?;
    // faer's parallel GEMM is several times slower than its sequential one on small products
    // (PEERS.md: a W1 product with a side of 10 runs at 11 instead of 47–75 GFLOP/s), so
    // `Par::Threads` only parallelises products of at least PARALLEL_MIN_FLOP multiply-adds.
    let work = lhs.nrows().saturating_mul(lhs.ncols()).saturating_mul(rhs.ncols());
    let par = if work < PARALLEL_MIN_FLOP { Par::Seq } else { par };
    faer::linalg::matmul::matmul(dst, accum, lhs, rhs, alpha, par.to_faer());
    // private-gemm-x86's kernels return without `vzeroupper`: clear the state they leave.
    par.clear_upper_state_after();
    Ok(())
}

/// The columns of a view as contiguous slices, or `None` if the view's columns are not contiguous
/// (a transposed view, for example). Columns of a [`Mat`] and of its `subcols` always are.
pub fn cols<T>(m: MatRef<'_, T>) -> Option<impl ExactSizeIterator<Item = &'_ [T]> + '_> {
    if m.nrows() > 1 && m.row_stride() != 1 {
        return None;
    }
    Some((0..m.ncols()).map(move |j| col_slice(m, j)))
}

fn col_slice<T>(m: MatRef<'_, T>, j: usize) -> &'_ [T] {
    match m.col(j).try_as_col_major() {
        Some(c) => c.as_slice(),
        // Unreachable when the view passed `cols`' stride check; an empty slice keeps it panic-free.
        None => &[],
    }
}

/// Mutable counterpart of [`cols`]: calls `f(j, column_j)` for every column, as a contiguous slice.
///
/// # Errors
/// [`ShapeError`] (operand `"layout"`) if the view's columns are not contiguous.
pub fn cols_mut<T>(
    mut m: MatMut<'_, T>,
    mut f: impl FnMut(usize, &mut [T]),
) -> Result<(), ShapeError> {
    if m.nrows() > 1 && m.row_stride() != 1 {
        return Err(ShapeError {
            op: "cols_mut",
            operand: "layout (row stride 1)",
            expected: Shape::of(m.as_ref()),
            found: Shape { rows: m.nrows(), cols: m.ncols() },
        });
    }
    for j in 0..m.ncols() {
        if let Some(c) = m.as_mut().col_mut(j).try_as_col_major_mut() {
            f(j, c.as_slice_mut());
        }
    }
    Ok(())
}

/// Sets every column of `dst` to `col` (the bias broadcast `b 1ᵀ` of F2), with the vector
/// kernels ([`vmath::Kernels::copy`]) where the columns are contiguous.
///
/// # Errors
/// [`ShapeError`] if `col` has not `dst.nrows()` entries.
pub fn broadcast_col_into<T: Float>(
    mut dst: MatMut<'_, T>,
    col: ColRef<'_, T>,
) -> Result<(), ShapeError> {
    check(
        "broadcast_col_into",
        "col",
        Shape { rows: dst.nrows(), cols: 1 },
        Shape { rows: col.nrows(), cols: 1 },
    )?;
    let k = vmath::Kernels::detected();
    let src = col.try_as_col_major().map(ColRef::as_slice);
    for j in 0..dst.ncols() {
        let mut d = dst.as_mut().col_mut(j);
        if let (Some(d), Some(src)) = (d.as_mut().try_as_col_major_mut(), src) {
            k.copy(d.as_slice_mut(), src)?;
            continue;
        }
        d.copy_from(col);
    }
    Ok(())
}

/// Row sums: `dst ← alpha·src·1` ([`Accum::Replace`]) or `dst ← dst + alpha·src·1` ([`Accum::Add`]),
/// summed column after column in order (so the result does not depend on any thread count), each
/// column added with the vector kernels ([`vmath::Kernels::add_scaled`]: the same bits at every
/// SIMD level).
///
/// # Errors
/// [`ShapeError`] if `dst` has not `src.nrows()` entries.
pub fn row_sums_into<T: Float>(
    mut dst: ColMut<'_, T>,
    accum: Accum,
    src: MatRef<'_, T>,
    alpha: T,
) -> Result<(), ShapeError> {
    check(
        "row_sums_into",
        "dst",
        Shape { rows: src.nrows(), cols: 1 },
        Shape { rows: dst.nrows(), cols: 1 },
    )?;
    if let Accum::Replace = accum {
        dst.fill(T::ZERO);
    }
    let k = vmath::Kernels::detected();
    let n = src.nrows();
    for j in 0..src.ncols() {
        let c = src.col(j);
        if let (Some(d), Some(c)) = (dst.as_mut().try_as_col_major_mut(), c.try_as_col_major()) {
            k.add_scaled(d.as_slice_mut(), c.as_slice(), alpha)?;
            continue;
        }
        for i in 0..n {
            dst[i] += alpha * c[i];
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::float_cmp, reason = "exact small-integer arithmetic")]
mod tests {
    use super::*;

    fn naive(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> Mat<f64> {
        Mat::from_fn(a.nrows(), b.ncols(), |i, j| {
            (0..a.ncols()).map(|k| a[(i, k)] * b[(k, j)]).sum()
        })
    }

    #[test]
    fn gemm_matches_naive_product_for_all_transpose_forms() {
        let a = Mat::<f64>::from_fn(4, 3, |i, j| (i as f64) - 0.5 * (j as f64));
        let b = Mat::<f64>::from_fn(3, 5, |i, j| 1.0 + (i * j) as f64);
        let bt = Mat::<f64>::from_fn(5, 3, |i, j| b[(j, i)]);
        let at = Mat::<f64>::from_fn(3, 4, |i, j| a[(j, i)]);
        let expected = naive(a.as_ref(), b.as_ref());
        for (lhs, rhs) in [
            (a.as_ref(), b.as_ref()),
            (at.transpose(), b.as_ref()),
            (a.as_ref(), bt.transpose()),
            (at.transpose(), bt.transpose()),
        ] {
            let mut c = Mat::<f64>::zeros(4, 5);
            gemm_into(c.as_mut(), Accum::Replace, lhs, rhs, 1.0, Par::Seq).unwrap();
            assert_eq!(c, expected);
        }
    }

    #[test]
    fn gemm_accumulates_with_scale() {
        let a = Mat::<f32>::from_fn(2, 2, |i, j| (i + 2 * j) as f32);
        let mut c = Mat::<f32>::from_fn(2, 2, |_, _| 1.0);
        gemm_into(c.as_mut(), Accum::Add, a.as_ref(), a.as_ref(), 0.5, Par::Seq).unwrap();
        // a = [[0, 2], [1, 3]], a·a = [[2, 6], [3, 11]].
        assert_eq!(c, Mat::from_fn(2, 2, |i, j| [[2.0, 4.0], [2.5, 6.5]][i][j]));
    }

    #[test]
    fn gemm_reports_mismatched_shapes() {
        let a = Mat::<f64>::zeros(2, 3);
        let b = Mat::<f64>::zeros(4, 2);
        let mut c = Mat::<f64>::zeros(2, 2);
        let err = gemm_into(c.as_mut(), Accum::Replace, a.as_ref(), b.as_ref(), 1.0, Par::Seq)
            .unwrap_err();
        assert_eq!(err.operand, "rhs rows");
        assert_eq!(err.expected, Shape { rows: 3, cols: 2 });
        assert_eq!(err.found, Shape { rows: 4, cols: 2 });
        let b = Mat::<f64>::zeros(3, 2);
        let mut c = Mat::<f64>::zeros(3, 2);
        let err = gemm_into(c.as_mut(), Accum::Replace, a.as_ref(), b.as_ref(), 1.0, Par::Seq)
            .unwrap_err();
        assert_eq!(err.operand, "dst");
        assert_eq!(err.to_string(), "gemm_into: dst expected 2×2, found 3×2");
    }

    #[test]
    fn threads_give_the_same_product_up_to_rounding() {
        let a = Mat::<f64>::from_fn(64, 80, |i, j| ((i * 7 + j * 3) % 11) as f64 - 5.0);
        let b = Mat::<f64>::from_fn(80, 48, |i, j| ((i * 5 + j) % 13) as f64 - 6.0);
        let mut c1 = Mat::<f64>::zeros(64, 48);
        let mut c2 = Mat::<f64>::zeros(64, 48);
        gemm_into(c1.as_mut(), Accum::Replace, a.as_ref(), b.as_ref(), 1.0, Par::Seq).unwrap();
        gemm_into(c2.as_mut(), Accum::Replace, a.as_ref(), b.as_ref(), 1.0, Par::with_threads(2))
            .unwrap();
        // Small integers: every partial sum is exact, so any summation order gives the same bits.
        assert_eq!(c1, c2);
    }

    #[test]
    fn row_sums_and_broadcast() {
        let m = Mat::<f64>::from_fn(3, 4, |i, j| (i * 10 + j) as f64);
        let mut s = faer::Col::<f64>::zeros(3);
        row_sums_into(s.as_mut(), Accum::Replace, m.as_ref(), 0.5).unwrap();
        assert_eq!([s[0], s[1], s[2]], [3.0, 23.0, 43.0]);
        row_sums_into(s.as_mut(), Accum::Add, m.as_ref(), 1.0).unwrap();
        assert_eq!(s[0], 9.0);
        let mut d = Mat::<f64>::zeros(3, 2);
        broadcast_col_into(d.as_mut(), s.as_ref()).unwrap();
        assert_eq!(d[(2, 1)], s[2]);
        let short = faer::Col::<f64>::zeros(2);
        assert!(broadcast_col_into(d.as_mut(), short.as_ref()).is_err());
        assert!(row_sums_into(short.clone().as_mut(), Accum::Add, m.as_ref(), 1.0).is_err());
    }

    #[test]
    fn cols_gives_contiguous_columns_and_refuses_transposes() {
        let m = Mat::<f32>::from_fn(3, 2, |i, j| (i + 3 * j) as f32);
        let all: Vec<&[f32]> = cols(m.as_ref()).unwrap().collect();
        assert_eq!(all, vec![&[0.0, 1.0, 2.0][..], &[3.0, 4.0, 5.0][..]]);
        assert!(cols(m.transpose()).is_none());
        let mut m2 = m.clone();
        cols_mut(m2.as_mut(), |j, c| c.iter_mut().for_each(|x| *x += j as f32)).unwrap();
        assert_eq!(m2[(2, 1)], 6.0);
        assert!(cols_mut(m2.as_mut().transpose_mut(), |_, _| {}).is_err());
    }
}
