//! Learning-rate schedules: constant, step, exponential, cosine, one-cycle, inverse scaling and
//! reduce-on-plateau, following PyTorch's (and, for inverse scaling, scikit-learn's) definitions.
//!
//! An [`LrScheduler`] holds a base learning rate `lr0`, a [`Schedule`] and the counters the
//! schedule reads. The training loop asks it for [`LrScheduler::lr`] before each optimizer step,
//! and tells it when a step ([`LrScheduler::on_step`]) and an epoch
//! ([`LrScheduler::on_epoch_end`]) are over. [`LrScheduler::state`] and
//! [`LrScheduler::from_state`] save and restore it exactly, for checkpoints.
//!
//! ```
//! use nn_train::schedule::{LrScheduler, Schedule};
//!
//! let mut sched = LrScheduler::new(0.1, Schedule::Step { step_epochs: 2, gamma: 0.5 })?;
//! let mut lrs = Vec::new();
//! for _epoch in 0..5 {
//!     for _batch in 0..3 {
//!         lrs.push(sched.lr()); // optimizer.step(&mut net, &grads, sched.lr())?
//!         sched.on_step();
//!     }
//!     sched.on_epoch_end(None)?; // Some(validation_loss) for ReduceOnPlateau
//! }
//! assert_eq!(lrs[..6], [0.1; 6]);
//! assert_eq!(lrs[6..12], [0.05; 6]);
//! assert_eq!(sched.lr(), 0.025);
//! # Ok::<(), nn_train::Error>(())
//! ```

use std::f64::consts::PI;

use crate::Error;
use crate::error::check_param;

/// PyTorch's `ReduceLROnPlateau` ignores a reduction smaller than this (its `eps` argument).
pub const PLATEAU_MIN_CHANGE: f64 = 1e-8;

/// How the learning rate evolves. Below, `lr0` is the scheduler's base learning rate, `e` the
/// number of completed epochs and `t` the number of optimizer steps taken so far (both start at
/// 0, so the first step of training uses `e = t = 0`).
///
/// | schedule | learning rate of the next step | updated |
/// |---|---|---|
/// | `Constant` | `lr0` | never |
/// | `Step` | `lr0·γ^⌊e / step_epochs⌋` | per epoch |
/// | `Exponential` | `lr0·γ^e` | per epoch |
/// | `Cosine` | `η_min + (lr0 − η_min)·(1 + cos(π·e/T_max))/2` for `e ≤ T_max`, then `η_min` | per epoch |
/// | `OneCycle` | warm-up from `lr0/div_factor` to `lr0`, then down to `lr0/(div_factor·final_div_factor)` (below) | per step |
/// | `InverseScaling` | `lr0 / (t + 1)^power_t` | per step |
/// | `ReduceOnPlateau` | `lr ← max(lr·factor, min_lr)` after more than `patience` bad epochs (below) | per epoch |
///
/// **Cosine** is PyTorch's `CosineAnnealingLR` in closed form. PyTorch's curve is periodic and
/// rises again after `T_max`; here it stays at `η_min` instead (a schedule for a run of `T_max`
/// epochs that is trained longer should not heat up again). With `η_min = 0` the learning rate is
/// exactly 0 from epoch `T_max` on: [`Optimizer::step`](crate::optim::Optimizer::step) accepts a
/// learning rate of 0, but the steps then change nothing (with AdamW not even the decay), so
/// train for at most `T_max` epochs, or take `η_min > 0`.
///
/// **OneCycle** is PyTorch's `OneCycleLR` with `anneal_strategy = "cos"`, `three_phase = False`
/// and `max_lr = lr0` (momentum is not cycled). With `initial = lr0/div_factor`,
/// `min = initial/final_div_factor`, `T = total_steps` and
/// `anneal(a, b, p) = b + (a − b)/2·(cos(π·p) + 1)`:
/// ```text
/// t ≤ w = pct_start·T − 1:     anneal(initial, lr0, t / w)
/// w < t < T − 1:               anneal(lr0, min, (t − w) / (T − 1 − w))
/// t ≥ T − 1:                   min   (PyTorch raises an error after T steps; this stays at min)
/// ```
/// If `w = 0` (so that `t = w = 0` would divide 0 by 0, a NaN in PyTorch), step 0 uses `lr0`,
/// the end of a warm-up of length 0.
///
/// **InverseScaling** is scikit-learn's `learning_rate = "invscaling"` counted in optimizer steps
/// (scikit-learn's MLP counts samples and updates once per epoch).
///
/// **ReduceOnPlateau** is PyTorch's `ReduceLROnPlateau` with `mode = "min"`,
/// `threshold_mode = "rel"` and `eps =` [`PLATEAU_MIN_CHANGE`], fed the validation loss at the end
/// of every epoch:
/// ```text
/// better  ⇔  metric < best·(1 − threshold)        (best starts at +∞; NaN is never better)
/// better: best ← metric, bad ← 0;   else: bad ← bad + 1
/// in cooldown (counter > 0): counter ← counter − 1, bad ← 0
/// bad > patience: lr ← max(lr·factor, min_lr) (only if that lowers it by more than
///                 PLATEAU_MIN_CHANGE), counter ← cooldown, bad ← 0
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Schedule {
    /// `lr0` throughout.
    Constant,
    /// Multiplies the learning rate by `gamma` every `step_epochs` epochs (PyTorch's `StepLR`).
    Step {
        /// Epochs between two reductions, ≥ 1.
        step_epochs: usize,
        /// The factor, in (0, 1].
        gamma: f64,
    },
    /// Multiplies the learning rate by `gamma` every epoch (PyTorch's `ExponentialLR`).
    Exponential {
        /// The factor, in (0, 1].
        gamma: f64,
    },
    /// Half a cosine from `lr0` down to `eta_min` over `t_max_epochs` epochs, then `eta_min`.
    Cosine {
        /// `T_max`, the length of the descent in epochs, ≥ 1.
        t_max_epochs: usize,
        /// `η_min`, the final learning rate, in [0, lr0].
        eta_min: f64,
    },
    /// Warm-up then annealing, updated every step (PyTorch's `OneCycleLR`; `lr0` is its `max_lr`).
    OneCycle {
        /// The number of steps of the whole cycle, ≥ 1.
        total_steps: usize,
        /// The fraction of the steps spent warming up, in (0, 1) (PyTorch's default: 0.3).
        pct_start: f64,
        /// `lr0 / initial learning rate`, ≥ 1 (PyTorch's default: 25).
        div_factor: f64,
        /// `initial / final learning rate`, ≥ 1 (PyTorch's default: 1e4).
        final_div_factor: f64,
    },
    /// `lr0 / (t + 1)^power_t`, updated every step (scikit-learn's `invscaling`).
    InverseScaling {
        /// The exponent, ≥ 0 (scikit-learn's default: 0.5).
        power_t: f64,
    },
    /// Divides the learning rate when the validation loss stops improving (PyTorch's
    /// `ReduceLROnPlateau`, mode `min`, relative threshold).
    ReduceOnPlateau {
        /// The factor, in (0, 1) (PyTorch's default: 0.1).
        factor: f64,
        /// The number of bad epochs tolerated before a reduction (PyTorch's default: 10).
        patience: usize,
        /// The relative improvement that counts, in [0, 1) (PyTorch's default: 1e-4).
        threshold: f64,
        /// The learning rate never goes below this, in [0, lr0] (PyTorch's default: 0).
        min_lr: f64,
        /// Epochs after a reduction during which bad epochs are not counted (PyTorch's
        /// default: 0).
        cooldown: usize,
    },
}

impl Schedule {
    /// `OneCycle` over `total_steps` steps with PyTorch's defaults: `pct_start = 0.3`,
    /// `div_factor = 25`, `final_div_factor = 1e4`.
    #[must_use]
    pub fn one_cycle(total_steps: usize) -> Self {
        Schedule::OneCycle { total_steps, pct_start: 0.3, div_factor: 25.0, final_div_factor: 1e4 }
    }

    /// `ReduceOnPlateau` with PyTorch's defaults: `factor = 0.1`, `patience = 10`,
    /// `threshold = 1e-4`, `min_lr = 0`, `cooldown = 0`.
    #[must_use]
    pub fn reduce_on_plateau() -> Self {
        Schedule::ReduceOnPlateau {
            factor: 0.1,
            patience: 10,
            threshold: 1e-4,
            min_lr: 0.0,
            cooldown: 0,
        }
    }

    /// The schedule's name: `constant`, `step`, `exponential`, `cosine`, `one_cycle`,
    /// `inverse_scaling` or `reduce_on_plateau`.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Schedule::Constant => "constant",
            Schedule::Step { .. } => "step",
            Schedule::Exponential { .. } => "exponential",
            Schedule::Cosine { .. } => "cosine",
            Schedule::OneCycle { .. } => "one_cycle",
            Schedule::InverseScaling { .. } => "inverse_scaling",
            Schedule::ReduceOnPlateau { .. } => "reduce_on_plateau",
        }
    }

    /// Whether the learning rate changes after every optimizer step (`OneCycle`,
    /// `InverseScaling`) rather than at the end of epochs.
    #[must_use]
    pub fn is_per_step(&self) -> bool {
        matches!(self, Schedule::OneCycle { .. } | Schedule::InverseScaling { .. })
    }

    /// Whether [`LrScheduler::on_epoch_end`] needs a metric (`ReduceOnPlateau`).
    #[must_use]
    pub fn needs_metric(&self) -> bool {
        matches!(self, Schedule::ReduceOnPlateau { .. })
    }

    /// Checks every hyper-parameter for a base learning rate `base_lr` (see each field's domain).
    ///
    /// # Errors
    /// [`Error::InvalidHyperparameter`] naming the first bad one, `base_lr` included (finite,
    /// > 0).
    pub fn validate(&self, base_lr: f64) -> Result<(), Error> {
        check_param("learning_rate", base_lr, "a finite number > 0", |v| v > 0.0)?;
        let count = |name, n: usize| check_param(name, n as f64, "an integer ≥ 1", |v| v >= 1.0);
        let gamma_ok = |v: f64| v > 0.0 && v <= 1.0;
        match *self {
            Schedule::Constant => {}
            Schedule::Step { step_epochs, gamma } => {
                count("step_epochs", step_epochs)?;
                check_param("gamma", gamma, "a number in (0, 1]", gamma_ok)?;
            }
            Schedule::Exponential { gamma } => {
                check_param("gamma", gamma, "a number in (0, 1]", gamma_ok)?;
            }
            Schedule::Cosine { t_max_epochs, eta_min } => {
                count("t_max_epochs", t_max_epochs)?;
                check_param("eta_min", eta_min, "a number in [0, learning_rate]", |v| {
                    v >= 0.0 && v <= base_lr
                })?;
            }
            Schedule::OneCycle { total_steps, pct_start, div_factor, final_div_factor } => {
                count("total_steps", total_steps)?;
                check_param("pct_start", pct_start, "a number in (0, 1)", |v| v > 0.0 && v < 1.0)?;
                check_param("div_factor", div_factor, "a finite number ≥ 1", |v| v >= 1.0)?;
                check_param("final_div_factor", final_div_factor, "a finite number ≥ 1", |v| {
                    v >= 1.0
                })?;
            }
            Schedule::InverseScaling { power_t } => {
                check_param("power_t", power_t, "a finite number ≥ 0", |v| v >= 0.0)?;
            }
            Schedule::ReduceOnPlateau { factor, patience: _, threshold, min_lr, cooldown: _ } => {
                check_param("factor", factor, "a number in (0, 1)", |v| v > 0.0 && v < 1.0)?;
                check_param("threshold", threshold, "a number in [0, 1)", |v| {
                    (0.0..1.0).contains(&v)
                })?;
                check_param("min_lr", min_lr, "a number in [0, learning_rate]", |v| {
                    v >= 0.0 && v <= base_lr
                })?;
            }
        }
        Ok(())
    }
}

/// Everything an [`LrScheduler`] needs to resume exactly.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScheduleState {
    /// The number of completed epochs.
    pub epoch: u64,
    /// The number of optimizer steps taken.
    pub step: u64,
    /// The learning rate of the next step.
    pub lr: f64,
    /// `ReduceOnPlateau`: the best metric so far (`None` before the first epoch ends with a
    /// finite metric).
    pub best: Option<f64>,
    /// `ReduceOnPlateau`: the number of bad epochs since the last improvement or reduction.
    pub bad_epochs: u64,
    /// `ReduceOnPlateau`: the epochs of cooldown left.
    pub cooldown_counter: u64,
}

/// A learning-rate schedule in motion: a base learning rate, a [`Schedule`] and its counters.
#[derive(Clone, Debug, PartialEq)]
pub struct LrScheduler {
    base_lr: f64,
    schedule: Schedule,
    state: ScheduleState,
}

impl LrScheduler {
    /// A scheduler at epoch 0, step 0.
    ///
    /// # Errors
    /// [`Error::InvalidHyperparameter`] from [`Schedule::validate`].
    pub fn new(base_lr: f64, schedule: Schedule) -> Result<Self, Error> {
        schedule.validate(base_lr)?;
        let state = ScheduleState {
            epoch: 0,
            step: 0,
            lr: base_lr,
            best: None,
            bad_epochs: 0,
            cooldown_counter: 0,
        };
        let mut sched = LrScheduler { base_lr, schedule, state };
        sched.state.lr = sched.closed_form().unwrap_or(base_lr);
        Ok(sched)
    }

    /// A scheduler resuming from a saved [`ScheduleState`] (from [`LrScheduler::state`]): it
    /// continues exactly as the saved one would have.
    ///
    /// # Errors
    /// [`Error::InvalidHyperparameter`] from [`Schedule::validate`]; [`Error::StateValue`] if
    /// the saved learning rate is not finite and ≥ 0; for `ReduceOnPlateau` if `best` is NaN,
    /// the learning rate is not in [min_lr, lr0], or the counters exceed `patience` and
    /// `cooldown`; for the other schedules if the plateau fields are not `None`, 0 and 0 (their
    /// learning rate is recomputed from the counters, see below).
    pub fn from_state(
        base_lr: f64,
        schedule: Schedule,
        state: ScheduleState,
    ) -> Result<Self, Error> {
        let mut sched = LrScheduler::new(base_lr, schedule)?;
        let bad = |what, value, expected| {
            Err(Error::StateValue { what, layer_idx: None, index: 0, value, expected })
        };
        if !(state.lr.is_finite() && state.lr >= 0.0) {
            return bad("schedule learning rate", state.lr, "a finite number ≥ 0");
        }
        sched.state.epoch = state.epoch;
        sched.state.step = state.step;
        match (schedule, sched.closed_form()) {
            (Schedule::ReduceOnPlateau { patience, min_lr, cooldown, .. }, _) => {
                if let Some(best) = state.best.filter(|b| b.is_nan()) {
                    return bad("schedule best metric", best, "a number (not NaN)");
                }
                if !(state.lr >= min_lr && state.lr <= base_lr) {
                    return bad("schedule learning rate", state.lr, "a number in [min_lr, lr0]");
                }
                if state.bad_epochs > patience as u64 {
                    return bad("schedule bad epochs", state.bad_epochs as f64, "at most patience");
                }
                if state.cooldown_counter > cooldown as u64 {
                    let left = state.cooldown_counter as f64;
                    return bad("schedule cooldown left", left, "at most cooldown");
                }
            }
            (_, expected) => {
                // Closed-form schedules: the rate follows from the counters, so it is recomputed
                // (the same bits as saved when nothing changed), and a run can be resumed with a
                // longer horizon (a cosine's T_max, say) as if it had been started with it.
                let plateau = [
                    ("schedule best metric", state.best.unwrap_or(0.0), state.best.is_some()),
                    ("schedule bad epochs", state.bad_epochs as f64, state.bad_epochs != 0),
                    (
                        "schedule cooldown left",
                        state.cooldown_counter as f64,
                        state.cooldown_counter != 0,
                    ),
                ];
                if let Some(&(what, value, _)) = plateau.iter().find(|p| p.2) {
                    return bad(what, value, "unset (only reduce_on_plateau keeps it)");
                }
                let mut state = state;
                state.lr = expected.unwrap_or(base_lr);
                sched.state = state;
                return Ok(sched);
            }
        }
        sched.state = state;
        Ok(sched)
    }

    /// A copy of the counters and the current learning rate, for a checkpoint.
    #[must_use]
    pub fn state(&self) -> ScheduleState {
        self.state
    }

    /// The learning rate for the next optimizer step.
    #[must_use]
    pub fn lr(&self) -> f64 {
        self.state.lr
    }

    /// The base learning rate `lr0`.
    #[must_use]
    pub fn base_lr(&self) -> f64 {
        self.base_lr
    }

    /// The schedule.
    #[must_use]
    pub fn schedule(&self) -> &Schedule {
        &self.schedule
    }

    /// The number of completed epochs.
    #[must_use]
    pub fn epoch(&self) -> u64 {
        self.state.epoch
    }

    /// The number of optimizer steps taken.
    #[must_use]
    pub fn n_steps(&self) -> u64 {
        self.state.step
    }

    /// Records one optimizer step (call it after each batch's update).
    pub fn on_step(&mut self) {
        self.state.step = self.state.step.saturating_add(1);
        if self.schedule.is_per_step() {
            self.refresh();
        }
    }

    /// Records the end of an epoch. `metric` is the validation loss (lower is better), which
    /// `ReduceOnPlateau` needs and the other schedules ignore.
    ///
    /// # Errors
    /// [`Error::InvalidHyperparameter`] (name `"metric"`) if the schedule is `ReduceOnPlateau` and
    /// `metric` is `None`; nothing is changed then. A NaN metric counts as a bad epoch, as in
    /// PyTorch.
    pub fn on_epoch_end(&mut self, metric: Option<f64>) -> Result<(), Error> {
        let Schedule::ReduceOnPlateau { factor, patience, threshold, min_lr, cooldown } =
            self.schedule
        else {
            self.state.epoch = self.state.epoch.saturating_add(1);
            self.refresh();
            return Ok(());
        };
        let Some(current) = metric else {
            return Err(Error::InvalidHyperparameter {
                name: "metric",
                value: f64::NAN,
                expected: "a validation loss at the end of every epoch (ReduceOnPlateau)",
            });
        };
        let s = &mut self.state;
        s.epoch = s.epoch.saturating_add(1);
        // Mode "min", relative threshold; the first best is +∞.
        if current < s.best.unwrap_or(f64::INFINITY) * (1.0 - threshold) {
            s.best = Some(current);
            s.bad_epochs = 0;
        } else {
            s.bad_epochs = s.bad_epochs.saturating_add(1);
        }
        if s.cooldown_counter > 0 {
            s.cooldown_counter -= 1;
            s.bad_epochs = 0;
        }
        if s.bad_epochs > patience as u64 {
            let new_lr = (s.lr * factor).max(min_lr);
            if s.lr - new_lr > PLATEAU_MIN_CHANGE {
                s.lr = new_lr;
            }
            s.cooldown_counter = cooldown as u64;
            s.bad_epochs = 0;
        }
        Ok(())
    }

    fn refresh(&mut self) {
        if let Some(lr) = self.closed_form() {
            self.state.lr = lr;
        }
    }

    /// The learning rate at the current epoch and step, for every schedule but
    /// `ReduceOnPlateau` (whose learning rate depends on the history of the metric).
    fn closed_form(&self) -> Option<f64> {
        let lr0 = self.base_lr;
        let ScheduleState { epoch, step, .. } = self.state;
        let lr = match self.schedule {
            Schedule::Constant => lr0,
            Schedule::Step { step_epochs, gamma } => {
                lr0 * gamma.powf((epoch / (step_epochs.max(1) as u64)) as f64)
            }
            Schedule::Exponential { gamma } => lr0 * gamma.powf(epoch as f64),
            Schedule::Cosine { t_max_epochs, eta_min } => {
                let t_max = t_max_epochs as u64;
                if epoch > t_max {
                    eta_min
                } else {
                    // PyTorch's closed form, in its order of operations.
                    eta_min
                        + (lr0 - eta_min) * (1.0 + (PI * epoch as f64 / t_max as f64).cos()) / 2.0
                }
            }
            Schedule::OneCycle { total_steps, pct_start, div_factor, final_div_factor } => {
                one_cycle(lr0, step, total_steps, pct_start, div_factor, final_div_factor)
            }
            Schedule::InverseScaling { power_t } => lr0 / (step as f64 + 1.0).powf(power_t),
            Schedule::ReduceOnPlateau { .. } => return None,
        };
        Some(lr)
    }
}

/// PyTorch's `_annealing_cos`: from `start` (p = 0) to `end` (p = 1) along half a cosine.
fn anneal_cos(start: f64, end: f64, pct: f64) -> f64 {
    end + (start - end) / 2.0 * ((PI * pct).cos() + 1.0)
}

/// PyTorch's `OneCycleLR.get_lr` (two phases, cosine annealing) at step `step`.
fn one_cycle(
    max_lr: f64,
    step: u64,
    total_steps: usize,
    pct_start: f64,
    div_factor: f64,
    final_div_factor: f64,
) -> f64 {
    let initial = max_lr / div_factor;
    let min = initial / final_div_factor;
    let last = total_steps as f64 - 1.0;
    let t = step as f64;
    if t >= last {
        return min;
    }
    let warm_end = pct_start * total_steps as f64 - 1.0;
    if t <= warm_end {
        // A zero-length warm-up (warm_end = 0 = t) is over: its end is max_lr.
        let pct = if warm_end > 0.0 { t / warm_end } else { 1.0 };
        anneal_cos(initial, max_lr, pct)
    } else {
        anneal_cos(max_lr, min, (t - warm_end) / (last - warm_end))
    }
}
