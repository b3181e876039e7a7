//! Helpers shared by the integration tests.

use nn_core::rng::{ChaCha8Rng, SeedableRng, uniform_f64};
use nn_core::{Activation, Float, Loss, Network};
use nn_linalg::Mat;
use nn_train::Dataset;

/// A seeded generator.
pub(crate) fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// A classification network with `hidden` activations and a softmax cross-entropy output.
pub(crate) fn classifier<T: Float>(sizes: &[usize], hidden: Activation, seed: u64) -> Network<T> {
    let mut b = Network::builder(sizes[0], Loss::SoftmaxCrossEntropy);
    for &n in &sizes[1..sizes.len() - 1] {
        b = b.layer(n, hidden);
    }
    b.layer(sizes[sizes.len() - 1], Activation::Identity).build(&mut rng(seed)).unwrap()
}

/// Gaussian-ish blobs: `n` samples of `n_features` features in `n_classes` classes.
pub(crate) fn blobs<T: Float>(
    n: usize,
    n_features: usize,
    n_classes: usize,
    seed: u64,
) -> Dataset<T> {
    let mut r = rng(seed);
    let labels: Vec<usize> = (0..n).map(|k| k % n_classes).collect();
    let x = Mat::<T>::from_fn(n_features, n, |i, j| {
        let center = if (i + labels[j]).is_multiple_of(n_classes) { 1.5 } else { -0.5 };
        T::from_f64(center + uniform_f64(&mut r) - 0.5)
    });
    Dataset::classification(x, labels, n_classes).unwrap()
}

/// Two interleaved spirals of `n_per_arm` points each.
pub(crate) fn spirals(n_per_arm: usize) -> Dataset<f32> {
    let n = 2 * n_per_arm;
    let mut x = Mat::<f32>::zeros(2, n);
    let mut labels = Vec::with_capacity(n);
    for arm in 0..2 {
        for k in 0..n_per_arm {
            let t = k as f64 / n_per_arm as f64 * 3.0 * std::f64::consts::PI + 0.3;
            let r = t / (3.0 * std::f64::consts::PI);
            let sign = if arm == 0 { 1.0 } else { -1.0 };
            let j = arm * n_per_arm + k;
            x[(0, j)] = (sign * r * t.cos()) as f32;
            x[(1, j)] = (sign * r * t.sin()) as f32;
            labels.push(arm);
        }
    }
    Dataset::classification(x, labels, 2).unwrap()
}

/// Every parameter's bits, layer after layer.
pub(crate) fn bits<T: Float>(net: &Network<T>) -> Vec<u64> {
    net.layers().iter().flat_map(nn_core::Dense::theta_col_major).map(Float::to_bits_u64).collect()
}
