//! Element-wise activation functions `g` and their derivatives `g'` (F3, B2).

use std::fmt;
use std::str::FromStr;

use nn_linalg::Float;
use nn_linalg::vmath::{Act, Kernels};

use crate::Error;

/// The element-wise non-linearity `g` of a layer (F3: `a = g(z)`).
///
/// Softmax is not here: it is not element-wise, and it only appears fused with its loss
/// ([`crate::Loss::SoftmaxCrossEntropy`], L2).
///
/// | variant | g(z) | g'(z) as computed |
/// |---|---|---|
/// | `Sigmoid` | 1/(1+e^(−z)) | a(1−a) |
/// | `Tanh` | tanh z | 1−a² |
/// | `Relu` | max(0, z) | 1 if z > 0, else 0 (the subgradient 0 at z = 0, as PyTorch) |
/// | `LeakyRelu { alpha }` | z if z > 0, else αz | 1 if z > 0, else α |
/// | `Elu { alpha }` | z if z > 0, else α(e^z − 1) | 1 if z > 0, else a + α |
/// | `Gelu` | z·Φ(z) = ½z(1 + erf(z/√2)) (the exact, erf form) | Φ(z) + z·φ(z) |
/// | `GeluTanh` | ½z(1 + tanh(√(2/π)(z + 0.044715z³))) (PyTorch's `approximate='tanh'`) | its exact derivative |
/// | `Silu` | z·σ(z) | σ(z)(1 + z(1 − σ(z))) |
/// | `Softplus` | ln(1 + e^z), computed as max(z, 0) + ln(1 + e^(−\|z\|)) | σ(z) |
/// | `Identity` | z | 1 |
///
/// In f32 every one runs in the SIMD kernels of `nn_linalg::vmath` (polynomial approximations of
/// exp, ln, tanh and erf with documented error bounds, GELU through erfc and z·σ(2u) so that the
/// negative tail does not cancel); in f64 exactly as the formulas above, with `std`/`libm`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    /// The logistic function, the document's `g`.
    Sigmoid,
    /// Hyperbolic tangent.
    Tanh,
    /// Rectified linear unit.
    Relu,
    /// Leaky ReLU with slope `alpha` for negative inputs.
    LeakyRelu {
        /// Slope for z ≤ 0 (finite).
        alpha: f64,
    },
    /// Exponential linear unit.
    Elu {
        /// Scale of the negative part (finite, ≥ 0).
        alpha: f64,
    },
    /// Gaussian error linear unit, exact form with erf.
    Gelu,
    /// Gaussian error linear unit, tanh approximation.
    GeluTanh,
    /// Sigmoid-weighted linear unit (swish).
    Silu,
    /// Smooth ReLU: ln(1 + e^z).
    Softplus,
    /// No non-linearity: the layer outputs `z`.
    Identity,
}

impl Activation {
    /// Checks the parameters of the parametric variants.
    ///
    /// # Errors
    /// [`Error::InvalidHyperparameter`] for a non-finite `alpha`, or a negative ELU `alpha`.
    pub fn validate(self) -> Result<(), Error> {
        match self {
            Activation::LeakyRelu { alpha } if !alpha.is_finite() => {
                Err(Error::InvalidHyperparameter {
                    name: "leaky_relu alpha",
                    value: alpha,
                    expected: "a finite number",
                })
            }
            Activation::Elu { alpha } if !(alpha.is_finite() && alpha >= 0.0) => {
                Err(Error::InvalidHyperparameter {
                    name: "elu alpha",
                    value: alpha,
                    expected: "a finite number ≥ 0",
                })
            }
            _ => Ok(()),
        }
    }

    /// The activation as the element-wise kernels of `nn_linalg::vmath` know it.
    #[must_use]
    pub fn kernel(self) -> Act {
        match self {
            Activation::Sigmoid => Act::Sigmoid,
            Activation::Tanh => Act::Tanh,
            Activation::Relu => Act::Relu,
            Activation::LeakyRelu { alpha } => Act::LeakyRelu { alpha },
            Activation::Elu { alpha } => Act::Elu { alpha },
            Activation::Gelu => Act::Gelu,
            Activation::GeluTanh => Act::GeluTanh,
            Activation::Silu => Act::Silu,
            Activation::Softplus => Act::Softplus,
            Activation::Identity => Act::Identity,
        }
    }

    /// `g(z)` for one value (F3): exactly what the batch passes compute for this value (f32: the
    /// vector kernels' approximations, see `nn_linalg::vmath`; f64: `std`/`libm`).
    #[must_use]
    pub fn apply<T: Float>(self, z: T) -> T {
        let mut a = [T::ZERO];
        self.forward_slice(&[z], &mut a);
        a[0]
    }

    /// `g'(z)`, given `z` and `a = g(z)`; each variant uses whichever is cheaper (table above).
    #[must_use]
    pub fn derivative<T: Float>(self, z: T, a: T) -> T {
        let mut d = [T::ONE];
        self.backprop_slice(&[z], &[a], &mut d);
        d[0]
    }

    /// F3 on a column: `a[i] = g(z[i])`, with the vector kernels (`z` and `a` of equal length).
    pub(crate) fn forward_slice<T: Float>(self, z: &[T], a: &mut [T]) {
        let done = Kernels::detected().forward(self.kernel(), z, a);
        debug_assert!(done.is_ok(), "columns of one layer have one length");
    }

    /// The `⊙ g'(z)` factor of B2 on a column, in place: `delta[i] *= g'(z[i])` (g' from `a` for
    /// sigmoid, tanh and ELU; ReLU's subgradient at exactly 0 is 0).
    pub(crate) fn backprop_slice<T: Float>(self, z: &[T], a: &[T], delta: &mut [T]) {
        let done = Kernels::detected().backward(self.kernel(), z, a, delta);
        debug_assert!(done.is_ok(), "columns of one layer have one length");
    }

    /// B2's factor for a layer whose output went through inverted dropout, `a = m ⊙ g(z)`:
    /// `delta[i] *= mask[i] · g'(z[i])`, with `g'` computed from `z` (the stored `a` is masked).
    pub(crate) fn backprop_masked_slice<T: Float>(self, z: &[T], mask: &[T], delta: &mut [T]) {
        let done = Kernels::detected().backward_masked(self.kernel(), z, mask, delta);
        debug_assert!(done.is_ok(), "columns of one layer have one length");
    }

    /// The name used by [`FromStr`] and [`fmt::Display`], without parameters.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Relu => "relu",
            Activation::LeakyRelu { .. } => "leaky_relu",
            Activation::Elu { .. } => "elu",
            Activation::Gelu => "gelu",
            Activation::GeluTanh => "gelu_tanh",
            Activation::Silu => "silu",
            Activation::Softplus => "softplus",
            Activation::Identity => "identity",
        }
    }

    /// Every activation, with the default parameter of the parametric ones.
    pub const ALL: [Activation; 10] = [
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Relu,
        Activation::LeakyRelu { alpha: 0.01 },
        Activation::Elu { alpha: 1.0 },
        Activation::Gelu,
        Activation::GeluTanh,
        Activation::Silu,
        Activation::Softplus,
        Activation::Identity,
    ];
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Activation::LeakyRelu { alpha } | Activation::Elu { alpha } => {
                write!(f, "{}:{alpha}", self.name())
            }
            _ => f.write_str(self.name()),
        }
    }
}

/// A string that names no activation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown activation {0:?}: expected sigmoid, tanh, relu, leaky_relu[:alpha], elu[:alpha], gelu, gelu_tanh, silu, softplus or identity"
)]
pub struct ParseActivationError(pub String);

impl FromStr for Activation {
    type Err = ParseActivationError;

    /// Parses `relu`, `leaky_relu` (α = 0.01), `leaky_relu:0.2`, `elu` (α = 1), `elu:0.5`, ...
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseActivationError(s.to_owned());
        let lower = s.trim().to_ascii_lowercase();
        // `-` is accepted for `_` in the name only: the parameter may be negative.
        let (name, param) = match lower.split_once(':') {
            Some((n, p)) => {
                (n.replace('-', "_"), Some(p.trim().parse::<f64>().map_err(|_| err())?))
            }
            None => (lower.replace('-', "_"), None),
        };
        let name = name.as_str();
        let act = match (name, param) {
            ("sigmoid" | "logistic", None) => Activation::Sigmoid,
            ("tanh", None) => Activation::Tanh,
            ("relu", None) => Activation::Relu,
            ("leaky_relu" | "leakyrelu", p) => Activation::LeakyRelu { alpha: p.unwrap_or(0.01) },
            ("elu", p) => Activation::Elu { alpha: p.unwrap_or(1.0) },
            ("gelu", None) => Activation::Gelu,
            ("gelu_tanh", None) => Activation::GeluTanh,
            ("silu" | "swish", None) => Activation::Silu,
            ("softplus", None) => Activation::Softplus,
            ("identity" | "linear" | "none", None) => Activation::Identity,
            _ => return Err(err()),
        };
        act.validate().map_err(|_| err())?;
        Ok(act)
    }
}

#[cfg(test)]
#[allow(clippy::float_cmp, reason = "exact values: limits, copies and small integers")]
mod tests {
    use super::*;

    #[test]
    fn derivative_matches_central_differences_in_f64() {
        // Fourth-order central differences: truncation O(h⁴) ≈ 1e-12, rounding ≈ 1e-13.
        let h = 1e-3;
        for act in Activation::ALL
            .into_iter()
            .chain([Activation::LeakyRelu { alpha: -0.3 }, Activation::Elu { alpha: 0.5 }])
        {
            for z in [-7.5, -2.0, -0.4, -0.01, 0.013, 0.3, 1.7, 6.0_f64] {
                let g = |d: f64| act.apply(z + d);
                let numeric = (-g(2.0 * h) + 8.0 * g(h) - 8.0 * g(-h) + g(-2.0 * h)) / (12.0 * h);
                let analytic = act.derivative(z, act.apply(z));
                let rel = (numeric - analytic).abs() / numeric.abs().max(analytic.abs()).max(1e-3);
                assert!(rel < 1e-8, "{act} at z = {z}: analytic {analytic}, numeric {numeric}");
            }
        }
    }

    #[test]
    fn activations_are_finite_for_huge_inputs() {
        for act in Activation::ALL {
            for z in [-1e4_f32, -100.0, 100.0, 1e4] {
                let a = act.apply(z);
                assert!(a.is_finite() || act == Activation::Identity, "{act}({z}) = {a}");
                assert!(act.derivative(z, a).is_finite(), "{act}'({z})");
            }
        }
        assert_eq!(Activation::Softplus.apply(1e4_f32), 1e4);
        assert_eq!(Activation::Sigmoid.apply(-1e4_f64), 0.0);
    }

    #[test]
    fn slices_agree_with_scalars() {
        let z: Vec<f32> = (0..23).map(|i| i as f32 * 0.37 - 4.0).collect();
        for act in Activation::ALL {
            let mut a = vec![0.0; z.len()];
            act.forward_slice(&z, &mut a);
            let mut d = vec![1.5; z.len()];
            act.backprop_slice(&z, &a, &mut d);
            for i in 0..z.len() {
                assert_eq!(a[i].to_bits(), act.apply(z[i]).to_bits());
                assert_eq!(d[i].to_bits(), (1.5 * act.derivative(z[i], a[i])).to_bits());
            }
        }
    }

    #[test]
    fn names_round_trip_and_bad_names_are_errors() {
        for act in Activation::ALL {
            assert_eq!(act.to_string().parse::<Activation>().unwrap(), act);
        }
        assert_eq!("leaky_relu:0.2".parse(), Ok(Activation::LeakyRelu { alpha: 0.2 }));
        let negative = Activation::LeakyRelu { alpha: -0.3 };
        assert_eq!(negative.to_string().parse(), Ok(negative));
        assert_eq!("Leaky-ReLU".parse(), Ok(Activation::LeakyRelu { alpha: 0.01 }));
        assert!("relu6".parse::<Activation>().is_err());
        assert!("elu:-1".parse::<Activation>().is_err());
        assert!("leaky_relu:nan".parse::<Activation>().is_err());
        assert!(matches!(
            Activation::LeakyRelu { alpha: f64::INFINITY }.validate(),
            Err(Error::InvalidHyperparameter { .. })
        ));
    }
}
