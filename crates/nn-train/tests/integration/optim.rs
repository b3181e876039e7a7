//! Optimizers against an independent float64 NumPy reference, weight decay and the biases,
//! checkpoint round trips, clipping, and every error path.

use nn_core::rng::{ChaCha8Rng, SeedableRng};
use nn_core::{Activation, Dense, Gradients, Loss, Network, Targets, Workspace};
use nn_linalg::Mat;
use nn_train::Error;
use nn_train::optim::{
    AdamConfig, LayerState, Optimizer, OptimizerConfig, OptimizerState, clip_grad_norm,
};

const THETA0: [[f64; 3]; 3] = [[0.5, -0.25, 0.75], [-0.5, 1.0, 0.125], [0.25, -0.75, -1.5]];
const THETA1: [[f64; 4]; 2] = [[0.1, 0.2, -0.3, 0.4], [-0.6, 0.5, 0.0, -0.2]];
const G0: [[f64; 3]; 3] = [[0.3, -0.2, 0.05], [0.0, 0.4, -0.6], [-0.1, 0.25, 0.9]];
const G1: [[f64; 4]; 2] = [[-0.7, 0.15, 0.35, -0.05], [0.2, -0.45, 0.0, 0.6]];
const D0: [[f64; 3]; 3] = [[-0.2, 0.1, 0.3], [0.05, -0.3, 0.2], [0.4, 0.0, -0.5]];
const D1: [[f64; 4]; 2] = [[0.5, -0.25, 0.1, 0.2], [-0.1, 0.3, 0.25, -0.4]];
const LRS: [f64; 3] = [0.1, 0.05, 0.02];

/// Θ of both layers after the three steps: layer 0 (3×3), layer 1 (2×4), row by row.
type Expected = ([[f64; 3]; 3], [[f64; 4]; 2]);

fn mat<const R: usize, const C: usize>(rows: &[[f64; C]; R]) -> Mat<f64> {
    Mat::from_fn(R, C, |i, j| rows[i][j])
}

/// A 2-3-2 network with the fixed Θ of the reference script.
fn tiny_net() -> Network<f64> {
    let layers = vec![
        Dense::from_theta(mat(&THETA0), Activation::Tanh).unwrap(),
        Dense::from_theta(mat(&THETA1), Activation::Identity).unwrap(),
    ];
    Network::new(layers, Loss::SoftmaxCrossEntropy).unwrap()
}

/// The synthetic gradient of step `s`: G + s·D, entry by entry (as NumPy computes it).
fn grads_at(s: usize) -> Gradients<f64> {
    let mut grads = Gradients::zeros_like(&tiny_net());
    let s = s as f64;
    let mut g0 = grads.layer_mut(0).unwrap();
    for i in 0..3 {
        for j in 0..3 {
            g0[(i, j)] = G0[i][j] + s * D0[i][j];
        }
    }
    let mut g1 = grads.layer_mut(1).unwrap();
    for i in 0..2 {
        for j in 0..4 {
            g1[(i, j)] = G1[i][j] + s * D1[i][j];
        }
    }
    grads
}

/// |actual − expected| ≤ rel·|expected| + abs.
fn assert_close(actual: f64, expected: f64, rel: f64, abs: f64, what: &str) {
    assert!(
        (actual - expected).abs() <= rel * expected.abs() + abs,
        "{what}: {actual} vs {expected} (diff {:e})",
        (actual - expected).abs()
    );
}

fn theta_bits(net: &Network<f64>) -> Vec<u64> {
    net.layers().iter().flat_map(Dense::theta_col_major).map(f64::to_bits).collect()
}

fn state_bits(state: &OptimizerState<f64>) -> Vec<Vec<u64>> {
    state
        .layers
        .iter()
        .flat_map(|l| [&l.momentum, &l.exp_avg, &l.exp_avg_sq])
        .map(|b| b.iter().map(|x| x.to_bits()).collect())
        .collect()
}

// The reference: float64 NumPy (2.x), formulas of PyTorch's SGD, Adam, AdamW and RMSprop
// (single-tensor code paths, no dampening, not centered), with weight decay on columns 1.. only.
// import math
// import numpy as np
//
// THETA = [np.array([[0.5, -0.25, 0.75], [-0.5, 1.0, 0.125], [0.25, -0.75, -1.5]]),
//          np.array([[0.1, 0.2, -0.3, 0.4], [-0.6, 0.5, 0.0, -0.2]])]
// G = [np.array([[0.3, -0.2, 0.05], [0.0, 0.4, -0.6], [-0.1, 0.25, 0.9]]),
//      np.array([[-0.7, 0.15, 0.35, -0.05], [0.2, -0.45, 0.0, 0.6]])]
// D = [np.array([[-0.2, 0.1, 0.3], [0.05, -0.3, 0.2], [0.4, 0.0, -0.5]]),
//      np.array([[0.5, -0.25, 0.1, 0.2], [-0.1, 0.3, 0.25, -0.4]])]
// LRS = [0.1, 0.05, 0.02]
//
// def grad(layer, s):  # the gradient of step s (0, 1, 2)
//     return G[layer] + s * D[layer]
//
// def run(kind, momentum=0.0, nesterov=False, wd=0.0, b1=0.9, b2=0.999, eps=1e-8, alpha=0.99):
//     theta = [t.copy() for t in THETA]
//     buf = [np.zeros_like(t) for t in theta]
//     m = [np.zeros_like(t) for t in theta]
//     v = [np.zeros_like(t) for t in theta]
//     for s, lr in enumerate(LRS):
//         t = s + 1
//         for l, th in enumerate(theta):
//             g = grad(l, s).copy()
//             w = th[:, 1:]  # a view: weight decay never touches column 0 (the biases)
//             if kind == "adamw":
//                 w *= 1 - lr * wd
//             elif wd != 0:
//                 g[:, 1:] = g[:, 1:] + wd * w
//             if kind == "sgd":
//                 if momentum != 0:
//                     buf[l] = momentum * buf[l] + g
//                     g = g + momentum * buf[l] if nesterov else buf[l]
//                 th -= lr * g
//             elif kind in ("adam", "adamw"):
//                 m[l] = b1 * m[l] + (1 - b1) * g
//                 v[l] = b2 * v[l] + (1 - b2) * (g * g)
//                 bc1 = 1 - b1 ** t
//                 bc2 = 1 - b2 ** t
//                 denom = np.sqrt(v[l]) / math.sqrt(bc2) + eps
//                 th -= (lr / bc1) * (m[l] / denom)
//             elif kind == "rmsprop":
//                 v[l] = alpha * v[l] + (1 - alpha) * (g * g)
//                 avg = np.sqrt(v[l]) + eps
//                 if momentum != 0:
//                     buf[l] = momentum * buf[l] + g / avg
//                     th -= lr * buf[l]
//                 else:
//                     th -= lr * (g / avg)
//     return theta
//
// CASES = {
//     "sgd": dict(kind="sgd"),
//     "sgd_momentum": dict(kind="sgd", momentum=0.9),
//     "sgd_nesterov_wd": dict(kind="sgd", momentum=0.9, nesterov=True, wd=0.1),
//     "adam": dict(kind="adam"),
//     "adam_wd": dict(kind="adam", wd=0.1),
//     "adamw": dict(kind="adamw", wd=0.1),
//     "rmsprop": dict(kind="rmsprop"),
//     "rmsprop_momentum_wd": dict(kind="rmsprop", alpha=0.9, momentum=0.9, wd=0.05),
// }
// for name, kw in CASES.items():
//     th = run(**kw)
//     fmt = lambda a: "[" + ", ".join("[" + ", ".join(repr(float(x)) for x in r) + "]" for r in a) + "]"
//     print(f"const {name.upper()}: Expected = ({fmt(th[0])}, {fmt(th[1])});")

const SGD: Expected = (
    [
        [0.46699999999999997, -0.22499999999999998, 0.7145],
        [-0.5045, 0.959, 0.209],
        [0.23099999999999998, -0.7925, -1.608],
    ],
    [[0.174, 0.197, -0.3685, 0.3905], [-0.625, 0.5495, -0.0225, -0.266]],
);
const SGD_MOMENTUM: Expected = (
    [
        [0.44683999999999996, -0.21095999999999998, 0.70514],
        [-0.5054, 0.93272, 0.25292],
        [0.23171999999999998, -0.8123, -1.67028],
    ],
    [
        [0.22044, 0.18961999999999998, -0.39802, 0.39086000000000004],
        [-0.63904, 0.5797400000000001, -0.027, -0.30632],
    ],
);
const SGD_NESTEROV_WD: Expected = (
    [
        [0.41915600000000003, -0.18072303922499997, 0.645081155125],
        [-0.50936, 0.8605831205000001, 0.3173077809125],
        [0.21454800000000002, -0.818414002825, -1.69978336925],
    ],
    [
        [0.282396, 0.18025043297, -0.44378379088000003, 0.36654157159],
        [-0.660136, 0.6003231636, -0.046709749999999994, -0.35200795222000003],
    ],
);
const ADAM: Expected = (
    [
        [0.3474634452770908, -0.0889794758734746, 0.5910672566271092],
        [-0.5537782806644055, 0.8524990925781042, 0.2913900158802858],
        [0.31050212701169205, -0.9199999932, -1.65850588217963],
    ],
    [
        [0.2496978071420529, 0.10311170042845864, -0.4699196457896273, 0.46050211844984895],
        [-0.7610205241265253, 0.6525365566398401, -0.05377829113421352, -0.35253655759830554],
    ],
);
const ADAM_WD: Expected = (
    [
        [0.3474634452770908, -0.08826003244249479, 0.5865168120022923],
        [-0.5537782806644055, 0.8446715369076888, 0.2908688498602557],
        [0.31050212701169205, -0.9198257326500547, -1.6518605320915858],
    ],
    [
        [0.2496978071420529, 0.09709145174872326, -0.46992197792279333, 0.4481611690154734],
        [-0.7610205241265253, 0.6461338321343346, -0.05379192527270002, -0.35028357658539844],
    ],
);
const ADAMW: Expected = (
    [
        [0.3474634452770908, -0.08554166879650923, 0.5791593194180318],
        [-0.5537782806644055, 0.8363610523111472, 0.28847896818102936],
        [0.31050212701169205, -0.9065109182319601, -1.6323352716607196],
    ],
    [
        [0.2496978071420529, 0.10044113243369647, -0.4640447413590177, 0.45308449756855934],
        [-0.7610205241265253, 0.6432904002628986, -0.053703877456065245, -0.34836643121683125],
    ],
);
const RMSPROP: Expected = (
    [
        [-0.5980024948194168, 0.9745060267273117, -0.9209186965835265],
        [-1.1790634320958402, -0.03386451529927076, 1.457190443856592],
        [0.5929857100548672, -2.2204898920196845, -2.6835341096228666],
    ],
    [
        [1.1611681795394646, -0.34356918922046226, -1.8347808687676312, 0.7429848839809617],
        [-1.8245060267273119, 1.5980026165818735, -0.6790643603502953, -1.298002677463112],
    ],
);
const RMSPROP_MOMENTUM_WD: Expected = (
    [
        [-0.06017968572916971, 0.3486315312964829, -0.02503951008529673],
        [-0.772177585707867, 0.44989815958708723, 0.7704041384862074],
        [0.4965543155881301, -1.4458044492908921, -2.0733369144701568],
    ],
    [
        [0.6455311196980645, -0.129989842240765, -1.02613379678315, 0.6398116695348617],
        [-1.2100195936218792, 1.0374729387444148, -0.27200849124545257, -0.7490138584785965],
    ],
);

fn sgd_config(momentum: f64, nesterov: bool, weight_decay: f64) -> OptimizerConfig {
    OptimizerConfig::sgd()
        .with_momentum(momentum)
        .with_nesterov(nesterov)
        .with_weight_decay(weight_decay)
        .into()
}

fn adam_config(weight_decay: f64) -> AdamConfig {
    OptimizerConfig::adam().with_weight_decay(weight_decay)
}

fn rmsprop_config(alpha: f64, momentum: f64, weight_decay: f64) -> OptimizerConfig {
    OptimizerConfig::rmsprop()
        .with_alpha(alpha)
        .with_eps(1e-8)
        .with_momentum(momentum)
        .with_weight_decay(weight_decay)
        .into()
}

/// Every case of the reference script, with its configuration.
fn cases() -> Vec<(&'static str, OptimizerConfig, Expected)> {
    vec![
        ("sgd", OptimizerConfig::sgd().into(), SGD),
        ("sgd_momentum", OptimizerConfig::sgd().with_momentum(0.9).into(), SGD_MOMENTUM),
        ("sgd_nesterov_wd", sgd_config(0.9, true, 0.1), SGD_NESTEROV_WD),
        ("adam", OptimizerConfig::adam().into(), ADAM),
        ("adam_wd", OptimizerConfig::Adam(adam_config(0.1)), ADAM_WD),
        ("adamw", OptimizerConfig::adamw().with_weight_decay(0.1).into(), ADAMW),
        ("rmsprop", OptimizerConfig::rmsprop().into(), RMSPROP),
        ("rmsprop_momentum_wd", rmsprop_config(0.9, 0.9, 0.05), RMSPROP_MOMENTUM_WD),
    ]
}

/// Every entry of an `Expected`: (layer, row, column, value).
fn entries(expected: &Expected) -> Vec<(usize, usize, usize, f64)> {
    let (want0, want1) = expected;
    let rows0 = want0.iter().map(|r| &r[..]).map(|r| (0, r));
    let rows1 = want1.iter().map(|r| &r[..]).map(|r| (1, r));
    let mut out = Vec::new();
    for (row_idx, (layer, row)) in rows0.enumerate().chain(rows1.enumerate()) {
        for (j, &value) in row.iter().enumerate() {
            out.push((layer, row_idx, j, value));
        }
    }
    out
}

#[test]
fn every_optimizer_matches_the_numpy_reference_for_three_steps() {
    for (name, config, expected) in cases() {
        let mut net = tiny_net();
        let mut opt = Optimizer::new(config, &net).unwrap();
        for (s, &lr) in LRS.iter().enumerate() {
            opt.step(&mut net, &grads_at(s), lr).unwrap();
        }
        assert_eq!(opt.n_steps(), 3);
        assert_eq!(opt.config(), &config);
        // (The match is in fact bitwise: same operations in the same order, all correctly rounded.)
        for (l, i, j, want) in entries(&expected) {
            let got = net.layers()[l].theta()[(i, j)];
            assert_close(got, want, 1e-12, 1e-15, &format!("{name} layer {l} ({i},{j})"));
        }
    }
}

#[test]
fn f32_optimizers_follow_the_f64_reference() {
    for (name, config, expected) in cases() {
        let mut net = tiny_net().cast::<f32>();
        let mut opt = Optimizer::new(config, &net).unwrap();
        for (s, &lr) in LRS.iter().enumerate() {
            let g64 = grads_at(s);
            let mut grads = Gradients::zeros_like(&net);
            for l in 0..2 {
                let src = g64.layer(l).unwrap();
                let mut dst = grads.layer_mut(l).unwrap();
                for j in 0..src.ncols() {
                    for i in 0..src.nrows() {
                        dst[(i, j)] = src[(i, j)] as f32;
                    }
                }
            }
            opt.step(&mut net, &grads, lr).unwrap();
        }
        for (l, i, j, want) in entries(&expected) {
            let got = f64::from(net.layers()[l].theta()[(i, j)]);
            assert_close(got, want, 1e-5, 1e-5, &format!("{name} layer {l} ({i},{j})"));
        }
    }
}

#[test]
fn weight_decay_never_touches_the_bias_column() {
    let configs = [
        sgd_config(0.0, false, 0.5),
        sgd_config(0.9, true, 0.5),
        OptimizerConfig::Adam(adam_config(0.5)),
        OptimizerConfig::adamw().with_weight_decay(0.5).into(),
        rmsprop_config(0.99, 0.0, 0.5),
        rmsprop_config(0.99, 0.9, 0.5),
    ];
    for config in configs {
        let mut net = tiny_net();
        let before = net.clone();
        let mut opt = Optimizer::new(config, &net).unwrap();
        // Zero gradients: only weight decay can move Θ.
        let zero = Gradients::zeros_like(&net);
        for _ in 0..3 {
            opt.step(&mut net, &zero, 0.1).unwrap();
        }
        for (layer, old) in net.layers().iter().zip(before.layers()) {
            let (theta, old) = (layer.theta(), old.theta());
            for i in 0..theta.nrows() {
                assert_eq!(theta[(i, 0)].to_bits(), old[(i, 0)].to_bits(), "{config:?}: bias {i}");
                for j in 1..theta.ncols() {
                    // Decay moves every non-zero weight (RMSprop's normalised steps may
                    // overshoot 0, so only the change is checked).
                    let moved = theta[(i, j)].to_bits() != old[(i, j)].to_bits();
                    assert_eq!(moved, old[(i, j)] != 0.0, "{config:?}: ({i},{j})");
                }
            }
        }
    }
}

#[test]
fn state_round_trip_is_bitwise_and_continues_identically() {
    for (name, config, _) in cases() {
        let mut net = tiny_net();
        let mut opt = Optimizer::new(config, &net).unwrap();
        for (s, &lr) in LRS.iter().enumerate().take(2) {
            opt.step(&mut net, &grads_at(s), lr).unwrap();
        }
        let state = opt.state();
        assert_eq!(state.step, 2);
        let mut resumed = Optimizer::from_state(config, &net, state.clone()).unwrap();
        assert_eq!(state_bits(&resumed.state()), state_bits(&state), "{name}");
        assert_eq!(resumed.n_steps(), 2);
        let mut net2 = net.clone();
        for s in 2..5 {
            let grads = grads_at(s);
            opt.step(&mut net, &grads, 0.03).unwrap();
            resumed.step(&mut net2, &grads, 0.03).unwrap();
        }
        assert_eq!(theta_bits(&net), theta_bits(&net2), "{name}");
        assert_eq!(state_bits(&opt.state()), state_bits(&resumed.state()), "{name}");
    }
}

#[test]
fn state_buffers_are_theta_shaped_and_column_major() {
    let net = tiny_net();
    let mut opt = Optimizer::new(OptimizerConfig::sgd().with_momentum(0.5), &net).unwrap();
    let mut net2 = net.clone();
    let grads = grads_at(0);
    opt.step(&mut net2, &grads, 0.1).unwrap();
    let state = opt.state();
    // After one step from zero, the momentum buffer is the gradient itself.
    for (l, layer) in state.layers.iter().enumerate() {
        let g = grads.layer(l).unwrap();
        let flat: Vec<f64> =
            (0..g.ncols()).flat_map(|j| (0..g.nrows()).map(move |i| g[(i, j)])).collect();
        let flat_bits: Vec<u64> = flat.iter().map(|x| x.to_bits()).collect();
        let buf_bits: Vec<u64> = layer.momentum.iter().map(|x| x.to_bits()).collect();
        assert_eq!(buf_bits, flat_bits);
        assert!(layer.exp_avg.is_empty() && layer.exp_avg_sq.is_empty());
    }
}

fn is_mismatch<T>(result: Result<T, Error>) -> bool {
    matches!(
        result.err(),
        Some(Error::StateSize { .. } | Error::StateValue { .. } | Error::LayerShape { .. })
    )
}

#[test]
fn from_state_rejects_states_that_do_not_fit() {
    let net = tiny_net();
    let adam: OptimizerConfig = OptimizerConfig::adam().into();
    let good = Optimizer::new(adam, &net).unwrap().state();
    assert!(Optimizer::from_state(adam, &net, good.clone()).is_ok());

    let mut fewer = good.clone();
    fewer.layers.pop();
    assert!(is_mismatch(Optimizer::from_state(adam, &net, fewer)));

    let mut short = good.clone();
    short.layers[1].exp_avg.pop();
    let err = Optimizer::from_state(adam, &net, short).unwrap_err();
    assert_eq!(
        err,
        Error::StateSize { what: "exp_avg", layer_idx: Some(1), expected: 8, found: 7 }
    );
    assert_eq!(err.to_string(), "exp_avg of layer 1: expected 8, found 7");

    let mut extra = good.clone();
    extra.layers[0].momentum = vec![0.0; 9];
    assert!(is_mismatch(Optimizer::from_state(adam, &net, extra)));

    let mut nan = good.clone();
    nan.layers[0].exp_avg[4] = f64::NAN;
    assert!(matches!(
        Optimizer::from_state(adam, &net, nan),
        Err(Error::StateValue { what: "exp_avg", layer_idx: Some(0), index: 4, .. })
    ));

    let mut negative = good.clone();
    negative.layers[0].exp_avg_sq[0] = -1e-3;
    assert!(is_mismatch(Optimizer::from_state(adam, &net, negative)));

    // An Adam state does not fit SGD with momentum, nor a network of other sizes.
    assert!(is_mismatch(Optimizer::from_state(
        OptimizerConfig::sgd().with_momentum(0.9),
        &net,
        good.clone()
    )));
    let other = other_net();
    assert!(is_mismatch(Optimizer::from_state(adam, &other, good)));

    // A hand-built state for plain SGD: every buffer empty.
    let empty = LayerState { momentum: vec![], exp_avg: vec![], exp_avg_sq: vec![] };
    let sgd_state = OptimizerState { step: 7, layers: vec![empty.clone(), empty] };
    let sgd = Optimizer::from_state(OptimizerConfig::sgd(), &net, sgd_state).unwrap();
    assert_eq!(sgd.n_steps(), 7);
}

/// A 2-4-2 network: same input and output sizes as `tiny_net`, another hidden width.
fn other_net() -> Network<f64> {
    Network::<f64>::builder(2, Loss::SoftmaxCrossEntropy)
        .layer(4, Activation::Tanh)
        .layer(2, Activation::Identity)
        .build(&mut ChaCha8Rng::seed_from_u64(0))
        .unwrap()
}

#[test]
fn step_rejects_a_network_or_gradients_that_do_not_fit() {
    let mut net = tiny_net();
    let mut opt = Optimizer::new(OptimizerConfig::adam(), &net).unwrap();
    let mut other = other_net();
    let other_grads = Gradients::zeros_like(&other);
    let before = other.clone();
    assert!(is_mismatch(opt.step(&mut other, &other_grads, 0.1)));
    assert_eq!(other, before);
    let before = net.clone();
    assert!(is_mismatch(opt.step(&mut net, &other_grads, 0.1)));
    assert!(is_mismatch(opt.step(&mut other, &grads_at(0), 0.1)));
    assert_eq!(net, before);
    assert_eq!(opt.n_steps(), 0);
    // A network with one layer fewer.
    let mut short = Network::new(
        vec![Dense::from_theta(mat(&THETA0), Activation::Identity).unwrap()],
        Loss::SoftmaxCrossEntropy,
    )
    .unwrap();
    let short_grads = Gradients::zeros_like(&short);
    assert!(is_mismatch(opt.step(&mut short, &short_grads, 0.1)));
}

/// The name in an `InvalidHyperparameter` error, `None` for any other result.
fn invalid_name<T>(result: Result<T, Error>) -> Option<&'static str> {
    match result.err() {
        Some(Error::InvalidHyperparameter { name, .. }) => Some(name),
        _ => None,
    }
}

#[test]
fn bad_hyperparameters_are_errors() {
    let net = tiny_net();
    let adam = |beta1, beta2, eps, weight_decay| {
        OptimizerConfig::adam()
            .with_betas(beta1, beta2)
            .with_eps(eps)
            .with_weight_decay(weight_decay)
            .into()
    };
    let bad = [
        (sgd_config(1.0, false, 0.0), "momentum"),
        (sgd_config(-0.1, false, 0.0), "momentum"),
        (sgd_config(f64::NAN, false, 0.0), "momentum"),
        (sgd_config(0.0, true, 0.0), "momentum"),
        (sgd_config(0.9, false, -1e-4), "weight_decay"),
        (sgd_config(0.9, false, f64::INFINITY), "weight_decay"),
        (adam(1.0, 0.999, 1e-8, 0.0), "beta1"),
        (adam(0.9, -0.5, 1e-8, 0.0), "beta2"),
        (adam(0.9, 0.999, 0.0, 0.0), "eps"),
        (adam(0.9, 0.999, f64::NAN, 0.0), "eps"),
        (OptimizerConfig::adamw().with_weight_decay(-0.01).into(), "weight_decay"),
        (rmsprop_config(1.0, 0.0, 0.0), "alpha"),
        (rmsprop_config(0.99, 1.0, 0.0), "momentum"),
        (rmsprop_config(0.99, 0.0, -1.0), "weight_decay"),
        (OptimizerConfig::rmsprop().with_eps(0.0).into(), "eps"),
    ];
    for (config, name) in bad {
        assert_eq!(invalid_name(config.validate()), Some(name), "{config:?}");
        assert_eq!(invalid_name(Optimizer::new(config, &net)), Some(name), "{config:?}");
        let state = OptimizerState { step: 0, layers: vec![] };
        assert_eq!(
            invalid_name(Optimizer::from_state(config, &net, state)),
            Some(name),
            "{config:?}"
        );
    }
    let mut net = tiny_net();
    let grads = grads_at(0);
    let mut opt = Optimizer::new(OptimizerConfig::sgd().with_momentum(0.9), &net).unwrap();
    let before = net.clone();
    for lr in [-0.1, f64::NAN, f64::INFINITY] {
        assert_eq!(invalid_name(opt.step(&mut net, &grads, lr)), Some("learning_rate"));
    }
    assert_eq!(net, before);
    assert_eq!(opt.n_steps(), 0);
}

#[test]
#[allow(clippy::float_cmp, reason = "a factor of exactly 1 must leave the bits unchanged")]
fn clip_grad_norm_matches_pytorch() {
    let net = tiny_net();
    let mut grads = Gradients::zeros_like(&net);
    // Entries 3, 4 (layer 0) and 12 (layer 1): global norm 13.
    grads.layer_mut(0).unwrap()[(0, 0)] = 3.0;
    grads.layer_mut(0).unwrap()[(2, 1)] = -4.0;
    grads.layer_mut(1).unwrap()[(1, 3)] = 12.0;
    let original = grads.clone();

    // Below the threshold: untouched, bit for bit.
    assert_eq!(clip_grad_norm(&mut grads, 20.0).unwrap(), 13.0);
    assert_eq!(grads, original);

    let norm = clip_grad_norm(&mut grads, 1.0).unwrap();
    assert_eq!(norm, 13.0);
    let coef = 1.0 / (13.0 + 1e-6);
    assert_eq!(grads.layer(0).unwrap()[(0, 0)], 3.0 * coef);
    assert_eq!(grads.layer(0).unwrap()[(2, 1)], -4.0 * coef);
    assert_eq!(grads.layer(1).unwrap()[(1, 3)], 12.0 * coef);
    assert_close(grads.global_norm(), 1.0, 1e-6, 0.0, "clipped norm");

    for max_norm in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert_eq!(invalid_name(clip_grad_norm(&mut grads, max_norm)), Some("max_norm"));
    }

    // A NaN gradient: reported, and nothing is scaled.
    let mut bad = original.clone();
    bad.layer_mut(0).unwrap()[(1, 1)] = f64::NAN;
    assert!(matches!(
        clip_grad_norm(&mut bad, 1.0),
        Err(nn_train::Error::NonFiniteGradient { norm }) if norm.is_nan()
    ));
    assert_eq!(bad.layer(1).unwrap()[(1, 3)], 12.0);
}

#[test]
fn adam_and_sgd_fit_xor() {
    let x = Mat::<f64>::from_fn(2, 4, |i, j| f64::from(u8::from((j >> i) & 1 == 1)));
    let y = [0, 1, 1, 0];
    for (config, lr) in [(OptimizerConfig::adam().into(), 0.05), (sgd_config(0.9, true, 1e-4), 0.2)]
    {
        let mut net = Network::<f64>::builder(2, Loss::SoftmaxCrossEntropy)
            .layer(8, Activation::Tanh)
            .layer(2, Activation::Identity)
            .build(&mut ChaCha8Rng::seed_from_u64(1))
            .unwrap();
        let mut ws = Workspace::for_network(&net, 4).unwrap();
        let mut grads = Gradients::zeros_like(&net);
        let mut opt = Optimizer::new(config, &net).unwrap();
        let mut loss = f64::INFINITY;
        for _ in 0..300 {
            loss = net
                .forward_backward_into(x.as_ref(), Targets::Classes(&y), &mut ws, &mut grads)
                .unwrap();
            clip_grad_norm(&mut grads, 5.0).unwrap();
            opt.step(&mut net, &grads, lr).unwrap();
        }
        assert!(loss < 0.05, "{config:?}: loss {loss}");
        assert_eq!(net.predict(x.as_ref()).unwrap(), y);
    }
}
