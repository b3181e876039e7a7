//! Learning-rate schedules against their formulas, computed independently here, checkpoint round
//! trips, and every error path.

use std::f64::consts::PI;

use nn_train::Error;
use nn_train::schedule::{LrScheduler, Schedule, ScheduleState};

/// |actual − expected| ≤ 1e-12·|expected| + 1e-18.
fn assert_close(actual: f64, expected: f64, what: &str) {
    assert!(
        (actual - expected).abs() <= 1e-12 * expected.abs() + 1e-18,
        "{what}: {actual} vs {expected}"
    );
}

/// The learning rate of every step of `n_epochs` epochs of `steps_per_epoch` steps, with
/// `metric(epoch)` passed at the end of each epoch.
fn run(
    sched: &mut LrScheduler,
    n_epochs: usize,
    steps_per_epoch: usize,
    metric: impl Fn(usize) -> Option<f64>,
) -> Vec<f64> {
    let mut lrs = Vec::new();
    for epoch in 0..n_epochs {
        for _ in 0..steps_per_epoch {
            lrs.push(sched.lr());
            sched.on_step();
        }
        sched.on_epoch_end(metric(epoch)).unwrap();
    }
    lrs
}

/// Checks `run` against `expected(epoch, step)` for the step at (epoch, global step index).
fn check(
    base_lr: f64,
    schedule: Schedule,
    n_epochs: usize,
    steps_per_epoch: usize,
    expected: impl Fn(usize, usize) -> f64,
) {
    let mut sched = LrScheduler::new(base_lr, schedule).unwrap();
    let lrs = run(&mut sched, n_epochs, steps_per_epoch, |_| None);
    for (t, &lr) in lrs.iter().enumerate() {
        let epoch = t / steps_per_epoch;
        assert_close(lr, expected(epoch, t), &format!("{schedule:?} epoch {epoch}, step {t}"));
    }
    assert_eq!(sched.epoch(), n_epochs as u64);
    assert_eq!(sched.n_steps(), (n_epochs * steps_per_epoch) as u64);
}

#[test]
fn constant_step_and_exponential_follow_their_formulas() {
    check(0.3, Schedule::Constant, 4, 3, |_, _| 0.3);
    // lr0·γ^⌊e/3⌋, by repeated multiplication.
    let step = |e: usize| (0..e / 3).fold(0.1, |lr, _| lr * 0.5);
    check(0.1, Schedule::Step { step_epochs: 3, gamma: 0.5 }, 10, 4, |e, _| step(e));
    let exp = |e: usize| (0..e).fold(0.2, |lr, _| lr * 0.9);
    check(0.2, Schedule::Exponential { gamma: 0.9 }, 12, 2, |e, _| exp(e));
    // γ = 1 is allowed: constant.
    check(0.2, Schedule::Exponential { gamma: 1.0 }, 3, 2, |_, _| 0.2);
}

#[test]
fn cosine_follows_pytorch_then_stays_at_eta_min() {
    let (lr0, eta_min, t_max) = (0.1, 0.001, 5);
    let expected = |e: usize| {
        let e = e.min(t_max) as f64;
        eta_min + 0.5 * (lr0 - eta_min) * (1.0 + (e / t_max as f64 * PI).cos())
    };
    check(lr0, Schedule::Cosine { t_max_epochs: t_max, eta_min }, 9, 3, |e, _| expected(e));
    let mut sched =
        LrScheduler::new(lr0, Schedule::Cosine { t_max_epochs: t_max, eta_min }).unwrap();
    for _ in 0..t_max {
        sched.on_epoch_end(None).unwrap();
    }
    assert_close(sched.lr(), eta_min, "cosine at T_max");
}

/// PyTorch's `OneCycleLR.get_lr`, transliterated (phases list and all), for steps < total_steps.
fn one_cycle_reference(max_lr: f64, total: usize, pct_start: f64, div: f64, fdiv: f64) -> Vec<f64> {
    let initial = max_lr / div;
    let min = initial / fdiv;
    let phases =
        [(pct_start * total as f64 - 1.0, initial, max_lr), (total as f64 - 1.0, max_lr, min)];
    let anneal =
        |start: f64, end: f64, pct: f64| end + (start - end) / 2.0 * ((PI * pct).cos() + 1.0);
    (0..total)
        .map(|step| {
            let step = step as f64;
            let mut start_step = 0.0;
            for (i, &(end_step, start_lr, end_lr)) in phases.iter().enumerate() {
                if step <= end_step || i == phases.len() - 1 {
                    return anneal(start_lr, end_lr, (step - start_step) / (end_step - start_step));
                }
                start_step = end_step;
            }
            f64::NAN
        })
        .collect()
}

#[test]
fn one_cycle_follows_pytorch_and_stays_at_its_minimum() {
    let (lr0, total) = (0.4, 20);
    let reference = one_cycle_reference(lr0, total, 0.3, 25.0, 1e4);
    let min = lr0 / 25.0 / 1e4;
    // 6 epochs of 4 steps: 24 steps, 4 beyond the cycle.
    check(lr0, Schedule::one_cycle(total), 6, 4, |_, t| reference.get(t).copied().unwrap_or(min));
    // Landmarks: the start, the peak at step pct_start·T − 1 = 5, the end.
    assert_close(reference[0], lr0 / 25.0, "initial");
    assert_close(reference[5], lr0, "peak");
    assert_close(reference[total - 1], min, "end");

    let custom = Schedule::OneCycle {
        total_steps: 13,
        pct_start: 0.45,
        div_factor: 10.0,
        final_div_factor: 100.0,
    };
    let reference = one_cycle_reference(0.02, 13, 0.45, 10.0, 100.0);
    check(0.02, custom, 5, 3, |_, t| reference.get(t).copied().unwrap_or(0.02 / 10.0 / 100.0));
}

#[test]
fn one_cycle_with_a_warmup_of_length_zero_is_finite() {
    // pct_start·T − 1 = 0: PyTorch divides 0 by 0 at step 0; here step 0 is the peak.
    let schedule = Schedule::OneCycle {
        total_steps: 10,
        pct_start: 0.1,
        div_factor: 25.0,
        final_div_factor: 1e4,
    };
    let mut zero_warmup = LrScheduler::new(0.1, schedule).unwrap();
    assert_close(zero_warmup.lr(), 0.1, "step 0");
    for _ in 0..12 {
        zero_warmup.on_step();
        assert!(zero_warmup.lr().is_finite() && zero_warmup.lr() > 0.0);
    }
    // A one-step cycle is at its minimum from the start.
    let one = LrScheduler::new(0.1, Schedule::one_cycle(1)).unwrap();
    assert_close(one.lr(), 0.1 / 25.0 / 1e4, "one-step cycle");
}

#[test]
fn inverse_scaling_follows_scikit_learn() {
    check(0.5, Schedule::InverseScaling { power_t: 0.5 }, 3, 5, |_, t| {
        0.5 / ((t + 1) as f64).sqrt()
    });
    check(0.5, Schedule::InverseScaling { power_t: 1.0 }, 2, 4, |_, t| 0.5 / (t + 1) as f64);
    check(0.5, Schedule::InverseScaling { power_t: 0.0 }, 2, 4, |_, _| 0.5);
}

fn plateau(patience: usize, cooldown: usize) -> Schedule {
    Schedule::ReduceOnPlateau { factor: 0.5, patience, threshold: 0.1, min_lr: 0.01, cooldown }
}

#[test]
fn reduce_on_plateau_follows_pytorch() {
    // Worked by hand with PyTorch's rules (mode min, relative threshold 0.1, so an improvement
    // must beat best·0.9):
    // e1 1.0 best; e2-e4 0.95 bad ×3 > 2 → 0.05, cooldown 1; e5 0.5 best, cooldown ends;
    // e6-e8 bad ×3 → 0.025; e9 cooldown; e10-e12 → 0.0125; e13 cooldown; e14-e16 → max(0.00625,
    // min_lr) = 0.01; e17 cooldown; e18-e20 → max(0.005, 0.01) = 0.01: no change.
    let metrics = [1.0, 0.95, 0.95, 0.95, 0.5];
    let mut sched = LrScheduler::new(0.1, plateau(2, 1)).unwrap();
    let mut after = Vec::new();
    for e in 0..20 {
        sched.on_epoch_end(Some(metrics.get(e).copied().unwrap_or(0.5))).unwrap();
        after.push(sched.lr());
    }
    let expected = [
        0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.025, 0.0125, 0.0125, 0.0125,
        0.0125, 0.01, 0.01, 0.01, 0.01, 0.01,
    ];
    for (e, (&got, &want)) in after.iter().zip(&expected).enumerate() {
        assert_close(got, want, &format!("epoch {}", e + 1));
    }
    let state = sched.state();
    assert_eq!(state.best, Some(0.5));
    assert_eq!(state.epoch, 20);

    // Steps do not move it; a NaN metric is a bad epoch; improvements reset the count.
    let mut sched = LrScheduler::new(0.1, plateau(1, 0)).unwrap();
    for _ in 0..5 {
        sched.on_step();
    }
    sched.on_epoch_end(Some(2.0)).unwrap();
    sched.on_epoch_end(Some(f64::NAN)).unwrap();
    assert_close(sched.lr(), 0.1, "one bad epoch");
    sched.on_epoch_end(Some(1.0)).unwrap();
    assert_eq!(sched.state().bad_epochs, 0);
    sched.on_epoch_end(Some(f64::NAN)).unwrap();
    sched.on_epoch_end(Some(0.95)).unwrap(); // not 10 % better than 1.0
    assert_close(sched.lr(), 0.05, "two bad epochs");
}

#[test]
fn reduce_on_plateau_needs_a_metric() {
    let mut sched = LrScheduler::new(0.1, plateau(2, 1)).unwrap();
    let before = sched.state();
    assert!(matches!(
        sched.on_epoch_end(None),
        Err(Error::InvalidHyperparameter { name: "metric", .. })
    ));
    assert_eq!(sched.state(), before);
    assert!(plateau(2, 1).needs_metric() && !Schedule::Constant.needs_metric());
}

fn all_schedules() -> Vec<Schedule> {
    vec![
        Schedule::Constant,
        Schedule::Step { step_epochs: 2, gamma: 0.7 },
        Schedule::Exponential { gamma: 0.95 },
        Schedule::Cosine { t_max_epochs: 4, eta_min: 0.0 },
        Schedule::one_cycle(15),
        Schedule::InverseScaling { power_t: 0.25 },
        plateau(1, 1),
        Schedule::reduce_on_plateau(),
    ]
}

#[test]
fn state_round_trip_continues_identically() {
    let metric = |e: usize| Some(1.0 / (1.0 + (e % 3) as f64));
    for schedule in all_schedules() {
        let mut sched = LrScheduler::new(0.1, schedule).unwrap();
        run(&mut sched, 3, 3, metric);
        sched.on_step(); // mid-epoch
        let state = sched.state();
        let mut resumed = LrScheduler::from_state(0.1, schedule, state).unwrap();
        assert_eq!(resumed, sched);
        assert_eq!(resumed.lr().to_bits(), sched.lr().to_bits());
        let a: Vec<u64> = run(&mut sched, 4, 3, metric).into_iter().map(f64::to_bits).collect();
        let b: Vec<u64> = run(&mut resumed, 4, 3, metric).into_iter().map(f64::to_bits).collect();
        assert_eq!(a, b, "{schedule:?}");
        assert_eq!(sched.state(), resumed.state());
    }
}

fn is_mismatch(result: Result<LrScheduler, Error>) -> bool {
    matches!(result.err(), Some(Error::StateValue { .. }))
}

#[test]
fn from_state_rejects_states_that_do_not_fit() {
    let step = Schedule::Step { step_epochs: 1, gamma: 0.5 };
    let mut sched = LrScheduler::new(0.1, step).unwrap();
    sched.on_epoch_end(None).unwrap();
    let state = sched.state();
    // A closed-form schedule recomputes its rate from the counters: another base learning rate
    // or horizon is taken as the new setting, not rejected.
    assert_eq!(LrScheduler::from_state(0.2, step, state).unwrap().lr(), 0.1);
    assert_eq!(LrScheduler::from_state(0.1, Schedule::Constant, state).unwrap().lr(), 0.1);
    let cosine = |t_max_epochs| Schedule::Cosine { t_max_epochs, eta_min: 0.0 };
    let mut short = LrScheduler::new(1.0, cosine(1)).unwrap();
    short.on_epoch_end(None).unwrap();
    assert_eq!(short.lr(), 0.0);
    let longer = LrScheduler::from_state(1.0, cosine(2), short.state()).unwrap();
    let mut straight = LrScheduler::new(1.0, cosine(2)).unwrap();
    straight.on_epoch_end(None).unwrap();
    assert_eq!(longer.lr().to_bits(), straight.lr().to_bits());
    for lr in [f64::NAN, -0.1, f64::INFINITY] {
        assert!(is_mismatch(LrScheduler::from_state(0.1, step, ScheduleState { lr, ..state })));
    }
    // Plateau counters on a schedule without a plateau.
    let with_best = ScheduleState { best: Some(1.0), ..state };
    assert!(is_mismatch(LrScheduler::from_state(0.1, step, with_best)));

    let mut sched = LrScheduler::new(0.1, plateau(2, 1)).unwrap();
    sched.on_epoch_end(Some(1.0)).unwrap();
    let state = sched.state();
    assert!(LrScheduler::from_state(0.1, plateau(2, 1), state).is_ok());
    let bad = [
        ScheduleState { best: Some(f64::NAN), ..state },
        ScheduleState { bad_epochs: 3, ..state },
        ScheduleState { cooldown_counter: 2, ..state },
        ScheduleState { lr: 0.001, ..state },
        ScheduleState { lr: 0.2, ..state },
    ];
    for s in bad {
        assert!(is_mismatch(LrScheduler::from_state(0.1, plateau(2, 1), s)), "{s:?}");
    }
}

/// The name in an `InvalidHyperparameter` error, `None` for any other result.
fn invalid_name(result: Result<LrScheduler, Error>) -> Option<&'static str> {
    match result.err() {
        Some(Error::InvalidHyperparameter { name, .. }) => Some(name),
        _ => None,
    }
}

#[test]
fn bad_hyperparameters_are_errors() {
    let one_cycle = |total_steps, pct_start, div_factor, final_div_factor| Schedule::OneCycle {
        total_steps,
        pct_start,
        div_factor,
        final_div_factor,
    };
    let plateau = |factor, threshold, min_lr| Schedule::ReduceOnPlateau {
        factor,
        patience: 3,
        threshold,
        min_lr,
        cooldown: 0,
    };
    let bad = [
        (0.0, Schedule::Constant, "learning_rate"),
        (-1.0, Schedule::Constant, "learning_rate"),
        (f64::NAN, Schedule::Constant, "learning_rate"),
        (f64::INFINITY, Schedule::Constant, "learning_rate"),
        (0.1, Schedule::Step { step_epochs: 0, gamma: 0.5 }, "step_epochs"),
        (0.1, Schedule::Step { step_epochs: 2, gamma: 0.0 }, "gamma"),
        (0.1, Schedule::Step { step_epochs: 2, gamma: 1.5 }, "gamma"),
        (0.1, Schedule::Exponential { gamma: f64::NAN }, "gamma"),
        (0.1, Schedule::Exponential { gamma: -0.5 }, "gamma"),
        (0.1, Schedule::Cosine { t_max_epochs: 0, eta_min: 0.0 }, "t_max_epochs"),
        (0.1, Schedule::Cosine { t_max_epochs: 5, eta_min: -1e-3 }, "eta_min"),
        (0.1, Schedule::Cosine { t_max_epochs: 5, eta_min: 0.2 }, "eta_min"),
        (0.1, one_cycle(0, 0.3, 25.0, 1e4), "total_steps"),
        (0.1, one_cycle(10, 0.0, 25.0, 1e4), "pct_start"),
        (0.1, one_cycle(10, 1.0, 25.0, 1e4), "pct_start"),
        (0.1, one_cycle(10, 0.3, 0.5, 1e4), "div_factor"),
        (0.1, one_cycle(10, 0.3, 25.0, f64::INFINITY), "final_div_factor"),
        (0.1, Schedule::InverseScaling { power_t: -0.5 }, "power_t"),
        (0.1, plateau(1.0, 1e-4, 0.0), "factor"),
        (0.1, plateau(0.0, 1e-4, 0.0), "factor"),
        (0.1, plateau(0.5, -1e-4, 0.0), "threshold"),
        (0.1, plateau(0.5, 1.0, 0.0), "threshold"),
        (0.1, plateau(0.5, 1e-4, -1.0), "min_lr"),
        (0.1, plateau(0.5, 1e-4, 0.5), "min_lr"),
    ];
    for (base_lr, schedule, name) in bad {
        assert_eq!(invalid_name(LrScheduler::new(base_lr, schedule)), Some(name), "{schedule:?}");
        let state = ScheduleState {
            epoch: 0,
            step: 0,
            lr: 0.1,
            best: None,
            bad_epochs: 0,
            cooldown_counter: 0,
        };
        let restored = LrScheduler::from_state(base_lr, schedule, state);
        assert_eq!(invalid_name(restored), Some(name), "{schedule:?}");
    }
}

#[test]
fn names_and_kinds() {
    let names: Vec<&str> = all_schedules().iter().map(Schedule::name).collect();
    assert_eq!(
        names,
        [
            "constant",
            "step",
            "exponential",
            "cosine",
            "one_cycle",
            "inverse_scaling",
            "reduce_on_plateau",
            "reduce_on_plateau"
        ]
    );
    let per_step: Vec<bool> = all_schedules().iter().map(Schedule::is_per_step).collect();
    assert_eq!(per_step, [false, false, false, false, true, true, false, false]);
}
