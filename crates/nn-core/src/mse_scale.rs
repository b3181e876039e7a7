//! The scale of the mean squared error (L1): the derivation's, scikit-learn's or PyTorch's.

use std::fmt;
use std::str::FromStr;

/// How [`Loss::MeanSquaredError`](crate::Loss::MeanSquaredError) scales the squared residuals of
/// one sample of `n` outputs; `J` is always the mean of the sample losses over the batch (plus
/// R1). The three conventions differ by a constant factor, so they train the same network with a
/// learning rate scaled by that factor, and report losses scaled by it.
///
/// | variant | per-sample loss | `δ^(L)` before the batch's 1/B | used by |
/// |---|---|---|---|
/// | `HalfSum` (default) | ½ Σ_i (a_i − y_i)² | (a − y) ⊙ g'(z) | the derivation's L1; PyTorch's `0.5 * MSELoss(reduction="sum") / B` |
/// | `HalfMean` | ½ · (1/n) Σ_i (a_i − y_i)² | (1/n) (a − y) ⊙ g'(z) | scikit-learn's `MLPRegressor` (its `loss_curve_`: `squared_error / 2` averaged over samples and outputs) |
/// | `Mean` | (1/n) Σ_i (a_i − y_i)² | (2/n) (a − y) ⊙ g'(z) | PyTorch's `MSELoss()` (`reduction="mean"`), Keras's `mse` |
///
/// With one output, `HalfSum` and `HalfMean` agree, and `Mean` is twice both.
/// Set it with [`Network::with_mse_scale`](crate::Network::with_mse_scale) or
/// [`NetworkBuilder::mse_scale`](crate::NetworkBuilder::mse_scale).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MseScale {
    /// ½ Σ over the outputs: the derivation's L1.
    #[default]
    HalfSum,
    /// ½ · the mean over the outputs: scikit-learn's `MLPRegressor`.
    HalfMean,
    /// The mean over the outputs: PyTorch's `MSELoss()`.
    Mean,
}

impl MseScale {
    /// Every scale.
    pub const ALL: [MseScale; 3] = [MseScale::HalfSum, MseScale::HalfMean, MseScale::Mean];

    /// The factor `k` of this scale relative to L1 for `n_outputs` outputs: the per-sample loss is
    /// `k · ½ Σ_i (a_i − y_i)²` and `δ^(L)` is `k` times L1's. 1, 1/n and 2/n.
    #[must_use]
    pub fn factor(self, n_outputs: usize) -> f64 {
        match self {
            MseScale::HalfSum => 1.0,
            MseScale::HalfMean => 1.0 / n_outputs.max(1) as f64,
            MseScale::Mean => 2.0 / n_outputs.max(1) as f64,
        }
    }

    /// The name used by [`FromStr`] and [`fmt::Display`]: `half_sum`, `half_mean` or `mean`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            MseScale::HalfSum => "half_sum",
            MseScale::HalfMean => "half_mean",
            MseScale::Mean => "mean",
        }
    }
}

impl fmt::Display for MseScale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A string that names no [`MseScale`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown mean-squared-error scale {0:?}: expected half_sum, half_mean or mean")]
pub struct ParseMseScaleError(pub String);

impl FromStr for MseScale {
    type Err = ParseMseScaleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "half_sum" => Ok(MseScale::HalfSum),
            "half_mean" | "sklearn" | "scikit_learn" => Ok(MseScale::HalfMean),
            "mean" | "pytorch" | "torch" => Ok(MseScale::Mean),
            _ => Err(ParseMseScaleError(s.to_owned())),
        }
    }
}

#[cfg(test)]
#[allow(clippy::float_cmp, reason = "exact factors")]
mod tests {
    use super::*;

    #[test]
    fn factors_and_names() {
        assert_eq!(MseScale::HalfSum.factor(4), 1.0);
        assert_eq!(MseScale::HalfMean.factor(4), 0.25);
        assert_eq!(MseScale::Mean.factor(4), 0.5);
        for scale in MseScale::ALL {
            assert_eq!(scale.to_string().parse::<MseScale>().unwrap(), scale);
        }
        assert_eq!("sklearn".parse::<MseScale>().unwrap(), MseScale::HalfMean);
        assert!("sum".parse::<MseScale>().is_err());
    }
}
