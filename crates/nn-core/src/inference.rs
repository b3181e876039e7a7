//! Batched inference without allocation: [`Predictor`].

use nn_linalg::{ColRef, Float, Mat, MatMut, MatRef, Shape, ShapeError, cols};

use crate::{Error, MAX_BATCH, Network, Workspace};

/// Runs a trained network forward on any number of samples, without allocating after it is
/// built: the class probabilities (or outputs) of every sample, or its predicted class.
///
/// Inputs are cut into chunks of `chunk` samples (columns) from the first one on; each chunk is
/// one forward pass (F1–F3) on a workspace built once. With the `rayon` feature,
/// `Predictor::with_threads` gives each of `n` threads its own workspace and a contiguous run
/// of the chunks, in the rayon pool the call runs in.
///
/// **Determinism:** a sample's outputs are the same bits whatever the thread count, the chunk size
/// and the number of samples predicted together. Every matrix product runs sequentially on at
/// least two columns (a single sample is padded with a zero column: faer's matrix-vector path
/// rounds differently from its matrix-matrix one, and is slower here), and the element-wise
/// kernels compute each value independently of its neighbours (`nn_linalg::vmath`). Tested with
/// 1 to 4 threads and chunks of 1 to 1000 samples.
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
    chunk: usize,
    parts: Vec<Part<T>>,
}

/// The buffers of one thread: a workspace for one chunk and a two-column input for one sample.
#[derive(Debug)]
struct Part<T: Float> {
    ws: Workspace<T>,
    /// Column 0: the single sample being predicted; column 1: zeros, never written.
    single: Mat<T>,
}

impl<T: Float> Part<T> {
    fn new(net: &Network<T>, chunk: usize) -> Result<Self, Error> {
        Ok(Part {
            ws: Workspace::for_network(net, chunk.max(2))?,
            single: Mat::zeros(net.n_inputs(), 2),
        })
    }

    /// Forward propagation of the samples `start..start + b` of `x` (b ≥ 1); returns their
    /// outputs, a view into the workspace.
    fn forward<'w>(
        &'w mut self,
        net: &'w Network<T>,
        x: MatRef<'w, T>,
        start: usize,
        b: usize,
    ) -> Result<MatRef<'w, T>, Error> {
        if b == 1 {
            self.single.as_mut().col_mut(0).copy_from(x.col(start));
            let out = net.forward_into(self.single.as_ref(), &mut self.ws)?.into_output();
            Ok(out.subcols(0, 1))
        } else {
            Ok(net.forward_into(x.subcols(start, b), &mut self.ws)?.into_output())
        }
    }

    /// Every chunk of `x` in order; `sink(start, outputs)` receives each chunk's outputs.
    fn run(
        &mut self,
        net: &Network<T>,
        chunk: usize,
        x: MatRef<'_, T>,
        mut sink: impl FnMut(usize, MatRef<'_, T>),
    ) -> Result<(), Error> {
        let n = x.ncols();
        let mut start = 0;
        while start < n {
            let b = chunk.min(n - start);
            let out = self.forward(net, x, start, b)?;
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
    /// cut into chunks). Allocates one workspace of `max(chunk, 2)` columns; nothing after.
    ///
    /// # Errors
    /// [`Error::BatchSize`] if `chunk` is 0 or above [`MAX_BATCH`].
    pub fn new(net: &'net Network<T>, chunk: usize) -> Result<Self, Error> {
        if chunk == 0 || chunk > MAX_BATCH {
            return Err(Error::BatchSize { max: MAX_BATCH, found: chunk });
        }
        Ok(Predictor { net, chunk, parts: vec![Part::new(net, chunk)?] })
    }

    /// The same predictor running on `n_threads` threads of the rayon pool the calls run in
    /// (the global pool outside any), each with its own workspace (allocated here) and a
    /// contiguous run of the chunks; the matrix products stay sequential. The results are the
    /// same bits as with one thread.
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

    /// The number of threads (workspaces).
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
        let net = self.net;
        let part = &mut self.parts[0];
        part.single.as_mut().col_mut(0).copy_from(ColRef::from_slice(x));
        let out = net.forward_into(part.single.as_ref(), &mut part.ws)?.into_output();
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
        run_parts(self.net, self.chunk, &mut self.parts[..n_parts], x, 0, n_chunks, sink)
    }
}

/// Chunks `first..first + n_chunks` of `x` (whose results go to `sink`) on `parts`, split in
/// halves (parts and chunks alike) with `rayon::join` when there are several parts.
fn run_parts<T: Float>(
    net: &Network<T>,
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
    match sink {
        Sink::Proba(mut out) => part.run(net, chunk, x, |s, probs| {
            out.as_mut().subcols_mut(s, probs.ncols()).copy_from(probs);
        }),
        Sink::Classes(classes) => part.run(net, chunk, x, |s, probs| {
            for (c, col) in classes[s..].iter_mut().zip(cols(probs).into_iter().flatten()) {
                *c = net.class_of(col);
            }
        }),
    }
}
