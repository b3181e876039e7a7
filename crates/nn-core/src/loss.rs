//! Losses fused with their output function, and the output error term `δ^(L)` (L1–L3).

use std::fmt;
use std::str::FromStr;

use nn_linalg::vmath::{BceTargets, Kernels};
use nn_linalg::{ColRef, Float, MatRef, Shape};

use crate::{Activation, Error};

/// The loss `J` and, for the cross-entropies, the output function it is fused with.
///
/// Over a batch of B samples, `J = (1/B) Σ_k loss(h(x_k), y_k)` (plus R1, see
/// [`crate::Network::with_l2`]).
///
/// | variant | output `a^(L)` | per-sample loss | `δ^(L)` |
/// |---|---|---|---|
/// | `MeanSquaredError` (L1) | the last layer's own activation `g` (any) | ½‖a − y‖² | (a − y) ⊙ g'(z) |
/// | `SoftmaxCrossEntropy` (L2) | softmax(z) | −Σ_i w_i y_i log a_i | (Σ_i w_i y_i)·a − w ⊙ y |
/// | `SigmoidBinaryCrossEntropy` (L3) | σ(z), element-wise (multi-label) | −Σ_i w_i [y_i log a_i + (1−y_i) log(1−a_i)] | w ⊙ (a − y) |
///
/// `w` are the optional per-class weights ([`crate::Network::with_class_weights`]; all 1 without
/// them). For L2 with one-hot targets, `δ^(L)` reduces to the derivation's `a − y`.
/// The cross-entropies are computed from the logits `z`, never as `log` of an output:
/// L2 with the log-sum-exp shift, `log a_i = z_i − (m + log Σ_j e^(z_j − m))`, `m = max_j z_j`;
/// L3 as `max(z, 0) − z·y + log(1 + e^(−|z|))`. Both stay finite for logits of ±1e4 and beyond.
/// The last layer of a cross-entropy network must have the [`Activation::Identity`] activation
/// (it outputs logits); [`crate::Network::new`] checks it.
///
/// L1's ½ Σ over the outputs is the derivation's convention; PyTorch's `MSELoss()` takes the mean
/// over the outputs (no ½) and scikit-learn's `MLPRegressor` half of that mean: a network offers
/// both through [`MseScale`](crate::MseScale) ([`crate::Network::with_mse_scale`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Loss {
    /// L1: ½‖a − y‖², with the last layer's activation as output function.
    MeanSquaredError,
    /// L2: softmax output, categorical cross-entropy.
    SoftmaxCrossEntropy,
    /// L3: sigmoid output per unit, binary cross-entropy summed over the units (multi-label).
    SigmoidBinaryCrossEntropy,
}

impl Loss {
    /// The name used by [`FromStr`] and [`fmt::Display`].
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Loss::MeanSquaredError => "mse",
            Loss::SoftmaxCrossEntropy => "softmax_cross_entropy",
            Loss::SigmoidBinaryCrossEntropy => "sigmoid_binary_cross_entropy",
        }
    }

    /// Whether the loss applies its own output function to the last layer's `z` (L2, L3).
    #[must_use]
    pub fn fuses_output(self) -> bool {
        !matches!(self, Loss::MeanSquaredError)
    }

    /// How many class labels a [`Targets::Classes`] target may use with `n_outputs` outputs:
    /// `n_outputs`, except a single-output sigmoid network, which takes labels 0 and 1.
    #[must_use]
    pub fn n_classes(self, n_outputs: usize) -> usize {
        if self == Loss::SigmoidBinaryCrossEntropy && n_outputs == 1 { 2 } else { n_outputs }
    }

    /// Every loss.
    pub const ALL: [Loss; 3] =
        [Loss::MeanSquaredError, Loss::SoftmaxCrossEntropy, Loss::SigmoidBinaryCrossEntropy];
}

impl fmt::Display for Loss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A string that names no loss.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown loss {0:?}: expected mse, softmax_cross_entropy (or cross_entropy) or sigmoid_binary_cross_entropy (or bce)"
)]
pub struct ParseLossError(pub String);

impl FromStr for Loss {
    type Err = ParseLossError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "mse" | "mean_squared_error" => Ok(Loss::MeanSquaredError),
            "softmax_cross_entropy" | "cross_entropy" | "ce" => Ok(Loss::SoftmaxCrossEntropy),
            "sigmoid_binary_cross_entropy" | "binary_cross_entropy" | "bce" => {
                Ok(Loss::SigmoidBinaryCrossEntropy)
            }
            _ => Err(ParseLossError(s.to_owned())),
        }
    }
}

/// The targets `y` of a batch: one per sample (column).
#[derive(Clone, Copy, Debug)]
pub enum Targets<'a, T> {
    /// A class index per sample, read as the one-hot column `e_label`. For a single-output
    /// [`Loss::SigmoidBinaryCrossEntropy`] network the label (0 or 1) is the target itself.
    Classes(&'a [usize]),
    /// A target column per sample: outputs × batch size (class probabilities, multi-label
    /// indicators, regression targets).
    Matrix(MatRef<'a, T>),
}

impl<T: Float> Targets<'_, T> {
    /// The number of samples.
    #[must_use]
    pub fn n_samples(&self) -> usize {
        match self {
            Targets::Classes(c) => c.len(),
            Targets::Matrix(m) => m.ncols(),
        }
    }

    /// Checks the targets against a network's output and a batch size.
    pub(crate) fn validate(&self, loss: Loss, n_outputs: usize, batch: usize) -> Result<(), Error> {
        match self {
            Targets::Classes(labels) => {
                if labels.len() != batch {
                    return Err(Error::LabelCount { expected: batch, found: labels.len() });
                }
                let n_classes = loss.n_classes(n_outputs);
                if let Some((sample_idx, &label)) =
                    labels.iter().enumerate().find(|(_, l)| **l >= n_classes)
                {
                    return Err(Error::LabelOutOfRange { sample_idx, label, n_classes });
                }
            }
            Targets::Matrix(m) => {
                let expected = Shape { rows: n_outputs, cols: batch };
                if Shape::of(*m) != expected {
                    return Err(Error::TargetShape { expected, found: Shape::of(*m) });
                }
                for col in 0..m.ncols() {
                    for row in 0..m.nrows() {
                        let value = m[(row, col)];
                        if !value.is_finite() {
                            return Err(Error::NonFiniteTarget { row, col, value: value.to_f64() });
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The target of sample `k`.
    pub(crate) fn column(&self, k: usize) -> ColTarget<'_, T> {
        match self {
            Targets::Classes(c) => ColTarget::Class(c[k]),
            Targets::Matrix(m) => ColTarget::Values(m.col(k)),
        }
    }
}

/// The target of one sample.
#[derive(Clone, Copy)]
pub(crate) enum ColTarget<'a, T> {
    Class(usize),
    Values(ColRef<'a, T>),
}

impl<T: Float> ColTarget<'_, T> {
    /// `y_i` for a one-hot (or, with `binary`, a 0/1 single-output) reading of class labels.
    #[inline]
    fn y(&self, i: usize, binary_single: bool) -> T {
        match *self {
            ColTarget::Class(c) if binary_single => T::from_usize(c),
            ColTarget::Class(c) => {
                if i == c {
                    T::ONE
                } else {
                    T::ZERO
                }
            }
            ColTarget::Values(col) => col[i],
        }
    }
}

/// The output function of a fused loss on one column (F3 of the last layer).
/// Returns the log-sum-exp of `z` for L2 (0 otherwise), which the loss needs later.
pub(crate) fn output_column<T: Float>(loss: Loss, z: &[T], a: &mut [T]) -> T {
    match loss {
        Loss::SoftmaxCrossEntropy => {
            // L2: the vector kernel shifts by the maximum so that every exponent is ≤ 0
            // (log-sum-exp trick) and returns m + ln Σ e^(z − m).
            let lse = Kernels::detected().softmax(z, a);
            debug_assert!(lse.is_ok(), "z and a are columns of one layer");
            lse.unwrap_or(T::ZERO)
        }
        Loss::SigmoidBinaryCrossEntropy => {
            Activation::Sigmoid.forward_slice(z, a);
            T::ZERO
        }
        Loss::MeanSquaredError => T::ZERO,
    }
}

/// Elements of a column summed together by one call of the BCE kernel: the column is cut into
/// these chunks whatever its layout, so the loss of a sample has the same bits whether its
/// targets are contiguous or not.
const BCE_CHUNK: usize = 64;

/// Everything the loss of one sample needs.
pub(crate) struct ColumnLoss<'a, T> {
    pub(crate) loss: Loss,
    /// The last layer's activation (used by L1 only).
    pub(crate) output_activation: Activation,
    pub(crate) z: &'a [T],
    pub(crate) a: &'a [T],
    /// log Σ e^z (L2 only).
    pub(crate) lse: T,
    pub(crate) target: ColTarget<'a, T>,
    pub(crate) class_weights: Option<&'a [T]>,
}

impl<T: Float> ColumnLoss<'_, T> {
    /// The loss of this sample and, if `delta` is given, `δ^(L) = scale · ∂loss/∂z` (L1–L3).
    pub(crate) fn eval(&self, delta: Option<(&mut [T], T)>) -> f64 {
        let n = self.z.len();
        let w = |i: usize| self.class_weights.map_or(T::ONE, |w| w[i]);
        match self.loss {
            Loss::MeanSquaredError => {
                let mut total = 0.0;
                for i in 0..n {
                    let r = self.a[i] - self.target.y(i, false);
                    total += 0.5 * (r * r).to_f64();
                }
                if let Some((delta, scale)) = delta {
                    // L1: δ = (a − y) ⊙ g'(z): the residual first, then the activation's factor
                    // with the vector kernel.
                    for (i, d) in delta.iter_mut().enumerate().take(n) {
                        *d = scale * (self.a[i] - self.target.y(i, false));
                    }
                    self.output_activation.backprop_slice(self.z, self.a, &mut delta[..n]);
                }
                total
            }
            Loss::SoftmaxCrossEntropy => match self.target {
                ColTarget::Class(c) => {
                    // L2 with a one-hot target: loss = w_c (lse − z_c).
                    let wc = w(c);
                    let total = (wc * (self.lse - self.z[c])).to_f64();
                    if let Some((delta, scale)) = delta {
                        // δ = w_c (a − e_c): the softmax Jacobian and the log cancel.
                        let s = scale * wc;
                        for (d, &a) in delta.iter_mut().zip(self.a) {
                            *d = s * a;
                        }
                        delta[c] -= s;
                    }
                    total
                }
                ColTarget::Values(y) => {
                    // L2 with a target distribution: loss = −Σ w_i y_i (z_i − lse).
                    let mut total = 0.0;
                    let mut wy_sum = T::ZERO;
                    for i in 0..n {
                        let wy = w(i) * y[i];
                        wy_sum += wy;
                        total -= (wy * (self.z[i] - self.lse)).to_f64();
                    }
                    if let Some((delta, scale)) = delta {
                        // δ = (Σ w_i y_i) a − w ⊙ y, which is a − y for one-hot y and w = 1.
                        for i in 0..n {
                            delta[i] = scale * (wy_sum * self.a[i] - w(i) * y[i]);
                        }
                    }
                    total
                }
            },
            Loss::SigmoidBinaryCrossEntropy => {
                let single = n == 1;
                // L3, stable form: Σ w_i [max(z, 0) − z y + log(1 + e^(−|z|))], by the vector
                // kernel, in chunks of BCE_CHUNK elements (targets gathered on the stack).
                let k = Kernels::detected();
                let mut total = 0.0;
                let mut y = [T::ZERO; BCE_CHUNK];
                for start in (0..n).step_by(BCE_CHUNK) {
                    let len = BCE_CHUNK.min(n - start);
                    for (j, v) in y.iter_mut().enumerate().take(len) {
                        *v = self.target.y(start + j, single);
                    }
                    let w = self.class_weights.map(|w| &w[start..start + len]);
                    let chunk =
                        k.bce_sum(&self.z[start..start + len], BceTargets::Values(&y[..len]), w);
                    debug_assert!(chunk.is_ok(), "z, targets and weights have the output's length");
                    total += chunk.map_or(f64::NAN, T::to_f64);
                }
                if let Some((delta, scale)) = delta {
                    // δ = w ⊙ (a − y): the sigmoid's derivative and the log cancel.
                    for (i, d) in delta.iter_mut().enumerate().take(n) {
                        *d = scale * w(i) * (self.a[i] - self.target.y(i, single));
                    }
                }
                total
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::float_cmp, reason = "exact values: limits, copies and small integers")]
mod tests {
    use super::*;

    #[test]
    fn softmax_cross_entropy_is_finite_and_exact_for_huge_logits() {
        for z in [[1e4_f64, -1e4, 0.0], [-1e4, -1e4 + 1.0, -1e4 + 2.0]] {
            let mut a = [0.0; 3];
            let lse = output_column(Loss::SoftmaxCrossEntropy, &z, &mut a);
            assert!(a.iter().all(|v| v.is_finite()));
            assert!((a.iter().sum::<f64>() - 1.0).abs() < 1e-15);
            let col = ColumnLoss {
                loss: Loss::SoftmaxCrossEntropy,
                output_activation: Activation::Identity,
                z: &z,
                a: &a,
                lse,
                target: ColTarget::Class(1),
                class_weights: None,
            };
            let mut delta = [0.0; 3];
            let l = col.eval(Some((&mut delta, 1.0)));
            assert!(l.is_finite() && delta.iter().all(|d| d.is_finite()));
            if z[0] == 1e4 {
                // Target logit 2e4 below the maximum: the loss is 2e4 exactly.
                assert_eq!(l, 2e4);
                assert_eq!(delta, [1.0, -1.0, 0.0]);
            } else {
                let expect = (1.0 + (-1.0f64).exp() + (-2.0f64).exp()).ln() + 1.0;
                assert!((l - expect).abs() < 1e-12 * expect);
            }
        }
    }

    #[test]
    fn sigmoid_binary_cross_entropy_is_finite_for_huge_logits() {
        let z = [1e4_f32, -1e4, 1e4, -1e4];
        let y = nn_linalg::Mat::<f32>::from_fn(4, 1, |i, _| [1.0, 0.0, 0.0, 1.0][i]);
        let mut a = [0.0; 4];
        output_column(Loss::SigmoidBinaryCrossEntropy, &z, &mut a);
        assert_eq!(a, [1.0, 0.0, 1.0, 0.0]);
        let col = ColumnLoss {
            loss: Loss::SigmoidBinaryCrossEntropy,
            output_activation: Activation::Identity,
            z: &z,
            a: &a,
            lse: 0.0,
            target: ColTarget::Values(y.col(0)),
            class_weights: None,
        };
        let mut delta = [0.0; 4];
        // Right with certainty: 0; wrong with certainty: |z| each.
        assert_eq!(col.eval(Some((&mut delta, 1.0))), 2e4);
        assert_eq!(delta, [0.0, 0.0, 1.0, -1.0]);
    }

    #[test]
    fn names_parse() {
        for loss in Loss::ALL {
            assert_eq!(loss.to_string().parse::<Loss>().unwrap(), loss);
        }
        assert_eq!("bce".parse::<Loss>().unwrap(), Loss::SigmoidBinaryCrossEntropy);
        assert!("hinge".parse::<Loss>().is_err());
    }
}
