//! Gradient checking: B3's analytic gradient against central differences of `J`, in f64.
//!
//! For every entry `θ` of every Θ, the numeric derivative is the fourth-order central difference
//! ```text
//! ∂J/∂θ ≈ (−J(θ+2h) + 8 J(θ+h) − 8 J(θ−h) + J(θ−2h)) / 12h
//! ```
//! whose truncation error is O(h⁴), so a step of `h = 1e-4` leaves both truncation and rounding
//! near 1e-12. Entries are compared by relative error `|g − ĝ| / max(|g|, |ĝ|, floor)`.
//! Downstream crates use it on their own networks; it clones the network once and allocates.
//!
//! Near a kink (ReLU, leaky ReLU or ELU with α ≠ 1 at z = 0) no difference quotient is right:
//! choose inputs whose pre-activations stay further than a few `h·|a|` from 0.
//!
//! ```
//! use nn_core::{Activation, Loss, Network, Targets, gradcheck};
//! use nn_core::rng::{ChaCha8Rng, SeedableRng};
//! use nn_linalg::Mat;
//!
//! let net: Network<f64> = Network::builder(3, Loss::SoftmaxCrossEntropy)
//!     .layer(4, Activation::Tanh)
//!     .layer(2, Activation::Identity)
//!     .build(&mut ChaCha8Rng::seed_from_u64(1))?;
//! let x = Mat::from_fn(3, 5, |i, j| (i as f64 - j as f64) / 4.0);
//! let report =
//!     gradcheck::check_gradients(&net, x.as_ref(), Targets::Classes(&[0, 1, 1, 0, 1]), &Default::default())?;
//! assert!(report.max_rel_error() <= 1e-6, "{report:?}");
//! # Ok::<(), nn_core::Error>(())
//! ```

use nn_linalg::{Mat, MatRef};

use crate::{Error, Gradients, Network, Targets, Workspace};

/// How the numeric gradient is taken and compared: [`Options::default`], then the `with_*`
/// setters (the struct is `#[non_exhaustive]`, so options can be added).
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct Options {
    /// The step `h` of the central differences.
    pub step: f64,
    /// The smallest denominator of the relative error, so that two near-zero values compare as
    /// equal instead of dividing noise by noise.
    pub floor: f64,
}

impl Default for Options {
    /// `step = 1e-4`, `floor = 1e-7`.
    fn default() -> Self {
        Options { step: 1e-4, floor: 1e-7 }
    }
}

impl Options {
    /// Sets the step `h`.
    #[must_use]
    pub fn with_step(mut self, step: f64) -> Self {
        self.step = step;
        self
    }

    /// Sets the floor of the relative error's denominator.
    #[must_use]
    pub fn with_floor(mut self, floor: f64) -> Self {
        self.floor = floor;
        self
    }
}

/// One checked entry of Θ.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Entry {
    /// The layer (0 is the first `Dense` layer).
    pub layer_idx: usize,
    /// Row of Θ.
    pub row: usize,
    /// Column of Θ (0: the bias).
    pub col: usize,
    /// B3's value.
    pub analytic: f64,
    /// The central difference.
    pub numeric: f64,
    /// Their relative error.
    pub rel_error: f64,
}

/// The outcome of [`check_gradients`].
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// The number of entries checked (every parameter, biases included).
    pub n_checked: usize,
    /// The entry with the largest relative error.
    pub worst: Option<Entry>,
    /// J at the unperturbed parameters.
    pub loss: f64,
}

impl Report {
    /// The largest relative error over all entries (0 if none were checked).
    #[must_use]
    pub fn max_rel_error(&self) -> f64 {
        self.worst.map_or(0.0, |e| e.rel_error)
    }
}

/// `|analytic − numeric| / max(|analytic|, |numeric|, floor)`.
#[must_use]
pub fn relative_error(analytic: f64, numeric: f64, floor: f64) -> f64 {
    (analytic - numeric).abs() / analytic.abs().max(numeric.abs()).max(floor)
}

/// The numeric gradient of `J` (mean loss plus R1) at `net`'s parameters, every entry of every Θ.
///
/// # Errors
/// [`Error::InvalidHyperparameter`] for a step that is not finite and > 0, and the errors of
/// [`Network::forward_into`] and [`ForwardPass::loss`](crate::ForwardPass::loss).
pub fn numeric_gradient(
    net: &Network<f64>,
    x: MatRef<'_, f64>,
    targets: Targets<'_, f64>,
    options: &Options,
) -> Result<Gradients<f64>, Error> {
    let h = options.step;
    if !(h.is_finite() && h > 0.0) {
        return Err(Error::InvalidHyperparameter {
            name: "gradcheck step",
            value: h,
            expected: "a finite number > 0",
        });
    }
    let mut ws = Workspace::for_network(net, x.ncols().max(1))?;
    let mut probe = net.clone();
    let mut grads = Gradients::zeros_like(net);
    let mut loss_at = |probe: &Network<f64>| -> Result<f64, Error> {
        probe.forward_into(x, &mut ws)?.loss(targets)
    };
    for layer_idx in 0..net.layers().len() {
        let theta: Mat<f64> = net.layers()[layer_idx].theta().to_owned();
        for col in 0..theta.ncols() {
            for row in 0..theta.nrows() {
                let base = theta[(row, col)];
                let mut at = |offset: f64| -> Result<f64, Error> {
                    probe.layers_mut()[layer_idx].theta_mut()[(row, col)] = base + offset;
                    loss_at(&probe)
                };
                let (p2, p1, m1, m2) = (at(2.0 * h)?, at(h)?, at(-h)?, at(-2.0 * h)?);
                probe.layers_mut()[layer_idx].theta_mut()[(row, col)] = base;
                // Differences first: J(θ+h) − J(θ−h) is exact for nearby values (Sterbenz), so a J that
                // does not move gives exactly 0 instead of rounding noise.
                let numeric = (8.0 * (p1 - m1) - (p2 - m2)) / (12.0 * h);
                if let Some(mut g) = grads.layer_mut(layer_idx) {
                    g[(row, col)] = numeric;
                }
            }
        }
    }
    Ok(grads)
}

/// Compares B3's gradient ([`ForwardPass::backward_into`](crate::ForwardPass::backward_into)) with [`numeric_gradient`] for every
/// parameter of `net` on the batch `x` (samples as columns) with `targets`.
///
/// # Errors
/// Those of [`numeric_gradient`] and [`Network::forward_backward_into`].
pub fn check_gradients(
    net: &Network<f64>,
    x: MatRef<'_, f64>,
    targets: Targets<'_, f64>,
    options: &Options,
) -> Result<Report, Error> {
    let mut ws = Workspace::for_network(net, x.ncols().max(1))?;
    let mut analytic = Gradients::zeros_like(net);
    let loss = net.forward_backward_into(x, targets, &mut ws, &mut analytic)?;
    let numeric = numeric_gradient(net, x, targets, options)?;
    let mut report = Report { n_checked: 0, worst: None, loss };
    for layer_idx in 0..analytic.n_layers() {
        let (Some(a), Some(n)) = (analytic.layer(layer_idx), numeric.layer(layer_idx)) else {
            continue;
        };
        for col in 0..a.ncols() {
            for row in 0..a.nrows() {
                let (g, g_hat) = (a[(row, col)], n[(row, col)]);
                let rel_error = relative_error(g, g_hat, options.floor);
                report.n_checked += 1;
                if report.worst.is_none_or(|w| rel_error > w.rel_error || rel_error.is_nan()) {
                    report.worst =
                        Some(Entry { layer_idx, row, col, analytic: g, numeric: g_hat, rel_error });
                }
            }
        }
    }
    Ok(report)
}
