//! Settings named as the Python side passes them, turned into the crates' configurations.

use std::collections::HashMap;

use nn_core::Activation;
use nn_train::optim::OptimizerConfig;
use nn_train::schedule::Schedule;

use crate::error::Failure;

/// The optimizer's hyper-parameters, as scikit-learn names them.
pub(crate) struct SolverParams {
    pub(crate) momentum: f64,
    pub(crate) nesterov: bool,
    pub(crate) beta_1: f64,
    pub(crate) beta_2: f64,
    pub(crate) epsilon: f64,
    /// AdamW's decoupled weight decay (scikit-learn's `alpha` with `solver="adamw"`).
    pub(crate) weight_decay: f64,
}

/// `sgd` (momentum, Nesterov as scikit-learn's `nesterovs_momentum`, which needs momentum > 0),
/// `adam`, `adamw` (β1, β2, ε) or `rmsprop` (β2 as the decay of the mean square, ε).
pub(crate) fn optimizer(solver: &str, p: &SolverParams) -> Result<OptimizerConfig, Failure> {
    Ok(match solver {
        "sgd" => OptimizerConfig::sgd()
            .with_momentum(p.momentum)
            .with_nesterov(p.nesterov && p.momentum > 0.0)
            .into(),
        "adam" => OptimizerConfig::adam().with_betas(p.beta_1, p.beta_2).with_eps(p.epsilon).into(),
        "adamw" => OptimizerConfig::adamw()
            .with_betas(p.beta_1, p.beta_2)
            .with_eps(p.epsilon)
            .with_weight_decay(p.weight_decay)
            .into(),
        "rmsprop" => OptimizerConfig::rmsprop().with_alpha(p.beta_2).with_eps(p.epsilon).into(),
        other => {
            return Err(Failure::Value(format!(
                "unknown solver {other:?}: expected sgd, adam, adamw or rmsprop"
            )));
        }
    })
}

/// A count stored as a float in the parameters: a whole number ≥ 0.
fn count(name: &str, value: f64) -> Result<usize, Failure> {
    if value.is_finite() && value >= 0.0 && value.fract() == 0.0 && value <= u32::MAX as f64 {
        Ok(value as usize)
    } else {
        Err(Failure::Value(format!(
            "schedule parameter {name} must be a whole number ≥ 0, got {value}"
        )))
    }
}

/// The schedule `name` with its parameters (all of them: the Python side fills the defaults).
pub(crate) fn schedule(name: &str, params: &HashMap<String, f64>) -> Result<Schedule, Failure> {
    let expected: &[&str] = match name {
        "constant" => &[],
        "step" => &["step_epochs", "gamma"],
        "exponential" => &["gamma"],
        "cosine" => &["t_max_epochs", "eta_min"],
        "one_cycle" => &["total_steps", "pct_start", "div_factor", "final_div_factor"],
        "inverse_scaling" => &["power_t"],
        "plateau" => &["factor", "patience", "threshold", "min_lr", "cooldown"],
        other => {
            return Err(Failure::Value(format!(
                "unknown schedule {other:?}: expected constant, step, exponential, cosine, one_cycle, inverse_scaling or plateau"
            )));
        }
    };
    let mut keys: Vec<&str> = params.keys().map(String::as_str).collect();
    keys.sort_unstable();
    let mut want = expected.to_vec();
    want.sort_unstable();
    if keys != want {
        return Err(Failure::Value(format!(
            "schedule {name:?} takes the parameters {want:?}, got {keys:?}"
        )));
    }
    let get = |key: &str| params.get(key).copied().unwrap_or(f64::NAN);
    Ok(match name {
        "step" => Schedule::Step {
            step_epochs: count("step_epochs", get("step_epochs"))?,
            gamma: get("gamma"),
        },
        "exponential" => Schedule::Exponential { gamma: get("gamma") },
        "cosine" => Schedule::Cosine {
            t_max_epochs: count("t_max_epochs", get("t_max_epochs"))?,
            eta_min: get("eta_min"),
        },
        "one_cycle" => Schedule::OneCycle {
            total_steps: count("total_steps", get("total_steps"))?,
            pct_start: get("pct_start"),
            div_factor: get("div_factor"),
            final_div_factor: get("final_div_factor"),
        },
        "inverse_scaling" => Schedule::InverseScaling { power_t: get("power_t") },
        "plateau" => Schedule::ReduceOnPlateau {
            factor: get("factor"),
            patience: count("patience", get("patience"))?,
            threshold: get("threshold"),
            min_lr: get("min_lr"),
            cooldown: count("cooldown", get("cooldown"))?,
        },
        _ => Schedule::Constant,
    })
}

/// A hidden activation: scikit-learn's `identity`, `logistic`, `tanh`, `relu`, or one of ours.
pub(crate) fn activation(name: &str) -> Result<Activation, Failure> {
    name.parse().map_err(|e: nn_core::ParseActivationError| Failure::Value(e.to_string()))
}
