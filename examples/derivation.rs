//! The formulas of `docs/derivation.md` as numbers: the source document's four-layer network,
//! one sample, every quantity of the derivation printed in its notation and order.
//!
//! ```sh
//! cargo run --example derivation
//! ```
//!
//! The network: layer 1 is the input (3 units), layers 2 and 3 are hidden (4 and 3 units),
//! layer 4 is the output (2 units); the sigmoid `g` is on every layer, the output included, so
//! the loss is mean squared error (L1). Its weights are written out below, biases in column 0.
//! The example prints each Θ(l) (n × (m+1)), then, each with its shape:
//! - the forward pass: F1 `a(1) = x`, then F2 `z(l+1)` and F3 `a(l+1)` for l = 1, 2, 3;
//! - J, then the backward pass from the output back: L1 gives δ(4), B3 gives ∂J/∂Θ(3), B2 gives
//!   δ(3), B3 gives ∂J/∂Θ(2), and so on down to ∂J/∂Θ(1) (the input has no δ). B2 is written
//!   with `W(l)ᵀ`, where `W(l)` is Θ(l) without its bias column 0: the bias unit receives no
//!   error.
//!
//! Every quantity is printed with 8 decimals (one format throughout); the relative errors of the
//! gradient check, which are not quantities of the network, are in scientific notation.
//!
//! Every number is computed by `Network::forward_into` and `ForwardPass::backward_into`; this file
//! re-implements no formula. The last section compares each ∂J/∂Θ(l) with central differences of
//! J (`nn::net::gradcheck`). Expect a maximum relative error near 1e-8 (the rounding of J over
//! the smallest gradient entries, ~1e-4), and a last line
//! `gradient check: max relative error 1.2e-8 (≤ 1e-6): ok`.
//! Above 1e-6 the example fails: it returns an error and exits with a non-zero status.

use anyhow::{Context, Result, ensure};
use nn::linalg::{Mat, MatRef};
use nn::net::gradcheck::{self, Options};
use nn::net::{Activation, Dense, Gradients, Loss, Network, Targets, Workspace};

/// The largest relative error between B3 and the central differences that counts as a pass.
const TOLERANCE: f64 = 1e-6;

/// Θ^(1), Θ^(2), Θ^(3): one row per unit of the next layer, column 0 = bias, then one column
/// per unit of the previous layer.
const THETA_1: &[&[f64]] = &[
    &[0.10, 0.20, -0.30, 0.40],
    &[-0.10, 0.50, 0.10, -0.20],
    &[0.05, -0.40, 0.30, 0.10],
    &[0.20, 0.30, 0.20, -0.50],
];
const THETA_2: &[&[f64]] = &[
    &[0.10, -0.20, 0.40, 0.30, -0.10],
    &[-0.20, 0.30, -0.10, 0.20, 0.50],
    &[0.05, 0.40, 0.20, -0.30, 0.10],
];
const THETA_3: &[&[f64]] = &[&[0.20, 0.50, -0.40, 0.30], &[-0.10, -0.30, 0.60, 0.20]];
/// The one sample x and its target y.
const X: &[f64] = &[0.5, -1.0, 2.0];
const Y: &[f64] = &[1.0, 0.0];

fn main() -> Result<()> {
    let rows = |r: &[&[f64]]| Mat::from_fn(r.len(), r[0].len(), |i, j| r[i][j]);
    let column = |c: &[f64]| Mat::from_fn(c.len(), 1, |i, _| c[i]);
    let layers = [THETA_1, THETA_2, THETA_3]
        .into_iter()
        .map(|theta| Dense::from_theta(rows(theta), Activation::Sigmoid))
        .collect::<Result<Vec<_>, _>>()?;
    let net: Network<f64> = Network::new(layers, Loss::MeanSquaredError)?;
    let (x, y) = (column(X), column(Y));
    let n_layers = net.layers().len() + 1; // L = 4: the input plus one layer per Θ.

    println!(
        "The derivation's network: sizes {:?}, g = sigmoid on every layer, one sample.",
        net.sizes()
    );
    println!("Layer l is the derivation's; Θ(l) maps layer l to layer l+1 and is layers()[l−1].\n");
    for (i, layer) in net.layers().iter().enumerate() {
        show(&format!("Θ({})", i + 1), layer.theta());
    }

    println!("\nForward propagation (Network::forward_into)\n");
    let mut ws = Workspace::for_network(&net, 1)?;
    let pass = net.forward_into(x.as_ref(), &mut ws)?;
    show("F1  a(1) = x", x.as_ref());
    for l in 1..n_layers {
        let z = pass.workspace().z(l - 1).context("z missing")?;
        let a = pass.workspace().a(l - 1).context("a missing")?;
        show(&format!("F2  z({}) = Θ({l}) [1; a({l})]", l + 1), z);
        show(&format!("F3  a({}) = g(z({}))", l + 1, l + 1), a);
    }
    println!("    h(x) = a({n_layers}), with target");
    show("    y", y.as_ref());

    println!("\nBackward propagation (ForwardPass::backward_into), from the output back\n");
    let mut grads = Gradients::zeros_like(&net);
    let j = pass.backward_into(Targets::Matrix(y.as_ref()), &mut grads)?;
    println!(
        "    J = ½‖a({n_layers}) − y‖²   (the mean over B = 1 sample) = {}\n",
        Fixed(j).to_string().trim()
    );
    println!("    W(l) is Θ(l) without its column 0 (the biases): B2 sends δ back through the");
    println!("    weights only, since the bias unit, the constant 1 of [1; a(l)], is not computed");
    println!("    from the layer below and so passes no error to it.\n");
    for l in (1..n_layers).rev() {
        let delta = ws.delta(l - 1).context("δ missing")?;
        let grad = grads.layer(l - 1).context("∂J/∂Θ missing")?;
        let n = l + 1;
        if n == n_layers {
            show(&format!("L1  δ({n}) = (a({n}) − y) ⊙ g'(z({n}))"), delta);
        } else {
            show(&format!("B2  δ({n}) = W({n})ᵀ δ({}) ⊙ g'(z({n}))", n + 1), delta);
        }
        show(&format!("B3  ∂J/∂Θ({l}) = δ({n}) [1; a({l})]ᵀ"), grad);
    }
    println!("    (no δ(1): the input layer has no error term, B2 runs for l = L−1 .. 2)");

    println!("\nGradient check: B3 against central differences of J (nn::net::gradcheck)\n");
    let options = Options::default();
    let numeric =
        gradcheck::numeric_gradient(&net, x.as_ref(), Targets::Matrix(y.as_ref()), &options)?;
    let mut worst = 0.0_f64;
    for l in 1..n_layers {
        let analytic = grads.layer(l - 1).context("∂J/∂Θ missing")?;
        let approx = numeric.layer(l - 1).context("numeric gradient missing")?;
        let mut layer_worst = 0.0_f64;
        for col in 0..analytic.ncols() {
            for row in 0..analytic.nrows() {
                let e = gradcheck::relative_error(
                    analytic[(row, col)],
                    approx[(row, col)],
                    options.floor,
                );
                // A NaN must fail the check, not vanish in `max`.
                if e.is_nan() || e > layer_worst {
                    layer_worst = e;
                }
            }
        }
        println!(
            "    ∂J/∂Θ({l})  {:<9} {:>2} entries, max relative error {layer_worst:.1e}",
            shape(analytic),
            analytic.nrows() * analytic.ncols()
        );
        if layer_worst.is_nan() || layer_worst > worst {
            worst = layer_worst;
        }
    }
    println!("    (fourth-order central differences, step h = {:e})\n", options.step);
    ensure!(
        worst <= TOLERANCE,
        "gradient check: max relative error {worst:.1e} (> {TOLERANCE:e}): FAILED"
    );
    println!("gradient check: max relative error {worst:.1e} (≤ {TOLERANCE:e}): ok");
    Ok(())
}

/// Prints `label`, the shape of `m`, and its entries: a column vector on one line (as `[..]ᵀ`),
/// a matrix row by row. Every quantity of the example has the same format, 8 decimals (the
/// smallest gradient entries, near 1e-4, keep 4 significant digits), so the columns line up and
/// numbers compare at a glance.
fn show(label: &str, m: MatRef<'_, f64>) {
    println!("{label:<42} {}", shape(m));
    let entry = |v: f64| Fixed(v).to_string();
    if m.ncols() == 1 {
        let entries: String = (0..m.nrows()).map(|i| entry(m[(i, 0)])).collect();
        println!("      [{entries} ]ᵀ");
    } else {
        for i in 0..m.nrows() {
            let entries: String = (0..m.ncols()).map(|j| entry(m[(i, j)])).collect();
            println!("      [{entries} ]");
        }
    }
}

/// A quantity of the derivation: 8 decimals, right-aligned in 13 characters.
struct Fixed(f64);

impl std::fmt::Display for Fixed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:>13.8}", self.0)
    }
}

/// `[n × k]`.
fn shape(m: MatRef<'_, f64>) -> String {
    format!("[{} × {}]", m.nrows(), m.ncols())
}
