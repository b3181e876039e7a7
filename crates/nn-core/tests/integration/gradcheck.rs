//! B3 against central differences in f64, for every activation × every loss, at depths 1 and 3.

use nn_core::gradcheck::{Options, check_gradients, relative_error};
use nn_core::rng::uniform_f64;
use nn_core::{Activation, Loss, MseScale, Network, Targets};
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
fn every_mse_scale_passes_the_gradient_check() {
    for (i, scale) in MseScale::ALL.into_iter().enumerate() {
        for act in [Activation::Tanh, Activation::Identity, Activation::Sigmoid] {
            let network =
                net(&[3, 4, 3], Activation::Tanh, Loss::MeanSquaredError, act, 50 + i as u64)
                    .with_l2(0.2)
                    .unwrap()
                    .with_mse_scale(scale)
                    .unwrap();
            assert_eq!(network.mse_scale(), scale);
            let mut r = rng(60 + i as u64);
            let x = uniform_mat(&mut r, 3, BATCH, -1.0, 1.0);
            let y = uniform_mat(&mut r, 3, BATCH, -1.0, 1.0);
            let report = check_gradients(
                &network,
                x.as_ref(),
                Targets::Matrix(y.as_ref()),
                &Options::default(),
            )
            .unwrap();
            assert!(report.max_rel_error() <= MAX_REL_ERROR, "{scale} / {act}: {:?}", report.worst);
        }
    }
}

#[test]
fn mse_scales_differ_by_their_documented_factors() {
    // Three outputs, B = 4: J = k · (1/B) Σ_k ½‖a − y‖², k = 1, 1/3, 2/3, and ∂J/∂Θ likewise.
    let base = net(&[2, 5, 3], Activation::Tanh, Loss::MeanSquaredError, Activation::Identity, 8);
    let x = uniform_mat(&mut rng(4), 2, 4, -1.0, 1.0);
    let y = uniform_mat(&mut rng(5), 3, 4, -1.0, 1.0);
    let run = |scale: MseScale| {
        let n = base.clone().with_mse_scale(scale).unwrap();
        let mut ws = nn_core::Workspace::for_network(&n, 4).unwrap();
        let mut g = nn_core::Gradients::zeros_like(&n);
        let j = n.forward_backward_into(x.as_ref(), Targets::Matrix(y.as_ref()), &mut ws, &mut g);
        (j.unwrap(), g)
    };
    let (j1, g1) = run(MseScale::HalfSum);
    // By hand: (1/B) Σ_k ½ Σ_i (a_ik − y_ik)².
    let out = base.predict_proba(x.as_ref()).unwrap();
    let by_hand = (0..4)
        .map(|k| (0..3).map(|i| 0.5 * (out[(i, k)] - y[(i, k)]).powi(2)).sum::<f64>())
        .sum::<f64>()
        / 4.0;
    assert!(relative_error(j1, by_hand, 1e-300) < 1e-14);
    for (scale, k) in [(MseScale::HalfMean, 1.0 / 3.0), (MseScale::Mean, 2.0 / 3.0)] {
        let (j, g) = run(scale);
        assert!(relative_error(j, k * j1, 1e-300) < 1e-14, "{scale}");
        for l in 0..2 {
            let (a, b) = (g1.layer(l).unwrap(), g.layer(l).unwrap());
            for c in 0..a.ncols() {
                for r in 0..a.nrows() {
                    assert!(relative_error(b[(r, c)], k * a[(r, c)], 1e-300) < 1e-13, "{scale}");
                }
            }
        }
    }
    assert!(matches!(
        net(&[2, 2], Activation::Identity, Loss::SoftmaxCrossEntropy, Activation::Identity, 1)
            .with_mse_scale(MseScale::Mean),
        Err(nn_core::Error::MseScale { found: Loss::SoftmaxCrossEntropy })
    ));
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

#[test]
fn dropout_backward_matches_central_differences_of_the_masked_network() {
    use nn_core::rng::{ChaCha8Rng, SeedableRng};
    use nn_core::{Dropout, Gradients, Workspace};
    for act in
        [Activation::Tanh, Activation::Sigmoid, Activation::Gelu, Activation::Elu { alpha: 1.0 }]
    {
        let network = net(&[3, 6, 5, 2], act, Loss::SoftmaxCrossEntropy, Activation::Identity, 77);
        let dropout = Dropout::new(vec![0.3, 0.5]).unwrap();
        let x = uniform_mat(&mut rng(8), 3, 4, -1.0, 1.0);
        let y = [0, 1, 1, 0];
        let mut ws = Workspace::for_network(&network, 4).unwrap();
        // J with the masks of one fixed generator state: a smooth function of Θ.
        let mut j = |n: &Network<f64>| {
            let mut r = ChaCha8Rng::seed_from_u64(99);
            let pass = n.forward_train_into(x.as_ref(), &mut ws, &dropout, &mut r).unwrap();
            pass.loss(Targets::Classes(&y)).unwrap()
        };
        let mut ws2 = Workspace::for_network(&network, 4).unwrap();
        let mut g = Gradients::zeros_like(&network);
        network
            .forward_train_into(x.as_ref(), &mut ws2, &dropout, &mut ChaCha8Rng::seed_from_u64(99))
            .unwrap()
            .backward_into(Targets::Classes(&y), &mut g)
            .unwrap();
        let dropped = (0..2).map(|l| {
            let a = ws2.a(l).unwrap();
            (0..a.ncols())
                .map(|c| (0..a.nrows()).filter(|&r| a[(r, c)] == 0.0).count())
                .sum::<usize>()
        });
        assert!(dropped.sum::<usize>() > 0, "some units must be dropped");
        let h = 1e-4;
        let mut probe = network.clone();
        for l in 0..3 {
            let theta = network.layers()[l].theta().to_owned();
            for c in 0..theta.ncols() {
                for r in 0..theta.nrows() {
                    let mut at = |d: f64| {
                        probe.layers_mut()[l].theta_mut()[(r, c)] = theta[(r, c)] + d;
                        j(&probe)
                    };
                    let numeric =
                        (8.0 * (at(h) - at(-h)) - (at(2.0 * h) - at(-2.0 * h))) / (12.0 * h);
                    probe.layers_mut()[l].theta_mut()[(r, c)] = theta[(r, c)];
                    let analytic = g.layer(l).unwrap()[(r, c)];
                    assert!(
                        relative_error(analytic, numeric, 1e-7) <= MAX_REL_ERROR,
                        "{act} layer {l} ({r}, {c}): {analytic} vs {numeric}"
                    );
                }
            }
        }
    }
}

#[test]
fn dropout_of_rate_zero_is_the_plain_forward_pass_and_evaluation_never_drops() {
    use nn_core::rng::{ChaCha8Rng, SeedableRng};
    use nn_core::{Dropout, Workspace};
    let network =
        net(&[3, 8, 2], Activation::Relu, Loss::SoftmaxCrossEntropy, Activation::Identity, 5);
    let x = uniform_mat(&mut rng(3), 3, 6, -1.0, 1.0);
    let mut ws = Workspace::for_network(&network, 6).unwrap();
    let plain = network.forward_into(x.as_ref(), &mut ws).unwrap().output().to_owned();
    let mut r = ChaCha8Rng::seed_from_u64(1);
    let none = Dropout::new(vec![0.0]).unwrap();
    let same =
        network.forward_train_into(x.as_ref(), &mut ws, &none, &mut r).unwrap().output().to_owned();
    assert_eq!(plain, same);
    let half = Dropout::new(vec![0.5]).unwrap();
    let dropped =
        network.forward_train_into(x.as_ref(), &mut ws, &half, &mut r).unwrap().output().to_owned();
    assert_ne!(plain, dropped);
    assert_eq!(network.forward_into(x.as_ref(), &mut ws).unwrap().output().to_owned(), plain);
    assert!(matches!(
        network.forward_train_into(
            x.as_ref(),
            &mut ws,
            &Dropout::new(vec![0.1, 0.1]).unwrap(),
            &mut r
        ),
        Err(nn_core::Error::DropoutRates { expected: 1, found: 2 })
    ));
    assert!(Dropout::new(vec![1.0]).is_err() && Dropout::new(vec![f64::NAN]).is_err());
}
