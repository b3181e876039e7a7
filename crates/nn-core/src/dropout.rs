//! Inverted dropout for training-mode forward passes.

use crate::Error;

/// Inverted dropout rates, one per hidden layer (every `Dense` layer but the last).
///
/// In a training-mode forward pass ([`crate::Network::forward_train_into`]) each output `a_i` of a
/// hidden layer with rate `p > 0` is kept with probability `1 − p` and scaled by `1/(1 − p)`, or
/// set to 0: `a = m ⊙ g(z)` with `m_i ∈ {0, 1/(1 − p)}`. Backward propagation then multiplies B2's
/// factor by the same mask: `δ = (Wᵀ δ_next) ⊙ m ⊙ g'(z)`. Evaluation and
/// [`crate::Network::forward_into`] never drop anything, and need no rescaling.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Dropout {
    rates: Vec<f64>,
}

impl Dropout {
    /// Rates per hidden layer, each in [0, 1).
    ///
    /// # Errors
    /// [`Error::InvalidHyperparameter`] for a rate outside [0, 1) or not finite.
    pub fn new(rates: Vec<f64>) -> Result<Self, Error> {
        if let Some(&p) = rates.iter().find(|p| !(p.is_finite() && (0.0..1.0).contains(*p))) {
            return Err(Error::InvalidHyperparameter {
                name: "dropout rate",
                value: p,
                expected: "a number in [0, 1)",
            });
        }
        Ok(Dropout { rates })
    }

    /// The same rate for each of `n_hidden` hidden layers.
    ///
    /// # Errors
    /// As [`Dropout::new`].
    pub fn uniform(rate: f64, n_hidden: usize) -> Result<Self, Error> {
        Dropout::new(vec![rate; n_hidden])
    }

    /// The rates, one per hidden layer.
    #[must_use]
    pub fn rates(&self) -> &[f64] {
        &self.rates
    }

    /// Whether any rate is above 0.
    #[must_use]
    pub fn is_active(&self) -> bool {
        self.rates.iter().any(|&p| p > 0.0)
    }
}
