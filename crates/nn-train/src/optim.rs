//! Optimizers: SGD (with momentum or Nesterov momentum), Adam, AdamW and RMSprop, in PyTorch's
//! formulations, and gradient clipping by global norm.
//!
//! An [`Optimizer`] owns the per-parameter state of its update rule (momentum buffers, moment
//! estimates), shaped like each layer's Θ and allocated once by [`Optimizer::new`]. Each call of
//! [`Optimizer::step`] updates Θ in place from a [`Gradients`] and a learning rate, and allocates
//! nothing. The learning rate is an argument of every step, so that any schedule (see
//! [`crate::schedule`]) can drive it.
//!
//! # Weight decay never touches the biases
//! Weight decay, coupled (SGD, Adam, RMSprop: `g ← g + wd·θ`) or decoupled (AdamW:
//! `θ ← θ·(1 − lr·wd)`), applies to the weights `W` (columns 1.. of Θ) only, never to the bias
//! column 0. This is the per-step form of the derivation's L2 penalty R1, which also leaves the
//! biases out. PyTorch decays every parameter it is given, biases included, unless the user puts
//! the biases in a separate parameter group with `weight_decay = 0`: our rule is that common
//! setup, built in. With `weight_decay = 0` the two agree exactly.
//!
//! # Checkpoints
//! [`Optimizer::state`] copies the step count and every buffer out into an [`OptimizerState`]
//! (plain vectors, column-major like [`nn_core::Dense::theta_col_major`]), and
//! [`Optimizer::from_state`] restores it after checking every length. The round trip is bitwise
//! exact, so a resumed run continues exactly as the uninterrupted one would have.
//!
//! # Example
//! ```
//! use nn_core::{Activation, Gradients, Loss, Network, Targets, Workspace};
//! use nn_core::rng::{ChaCha8Rng, SeedableRng};
//! use nn_linalg::Mat;
//! use nn_train::optim::{Optimizer, OptimizerConfig, clip_grad_norm};
//!
//! let mut net: Network<f64> = Network::builder(2, Loss::SoftmaxCrossEntropy)
//!     .layer(4, Activation::Tanh)
//!     .layer(2, Activation::Identity)
//!     .build(&mut ChaCha8Rng::seed_from_u64(0))?;
//! let x = Mat::<f64>::from_fn(2, 4, |i, j| ((i + j) % 2) as f64);
//! let y = [0, 1, 1, 0];
//! let mut ws = Workspace::for_network(&net, 4)?;
//! let mut grads = Gradients::zeros_like(&net);
//! let mut opt = Optimizer::new(OptimizerConfig::adamw().with_weight_decay(0.01), &net)?;
//! for _ in 0..10 {
//!     net.forward_backward_into(x.as_ref(), Targets::Classes(&y), &mut ws, &mut grads)?;
//!     clip_grad_norm(&mut grads, 1.0)?;
//!     opt.step(&mut net, &grads, 1e-2)?;
//! }
//! assert_eq!(opt.n_steps(), 10);
//! # Ok::<(), nn_train::Error>(())
//! ```

use std::fmt;
use std::ops::Range;
use std::str::FromStr;

use nn_core::{Gradients, Network};
use nn_linalg::{Float, MatMut, MatRef, Shape, cols, cols_mut};

use crate::Error;
use crate::error::check_param;

/// The configuration of plain SGD, SGD with momentum and SGD with Nesterov momentum (PyTorch's
/// `torch.optim.SGD` with `dampening = 0`). Build it with [`OptimizerConfig::sgd`] (PyTorch's
/// defaults: no momentum, no Nesterov, no weight decay) and the `with_*` setters:
///
/// ```
/// use nn_train::optim::OptimizerConfig;
///
/// let sgd = OptimizerConfig::sgd().with_momentum(0.9).with_nesterov(true);
/// assert_eq!((sgd.momentum, sgd.nesterov, sgd.weight_decay), (0.9, true, 0.0));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct SgdConfig {
    /// μ, in [0, 1); 0 is plain SGD (no momentum buffer is kept).
    pub momentum: f64,
    /// Nesterov momentum (needs `momentum > 0`).
    pub nesterov: bool,
    /// Coupled weight decay (an L2 penalty on the weights, not the biases), ≥ 0.
    pub weight_decay: f64,
}

impl Default for SgdConfig {
    /// PyTorch's defaults: no momentum, no Nesterov, no weight decay.
    fn default() -> Self {
        SgdConfig { momentum: 0.0, nesterov: false, weight_decay: 0.0 }
    }
}

impl SgdConfig {
    /// Sets the momentum μ.
    #[must_use]
    pub fn with_momentum(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self
    }

    /// Turns Nesterov momentum on or off.
    #[must_use]
    pub fn with_nesterov(mut self, nesterov: bool) -> Self {
        self.nesterov = nesterov;
        self
    }

    /// Sets the (coupled) weight decay.
    #[must_use]
    pub fn with_weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }
}

/// The configuration of Adam (PyTorch's `torch.optim.Adam`, without `amsgrad`): coupled weight
/// decay. Build it with [`OptimizerConfig::adam`] (PyTorch's defaults: β1 = 0.9, β2 = 0.999,
/// ε = 1e-8, no weight decay) and the `with_*` setters.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct AdamConfig {
    /// β1, the decay of the first-moment estimate, in [0, 1).
    pub beta1: f64,
    /// β2, the decay of the second-moment estimate, in [0, 1).
    pub beta2: f64,
    /// ε, added to the denominator, > 0.
    pub eps: f64,
    /// Coupled weight decay on the weights (not the biases), ≥ 0.
    pub weight_decay: f64,
}

impl Default for AdamConfig {
    /// PyTorch's defaults: β1 = 0.9, β2 = 0.999, ε = 1e-8, no weight decay.
    fn default() -> Self {
        AdamConfig { beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0 }
    }
}

/// The configuration of AdamW (PyTorch's `torch.optim.AdamW`, without `amsgrad`): Adam with
/// decoupled weight decay. Build it with [`OptimizerConfig::adamw`] (PyTorch's defaults:
/// β1 = 0.9, β2 = 0.999, ε = 1e-8, weight decay 0.01) and the `with_*` setters:
///
/// ```
/// use nn_train::optim::OptimizerConfig;
///
/// let adamw = OptimizerConfig::adamw().with_weight_decay(1e-4).with_betas(0.9, 0.98);
/// assert_eq!((adamw.beta2, adamw.weight_decay), (0.98, 1e-4));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct AdamWConfig {
    /// β1, the decay of the first-moment estimate, in [0, 1).
    pub beta1: f64,
    /// β2, the decay of the second-moment estimate, in [0, 1).
    pub beta2: f64,
    /// ε, added to the denominator, > 0.
    pub eps: f64,
    /// Decoupled weight decay on the weights (not the biases), ≥ 0.
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    /// PyTorch's defaults: β1 = 0.9, β2 = 0.999, ε = 1e-8, weight decay 0.01.
    fn default() -> Self {
        AdamWConfig { beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.01 }
    }
}

macro_rules! adam_setters {
    ($t:ident) => {
        impl $t {
            /// Sets β1 and β2.
            #[must_use]
            pub fn with_betas(mut self, beta1: f64, beta2: f64) -> Self {
                self.beta1 = beta1;
                self.beta2 = beta2;
                self
            }

            /// Sets ε.
            #[must_use]
            pub fn with_eps(mut self, eps: f64) -> Self {
                self.eps = eps;
                self
            }

            /// Sets the weight decay.
            #[must_use]
            pub fn with_weight_decay(mut self, weight_decay: f64) -> Self {
                self.weight_decay = weight_decay;
                self
            }
        }
    };
}
adam_setters!(AdamConfig);
adam_setters!(AdamWConfig);

/// The configuration of RMSprop (PyTorch's `torch.optim.RMSprop`, not centered). Build it with
/// [`OptimizerConfig::rmsprop`] (PyTorch's defaults: α = 0.99, ε = 1e-8, no momentum, no weight
/// decay) and the `with_*` setters.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct RmsPropConfig {
    /// α, the decay of the mean square, in [0, 1).
    pub alpha: f64,
    /// ε, added to the root mean square, > 0.
    pub eps: f64,
    /// μ, in [0, 1); 0 keeps no momentum buffer.
    pub momentum: f64,
    /// Coupled weight decay on the weights (not the biases), ≥ 0.
    pub weight_decay: f64,
}

impl Default for RmsPropConfig {
    /// PyTorch's defaults: α = 0.99, ε = 1e-8, no momentum, no weight decay.
    fn default() -> Self {
        RmsPropConfig { alpha: 0.99, eps: 1e-8, momentum: 0.0, weight_decay: 0.0 }
    }
}

impl RmsPropConfig {
    /// Sets α.
    #[must_use]
    pub fn with_alpha(mut self, alpha: f64) -> Self {
        self.alpha = alpha;
        self
    }

    /// Sets ε.
    #[must_use]
    pub fn with_eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }

    /// Sets the momentum μ.
    #[must_use]
    pub fn with_momentum(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self
    }

    /// Sets the (coupled) weight decay.
    #[must_use]
    pub fn with_weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }
}

/// Which update rule to use, with its hyper-parameters (the learning rate is passed to every
/// [`Optimizer::step`] instead, so that a schedule can drive it).
///
/// Built from one of the rule's configurations: [`OptimizerConfig::sgd`],
/// [`OptimizerConfig::adam`], [`OptimizerConfig::adamw`] and [`OptimizerConfig::rmsprop`] start
/// from PyTorch's defaults, and their `with_*` setters name every other value. Each converts into
/// an `OptimizerConfig` (`.into()`), and everything that takes one accepts them directly:
///
/// ```
/// use nn_train::TrainConfig;
/// use nn_train::optim::OptimizerConfig;
///
/// let config = TrainConfig::new(32, 0.1, OptimizerConfig::sgd().with_momentum(0.9));
/// assert_eq!(config.optimizer.name(), "sgd");
/// let adam: OptimizerConfig = OptimizerConfig::adam().with_eps(1e-7).into();
/// assert_eq!(adam.to_string(), "adam");
/// ```
///
/// Every rule follows PyTorch's arithmetic (below `g` is the gradient ∂J/∂Θ, `t` the step count
/// starting at 1, and `wd·θ` is only added for the weights, columns 1.. of Θ):
///
/// ```text
/// Sgd      g ← g + wd·θ;  buf ← μ·buf + g  (buf starts at 0; only if μ > 0)
///          d ← g + μ·buf (Nesterov), buf (momentum), g (μ = 0);  θ ← θ − lr·d
/// Adam     g ← g + wd·θ;  m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²
///          denom ← √v / √(1 − β2^t) + ε;  θ ← θ − (lr / (1 − β1^t))·(m / denom)
/// AdamW    θ ← θ·(1 − lr·wd)  (weights only), then Adam without the g ← g + wd·θ line
/// RmsProp  g ← g + wd·θ;  v ← α·v + (1−α)·g²;  avg ← √v + ε
///          μ > 0: buf ← μ·buf + g/avg;  θ ← θ − lr·buf
///          μ = 0: θ ← θ − lr·(g/avg)
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum OptimizerConfig {
    /// Stochastic gradient descent, optionally with (Nesterov) momentum.
    Sgd(SgdConfig),
    /// Adam, with coupled weight decay (an L2 term added to the gradient).
    Adam(AdamConfig),
    /// AdamW: Adam with decoupled weight decay (Θ shrinks before the Adam update).
    AdamW(AdamWConfig),
    /// RMSprop (not centered), optionally with momentum.
    RmsProp(RmsPropConfig),
}

impl From<SgdConfig> for OptimizerConfig {
    fn from(c: SgdConfig) -> Self {
        OptimizerConfig::Sgd(c)
    }
}

impl From<AdamConfig> for OptimizerConfig {
    fn from(c: AdamConfig) -> Self {
        OptimizerConfig::Adam(c)
    }
}

impl From<AdamWConfig> for OptimizerConfig {
    fn from(c: AdamWConfig) -> Self {
        OptimizerConfig::AdamW(c)
    }
}

impl From<RmsPropConfig> for OptimizerConfig {
    fn from(c: RmsPropConfig) -> Self {
        OptimizerConfig::RmsProp(c)
    }
}

impl OptimizerConfig {
    /// SGD with PyTorch's defaults (no momentum, no Nesterov, no weight decay); set the others
    /// with [`SgdConfig`]'s `with_*` methods.
    #[must_use]
    pub fn sgd() -> SgdConfig {
        SgdConfig::default()
    }

    /// Adam with PyTorch's defaults (β1 = 0.9, β2 = 0.999, ε = 1e-8, no weight decay).
    #[must_use]
    pub fn adam() -> AdamConfig {
        AdamConfig::default()
    }

    /// AdamW with PyTorch's defaults (β1 = 0.9, β2 = 0.999, ε = 1e-8, weight decay 0.01).
    #[must_use]
    pub fn adamw() -> AdamWConfig {
        AdamWConfig::default()
    }

    /// RMSprop with PyTorch's defaults (α = 0.99, ε = 1e-8, no momentum, no weight decay).
    #[must_use]
    pub fn rmsprop() -> RmsPropConfig {
        RmsPropConfig::default()
    }

    /// The configuration named `sgd`, `adam`, `adamw` or `rmsprop` (case-insensitive), with
    /// PyTorch's defaults. Also available as [`FromStr`].
    ///
    /// # Errors
    /// [`ParseOptimizerError`] for any other name.
    pub fn from_name(name: &str) -> Result<Self, ParseOptimizerError> {
        match name.trim().to_ascii_lowercase().as_str() {
            "sgd" => Ok(OptimizerConfig::sgd().into()),
            "adam" => Ok(OptimizerConfig::adam().into()),
            "adamw" => Ok(OptimizerConfig::adamw().into()),
            "rmsprop" => Ok(OptimizerConfig::rmsprop().into()),
            _ => Err(ParseOptimizerError(name.to_owned())),
        }
    }

    /// The rule's name: `sgd`, `adam`, `adamw` or `rmsprop`.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            OptimizerConfig::Sgd(_) => "sgd",
            OptimizerConfig::Adam(_) => "adam",
            OptimizerConfig::AdamW(_) => "adamw",
            OptimizerConfig::RmsProp(_) => "rmsprop",
        }
    }

    /// The weight decay (applied to the weights only, never the biases).
    #[must_use]
    pub fn weight_decay(&self) -> f64 {
        match self {
            OptimizerConfig::Sgd(c) => c.weight_decay,
            OptimizerConfig::Adam(c) => c.weight_decay,
            OptimizerConfig::AdamW(c) => c.weight_decay,
            OptimizerConfig::RmsProp(c) => c.weight_decay,
        }
    }

    /// The same rule with another weight decay (every rule has one).
    #[must_use]
    pub fn with_weight_decay(self, weight_decay: f64) -> Self {
        match self {
            OptimizerConfig::Sgd(c) => c.with_weight_decay(weight_decay).into(),
            OptimizerConfig::Adam(c) => c.with_weight_decay(weight_decay).into(),
            OptimizerConfig::AdamW(c) => c.with_weight_decay(weight_decay).into(),
            OptimizerConfig::RmsProp(c) => c.with_weight_decay(weight_decay).into(),
        }
    }

    /// The momentum μ of SGD and RMSprop; `None` for the rules without one.
    #[must_use]
    pub fn momentum(&self) -> Option<f64> {
        match self {
            OptimizerConfig::Sgd(c) => Some(c.momentum),
            OptimizerConfig::RmsProp(c) => Some(c.momentum),
            OptimizerConfig::Adam(_) | OptimizerConfig::AdamW(_) => None,
        }
    }

    /// The same rule with momentum μ, for SGD and RMSprop; `None` for the rules without one.
    #[must_use]
    pub fn with_momentum(self, momentum: f64) -> Option<Self> {
        match self {
            OptimizerConfig::Sgd(c) => Some(c.with_momentum(momentum).into()),
            OptimizerConfig::RmsProp(c) => Some(c.with_momentum(momentum).into()),
            OptimizerConfig::Adam(_) | OptimizerConfig::AdamW(_) => None,
        }
    }

    /// Checks every hyper-parameter: all finite; momentum, β1, β2 and α in [0, 1); ε > 0;
    /// weight decay ≥ 0; Nesterov only with momentum > 0.
    ///
    /// # Errors
    /// [`Error::InvalidHyperparameter`] naming the first bad one.
    pub fn validate(&self) -> Result<(), Error> {
        const UNIT: &str = "a number in [0, 1)";
        const NON_NEG: &str = "a finite number ≥ 0";
        const POS: &str = "a finite number > 0";
        let unit = |v: f64| (0.0..1.0).contains(&v);
        let non_neg = |v: f64| v >= 0.0;
        let pos = |v: f64| v > 0.0;
        let adam = |beta1, beta2, eps, weight_decay| -> Result<(), Error> {
            check_param("beta1", beta1, UNIT, unit)?;
            check_param("beta2", beta2, UNIT, unit)?;
            check_param("eps", eps, POS, pos)?;
            check_param("weight_decay", weight_decay, NON_NEG, non_neg)
        };
        match self {
            OptimizerConfig::Sgd(c) => {
                check_param("momentum", c.momentum, UNIT, unit)?;
                check_param("weight_decay", c.weight_decay, NON_NEG, non_neg)?;
                if c.nesterov {
                    check_param("momentum", c.momentum, "a number in (0, 1) with Nesterov", pos)?;
                }
            }
            OptimizerConfig::Adam(c) => adam(c.beta1, c.beta2, c.eps, c.weight_decay)?,
            OptimizerConfig::AdamW(c) => adam(c.beta1, c.beta2, c.eps, c.weight_decay)?,
            OptimizerConfig::RmsProp(c) => {
                check_param("alpha", c.alpha, UNIT, unit)?;
                check_param("eps", c.eps, POS, pos)?;
                check_param("momentum", c.momentum, UNIT, unit)?;
                check_param("weight_decay", c.weight_decay, NON_NEG, non_neg)?;
            }
        }
        Ok(())
    }

    /// Which buffers the rule keeps: (momentum, exp_avg, exp_avg_sq).
    fn buffers(&self) -> [bool; 3] {
        match self {
            OptimizerConfig::Sgd(c) => [c.momentum > 0.0, false, false],
            OptimizerConfig::Adam(_) | OptimizerConfig::AdamW(_) => [false, true, true],
            OptimizerConfig::RmsProp(c) => [c.momentum > 0.0, false, true],
        }
    }
}

impl fmt::Display for OptimizerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for OptimizerConfig {
    type Err = ParseOptimizerError;

    /// See [`OptimizerConfig::from_name`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OptimizerConfig::from_name(s)
    }
}

/// A string that names no optimizer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown optimizer {0:?}: expected sgd, adam, adamw or rmsprop")]
pub struct ParseOptimizerError(pub String);

/// The saved state of one layer's optimizer buffers. Each buffer is either empty (the rule does
/// not keep it) or has one value per entry of the layer's Θ, in column-major order (column 0, the
/// biases, first), as [`nn_core::Dense::theta_col_major`].
#[derive(Clone, Debug, PartialEq)]
pub struct LayerState<T> {
    /// The momentum buffer `buf` (SGD and RMSprop with momentum > 0).
    pub momentum: Vec<T>,
    /// The first-moment estimate `m` (Adam, AdamW).
    pub exp_avg: Vec<T>,
    /// The second-moment estimate `v` (Adam, AdamW) or mean square (RMSprop); never negative.
    pub exp_avg_sq: Vec<T>,
}

/// Everything an [`Optimizer`] needs to resume exactly: the step count and every buffer.
#[derive(Clone, Debug, PartialEq)]
pub struct OptimizerState<T> {
    /// The number of steps taken (Adam's bias correction uses it).
    pub step: u64,
    /// One entry per layer, first to last.
    pub layers: Vec<LayerState<T>>,
}

/// One layer's buffers, flat and column-major (n_rows × n_cols, no padding).
#[derive(Clone, Debug)]
struct Buffers<T> {
    n_rows: usize,
    n_cols: usize,
    momentum: Vec<T>,
    exp_avg: Vec<T>,
    exp_avg_sq: Vec<T>,
}

/// An update rule and its state for one network: see [`OptimizerConfig`] for the formulas and
/// the [module docs](self) for weight decay and checkpoints.
#[derive(Clone, Debug)]
pub struct Optimizer<T: Float> {
    config: OptimizerConfig,
    step: u64,
    layers: Vec<Buffers<T>>,
}

impl<T: Float> Optimizer<T> {
    /// An optimizer for `net`, with zero buffers shaped like each layer's Θ. Allocates; nothing
    /// else does.
    ///
    /// # Errors
    /// [`Error::InvalidHyperparameter`] from [`OptimizerConfig::validate`].
    pub fn new(config: impl Into<OptimizerConfig>, net: &Network<T>) -> Result<Self, Error> {
        let config = config.into();
        config.validate()?;
        let [momentum, exp_avg, exp_avg_sq] = config.buffers();
        let layers = net
            .layers()
            .iter()
            .map(|layer| {
                let theta = layer.theta();
                let (n_rows, n_cols) = (theta.nrows(), theta.ncols());
                let buf =
                    |used: bool| if used { vec![T::ZERO; n_rows * n_cols] } else { Vec::new() };
                Buffers {
                    n_rows,
                    n_cols,
                    momentum: buf(momentum),
                    exp_avg: buf(exp_avg),
                    exp_avg_sq: buf(exp_avg_sq),
                }
            })
            .collect();
        Ok(Optimizer { config, step: 0, layers })
    }

    /// An optimizer for `net` resuming from a saved [`OptimizerState`] (from [`Optimizer::state`]):
    /// the result continues bit for bit as the saved optimizer would have.
    ///
    /// # Errors
    /// [`Error::InvalidHyperparameter`] from [`OptimizerConfig::validate`];
    /// [`Error::StateSize`] if the state has another number of layers or a buffer of the wrong
    /// length (the rule keeps it and it does not have one value per Θ entry, or the rule does not
    /// keep it and it is not empty); [`Error::StateValue`] for a value that is not finite, or a
    /// negative `exp_avg_sq`.
    pub fn from_state(
        config: impl Into<OptimizerConfig>,
        net: &Network<T>,
        state: OptimizerState<T>,
    ) -> Result<Self, Error> {
        let mut opt = Optimizer::new(config, net)?;
        if state.layers.len() != opt.layers.len() {
            return Err(Error::StateSize {
                what: "optimizer state layers",
                layer_idx: None,
                expected: opt.layers.len(),
                found: state.layers.len(),
            });
        }
        for (layer_idx, (buf, saved)) in opt.layers.iter_mut().zip(state.layers).enumerate() {
            let LayerState { momentum, exp_avg, exp_avg_sq } = saved;
            restore(&mut buf.momentum, momentum, layer_idx, "momentum", false)?;
            restore(&mut buf.exp_avg, exp_avg, layer_idx, "exp_avg", false)?;
            restore(&mut buf.exp_avg_sq, exp_avg_sq, layer_idx, "exp_avg_sq", true)?;
        }
        opt.step = state.step;
        Ok(opt)
    }

    /// A copy of the step count and every buffer, for a checkpoint. Allocates.
    #[must_use]
    pub fn state(&self) -> OptimizerState<T> {
        OptimizerState {
            step: self.step,
            layers: self
                .layers
                .iter()
                .map(|b| LayerState {
                    momentum: b.momentum.clone(),
                    exp_avg: b.exp_avg.clone(),
                    exp_avg_sq: b.exp_avg_sq.clone(),
                })
                .collect(),
        }
    }

    /// The update rule and its hyper-parameters.
    #[must_use]
    pub fn config(&self) -> &OptimizerConfig {
        &self.config
    }

    /// The number of steps taken so far.
    #[must_use]
    pub fn n_steps(&self) -> u64 {
        self.step
    }

    /// One update of every layer's Θ from `grads` with learning rate `lr` (see
    /// [`OptimizerConfig`] for the formulas). Allocates nothing.
    ///
    /// Hyper-parameters are held in f64; each step converts them (and the bias corrections,
    /// computed in f64 as PyTorch does) to `T` once, then runs the element-wise update in `T`,
    /// column after contiguous column.
    ///
    /// # Errors
    /// [`Error::InvalidHyperparameter`] unless `lr` is finite and ≥ 0; [`Error::StateSize`] or
    /// [`Error::LayerShape`] if `net` or `grads` do not have the layers this optimizer was built
    /// for. On error nothing is changed.
    pub fn step(
        &mut self,
        net: &mut Network<T>,
        grads: &Gradients<T>,
        lr: f64,
    ) -> Result<(), Error> {
        self.step_checked(net, grads, lr).map(|_| ())
    }

    /// [`Optimizer::step`], telling whether every value it wrote (Θ and the optimizer's state)
    /// is finite. Finite gradients can still overflow there: the squared gradients of Adam's
    /// and RMSprop's second moment (|g| > 1.8e19 in f32, 1.3e154 in f64), or Θ itself under a
    /// huge learning rate. The check runs inside the update loop: no extra pass over memory.
    ///
    /// # Errors
    /// Those of [`Optimizer::step`].
    pub fn step_checked(
        &mut self,
        net: &mut Network<T>,
        grads: &Gradients<T>,
        lr: f64,
    ) -> Result<bool, Error> {
        // 0 is allowed: a schedule may end there (cosine annealing to η_min = 0).
        check_param("learning_rate", lr, "a finite number ≥ 0", |v| v >= 0.0)?;
        self.check_shapes(net, grads)?;
        let t = self.step.saturating_add(1);
        let rule = Rule::new(&self.config, lr, t);
        // Inside a rayon pool (the trainer's), the columns are updated in parallel; the update is
        // element-wise, so the result is the same bits either way.
        let parallel = rayon::current_thread_index().is_some();
        let mut finite = true;
        for (layer_idx, (layer, buf)) in
            net.layers_mut().iter_mut().zip(&mut self.layers).enumerate()
        {
            let Some(grad) = grads.layer(layer_idx) else {
                return Err(layout_error(layer_idx));
            };
            let Buffers { n_rows, momentum, exp_avg, exp_avg_sq, .. } = buf;
            let bufs = [momentum.as_mut_slice(), exp_avg.as_mut_slice(), exp_avg_sq.as_mut_slice()];
            finite &= update_columns(rule, layer.theta_mut(), grad, *n_rows, 0, bufs, parallel)
                .map_err(|e| Error::Core(e.into()))?;
        }
        self.step = t;
        Ok(finite)
    }

    fn check_shapes(&self, net: &Network<T>, grads: &Gradients<T>) -> Result<(), Error> {
        let n_layers = self.layers.len();
        for (what, found) in
            [("network layers", net.layers().len()), ("gradient layers", grads.n_layers())]
        {
            if found != n_layers {
                return Err(Error::StateSize { what, layer_idx: None, expected: n_layers, found });
            }
        }
        for (layer_idx, (layer, buf)) in net.layers().iter().zip(&self.layers).enumerate() {
            let expected = Shape { rows: buf.n_rows, cols: buf.n_cols };
            let found = Shape::of(layer.theta());
            if found != expected {
                return Err(Error::LayerShape { what: "network", layer_idx, expected, found });
            }
            let Some(grad) = grads.layer(layer_idx) else {
                return Err(layout_error(layer_idx));
            };
            if Shape::of(grad) != expected {
                let found = Shape::of(grad);
                return Err(Error::LayerShape { what: "gradient", layer_idx, expected, found });
            }
            if cols(grad).is_none() {
                return Err(layout_error(layer_idx));
            }
        }
        Ok(())
    }
}

/// Columns below which a parallel update is not split further.
const MIN_PARALLEL_COLS: usize = 32;

/// Whether a parallel update splits a layer of `n_rows × n_cols` (the trainer's shard sum,
/// `reduce_columns`, splits on the same condition).
pub(crate) fn splits_columns(n_rows: usize, n_cols: usize) -> bool {
    n_cols >= 2 * MIN_PARALLEL_COLS && n_rows.saturating_mul(n_cols) >= 1 << 14
}

/// Applies `rule` to columns `first_col..` of one layer: `theta` and `grad` are views of those
/// columns, `bufs` the matching parts of the state (each empty, or `n_rows` values per column).
/// With `parallel`, halves the columns recursively with `rayon::join` on the current pool.
/// Returns whether every value written is finite.
fn update_columns<T: Float>(
    rule: Rule<T>,
    theta: MatMut<'_, T>,
    grad: MatRef<'_, T>,
    n_rows: usize,
    first_col: usize,
    bufs: [&mut [T]; 3],
    parallel: bool,
) -> Result<bool, nn_linalg::ShapeError> {
    let n_cols = theta.ncols();
    if parallel && splits_columns(n_rows, n_cols) {
        let mid = n_cols / 2;
        let (theta_l, theta_r) = theta.split_at_col_mut(mid);
        let (grad_l, grad_r) = grad.split_at_col(mid);
        let [m, ea, eas] = bufs;
        let at = mid * n_rows;
        let ((m_l, m_r), (ea_l, ea_r), (eas_l, eas_r)) =
            (split_buffer(m, at), split_buffer(ea, at), split_buffer(eas, at));
        let (left, right) = rayon::join(
            || update_columns(rule, theta_l, grad_l, n_rows, first_col, [m_l, ea_l, eas_l], true),
            || {
                update_columns(
                    rule,
                    theta_r,
                    grad_r,
                    n_rows,
                    first_col + mid,
                    [m_r, ea_r, eas_r],
                    true,
                )
            },
        );
        return Ok(left? & right?);
    }
    let Some(mut grad_cols) = cols(grad) else {
        return Err(nn_linalg::ShapeError {
            op: "optimizer step",
            operand: "gradient layout (contiguous columns)",
            expected: nn_linalg::Shape { rows: n_rows, cols: n_cols },
            found: nn_linalg::Shape::of(grad),
        });
    };
    let [momentum, exp_avg, exp_avg_sq] = bufs;
    let mut finite = true;
    cols_mut(theta, |j, theta| {
        let Some(grad) = grad_cols.next() else { return };
        let range = j * n_rows..(j + 1) * n_rows;
        // R1: weight decay (coupled or decoupled) never applies to the bias column 0.
        let decay = first_col + j > 0;
        let bufs = [slice(momentum, &range), slice(exp_avg, &range), slice(exp_avg_sq, &range)];
        finite &= rule.update(decay, theta, grad, bufs);
    })?;
    Ok(finite)
}

/// A state buffer split at `at`, or two empty slices for a buffer the rule does not keep.
fn split_buffer<T>(b: &mut [T], at: usize) -> (&mut [T], &mut [T]) {
    if b.is_empty() { (&mut [], &mut []) } else { b.split_at_mut(at.min(b.len())) }
}

/// A gradient whose columns are not contiguous (`Gradients` owns its matrices, so this does not
/// happen; it is an error rather than a panic all the same).
fn layout_error(layer_idx: usize) -> Error {
    Error::StateSize {
        what: "contiguous gradient columns",
        layer_idx: Some(layer_idx),
        expected: 1,
        found: 0,
    }
}

/// Column `range` of a flat buffer, or an empty slice for a buffer the rule does not keep.
fn slice<'a, T>(buf: &'a mut [T], range: &Range<usize>) -> &'a mut [T] {
    buf.get_mut(range.clone()).unwrap_or_default()
}

/// Moves a saved buffer into `dst` after checking its length and values.
fn restore<T: Float>(
    dst: &mut Vec<T>,
    saved: Vec<T>,
    layer_idx: usize,
    what: &'static str,
    non_negative: bool,
) -> Result<(), Error> {
    if saved.len() != dst.len() {
        return Err(Error::StateSize {
            what,
            layer_idx: Some(layer_idx),
            expected: dst.len(),
            found: saved.len(),
        });
    }
    if let Some((index, v)) =
        saved.iter().enumerate().find(|(_, v)| !v.is_finite() || (non_negative && **v < T::ZERO))
    {
        return Err(Error::StateValue {
            what,
            layer_idx: Some(layer_idx),
            index,
            value: v.to_f64(),
            expected: if non_negative { "a finite number ≥ 0" } else { "a finite number" },
        });
    }
    *dst = saved;
    Ok(())
}

/// The coefficients of one step, converted to `T` once.
#[derive(Clone, Copy, Debug)]
enum Rule<T> {
    Sgd {
        lr: T,
        /// μ, if > 0.
        momentum: Option<T>,
        nesterov: bool,
        /// Coupled weight decay, if > 0.
        wd: Option<T>,
    },
    Adam {
        /// lr / (1 − β1^t).
        step_size: T,
        /// √(1 − β2^t).
        bias_correction2_sqrt: T,
        beta1: T,
        one_minus_beta1: T,
        beta2: T,
        one_minus_beta2: T,
        eps: T,
        /// Coupled weight decay (Adam), if > 0.
        wd: Option<T>,
        /// 1 − lr·wd (AdamW), if wd > 0.
        shrink: Option<T>,
    },
    RmsProp {
        lr: T,
        alpha: T,
        one_minus_alpha: T,
        eps: T,
        /// μ, if > 0.
        momentum: Option<T>,
        /// Coupled weight decay, if > 0.
        wd: Option<T>,
    },
}

/// `Some(value)` in `T` if `value > 0`.
fn positive<T: Float>(value: f64) -> Option<T> {
    (value > 0.0).then(|| T::from_f64(value))
}

impl<T: Float> Rule<T> {
    /// The coefficients of step `t` (1 for the first step); all scalars are computed in f64, as
    /// PyTorch computes them in Python floats, and then converted.
    fn new(config: &OptimizerConfig, lr: f64, t: u64) -> Self {
        let t_f = t as f64;
        match *config {
            OptimizerConfig::Sgd(c) => Rule::Sgd {
                lr: T::from_f64(lr),
                momentum: positive(c.momentum),
                nesterov: c.nesterov,
                wd: positive(c.weight_decay),
            },
            OptimizerConfig::Adam(c) => {
                Rule::adam(lr, t_f, [c.beta1, c.beta2, c.eps, c.weight_decay], false)
            }
            OptimizerConfig::AdamW(c) => {
                Rule::adam(lr, t_f, [c.beta1, c.beta2, c.eps, c.weight_decay], true)
            }
            OptimizerConfig::RmsProp(c) => Rule::RmsProp {
                lr: T::from_f64(lr),
                alpha: T::from_f64(c.alpha),
                one_minus_alpha: T::from_f64(1.0 - c.alpha),
                eps: T::from_f64(c.eps),
                momentum: positive(c.momentum),
                wd: positive(c.weight_decay),
            },
        }
    }

    /// Adam's coefficients at step `t`; `decoupled` for AdamW.
    fn adam(lr: f64, t: f64, [beta1, beta2, eps, weight_decay]: [f64; 4], decoupled: bool) -> Self {
        let bias_correction1 = 1.0 - beta1.powf(t);
        let bias_correction2 = 1.0 - beta2.powf(t);
        Rule::Adam {
            step_size: T::from_f64(lr / bias_correction1),
            bias_correction2_sqrt: T::from_f64(bias_correction2.sqrt()),
            beta1: T::from_f64(beta1),
            one_minus_beta1: T::from_f64(1.0 - beta1),
            beta2: T::from_f64(beta2),
            one_minus_beta2: T::from_f64(1.0 - beta2),
            eps: T::from_f64(eps),
            wd: if decoupled { None } else { positive(weight_decay) },
            shrink: (decoupled && weight_decay > 0.0).then(|| T::from_f64(1.0 - lr * weight_decay)),
        }
    }

    /// Updates one column of Θ in place. `decay` is false for the bias column. `bufs` are the
    /// column's slices of (momentum, exp_avg, exp_avg_sq); a buffer the rule does not keep is
    /// empty and not read. Returns whether every value written is finite (a non-short-circuit
    /// `&=` in each loop, which stays vectorizable). Θ and the second moment are checked; a
    /// momentum or first moment that overflows makes Θ non-finite in the same step (through
    /// `lr·b`, or `0·∞ = NaN` when the rate is 0), and the first moment cannot overflow before
    /// the second (|g| ≥ 1.7e38 in f32 against 1.8e19).
    #[inline]
    fn update(self, decay: bool, theta: &mut [T], grad: &[T], bufs: [&mut [T]; 3]) -> bool {
        let [momentum_buf, exp_avg, exp_avg_sq] = bufs;
        let mut finite = true;
        // The bias column gets no weight decay (R1).
        let coupled = |wd: Option<T>| if decay { wd } else { None };
        match self {
            Rule::Sgd { lr, momentum, nesterov, wd } => {
                let wd = coupled(wd);
                match momentum {
                    None => {
                        for (th, &g) in theta.iter_mut().zip(grad) {
                            let g = add_decay(g, *th, wd);
                            *th -= lr * g;
                            finite &= th.is_finite();
                        }
                    }
                    // The common case gets its own loop (no per-element branch), so it vectorizes.
                    Some(mu) if !nesterov && wd.is_none() => {
                        for ((th, &g), b) in theta.iter_mut().zip(grad).zip(momentum_buf) {
                            *b = mu * *b + g;
                            *th -= lr * *b;
                            finite &= th.is_finite();
                        }
                    }
                    Some(mu) => {
                        for ((th, &g), b) in theta.iter_mut().zip(grad).zip(momentum_buf) {
                            let g = add_decay(g, *th, wd);
                            *b = mu * *b + g;
                            let d = if nesterov { g + mu * *b } else { *b };
                            *th -= lr * d;
                            finite &= th.is_finite();
                        }
                    }
                }
            }
            Rule::Adam {
                step_size,
                bias_correction2_sqrt,
                beta1,
                one_minus_beta1,
                beta2,
                one_minus_beta2,
                eps,
                wd,
                shrink,
            } => {
                let wd = coupled(wd);
                let shrink = if decay { shrink } else { None };
                for (((th, &g), m), v) in theta.iter_mut().zip(grad).zip(exp_avg).zip(exp_avg_sq) {
                    if let Some(s) = shrink {
                        *th *= s;
                    }
                    let g = add_decay(g, *th, wd);
                    *m = beta1 * *m + one_minus_beta1 * g;
                    *v = beta2 * *v + one_minus_beta2 * (g * g);
                    // PyTorch's order: √v / √(bias correction 2) + ε, then step_size·(m / denom).
                    let denom = v.sqrt() / bias_correction2_sqrt + eps;
                    *th -= step_size * (*m / denom);
                    finite &= th.is_finite() & v.is_finite();
                }
            }
            Rule::RmsProp { lr, alpha, one_minus_alpha, eps, momentum, wd } => {
                let wd = coupled(wd);
                match momentum {
                    None => {
                        for ((th, &g), v) in theta.iter_mut().zip(grad).zip(exp_avg_sq) {
                            let g = add_decay(g, *th, wd);
                            *v = alpha * *v + one_minus_alpha * (g * g);
                            let avg = v.sqrt() + eps;
                            *th -= lr * (g / avg);
                            finite &= th.is_finite() & v.is_finite();
                        }
                    }
                    Some(mu) => {
                        for (((th, &g), v), b) in
                            theta.iter_mut().zip(grad).zip(exp_avg_sq).zip(momentum_buf)
                        {
                            let g = add_decay(g, *th, wd);
                            *v = alpha * *v + one_minus_alpha * (g * g);
                            let avg = v.sqrt() + eps;
                            *b = mu * *b + g / avg;
                            *th -= lr * *b;
                            finite &= th.is_finite() & v.is_finite();
                        }
                    }
                }
            }
        }
        finite
    }
}

/// Coupled weight decay: `g + wd·θ`, or `g` without decay.
#[inline(always)]
fn add_decay<T: Float>(g: T, theta: T, wd: Option<T>) -> T {
    match wd {
        Some(wd) => g + wd * theta,
        None => g,
    }
}

/// Rescales the gradients so that their global norm is at most `max_norm`, as PyTorch's
/// `torch.nn.utils.clip_grad_norm_` (norm type 2): returns the norm before clipping.
///
/// ```text
/// total = ‖g‖₂ over every entry of every layer (biases included), summed in f64
/// coef  = max_norm / (total + 1e-6);   g ← coef·g  if coef < 1
/// ```
///
/// A gradient with a NaN or infinite entry is left untouched and reported as
/// [`Error::NonFiniteGradient`], so that the caller skips the step (PyTorch would scale it by 0
/// or NaN). Finite entries whose squares overflow `f64` are not an error: the norm is then
/// computed with a scaling that cannot overflow.
///
/// # Errors
/// [`Error::InvalidHyperparameter`] unless `max_norm` is finite and > 0;
/// [`Error::NonFiniteGradient`] if an entry is NaN or infinite (nothing is changed then).
pub fn clip_grad_norm<T: Float>(grads: &mut Gradients<T>, max_norm: f64) -> Result<f64, Error> {
    check_param("max_norm", max_norm, "a finite number > 0", |v| v > 0.0)?;
    let mut total = grads.global_norm();
    if !total.is_finite() {
        if !grads.is_finite() {
            return Err(Error::NonFiniteGradient { norm: total });
        }
        total = scaled_norm(grads);
    }
    let coef = max_norm / (total + 1e-6);
    if coef < 1.0 {
        grads.scale(T::from_f64(coef));
    }
    Ok(total)
}

/// The Euclidean norm of finite entries whose squares overflow: `m · ‖g / m‖₂` with
/// `m = max |g|`, so every square is at most 1.
fn scaled_norm<T: Float>(grads: &Gradients<T>) -> f64 {
    let layers = || (0..grads.n_layers()).filter_map(|l| grads.layer(l).and_then(cols)).flatten();
    let max = layers().flatten().fold(0.0f64, |m, x| m.max(x.to_f64().abs()));
    if max == 0.0 {
        return 0.0;
    }
    let sum: f64 = layers().flatten().map(|x| (x.to_f64() / max).powi(2)).sum();
    max * sum.sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for name in ["sgd", "adam", "adamw", "rmsprop"] {
            let config = OptimizerConfig::from_name(name).unwrap();
            assert_eq!(config.name(), name);
            assert_eq!(config.to_string().parse::<OptimizerConfig>().unwrap(), config);
        }
        assert_eq!(
            " AdamW ".parse::<OptimizerConfig>().unwrap(),
            OptimizerConfig::adamw().with_weight_decay(0.01).into()
        );
        assert!(OptimizerConfig::from_name("adagrad").is_err());
    }

    #[test]
    fn the_determinism_test_takes_the_parallel_paths() {
        // tests/integration/determinism.rs trains 40-256-128-4 networks: the 128 × 257 Θ of the
        // second layer is split by the optimizer's update and the shard sum (twice: 257 → 128
        // and 129 columns, then 64 and 64/65), the 256 × 41 one is not, which is checked too.
        assert!(splits_columns(128, 257) && splits_columns(128, 128));
        assert!(!splits_columns(128, 64) && !splits_columns(256, 41));
    }

    #[test]
    fn buffers_follow_the_rule() {
        let buffers = |c: OptimizerConfig| c.buffers();
        assert_eq!(buffers(OptimizerConfig::sgd().into()), [false, false, false]);
        assert_eq!(buffers(OptimizerConfig::sgd().with_momentum(0.9).into()), [true, false, false]);
        assert_eq!(buffers(OptimizerConfig::adam().into()), [false, true, true]);
        assert_eq!(buffers(OptimizerConfig::adamw().into()), [false, true, true]);
        assert_eq!(buffers(OptimizerConfig::rmsprop().into()), [false, false, true]);
        let rms = OptimizerConfig::rmsprop().with_momentum(0.5);
        assert_eq!(buffers(rms.into()), [true, false, true]);
    }
}
