//! Vectorized element-wise math: the activations and their derivatives, softmax, the binary
//! cross-entropy, and the slice helpers around the matrix products, with run-time dispatch.
//!
//! Every kernel takes slices and writes slices. For `f32` it runs in SIMD with the widest
//! instruction set the CPU has ([`SimdLevel`]: AVX-512, AVX2 + FMA, NEON, or a portable
//! fallback), chosen once per process, through [pulp]; the transcendental functions are our own
//! polynomial approximations ([`MathFn`], errors below). For `f64` (the checking path) every
//! kernel computes exactly what it always did, one element at a time with `std`/`libm`.
//!
//! # Determinism
//! Every f32 kernel is lane-wise: the tail of a slice goes through the same vector code (pulp's
//! partial loads and stores), so the value computed for an element depends only on that element
//! (and, for softmax and the binary cross-entropy, on its own column), never on its position in
//! the slice or on the slice's length. Within one process the level is fixed, so the same inputs
//! give the same bits whatever the batch size, the sharding or the thread count. Another CPU
//! family may run another level and round differently, within the errors below.
//!
//! # Accuracy (f32)
//! Maximum error against an f64 reference (`std`/`libm` in f64, or an exact f64 formula without
//! cancellation), in ulps: the spacing of f32 at the reference value (2⁻¹⁴⁹ for subnormal
//! results). For the math functions, the maximum over all 2³² f32 inputs, measured on AVX-512
//! and on the portable level, rounded up (AVX2 gave AVX-512's values on the whole test sweep: both
//! fuse their multiply-adds; NEON, which fuses too, could not be tested here); the tests check
//! these bounds on every level the CPU supports, over every 4099th bit pattern
//! (a million values, every exponent, both signs, NaNs), a fine grid on [−20, 20] and the special
//! values (±0, ±∞, NaN, the overflow and underflow thresholds, subnormals).
//!
//! | function | bound | measured max: AVX-512 / portable | special values |
//! |---|---|---|---|
//! | `exp` | 1.1 ulp | 1.02 / 0.99 | e^(−∞) = 0, e^(+∞) = +∞; +∞ above 88.7228 (overflow); subnormal results down to x = −103.97, then 0 |
//! | `expm1` | 2 ulp | 1.78 / 1.73 | −1 at −∞; the sign of x, ±0 kept |
//! | `ln` | 1 ulp | 0.83 / 0.83 | ln(±0) = −∞, ln(x < 0) = NaN, ln(+∞) = +∞, subnormal inputs |
//! | `ln_1p` | 2.5 ulp | 2.47 / 2.47 | ln_1p(−1) = −∞, ±0 kept |
//! | `tanh` | 1.5 ulp | 1.33 / 1.33 | ±1 at ±∞, odd (tanh(−0) = −0) |
//! | `erf` | 2.5 ulp | 1.57 / 2.13 | ±1 at ±∞, odd |
//! | `sigmoid` σ | 2.5 ulp | 2.40 / 2.40 | σ(−200) = 0, σ(−∞) = 0, σ(+∞) = 1; subnormal results for x < −87.3 |
//! | `normal_cdf` Φ | 6.5 ulp, including its tail down to 1e-45 | 6.10 / 6.27 | Φ(−∞) = 0, Φ(+∞) = 1 |
//!
//! The activations, measured on the same sweep: g in units of max(ulp, 2⁻³⁰), g' (as the
//! backward pass computes it, from z and the computed a) in units of max(ulp, 2⁻²⁴), the absolute
//! floors covering results near 0 (the roots of the GELU and SiLU derivatives, the far tails,
//! and the derivatives that the table of [`Act`] takes from a):
//!
//! | activation | g | g' |
//! |---|---|---|
//! | sigmoid | 2.5 | 2 |
//! | tanh | 1.5 | 2.5 |
//! | ReLU, identity | exact | exact |
//! | leaky ReLU | correctly rounded (0.5) | exact |
//! | ELU | 1.5 | 1.5 |
//! | GELU (erf) | 6 | 2 |
//! | GELU (tanh) | 10 (the rounding of u = √(2/π)(z + 0.044715z³) in f32) | 3 |
//! | SiLU | 3.5 | 3.5 |
//! | softplus | 3 | 2 |
//!
//! Softmax: each probability within 4 ulp (floor 2⁻³⁰) and the log-sum-exp within 2 ulp (floor
//! 2⁻²⁴) of f64 for columns of up to 40 logits of any magnitude; the binary cross-entropy within
//! 1e-6 relative. NaN in, NaN out, for every function (ReLU and leaky ReLU map NaN to 0, as their
//! scalar definition `z > 0 ? z : …` does). f64 results are the scalar formulas' bits.
//!
//! ```
//! use nn_linalg::vmath::{Act, Kernels, MathFn, SimdLevel};
//!
//! let k = Kernels::detected();
//! let z = [-1.0f32, 0.0, 2.5];
//! let mut a = [0.0f32; 3];
//! k.forward(Act::Sigmoid, &z, &mut a)?;
//! assert!((a[2] - 1.0 / (1.0 + (-2.5f32).exp())).abs() < 1e-6);
//! // The portable path gives the same values within the documented error.
//! let portable = Kernels::with_level(SimdLevel::Portable).unwrap();
//! let mut e = [0.0f32; 3];
//! portable.map(MathFn::Exp, &z, &mut e)?;
//! assert!((e[0] - (-1.0f32).exp()).abs() < 1e-7);
//! # Ok::<(), nn_linalg::ShapeError>(())
//! ```

mod approx;
mod level;
mod scalar;
mod simd;

use crate::{Shape, ShapeError};
pub(crate) use level::Backend;
pub use level::SimdLevel;
use simd::{
    AddScaled, Backward, BackwardMasked, BceSum, BceY, CopyKernel, Forward, Map1, Map3, Softmax,
    with_act_lanes,
};

/// An element-wise activation `g`, as the kernels know it (nn-core's `Activation` maps onto it).
///
/// | variant | g(z) | g'(z) as computed |
/// |---|---|---|
/// | `Sigmoid` | 1/(1+e^(−z)) | a(1−a) |
/// | `Tanh` | tanh z | 1−a² |
/// | `Relu` | max(0, z) | 1 if z > 0, else 0 |
/// | `LeakyRelu { alpha }` | z if z > 0, else αz | 1 if z > 0, else α |
/// | `Elu { alpha }` | z if z > 0, else α(e^z − 1) | 1 if z > 0, else a + α |
/// | `Gelu` | z·Φ(z) | Φ(z) + z·φ(z) |
/// | `GeluTanh` | ½z(1 + tanh(√(2/π)(z + 0.044715z³))) = z·σ(2u) | its exact derivative |
/// | `Silu` | z·σ(z) | σ(z)(1 + z(1 − σ(z))) |
/// | `Softplus` | ln(1 + e^z) | σ(z) |
/// | `Identity` | z | 1 |
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Act {
    /// The logistic function.
    Sigmoid,
    /// Hyperbolic tangent.
    Tanh,
    /// Rectified linear unit.
    Relu,
    /// Leaky ReLU.
    LeakyRelu {
        /// Slope for z ≤ 0.
        alpha: f64,
    },
    /// Exponential linear unit.
    Elu {
        /// Scale of the negative part.
        alpha: f64,
    },
    /// GELU, exact (erf) form.
    Gelu,
    /// GELU, tanh approximation.
    GeluTanh,
    /// SiLU (swish).
    Silu,
    /// Softplus.
    Softplus,
    /// Identity.
    Identity,
}

/// A scalar math function, applied element by element by [`Kernels::map`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MathFn {
    /// e^x.
    Exp,
    /// e^x − 1.
    ExpM1,
    /// ln x.
    Ln,
    /// ln(1 + x).
    Ln1p,
    /// tanh x.
    Tanh,
    /// erf x.
    Erf,
    /// The logistic function 1/(1 + e^(−x)).
    Sigmoid,
    /// The standard normal CDF Φ(x) = ½(1 + erf(x/√2)).
    NormalCdf,
}

impl MathFn {
    /// Every function.
    pub const ALL: [MathFn; 8] = [
        MathFn::Exp,
        MathFn::ExpM1,
        MathFn::Ln,
        MathFn::Ln1p,
        MathFn::Tanh,
        MathFn::Erf,
        MathFn::Sigmoid,
        MathFn::NormalCdf,
    ];
}

/// The targets of [`Kernels::bce_sum`] for one column.
#[derive(Clone, Copy, Debug)]
pub enum BceTargets<'a, T> {
    /// One target per element.
    Values(&'a [T]),
    /// The one-hot column e_c: 1 at this index, 0 elsewhere.
    OneHot(usize),
}

/// A handle on the element-wise kernels at one [`SimdLevel`]. `Copy`, one byte of state: get it
/// once ([`Kernels::detected`]) and call its methods in the loops.
///
/// Every method checks that its slices have the same length and returns a [`ShapeError`]
/// (operation, operand, expected and found lengths) otherwise; nothing panics.
#[derive(Clone, Copy, Debug)]
pub struct Kernels {
    backend: Backend,
}

fn check_len(
    op: &'static str,
    operand: &'static str,
    expected: usize,
    found: usize,
) -> Result<(), ShapeError> {
    if expected == found {
        Ok(())
    } else {
        Err(ShapeError {
            op,
            operand,
            expected: Shape { rows: expected, cols: 1 },
            found: Shape { rows: found, cols: 1 },
        })
    }
}

impl Kernels {
    /// The kernels at the best level of this CPU (detected once per process).
    #[must_use]
    pub fn detected() -> Kernels {
        Kernels { backend: Backend::detected() }
    }

    /// The kernels at `level`, or `None` if this CPU cannot run it (for tests and benchmarks:
    /// the portable level is always available).
    #[must_use]
    pub fn with_level(level: SimdLevel) -> Option<Kernels> {
        Backend::new(level).map(|backend| Kernels { backend })
    }

    /// The level these kernels run at.
    #[must_use]
    pub fn level(self) -> SimdLevel {
        self.backend.level()
    }

    /// pulp's token for the level (for the other kernels of the crate: `packed`).
    pub(crate) fn backend(self) -> Backend {
        self.backend
    }

    /// `out[i] = f(x[i])`.
    ///
    /// # Errors
    /// [`ShapeError`] if the lengths differ.
    pub fn map<T: Elem>(self, f: MathFn, x: &[T], out: &mut [T]) -> Result<(), ShapeError> {
        check_len("vmath::map", "out", x.len(), out.len())?;
        T::map(self, f, x, out);
        Ok(())
    }

    /// F3 on a slice: `a[i] = g(z[i])`.
    ///
    /// # Errors
    /// [`ShapeError`] if the lengths differ.
    pub fn forward<T: Elem>(self, act: Act, z: &[T], a: &mut [T]) -> Result<(), ShapeError> {
        check_len("vmath::forward", "a", z.len(), a.len())?;
        T::forward(self, act, z, a);
        Ok(())
    }

    /// The `⊙ g'(z)` factor of B2 in place: `delta[i] *= g'(z[i])`, with `a = g(z)` from the
    /// forward pass (see the table of [`Act`] for which of the two each derivative reads).
    ///
    /// # Errors
    /// [`ShapeError`] if the lengths differ.
    pub fn backward<T: Elem>(
        self,
        act: Act,
        z: &[T],
        a: &[T],
        delta: &mut [T],
    ) -> Result<(), ShapeError> {
        check_len("vmath::backward", "a", z.len(), a.len())?;
        check_len("vmath::backward", "delta", z.len(), delta.len())?;
        T::backward(self, act, z, a, delta);
        Ok(())
    }

    /// B2's factor behind inverted dropout, `a = m ⊙ g(z)`: `delta[i] *= m[i]·g'(z[i])`, and 0
    /// where `m[i] = 0` (g and g' recomputed from z, since the stored `a` is masked).
    ///
    /// # Errors
    /// [`ShapeError`] if the lengths differ.
    pub fn backward_masked<T: Elem>(
        self,
        act: Act,
        z: &[T],
        mask: &[T],
        delta: &mut [T],
    ) -> Result<(), ShapeError> {
        check_len("vmath::backward_masked", "mask", z.len(), mask.len())?;
        check_len("vmath::backward_masked", "delta", z.len(), delta.len())?;
        T::backward_masked(self, act, z, mask, delta);
        Ok(())
    }

    /// Softmax of one column (L2): `a = e^(z − m) / Σ e^(z − m)` with the shift m = max z;
    /// returns the log-sum-exp `m + ln Σ e^(z − m)`.
    ///
    /// # Errors
    /// [`ShapeError`] if the lengths differ.
    pub fn softmax<T: Elem>(self, z: &[T], a: &mut [T]) -> Result<T, ShapeError> {
        check_len("vmath::softmax", "a", z.len(), a.len())?;
        Ok(T::softmax(self, z, a))
    }

    /// The binary cross-entropy of one column (L3) from the logits:
    /// `Σ_i w_i [max(z_i, 0) − z_i y_i + ln(1 + e^(−|z_i|))]`, `w_i = 1` without weights. f32
    /// evaluates each term as `y·softplus(−z) + (1 − y)·softplus(z)`, which never cancels.
    ///
    /// # Errors
    /// [`ShapeError`] if the targets or the weights have another length than `z`, or a one-hot
    /// index is out of range.
    pub fn bce_sum<T: Elem>(
        self,
        z: &[T],
        y: BceTargets<'_, T>,
        weights: Option<&[T]>,
    ) -> Result<T, ShapeError> {
        match y {
            BceTargets::Values(y) => check_len("vmath::bce_sum", "y", z.len(), y.len())?,
            BceTargets::OneHot(c) if c >= z.len() => {
                check_len("vmath::bce_sum", "class index", z.len(), c + 1)?;
            }
            BceTargets::OneHot(_) => {}
        }
        if let Some(w) = weights {
            check_len("vmath::bce_sum", "weights", z.len(), w.len())?;
        }
        Ok(T::bce_sum(self, z, y, weights))
    }

    /// `dst[i] += alpha·src[i]` (a product then a sum, never fused: the same bits at every level).
    ///
    /// # Errors
    /// [`ShapeError`] if the lengths differ.
    pub fn add_scaled<T: Elem>(self, dst: &mut [T], src: &[T], alpha: T) -> Result<(), ShapeError> {
        check_len("vmath::add_scaled", "src", dst.len(), src.len())?;
        T::add_scaled(self, dst, src, alpha);
        Ok(())
    }

    /// `dst[i] = src[i]`.
    ///
    /// # Errors
    /// [`ShapeError`] if the lengths differ.
    pub fn copy<T: Elem>(self, dst: &mut [T], src: &[T]) -> Result<(), ShapeError> {
        check_len("vmath::copy", "src", dst.len(), src.len())?;
        T::copy(self, dst, src);
        Ok(())
    }
}

mod elem {
    use super::{Act, BceTargets, Kernels, MathFn};

    /// The per-type implementation behind [`Kernels`]' methods: vector kernels for f32, the
    /// scalar formulas for f64. Sealed: implemented for f32 and f64 only.
    pub trait Elem: crate::sealed::Sealed + Copy + Sized {
        #[doc(hidden)]
        fn map(k: Kernels, f: MathFn, x: &[Self], out: &mut [Self]);
        #[doc(hidden)]
        fn forward(k: Kernels, act: Act, z: &[Self], a: &mut [Self]);
        #[doc(hidden)]
        fn backward(k: Kernels, act: Act, z: &[Self], a: &[Self], delta: &mut [Self]);
        #[doc(hidden)]
        fn backward_masked(k: Kernels, act: Act, z: &[Self], mask: &[Self], delta: &mut [Self]);
        #[doc(hidden)]
        fn softmax(k: Kernels, z: &[Self], a: &mut [Self]) -> Self;
        #[doc(hidden)]
        fn bce_sum(k: Kernels, z: &[Self], y: BceTargets<'_, Self>, w: Option<&[Self]>) -> Self;
        #[doc(hidden)]
        fn add_scaled(k: Kernels, dst: &mut [Self], src: &[Self], alpha: Self);
        #[doc(hidden)]
        fn copy(k: Kernels, dst: &mut [Self], src: &[Self]);
    }
}
pub use elem::Elem;

impl Elem for f32 {
    fn map(k: Kernels, f: MathFn, x: &[f32], out: &mut [f32]) {
        k.backend.run(Map1 { f, x, out });
    }

    fn forward(k: Kernels, act: Act, z: &[f32], a: &mut [f32]) {
        with_act_lanes!(act, lanes => k.backend.run(Map1 { f: Forward(lanes), x: z, out: a }));
    }

    fn backward(k: Kernels, act: Act, z: &[f32], a: &[f32], delta: &mut [f32]) {
        if act == Act::Identity {
            return;
        }
        with_act_lanes!(act, lanes => k.backend.run(Map3 { f: Backward(lanes), x: z, y: a, d: delta }));
    }

    fn backward_masked(k: Kernels, act: Act, z: &[f32], mask: &[f32], delta: &mut [f32]) {
        with_act_lanes!(act, lanes => k.backend.run(Map3 { f: BackwardMasked(lanes), x: z, y: mask, d: delta }));
    }

    fn softmax(k: Kernels, z: &[f32], a: &mut [f32]) -> f32 {
        let (m, sum) = k.backend.run(Softmax { z, a });
        // One logarithm per column: std's.
        m + sum.ln()
    }

    fn bce_sum(k: Kernels, z: &[f32], y: BceTargets<'_, f32>, w: Option<&[f32]>) -> f32 {
        let y = match y {
            BceTargets::Values(v) => BceY::Values(v),
            BceTargets::OneHot(c) => BceY::OneHot(c),
        };
        k.backend.run(BceSum { z, y, w })
    }

    fn add_scaled(k: Kernels, dst: &mut [f32], src: &[f32], alpha: f32) {
        k.backend.run(AddScaled { dst, src, alpha });
    }

    fn copy(k: Kernels, dst: &mut [f32], src: &[f32]) {
        k.backend.run(CopyKernel { dst, src });
    }
}

impl Elem for f64 {
    fn map(_: Kernels, f: MathFn, x: &[f64], out: &mut [f64]) {
        for (o, &x) in out.iter_mut().zip(x) {
            *o = scalar::math(f, x);
        }
    }

    fn forward(_: Kernels, act: Act, z: &[f64], a: &mut [f64]) {
        scalar::forward(act, z, a);
    }

    fn backward(_: Kernels, act: Act, z: &[f64], a: &[f64], delta: &mut [f64]) {
        scalar::backward(act, z, a, delta);
    }

    fn backward_masked(_: Kernels, act: Act, z: &[f64], mask: &[f64], delta: &mut [f64]) {
        scalar::backward_masked(act, z, mask, delta);
    }

    fn softmax(_: Kernels, z: &[f64], a: &mut [f64]) -> f64 {
        let (m, sum) = scalar::softmax(z, a);
        m + sum.ln()
    }

    fn bce_sum(_: Kernels, z: &[f64], y: BceTargets<'_, f64>, w: Option<&[f64]>) -> f64 {
        let mut total = 0.0;
        for (i, &z) in z.iter().enumerate() {
            let y = match y {
                BceTargets::Values(v) => v[i],
                BceTargets::OneHot(c) => f64::from(u8::from(i == c)),
            };
            total += w.map_or(1.0, |w| w[i]) * scalar::bce(z, y);
        }
        total
    }

    fn add_scaled(_: Kernels, dst: &mut [f64], src: &[f64], alpha: f64) {
        // alpha = 1 needs no special case: 1·s is exact.
        for (d, &s) in dst.iter_mut().zip(src) {
            *d += alpha * s;
        }
    }

    fn copy(_: Kernels, dst: &mut [f64], src: &[f64]) {
        dst.copy_from_slice(src);
    }
}
