//! Property tests over random sizes, activations, losses and values.

use nn_core::{Activation, Gradients, Loss, Network, Targets, Workspace};
use nn_linalg::Mat;
use proptest::prelude::*;

use crate::support::{assert_close, net, rng, uniform_mat};

fn any_activation() -> impl Strategy<Value = Activation> {
    prop::sample::select(Activation::ALL.to_vec())
}

fn any_loss() -> impl Strategy<Value = Loss> {
    prop::sample::select(Loss::ALL.to_vec())
}

/// Layer sizes: inputs, 0 to 3 hidden layers, outputs; all between 1 and 9.
fn any_sizes() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..10, 2..6)
}

fn targets_for(loss: Loss, n_out: usize, batch: usize, seed: u64) -> (Vec<usize>, Mat<f64>) {
    let labels = (0..batch).map(|k| (k * 31 + seed as usize) % loss.n_classes(n_out)).collect();
    let m = uniform_mat(&mut rng(seed), n_out, batch, 0.0, 1.0);
    (labels, m)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn forward_output_is_outputs_by_batch(
        sizes in any_sizes(), act in any_activation(), loss in any_loss(),
        batch in 1usize..40, seed in any::<u64>(),
    ) {
        let network: Network<f32> = net(&sizes, act, loss, act, seed).cast();
        let x = uniform_mat(&mut rng(seed), sizes[0], batch, -1.0, 1.0);
        let x: Mat<f32> = Mat::from_fn(x.nrows(), x.ncols(), |i, j| x[(i, j)] as f32);
        let mut ws = Workspace::for_network(&network, 64).unwrap();
        let out = network.forward_into(x.as_ref(), &mut ws).unwrap().into_output();
        prop_assert_eq!((out.nrows(), out.ncols()), (*sizes.last().unwrap(), batch));
        prop_assert_eq!(network.predict(x.as_ref()).unwrap().len(), batch);
    }

    #[test]
    fn batch_forward_equals_column_by_column_forward(
        sizes in any_sizes(), act in any_activation(), loss in any_loss(),
        batch in 1usize..20, seed in any::<u64>(),
    ) {
        let network = net(&sizes, act, loss, act, seed);
        let x = uniform_mat(&mut rng(seed), sizes[0], batch, -2.0, 2.0);
        let mut ws = Workspace::for_network(&network, batch).unwrap();
        let all = network.forward_into(x.as_ref(), &mut ws).unwrap().output().to_owned();
        let mut one = Workspace::for_network(&network, 1).unwrap();
        let mut cols = Mat::<f64>::zeros(all.nrows(), batch);
        for k in 0..batch {
            let out = network.forward_into(x.as_ref().subcols(k, 1), &mut one).unwrap().into_output();
            cols.as_mut().col_mut(k).copy_from(out.col(0));
        }
        assert_close(&all, &cols, 1e-13, 1e-15, "batch vs columns");
    }

    #[test]
    fn batch_gradient_equals_mean_of_per_sample_gradients(
        sizes in any_sizes(), act in any_activation(), loss in any_loss(),
        batch in 1usize..12, seed in any::<u64>(), l2 in prop::sample::select(vec![0.0, 0.5]),
    ) {
        let network = net(&sizes, act, loss, act, seed).with_l2(l2).unwrap();
        let n_out = *sizes.last().unwrap();
        let x = uniform_mat(&mut rng(seed), sizes[0], batch, -2.0, 2.0);
        let (labels, matrix) = targets_for(loss, n_out, batch, seed);
        for use_labels in [true, false] {
            let targets = |r: std::ops::Range<usize>| {
                if use_labels {
                    Targets::Classes(&labels[r])
                } else {
                    Targets::Matrix(matrix.as_ref().subcols(r.start, r.len()))
                }
            };
            let mut ws = Workspace::for_network(&network, batch).unwrap();
            let mut g = Gradients::zeros_like(&network);
            let j = network.forward_backward_into(x.as_ref(), targets(0..batch), &mut ws, &mut g).unwrap();
            let mut sum = Gradients::zeros_like(&network);
            let mut gk = Gradients::zeros_like(&network);
            let mut j_sum = 0.0;
            for k in 0..batch {
                // Per-sample J with B = 1 includes λ/2 ΣW²; the mean of those is the batch's R1 × B.
                j_sum += network.forward_backward_into(x.as_ref().subcols(k, 1), targets(k..k + 1), &mut ws, &mut gk).unwrap();
                sum.add_assign(&gk).unwrap();
            }
            sum.scale(1.0 / batch as f64);
            // R1 scales with 1/B: per-sample (B = 1) gradients carry λW, the batch's (λ/B)W.
            for l in 0..g.n_layers() {
                let mut e = g.layer(l).unwrap().to_owned();
                let theta = network.layers()[l].theta();
                for jj in 1..e.ncols() {
                    for i in 0..e.nrows() {
                        e[(i, jj)] += l2 * (1.0 - 1.0 / batch as f64) * theta[(i, jj)];
                    }
                }
                assert_close(&sum.layer(l).unwrap().to_owned(), &e, 1e-11, 1e-14, "mean of per-sample gradients");
            }
            let j_expected = j + l2 / 2.0 * (1.0 - 1.0 / batch as f64) * network.layers().iter().map(|layer| {
                let w = layer.weights();
                (0..w.ncols()).map(|c| (0..w.nrows()).map(|r| w[(r, c)] * w[(r, c)]).sum::<f64>()).sum::<f64>()
            }).sum::<f64>();
            prop_assert!((j_sum / batch as f64 - j_expected).abs() <= 1e-12 * j_expected.abs().max(1.0));
        }
    }

    #[test]
    fn sharded_backward_sums_to_the_whole_batch(
        sizes in any_sizes(), act in any_activation(), loss in any_loss(),
        batch in 2usize..16, seed in any::<u64>(),
    ) {
        let network = net(&sizes, act, loss, act, seed).with_l2(0.25).unwrap();
        let n_out = *sizes.last().unwrap();
        let x = uniform_mat(&mut rng(seed), sizes[0], batch, -2.0, 2.0);
        let (labels, _) = targets_for(loss, n_out, batch, seed);
        let mut ws = Workspace::for_network(&network, batch).unwrap();
        let mut whole = Gradients::zeros_like(&network);
        let j = network.forward_backward_into(x.as_ref(), Targets::Classes(&labels), &mut ws, &mut whole).unwrap();
        let split = batch / 2;
        let mut sum = Gradients::zeros_like(&network);
        let mut part = Gradients::zeros_like(&network);
        let mut j_sum = 0.0;
        for r in [0..split, split..batch] {
            let xs = x.as_ref().subcols(r.start, r.len());
            let pass = network.forward_into(xs, &mut ws).unwrap();
            j_sum += pass.backward_shard_into(Targets::Classes(&labels[r]), &mut part, batch).unwrap();
            sum.add_assign(&part).unwrap();
        }
        j_sum += network.add_l2_into(&mut sum, batch).unwrap();
        for l in 0..whole.n_layers() {
            assert_close(&sum.layer(l).unwrap().to_owned(), &whole.layer(l).unwrap().to_owned(), 1e-12, 1e-15, "shards");
        }
        prop_assert!((j - j_sum).abs() <= 1e-12 * j.abs().max(1.0));
    }

    #[test]
    fn cross_entropies_stay_finite_for_logits_up_to_1e4(
        scale in prop::sample::select(vec![1e2, 1e3, 1e4]), seed in any::<u64>(),
        loss in prop::sample::select(vec![Loss::SoftmaxCrossEntropy, Loss::SigmoidBinaryCrossEntropy]),
    ) {
        let mut network = net(&[3, 4], Activation::Identity, loss, Activation::Identity, seed);
        // Scale the only layer so that the logits reach ±scale.
        {
            let mut theta = network.layers_mut()[0].theta_mut();
            for j in 0..theta.ncols() {
                for i in 0..theta.nrows() {
                    theta[(i, j)] *= scale;
                }
            }
        }
        let x = uniform_mat(&mut rng(seed), 3, 6, -1.0, 1.0);
        let labels = [0, 1, 2, 3, 0, 1];
        let labels: Vec<usize> = labels.iter().map(|l| l % loss.n_classes(4)).collect();
        let mut ws = Workspace::for_network(&network, 6).unwrap();
        let mut g = Gradients::zeros_like(&network);
        let j = network.forward_backward_into(x.as_ref(), Targets::Classes(&labels), &mut ws, &mut g).unwrap();
        prop_assert!(j.is_finite() && g.is_finite());
        let out = ws.a(0).unwrap();
        for k in 0..6 {
            let col: Vec<f64> = (0..4).map(|i| out[(i, k)]).collect();
            prop_assert!(col.iter().all(|p| (0.0..=1.0).contains(p)));
            if loss == Loss::SoftmaxCrossEntropy {
                prop_assert!((col.iter().sum::<f64>() - 1.0).abs() < 1e-12);
            }
        }
    }
}

#[test]
fn network_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Network<f32>>();
    check::<Workspace<f32>>();
    check::<Gradients<f64>>();
}

#[test]
fn f32_and_f64_agree_to_f32_precision() {
    let network =
        net(&[5, 8, 4], Activation::Gelu, Loss::SoftmaxCrossEntropy, Activation::Identity, 3);
    let x = uniform_mat(&mut rng(4), 5, 7, -1.0, 1.0);
    let p64 = network.predict_proba(x.as_ref()).unwrap();
    let n32: Network<f32> = network.cast();
    let x32 = Mat::<f32>::from_fn(5, 7, |i, j| x[(i, j)] as f32);
    let p32 = n32.predict_proba(x32.as_ref()).unwrap();
    let p32 = Mat::<f64>::from_fn(4, 7, |i, j| f64::from(p32[(i, j)]));
    assert_close(&p32, &p64, 1e-5, 1e-6, "f32 vs f64");
}
