//! Golden values: a tiny fixed network, its output, loss and gradient from an independent numpy
//! implementation, matched to 1e-12 in f64.
//!
//! The numbers come from this script (numpy 2.4, float64), run as `python3 golden.py`:
//!
//! ```text
//! import numpy as np
//! np.set_printoptions(precision=17)
//! # Samples are columns; theta is n x (m+1), bias in column 0.
//! x = np.array([[0.5, -1.0, 0.25], [1.5, 0.75, -0.5]])
//! t1 = np.array([[0.1, -0.2, 0.3], [-0.1, 0.4, 0.2], [0.05, 0.3, -0.6]])
//! t2 = np.array([[0.2, 0.5, -0.4, 0.3], [-0.3, 0.1, 0.6, -0.2]])
//! t3 = np.array([[0.0, 0.7, -0.5], [0.1, -0.3, 0.8], [-0.2, 0.4, 0.2]])
//! lam, B = 0.1, 3
//! sig = lambda z: 1 / (1 + np.exp(-z))
//! def fwd(t, a): return t[:, :1] + t[:, 1:] @ a
//! z2 = fwd(t1, x); a2 = np.tanh(z2)
//! z3 = fwd(t2, a2); a3 = sig(z3)
//! z4 = fwd(t3, a3)
//! pen = lam / (2 * B) * sum((t[:, 1:] ** 2).sum() for t in (t1, t2, t3))
//! def back(d4):
//!     g3 = np.hstack([d4.sum(1, keepdims=True), d4 @ a3.T])
//!     d3 = (t3[:, 1:].T @ d4) * a3 * (1 - a3)
//!     g2 = np.hstack([d3.sum(1, keepdims=True), d3 @ a2.T])
//!     d2 = (t2[:, 1:].T @ d3) * (1 - a2 ** 2)
//!     g1 = np.hstack([d2.sum(1, keepdims=True), d2 @ x.T])
//!     gs = [g1, g2, g3]
//!     for g, t in zip(gs, (t1, t2, t3)):
//!         g[:, 1:] += lam / B * t[:, 1:]
//!     return gs
//! # Softmax cross-entropy, labels [2, 0, 1].
//! y = np.array([2, 0, 1]); Y = np.eye(3)[:, y]
//! p = np.exp(z4 - z4.max(0)); p /= p.sum(0)
//! J = -(Y * np.log(p)).sum() / B + pen
//! print("CE_OUT", repr(p.T.flatten().tolist()))
//! print("CE_J", repr(J))
//! for i, g in enumerate(back((p - Y) / B)): print("CE_G%d" % (i + 1), repr(g.T.flatten().tolist()))
//! # Mean squared error with a tanh output layer.
//! T = np.array([[0.5, -0.5, 0.0], [1.0, 0.25, -0.75], [0.0, 0.5, 0.5]])
//! a4 = np.tanh(z4)
//! J = 0.5 * ((a4 - T) ** 2).sum() / B + pen
//! print("MSE_OUT", repr(a4.T.flatten().tolist()))
//! print("MSE_J", repr(J))
//! for i, g in enumerate(back((a4 - T) * (1 - a4 ** 2) / B)): print("MSE_G%d" % (i + 1), repr(g.T.flatten().tolist()))
//! ```
//! Outputs are printed sample after sample, gradients in Θ's column-major order (bias column
//! first), as [`nn_core::Dense::theta_col_major`] lays them out.

use nn_core::{Activation, Dense, Gradients, Loss, Network, Targets, Workspace};
use nn_linalg::Mat;

const TOL: f64 = 1e-12;

fn theta(rows: &[&[f64]]) -> Mat<f64> {
    Mat::from_fn(rows.len(), rows[0].len(), |i, j| rows[i][j])
}

fn network(output: Activation, loss: Loss) -> Network<f64> {
    let t1 = theta(&[&[0.1, -0.2, 0.3], &[-0.1, 0.4, 0.2], &[0.05, 0.3, -0.6]]);
    let t2 = theta(&[&[0.2, 0.5, -0.4, 0.3], &[-0.3, 0.1, 0.6, -0.2]]);
    let t3 = theta(&[&[0.0, 0.7, -0.5], &[0.1, -0.3, 0.8], &[-0.2, 0.4, 0.2]]);
    let layers = vec![
        Dense::from_theta(t1, Activation::Tanh).unwrap(),
        Dense::from_theta(t2, Activation::Sigmoid).unwrap(),
        Dense::from_theta(t3, output).unwrap(),
    ];
    Network::new(layers, loss).unwrap().with_l2(0.1).unwrap()
}

fn inputs() -> Mat<f64> {
    theta(&[&[0.5, -1.0, 0.25], &[1.5, 0.75, -0.5]])
}

fn assert_all_close(found: &[f64], expected: &[f64], what: &str) {
    assert_eq!(found.len(), expected.len(), "{what}");
    for (i, (f, e)) in found.iter().zip(expected).enumerate() {
        assert!((f - e).abs() <= TOL * e.abs().max(1e-3), "{what}[{i}]: {f} vs {e}");
    }
}

fn check(net: &Network<f64>, targets: Targets<'_, f64>, out: &[f64], j: f64, grads: [&[f64]; 3]) {
    let x = inputs();
    let mut ws = Workspace::for_network(net, 3).unwrap();
    let mut g = Gradients::zeros_like(net);
    let pass = net.forward_into(x.as_ref(), &mut ws).unwrap();
    let h = pass.output().to_owned();
    let flat: Vec<f64> =
        (0..3).flat_map(|k| (0..3).map(move |i| (i, k))).map(|(i, k)| h[(i, k)]).collect();
    assert_all_close(&flat, out, "output");
    assert_all_close(&[pass.loss(targets).unwrap()], &[j], "J from loss()");
    let loss = pass.backward_into(targets, &mut g).unwrap();
    assert_all_close(&[loss], &[j], "J");
    for (l, expected) in grads.iter().enumerate() {
        let gl = g.layer(l).unwrap();
        let flat: Vec<f64> = (0..gl.ncols())
            .flat_map(|c| (0..gl.nrows()).map(move |r| (r, c)))
            .map(|(r, c)| gl[(r, c)])
            .collect();
        assert_all_close(&flat, expected, &format!("dJ/dTheta{}", l + 1));
    }
}

#[test]
fn softmax_cross_entropy_network_matches_numpy() {
    check(
        &network(Activation::Identity, Loss::SoftmaxCrossEntropy),
        Targets::Classes(&[2, 0, 1]),
        &[
            0.30236261979949186,
            0.39220597056398937,
            0.3054314096365188,
            0.3374480477879502,
            0.35318469088738,
            0.30936726132466985,
            0.340834645068802,
            0.3509317415163441,
            0.30823361341485384,
        ],
        1.1625124333313044,
        [
            &[
                0.0018376585068678036,
                0.0005784102203591629,
                0.00282590002200472,
                0.004169480682940944,
                -0.037252150318804425,
                0.027120064226794555,
                -0.015077003745177406,
                0.0711607513543047,
                -0.04494256951710117,
            ],
            &[
                -0.005772975513769568,
                0.006972813517348568,
                -0.011520626170349362,
                0.03550258884475273,
                -0.011629708091853904,
                0.007282898587161113,
                0.0590219860704029,
                -0.06092759864603632,
            ],
            &[
                -0.006451562447918613,
                0.032107467655904526,
                -0.025655905207985816,
                0.009331298183656312,
                0.0033852835819331885,
                0.013950084901077206,
                -0.01196316508796049,
                0.05992535281614618,
                -0.03129552106151897,
            ],
        ],
    );
}

#[test]
fn mean_squared_error_network_matches_numpy() {
    let t = theta(&[&[0.5, -0.5, 0.0], &[1.0, 0.25, -0.75], &[0.0, 0.5, 0.5]]);
    check(
        &network(Activation::Tanh, Loss::MeanSquaredError),
        Targets::Matrix(t.as_ref()),
        &[
            0.10185787996725972,
            0.34730204814422655,
            0.11184071340294235,
            0.20629066473852792,
            0.24949440275217957,
            0.12180378961360092,
            0.20620299001476705,
            0.23398083400040304,
            0.10823731159073856,
        ],
        0.4565225333920297,
        [
            &[
                -0.0037068489997080798,
                0.0006630697565364885,
                -0.0028121811476768226,
                -0.017786794904614156,
                0.045166416729252125,
                -0.0018105842620622318,
                0.013780508784903852,
                -0.04458583406774369,
                -0.003902639945553489,
            ],
            &[
                -0.0029868826106448955,
                -0.008436870887978065,
                0.02950597205380784,
                -0.025699509693020366,
                -0.021566055366280937,
                0.019190582129193993,
                -0.012384629856408298,
                0.04369066737239335,
            ],
            &[
                0.15988593172019844,
                0.11855543827721882,
                -0.21643884113737571,
                0.12771461577571733,
                0.06941522451178903,
                -0.11618392924481186,
                0.034425242561927666,
                0.04730439998470416,
                -0.0761982317526552,
            ],
        ],
    );
}
