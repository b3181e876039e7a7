//! Reusable buffers: [`Workspace`] (z, a, δ of every layer) and [`Gradients`] (∂J/∂Θ).

use nn_linalg::{Float, Mat, MatMut, MatRef, Par};

use crate::{Error, Network};

/// The largest batch a workspace can be built for.
pub const MAX_BATCH: usize = 1 << 24;

/// The per-layer buffers of a forward and backward pass, allocated once for batches of up to
/// `max_batch` samples and reused for every batch (a smaller batch uses the first columns).
///
/// For every `Dense` layer it holds `z` (the input of the activation), `a` (its output) and `δ`
/// (B1: `∂J/∂z`), each n_outputs × `max_batch`. The network's input `a^(1) = x` is never copied.
/// The workspace also carries the parallelism of the GEMMs run on it ([`Par::Seq`] by default).
#[derive(Clone, Debug)]
pub struct Workspace<T: Float> {
    pub(crate) sizes: Vec<usize>,
    pub(crate) max_batch: usize,
    /// The batch size of the last complete forward pass (0: none).
    pub(crate) batch: usize,
    pub(crate) par: Par,
    pub(crate) z: Vec<Mat<T>>,
    pub(crate) a: Vec<Mat<T>>,
    pub(crate) delta: Vec<Mat<T>>,
    /// log Σ e^z of each output column (L2 only).
    pub(crate) lse: Vec<T>,
    /// Inverted-dropout masks (0 or 1/(1 − p)) of the hidden layers, allocated by
    /// [`Workspace::with_dropout_masks`] or else by the first training-mode forward pass that
    /// needs them.
    pub(crate) mask: Vec<Mat<T>>,
    /// Whether layer l's output was masked in the last forward pass.
    pub(crate) masked: Vec<bool>,
}

impl<T: Float> Workspace<T> {
    /// Buffers for `net` and batches of 1 to `max_batch` samples. Allocates; nothing else does.
    ///
    /// # Errors
    /// [`Error::BatchSize`] if `max_batch` is 0 or above [`MAX_BATCH`];
    /// [`Error::InvalidHyperparameter`] if a layer's buffers (units × `max_batch`) would hold more
    /// than [`MAX_LAYER_PARAMS`](crate::MAX_LAYER_PARAMS) values.
    pub fn for_network(net: &Network<T>, max_batch: usize) -> Result<Self, Error> {
        if max_batch == 0 || max_batch > MAX_BATCH {
            return Err(Error::BatchSize { max: MAX_BATCH, found: max_batch });
        }
        let sizes = net.sizes();
        for &n in &sizes[1..] {
            crate::network::check_buffer_size(n, max_batch)?;
        }
        let bufs =
            || -> Vec<Mat<T>> { sizes[1..].iter().map(|&n| Mat::zeros(n, max_batch)).collect() };
        Ok(Workspace {
            max_batch,
            batch: 0,
            par: Par::Seq,
            z: bufs(),
            a: bufs(),
            delta: bufs(),
            lse: vec![T::ZERO; max_batch],
            mask: Vec::new(),
            masked: vec![false; sizes.len() - 1],
            sizes,
        })
    }

    /// The same workspace, running its matrix products with `par`.
    #[must_use]
    pub fn with_par(mut self, par: Par) -> Self {
        self.par = par;
        self
    }

    /// The same workspace with its dropout masks allocated now (one buffer per layer, units ×
    /// `max_batch`), so that not even the first training-mode forward pass with dropout
    /// ([`Network::forward_train_into`]) allocates. Without it, that first pass allocates them.
    #[must_use]
    pub fn with_dropout_masks(mut self) -> Self {
        self.ensure_masks();
        self
    }

    /// The parallelism of the matrix products run on this workspace.
    #[must_use]
    pub fn par(&self) -> Par {
        self.par
    }

    /// The largest batch this workspace holds.
    #[must_use]
    pub fn max_batch(&self) -> usize {
        self.max_batch
    }

    /// The batch size of the last complete forward pass, 0 if there was none.
    #[must_use]
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// `z` of layer `layer_idx` (0 is the first `Dense` layer) from the last forward pass.
    #[must_use]
    pub fn z(&self, layer_idx: usize) -> Option<MatRef<'_, T>> {
        self.z.get(layer_idx).map(|m| m.as_ref().subcols(0, self.batch))
    }

    /// `a = g(z)` of layer `layer_idx` from the last forward pass; the last one is `h_Θ(x)`.
    #[must_use]
    pub fn a(&self, layer_idx: usize) -> Option<MatRef<'_, T>> {
        self.a.get(layer_idx).map(|m| m.as_ref().subcols(0, self.batch))
    }

    /// `δ = ∂J/∂z` of layer `layer_idx` from the last backward pass (every layer's is computed;
    /// only the input, which has no error term, has none).
    #[must_use]
    pub fn delta(&self, layer_idx: usize) -> Option<MatRef<'_, T>> {
        self.delta.get(layer_idx).map(|m| m.as_ref().subcols(0, self.batch))
    }

    /// Allocates the dropout masks on first use (the warm-up of a training-mode forward pass).
    pub(crate) fn ensure_masks(&mut self) {
        if self.mask.is_empty() {
            self.mask = self.sizes[1..].iter().map(|&n| Mat::zeros(n, self.max_batch)).collect();
        }
    }

    pub(crate) fn check(&self, net: &Network<T>) -> Result<(), Error> {
        if net.sizes_match(&self.sizes) {
            Ok(())
        } else {
            Err(Error::WorkspaceMismatch {
                what: "workspace",
                expected: self.sizes.clone(),
                found: net.sizes(),
            })
        }
    }
}

/// The gradient ∂J/∂Θ of every layer, each with the shape of its Θ (n × (m+1), bias column 0).
#[derive(Clone, Debug, PartialEq)]
pub struct Gradients<T: Float> {
    pub(crate) sizes: Vec<usize>,
    pub(crate) theta: Vec<Mat<T>>,
}

impl<T: Float> Gradients<T> {
    /// Zero gradients shaped like `net`'s parameters. Allocates.
    #[must_use]
    pub fn zeros_like(net: &Network<T>) -> Self {
        Gradients {
            sizes: net.sizes(),
            theta: net
                .layers()
                .iter()
                .map(|l| Mat::zeros(l.n_outputs(), l.n_inputs() + 1))
                .collect(),
        }
    }

    /// The number of layers.
    #[must_use]
    pub fn n_layers(&self) -> usize {
        self.theta.len()
    }

    /// ∂J/∂Θ of layer `layer_idx`.
    #[must_use]
    pub fn layer(&self, layer_idx: usize) -> Option<MatRef<'_, T>> {
        self.theta.get(layer_idx).map(Mat::as_ref)
    }

    /// ∂J/∂Θ of layer `layer_idx`, mutable (for clipping or custom updates).
    pub fn layer_mut(&mut self, layer_idx: usize) -> Option<MatMut<'_, T>> {
        self.theta.get_mut(layer_idx).map(Mat::as_mut)
    }

    /// Sets every entry to 0.
    pub fn fill_zero(&mut self) {
        for g in &mut self.theta {
            g.fill(T::ZERO);
        }
    }

    /// `self ← self + other`, entry by entry, in a fixed order (deterministic).
    ///
    /// # Errors
    /// [`Error::WorkspaceMismatch`] if `other` has other shapes.
    pub fn add_assign(&mut self, other: &Gradients<T>) -> Result<(), Error> {
        if self.sizes != other.sizes {
            return Err(Error::WorkspaceMismatch {
                what: "gradients",
                expected: self.sizes.clone(),
                found: other.sizes.clone(),
            });
        }
        for (g, o) in self.theta.iter_mut().zip(&other.theta) {
            for j in 0..g.ncols() {
                for (x, &y) in g.col_as_slice_mut(j).iter_mut().zip(o.col_as_slice(j)) {
                    *x += y;
                }
            }
        }
        Ok(())
    }

    /// Multiplies every entry by `factor`.
    pub fn scale(&mut self, factor: T) {
        for g in &mut self.theta {
            for j in 0..g.ncols() {
                for x in g.col_as_slice_mut(j) {
                    *x *= factor;
                }
            }
        }
    }

    /// The Euclidean norm of all entries together (for clipping by global norm), summed in f64.
    #[must_use]
    pub fn global_norm(&self) -> f64 {
        let mut sum = 0.0;
        for g in &self.theta {
            for j in 0..g.ncols() {
                sum += g.col_as_slice(j).iter().map(|x| x.to_f64() * x.to_f64()).sum::<f64>();
            }
        }
        sum.sqrt()
    }

    /// Whether every entry is finite.
    #[must_use]
    pub fn is_finite(&self) -> bool {
        self.theta
            .iter()
            .all(|g| (0..g.ncols()).all(|j| g.col_as_slice(j).iter().all(|x| x.is_finite())))
    }

    pub(crate) fn check(&self, net: &Network<T>) -> Result<(), Error> {
        if net.sizes_match(&self.sizes) {
            Ok(())
        } else {
            Err(Error::WorkspaceMismatch {
                what: "gradients",
                expected: self.sizes.clone(),
                found: net.sizes(),
            })
        }
    }
}
