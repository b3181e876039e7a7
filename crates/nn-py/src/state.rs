//! A network and its training state, for one float type: what an estimator holds between calls.
//!
//! The epoch loop lives here rather than in `Trainer::fit`, because scikit-learn's estimators
//! need what `fit` does not offer: training on numpy's buffer as it is (a borrowed view, while a
//! `Dataset` owns its inputs), on a subset of the samples (the rest is the validation set of
//! `early_stopping`), one epoch per call (the Python side applies scikit-learn's stopping rules
//! between epochs), and a check for Ctrl-C between batches. Each step is `Trainer::step`, and
//! `Trainer::end_epoch` advances epoch schedules, so the arithmetic is the trainer's.

use std::time::{Duration, Instant};

use nn_core::rng::{ChaCha8Rng, SeedableRng, shuffle};
use nn_core::{Activation, Dense, Loss, Network, Predictor, Targets};
use nn_io::{Checkpoint, ModelMetadata, StoredFloat};
use nn_linalg::{Mat, MatMut};

use crate::array::Samples;
use nn_train::{RngState, TrainConfig, Trainer};

use crate::error::Failure;

/// How often training looks for Ctrl-C (with the GIL, between two batches).
pub(crate) const INTERRUPT_CHECK: Duration = Duration::from_millis(50);

/// The most samples per forward pass of `predict` (each thread has a workspace for its chunk).
const PREDICT_CHUNK: usize = 512;

/// Fewer samples than this per thread are not worth a thread in `predict`.
const PREDICT_MIN_PER_THREAD: usize = 256;

/// The key of the shuffling generator's state in a model's metadata.
const RNG_KEY: &str = "nnrs.shuffle_rng";

/// The output layer: which loss the network is trained with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Output {
    /// Softmax + cross-entropy (L2): multi-class classification.
    Softmax,
    /// Sigmoid + binary cross-entropy (L3): binary (one output) or multi-label classification.
    Sigmoid,
    /// Identity + squared error (L1): regression.
    Identity,
}

impl Output {
    pub(crate) fn from_name(name: &str) -> Result<Self, Failure> {
        match name {
            "softmax" => Ok(Output::Softmax),
            "logistic" => Ok(Output::Sigmoid),
            "identity" => Ok(Output::Identity),
            _ => Err(Failure::Value(format!(
                "unknown output {name:?}: expected softmax, logistic or identity"
            ))),
        }
    }

    /// scikit-learn's name for it (`out_activation_`).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Output::Softmax => "softmax",
            Output::Sigmoid => "logistic",
            Output::Identity => "identity",
        }
    }

    fn loss(self) -> Loss {
        match self {
            Output::Softmax => Loss::SoftmaxCrossEntropy,
            Output::Sigmoid => Loss::SigmoidBinaryCrossEntropy,
            Output::Identity => Loss::MeanSquaredError,
        }
    }

    fn of(loss: Loss) -> Self {
        match loss {
            Loss::SoftmaxCrossEntropy => Output::Softmax,
            Loss::SigmoidBinaryCrossEntropy => Output::Sigmoid,
            Loss::MeanSquaredError => Output::Identity,
        }
    }
}

/// The shape of a network to build.
pub(crate) struct Architecture {
    pub(crate) n_inputs: usize,
    pub(crate) hidden: Vec<usize>,
    pub(crate) activation: Activation,
    pub(crate) n_outputs: usize,
    pub(crate) output: Output,
    /// λ of the L2 penalty R1 (scikit-learn's `alpha`).
    pub(crate) l2: f64,
}

/// What the samples are trained to output.
#[derive(Clone, Copy)]
pub(crate) enum TargetValues<'a, T> {
    /// A class index per sample (softmax, or a single sigmoid output).
    Labels(&'a [i64]),
    /// A target vector per sample (regression, multi-label).
    Rows(Samples<'a, T>),
}

impl<T: StoredFloat> TargetValues<'_, T> {
    fn n_samples(&self) -> usize {
        match self {
            TargetValues::Labels(l) => l.len(),
            TargetValues::Rows(r) => r.n_samples(),
        }
    }
}

/// How one epoch runs.
#[derive(Clone, Copy)]
pub(crate) struct Epoch<'a> {
    /// The samples to train on (all of them if `None`).
    pub(crate) indices: Option<&'a [i64]>,
    /// Samples per batch (at most the number of samples).
    pub(crate) batch_size: usize,
    /// Whether to shuffle the samples first.
    pub(crate) shuffle: bool,
    /// Threads of the trainer's pool (the results do not depend on it).
    pub(crate) n_threads: usize,
}

/// How to train: everything `configure` receives, checked by `TrainConfig::validate`.
pub(crate) struct Training {
    pub(crate) optimizer: nn_train::optim::OptimizerConfig,
    pub(crate) learning_rate: f64,
    pub(crate) schedule: nn_train::schedule::Schedule,
    pub(crate) batch_size: usize,
    pub(crate) dropout: Vec<f64>,
    pub(crate) n_threads: usize,
    pub(crate) seed: u64,
    pub(crate) epochs: usize,
}

/// A network, its trainer once training was configured, and reused buffers.
pub(crate) struct State<T: StoredFloat> {
    pub(crate) net: Network<T>,
    trainer: Option<Trainer<T>>,
    /// Shuffles the samples of each epoch.
    rng: ChaCha8Rng,
    /// The parameters kept by [`State::save_best`].
    best: Option<Vec<Vec<T>>>,
    order: Vec<usize>,
    batch_x: Mat<T>,
    batch_y: Mat<T>,
    batch_labels: Vec<usize>,
}

/// The shuffling generator of a seed: a stream of its own, apart from the initialisation's.
fn shuffle_rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed ^ 0x7368_7566_666c_6521)
}

fn encode_rng(rng: &ChaCha8Rng) -> String {
    let s = RngState::of(rng);
    let seed: String = s.seed.iter().map(|b| format!("{b:02x}")).collect();
    format!("{seed}:{}:{}", s.stream, s.word_pos)
}

fn decode_rng(text: &str) -> Result<ChaCha8Rng, Failure> {
    let bad = || Failure::Value(format!("not a valid nnrs model: bad generator state {text:?}"));
    let mut parts = text.split(':');
    let (Some(seed_hex), Some(stream), Some(word_pos), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    if seed_hex.len() != 64 || !seed_hex.is_ascii() {
        return Err(bad());
    }
    let mut seed = [0u8; 32];
    for (i, byte) in seed.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&seed_hex[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    let state = RngState {
        seed,
        stream: stream.parse().map_err(|_| bad())?,
        word_pos: word_pos.parse().map_err(|_| bad())?,
    };
    Ok(state.to_rng())
}

impl<T: StoredFloat> State<T> {
    /// A new network with seeded initial weights (biases 0), not configured for training.
    pub(crate) fn build(arch: &Architecture, seed: u64) -> Result<Self, Failure> {
        let mut builder = Network::builder(arch.n_inputs, arch.output.loss()).l2(arch.l2);
        for &width in &arch.hidden {
            builder = builder.layer(width, arch.activation);
        }
        let net = builder
            .layer(arch.n_outputs, Activation::Identity)
            .build(&mut ChaCha8Rng::seed_from_u64(seed))?;
        Ok(State::of(net, None, shuffle_rng(seed)))
    }

    fn of(net: Network<T>, trainer: Option<Trainer<T>>, rng: ChaCha8Rng) -> Self {
        State {
            net,
            trainer,
            rng,
            best: None,
            order: Vec::new(),
            batch_x: Mat::zeros(0, 0),
            batch_y: Mat::zeros(0, 0),
            batch_labels: Vec::new(),
        }
    }

    pub(crate) fn output(&self) -> Output {
        Output::of(self.net.loss_kind())
    }

    pub(crate) fn trainer(&self) -> Option<&Trainer<T>> {
        self.trainer.as_ref()
    }

    /// Starts training afresh: a new optimizer (no moments), schedule and shuffling generator.
    pub(crate) fn configure(&mut self, t: Training) -> Result<(), Failure> {
        let mut config = TrainConfig::new(t.batch_size, t.learning_rate, t.optimizer)
            .with_schedule(t.schedule)
            .with_epochs(t.epochs)
            .with_threads(t.n_threads)
            .with_seed(t.seed);
        config.dropout = t.dropout;
        self.trainer = Some(Trainer::new(&self.net, config)?);
        self.rng = shuffle_rng(t.seed);
        Ok(())
    }

    /// The trainer, rebuilt around its state if the batches grew beyond its buffers or the
    /// thread count changed (neither changes the arithmetic).
    fn trainer_for(
        &mut self,
        batch_size: usize,
        n_threads: usize,
    ) -> Result<&mut Trainer<T>, Failure> {
        let Some(trainer) = self.trainer.take() else {
            return Err(Failure::Value("training was not configured".to_owned()));
        };
        let config = trainer.config();
        let trainer = if batch_size > config.batch_size || n_threads != config.n_threads {
            let mut config = config.clone().with_threads(n_threads);
            config.batch_size = config.batch_size.max(batch_size);
            let state = trainer.state();
            Trainer::resume(&self.net, config, state)?
        } else {
            trainer
        };
        Ok(self.trainer.insert(trainer))
    }

    /// One epoch (see [`Epoch`]); `interrupt` is called between batches at most every
    /// [`INTERRUPT_CHECK`] and ends the epoch with its error. Returns the mean of the batches'
    /// losses J (with R1), weighted by their sizes.
    ///
    /// An error (Ctrl-C included) leaves the network as the last complete step left it.
    pub(crate) fn run_epoch(
        &mut self,
        x: Samples<'_, T>,
        y: TargetValues<'_, T>,
        epoch: Epoch<'_>,
        interrupt: &mut dyn FnMut() -> Result<(), Failure>,
    ) -> Result<f64, Failure> {
        let n_all = x.n_samples();
        if y.n_samples() != n_all {
            return Err(Failure::Value(format!(
                "Found input variables with inconsistent numbers of samples: [{n_all}, {}]",
                y.n_samples()
            )));
        }
        if x.n_features != self.net.n_inputs() {
            return Err(Failure::Value(format!(
                "X has {} features, but the network takes {} inputs",
                x.n_features,
                self.net.n_inputs()
            )));
        }
        let n_classes = self.net.loss_kind().n_classes(self.net.n_outputs());
        match y {
            TargetValues::Labels(labels) => {
                if self.output() == Output::Identity {
                    return Err(Failure::Type("a regression network needs target rows".to_owned()));
                }
                if let Some(bad) = labels.iter().find(|&&l| l < 0 || l as u64 >= n_classes as u64) {
                    return Err(Failure::Value(format!(
                        "label {bad} is not a class index below {n_classes}"
                    )));
                }
            }
            TargetValues::Rows(rows) => {
                if rows.n_features != self.net.n_outputs() {
                    return Err(Failure::Value(format!(
                        "targets have {} columns, but the network has {} outputs",
                        rows.n_features,
                        self.net.n_outputs()
                    )));
                }
            }
        }
        let mut order = std::mem::take(&mut self.order);
        order.clear();
        match epoch.indices {
            Some(idx) => {
                for &i in idx {
                    match usize::try_from(i) {
                        Ok(i) if i < n_all => order.push(i),
                        _ => {
                            self.order = order;
                            return Err(Failure::Value(format!(
                                "sample index {i} is out of range for {n_all} samples"
                            )));
                        }
                    }
                }
            }
            None => order.extend(0..n_all),
        }
        let n = order.len();
        if n == 0 {
            self.order = order;
            return Err(Failure::Value("no samples to train on".to_owned()));
        }
        let epoch = Epoch { batch_size: epoch.batch_size.clamp(1, n), ..epoch };
        let result = self.run_batches(x, y, &mut order, epoch, interrupt);
        self.order = order;
        result.map(|sum| sum / n as f64)
    }

    fn run_batches(
        &mut self,
        x: Samples<'_, T>,
        y: TargetValues<'_, T>,
        order: &mut [usize],
        epoch: Epoch<'_>,
        interrupt: &mut dyn FnMut() -> Result<(), Failure>,
    ) -> Result<f64, Failure> {
        let batch_size = epoch.batch_size;
        if epoch.shuffle {
            shuffle(&mut self.rng, order);
        }
        // Batches are the samples as they lie in numpy's buffer when they are taken in order,
        // and gathered into reused buffers otherwise.
        let in_place = epoch.indices.is_none() && !epoch.shuffle;
        let n_features = x.n_features;
        if !in_place && (self.batch_x.nrows() != n_features || self.batch_x.ncols() < batch_size) {
            self.batch_x = Mat::zeros(n_features, batch_size);
        }
        if let TargetValues::Rows(rows) = y
            && !in_place
            && (self.batch_y.nrows() != rows.n_features || self.batch_y.ncols() < batch_size)
        {
            self.batch_y = Mat::zeros(rows.n_features, batch_size);
        }
        self.batch_labels.resize(batch_size, 0);
        self.trainer_for(batch_size, epoch.n_threads)?;
        let State { net, trainer, batch_x, batch_y, batch_labels, .. } = self;
        let Some(trainer) = trainer.as_mut() else {
            return Err(Failure::Value("training was not configured".to_owned()));
        };
        let mut loss_sum = 0.0;
        let mut last_check = Instant::now();
        for (batch_idx, chunk) in order.chunks(batch_size).enumerate() {
            let len = chunk.len();
            let start = batch_idx * batch_size;
            let xb = if in_place {
                x.matrix().subcols(start, len)
            } else {
                for (k, &j) in chunk.iter().enumerate() {
                    batch_x.col_as_slice_mut(k).copy_from_slice(x.sample(j));
                }
                batch_x.as_ref().subcols(0, len)
            };
            let targets = match y {
                TargetValues::Labels(labels) => {
                    for (slot, &j) in batch_labels.iter_mut().zip(chunk) {
                        // Checked above: 0 ≤ label < n_classes.
                        *slot = labels[j] as usize;
                    }
                    Targets::Classes(&batch_labels[..len])
                }
                TargetValues::Rows(rows) if in_place => {
                    Targets::Matrix(rows.matrix().subcols(start, len))
                }
                TargetValues::Rows(rows) => {
                    for (k, &j) in chunk.iter().enumerate() {
                        batch_y.col_as_slice_mut(k).copy_from_slice(rows.sample(j));
                    }
                    Targets::Matrix(batch_y.as_ref().subcols(0, len))
                }
            };
            loss_sum += trainer.step(net, xb, targets)? * len as f64;
            if last_check.elapsed() >= INTERRUPT_CHECK {
                interrupt()?;
                last_check = Instant::now();
            }
        }
        Ok(loss_sum)
    }

    /// Ends an epoch: the schedule's epoch step, with the monitored loss for reduce-on-plateau.
    pub(crate) fn end_epoch(&mut self, monitored: Option<f64>) -> Result<(), Failure> {
        match self.trainer.as_mut() {
            Some(t) => Ok(t.end_epoch(monitored)?),
            None => Err(Failure::Value("training was not configured".to_owned())),
        }
    }

    /// Keeps a copy of the parameters (early stopping's best epoch so far).
    pub(crate) fn save_best(&mut self) {
        self.best = Some(self.net.layers().iter().map(Dense::theta_col_major).collect());
    }

    /// Puts back the parameters kept by [`State::save_best`], if any.
    pub(crate) fn restore_best(&mut self) -> Result<(), Failure> {
        let Some(best) = self.best.take() else {
            return Ok(());
        };
        for (layer, values) in self.net.layers_mut().iter_mut().zip(&best) {
            *layer = Dense::from_theta_col_major(
                layer.n_inputs(),
                layer.n_outputs(),
                values,
                layer.activation(),
            )?;
        }
        Ok(())
    }

    /// The network's outputs for `x` (probabilities for the classifiers), written sample after
    /// sample into `out` (`n_samples × n_outputs` values), on up to `n_threads` threads.
    ///
    /// This is `nn_core::Predictor`: a sample's outputs are the same bits whatever the batch it
    /// comes in and the thread count (scikit-learn checks it), a lone sample included. Several
    /// threads run in a rayon pool of their own, built for the call: the global pool is never
    /// touched.
    pub(crate) fn predict_into(
        &self,
        x: Samples<'_, T>,
        out: &mut [T],
        n_threads: usize,
    ) -> Result<(), Failure> {
        let k = self.net.n_outputs();
        let n = x.n_samples();
        if x.n_features != self.net.n_inputs() {
            return Err(Failure::Value(format!(
                "X has {} features, but the network takes {} inputs",
                x.n_features,
                self.net.n_inputs()
            )));
        }
        if n.checked_mul(k) != Some(out.len()) {
            return Err(Failure::Value(format!("{} output values for {n} × {k}", out.len())));
        }
        if n == 0 {
            return Ok(());
        }
        // `out`, sample after sample, is the column-major n_outputs × n matrix of outputs.
        let out = MatMut::from_column_major_slice_mut(out, k, n);
        let threads = n_threads.clamp(1, n.div_ceil(PREDICT_MIN_PER_THREAD));
        // Every thread gets the same number of chunks of at most PREDICT_CHUNK samples (the
        // chunk size does not change the results).
        let chunks_per_thread = n.div_ceil(threads * PREDICT_CHUNK);
        let chunk = n.div_ceil(threads * chunks_per_thread);
        let predictor = Predictor::new(&self.net, chunk)?;
        if threads == 1 {
            let mut predictor = predictor;
            return Ok(predictor.predict_proba_into(x.matrix(), out)?);
        }
        let mut predictor = predictor.with_threads(threads)?;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| Failure::Runtime(format!("cannot start the prediction threads: {e}")))?;
        Ok(pool.install(|| predictor.predict_proba_into(x.matrix(), out))?)
    }

    /// The model's bytes: a training checkpoint once training is configured (so that training
    /// continues exactly after unpickling), a model file before. The shuffling generator's state
    /// travels in the metadata.
    pub(crate) fn to_bytes(&self) -> Result<Vec<u8>, Failure> {
        let mut metadata = ModelMetadata::default();
        metadata.extra.insert(RNG_KEY.to_owned(), encode_rng(&self.rng));
        Ok(match &self.trainer {
            Some(trainer) => {
                nn_io::encode_checkpoint(&Checkpoint::of(&self.net, trainer, metadata))?
            }
            None => nn_io::encode_model(&self.net, &metadata)?,
        })
    }

    /// The state in `bytes` (from [`State::to_bytes`], or any model file or checkpoint of this
    /// float type).
    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Self, Failure> {
        if bytes.starts_with(b"NNCKPT\0\0") {
            let c = nn_io::decode_checkpoint::<T>(bytes)?;
            let rng = rng_of(&c.metadata)?;
            let trainer = Trainer::resume(&c.network, c.config, c.state)?;
            Ok(State::of(c.network, Some(trainer), rng))
        } else {
            let m = nn_io::decode_model_as::<T>(bytes)?;
            let rng = rng_of(&m.metadata)?;
            Ok(State::of(m.network, None, rng))
        }
    }

    /// Each layer's weights as scikit-learn's `coefs_[i]`: `n_in × n_out`, row-major (the
    /// column-major Θ without its bias column is exactly that), and biases (`intercepts_[i]`).
    pub(crate) fn coefs_and_intercepts(&self) -> Vec<(usize, usize, Vec<T>, Vec<T>)> {
        self.net
            .layers()
            .iter()
            .map(|layer| {
                let (n_in, n_out) = (layer.n_inputs(), layer.n_outputs());
                let mut theta = layer.theta_col_major();
                let weights = theta.split_off(n_out);
                (n_in, n_out, weights, theta)
            })
            .collect()
    }
}

fn rng_of(metadata: &ModelMetadata) -> Result<ChaCha8Rng, Failure> {
    match metadata.extra.get(RNG_KEY) {
        Some(text) => decode_rng(text),
        None => Ok(shuffle_rng(0)),
    }
}
