//! Accuracy of the f32 approximations against an f64 reference, on every SIMD level this CPU
//! supports, over a dense sweep of f32 values and the special values; agreement of the levels;
//! independence of a value from its position in the slice; the f64 path unchanged.

use nn_linalg::vmath::{Act, BceTargets, Kernels, MathFn, SimdLevel};

/// The f64 reference of each function.
fn reference(f: MathFn, x: f64) -> f64 {
    match f {
        MathFn::Exp => x.exp(),
        MathFn::ExpM1 => x.exp_m1(),
        MathFn::Ln => x.ln(),
        MathFn::Ln1p => x.ln_1p(),
        MathFn::Tanh => x.tanh(),
        MathFn::Erf => libm::erf(x),
        MathFn::Sigmoid => 1.0 / (1.0 + (-x).exp()),
        MathFn::NormalCdf => 0.5 * libm::erfc(-x * std::f64::consts::FRAC_1_SQRT_2),
    }
}

/// The documented maximum error of each function, in ulps (see `vmath`'s documentation): the
/// maximum over all 2³² inputs on AVX-512 and on the portable level, rounded up.
fn bound(f: MathFn) -> f64 {
    match f {
        MathFn::Exp => 1.1,
        MathFn::Ln => 1.0,
        MathFn::Tanh => 1.5,
        MathFn::ExpM1 => 2.0,
        MathFn::Ln1p | MathFn::Erf | MathFn::Sigmoid => 2.5,
        MathFn::NormalCdf => 6.5,
    }
}

/// The spacing of f32 at |r| (2⁻¹⁴⁹ for subnormal values and 0).
fn ulp(r: f64) -> f64 {
    let e = if r == 0.0 { -126 } else { (r.abs().log2().floor() as i32).max(-126) };
    2f64.powi(e - 23)
}

/// The error of `y` against the reference `r`, in ulps of `r`, with `abs_floor` as the smallest
/// unit (for results near a cancellation); NaN must match NaN and infinities must match exactly.
fn error(y: f32, r: f64, abs_floor: f64) -> f64 {
    let rf = r as f32;
    if r.is_nan() || y.is_nan() {
        return if r.is_nan() && y.is_nan() { 0.0 } else { f64::INFINITY };
    }
    if rf.is_infinite() || y.is_infinite() {
        return if y == rf { 0.0 } else { f64::INFINITY };
    }
    (f64::from(y) - r).abs() / ulp(r).max(abs_floor)
}

/// Every 4099th f32 bit pattern (about a million values, every exponent, both signs, NaNs), a
/// fine grid on [−20, 20] and the special values.
fn sweep() -> Vec<f32> {
    sweep_with_step(4099)
}

fn sweep_with_step(step: usize) -> Vec<f32> {
    let mut xs: Vec<f32> = (0..=u32::MAX).step_by(step).map(f32::from_bits).collect();
    xs.extend([
        0.0,
        -0.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        f32::MIN_POSITIVE,
        -f32::MIN_POSITIVE,
        f32::from_bits(1),
        -f32::from_bits(1),
        f32::MAX,
        f32::MIN,
        f32::EPSILON,
        1.0,
        -1.0,
        // exp: the overflow threshold ln(f32::MAX), the subnormal range and the underflow to 0.
        88.722_83,
        88.722_84,
        -87.336_54,
        -87.336_56,
        -103.972_08,
        -103.972_09,
        -200.0,
        200.0,
        // The branch points of the approximations.
        0.35,
        0.625,
        0.7,
        -0.7,
        0.5,
        -0.5,
        0.707_106_77,
        3.92,
        10.5,
        15.0,
    ]);
    // A fine grid where the activations live.
    xs.extend((-50_000..=50_000).map(|i| i as f32 * 4e-4));
    xs
}

fn levels() -> Vec<Kernels> {
    SimdLevel::supported().map(|l| Kernels::with_level(l).unwrap()).collect()
}

#[test]
fn every_level_this_cpu_supports_is_tested() {
    let supported: Vec<SimdLevel> = SimdLevel::supported().collect();
    assert_eq!(supported.last(), Some(&SimdLevel::Portable));
    assert_eq!(Kernels::detected().level(), supported[0]);
    #[cfg(target_arch = "x86_64")]
    {
        assert_eq!(
            SimdLevel::Avx512.is_supported(),
            std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512bw")
                && std::arch::is_x86_feature_detected!("avx512dq")
                && std::arch::is_x86_feature_detected!("avx512vl")
        );
        assert_eq!(
            SimdLevel::Avx2Fma.is_supported(),
            std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
        );
        assert!(!SimdLevel::Neon.is_supported());
    }
}

#[test]
fn math_functions_stay_within_their_documented_error_on_every_level() {
    let xs = sweep();
    let mut out = vec![0.0f32; xs.len()];
    let mut failures = Vec::new();
    for k in levels() {
        for f in MathFn::ALL {
            k.map(f, &xs, &mut out).unwrap();
            let (mut worst, mut at) = (0.0f64, 0.0f32);
            for (&x, &y) in xs.iter().zip(&out) {
                let e = error(y, reference(f, f64::from(x)), 0.0);
                if e > worst {
                    (worst, at) = (e, x);
                }
            }
            if worst > bound(f) {
                failures.push(format!(
                    "{f:?} at {}: {worst} ulp at x = {at:e} (bound {})",
                    k.level(),
                    bound(f)
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// The logistic function in f64, without overflow or cancellation.
fn sigmoid64(z: f64) -> f64 {
    if z < 0.0 {
        let e = z.exp();
        e / (1.0 + e)
    } else {
        1.0 / (1.0 + (-z).exp())
    }
}

const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;
const GELU_TANH_C: f64 = 0.044_715;

/// The f64 references of g and g' (exact forms, no cancellation).
fn reference_act(act: Act, z: f64) -> (f64, f64) {
    let phi = |z: f64| 0.5 * libm::erfc(-z * std::f64::consts::FRAC_1_SQRT_2);
    let pdf = |z: f64| (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt();
    match act {
        Act::Sigmoid => (sigmoid64(z), sigmoid64(z) * sigmoid64(-z)),
        Act::Tanh => (z.tanh(), 1.0 / (z.cosh() * z.cosh())),
        Act::Relu => (if z > 0.0 { z } else { 0.0 }, if z > 0.0 { 1.0 } else { 0.0 }),
        Act::LeakyRelu { alpha } => {
            let alpha = f64::from(alpha as f32);
            if z > 0.0 { (z, 1.0) } else { (alpha * z, alpha) }
        }
        Act::Elu { alpha } => {
            let alpha = f64::from(alpha as f32);
            if z > 0.0 { (z, 1.0) } else { (alpha * z.exp_m1(), alpha * z.exp()) }
        }
        Act::Gelu => (z * phi(z), phi(z) + z * pdf(z)),
        Act::GeluTanh => {
            let two_u = 2.0 * SQRT_2_OVER_PI * (z + GELU_TANH_C * z * z * z);
            let (s, one_minus) = (sigmoid64(two_u), sigmoid64(-two_u));
            let du = 2.0 * SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_TANH_C * z * z);
            // Far out (σ(1 − σ) = 0) the derivative is σ: 0 or 1, also at ±∞.
            let spread = s * one_minus;
            (z * s, if spread == 0.0 { s } else { s + z * spread * du })
        }
        Act::Silu => (z * sigmoid64(z), sigmoid64(z) * (1.0 + z * sigmoid64(-z))),
        Act::Softplus => (z.max(0.0) + (-z.abs()).exp().ln_1p(), sigmoid64(z)),
        Act::Identity => (z, 1.0),
    }
}

const ACTS: [Act; 11] = [
    Act::Sigmoid,
    Act::Tanh,
    Act::Relu,
    Act::LeakyRelu { alpha: 0.01 },
    Act::LeakyRelu { alpha: -0.3 },
    Act::Elu { alpha: 1.0 },
    Act::Gelu,
    Act::GeluTanh,
    Act::Silu,
    Act::Softplus,
    Act::Identity,
];

/// The documented maximum errors of g and g' (see `vmath`'s documentation): g in units of
/// max(ulp, 2⁻³⁰), g' in units of max(ulp, 2⁻²⁴).
fn act_bounds(act: Act) -> (f64, f64) {
    match act {
        Act::Sigmoid => (2.5, 2.0),
        Act::Tanh => (1.5, 2.5),
        Act::Relu | Act::Identity => (0.0, 0.0),
        Act::LeakyRelu { .. } => (0.5, 0.0),
        Act::Elu { .. } => (1.5, 1.5),
        Act::Gelu => (6.0, 2.0),
        Act::GeluTanh => (10.0, 3.0),
        Act::Silu => (3.5, 3.5),
        Act::Softplus => (3.0, 2.0),
    }
}

#[test]
fn activations_and_derivatives_stay_within_their_documented_error_on_every_level() {
    let xs = sweep();
    let mut a = vec![0.0f32; xs.len()];
    let mut d = vec![0.0f32; xs.len()];
    let mut failures = Vec::new();
    for k in levels() {
        for act in ACTS {
            k.forward(act, &xs, &mut a).unwrap();
            d.fill(1.0);
            // g' as the backward pass computes it: from z and the a just computed.
            k.backward(act, &xs, &a, &mut d).unwrap();
            let (g_bound, dg_bound) = act_bounds(act);
            for (what, floor, out, bound) in
                [("g", 2f64.powi(-30), &a, g_bound), ("g'", 2f64.powi(-24), &d, dg_bound)]
            {
                let (mut worst, mut at) = (0.0f64, 0.0f32);
                for (&x, &y) in xs.iter().zip(out.iter()) {
                    let (g, dg) = reference_act(act, f64::from(x));
                    let e = error(y, if what == "g" { g } else { dg }, floor);
                    if e > worst {
                        (worst, at) = (e, x);
                    }
                }
                if worst > bound {
                    failures
                        .push(format!("{act:?} {what} at {}: {worst} at z = {at:e}", k.level()));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn special_values_are_exact_on_every_level() {
    let inf = f32::INFINITY;
    let cases: &[(MathFn, f32, f32)] = &[
        (MathFn::Exp, f32::NEG_INFINITY, 0.0),
        (MathFn::Exp, inf, inf),
        (MathFn::Exp, 88.8, inf),
        (MathFn::Exp, -104.0, 0.0),
        (MathFn::Exp, 0.0, 1.0),
        (MathFn::Exp, -0.0, 1.0),
        (MathFn::ExpM1, f32::NEG_INFINITY, -1.0),
        (MathFn::ExpM1, inf, inf),
        (MathFn::Ln, 0.0, f32::NEG_INFINITY),
        (MathFn::Ln, -0.0, f32::NEG_INFINITY),
        (MathFn::Ln, inf, inf),
        (MathFn::Ln, 1.0, 0.0),
        (MathFn::Ln1p, 0.0, 0.0),
        (MathFn::Ln1p, -1.0, f32::NEG_INFINITY),
        (MathFn::Ln1p, inf, inf),
        (MathFn::Tanh, inf, 1.0),
        (MathFn::Tanh, f32::NEG_INFINITY, -1.0),
        (MathFn::Tanh, 20.0, 1.0),
        (MathFn::Erf, inf, 1.0),
        (MathFn::Erf, f32::NEG_INFINITY, -1.0),
        (MathFn::Erf, 0.0, 0.0),
        (MathFn::Sigmoid, -200.0, 0.0),
        (MathFn::Sigmoid, 200.0, 1.0),
        (MathFn::Sigmoid, f32::NEG_INFINITY, 0.0),
        (MathFn::Sigmoid, inf, 1.0),
        (MathFn::Sigmoid, 0.0, 0.5),
        (MathFn::NormalCdf, f32::NEG_INFINITY, 0.0),
        (MathFn::NormalCdf, inf, 1.0),
        (MathFn::NormalCdf, 0.0, 0.5),
    ];
    for k in levels() {
        let mut out = [0.0f32];
        for &(f, x, expected) in cases {
            k.map(f, &[x], &mut out).unwrap();
            assert_eq!(out[0].to_bits(), expected.to_bits(), "{f:?}({x}) at {}", k.level());
        }
        for f in MathFn::ALL {
            k.map(f, &[f32::NAN], &mut out).unwrap();
            assert!(out[0].is_nan(), "{f:?}(NaN) at {}", k.level());
        }
        // Signed zeros: tanh and erf are odd.
        for f in [MathFn::Tanh, MathFn::Erf, MathFn::ExpM1, MathFn::Ln1p] {
            k.map(f, &[-0.0], &mut out).unwrap();
            assert_eq!(out[0].to_bits(), (-0.0f32).to_bits(), "{f:?}(-0) at {}", k.level());
        }
        // The smallest and largest results of exp: subnormal, then the last finite value.
        k.map(MathFn::Exp, &[-103.0], &mut out).unwrap();
        assert!(out[0] > 0.0 && !out[0].is_normal());
        k.map(MathFn::Exp, &[88.72283], &mut out).unwrap();
        assert!(out[0].is_finite() && out[0] > 3.4e38);
        // A subnormal input of ln.
        k.map(MathFn::Ln, &[f32::from_bits(1)], &mut out).unwrap();
        assert!((f64::from(out[0]) - (-149.0 * std::f64::consts::LN_2)).abs() < 1e-4);
        // Activations at the extremes: finite, saturated.
        let mut a = [0.0f32; 4];
        let z = [-1e4f32, -100.0, 100.0, 1e4];
        for act in ACTS {
            k.forward(act, &z, &mut a).unwrap();
            assert!(a.iter().all(|v| v.is_finite()), "{act:?} at {}: {a:?}", k.level());
        }
        k.forward(Act::Tanh, &z, &mut a).unwrap();
        assert_eq!(a, [-1.0, -1.0, 1.0, 1.0]);
        k.forward(Act::Softplus, &z, &mut a).unwrap();
        // softplus(−100) = ln(1 + e^−100) is a subnormal, correctly rounded.
        assert_eq!(a, [0.0, (-100f64).exp() as f32, 100.0, 1e4]);
        k.forward(Act::Relu, &[f32::NAN, -0.0, 0.0, 2.0], &mut a).unwrap();
        assert_eq!(a, [0.0, 0.0, 0.0, 2.0]);
    }
}

#[test]
fn every_level_agrees_with_the_portable_one_within_the_documented_error() {
    let xs = sweep_with_step(65_537);
    let portable = Kernels::with_level(SimdLevel::Portable).unwrap();
    let (mut want, mut got) = (vec![0.0f32; xs.len()], vec![0.0f32; xs.len()]);
    for k in levels() {
        for f in MathFn::ALL {
            portable.map(f, &xs, &mut want).unwrap();
            k.map(f, &xs, &mut got).unwrap();
            for ((&x, &p), &v) in xs.iter().zip(&want).zip(&got) {
                // Both are within `bound` of the reference, so within twice of each other.
                let e = error(v, f64::from(p), 0.0);
                assert!(e <= 2.0 * bound(f) + 0.5, "{f:?}({x:e}): {v} at {} vs {p}", k.level());
            }
        }
        for act in ACTS {
            portable.forward(act, &xs, &mut want).unwrap();
            k.forward(act, &xs, &mut got).unwrap();
            let b = act_bounds(act).0;
            for ((&x, &p), &v) in xs.iter().zip(&want).zip(&got) {
                let e = error(v, f64::from(p), 2f64.powi(-30));
                assert!(e <= 2.0 * b + 0.5, "{act:?}({x:e}): {v} at {} vs {p}", k.level());
            }
        }
    }
}

/// A kernel under test: (x, second input, output).
type KernelFn = dyn Fn(&[f32], &[f32], &mut [f32]);
type Kernel = Box<KernelFn>;

/// Values on both sides of every branch of the approximations, in a scrambled order.
fn assorted(n: usize) -> Vec<f32> {
    (0..n).map(|i| ((i * 7919 % 1000) as f32 - 500.0) * 0.037).collect()
}

#[test]
fn a_value_does_not_depend_on_its_position_or_the_slice_length() {
    let xs = assorted(97);
    let mask: Vec<f32> = (0..xs.len()).map(|i| if i % 3 == 0 { 0.0 } else { 1.25 }).collect();
    for k in levels() {
        let whole = |run: &KernelFn| {
            let mut out = vec![0.5f32; xs.len()];
            run(&xs, &mask, &mut out);
            out
        };
        let runs: Vec<(String, Kernel)> = MathFn::ALL
            .into_iter()
            .map(|f| {
                let run: Kernel = Box::new(move |x, _, out| k.map(f, x, out).unwrap());
                (format!("{f:?}"), run)
            })
            .chain(ACTS.into_iter().flat_map(|act| {
                let fwd: Kernel = Box::new(move |x, _, out| k.forward(act, x, out).unwrap());
                let bwd: Kernel = Box::new(move |x, _, out| {
                    let mut a = vec![0.0; x.len()];
                    k.forward(act, x, &mut a).unwrap();
                    k.backward(act, x, &a, out).unwrap();
                });
                let masked: Kernel =
                    Box::new(move |x, m, out| k.backward_masked(act, x, m, out).unwrap());
                [
                    (format!("{act:?} forward"), fwd),
                    (format!("{act:?} backward"), bwd),
                    (format!("{act:?} masked"), masked),
                ]
            }))
            .collect();
        for (name, run) in &runs {
            let reference = whole(run.as_ref());
            for start in 0..20 {
                for len in [1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 33, 77 - start] {
                    let mut out = vec![0.5f32; len];
                    run(&xs[start..start + len], &mask[start..start + len], &mut out);
                    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    assert_eq!(
                        bits(&out),
                        bits(&reference[start..start + len]),
                        "{name} at {}: elements {start}..{}",
                        k.level(),
                        start + len
                    );
                }
            }
        }
    }
}

#[test]
fn softmax_matches_f64_and_stays_finite_for_huge_logits_on_every_level() {
    for k in levels() {
        for n in 1..=40usize {
            for scale in [0.1f32, 3.0, 40.0, 1e4] {
                let z: Vec<f32> =
                    (0..n).map(|i| ((i * 37 % 23) as f32 - 11.0) * scale / 11.0).collect();
                let mut a = vec![0.0f32; n];
                let lse = k.softmax(&z, &mut a).unwrap();
                let z64: Vec<f64> = z.iter().map(|&v| f64::from(v)).collect();
                let m = z64.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let sum: f64 = z64.iter().map(|v| (v - m).exp()).sum();
                assert!(lse.is_finite() && a.iter().all(|v| v.is_finite()));
                let total: f64 = a.iter().map(|&v| f64::from(v)).sum();
                assert!((total - 1.0).abs() <= 1e-6, "{} n={n}: Σa = {total}", k.level());
                let lse_ref = m + sum.ln();
                assert!(error(lse, lse_ref, 2f64.powi(-24)) <= 2.0, "{} n={n}: lse", k.level());
                for (i, &v) in a.iter().enumerate() {
                    let r = (z64[i] - m).exp() / sum;
                    let e = error(v, r, 2f64.powi(-30));
                    assert!(e <= 4.0, "{} n={n} scale={scale}: a[{i}] {e} ulp", k.level());
                }
            }
        }
        let mut a = [0.0f32; 3];
        let lse = k.softmax(&[1e4, -1e4, 0.0], &mut a).unwrap();
        assert_eq!((lse, a), (1e4, [1.0, 0.0, 0.0]));
    }
}

#[test]
fn binary_cross_entropy_matches_f64_without_cancellation_on_every_level() {
    let bce64 = |z: f64, y: f64| z.max(0.0) - z * y + (-z.abs()).exp().ln_1p();
    for k in levels() {
        for n in 1..=40usize {
            let z: Vec<f32> = (0..n).map(|i| ((i * 37 % 23) as f32 - 11.0) * 1.7).collect();
            let y: Vec<f32> = (0..n).map(|i| [0.0, 1.0, 0.25][i % 3]).collect();
            let w: Vec<f32> = (0..n).map(|i| 0.5 + (i % 4) as f32).collect();
            for weights in [None, Some(w.as_slice())] {
                let wi = |i: usize| weights.map_or(1.0, |w| f64::from(w[i]));
                let got = k.bce_sum(&z, BceTargets::Values(&y), weights).unwrap();
                let want: f64 =
                    (0..n).map(|i| wi(i) * bce64(f64::from(z[i]), f64::from(y[i]))).sum();
                assert!(
                    (f64::from(got) - want).abs() <= 1e-6 * want.abs().max(1.0),
                    "{} n={n}: {got} vs {want}",
                    k.level()
                );
                let c = n / 2;
                let got = k.bce_sum(&z, BceTargets::OneHot(c), weights).unwrap();
                let want: f64 = (0..n)
                    .map(|i| wi(i) * bce64(f64::from(z[i]), if i == c { 1.0 } else { 0.0 }))
                    .sum();
                assert!((f64::from(got) - want).abs() <= 1e-6 * want.abs().max(1.0));
            }
        }
        // Right with certainty: exactly 0; wrong with certainty: |z| each.
        let z = [1e4f32, -1e4, 1e4, -1e4];
        let y = [1.0f32, 0.0, 0.0, 1.0];
        assert_eq!(k.bce_sum(&z, BceTargets::Values(&y), None).unwrap(), 2e4);
        assert_eq!(k.bce_sum(&z[..2], BceTargets::Values(&y[..2]), None).unwrap(), 0.0);
    }
}

#[test]
#[expect(clippy::float_cmp, reason = "bitwise determinism")]
fn add_scaled_and_copy_give_the_same_bits_on_every_level() {
    let src = assorted(61);
    let base: Vec<f32> = assorted(61).iter().map(|v| v * 0.3 + 1.0).collect();
    let expected = |alpha: f32| -> Vec<f32> {
        base.iter()
            .zip(&src)
            .map(|(&d, &s)| if alpha == 1.0 { d + s } else { d + alpha * s })
            .collect()
    };
    for k in levels() {
        for alpha in [1.0f32, 0.37] {
            for len in [0, 1, 5, 16, 33, 61] {
                let mut dst = base[..len].to_vec();
                k.add_scaled(&mut dst, &src[..len], alpha).unwrap();
                assert_eq!(dst, expected(alpha)[..len], "{} alpha={alpha} len={len}", k.level());
                let mut copy = vec![0.0f32; len];
                k.copy(&mut copy, &src[..len]).unwrap();
                assert_eq!(copy, src[..len]);
            }
        }
    }
}

#[test]
#[expect(clippy::float_cmp, reason = "the f64 path is the scalar formula, bit for bit")]
fn f64_runs_the_scalar_formulas_bit_for_bit() {
    let k = Kernels::detected();
    let z: Vec<f64> = assorted(50).iter().map(|&v| f64::from(v) * 1.3).collect();
    let mut a = vec![0.0f64; z.len()];
    k.forward(Act::Sigmoid, &z, &mut a).unwrap();
    for (&z, &a) in z.iter().zip(&a) {
        assert_eq!(a, 1.0 / (1.0 + (-z).exp()));
    }
    k.forward(Act::Gelu, &z, &mut a).unwrap();
    for (&z, &a) in z.iter().zip(&a) {
        assert_eq!(a, 0.5 * z * (1.0 + libm::erf(z * std::f64::consts::FRAC_1_SQRT_2)));
    }
    let mut d = vec![2.0f64; z.len()];
    k.forward(Act::Tanh, &z, &mut a).unwrap();
    k.backward(Act::Tanh, &z, &a, &mut d).unwrap();
    for (&a, &d) in a.iter().zip(&d) {
        assert_eq!(d, 2.0 * (1.0 - a * a));
    }
    let mut e = vec![0.0f64; z.len()];
    k.map(MathFn::Exp, &z, &mut e).unwrap();
    assert!(z.iter().zip(&e).all(|(&z, &e)| e == z.exp()));
    let lse = k.softmax(&z[..10], &mut a[..10]).unwrap();
    let m = z[..10].iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let s: f64 = z[..10].iter().map(|v| (v - m).exp()).sum();
    assert_eq!(lse, m + s.ln());
}

#[test]
fn mismatched_lengths_are_errors_not_panics() {
    let k = Kernels::detected();
    let (x, mut short) = ([1.0f32; 4], [0.0f32; 3]);
    assert!(k.map(MathFn::Exp, &x, &mut short).is_err());
    assert!(k.forward(Act::Relu, &x, &mut short).is_err());
    assert!(k.backward(Act::Relu, &x, &x[..3], &mut [0.0; 4]).is_err());
    assert!(k.backward(Act::Relu, &x, &x, &mut short).is_err());
    assert!(k.backward_masked(Act::Relu, &x, &x[..2], &mut [0.0; 4]).is_err());
    assert!(k.softmax(&x, &mut short).is_err());
    assert!(k.bce_sum(&x, BceTargets::Values(&x[..1]), None).is_err());
    assert!(k.bce_sum(&x, BceTargets::OneHot(4), None).is_err());
    assert!(k.bce_sum(&x, BceTargets::OneHot(0), Some(&x[..3])).is_err());
    assert!(k.add_scaled(&mut short, &x, 1.0).is_err());
    let err = k.copy(&mut short, &x).unwrap_err();
    assert_eq!(err.to_string(), "vmath::copy: src expected 3×1, found 4×1");
}

/// What README.md's Determinism section says of the two FMA levels: AVX-512 and AVX2 + FMA give
/// the same bits for every element-wise kernel (the same lane functions, fused multiply-adds in
/// both), and for softmax and the binary cross-entropy of a column of up to 16 values (AVX-512's
/// sum folds its 16 lanes into 8 first, which adds exactly what AVX2 adds: its first vector and
/// the tail). Longer columns are summed in another order on each level and may round
/// differently. Checked where the CPU runs both levels; `scripts/emulated-cpus.sh` checks the
/// same of a whole training run under an emulated AVX2 CPU.
#[test]
fn the_two_fma_levels_give_the_same_bits() {
    let (Some(wide), Some(narrow)) =
        (Kernels::with_level(SimdLevel::Avx512), Kernels::with_level(SimdLevel::Avx2Fma))
    else {
        return;
    };
    let xs = sweep_with_step(65_537);
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<u32>>();
    let (mut u, mut v) = (vec![0.0f32; xs.len()], vec![0.0f32; xs.len()]);
    for f in MathFn::ALL {
        wide.map(f, &xs, &mut u).unwrap();
        narrow.map(f, &xs, &mut v).unwrap();
        assert_eq!(bits(&u), bits(&v), "{f:?}");
    }
    for act in ACTS {
        wide.forward(act, &xs, &mut u).unwrap();
        narrow.forward(act, &xs, &mut v).unwrap();
        assert_eq!(bits(&u), bits(&v), "{act:?} g");
        let (mut du, mut dv) = (vec![1.0f32; xs.len()], vec![1.0f32; xs.len()]);
        wide.backward(act, &xs, &u, &mut du).unwrap();
        narrow.backward(act, &xs, &u, &mut dv).unwrap();
        assert_eq!(bits(&du), bits(&dv), "{act:?} g'");
    }
    let mut longer_differ = false;
    for n in 1..=40usize {
        for seed in 0..20usize {
            let z: Vec<f32> = assorted(n + seed)[seed..].to_vec();
            let y: Vec<f32> = (0..n).map(|i| [0.0, 1.0, 0.25][(i + seed) % 3]).collect();
            let (mut p, mut q) = (vec![0.0f32; n], vec![0.0f32; n]);
            let (sum_p, sum_q) =
                (wide.softmax(&z, &mut p).unwrap(), narrow.softmax(&z, &mut q).unwrap());
            let bce = |k: Kernels| k.bce_sum(&z, BceTargets::Values(&y), None).unwrap().to_bits();
            let same = bits(&p) == bits(&q)
                && sum_p.to_bits() == sum_q.to_bits()
                && bce(wide) == bce(narrow);
            if n <= 16 {
                assert!(same, "a column of {n} (seed {seed}) rounds differently");
            }
            longer_differ |= !same;
        }
    }
    // The control: the order of the sums does matter beyond 16, so the check above can fail.
    assert!(longer_differ, "no longer column rounds differently: the comment above is stale");
}
