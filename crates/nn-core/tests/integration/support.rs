//! Helpers shared by the integration tests.

use nn_core::rng::{ChaCha8Rng, SeedableRng, uniform_f64};
use nn_core::{Activation, Loss, Network, Workspace};
use nn_linalg::Mat;

/// A seeded generator.
pub(crate) fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// A matrix of uniform numbers in [lo, hi).
pub(crate) fn uniform_mat(
    rng: &mut ChaCha8Rng,
    rows: usize,
    cols: usize,
    lo: f64,
    hi: f64,
) -> Mat<f64> {
    Mat::from_fn(rows, cols, |_, _| lo + (hi - lo) * uniform_f64(rng))
}

/// A network `n_inputs - hidden... - n_outputs` with the given hidden activation and loss; for
/// mean squared error the output activation is `output_act`, for the cross-entropies identity.
pub(crate) fn net(
    sizes: &[usize],
    hidden: Activation,
    loss: Loss,
    output_act: Activation,
    seed: u64,
) -> Network<f64> {
    let mut b = Network::builder(sizes[0], loss);
    for &n in &sizes[1..sizes.len() - 1] {
        b = b.layer(n, hidden);
    }
    let out = if loss.fuses_output() { Activation::Identity } else { output_act };
    b.layer(sizes[sizes.len() - 1], out).build(&mut rng(seed)).unwrap()
}

/// Whether an activation has a kink (a jump of g') at z = 0.
pub(crate) fn has_kink(act: Activation) -> bool {
    match act {
        Activation::Relu | Activation::LeakyRelu { .. } => true,
        Activation::Elu { alpha } => (alpha - 1.0).abs() > 0.0,
        _ => false,
    }
}

/// `n_samples` input columns drawn until no pre-activation of a kinked layer is within `margin`
/// of 0 (a finite difference across a kink measures neither side's derivative).
pub(crate) fn inputs_away_from_kinks(
    net: &Network<f64>,
    n_samples: usize,
    margin: f64,
    rng: &mut ChaCha8Rng,
) -> Mat<f64> {
    let n_in = net.n_inputs();
    let mut x = Mat::<f64>::zeros(n_in, n_samples);
    let mut ws = Workspace::for_network(net, 1).unwrap();
    let mut k = 0;
    let mut tries = 0;
    while k < n_samples {
        tries += 1;
        assert!(tries < 10_000, "could not draw inputs away from kinks");
        let col = uniform_mat(rng, n_in, 1, -1.5, 1.5);
        let pass = net.forward_into(col.as_ref(), &mut ws).unwrap();
        let ws = pass.workspace();
        let near_kink = net.layers().iter().enumerate().any(|(l, layer)| {
            let z = ws.z(l).unwrap();
            has_kink(layer.activation()) && (0..z.nrows()).any(|i| z[(i, 0)].abs() < margin)
        });
        if !near_kink {
            x.as_mut().col_mut(k).copy_from(col.col(0));
            k += 1;
        }
    }
    x
}

/// `|a − b| ≤ rel·max(|a|, |b|) + abs`, element by element, with a message naming the entry.
pub(crate) fn assert_close(actual: &Mat<f64>, expected: &Mat<f64>, rel: f64, abs: f64, what: &str) {
    assert_eq!((actual.nrows(), actual.ncols()), (expected.nrows(), expected.ncols()), "{what}");
    for j in 0..actual.ncols() {
        for i in 0..actual.nrows() {
            let (a, e) = (actual[(i, j)], expected[(i, j)]);
            assert!(
                (a - e).abs() <= rel * a.abs().max(e.abs()) + abs,
                "{what} ({i}, {j}): {a} vs {e}"
            );
        }
    }
}
