//! The network: a stack of [`Dense`] layers and a [`Loss`]; forward (F1–F3) and backward
//! (B1–B3, L1–L3, R1) propagation over batches whose samples are columns.

use std::marker::PhantomData;

use nn_linalg::{Accum, Float, Mat, MatRef, broadcast_col_into, gemm_into, row_sums_into};

use crate::loss::{ColumnLoss, output_column};
use crate::rng::{ChaCha8Rng, RngCore};
use crate::{
    Activation, Dense, Dropout, Error, Gradients, Init, Loss, MseScale, Predictor, Targets,
    Workspace,
};

/// Largest number of columns [`Network::predict_proba`] and [`Network::predict`] run through the
/// network at once (the chunk of their [`Predictor`]).
const PREDICT_CHUNK: usize = 1024;

/// A fully connected network: `Dense` layers `Θ^(1) .. Θ^(L−1)` and the loss that closes it.
///
/// Indexing: `layers()[i]` holds the derivation's `Θ^(i+1)`, which maps layer `i+1` (the input
/// is layer 1) to layer `i+2`; the workspace's `z(i)`, `a(i)`, `delta(i)` are `z^(i+2)`, `a^(i+2)`,
/// `δ^(i+2)`.
///
/// Built once (by [`Network::new`] or [`Network::builder`]), which checks every size and
/// hyper-parameter; after that, forward and backward only check the batch they are given.
#[derive(Clone, Debug, PartialEq)]
pub struct Network<T: Float> {
    layers: Vec<Dense<T>>,
    loss: Loss,
    l2: T,
    class_weights: Option<Vec<T>>,
    mse_scale: MseScale,
}

impl<T: Float> Network<T> {
    /// A network from its layers (first to last) and its loss.
    ///
    /// # Errors
    /// [`Error::NoLayers`]; [`Error::LayerMismatch`] if a layer's inputs differ from the previous
    /// layer's outputs; [`Error::OutputActivation`] if a cross-entropy loss (which applies its own
    /// softmax or sigmoid) follows a last layer whose activation is not identity.
    pub fn new(layers: Vec<Dense<T>>, loss: Loss) -> Result<Self, Error> {
        let last = layers.last().ok_or(Error::NoLayers)?;
        if loss.fuses_output() && last.activation() != Activation::Identity {
            return Err(Error::OutputActivation { loss, found: last.activation() });
        }
        for (layer_idx, pair) in layers.windows(2).enumerate() {
            if pair[1].n_inputs() != pair[0].n_outputs() {
                return Err(Error::LayerMismatch {
                    layer_idx: layer_idx + 1,
                    expected: pair[1].n_inputs(),
                    found: pair[0].n_outputs(),
                });
            }
        }
        Ok(Network { layers, loss, l2: T::ZERO, class_weights: None, mse_scale: MseScale::HalfSum })
    }

    /// A builder: `Network::builder(784, Loss::SoftmaxCrossEntropy).layer(256, Relu)...`.
    #[must_use]
    pub fn builder(n_inputs: usize, loss: Loss) -> NetworkBuilder<T> {
        NetworkBuilder {
            n_inputs,
            loss,
            layers: Vec::new(),
            init: None,
            l2: 0.0,
            class_weights: None,
            mse_scale: MseScale::HalfSum,
            float: PhantomData,
        }
    }

    /// The same network with the L2 penalty R1, `λ/(2B) Σ Θ_{j,i}²` over the weights (never the
    /// bias column), added to J and, as `(λ/B)·W`, to the gradient.
    ///
    /// # Errors
    /// [`Error::InvalidHyperparameter`] unless `lambda` is finite and ≥ 0.
    pub fn with_l2(mut self, lambda: f64) -> Result<Self, Error> {
        if !(lambda.is_finite() && lambda >= 0.0) {
            return Err(Error::InvalidHyperparameter {
                name: "l2",
                value: lambda,
                expected: "a finite number ≥ 0",
            });
        }
        self.l2 = T::from_f64(lambda);
        Ok(self)
    }

    /// The same network with per-class weights `w` in its cross-entropy (see [`Loss`]): sample
    /// losses are weighted, and J stays their mean over the B samples (PyTorch's probability-target
    /// convention; its class-index mode divides by Σ w_y instead).
    ///
    /// # Errors
    /// [`Error::ClassWeights`] for a mean-squared-error network or a count other than the number
    /// of outputs; [`Error::InvalidHyperparameter`] for a negative or non-finite weight.
    pub fn with_class_weights(mut self, weights: Vec<T>) -> Result<Self, Error> {
        if !self.loss.fuses_output() || weights.len() != self.n_outputs() {
            return Err(Error::ClassWeights {
                expected: self.n_outputs(),
                found: weights.len(),
                loss: self.loss,
            });
        }
        if let Some(&w) = weights.iter().find(|w| !(w.is_finite() && **w >= T::ZERO)) {
            return Err(Error::InvalidHyperparameter {
                name: "class weight",
                value: w.to_f64(),
                expected: "a finite number ≥ 0",
            });
        }
        self.class_weights = Some(weights);
        Ok(self)
    }

    /// The same network with another scale of its mean squared error (see [`MseScale`]: the
    /// derivation's ½ Σ over the outputs by default, scikit-learn's or PyTorch's mean over the
    /// outputs as options).
    ///
    /// # Errors
    /// [`Error::MseScale`] for a scale other than [`MseScale::HalfSum`] on a network whose loss
    /// is not [`Loss::MeanSquaredError`].
    pub fn with_mse_scale(mut self, scale: MseScale) -> Result<Self, Error> {
        if self.loss != Loss::MeanSquaredError && scale != MseScale::HalfSum {
            return Err(Error::MseScale { found: self.loss });
        }
        self.mse_scale = scale;
        Ok(self)
    }

    /// The layers, first to last.
    #[must_use]
    pub fn layers(&self) -> &[Dense<T>] {
        &self.layers
    }

    /// The layers, mutable (their parameters can change, not their shapes).
    pub fn layers_mut(&mut self) -> &mut [Dense<T>] {
        &mut self.layers
    }

    /// The loss.
    #[must_use]
    pub fn loss_kind(&self) -> Loss {
        self.loss
    }

    /// λ of the L2 penalty R1 (0: none).
    #[must_use]
    pub fn l2(&self) -> T {
        self.l2
    }

    /// The per-class weights, if any.
    #[must_use]
    pub fn class_weights(&self) -> Option<&[T]> {
        self.class_weights.as_deref()
    }

    /// The scale of the mean squared error ([`MseScale::HalfSum`] for the other losses).
    #[must_use]
    pub fn mse_scale(&self) -> MseScale {
        self.mse_scale
    }

    /// The factor of the loss and of `δ^(L)` relative to the derivation's L1–L3: 1, except for
    /// a mean squared error with another [`MseScale`].
    fn loss_factor(&self) -> f64 {
        match self.loss {
            Loss::MeanSquaredError => self.mse_scale.factor(self.n_outputs()),
            Loss::SoftmaxCrossEntropy | Loss::SigmoidBinaryCrossEntropy => 1.0,
        }
    }

    /// The number of inputs (features per sample).
    #[must_use]
    pub fn n_inputs(&self) -> usize {
        self.layers.first().map_or(0, Dense::n_inputs)
    }

    /// The number of outputs.
    #[must_use]
    pub fn n_outputs(&self) -> usize {
        self.layers.last().map_or(0, Dense::n_outputs)
    }

    /// The sizes of all layers of units: inputs first, outputs last.
    #[must_use]
    pub fn sizes(&self) -> Vec<usize> {
        std::iter::once(self.n_inputs()).chain(self.layers.iter().map(Dense::n_outputs)).collect()
    }

    pub(crate) fn sizes_match(&self, sizes: &[usize]) -> bool {
        sizes.len() == self.layers.len() + 1
            && sizes[0] == self.n_inputs()
            && self.layers.iter().zip(&sizes[1..]).all(|(l, &n)| l.n_outputs() == n)
    }

    /// The total number of parameters.
    #[must_use]
    pub fn n_params(&self) -> usize {
        self.layers.iter().map(Dense::n_params).sum()
    }

    /// Checks that every parameter is finite.
    ///
    /// # Errors
    /// [`Error::NonFiniteParameter`] naming the first bad one.
    pub fn check_finite(&self) -> Result<(), Error> {
        self.layers.iter().enumerate().try_for_each(|(i, l)| l.check_finite(i))
    }

    /// The same network in another float type (f32 ↔ f64).
    #[must_use]
    pub fn cast<U: Float>(&self) -> Network<U> {
        Network {
            layers: self.layers.iter().map(Dense::cast).collect(),
            loss: self.loss,
            l2: U::from_f64(self.l2.to_f64()),
            class_weights: self
                .class_weights
                .as_ref()
                .map(|w| w.iter().map(|v| U::from_f64(v.to_f64())).collect()),
            mse_scale: self.mse_scale,
        }
    }

    fn check_input(&self, x: MatRef<'_, T>, ws: &Workspace<T>) -> Result<usize, Error> {
        ws.check(self)?;
        if x.nrows() != self.n_inputs() {
            return Err(Error::InputRows { expected: self.n_inputs(), found: x.nrows() });
        }
        let b = x.ncols();
        if b == 0 || b > ws.max_batch {
            return Err(Error::BatchSize { max: ws.max_batch, found: b });
        }
        Ok(b)
    }

    /// Forward propagation of a batch `x` (n_inputs × B, samples as columns) into `ws`. Returns
    /// the [`ForwardPass`], which holds the network's output `h_Θ(x) = a^(L)`
    /// ([`ForwardPass::output`], n_outputs × B, a view into the workspace) and is the only way to
    /// run the backward pass of this batch ([`ForwardPass::backward_into`]).
    ///
    /// # Math
    /// ```text
    /// (F1) a^(1)   = x
    /// (F2) z^(l+1) = Θ^(l) · [1; a^(l)] = W^(l) a^(l) + b^(l) 1ᵀ
    /// (F3) a^(l+1) = g(z^(l+1)),   and at the output the loss's own function (softmax, sigmoid)
    /// ```
    /// Allocation: none.
    ///
    /// # Errors
    /// [`Error::InputRows`], [`Error::BatchSize`] (empty, or larger than the workspace),
    /// [`Error::WorkspaceMismatch`].
    pub fn forward_into<'a>(
        &'a self,
        x: MatRef<'a, T>,
        ws: &'a mut Workspace<T>,
    ) -> Result<ForwardPass<'a, T>, Error> {
        self.forward_impl(x, ws, None::<(&Dropout, &mut ChaCha8Rng)>)?;
        Ok(ForwardPass { net: self, x, ws })
    }

    /// Training-mode forward propagation: [`Network::forward_into`] with inverted dropout on the
    /// hidden layers (see [`Dropout`]), masks drawn from `rng` (layer after layer, sample after
    /// sample, unit after unit: the same `rng` state gives the same masks). The backward pass of
    /// the returned [`ForwardPass`] applies the same masks. Allocation: the masks' buffers, on the
    /// first call with a workspace not built [`Workspace::with_dropout_masks`]; nothing after.
    ///
    /// # Errors
    /// Those of [`Network::forward_into`], and [`Error::DropoutRates`] if `dropout` has not one
    /// rate per hidden layer.
    pub fn forward_train_into<'a>(
        &'a self,
        x: MatRef<'a, T>,
        ws: &'a mut Workspace<T>,
        dropout: &Dropout,
        rng: &mut impl RngCore,
    ) -> Result<ForwardPass<'a, T>, Error> {
        let n_hidden = self.layers.len() - 1;
        if dropout.rates().len() != n_hidden {
            return Err(Error::DropoutRates { expected: n_hidden, found: dropout.rates().len() });
        }
        self.forward_impl(x, ws, Some((dropout, rng)))?;
        Ok(ForwardPass { net: self, x, ws })
    }

    fn forward_impl<R: RngCore>(
        &self,
        x: MatRef<'_, T>,
        ws: &mut Workspace<T>,
        mut dropout: Option<(&Dropout, &mut R)>,
    ) -> Result<(), Error> {
        let b = self.check_input(x, ws)?;
        ws.batch = 0;
        let last = self.layers.len() - 1;
        if dropout.as_ref().is_some_and(|(d, _)| d.is_active()) {
            ws.ensure_masks();
        }
        for (l, layer) in self.layers.iter().enumerate() {
            let (done, rest) = ws.a.split_at_mut(l);
            // (F1) The first layer reads x itself: the input is never copied.
            let a_prev = if l == 0 { x } else { done[l - 1].as_ref().subcols(0, b) };
            let z = &mut ws.z[l];
            let a = &mut rest[0];
            // (F2) Z = W·A + b 1ᵀ: broadcast b into Z, then one GEMM accumulates W·A onto it.
            broadcast_col_into(z.as_mut().subcols_mut(0, b), layer.bias())?;
            gemm_into(
                z.as_mut().subcols_mut(0, b),
                Accum::Add,
                layer.weights(),
                a_prev,
                T::ONE,
                ws.par,
            )?;
            if l == last && self.loss.fuses_output() {
                // (F3) at the output of L2/L3: softmax or sigmoid, fused with the loss.
                for k in 0..b {
                    ws.lse[k] = output_column(self.loss, z.col_as_slice(k), a.col_as_slice_mut(k));
                }
            } else {
                // (F3) a = g(z).
                let act = layer.activation();
                for k in 0..b {
                    act.forward_slice(z.col_as_slice(k), a.col_as_slice_mut(k));
                }
            }
            ws.masked[l] = false;
            if let Some((d, rng)) = dropout.as_mut().filter(|_| l < last) {
                let p = d.rates()[l];
                if p > 0.0 {
                    // Inverted dropout: keep with probability 1 − p, scaled by 1/(1 − p).
                    let threshold = (p * 4_294_967_296.0) as u64;
                    let keep = T::from_f64(1.0 / (1.0 - p));
                    let mask = &mut ws.mask[l];
                    for k in 0..b {
                        for (m, a) in mask.col_as_slice_mut(k).iter_mut().zip(a.col_as_slice_mut(k))
                        {
                            *m =
                                if u64::from(rng.next_u32()) >= threshold { keep } else { T::ZERO };
                            *a *= *m;
                        }
                    }
                    ws.masked[l] = true;
                }
            }
        }
        ws.batch = b;
        Ok(())
    }

    /// The sum over the `b` samples of the forward pass in `ws` of their loss, without R1.
    fn data_loss_sum_impl(&self, targets: Targets<'_, T>, ws: &Workspace<T>) -> Result<f64, Error> {
        let b = ws.batch;
        targets.validate(self.loss, self.n_outputs(), b)?;
        let last = self.layers.len() - 1;
        let out = (&ws.z[last], &ws.a[last], ws.lse.as_slice());
        let mut total = 0.0;
        for k in 0..b {
            total += self.column_loss(out, &targets, k).eval(None);
        }
        Ok(total * self.loss_factor())
    }

    /// The class a network output column predicts: the arg-max (first on ties), or for a
    /// single-output sigmoid network 1 where the output is ≥ 0.5.
    #[must_use]
    pub fn class_of(&self, output: &[T]) -> usize {
        if output.len() == 1 && self.loss == Loss::SigmoidBinaryCrossEntropy {
            usize::from(output[0] >= T::from_f64(0.5))
        } else {
            argmax(output)
        }
    }

    /// The loss of sample `k` from the output layer's `z`, `a` and log-sum-exp.
    fn column_loss<'a>(
        &'a self,
        (z, a, lse): (&'a Mat<T>, &'a Mat<T>, &'a [T]),
        targets: &'a Targets<'a, T>,
        k: usize,
    ) -> ColumnLoss<'a, T> {
        let last = self.layers.len() - 1;
        ColumnLoss {
            loss: self.loss,
            output_activation: self.layers[last].activation(),
            z: z.col_as_slice(k),
            a: a.col_as_slice(k),
            lse: lse[k],
            target: targets.column(k),
            class_weights: self.class_weights.as_deref(),
        }
    }

    /// R1's value `λ/(2B) Σ W²` (weights only, never the bias column), in f64; 0 when λ = 0.
    #[must_use]
    pub fn l2_penalty(&self, batch: usize) -> f64 {
        if batch == 0 {
            return 0.0;
        }
        if self.l2 == T::ZERO {
            return 0.0;
        }
        let sum: f64 = self
            .layers
            .iter()
            .map(|l| (1..=l.n_inputs()).map(|j| sum_of_squares(l.theta_col(j))).sum::<f64>())
            .sum();
        self.l2.to_f64() / (2.0 * batch as f64) * sum
    }

    /// Forward then backward of one batch: `grads ← ∂J/∂Θ`, returns `J`. Allocation: none.
    ///
    /// # Errors
    /// Those of [`Network::forward_into`] and [`ForwardPass::backward_into`].
    pub fn forward_backward_into(
        &self,
        x: MatRef<'_, T>,
        targets: Targets<'_, T>,
        ws: &mut Workspace<T>,
        grads: &mut Gradients<T>,
    ) -> Result<T, Error> {
        self.forward_into(x, ws)?.backward_into(targets, grads)
    }

    /// B1–B3 for the forward pass of `x` held in `ws` (the caller, [`ForwardPass`], guarantees
    /// it): this shard's share of a batch of `full_batch` samples, without R1.
    fn backward_impl(
        &self,
        x: MatRef<'_, T>,
        targets: Targets<'_, T>,
        ws: &mut Workspace<T>,
        grads: &mut Gradients<T>,
        full_batch: usize,
    ) -> Result<T, Error> {
        let b = x.ncols();
        grads.check(self)?;
        if full_batch < b {
            return Err(Error::BatchSize { max: full_batch, found: b });
        }
        targets.validate(self.loss, self.n_outputs(), b)?;
        let inv_batch = 1.0 / full_batch as f64;
        // The loss's factor (an MseScale) scales δ^(L), hence every δ and ∂J/∂Θ, and the loss.
        let factor = self.loss_factor();
        let scale = T::from_f64(inv_batch * factor);
        let last = self.layers.len() - 1;

        // (L1–L3) δ^(L) = (1/B) ∂loss/∂z^(L), column by column, with the loss itself.
        let out = (&ws.z[last], &ws.a[last], ws.lse.as_slice());
        let delta_out = &mut ws.delta[last];
        let mut total = 0.0;
        for k in 0..b {
            let col = self.column_loss(out, &targets, k);
            total += col.eval(Some((delta_out.col_as_slice_mut(k), scale)));
        }

        for l in (0..=last).rev() {
            let layer = &self.layers[l];
            let (delta_before, delta_rest) = ws.delta.split_at_mut(l);
            let delta = delta_rest[0].as_ref().subcols(0, b);
            let a_prev = if l == 0 { x } else { ws.a[l - 1].as_ref().subcols(0, b) };
            let grad = &mut grads.theta[l];
            // (B3), bias column: δ^(l+1)·1, the row sums (1/B is already in δ).
            row_sums_into(grad.as_mut().col_mut(0), Accum::Replace, delta, T::ONE)?;
            // (B3), weights: δ^(l+1)·a^(l)ᵀ, one GEMM with a^(l)ᵀ as a view.
            gemm_into(
                grad.as_mut().subcols_mut(1, layer.n_inputs()),
                Accum::Replace,
                delta,
                a_prev.transpose(),
                T::ONE,
                ws.par,
            )?;
            if l > 0 {
                // (B2) δ^(l) = (W^(l))ᵀ δ^(l+1) ⊙ g'(z^(l)): one GEMM with Wᵀ as a view, then
                // the element-wise factor (the bias column of Θ does not propagate).
                let delta_prev = &mut delta_before[l - 1];
                gemm_into(
                    delta_prev.as_mut().subcols_mut(0, b),
                    Accum::Replace,
                    layer.weights().transpose(),
                    delta,
                    T::ONE,
                    ws.par,
                )?;
                let act = self.layers[l - 1].activation();
                let (z, a) = (&ws.z[l - 1], &ws.a[l - 1]);
                if ws.masked[l - 1] {
                    // Dropout: a = m ⊙ g(z), so the factor is m ⊙ g'(z).
                    let mask = &ws.mask[l - 1];
                    for k in 0..b {
                        act.backprop_masked_slice(
                            z.col_as_slice(k),
                            mask.col_as_slice(k),
                            delta_prev.col_as_slice_mut(k),
                        );
                    }
                } else {
                    for k in 0..b {
                        act.backprop_slice(
                            z.col_as_slice(k),
                            a.col_as_slice(k),
                            delta_prev.col_as_slice_mut(k),
                        );
                    }
                }
            }
        }
        Ok(T::from_f64(total * factor * inv_batch))
    }

    /// Adds R1's gradient `(λ/B)·W` to the weight columns of `grads` (never column 0) and returns
    /// R1's value `λ/(2B) Σ W²`. Does nothing and returns 0 when λ = 0.
    ///
    /// # Errors
    /// [`Error::WorkspaceMismatch`] if `grads` was built for another network,
    /// [`Error::InvalidHyperparameter`] for `batch_size` 0.
    pub fn add_l2_into(&self, grads: &mut Gradients<T>, batch_size: usize) -> Result<T, Error> {
        grads.check(self)?;
        if batch_size == 0 {
            return Err(Error::InvalidHyperparameter {
                name: "batch_size",
                value: 0.0,
                expected: "at least 1",
            });
        }
        if self.l2 == T::ZERO {
            return Ok(T::ZERO);
        }
        let c = self.l2 / T::from_usize(batch_size);
        for (layer, grad) in self.layers.iter().zip(&mut grads.theta) {
            // (R1) Column 0 (the bias) is skipped: the penalty never touches it.
            for j in 1..=layer.n_inputs() {
                for (g, &w) in grad.col_as_slice_mut(j).iter_mut().zip(layer.theta_col(j)) {
                    *g += c * w;
                }
            }
        }
        Ok(T::from_f64(self.l2_penalty(batch_size)))
    }

    /// `h_Θ(x)` for any number of samples (columns): class probabilities for the cross-entropies,
    /// the outputs for mean squared error. An allocating convenience over [`Predictor`] (its
    /// result and a predictor, with its packed copy of the weights, are made per call: for many
    /// calls, build one [`Predictor`]): a sample's outputs are the same bits as
    /// in any batch and as [`Predictor::predict_one`], one sample alone included. They agree with
    /// [`Network::forward_into`] (faer's GEMM, the training pass) within rounding, not bit for bit:
    /// the predictor sums each pre-activation in F1's order (`nn_linalg::packed`).
    ///
    /// # Errors
    /// [`Error::InputRows`]; [`Error::InvalidHyperparameter`] if the result, or a layer's
    /// buffers for a chunk (up to 1024 samples), would have more than
    /// [`MAX_LAYER_PARAMS`](crate::MAX_LAYER_PARAMS) values.
    pub fn predict_proba(&self, x: MatRef<'_, T>) -> Result<Mat<T>, Error> {
        if x.nrows() != self.n_inputs() {
            return Err(Error::InputRows { expected: self.n_inputs(), found: x.nrows() });
        }
        let n = x.ncols();
        check_buffer_size(self.n_outputs(), n)?;
        let mut out = Mat::zeros(self.n_outputs(), n);
        Predictor::new(self, n.clamp(1, PREDICT_CHUNK))?.predict_proba_into(x, out.as_mut())?;
        Ok(out)
    }

    /// The predicted class of every sample: the arg-max of `h_Θ(x)` (the first one on ties), or,
    /// for a single-output sigmoid network, 1 where `h_Θ(x) ≥ 0.5`. An allocating convenience
    /// over [`Predictor::predict_into`], with the bits of [`Network::predict_proba`].
    ///
    /// # Errors
    /// [`Error::InputRows`]; [`Error::InvalidHyperparameter`] if a layer's buffers for a chunk
    /// (up to 1024 samples) would have more than [`MAX_LAYER_PARAMS`](crate::MAX_LAYER_PARAMS)
    /// values.
    pub fn predict(&self, x: MatRef<'_, T>) -> Result<Vec<usize>, Error> {
        if x.nrows() != self.n_inputs() {
            return Err(Error::InputRows { expected: self.n_inputs(), found: x.nrows() });
        }
        let mut classes = vec![0; x.ncols()];
        Predictor::new(self, x.ncols().clamp(1, PREDICT_CHUNK))?.predict_into(x, &mut classes)?;
        Ok(classes)
    }
}

/// Checks that a buffer of `rows × cols` values stays within
/// [`MAX_LAYER_PARAMS`](crate::MAX_LAYER_PARAMS) (so its size cannot overflow).
pub(crate) fn check_buffer_size(rows: usize, cols: usize) -> Result<(), Error> {
    match rows.checked_mul(cols) {
        Some(n) if n <= crate::MAX_LAYER_PARAMS => Ok(()),
        _ => Err(Error::InvalidHyperparameter {
            name: "buffer size (outputs × samples)",
            value: rows as f64 * cols as f64,
            expected: "at most MAX_LAYER_PARAMS values per buffer",
        }),
    }
}

/// A forward pass of a batch, held in its workspace: the network's output, the loss, and the only
/// way to run the backward pass of this batch.
///
/// It borrows the network, the input batch and the workspace until it is dropped or consumed by
/// [`ForwardPass::backward_into`], so the backward pass always sees the parameters, the input and
/// the activations of its own forward pass: changing the parameters in between, or handing the
/// backward pass another batch, does not compile.
///
/// ```
/// use nn_core::rng::{ChaCha8Rng, SeedableRng};
/// use nn_core::{Activation, Gradients, Loss, Network, Targets, Workspace};
/// use nn_linalg::Mat;
///
/// let net: Network<f64> = Network::builder(2, Loss::MeanSquaredError)
///     .layer(3, Activation::Tanh)
///     .layer(1, Activation::Identity)
///     .build(&mut ChaCha8Rng::seed_from_u64(0))?;
/// let x = Mat::<f64>::from_fn(2, 4, |i, j| (i + j) as f64);
/// let y = Mat::<f64>::from_fn(1, 4, |_, j| j as f64);
/// let mut ws = Workspace::for_network(&net, 4)?;
/// let mut grads = Gradients::zeros_like(&net);
/// let pass = net.forward_into(x.as_ref(), &mut ws)?;   // F1–F3
/// assert_eq!(pass.output().ncols(), 4);                // h_Θ(x), a view into `ws`
/// let j = pass.loss(Targets::Matrix(y.as_ref()))?;
/// let j_again = pass.backward_into(Targets::Matrix(y.as_ref()), &mut grads)?; // B1–B3
/// assert_eq!(j, j_again);
/// # Ok::<(), nn_core::Error>(())
/// ```
///
/// Changing the parameters between the two passes is refused by the compiler:
/// ```compile_fail,E0502
/// # use nn_core::rng::{ChaCha8Rng, SeedableRng};
/// # use nn_core::{Activation, Gradients, Loss, Network, Targets, Workspace};
/// # use nn_linalg::Mat;
/// # let mut net: Network<f64> = Network::builder(2, Loss::SoftmaxCrossEntropy)
/// #     .layer(2, Activation::Identity)
/// #     .build(&mut ChaCha8Rng::seed_from_u64(0)).unwrap();
/// # let x = Mat::<f64>::zeros(2, 4);
/// # let mut ws = Workspace::for_network(&net, 4).unwrap();
/// # let mut grads = Gradients::zeros_like(&net);
/// let pass = net.forward_into(x.as_ref(), &mut ws).unwrap();
/// net.layers_mut()[0].theta_mut()[(0, 0)] = 1.0; // error: `net` is borrowed by the pass
/// pass.backward_into(Targets::Classes(&[0, 1, 0, 1]), &mut grads).unwrap();
/// ```
/// and so is changing the input batch while the pass holds it:
/// ```compile_fail,E0502
/// # use nn_core::rng::{ChaCha8Rng, SeedableRng};
/// # use nn_core::{Activation, Gradients, Loss, Network, Targets, Workspace};
/// # use nn_linalg::Mat;
/// # let net: Network<f64> = Network::builder(2, Loss::SoftmaxCrossEntropy)
/// #     .layer(2, Activation::Identity)
/// #     .build(&mut ChaCha8Rng::seed_from_u64(0)).unwrap();
/// # let mut x = Mat::<f64>::zeros(2, 4);
/// # let mut ws = Workspace::for_network(&net, 4).unwrap();
/// # let mut grads = Gradients::zeros_like(&net);
/// let pass = net.forward_into(x.as_ref(), &mut ws).unwrap();
/// x[(0, 0)] = 1.0; // error: `x` is borrowed by the pass
/// pass.backward_into(Targets::Classes(&[0, 1, 0, 1]), &mut grads).unwrap();
/// ```
#[derive(Debug)]
#[must_use = "a forward pass does nothing unless its output is read or its backward pass run"]
pub struct ForwardPass<'a, T: Float> {
    net: &'a Network<T>,
    x: MatRef<'a, T>,
    ws: &'a mut Workspace<T>,
}

impl<'a, T: Float> ForwardPass<'a, T> {
    /// The network's output `h_Θ(x) = a^(L)`, n_outputs × B: class probabilities for the
    /// cross-entropies, the last layer's activations for mean squared error.
    #[must_use]
    pub fn output(&self) -> MatRef<'_, T> {
        let last = self.net.layers.len() - 1;
        self.ws.a[last].as_ref().subcols(0, self.ws.batch)
    }

    /// The output, keeping the workspace borrowed for as long as the view lives (ends the pass).
    #[must_use]
    pub fn into_output(self) -> MatRef<'a, T> {
        let last = self.net.layers.len() - 1;
        let b = self.ws.batch;
        let ws: &'a Workspace<T> = self.ws;
        ws.a[last].as_ref().subcols(0, b)
    }

    /// The number of samples B.
    #[must_use]
    pub fn batch_size(&self) -> usize {
        self.x.ncols()
    }

    /// The workspace, with every layer's `z` and `a` of this pass.
    #[must_use]
    pub fn workspace(&self) -> &Workspace<T> {
        self.ws
    }

    /// `J`: the mean loss over the batch, plus R1.
    ///
    /// # Errors
    /// The target errors of [`Targets`] for a batch of B samples: [`Error::TargetShape`],
    /// [`Error::LabelCount`], [`Error::LabelOutOfRange`], [`Error::NonFiniteTarget`].
    pub fn loss(&self, targets: Targets<'_, T>) -> Result<T, Error> {
        let b = self.batch_size();
        let total = self.net.data_loss_sum_impl(targets, self.ws)?;
        Ok(T::from_f64(total / b as f64 + self.net.l2_penalty(b)))
    }

    /// The sum of the samples' losses, without R1, in f64 (for evaluation over many batches:
    /// divide the total by the number of samples).
    ///
    /// # Errors
    /// As [`ForwardPass::loss`].
    pub fn data_loss_sum(&self, targets: Targets<'_, T>) -> Result<f64, Error> {
        self.net.data_loss_sum_impl(targets, self.ws)
    }

    /// Backward propagation of this batch: writes `∂J/∂Θ` of every layer into `grads` and returns
    /// `J` (mean loss over the batch, plus R1). With dropout, the masks of the forward pass apply.
    ///
    /// # Math
    /// ```text
    /// (L1–L3) δ^(L) = (1/B) ∂loss/∂z^(L)        (see Loss: a − y for the fused cross-entropies)
    /// (B3)    ∂J/∂Θ^(l) = δ^(l+1) · [1; a^(l)]ᵀ  column 0 = δ^(l+1)·1, columns 1.. = δ^(l+1) a^(l)ᵀ
    /// (B2)    δ^(l) = (W^(l))ᵀ δ^(l+1) ⊙ g'(z^(l))   (the bias column does not propagate)
    /// (R1)    ∂J/∂Θ^(l) += (λ/B) Θ^(l) with column 0 set to 0
    /// ```
    /// The 1/B of the batch mean is folded into `δ^(L)` once, so every δ is exactly `∂J/∂z` (B1).
    /// Allocation: none.
    ///
    /// # Shapes
    /// targets: B samples (n_outputs × B for [`Targets::Matrix`]).
    ///
    /// # Errors
    /// [`Error::WorkspaceMismatch`] if `grads` was built for another network, and the target
    /// errors of [`ForwardPass::loss`].
    pub fn backward_into(
        self,
        targets: Targets<'_, T>,
        grads: &mut Gradients<T>,
    ) -> Result<T, Error> {
        let b = self.batch_size();
        let data = self.net.backward_impl(self.x, targets, self.ws, grads, b)?;
        let penalty = self.net.add_l2_into(grads, b)?;
        Ok(data + penalty)
    }

    /// Backward propagation of this batch as one shard of a larger batch of `full_batch` samples:
    /// writes the shard's share of the data term's gradient,
    /// `(1/full_batch) Σ_{k ∈ shard} ∂loss_k/∂Θ`, and returns `(1/full_batch) Σ_{k ∈ shard} loss_k`.
    /// R1 is not included: add it once for the whole batch with [`Network::add_l2_into`]. The sum
    /// over the shards equals [`ForwardPass::backward_into`] on the whole batch, up to rounding.
    ///
    /// # Errors
    /// Those of [`ForwardPass::backward_into`], and [`Error::BatchSize`] if `full_batch` is
    /// smaller than this shard.
    pub fn backward_shard_into(
        self,
        targets: Targets<'_, T>,
        grads: &mut Gradients<T>,
        full_batch: usize,
    ) -> Result<T, Error> {
        self.net.backward_impl(self.x, targets, self.ws, grads, full_batch)
    }
}

/// `Σ v²` in f64, with eight running sums: one running sum is a chain of dependent additions
/// (about four cycles per value), which made R1's value cost as much as a layer's GEMM on W1's
/// network; eight independent ones vectorize.
fn sum_of_squares<T: Float>(values: &[T]) -> f64 {
    let mut lanes = [0.0f64; 8];
    let mut chunks = values.chunks_exact(8);
    for chunk in &mut chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            let v = v.to_f64();
            *lane += v * v;
        }
    }
    let tail: f64 = chunks.remainder().iter().map(|&v| v.to_f64() * v.to_f64()).sum();
    lanes.iter().sum::<f64>() + tail
}

/// The index of the largest value (the first on ties; NaN never wins).
pub fn argmax<T: Float>(values: &[T]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] || (values[best].is_nan() && !v.is_nan()) {
            best = i;
        }
    }
    best
}

/// Builds a [`Network`] layer by layer: sizes, activations, initialisation, penalties.
///
/// ```
/// use nn_core::{Activation, Init, Loss, Network};
/// use nn_core::rng::{ChaCha8Rng, SeedableRng};
///
/// let net: Network<f32> = Network::builder(784, Loss::SoftmaxCrossEntropy)
///     .layer(256, Activation::Relu)
///     .layer(128, Activation::Relu)
///     .layer(10, Activation::Identity)
///     .init(Init::HeUniform)
///     .build(&mut ChaCha8Rng::seed_from_u64(0))?;
/// assert_eq!(net.sizes(), [784, 256, 128, 10]);
/// # Ok::<(), nn_core::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct NetworkBuilder<T: Float> {
    float: PhantomData<T>,
    n_inputs: usize,
    loss: Loss,
    layers: Vec<(usize, Activation)>,
    init: Option<Init>,
    l2: f64,
    class_weights: Option<Vec<f64>>,
    mse_scale: MseScale,
}

impl<T: Float> NetworkBuilder<T> {
    /// Appends a layer of `n_outputs` units with activation `g`.
    #[must_use]
    pub fn layer(mut self, n_outputs: usize, activation: Activation) -> Self {
        self.layers.push((n_outputs, activation));
        self
    }

    /// The initialisation of every layer's weights. Default: [`Init::recommended_for`] each
    /// layer's activation (the output layer: that of the layer before it).
    #[must_use]
    pub fn init(mut self, init: Init) -> Self {
        self.init = Some(init);
        self
    }

    /// λ of the L2 penalty R1 (see [`Network::with_l2`]).
    #[must_use]
    pub fn l2(mut self, lambda: f64) -> Self {
        self.l2 = lambda;
        self
    }

    /// Per-class weights of the cross-entropy (see [`Network::with_class_weights`]).
    #[must_use]
    pub fn class_weights(mut self, weights: Vec<f64>) -> Self {
        self.class_weights = Some(weights);
        self
    }

    /// The scale of the mean squared error (see [`Network::with_mse_scale`]).
    #[must_use]
    pub fn mse_scale(mut self, scale: MseScale) -> Self {
        self.mse_scale = scale;
        self
    }

    /// Draws the weights from `rng`, layer after layer, and checks everything.
    ///
    /// # Errors
    /// Those of [`Dense::new`] (naming the layer), [`Network::new`], [`Network::with_l2`],
    /// [`Network::with_class_weights`] and [`Network::with_mse_scale`].
    pub fn build(self, rng: &mut impl RngCore) -> Result<Network<T>, Error> {
        let mut layers = Vec::with_capacity(self.layers.len());
        let mut n_inputs = self.n_inputs;
        let mut prev_act = None;
        for (layer_idx, &(n_outputs, act)) in self.layers.iter().enumerate() {
            let init = self.init.unwrap_or_else(|| {
                let reference =
                    if act == Activation::Identity { prev_act.unwrap_or(act) } else { act };
                Init::recommended_for(reference)
            });
            let layer = Dense::new(n_inputs, n_outputs, act, init, rng)
                .map_err(|e| e.at_layer(layer_idx))?;
            layers.push(layer);
            n_inputs = n_outputs;
            prev_act = Some(act);
        }
        let mut net =
            Network::new(layers, self.loss)?.with_l2(self.l2)?.with_mse_scale(self.mse_scale)?;
        if let Some(w) = self.class_weights {
            net = net.with_class_weights(w.into_iter().map(T::from_f64).collect())?;
        }
        Ok(net)
    }
}

#[cfg(test)]
mod tests {
    use super::sum_of_squares;

    #[test]
    #[expect(clippy::float_cmp, reason = "sums of squared small integers are exact")]
    fn sum_of_squares_is_exact_on_integers_and_close_to_the_naive_sum() {
        // Every length around the eight lanes, on values whose squares sum exactly in f64.
        for n in 0..40 {
            let v: Vec<f32> = (0..n).map(|i| i as f32 - 7.0).collect();
            let naive: f64 = v.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
            assert_eq!(sum_of_squares(&v), naive, "length {n}");
        }
        let v: Vec<f64> = (0..1001).map(|i| (f64::from(i) * 0.37).sin() * 1e-3).collect();
        let naive: f64 = v.iter().map(|x| x * x).sum();
        assert!((sum_of_squares(&v) - naive).abs() <= 1e-15 * naive);
    }
}
