//! The f32 kernels: slice drivers that run a lane-wise function over whole vectors and the tail
//! (through pulp's partial loads, so the tail goes through the same vector code), and the lane
//! functions of every activation and its derivative.

use pulp::{Simd, WithSimd};

use super::MathFn;
use super::approx::{self, fma, splat};

/// Lane indices 0, 1, 2, … (at most 16 lanes: AVX-512).
const IOTA: [f32; 16] =
    [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0];

/// A lane-wise function of one vector.
pub(super) trait Lanes1: Copy {
    fn apply<S: Simd>(self, s: S, x: S::f32s) -> S::f32s;
}

/// A lane-wise function of three vectors (the third is updated in place by the driver).
pub(super) trait Lanes3: Copy {
    fn apply<S: Simd>(self, s: S, x: S::f32s, y: S::f32s, d: S::f32s) -> S::f32s;
}

/// `out[i] = f(x[i])`; `x` and `out` have the same length.
pub(super) struct Map1<'a, F> {
    pub(super) f: F,
    pub(super) x: &'a [f32],
    pub(super) out: &'a mut [f32],
}

impl<F: Lanes1> WithSimd for Map1<'_, F> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, s: S) {
        let Map1 { f, x, out } = self;
        let (x_head, x_tail) = S::as_simd_f32s(x);
        let (out_head, out_tail) = S::as_mut_simd_f32s(out);
        for (o, &x) in out_head.iter_mut().zip(x_head) {
            *o = f.apply(s, x);
        }
        if !x_tail.is_empty() {
            s.partial_store_f32s(out_tail, f.apply(s, s.partial_load_f32s(x_tail)));
        }
    }
}

/// `d[i] = f(x[i], y[i], d[i])`; the three have the same length.
pub(super) struct Map3<'a, F> {
    pub(super) f: F,
    pub(super) x: &'a [f32],
    pub(super) y: &'a [f32],
    pub(super) d: &'a mut [f32],
}

impl<F: Lanes3> WithSimd for Map3<'_, F> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, s: S) {
        let Map3 { f, x, y, d } = self;
        let (x_head, x_tail) = S::as_simd_f32s(x);
        let (y_head, y_tail) = S::as_simd_f32s(y);
        let (d_head, d_tail) = S::as_mut_simd_f32s(d);
        for ((d, &x), &y) in d_head.iter_mut().zip(x_head).zip(y_head) {
            *d = f.apply(s, x, y, *d);
        }
        if !x_tail.is_empty() {
            let (x, y) = (s.partial_load_f32s(x_tail), s.partial_load_f32s(y_tail));
            let d = s.partial_load_f32s(d_tail);
            s.partial_store_f32s(d_tail, f.apply(s, x, y, d));
        }
    }
}

impl Lanes1 for MathFn {
    #[inline(always)]
    fn apply<S: Simd>(self, s: S, x: S::f32s) -> S::f32s {
        match self {
            MathFn::Exp => approx::exp(s, x),
            MathFn::ExpM1 => approx::expm1(s, x),
            MathFn::Ln => approx::ln(s, x),
            MathFn::Ln1p => approx::ln_1p(s, x),
            MathFn::Tanh => approx::tanh(s, x),
            MathFn::Erf => approx::erf(s, x),
            MathFn::Sigmoid => approx::sigmoid(s, x),
            MathFn::NormalCdf => approx::normal(s, x, false).0,
        }
    }
}

/// An activation in lane form, with its parameter already in f32.
pub(super) trait ActLanes: Copy {
    /// Whether `dg` reads `a` (otherwise the masked backward pass need not compute g(z)).
    const DG_READS_A: bool;
    /// g(z).
    fn g<S: Simd>(self, s: S, z: S::f32s) -> S::f32s;
    /// g'(z), from z and a = g(z) (see the table of `Act`).
    fn dg<S: Simd>(self, s: S, z: S::f32s, a: S::f32s) -> S::f32s;
    /// `d · g'(z)`.
    #[inline(always)]
    fn backward<S: Simd>(self, s: S, z: S::f32s, a: S::f32s, d: S::f32s) -> S::f32s {
        s.mul_f32s(d, self.dg(s, z, a))
    }
}

/// g applied by `Map1`.
#[derive(Clone, Copy)]
pub(super) struct Forward<A>(pub(super) A);
impl<A: ActLanes> Lanes1 for Forward<A> {
    #[inline(always)]
    fn apply<S: Simd>(self, s: S, z: S::f32s) -> S::f32s {
        self.0.g(s, z)
    }
}

/// `d ← d · g'(z)` from (z, a, d), by `Map3`.
#[derive(Clone, Copy)]
pub(super) struct Backward<A>(pub(super) A);
impl<A: ActLanes> Lanes3 for Backward<A> {
    #[inline(always)]
    fn apply<S: Simd>(self, s: S, z: S::f32s, a: S::f32s, d: S::f32s) -> S::f32s {
        self.0.backward(s, z, a, d)
    }
}

/// `d ← d · (m == 0 ? 0 : m · g'(z))` from (z, m, d), by `Map3` (inverted dropout: a = m ⊙ g(z)).
#[derive(Clone, Copy)]
pub(super) struct BackwardMasked<A>(pub(super) A);
impl<A: ActLanes> Lanes3 for BackwardMasked<A> {
    #[inline(always)]
    fn apply<S: Simd>(self, s: S, z: S::f32s, m: S::f32s, d: S::f32s) -> S::f32s {
        let a = if A::DG_READS_A { self.0.g(s, z) } else { z };
        let factor = s.mul_f32s(m, self.0.dg(s, z, a));
        let zero = splat(s, 0.0);
        s.mul_f32s(d, s.select_f32s(s.equal_f32s(m, zero), zero, factor))
    }
}

#[inline(always)]
fn positive<S: Simd>(s: S, z: S::f32s) -> S::m32s {
    s.greater_than_f32s(z, splat(s, 0.0))
}

#[derive(Clone, Copy)]
pub(super) struct Sigmoid;
impl ActLanes for Sigmoid {
    const DG_READS_A: bool = true;
    #[inline(always)]
    fn g<S: Simd>(self, s: S, z: S::f32s) -> S::f32s {
        approx::sigmoid(s, z)
    }
    #[inline(always)]
    fn dg<S: Simd>(self, s: S, _: S::f32s, a: S::f32s) -> S::f32s {
        // g' from a: a(1 − a), no second exponential.
        s.mul_f32s(a, s.sub_f32s(splat(s, 1.0), a))
    }
}

#[derive(Clone, Copy)]
pub(super) struct Tanh;
impl ActLanes for Tanh {
    const DG_READS_A: bool = true;
    #[inline(always)]
    fn g<S: Simd>(self, s: S, z: S::f32s) -> S::f32s {
        approx::tanh(s, z)
    }
    #[inline(always)]
    fn dg<S: Simd>(self, s: S, _: S::f32s, a: S::f32s) -> S::f32s {
        s.sub_f32s(splat(s, 1.0), s.mul_f32s(a, a))
    }
}

#[derive(Clone, Copy)]
pub(super) struct Relu;
impl ActLanes for Relu {
    const DG_READS_A: bool = false;
    #[inline(always)]
    fn g<S: Simd>(self, s: S, z: S::f32s) -> S::f32s {
        s.select_f32s(positive(s, z), z, splat(s, 0.0))
    }
    #[inline(always)]
    fn dg<S: Simd>(self, s: S, z: S::f32s, _: S::f32s) -> S::f32s {
        // The subgradient 0 at z = 0.
        s.select_f32s(positive(s, z), splat(s, 1.0), splat(s, 0.0))
    }
    #[inline(always)]
    fn backward<S: Simd>(self, s: S, z: S::f32s, _: S::f32s, d: S::f32s) -> S::f32s {
        s.select_f32s(positive(s, z), d, splat(s, 0.0))
    }
}

#[derive(Clone, Copy)]
pub(super) struct LeakyRelu(pub(super) f32);
impl ActLanes for LeakyRelu {
    const DG_READS_A: bool = false;
    #[inline(always)]
    fn g<S: Simd>(self, s: S, z: S::f32s) -> S::f32s {
        s.select_f32s(positive(s, z), z, s.mul_f32s(splat(s, self.0), z))
    }
    #[inline(always)]
    fn dg<S: Simd>(self, s: S, z: S::f32s, _: S::f32s) -> S::f32s {
        s.select_f32s(positive(s, z), splat(s, 1.0), splat(s, self.0))
    }
}

#[derive(Clone, Copy)]
pub(super) struct Elu(pub(super) f32);
impl ActLanes for Elu {
    const DG_READS_A: bool = true;
    #[inline(always)]
    fn g<S: Simd>(self, s: S, z: S::f32s) -> S::f32s {
        s.select_f32s(positive(s, z), z, s.mul_f32s(splat(s, self.0), approx::expm1(s, z)))
    }
    #[inline(always)]
    fn dg<S: Simd>(self, s: S, z: S::f32s, a: S::f32s) -> S::f32s {
        // α e^z = a + α for z ≤ 0, from a.
        s.select_f32s(positive(s, z), splat(s, 1.0), s.add_f32s(a, splat(s, self.0)))
    }
}

#[derive(Clone, Copy)]
pub(super) struct Gelu;
impl ActLanes for Gelu {
    const DG_READS_A: bool = false;
    #[inline(always)]
    fn g<S: Simd>(self, s: S, z: S::f32s) -> S::f32s {
        // z·Φ(z), with Φ(z) = ½ erfc(−z/√2) computed without cancellation for z < 0.
        s.mul_f32s(z, approx::normal(s, z, false).0)
    }
    #[inline(always)]
    fn dg<S: Simd>(self, s: S, z: S::f32s, _: S::f32s) -> S::f32s {
        let (cdf, pdf) = approx::normal(s, z, true);
        fma(s, z, pdf, cdf)
    }
}

const SQRT_2_OVER_PI: f32 = 0.797_884_6;
const GELU_TANH_C: f32 = 0.044_715;

#[derive(Clone, Copy)]
pub(super) struct GeluTanh;
impl GeluTanh {
    /// 2u = 2√(2/π)(z + c z³): ½(1 + tanh u) = σ(2u).
    #[inline(always)]
    fn two_u<S: Simd>(s: S, z: S::f32s) -> S::f32s {
        let z2 = s.mul_f32s(z, z);
        let inner = fma(s, s.mul_f32s(splat(s, GELU_TANH_C), z2), z, z);
        s.mul_f32s(splat(s, 2.0 * SQRT_2_OVER_PI), inner)
    }
}
impl ActLanes for GeluTanh {
    const DG_READS_A: bool = false;
    #[inline(always)]
    fn g<S: Simd>(self, s: S, z: S::f32s) -> S::f32s {
        // ½z(1 + tanh u) = z·σ(2u): no cancellation for z < 0.
        s.mul_f32s(z, approx::sigmoid(s, Self::two_u(s, z)))
    }
    #[inline(always)]
    fn dg<S: Simd>(self, s: S, z: S::f32s, _: S::f32s) -> S::f32s {
        // d/dz z·σ(2u) = σ + z·2σ(1 − σ)·u', u' = √(2/π)(1 + 3c z²).
        let (sig, one_minus) = approx::sigmoid_pair(s, Self::two_u(s, z));
        let z2 = s.mul_f32s(z, z);
        let du = s.mul_f32s(
            splat(s, 2.0 * SQRT_2_OVER_PI),
            fma(s, splat(s, 3.0 * GELU_TANH_C), z2, splat(s, 1.0)),
        );
        // Where σ(1 − σ) underflows to 0 (|2u| > 104) the derivative is σ itself; the product
        // would be ∞·0 for huge |z|.
        let spread = s.mul_f32s(sig, one_minus);
        let full = fma(s, s.mul_f32s(z, spread), du, sig);
        s.select_f32s(s.equal_f32s(spread, splat(s, 0.0)), sig, full)
    }
}

#[derive(Clone, Copy)]
pub(super) struct Silu;
impl ActLanes for Silu {
    const DG_READS_A: bool = false;
    #[inline(always)]
    fn g<S: Simd>(self, s: S, z: S::f32s) -> S::f32s {
        s.mul_f32s(z, approx::sigmoid(s, z))
    }
    #[inline(always)]
    fn dg<S: Simd>(self, s: S, z: S::f32s, _: S::f32s) -> S::f32s {
        // σ(1 + z(1 − σ)), with 1 − σ = σ(−z) computed directly.
        let (sig, one_minus) = approx::sigmoid_pair(s, z);
        s.mul_f32s(sig, fma(s, z, one_minus, splat(s, 1.0)))
    }
}

#[derive(Clone, Copy)]
pub(super) struct Softplus;
impl ActLanes for Softplus {
    const DG_READS_A: bool = false;
    #[inline(always)]
    fn g<S: Simd>(self, s: S, z: S::f32s) -> S::f32s {
        approx::softplus(s, z)
    }
    #[inline(always)]
    fn dg<S: Simd>(self, s: S, z: S::f32s, _: S::f32s) -> S::f32s {
        approx::sigmoid(s, z)
    }
}

#[derive(Clone, Copy)]
pub(super) struct Identity;
impl ActLanes for Identity {
    const DG_READS_A: bool = false;
    #[inline(always)]
    fn g<S: Simd>(self, _: S, z: S::f32s) -> S::f32s {
        z
    }
    #[inline(always)]
    fn dg<S: Simd>(self, s: S, _: S::f32s, _: S::f32s) -> S::f32s {
        splat(s, 1.0)
    }
    #[inline(always)]
    fn backward<S: Simd>(self, _: S, _: S::f32s, _: S::f32s, d: S::f32s) -> S::f32s {
        d
    }
}

/// Calls `$body` with `$lanes` bound to the lane form of `$act`: one monomorphic kernel per
/// activation, the match outside the loops.
macro_rules! with_act_lanes {
    ($act:expr, $lanes:ident => $body:expr) => {
        match $act {
            Act::Sigmoid => {
                let $lanes = $crate::vmath::simd::Sigmoid;
                $body
            }
            Act::Tanh => {
                let $lanes = $crate::vmath::simd::Tanh;
                $body
            }
            Act::Relu => {
                let $lanes = $crate::vmath::simd::Relu;
                $body
            }
            Act::LeakyRelu { alpha } => {
                let $lanes = $crate::vmath::simd::LeakyRelu(alpha as f32);
                $body
            }
            Act::Elu { alpha } => {
                let $lanes = $crate::vmath::simd::Elu(alpha as f32);
                $body
            }
            Act::Gelu => {
                let $lanes = $crate::vmath::simd::Gelu;
                $body
            }
            Act::GeluTanh => {
                let $lanes = $crate::vmath::simd::GeluTanh;
                $body
            }
            Act::Silu => {
                let $lanes = $crate::vmath::simd::Silu;
                $body
            }
            Act::Softplus => {
                let $lanes = $crate::vmath::simd::Softplus;
                $body
            }
            Act::Identity => {
                let $lanes = $crate::vmath::simd::Identity;
                $body
            }
        }
    };
}
pub(super) use with_act_lanes;

/// Softmax of one column: `a = e^(z − m) / Σ e^(z − m)` with m = max z; returns (m, Σ e^(z − m)).
pub(super) struct Softmax<'a> {
    pub(super) z: &'a [f32],
    pub(super) a: &'a mut [f32],
}

impl WithSimd for Softmax<'_> {
    type Output = (f32, f32);

    #[inline(always)]
    fn with_simd<S: Simd>(self, s: S) -> (f32, f32) {
        let Softmax { z, a } = self;
        let (z_head, z_tail) = S::as_simd_f32s(z);
        // The maximum: whole vectors, then the tail element by element.
        let mut m = f32::NEG_INFINITY;
        if !z_head.is_empty() {
            let mut mv = z_head[0];
            for &v in &z_head[1..] {
                mv = s.max_f32s(mv, v);
            }
            m = s.reduce_max_f32s(mv);
        }
        for &v in z_tail {
            m = m.max(v);
        }
        // (L2) The log-sum-exp shift: every exponent is ≤ 0.
        let shift = splat(s, m);
        let mut sum = splat(s, 0.0);
        {
            let (a_head, a_tail) = S::as_mut_simd_f32s(&mut *a);
            for (o, &v) in a_head.iter_mut().zip(z_head) {
                *o = approx::exp(s, s.sub_f32s(v, shift));
                sum = s.add_f32s(sum, *o);
            }
            if !z_tail.is_empty() {
                let e = approx::exp(s, s.sub_f32s(s.partial_load_f32s(z_tail), shift));
                s.partial_store_f32s(a_tail, e);
                // The lanes past the end were stored nowhere: add only the stored ones.
                sum = s.add_f32s(sum, s.partial_load_f32s(a_tail));
            }
        }
        let total = s.reduce_sum_f32s(sum);
        let inv = splat(s, 1.0 / total);
        let (a_head, a_tail) = S::as_mut_simd_f32s(a);
        for o in a_head.iter_mut() {
            *o = s.mul_f32s(*o, inv);
        }
        if !a_tail.is_empty() {
            let v = s.mul_f32s(s.partial_load_f32s(a_tail), inv);
            s.partial_store_f32s(a_tail, v);
        }
        (m, total)
    }
}

/// The targets of the binary cross-entropy of one column.
#[derive(Clone, Copy, Debug)]
pub(super) enum BceY<'a> {
    Values(&'a [f32]),
    OneHot(usize),
}

/// Σ_i w_i [y_i·softplus(−z_i) + (1 − y_i)·softplus(z_i)] (L3 without cancellation).
pub(super) struct BceSum<'a> {
    pub(super) z: &'a [f32],
    pub(super) y: BceY<'a>,
    pub(super) w: Option<&'a [f32]>,
}

impl BceSum<'_> {
    /// One vector of losses: softplus(±z) share e^(−|z|) and ln(1 + e^(−|z|)).
    #[inline(always)]
    fn lanes<S: Simd>(s: S, z: S::f32s, y: S::f32s) -> S::f32s {
        let zero = splat(s, 0.0);
        let l = approx::ln_1p(s, approx::exp(s, s.neg_f32s(s.abs_f32s(z))));
        let pos = s.select_f32s(s.greater_than_f32s(z, zero), z, zero);
        let neg = s.select_f32s(s.less_than_f32s(z, zero), s.neg_f32s(z), zero);
        // y·max(−z, 0) + (1 − y)·max(z, 0) + ln(1 + e^(−|z|)).
        let mixed = fma(s, y, s.sub_f32s(neg, pos), pos);
        s.add_f32s(mixed, l)
    }
}

impl WithSimd for BceSum<'_> {
    type Output = f32;

    #[inline(always)]
    fn with_simd<S: Simd>(self, s: S) -> f32 {
        let BceSum { z, y, w } = self;
        let lanes = S::F32_LANES;
        let iota = s.partial_load_f32s(&IOTA[..lanes.min(IOTA.len())]);
        let mut acc = splat(s, 0.0);
        let mut start = 0;
        while start < z.len() {
            let end = (start + lanes).min(z.len());
            let zv = s.partial_load_f32s(&z[start..end]);
            let yv = match y {
                BceY::Values(y) => s.partial_load_f32s(&y[start..end]),
                BceY::OneHot(c) => {
                    let idx = s.add_f32s(iota, splat(s, start as f32));
                    s.select_f32s(
                        s.equal_f32s(idx, splat(s, c as f32)),
                        splat(s, 1.0),
                        splat(s, 0.0),
                    )
                }
            };
            let mut l = Self::lanes(s, zv, yv);
            // Weights: the padding lanes get weight 0; without weights, a mask does it.
            let weight = match w {
                Some(w) => s.partial_load_f32s(&w[start..end]),
                None => s.select_f32s(
                    s.less_than_f32s(iota, splat(s, (end - start) as f32)),
                    splat(s, 1.0),
                    splat(s, 0.0),
                ),
            };
            l = s.mul_f32s(l, weight);
            acc = s.add_f32s(acc, l);
            start = end;
        }
        s.reduce_sum_f32s(acc)
    }
}

/// `dst[i] += alpha·src[i]` (`alpha = 1`: `dst[i] += src[i]`), multiply then add, unfused: the
/// same bits on every level.
pub(super) struct AddScaled<'a> {
    pub(super) dst: &'a mut [f32],
    pub(super) src: &'a [f32],
    pub(super) alpha: f32,
}

impl WithSimd for AddScaled<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, s: S) {
        let AddScaled { dst, src, alpha } = self;
        let (d_head, d_tail) = S::as_mut_simd_f32s(dst);
        let (s_head, s_tail) = S::as_simd_f32s(src);
        // alpha = 1 needs no special case: 1·v is exact.
        let a = splat(s, alpha);
        for (d, &v) in d_head.iter_mut().zip(s_head) {
            *d = s.add_f32s(*d, s.mul_f32s(a, v));
        }
        for (d, &v) in d_tail.iter_mut().zip(s_tail) {
            *d += alpha * v;
        }
    }
}

/// `dst[i] = src[i]`.
pub(super) struct CopyKernel<'a> {
    pub(super) dst: &'a mut [f32],
    pub(super) src: &'a [f32],
}

impl WithSimd for CopyKernel<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, s: S) {
        let (d_head, d_tail) = S::as_mut_simd_f32s(self.dst);
        let (s_head, s_tail) = S::as_simd_f32s(self.src);
        for (d, &v) in d_head.iter_mut().zip(s_head) {
            *d = v;
        }
        if !s_tail.is_empty() {
            s.partial_store_f32s(d_tail, s.partial_load_f32s(s_tail));
        }
    }
}
