//! Regression metrics: MSE, RMSE, MAE and R², per output and averaged over the outputs.

use nn_linalg::{Float, MatRef, Shape};

use crate::Error;

/// Regression metrics of outputs against targets, as scikit-learn computes them with
/// `multioutput = "uniform_average"`: each metric is computed per output (row) over the samples,
/// then averaged over the outputs with equal weights.
///
/// ```text
/// mse_j = (1/N) Σ_k (a_jk − y_jk)²          mse  = (1/n) Σ_j mse_j
/// rmse  = (1/n) Σ_j √mse_j                  (scikit-learn's root_mean_squared_error)
/// mae   = (1/n) Σ_j (1/N) Σ_k |a_jk − y_jk|
/// r2_j  = 1 − Σ_k (a_jk − y_jk)² / Σ_k (y_jk − ȳ_j)²,  r2 = (1/n) Σ_j r2_j
/// ```
/// An output whose targets are all equal has no variance: its R² is 1 for a perfect prediction
/// and 0 otherwise (scikit-learn's `force_finite = True`).
///
/// Each output's own MSE, RMSE, MAE and R² come from [`RegressionStats::per_output`].
///
/// Note that `mse` is the plain mean of squares, neither the derivation's loss L1 (½ Σ over the
/// outputs) nor scikit-learn's `MLPRegressor` loss (half of `mse`): see
/// [`MseScale`](crate::MseScale).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct RegressionMetrics {
    /// The number of samples.
    pub n_samples: usize,
    /// The mean of (a − y)² over samples and outputs.
    pub mse: f64,
    /// The mean over the outputs of each output's root mean squared error.
    pub rmse: f64,
    /// The mean of |a − y| over samples and outputs.
    pub mae: f64,
    /// The coefficient of determination, averaged over the outputs.
    pub r2: f64,
    /// The mean squared error of each output.
    pub mse_per_output: Vec<f64>,
    /// The coefficient of determination of each output.
    pub r2_per_output: Vec<f64>,
}

/// The regression metrics of one output (one row of the outputs and targets), over the samples:
/// the terms that [`RegressionMetrics`] averages, from [`RegressionStats::per_output`] (what
/// scikit-learn gives with `multioutput = "raw_values"`).
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct OutputMetrics {
    /// The mean of (a − y)² over the samples.
    pub mse: f64,
    /// The root of [`OutputMetrics::mse`].
    pub rmse: f64,
    /// The mean of |a − y| over the samples.
    pub mae: f64,
    /// The coefficient of determination `1 − SS_res / SS_tot` (1 or 0 for constant targets, as
    /// in [`RegressionMetrics`]).
    pub r2: f64,
}

impl Default for RegressionMetrics {
    /// No samples, no outputs, every metric 0 (to fill in field by field).
    fn default() -> Self {
        RegressionMetrics {
            n_samples: 0,
            mse: 0.0,
            rmse: 0.0,
            mae: 0.0,
            r2: 0.0,
            mse_per_output: Vec::new(),
            r2_per_output: Vec::new(),
        }
    }
}

/// Sums for [`RegressionMetrics`], accumulated batch after batch, in `f64`.
///
/// The targets' variance is accumulated with Welford's update (stable for targets far from 0,
/// unlike `Σy² − (Σy)²/N`); the result agrees with scikit-learn's two-pass sums to rounding.
#[derive(Clone, Debug, PartialEq)]
pub struct RegressionStats {
    n_samples: usize,
    /// Per output: Σ (a − y)².
    sum_sq: Vec<f64>,
    /// Per output: Σ |a − y|.
    sum_abs: Vec<f64>,
    /// Per output: the running mean of y.
    mean: Vec<f64>,
    /// Per output: Σ (y − ȳ)² so far (Welford's M2).
    m2: Vec<f64>,
}

impl RegressionStats {
    /// Empty sums for `n_outputs` outputs. Allocates.
    #[must_use]
    pub fn new(n_outputs: usize) -> Self {
        RegressionStats {
            n_samples: 0,
            sum_sq: vec![0.0; n_outputs],
            sum_abs: vec![0.0; n_outputs],
            mean: vec![0.0; n_outputs],
            m2: vec![0.0; n_outputs],
        }
    }

    /// The number of outputs.
    #[must_use]
    pub fn n_outputs(&self) -> usize {
        self.sum_sq.len()
    }

    /// The number of samples added so far.
    #[must_use]
    pub fn n_samples(&self) -> usize {
        self.n_samples
    }

    /// Adds a batch: `outputs` and `targets` are both outputs × samples.
    ///
    /// # Errors
    /// [`Error::TargetShape`] if `targets` has not the shape of `outputs`, or `outputs` not
    /// [`RegressionStats::n_outputs`] rows. Nothing is added then.
    pub fn add<T: Float>(
        &mut self,
        outputs: MatRef<'_, T>,
        targets: MatRef<'_, T>,
    ) -> Result<(), Error> {
        let expected = Shape { rows: self.n_outputs(), cols: outputs.ncols() };
        for found in [Shape::of(outputs), Shape::of(targets)] {
            if found != expected {
                return Err(Error::TargetShape { expected, found });
            }
        }
        for k in 0..outputs.ncols() {
            let n = (self.n_samples + 1) as f64;
            for j in 0..self.n_outputs() {
                let (a, y) = (outputs[(j, k)].to_f64(), targets[(j, k)].to_f64());
                let r = a - y;
                self.sum_sq[j] += r * r;
                self.sum_abs[j] += r.abs();
                // Welford: the mean and M2 of the targets, one sample at a time.
                let d = y - self.mean[j];
                self.mean[j] += d / n;
                self.m2[j] += d * (y - self.mean[j]);
            }
            self.n_samples += 1;
        }
        Ok(())
    }

    /// The metrics of each output, in order, over everything added.
    ///
    /// # Errors
    /// [`Error::NoSamples`] if nothing was added or there are no outputs.
    pub fn per_output(&self) -> Result<Vec<OutputMetrics>, Error> {
        if self.n_samples == 0 || self.n_outputs() == 0 {
            return Err(Error::NoSamples);
        }
        let n = self.n_samples as f64;
        Ok((0..self.n_outputs())
            .map(|j| {
                let (ss_res, ss_tot) = (self.sum_sq[j], self.m2[j]);
                let mse = ss_res / n;
                let r2 = if ss_tot > 0.0 {
                    1.0 - ss_res / ss_tot
                } else if ss_res == 0.0 {
                    1.0
                } else {
                    0.0
                };
                OutputMetrics { mse, rmse: mse.sqrt(), mae: self.sum_abs[j] / n, r2 }
            })
            .collect())
    }

    /// The metrics of everything added: those of [`RegressionStats::per_output`], averaged over
    /// the outputs with equal weights.
    ///
    /// # Errors
    /// [`Error::NoSamples`] if nothing was added or there are no outputs.
    pub fn finish(&self) -> Result<RegressionMetrics, Error> {
        let per_output = self.per_output()?;
        let mean_over_outputs = |metric: fn(&OutputMetrics) -> f64| {
            per_output.iter().map(metric).sum::<f64>() / per_output.len() as f64
        };
        Ok(RegressionMetrics {
            n_samples: self.n_samples,
            mse: mean_over_outputs(|m| m.mse),
            rmse: mean_over_outputs(|m| m.rmse),
            mae: mean_over_outputs(|m| m.mae),
            r2: mean_over_outputs(|m| m.r2),
            mse_per_output: per_output.iter().map(|m| m.mse).collect(),
            r2_per_output: per_output.iter().map(|m| m.r2).collect(),
        })
    }
}

/// [`RegressionMetrics`] of `outputs` against `targets` (both outputs × samples).
///
/// # Errors
/// [`Error::TargetShape`] if the shapes differ, [`Error::NoSamples`] for no samples or no
/// outputs.
pub fn regression_metrics<T: Float>(
    outputs: MatRef<'_, T>,
    targets: MatRef<'_, T>,
) -> Result<RegressionMetrics, Error> {
    let mut stats = RegressionStats::new(outputs.nrows());
    stats.add(outputs, targets)?;
    stats.finish()
}

#[cfg(test)]
#[allow(clippy::float_cmp, reason = "exact values of small dyadic fractions")]
mod tests {
    use super::*;
    use nn_linalg::Mat;

    /// Two outputs, four samples. Expected values from scikit-learn 1.9.1:
    /// ```python
    /// import numpy as np
    /// from sklearn.metrics import (mean_squared_error, root_mean_squared_error,
    ///                              mean_absolute_error, r2_score)
    /// y = np.array([[1.0, 10.0], [2.0, 10.0], [3.0, 10.0], [4.0, 10.0]])
    /// a = np.array([[1.5, 10.0], [2.0, 10.0], [2.0, 10.0], [4.0, 10.0]])
    /// mean_squared_error(y, a)        # 0.15625
    /// root_mean_squared_error(y, a)   # 0.2795084971874737  (= (√0.3125 + 0) / 2)
    /// mean_absolute_error(y, a)       # 0.1875
    /// r2_score(y, a, multioutput="raw_values")  # [0.75, 1.0]
    /// r2_score(y, a)                  # 0.875
    /// root_mean_squared_error(y, a, multioutput="raw_values")  # [0.5590169943749475, 0.0]
    /// mean_absolute_error(y, a, multioutput="raw_values")      # [0.375, 0.0]
    /// ```
    #[test]
    fn matches_scikit_learn_on_two_outputs() {
        let y = [[1.0, 10.0], [2.0, 10.0], [3.0, 10.0], [4.0, 10.0]];
        let a = [[1.5, 10.0], [2.0, 10.0], [2.0, 10.0], [4.0, 10.0]];
        let targets = Mat::from_fn(2, 4, |j, k| y[k][j]);
        let outputs = Mat::from_fn(2, 4, |j, k| a[k][j]);
        let m = regression_metrics::<f64>(outputs.as_ref(), targets.as_ref()).unwrap();
        assert_eq!(m.n_samples, 4);
        assert_eq!(m.mse, 0.15625);
        assert!((m.rmse - 0.279_508_497_187_473_7).abs() < 1e-15);
        assert_eq!(m.mae, 0.1875);
        assert_eq!(m.r2_per_output, [0.75, 1.0]);
        assert_eq!(m.r2, 0.875);
        assert_eq!(m.mse_per_output, [0.3125, 0.0]);
        let mut stats = RegressionStats::new(2);
        stats.add(outputs.as_ref(), targets.as_ref()).unwrap();
        let per = stats.per_output().unwrap();
        assert_eq!(
            per[0],
            OutputMetrics { mse: 0.3125, rmse: 0.3125f64.sqrt(), mae: 0.375, r2: 0.75 }
        );
        assert_eq!(per[1], OutputMetrics { mse: 0.0, rmse: 0.0, mae: 0.0, r2: 1.0 });
        assert_eq!(per[0].rmse, 0.559_016_994_374_947_5);
    }

    /// The averages of `finish` are the means of `per_output`, bit for bit, and R² goes below 0
    /// for predictions worse than the targets' mean.
    #[test]
    fn finish_averages_the_outputs_of_per_output() {
        // Output 0: truth 1 2 3, predicted 1 2 5: SS_res 4, SS_tot 2. Output 1: constant 7.
        let targets = Mat::from_fn(2, 3, |j, k| [[1.0, 7.0], [2.0, 7.0], [3.0, 7.0]][k][j]);
        let outputs = Mat::from_fn(2, 3, |j, k| [[1.0, 7.0], [2.0, 7.0], [5.0, 7.0]][k][j]);
        let mut stats = RegressionStats::new(2);
        stats.add::<f64>(outputs.as_ref(), targets.as_ref()).unwrap();
        let per = stats.per_output().unwrap();
        let all = stats.finish().unwrap();
        assert_eq!(per[0].r2, -1.0);
        assert_eq!((per[0].mse, per[0].mae), (4.0 / 3.0, 2.0 / 3.0));
        assert_eq!(per[1], OutputMetrics { mse: 0.0, rmse: 0.0, mae: 0.0, r2: 1.0 });
        assert_eq!(all.r2, 0.0);
        // scikit-learn's RMSE: the mean of the outputs' RMSE, not the root of the mean square.
        assert_eq!(all.rmse, (4.0f64 / 3.0).sqrt() / 2.0);
        assert_ne!(all.rmse, (4.0f64 / 6.0).sqrt());
        assert_eq!(all.mae, 1.0 / 3.0);
        assert_eq!(all.mse_per_output, per.iter().map(|m| m.mse).collect::<Vec<_>>());
        assert!(matches!(RegressionStats::new(2).per_output(), Err(Error::NoSamples)));
    }

    #[test]
    fn batches_add_up_to_the_whole() {
        let targets = Mat::<f32>::from_fn(3, 10, |j, k| ((j * 7 + k * 3) % 5) as f32 + 1e4);
        let outputs = Mat::<f32>::from_fn(3, 10, |j, k| ((j + k) % 4) as f32 + 1e4);
        let whole = regression_metrics(outputs.as_ref(), targets.as_ref()).unwrap();
        let mut stats = RegressionStats::new(3);
        for (start, len) in [(0, 3), (3, 1), (4, 6)] {
            stats
                .add(outputs.as_ref().subcols(start, len), targets.as_ref().subcols(start, len))
                .unwrap();
        }
        let batched = stats.finish().unwrap();
        assert_eq!(batched.mse, whole.mse);
        for (a, b) in batched.r2_per_output.iter().zip(&whole.r2_per_output) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
    }

    #[test]
    fn constant_targets_and_errors() {
        let y = Mat::<f64>::from_fn(1, 3, |_, _| 2.0);
        assert_eq!(regression_metrics(y.as_ref(), y.as_ref()).unwrap().r2, 1.0);
        let off = Mat::<f64>::from_fn(1, 3, |_, k| k as f64);
        assert_eq!(regression_metrics(off.as_ref(), y.as_ref()).unwrap().r2, 0.0);
        let wide = Mat::<f64>::zeros(2, 3);
        assert!(matches!(
            regression_metrics(off.as_ref(), wide.as_ref()),
            Err(Error::TargetShape { .. })
        ));
        let empty = Mat::<f64>::zeros(1, 0);
        assert!(matches!(
            regression_metrics(empty.as_ref(), empty.as_ref()),
            Err(Error::NoSamples)
        ));
    }
}
