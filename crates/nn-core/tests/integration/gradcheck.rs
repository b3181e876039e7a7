//! B3 against central differences in f64, for every activation × every loss, at depths 1 and 3.

use nn_core::gradcheck::{Options, check_gradients, relative_error};
use nn_core::rng::uniform_f64;
use nn_core::{Activation, Loss, Network, Targets};
use nn_linalg::Mat;

use crate::support::{inputs_away_from_kinks, net, rng, uniform_mat};

const BATCH: usize = 5;
const MAX_REL_ERROR: f64 = 1e-6;

/// One row of the table: network, inputs, targets; checks every parameter, biases included.
fn check(sizes: &[usize], hidden: Activation, loss: Loss, l2: f64, weighted: bool, seed: u64) {
    let mut network = net(sizes, hidden, loss, hidden, seed).with_l2(l2).unwrap();
    let n_out = *sizes.last().unwrap();
    if weighted {
        let w = (0..n_out).map(|i| 0.5 + i as f64 * 0.75).collect();
        network = network.with_class_weights(w).unwrap();
    }
    let mut r = rng(seed ^ 0x5eed);
    let x = inputs_away_from_kinks(&network, BATCH, 2e-2, &mut r);
    let labels: Vec<usize> = (0..BATCH).map(|k| (k * 7 + seed as usize) % n_out).collect();
    let matrix = match loss {
        // Probability columns (not one-hot) for softmax, so the general form of L2 is checked.
        Loss::SoftmaxCrossEntropy => {
            let raw = uniform_mat(&mut r, n_out, BATCH, 0.05, 1.0);
            Mat::from_fn(n_out, BATCH, |i, j| {
                raw[(i, j)] / (0..n_out).map(|k| raw[(k, j)]).sum::<f64>()
            })
        }
        Loss::SigmoidBinaryCrossEntropy => {
            Mat::from_fn(n_out, BATCH, |_, _| f64::from(uniform_f64(&mut r) < 0.5))
        }
        Loss::MeanSquaredError => uniform_mat(&mut r, n_out, BATCH, -1.0, 1.0),
    };
    for targets in [Targets::Classes(&labels), Targets::Matrix(matrix.as_ref())] {
        let report = check_gradients(&network, x.as_ref(), targets, &Options::default()).unwrap();
        let n_params: usize = network.n_params();
        assert_eq!(report.n_checked, n_params);
        assert!(
            report.max_rel_error() <= MAX_REL_ERROR,
            "{hidden} / {loss} / sizes {sizes:?} / l2 {l2} / weighted {weighted} / {}: {:?}",
            if matches!(targets, Targets::Classes(_)) { "classes" } else { "matrix" },
            report.worst
        );
    }
}

fn activations() -> Vec<Activation> {
    let mut all = Activation::ALL.to_vec();
    all.push(Activation::LeakyRelu { alpha: 0.2 });
    all.push(Activation::Elu { alpha: 0.7 });
    all
}

#[test]
fn every_activation_and_loss_passes_the_gradient_check_with_one_hidden_layer() {
    for (i, act) in activations().into_iter().enumerate() {
        for loss in Loss::ALL {
            check(&[3, 4, 3], act, loss, 0.0, false, 10 + i as u64);
        }
    }
}

#[test]
fn every_activation_and_loss_passes_the_gradient_check_with_three_hidden_layers() {
    for (i, act) in activations().into_iter().enumerate() {
        for loss in Loss::ALL {
            check(&[4, 5, 4, 3, 3], act, loss, 0.0, false, 100 + i as u64);
        }
    }
}

#[test]
fn l2_penalty_and_class_weights_pass_the_gradient_check() {
    for (i, act) in [Activation::Tanh, Activation::Relu, Activation::Gelu].into_iter().enumerate() {
        for loss in Loss::ALL {
            check(&[3, 4, 4, 3], act, loss, 0.3, false, 200 + i as u64);
        }
        check(&[3, 4, 3], act, Loss::SoftmaxCrossEntropy, 0.1, true, 300 + i as u64);
        check(&[3, 4, 3], act, Loss::SigmoidBinaryCrossEntropy, 0.1, true, 400 + i as u64);
    }
}

#[test]
fn single_output_sigmoid_network_with_binary_labels_passes_the_gradient_check() {
    let network =
        net(&[2, 3, 1], Activation::Tanh, Loss::SigmoidBinaryCrossEntropy, Activation::Identity, 9);
    let x = uniform_mat(&mut rng(1), 2, 4, -1.0, 1.0);
    let report =
        check_gradients(&network, x.as_ref(), Targets::Classes(&[0, 1, 1, 0]), &Options::default())
            .unwrap();
    assert!(report.max_rel_error() <= MAX_REL_ERROR, "{:?}", report.worst);
}

#[test]
fn the_bias_gradient_never_contains_the_l2_term() {
    let base =
        net(&[3, 4, 2], Activation::Tanh, Loss::SoftmaxCrossEntropy, Activation::Identity, 5);
    let x = uniform_mat(&mut rng(2), 3, 4, -1.0, 1.0);
    let y = [0, 1, 1, 0];
    let grads_with = |l2: f64| {
        let n: Network<f64> = base.clone().with_l2(l2).unwrap();
        let mut ws = nn_core::Workspace::for_network(&n, 4).unwrap();
        let mut g = nn_core::Gradients::zeros_like(&n);
        n.forward_backward_into(x.as_ref(), Targets::Classes(&y), &mut ws, &mut g).unwrap();
        g
    };
    let (g0, g1) = (grads_with(0.0), grads_with(2.0));
    for l in 0..2 {
        let (a, b) = (g0.layer(l).unwrap(), g1.layer(l).unwrap());
        let theta = base.layers()[l].theta();
        for i in 0..a.nrows() {
            // Column 0, the bias: bit-identical with and without the penalty.
            assert_eq!(a[(i, 0)].to_bits(), b[(i, 0)].to_bits());
            // Weights: exactly (λ/B)·W more.
            for j in 1..a.ncols() {
                let expected = a[(i, j)] + 2.0 / 4.0 * theta[(i, j)];
                assert!(relative_error(b[(i, j)], expected, 1e-300) < 1e-14);
            }
        }
    }
}
