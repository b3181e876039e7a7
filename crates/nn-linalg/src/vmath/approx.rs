//! f32 approximations of exp, expm1, ln, ln(1+x), tanh, erf, erfc, the logistic sigmoid and the
//! normal CDF, written once for every SIMD type of pulp (AVX-512, AVX2+FMA, NEON, the portable
//! scalar fallback).
//!
//! Every function here is lane-wise: the result in a lane depends on that lane's input only, so
//! a value never depends on its position in a slice or on the slice's length.
//!
//! The methods are Cephes' (range reduction, then a polynomial on a small interval), with these
//! choices:
//! - `exp`: n = round(x/ln 2) with the 1.5·2²³ shifter (no float-to-int conversion needed), r =
//!   x − n·ln 2 in two steps (Cody–Waite), Cephes' degree-6 polynomial, and 2ⁿ applied as
//!   2^⌊n/2⌉·2^(n−⌊n/2⌉) so that results down to the smallest subnormal (x ≈ −103.97) and up to
//!   the overflow threshold (x ≈ 88.72) come out right, with a single rounding.
//! - `ln`: the exponent and mantissa from the bits (subnormals scaled by 2²³ first), mantissa in
//!   [√½, √2), Cephes' degree-9 polynomial, e·ln 2 added in two parts.
//! - `expm1`: a degree-9 Taylor polynomial for |x| < 0.7, e^x − 1 beyond.
//! - `ln_1p`: Goldberg's ln(u)·x/(u − 1) with u = 1 + x.
//! - `tanh`: Cephes' odd polynomial for |x| < 0.625, 1 − 2/(e^(2|x|) + 1) beyond, sign copied.
//! - `erfc` (x ≥ 0): Numerical Recipes' Chebyshev fit t·exp(−x² + P(t)), t = 1/(1 + x/2)
//!   (fractional error < 1.2e-7 in exact arithmetic), with e^(−x²) evaluated as
//!   e^(−x_h²)·e^(−(x − x_h)(x + x_h)) where x_h keeps the top 12 bits of x, so x² costs no
//!   precision (Cephes' `expx2` idea). `erf` uses a Taylor polynomial for |x| < 0.9 and 1 − erfc
//!   beyond; the normal CDF Φ(z) uses erfc directly on its small side, so no cancellation occurs.
//! - `sigmoid`: e = e^(−|z|), then e/(1 + e) for z < 0 and 1/(1 + e) otherwise: no overflow, and
//!   subnormal results for z < −87.3 are right.
//!
//! The maximum errors measured against an f64 reference are listed in `super`'s documentation
//! and checked by the tests.

#![allow(
    clippy::excessive_precision,
    reason = "coefficients are written as published (Cephes) or fitted; each rounds to its f32"
)]

use pulp::Simd;

pub(super) const LOG2E: f32 = std::f32::consts::LOG2_E;
/// 1.5·2²³: adding it rounds a float of magnitude < 2²² to an integer, which then sits in the
/// low bits of the sum's representation.
const SHIFTER: f32 = 12_582_912.0;
const SHIFTER_BITS: u32 = 0x4B40_0000;
/// ln 2 = LN2_HI + LN2_LO, LN2_HI with 9 significant bits (n·LN2_HI is exact for |n| < 2¹⁵).
const LN2_HI: f32 = 0.693_359_375;
const LN2_LO: f32 = -2.121_944_4e-4;
const FRAC_1_SQRT_2: f32 = std::f32::consts::FRAC_1_SQRT_2;

#[inline(always)]
pub(super) fn splat<S: Simd>(s: S, v: f32) -> S::f32s {
    s.splat_f32s(v)
}

#[inline(always)]
fn bits<S: Simd>(s: S, x: S::f32s) -> S::u32s {
    s.transmute_u32s_f32s(x)
}

#[inline(always)]
fn from_bits<S: Simd>(s: S, b: S::u32s) -> S::f32s {
    s.transmute_f32s_u32s(b)
}

/// `a·b + c`, fused where the CPU has FMA (the portable path rounds twice).
#[inline(always)]
pub(super) fn fma<S: Simd>(s: S, a: S::f32s, b: S::f32s, c: S::f32s) -> S::f32s {
    s.mul_add_e_f32s(a, b, c)
}

/// Horner's scheme: `c[0]·x^(k−1) + … + c[k−1]`.
#[inline(always)]
fn poly<S: Simd>(s: S, x: S::f32s, c: &[f32]) -> S::f32s {
    let mut p = splat(s, c[0]);
    for &ci in &c[1..] {
        p = fma(s, p, x, splat(s, ci));
    }
    p
}

/// `x` with the sign bit of `sign`.
#[inline(always)]
fn copysign<S: Simd>(s: S, x: S::f32s, sign: S::f32s) -> S::f32s {
    let mask = s.splat_u32s(0x8000_0000);
    let magnitude = s.and_u32s(bits(s, x), s.not_u32s(mask));
    from_bits(s, s.or_u32s(magnitude, s.and_u32s(bits(s, sign), mask)))
}

/// NaN lanes of `x` stay NaN: `value` elsewhere.
#[inline(always)]
fn keep_nan<S: Simd>(s: S, x: S::f32s, value: S::f32s) -> S::f32s {
    s.select_f32s(s.equal_f32s(x, x), value, x)
}

/// 2^k for integer-valued `k` in [−126, 127]: the exponent field built from the bits of k + 1.5·2²³.
#[inline(always)]
fn pow2<S: Simd>(s: S, k: S::f32s) -> S::f32s {
    let t = bits(s, s.add_f32s(k, splat(s, SHIFTER)));
    let biased = s.add_u32s(t, s.splat_u32s(127u32.wrapping_sub(SHIFTER_BITS)));
    from_bits(s, s.wrapping_dyn_shl_u32s(biased, s.splat_u32s(23)))
}

/// e^x.
#[inline(always)]
pub(super) fn exp<S: Simd>(s: S, x: S::f32s) -> S::f32s {
    // Beyond [−105, 89] the result is 0 or +∞ anyway; clamping keeps n within the range of
    // `pow2` below (NaN is restored at the end).
    let xc = s.min_f32s(s.max_f32s(x, splat(s, -105.0)), splat(s, 89.0));
    let shifter = splat(s, SHIFTER);
    let n = s.sub_f32s(fma(s, xc, splat(s, LOG2E), shifter), shifter);
    // r = x − n·ln 2, |r| ≤ ½ ln 2 (Cody–Waite: the first product is exact).
    let r = fma(s, n, splat(s, -LN2_HI), xc);
    let r = fma(s, n, splat(s, -LN2_LO), r);
    let p = poly(
        s,
        r,
        &[
            1.987_569_2e-4,
            1.398_199_9e-3,
            8.333_452e-3,
            4.166_579_6e-2,
            1.666_666_5e-1,
            5.000_000_1e-1,
        ],
    );
    let y = fma(s, s.mul_f32s(p, r), r, r);
    let y = s.add_f32s(y, splat(s, 1.0));
    // 2ⁿ = 2^n1 · 2^n2 with both factors normal for n in [−152, 129].
    let n1 = s.sub_f32s(fma(s, n, splat(s, 0.5), shifter), shifter);
    let n2 = s.sub_f32s(n, n1);
    let y = s.mul_f32s(s.mul_f32s(y, pow2(s, n1)), pow2(s, n2));
    keep_nan(s, x, y)
}

/// e^x − 1, accurate near 0.
#[inline(always)]
pub(super) fn expm1<S: Simd>(s: S, x: S::f32s) -> S::f32s {
    // Taylor: x + x²(1/2! + x/3! + … + x⁷/9!), truncation < 0.1 ulp for |x| < 0.7.
    let p = poly(
        s,
        x,
        &[
            1.0 / 362_880.0,
            1.0 / 40_320.0,
            1.0 / 5_040.0,
            1.0 / 720.0,
            1.0 / 120.0,
            1.0 / 24.0,
            1.0 / 6.0,
            0.5,
        ],
    );
    let small = fma(s, s.mul_f32s(x, x), p, x);
    let large = s.sub_f32s(exp(s, x), splat(s, 1.0));
    let y = s.select_f32s(s.less_than_f32s(s.abs_f32s(x), splat(s, 0.7)), small, large);
    // e^x − 1 has the sign of x, also for ±0.
    keep_nan(s, x, copysign(s, y, x))
}

/// ln x (NaN for x < 0, −∞ at ±0).
#[inline(always)]
pub(super) fn ln<S: Simd>(s: S, x: S::f32s) -> S::f32s {
    // Subnormals: scale by 2²³ first (and take 23 off the exponent).
    let tiny = s.less_than_f32s(x, splat(s, f32::MIN_POSITIVE));
    let xs = s.select_f32s(tiny, s.mul_f32s(x, splat(s, 8_388_608.0)), x);
    let xb = bits(s, xs);
    // The biased exponent field as a float (k + 1.5·2²³ has k in its low bits), minus 126:
    // x = m·2^e with m in [½, 1).
    let field = s.wrapping_dyn_shr_u32s(xb, s.splat_u32s(23));
    let field = s.and_u32s(field, s.splat_u32s(0xFF));
    let e = s.sub_f32s(
        from_bits(s, s.add_u32s(field, s.splat_u32s(SHIFTER_BITS))),
        splat(s, SHIFTER + 126.0),
    );
    let e = s.select_f32s(tiny, s.sub_f32s(e, splat(s, 23.0)), e);
    let m = from_bits(
        s,
        s.or_u32s(s.and_u32s(xb, s.splat_u32s(0x007F_FFFF)), s.splat_u32s(0x3F00_0000)),
    );
    // m in [√½, 1) becomes 2m − 1 with e − 1; m in [½, √½) ... see Cephes logf.
    let below = s.less_than_f32s(m, splat(s, std::f32::consts::FRAC_1_SQRT_2));
    let e = s.select_f32s(below, s.sub_f32s(e, splat(s, 1.0)), e);
    let f = s.sub_f32s(s.select_f32s(below, s.add_f32s(m, m), m), splat(s, 1.0));
    let z = s.mul_f32s(f, f);
    let p = poly(
        s,
        f,
        &[
            7.037_683_6e-2,
            -1.151_461e-1,
            1.167_699_9e-1,
            -1.242_014_1e-1,
            1.424_932_3e-1,
            -1.666_805_8e-1,
            2.000_071_4e-1,
            -2.499_999_4e-1,
            3.333_333_1e-1,
        ],
    );
    let y = s.mul_f32s(s.mul_f32s(p, f), z);
    let y = fma(s, e, splat(s, LN2_LO), y);
    let y = fma(s, z, splat(s, -0.5), y);
    let y = s.add_f32s(f, y);
    let y = fma(s, e, splat(s, LN2_HI), y);
    // Special values: ln(+∞) = +∞, ln(±0) = −∞, ln(x < 0) = NaN, NaN stays NaN.
    let y = s.select_f32s(s.equal_f32s(x, splat(s, f32::INFINITY)), x, y);
    let y = s.select_f32s(s.equal_f32s(x, splat(s, 0.0)), splat(s, f32::NEG_INFINITY), y);
    let y = s.select_f32s(s.less_than_f32s(x, splat(s, 0.0)), splat(s, f32::NAN), y);
    keep_nan(s, x, y)
}

/// ln(1 + x), accurate near 0.
#[inline(always)]
pub(super) fn ln_1p<S: Simd>(s: S, x: S::f32s) -> S::f32s {
    // Goldberg: with u = 1 + x rounded, ln(u)·x/(u − 1) cancels u's rounding error.
    let one = splat(s, 1.0);
    let u = s.add_f32s(x, one);
    let d = s.sub_f32s(u, one);
    // x/(u − 1) ≈ 1 first, so huge x cannot overflow the product.
    let y = s.mul_f32s(ln(s, u), s.div_f32s(x, d));
    let y = s.select_f32s(s.equal_f32s(d, splat(s, 0.0)), x, y);
    // ln(1 + ∞) = ∞ (the quotient above would be ∞/∞).
    s.select_f32s(s.equal_f32s(x, splat(s, f32::INFINITY)), x, y)
}

/// tanh x.
#[inline(always)]
pub(super) fn tanh<S: Simd>(s: S, x: S::f32s) -> S::f32s {
    let ax = s.abs_f32s(x);
    let z = s.mul_f32s(x, x);
    let p = poly(
        s,
        z,
        &[-5.704_988_7e-3, 2.063_908_9e-2, -5.373_971_6e-2, 1.333_144_2e-1, -3.333_328_2e-1],
    );
    let small = fma(s, s.mul_f32s(ax, z), p, ax);
    let e = exp(s, s.add_f32s(ax, ax));
    let one = splat(s, 1.0);
    let large = s.sub_f32s(one, s.div_f32s(splat(s, 2.0), s.add_f32s(e, one)));
    let y = s.select_f32s(s.less_than_f32s(ax, splat(s, 0.625)), small, large);
    keep_nan(s, x, copysign(s, y, x))
}

/// `x` with its low 12 significand bits cleared: x_h² is exact.
#[inline(always)]
fn high_half<S: Simd>(s: S, x: S::f32s) -> S::f32s {
    from_bits(s, s.and_u32s(bits(s, x), s.splat_u32s(0xFFFF_F000)))
}

/// The expansion point of the erfc fit in t = 1/(1 + u/2) (exactly representable).
const ERFC_T0: f32 = 0.478_740_16;

/// erfc(u) for u ≥ 0.5 (up to 10.7, beyond which erfc underflows), given u² = `sq_hi` + `sq_lo`
/// with `sq_hi` exact, and e^(−sq_hi) already computed:
/// erfc(u) = e^(−u²)·t·Q(t − t0), t = 1/(1 + u/2), Q a degree-9 Chebyshev fit of e^(u²) erfc(u)/t
/// on t in [0.157, 0.8] (relative fit error 4.2e-9, made with mpmath's `chebyfit`; the small,
/// slowly decreasing coefficients keep Horner's rounding near 1 ulp).
#[inline(always)]
fn erfc_nonneg<S: Simd>(s: S, u: S::f32s, sq_lo: S::f32s, exp_neg_sq_hi: S::f32s) -> S::f32s {
    let t = s.div_f32s(splat(s, 1.0), fma(s, u, splat(s, 0.5), splat(s, 1.0)));
    let q = poly(
        s,
        s.sub_f32s(t, splat(s, ERFC_T0)),
        &[
            -0.028_403_246,
            -0.063_428_754,
            0.068_010_023,
            0.088_289_953,
            -0.115_735_59,
            -0.160_357_58,
            0.159_915_88,
            0.549_189_97,
            0.663_598_71,
            0.496_433_62,
        ],
    );
    let e = s.mul_f32s(exp_neg_sq_hi, exp(s, s.neg_f32s(sq_lo)));
    s.mul_f32s(e, s.mul_f32s(t, q))
}

/// Below this |x|, erf uses its Taylor polynomial (1 − erfc beyond, where erfc ≤ erf/4, so
/// erfc's error shrinks fourfold in erf).
const ERF_TAYLOR_MAX: f32 = 0.9;
/// Below this |u|, Φ = ½ + ½ erf(u) (½ erfc(|u|) or 1 − ½ erfc(u) beyond, without cancellation).
const CDF_NEAR_MAX: f32 = 0.5;
/// 2/√π = C0_HI + C0_LO, so the leading term x·2/√π carries no representation error.
const C0_HI: f32 = std::f32::consts::FRAC_2_SQRT_PI;
const C0_LO: f32 = -5.863_538_3e-8;

/// erf(x) for |x| < 0.9 (Taylor to x¹⁹, truncation < 0.05 ulp), odd; the small terms are summed
/// first and the leading one added last with a single rounding.
#[inline(always)]
fn erf_small<S: Simd>(s: S, x: S::f32s) -> S::f32s {
    let z = s.mul_f32s(x, x);
    let p = poly(
        s,
        z,
        &[
            -1.636_584_5e-7,
            1.646_211_4e-6,
            -1.492_565e-5,
            1.205_533_3e-4,
            -8.548_327e-4,
            5.223_977_6e-3,
            -2.686_617e-2,
            1.128_379_2e-1,
            -3.761_263_9e-1,
        ],
    );
    let tail = fma(s, x, splat(s, C0_LO), s.mul_f32s(s.mul_f32s(x, z), p));
    fma(s, x, splat(s, C0_HI), tail)
}

/// erf x.
#[inline(always)]
pub(super) fn erf<S: Simd>(s: S, x: S::f32s) -> S::f32s {
    let ax = s.min_f32s(s.abs_f32s(x), splat(s, 10.5));
    let h = high_half(s, ax);
    let sq_lo = s.mul_f32s(s.sub_f32s(ax, h), s.add_f32s(ax, h));
    let erfc = erfc_nonneg(s, ax, sq_lo, exp(s, s.neg_f32s(s.mul_f32s(h, h))));
    let large = copysign(s, s.sub_f32s(splat(s, 1.0), erfc), x);
    let y = s.select_f32s(
        s.less_than_f32s(s.abs_f32s(x), splat(s, ERF_TAYLOR_MAX)),
        erf_small(s, x),
        large,
    );
    // erf is odd: the sign of x, also for ±0.
    keep_nan(s, x, copysign(s, y, x))
}

/// The pieces of the normal distribution at z that GELU needs: Φ(z) and, if asked, φ(z).
#[inline(always)]
pub(super) fn normal<S: Simd>(s: S, z: S::f32s, with_pdf: bool) -> (S::f32s, S::f32s) {
    // u = |z|/√2; u² = z²/2 is taken from z itself (exact as hi + lo), not from the rounded u.
    let az = s.min_f32s(s.abs_f32s(z), splat(s, 15.0));
    let u = s.mul_f32s(az, splat(s, FRAC_1_SQRT_2));
    let h = high_half(s, az);
    let half = splat(s, 0.5);
    let sq_hi = s.mul_f32s(s.mul_f32s(h, h), half);
    let sq_lo = s.mul_f32s(s.mul_f32s(s.sub_f32s(az, h), s.add_f32s(az, h)), half);
    let exp_hi = exp(s, s.neg_f32s(sq_hi));
    // Φ(z) = ½ erfc(u) for z < 0, 1 − ½ erfc(u) for z > 0, ½ + ½ erf(z/√2) near 0.
    let tail = s.mul_f32s(half, erfc_nonneg(s, u, sq_lo, exp_hi));
    let far =
        s.select_f32s(s.less_than_f32s(z, splat(s, 0.0)), tail, s.sub_f32s(splat(s, 1.0), tail));
    let near = fma(s, half, erf_small(s, s.mul_f32s(z, splat(s, FRAC_1_SQRT_2))), half);
    let cdf = s.select_f32s(s.less_than_f32s(u, splat(s, CDF_NEAR_MAX)), near, far);
    let cdf = keep_nan(s, z, cdf);
    let pdf = if with_pdf {
        let g = s.mul_f32s(exp_hi, exp(s, s.neg_f32s(sq_lo)));
        keep_nan(s, z, s.mul_f32s(g, splat(s, 0.398_942_3)))
    } else {
        cdf
    };
    (cdf, pdf)
}

/// The logistic function σ(z) and 1 − σ(z) = σ(−z), both without cancellation.
#[inline(always)]
pub(super) fn sigmoid_pair<S: Simd>(s: S, z: S::f32s) -> (S::f32s, S::f32s) {
    let e = exp(s, s.neg_f32s(s.abs_f32s(z)));
    let one = splat(s, 1.0);
    let inv = s.div_f32s(one, s.add_f32s(one, e));
    let neg = s.less_than_f32s(z, splat(s, 0.0));
    let small = s.mul_f32s(e, inv);
    (s.select_f32s(neg, small, inv), s.select_f32s(neg, inv, small))
}

/// The logistic function σ(z) = 1/(1 + e^(−z)).
#[inline(always)]
pub(super) fn sigmoid<S: Simd>(s: S, z: S::f32s) -> S::f32s {
    let e = exp(s, s.neg_f32s(s.abs_f32s(z)));
    let one = splat(s, 1.0);
    let num = s.select_f32s(s.less_than_f32s(z, splat(s, 0.0)), e, one);
    s.div_f32s(num, s.add_f32s(one, e))
}

/// softplus z = ln(1 + e^z) = max(z, 0) + ln(1 + e^(−|z|)).
#[inline(always)]
pub(super) fn softplus<S: Simd>(s: S, z: S::f32s) -> S::f32s {
    let e = exp(s, s.neg_f32s(s.abs_f32s(z)));
    let pos = s.select_f32s(s.greater_than_f32s(z, splat(s, 0.0)), z, splat(s, 0.0));
    keep_nan(s, z, s.add_f32s(pos, ln_1p(s, e)))
}
