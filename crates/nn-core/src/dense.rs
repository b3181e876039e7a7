//! The fully connected layer and its parameters Θ.

use nn_linalg::{ColRef, Float, Mat, MatMut, MatRef};

use crate::rng::RngCore;
use crate::{Activation, Error, Init};

/// A fully connected layer: the parameters `Θ^(l)` between a layer of `m` units and one of `n`
/// units, and the activation `g` applied to the result (F2, F3).
///
/// Θ is stored exactly as the derivation has it: an **n × (m+1)** matrix (column-major), whose
/// column 0 holds the biases `b` and columns 1..=m the weights `W`.
/// `theta[(i, j)]` is the weight from input unit `j` (`j = 0`: the constant bias unit) to output
/// unit `i`; the source document's picture writes this entry `Θ_{j,i}`.
/// [`Dense::bias`] and [`Dense::weights`] are zero-copy views of the two blocks.
#[derive(Clone, Debug, PartialEq)]
pub struct Dense<T: Float> {
    theta: Mat<T>,
    activation: Activation,
}

impl<T: Float> Dense<T> {
    /// A layer of `n_outputs` units fed by `n_inputs` units, weights drawn by `init` from `rng`
    /// (column after column of W, in column-major order), biases 0.
    ///
    /// # Errors
    /// [`Error::ZeroWidth`] for a zero size, [`Error::InvalidHyperparameter`] for an invalid
    /// activation parameter.
    pub fn new(
        n_inputs: usize,
        n_outputs: usize,
        activation: Activation,
        init: Init,
        rng: &mut impl RngCore,
    ) -> Result<Self, Error> {
        check_sizes(n_inputs, n_outputs)?;
        activation.validate()?;
        let mut theta = Mat::<T>::zeros(n_outputs, n_inputs + 1);
        for j in 1..=n_inputs {
            for i in 0..n_outputs {
                theta[(i, j)] = T::from_f64(init.sample(n_inputs, n_outputs, rng));
            }
        }
        Ok(Dense { theta, activation })
    }

    /// A layer with the given Θ (n × (m+1), bias in column 0).
    ///
    /// # Errors
    /// [`Error::ZeroWidth`] if Θ has no rows or fewer than 2 columns,
    /// [`Error::NonFiniteParameter`] for a NaN or infinite entry (reported as layer 0),
    /// [`Error::InvalidHyperparameter`] for an invalid activation parameter.
    pub fn from_theta(theta: Mat<T>, activation: Activation) -> Result<Self, Error> {
        check_sizes(theta.ncols().saturating_sub(1), theta.nrows())?;
        activation.validate()?;
        let layer = Dense { theta, activation };
        layer.check_finite(0)?;
        Ok(layer)
    }

    /// A layer from Θ's entries in column-major order (column 0, the biases, first): the layout of
    /// [`Dense::theta_col_major`], for checkpoints.
    ///
    /// # Errors
    /// [`Error::ParameterCount`] if `values` has not `n_outputs × (n_inputs + 1)` entries, and
    /// the errors of [`Dense::from_theta`].
    pub fn from_theta_col_major(
        n_inputs: usize,
        n_outputs: usize,
        values: &[T],
        activation: Activation,
    ) -> Result<Self, Error> {
        check_sizes(n_inputs, n_outputs)?;
        // check_sizes bounds the product by MAX_LAYER_PARAMS, so it cannot overflow.
        let expected = n_outputs * (n_inputs + 1);
        if values.len() != expected {
            return Err(Error::ParameterCount { expected, found: values.len() });
        }
        let theta = Mat::from_fn(n_outputs, n_inputs + 1, |i, j| values[j * n_outputs + i]);
        Dense::from_theta(theta, activation)
    }

    /// Θ's entries in column-major order (biases first). Allocates.
    #[must_use]
    pub fn theta_col_major(&self) -> Vec<T> {
        let (n, c) = (self.theta.nrows(), self.theta.ncols());
        let mut out = Vec::with_capacity(n * c);
        for j in 0..c {
            out.extend_from_slice(self.theta.col_as_slice(j));
        }
        out
    }

    /// Column `j` of Θ as a slice (column 0: the biases).
    pub(crate) fn theta_col(&self, j: usize) -> &[T] {
        self.theta.col_as_slice(j)
    }

    /// Θ, n × (m+1).
    #[must_use]
    pub fn theta(&self) -> MatRef<'_, T> {
        self.theta.as_ref()
    }

    /// Θ, mutable (for optimizers). Its shape cannot change.
    pub fn theta_mut(&mut self) -> MatMut<'_, T> {
        self.theta.as_mut()
    }

    /// The weights `W` (Θ without its bias column), n × m: a view.
    #[must_use]
    pub fn weights(&self) -> MatRef<'_, T> {
        self.theta.as_ref().subcols(1, self.n_inputs())
    }

    /// The biases `b` (Θ's column 0), n entries: a view.
    #[must_use]
    pub fn bias(&self) -> ColRef<'_, T> {
        self.theta.as_ref().col(0)
    }

    /// The activation `g` of this layer.
    #[must_use]
    pub fn activation(&self) -> Activation {
        self.activation
    }

    /// m, the number of inputs.
    #[must_use]
    pub fn n_inputs(&self) -> usize {
        self.theta.ncols() - 1
    }

    /// n, the number of outputs (units).
    #[must_use]
    pub fn n_outputs(&self) -> usize {
        self.theta.nrows()
    }

    /// The number of parameters, n × (m+1).
    #[must_use]
    pub fn n_params(&self) -> usize {
        self.theta.nrows() * self.theta.ncols()
    }

    /// Checks that every parameter is finite, reporting the first that is not as `layer_idx`.
    ///
    /// # Errors
    /// [`Error::NonFiniteParameter`].
    pub fn check_finite(&self, layer_idx: usize) -> Result<(), Error> {
        for col in 0..self.theta.ncols() {
            for (row, &value) in self.theta.col_as_slice(col).iter().enumerate() {
                if !value.is_finite() {
                    return Err(Error::NonFiniteParameter {
                        layer_idx,
                        row,
                        col,
                        value: value.to_f64(),
                    });
                }
            }
        }
        Ok(())
    }

    /// The same layer in another float type (f32 ↔ f64), e.g. to gradient-check an f32 model.
    #[must_use]
    pub fn cast<U: Float>(&self) -> Dense<U> {
        Dense {
            theta: Mat::from_fn(self.theta.nrows(), self.theta.ncols(), |i, j| {
                U::from_f64(self.theta[(i, j)].to_f64())
            }),
            activation: self.activation,
        }
    }
}

/// The largest number of units on either side of a layer: far beyond any fully connected layer
/// that fits in memory, small enough that `n_inputs + 1` and the products of sizes checked below
/// never overflow.
pub const MAX_LAYER_WIDTH: usize = 1 << 24;
/// The largest number of parameters in one layer (and of values in one buffer of a workspace):
/// 2³² on 64-bit targets; 2²⁶ on 32-bit ones, where an `f64` buffer of that many values (512 MiB)
/// still fits the address space.
pub const MAX_LAYER_PARAMS: usize = if usize::BITS >= 64 { 1 << 32 } else { 1 << 26 };

// Checked when this crate is compiled, for the target it is compiled for: the largest layer's Θ in
// f64, and `n_inputs + 1`, fit the address space.
const _: () = assert!(MAX_LAYER_PARAMS <= isize::MAX as usize / 8);
const _: () = assert!(MAX_LAYER_WIDTH < usize::MAX);

fn check_sizes(n_inputs: usize, n_outputs: usize) -> Result<(), Error> {
    if n_inputs == 0 {
        return Err(Error::ZeroWidth { layer_idx: 0, what: "n_inputs" });
    }
    if n_outputs == 0 {
        return Err(Error::ZeroWidth { layer_idx: 0, what: "n_outputs" });
    }
    let too_big = |value: f64, name| Error::InvalidHyperparameter {
        name,
        value,
        expected: "at most MAX_LAYER_WIDTH (2^24) units per layer and MAX_LAYER_PARAMS parameters",
    };
    if n_inputs > MAX_LAYER_WIDTH {
        return Err(too_big(n_inputs as f64, "n_inputs"));
    }
    if n_outputs > MAX_LAYER_WIDTH {
        return Err(too_big(n_outputs as f64, "n_outputs"));
    }
    // Checked: on a 32-bit target, 2^24 × (2^24 + 1) does not fit a usize.
    match n_outputs.checked_mul(n_inputs + 1) {
        Some(n_params) if n_params <= MAX_LAYER_PARAMS => Ok(()),
        _ => Err(too_big(n_outputs as f64 * (n_inputs as f64 + 1.0), "layer parameters")),
    }
}

#[cfg(test)]
#[allow(clippy::float_cmp, reason = "exact values: limits, copies and small integers")]
mod tests {
    use super::*;
    use crate::rng::{ChaCha8Rng, SeedableRng};

    #[test]
    fn views_split_theta_into_bias_and_weights() {
        let theta = Mat::<f64>::from_fn(2, 4, |i, j| (10 * i + j) as f64);
        let layer = Dense::from_theta(theta, Activation::Tanh).unwrap();
        assert_eq!((layer.n_inputs(), layer.n_outputs(), layer.n_params()), (3, 2, 8));
        assert_eq!(layer.bias()[1], 10.0);
        assert_eq!(layer.weights()[(1, 0)], 11.0);
        assert_eq!(layer.weights().ncols(), 3);
        let flat = layer.theta_col_major();
        assert_eq!(flat, vec![0.0, 10.0, 1.0, 11.0, 2.0, 12.0, 3.0, 13.0]);
        let back = Dense::from_theta_col_major(3, 2, &flat, Activation::Tanh).unwrap();
        assert_eq!(back, layer);
    }

    #[test]
    fn new_draws_weights_and_zero_biases() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let layer = Dense::<f32>::new(5, 4, Activation::Relu, Init::HeUniform, &mut rng).unwrap();
        assert!((0..4).all(|i| layer.bias()[i] == 0.0));
        let r = (6.0f32 / 5.0).sqrt();
        let w = layer.weights();
        assert!((0..4).all(|i| (0..5).all(|j| w[(i, j)].abs() <= r && w[(i, j)] != 0.0)));
    }

    #[test]
    fn limits_fit_the_pointer_width() {
        // The limits differ per pointer width; each must keep sizes and byte counts in range.
        let expected_params = if usize::BITS >= 64 { 1usize << 32 } else { 1 << 26 };
        assert_eq!(MAX_LAYER_PARAMS, expected_params);
        let bytes = MAX_LAYER_PARAMS.checked_mul(std::mem::size_of::<f64>()).unwrap();
        assert!(bytes <= isize::MAX as usize);
        // The widest layer's parameter count is computed with a checked product, whatever the
        // width of usize: an error, never an overflow.
        assert!(check_sizes(MAX_LAYER_WIDTH, MAX_LAYER_WIDTH).is_err());
        assert!(check_sizes(MAX_LAYER_WIDTH, 1).is_ok());
        assert!(check_sizes(1, MAX_LAYER_WIDTH).is_ok());
    }

    #[test]
    fn bad_layers_are_errors() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let init = Init::XavierUniform;
        assert!(matches!(
            Dense::<f32>::new(0, 4, Activation::Relu, init, &mut rng),
            Err(Error::ZeroWidth { what: "n_inputs", .. })
        ));
        assert!(matches!(
            Dense::<f32>::new(3, 0, Activation::Relu, init, &mut rng),
            Err(Error::ZeroWidth { what: "n_outputs", .. })
        ));
        let mut theta = Mat::<f64>::zeros(2, 3);
        theta[(1, 2)] = f64::NAN;
        assert!(matches!(
            Dense::from_theta(theta, Activation::Relu),
            Err(Error::NonFiniteParameter { row: 1, col: 2, .. })
        ));
        assert!(matches!(
            Dense::from_theta_col_major(2, 2, &[0.0f32; 5], Activation::Relu),
            Err(Error::ParameterCount { expected: 6, found: 5 })
        ));
        assert!(matches!(
            Dense::<f64>::from_theta(Mat::zeros(2, 1), Activation::Relu),
            Err(Error::ZeroWidth { .. })
        ));
        for (n_in, n_out) in [(usize::MAX, 1), (1, usize::MAX), (1 << 20, 1 << 20)] {
            assert!(matches!(
                Dense::<f32>::new(n_in, n_out, Activation::Relu, init, &mut rng),
                Err(Error::InvalidHyperparameter { .. })
            ));
            assert!(
                Dense::<f32>::from_theta_col_major(n_in, n_out, &[], Activation::Relu).is_err()
            );
        }
    }
}
