//! The element-wise formulas one value at a time, through [`Float`]'s `std`/`libm` functions:
//! the f64 path of every kernel (unchanged from before the vector kernels existed, so f64 keeps
//! its accuracy bit for bit).

use super::{Act, MathFn};
use crate::Float;

const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;
const GELU_TANH_C: f64 = 0.044_715;
const INV_SQRT_2: f64 = std::f64::consts::FRAC_1_SQRT_2;
const INV_SQRT_2PI: f64 = 0.398_942_280_401_432_7;

#[inline]
fn sigmoid<T: Float>(z: T) -> T {
    // For z → −∞, e^(−z) overflows to +∞ and the quotient is an exact 0: no NaN.
    T::ONE / (T::ONE + (-z).exp())
}

/// g(z).
#[inline]
pub(super) fn g<T: Float>(act: Act, z: T) -> T {
    match act {
        Act::Sigmoid => sigmoid(z),
        Act::Tanh => z.tanh(),
        Act::Relu => {
            if z > T::ZERO {
                z
            } else {
                T::ZERO
            }
        }
        Act::LeakyRelu { alpha } => {
            if z > T::ZERO {
                z
            } else {
                T::from_f64(alpha) * z
            }
        }
        Act::Elu { alpha } => {
            if z > T::ZERO {
                z
            } else {
                T::from_f64(alpha) * z.exp_m1()
            }
        }
        Act::Gelu => T::from_f64(0.5) * z * (T::ONE + (z * T::from_f64(INV_SQRT_2)).erf()),
        Act::GeluTanh => {
            let u = T::from_f64(SQRT_2_OVER_PI) * (z + T::from_f64(GELU_TANH_C) * z * z * z);
            T::from_f64(0.5) * z * (T::ONE + u.tanh())
        }
        Act::Silu => z * sigmoid(z),
        Act::Softplus => z.max(T::ZERO) + (-z.abs()).exp().ln_1p(),
        Act::Identity => z,
    }
}

/// g'(z), given z and a = g(z).
#[inline]
pub(super) fn dg<T: Float>(act: Act, z: T, a: T) -> T {
    match act {
        // g' from a: no second exponential.
        Act::Sigmoid => a * (T::ONE - a),
        Act::Tanh => T::ONE - a * a,
        // ReLU: at exactly z = 0 we take the subgradient 0.
        Act::Relu => {
            if z > T::ZERO {
                T::ONE
            } else {
                T::ZERO
            }
        }
        Act::LeakyRelu { alpha } => {
            if z > T::ZERO {
                T::ONE
            } else {
                T::from_f64(alpha)
            }
        }
        // ELU: α e^z = a + α for z ≤ 0, from a.
        Act::Elu { alpha } => {
            if z > T::ZERO {
                T::ONE
            } else {
                a + T::from_f64(alpha)
            }
        }
        Act::Gelu => {
            let cdf = T::from_f64(0.5) * (T::ONE + (z * T::from_f64(INV_SQRT_2)).erf());
            let pdf = T::from_f64(INV_SQRT_2PI) * (T::from_f64(-0.5) * z * z).exp();
            cdf + z * pdf
        }
        Act::GeluTanh => {
            let c = T::from_f64(GELU_TANH_C);
            let k = T::from_f64(SQRT_2_OVER_PI);
            let t = (k * (z + c * z * z * z)).tanh();
            let half = T::from_f64(0.5);
            half * (T::ONE + t)
                + half * z * (T::ONE - t * t) * k * (T::ONE + T::from_f64(3.0) * c * z * z)
        }
        Act::Silu => {
            let s = sigmoid(z);
            s * (T::ONE + z * (T::ONE - s))
        }
        Act::Softplus => sigmoid(z),
        Act::Identity => T::ONE,
    }
}

/// `a[i] = g(z[i])`.
pub(super) fn forward<T: Float>(act: Act, z: &[T], a: &mut [T]) {
    match act {
        Act::Relu => {
            for (a, &z) in a.iter_mut().zip(z) {
                *a = if z > T::ZERO { z } else { T::ZERO };
            }
        }
        Act::Identity => a.copy_from_slice(z),
        _ => {
            for (a, &z) in a.iter_mut().zip(z) {
                *a = g(act, z);
            }
        }
    }
}

/// `delta[i] *= g'(z[i])`.
pub(super) fn backward<T: Float>(act: Act, z: &[T], a: &[T], delta: &mut [T]) {
    match act {
        Act::Relu => {
            // A select, not a branch, so the loop vectorizes.
            for (d, &z) in delta.iter_mut().zip(z) {
                *d = if z > T::ZERO { *d } else { T::ZERO };
            }
        }
        Act::Identity => {}
        _ => {
            for ((d, &z), &a) in delta.iter_mut().zip(z).zip(a) {
                *d *= dg(act, z, a);
            }
        }
    }
}

/// `delta[i] *= mask[i] · g'(z[i])` (0 where the mask is 0).
pub(super) fn backward_masked<T: Float>(act: Act, z: &[T], mask: &[T], delta: &mut [T]) {
    for ((d, &z), &m) in delta.iter_mut().zip(z).zip(mask) {
        *d *= if m == T::ZERO { T::ZERO } else { m * dg(act, z, g(act, z)) };
    }
}

/// One math function.
pub(super) fn math<T: Float>(f: MathFn, x: T) -> T {
    match f {
        MathFn::Exp => x.exp(),
        MathFn::ExpM1 => x.exp_m1(),
        MathFn::Ln => x.ln(),
        MathFn::Ln1p => x.ln_1p(),
        MathFn::Tanh => x.tanh(),
        MathFn::Erf => x.erf(),
        MathFn::Sigmoid => sigmoid(x),
        MathFn::NormalCdf => T::from_f64(0.5) * (T::ONE + (x * T::from_f64(INV_SQRT_2)).erf()),
    }
}

/// Softmax of a column; returns (max, Σ e^(z − max)).
pub(super) fn softmax<T: Float>(z: &[T], a: &mut [T]) -> (T, T) {
    // L2: shift by the maximum so that every exponent is ≤ 0 (log-sum-exp trick).
    let m = z.iter().fold(T::from_f64(f64::NEG_INFINITY), |m, &v| m.max(v));
    let mut s = T::ZERO;
    for (a, &z) in a.iter_mut().zip(z) {
        *a = (z - m).exp();
        s += *a;
    }
    let inv = T::ONE / s;
    for a in a.iter_mut() {
        *a *= inv;
    }
    (m, s)
}

/// The binary cross-entropy of one element, stable form: max(z, 0) − z y + ln(1 + e^(−|z|)).
#[inline]
pub(super) fn bce<T: Float>(z: T, y: T) -> T {
    z.max(T::ZERO) - z * y + (-z.abs()).exp().ln_1p()
}
