//! Batched inference without allocation: [`Predictor`].

use nn_linalg::packed::PackedTheta;
use nn_linalg::{Float, Mat, MatMut, MatRef, Shape, ShapeError, cols};

use crate::loss::output_column;
use crate::network::check_buffer_size;
use crate::{Error, MAX_BATCH, Network};

/// Runs a trained network forward on any number of samples, without allocating after it is
/// built: the class probabilities (or outputs) of every sample, or its predicted class.
///
/// Inputs are cut into chunks of `chunk` samples (columns) from the first one on; each chunk is
/// one forward pass (F1–F3) on buffers allocated once. With the `rayon` feature,
/// `Predictor::with_threads` gives each of `n` threads its own buffers and a contiguous run of the
/// chunks, in the rayon pool the call runs in.
///
/// The pre-activations come from `nn_linalg`'s inference product ([`PackedTheta`]), not from
/// the faer GEMM of [`Network::forward_into`]: [`Predictor::new`] packs every layer's Θ once
/// into panels the micro-kernels stream in order. **Memory:** the predictor owns that packed
/// copy, one extra copy of the weights (for the 784-256-128-10 network, 0.95 MB in f32).
///
/// **Determinism:** a sample's outputs are the same bits whatever the thread count, the chunk size
/// and the number of samples predicted together, and the same bits at every SIMD level (AVX-512,
/// AVX2 + FMA, NEON, portable): each pre-activation is F1's sum term by term in the order of k,
/// one fused multiply-add per term (`nn_linalg::packed`; on a CPU without FMA, x86-64 before
/// AVX2 or wasm32, the product and the sum are rounded apart: still the same bits for any batch
/// there, not a FMA CPU's), and the element-wise kernels compute
/// each value independently of its neighbours (`nn_linalg::vmath`, whose f32 activations and
/// softmax may round differently on another level, within their documented errors). Tested with
/// 1 to 4 threads and chunks of 1 to 1000 samples. These are not the bits of
/// [`Network::forward_into`] (faer's blocked GEMM sums in another order, and training keeps it):
/// the two agree within rounding.
///
/// ```
/// use nn_core::rng::{ChaCha8Rng, SeedableRng};
/// use nn_core::{Activation, Loss, Network, Predictor};
/// use nn_linalg::Mat;
///
/// let net: Network<f32> = Network::builder(4, Loss::SoftmaxCrossEntropy)
///     .layer(8, Activation::Relu)
///     .layer(3, Activation::Identity)
///     .build(&mut ChaCha8Rng::seed_from_u64(0))?;
/// let mut predictor = Predictor::new(&net, 256)?; // allocates once
/// let x = Mat::<f32>::from_fn(4, 1000, |i, j| ((i + j) % 5) as f32); // 1000 samples as columns
/// let mut classes = vec![0; 1000];
/// predictor.predict_into(x.as_ref(), &mut classes)?; // no allocation
/// let p = predictor.predict_one(&[0.5, 1.0, 0.0, 2.0])?; // one sample: the probabilities
/// assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
/// # Ok::<(), nn_core::Error>(())
/// ```
#[derive(Debug)]
pub struct Predictor<'net, T: Float> {
    net: &'net Network<T>,
    /// Each layer's Θ packed for the inference product (one extra copy of the weights).
    packed: Vec<PackedTheta<T>>,
    chunk: usize,
    parts: Vec<Part<T>>,
}

/// The buffers of one thread: each layer's z and a for one chunk.
#[derive(Debug)]
struct Part<T: Float> {
    z: Vec<Mat<T>>,
    a: Vec<Mat<T>>,
}

impl<T: Float> Part<T> {
    fn new(net: &Network<T>, chunk: usize) -> Result<Self, Error> {
        let sizes = net.sizes();
        for &n in &sizes[1..] {
            check_buffer_size(n, chunk)?;
        }
        let bufs = || sizes[1..].iter().map(|&n| Mat::zeros(n, chunk)).collect();
        Ok(Part { z: bufs(), a: bufs() })
    }

    /// Forward propagation (F1–F3) of the samples of `x` (at most one chunk); returns their
    /// outputs, a view into the buffers.
    fn forward<'w>(
        &'w mut self,
        net: &Network<T>,
        packed: &[PackedTheta<T>],
        x: MatRef<'_, T>,
    ) -> Result<MatRef<'w, T>, Error> {
        let b = x.ncols();
        let last = net.layers().len() - 1;
        let loss = net.loss_kind();
        for (l, (layer, theta)) in net.layers().iter().zip(packed).enumerate() {
            let (done, rest) = self.a.split_at_mut(l);
            let a_prev = if l == 0 { x } else { done[l - 1].as_ref().subcols(0, b) };
            let z = &mut self.z[l];
            let a = &mut rest[0];
            // (F2) z = Θ·[1; a], each value summed in F1's order with one FMA per term.
            theta.product_into(a_prev, z.as_mut().subcols_mut(0, b))?;
            if l == last && loss.fuses_output() {
                // (F3) at the output of L2/L3: softmax or sigmoid.
                for k in 0..b {
                    output_column(loss, z.col_as_slice(k), a.col_as_slice_mut(k));
                }
            } else {
                // (F3) a = g(z).
                let act = layer.activation();
                for k in 0..b {
                    act.forward_slice(z.col_as_slice(k), a.col_as_slice_mut(k));
                }
            }
        }
        Ok(self.a[last].as_ref().subcols(0, b))
    }

    /// Every chunk of `x` in order; `sink(start, outputs)` receives each chunk's outputs.
    fn run(
        &mut self,
        net: &Network<T>,
        packed: &[PackedTheta<T>],
        chunk: usize,
        x: MatRef<'_, T>,
        mut sink: impl FnMut(usize, MatRef<'_, T>),
    ) -> Result<(), Error> {
        let n = x.ncols();
        let mut start = 0;
        while start < n {
            let b = chunk.min(n - start);
            let out = self.forward(net, packed, x.subcols(start, b))?;
            sink(start, out);
            start += b;
        }
        Ok(())
    }
}

/// Where the results of a batch go.
enum Sink<'a, T> {
    Proba(MatMut<'a, T>),
    Classes(&'a mut [usize]),
}

impl<T: Float> Sink<'_, T> {
    fn len(&self) -> usize {
        match self {
            Sink::Proba(m) => m.ncols(),
            Sink::Classes(c) => c.len(),
        }
    }

    /// Splits off the results of the first `at` samples.
    #[cfg(feature = "rayon")]
    fn split_at(self, at: usize) -> (Self, Self) {
        match self {
            Sink::Proba(m) => {
                let (left, right) = m.split_at_col_mut(at);
                (Sink::Proba(left), Sink::Proba(right))
            }
            Sink::Classes(c) => {
                let (left, right) = c.split_at_mut(at);
                (Sink::Classes(left), Sink::Classes(right))
            }
        }
    }
}

impl<'net, T: Float> Predictor<'net, T> {
    /// A predictor for `net` that runs up to `chunk` samples per forward pass (larger inputs are
    /// cut into chunks). Allocates the packed copy of every layer's Θ and each layer's z and a for
    /// `chunk` columns; nothing after.
    ///
    /// # Errors
    /// [`Error::BatchSize`] if `chunk` is 0 or above [`MAX_BATCH`];
    /// [`Error::InvalidHyperparameter`] if a layer's buffers (units × `chunk`) would hold more
    /// than [`MAX_LAYER_PARAMS`](crate::MAX_LAYER_PARAMS) values.
    pub fn new(net: &'net Network<T>, chunk: usize) -> Result<Self, Error> {
        if chunk == 0 || chunk > MAX_BATCH {
            return Err(Error::BatchSize { max: MAX_BATCH, found: chunk });
        }
        let packed = net
            .layers()
            .iter()
            .map(|layer| PackedTheta::new(layer.theta()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Predictor { net, packed, chunk, parts: vec![Part::new(net, chunk)?] })
    }

    /// The same predictor running on `n_threads` threads of the rayon pool the calls run in
    /// (the global pool outside any), each with its own buffers (allocated here; the packed Θ is
    /// shared) and a contiguous run of the chunks; the matrix products stay sequential. The
    /// results are the same bits as with one thread.
    ///
    /// # Errors
    /// [`Error::InvalidHyperparameter`] for 0 threads.
    #[cfg(feature = "rayon")]
    pub fn with_threads(mut self, n_threads: usize) -> Result<Self, Error> {
        if n_threads == 0 {
            return Err(Error::InvalidHyperparameter {
                name: "n_threads",
                value: 0.0,
                expected: "at least 1",
            });
        }
        self.parts.truncate(n_threads);
        while self.parts.len() < n_threads {
            self.parts.push(Part::new(self.net, self.chunk)?);
        }
        Ok(self)
    }

    /// The network.
    #[must_use]
    pub fn network(&self) -> &'net Network<T> {
        self.net
    }

    /// Samples per forward pass.
    #[must_use]
    pub fn chunk(&self) -> usize {
        self.chunk
    }

    /// The number of threads (sets of buffers).
    #[must_use]
    pub fn n_threads(&self) -> usize {
        self.parts.len()
    }

    fn check_input(&self, x: MatRef<'_, T>) -> Result<(), Error> {
        if x.nrows() == self.net.n_inputs() {
            Ok(())
        } else {
            Err(Error::InputRows { expected: self.net.n_inputs(), found: x.nrows() })
        }
    }

    /// `h_Θ(x)` for every sample (column) of `x` into `out`: class probabilities for the
    /// cross-entropies, the outputs for mean squared error (F1–F3, the loss's output function
    /// included). Allocation: none.
    ///
    /// # Shapes
    /// `x`: n_inputs × N (any N, 0 included), `out`: n_outputs × N.
    ///
    /// # Errors
    /// [`Error::InputRows`]; [`Error::Shape`] if `out` is not n_outputs × N.
    pub fn predict_proba_into(
        &mut self,
        x: MatRef<'_, T>,
        out: MatMut<'_, T>,
    ) -> Result<(), Error> {
        self.check_input(x)?;
        let expected = Shape { rows: self.net.n_outputs(), cols: x.ncols() };
        let found = Shape::of(out.as_ref());
        if found != expected {
            return Err(Error::Shape(ShapeError {
                op: "Predictor::predict_proba_into",
                operand: "out",
                expected,
                found,
            }));
        }
        self.run(x, Sink::Proba(out))
    }

    /// The predicted class of every sample of `x` into `classes` (see [`Network::class_of`]: the
    /// arg-max of the probabilities, or for a single-output sigmoid network 1 where it is
    /// ≥ 0.5). Allocation: none.
    ///
    /// # Errors
    /// [`Error::InputRows`]; [`Error::LabelCount`] if `classes` has not one entry per sample.
    pub fn predict_into(&mut self, x: MatRef<'_, T>, classes: &mut [usize]) -> Result<(), Error> {
        self.check_input(x)?;
        if classes.len() != x.ncols() {
            return Err(Error::LabelCount { expected: x.ncols(), found: classes.len() });
        }
        self.run(x, Sink::Classes(classes))
    }

    /// The batch-1 fast path: `h_Θ(x)` of one sample given as a slice of its n_inputs features,
    /// returned as a view of the predictor's buffer (valid until the next call). The same bits as
    /// the same sample in a batch. Allocation: none.
    ///
    /// # Errors
    /// [`Error::InputRows`] if `x` has not n_inputs values.
    pub fn predict_one(&mut self, x: &[T]) -> Result<&[T], Error> {
        let n_inputs = self.net.n_inputs();
        if x.len() != n_inputs {
            return Err(Error::InputRows { expected: n_inputs, found: x.len() });
        }
        let x = MatRef::from_column_major_slice(x, n_inputs, 1);
        let Some(part) = self.parts.first_mut() else { return Ok(&[]) };
        let out = part.forward(self.net, &self.packed, x)?;
        Ok(cols(out).and_then(|mut c| c.next()).unwrap_or(&[]))
    }

    /// The predicted class of one sample (see [`Predictor::predict_one`]). Allocation: none.
    ///
    /// # Errors
    /// [`Error::InputRows`] if `x` has not n_inputs values.
    pub fn classify_one(&mut self, x: &[T]) -> Result<usize, Error> {
        let net = self.net;
        let out = self.predict_one(x)?;
        Ok(net.class_of(out))
    }

    /// Runs every chunk of `x`, the parts taking contiguous runs of chunks.
    fn run(&mut self, x: MatRef<'_, T>, sink: Sink<'_, T>) -> Result<(), Error> {
        let n_chunks = x.ncols().div_ceil(self.chunk);
        let n_parts = self.parts.len().min(n_chunks).max(1);
        let net = (self.net, self.packed.as_slice());
        run_parts(net, self.chunk, &mut self.parts[..n_parts], x, 0, n_chunks, sink)
    }
}

/// Chunks `first..first + n_chunks` of `x` (whose results go to `sink`) on `parts`, split in
/// halves (parts and chunks alike) with `rayon::join` when there are several parts.
fn run_parts<T: Float>(
    net: (&Network<T>, &[PackedTheta<T>]),
    chunk: usize,
    parts: &mut [Part<T>],
    x: MatRef<'_, T>,
    first: usize,
    n_chunks: usize,
    sink: Sink<'_, T>,
) -> Result<(), Error> {
    let start = first * chunk;
    let n = sink.len();
    #[cfg(not(feature = "rayon"))]
    let _ = n_chunks;
    #[cfg(feature = "rayon")]
    if parts.len() > 1 {
        let (left_parts, right_parts) = parts.split_at_mut(parts.len() / 2);
        // Chunks shared in proportion to the parts, so every part gets ⌊or⌉ the same number.
        let left_chunks = n_chunks * left_parts.len() / (left_parts.len() + right_parts.len());
        let left_n = (left_chunks * chunk).min(n);
        let (left_sink, right_sink) = sink.split_at(left_n);
        let (a, b) = rayon::join(
            || run_parts(net, chunk, left_parts, x, first, left_chunks, left_sink),
            || {
                let right = n_chunks - left_chunks;
                run_parts(net, chunk, right_parts, x, first + left_chunks, right, right_sink)
            },
        );
        return a.and(b);
    }
    let Some(part) = parts.first_mut() else { return Ok(()) };
    let x = x.subcols(start, n);
    let (net, packed) = net;
    match sink {
        Sink::Proba(mut out) => part.run(net, packed, chunk, x, |s, probs| {
            out.as_mut().subcols_mut(s, probs.ncols()).copy_from(probs);
        }),
        Sink::Classes(classes) => part.run(net, packed, chunk, x, |s, probs| {
            for (c, col) in classes[s..].iter_mut().zip(cols(probs).into_iter().flatten()) {
                *c = net.class_of(col);
            }
        }),
    }
}
