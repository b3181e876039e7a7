//! Every way a caller can misuse the API is a typed error, never a panic.

use nn_core::{Activation, Dense, Error, Gradients, Init, Loss, Network, Targets, Workspace};
use nn_linalg::{Mat, Shape};

use crate::support::{net, rng};

fn small() -> Network<f64> {
    net(&[3, 4, 2], Activation::Relu, Loss::SoftmaxCrossEntropy, Activation::Identity, 1)
}

#[test]
fn mismatched_layer_sizes() {
    let mut r = rng(0);
    let a = Dense::<f64>::new(3, 4, Activation::Relu, Init::HeUniform, &mut r).unwrap();
    let b = Dense::<f64>::new(5, 2, Activation::Identity, Init::HeUniform, &mut r).unwrap();
    assert_eq!(
        Network::new(vec![a, b], Loss::SoftmaxCrossEntropy),
        Err(Error::LayerMismatch { layer_idx: 1, expected: 5, found: 4 })
    );
    assert_eq!(Network::<f32>::new(vec![], Loss::MeanSquaredError), Err(Error::NoLayers));
}

#[test]
fn zero_width_layer() {
    let res = Network::<f32>::builder(3, Loss::MeanSquaredError)
        .layer(4, Activation::Tanh)
        .layer(0, Activation::Tanh)
        .build(&mut rng(0));
    assert_eq!(res, Err(Error::ZeroWidth { layer_idx: 1, what: "n_outputs" }));
    let res = Network::<f32>::builder(0, Loss::MeanSquaredError)
        .layer(2, Activation::Tanh)
        .build(&mut rng(0));
    assert_eq!(res, Err(Error::ZeroWidth { layer_idx: 0, what: "n_inputs" }));
}

#[test]
fn cross_entropy_after_a_non_identity_output() {
    let res = Network::<f32>::builder(3, Loss::SoftmaxCrossEntropy)
        .layer(2, Activation::Sigmoid)
        .build(&mut rng(0));
    assert!(matches!(res, Err(Error::OutputActivation { found: Activation::Sigmoid, .. })));
}

#[test]
fn non_finite_hyper_parameters() {
    for bad in [f64::NAN, f64::INFINITY, -1.0] {
        assert!(matches!(
            small().with_l2(bad),
            Err(Error::InvalidHyperparameter { name: "l2", .. })
        ));
    }
    let res = Network::<f32>::builder(3, Loss::MeanSquaredError)
        .layer(2, Activation::LeakyRelu { alpha: f64::NAN })
        .build(&mut rng(0));
    assert!(matches!(res, Err(Error::InvalidHyperparameter { name: "leaky_relu alpha", .. })));
    let res = Network::<f32>::builder(3, Loss::MeanSquaredError)
        .layer(2, Activation::Elu { alpha: f64::NEG_INFINITY })
        .build(&mut rng(0));
    assert!(matches!(res, Err(Error::InvalidHyperparameter { name: "elu alpha", .. })));
    assert!(matches!(
        small().with_class_weights(vec![1.0, f64::NAN]),
        Err(Error::InvalidHyperparameter { name: "class weight", .. })
    ));
    assert!(matches!(
        small().with_class_weights(vec![1.0]),
        Err(Error::ClassWeights { expected: 2, found: 1, .. })
    ));
    let mse = net(&[3, 2], Activation::Tanh, Loss::MeanSquaredError, Activation::Tanh, 0);
    assert!(matches!(mse.with_class_weights(vec![1.0, 1.0]), Err(Error::ClassWeights { .. })));
}

#[test]
fn wrong_input_rows_and_batch_sizes() {
    let network = small();
    let mut ws = Workspace::for_network(&network, 4).unwrap();
    let x = Mat::<f64>::zeros(5, 2);
    assert!(matches!(
        network.forward_into(x.as_ref(), &mut ws),
        Err(Error::InputRows { expected: 3, found: 5 })
    ));
    let x = Mat::<f64>::zeros(3, 5);
    assert!(matches!(
        network.forward_into(x.as_ref(), &mut ws),
        Err(Error::BatchSize { max: 4, found: 5 })
    ));
    let x = Mat::<f64>::zeros(3, 0);
    assert!(matches!(
        network.forward_into(x.as_ref(), &mut ws),
        Err(Error::BatchSize { found: 0, .. })
    ));
    assert!(matches!(Workspace::for_network(&network, 0), Err(Error::BatchSize { .. })));
    assert!(matches!(
        network.predict(Mat::<f64>::zeros(2, 3).as_ref()),
        Err(Error::InputRows { .. })
    ));
    assert_eq!(network.predict(Mat::<f64>::zeros(3, 0).as_ref()), Ok(vec![]));
}

#[test]
fn wrong_targets() {
    let network = small();
    let mut ws = Workspace::for_network(&network, 4).unwrap();
    let mut g = Gradients::zeros_like(&network);
    let x = Mat::<f64>::zeros(3, 3);
    let mut run =
        |t: Targets<'_, f64>| network.forward_backward_into(x.as_ref(), t, &mut ws, &mut g);
    assert_eq!(run(Targets::Classes(&[0, 1])), Err(Error::LabelCount { expected: 3, found: 2 }));
    assert_eq!(
        run(Targets::Classes(&[0, 2, 1])),
        Err(Error::LabelOutOfRange { sample_idx: 1, label: 2, n_classes: 2 })
    );
    let wrong = Mat::<f64>::zeros(3, 3);
    assert_eq!(
        run(Targets::Matrix(wrong.as_ref())),
        Err(Error::TargetShape {
            expected: Shape { rows: 2, cols: 3 },
            found: Shape { rows: 3, cols: 3 }
        })
    );
    let mut nan = Mat::<f64>::zeros(2, 3);
    nan[(1, 2)] = f64::NAN;
    assert!(matches!(
        run(Targets::Matrix(nan.as_ref())),
        Err(Error::NonFiniteTarget { row: 1, col: 2, .. })
    ));
}

#[test]
fn foreign_buffers_and_targets_of_another_batch() {
    let network = small();
    let other =
        net(&[3, 5, 2], Activation::Relu, Loss::SoftmaxCrossEntropy, Activation::Identity, 1);
    let x = Mat::<f64>::zeros(3, 2);
    let y = [0, 1];
    let mut ws = Workspace::for_network(&network, 4).unwrap();
    let mut g = Gradients::zeros_like(&network);
    // Targets of another batch size than the forward pass: the backward pass checks them
    // against the batch the pass holds (its input cannot be swapped: it is part of the pass).
    let x3 = Mat::<f64>::zeros(3, 3);
    let pass = network.forward_into(x3.as_ref(), &mut ws).unwrap();
    assert_eq!(
        pass.backward_into(Targets::Classes(&y), &mut g),
        Err(Error::LabelCount { expected: 3, found: 2 })
    );
    let mut foreign_ws = Workspace::for_network(&other, 4).unwrap();
    assert!(matches!(
        network.forward_into(x.as_ref(), &mut foreign_ws),
        Err(Error::WorkspaceMismatch { what: "workspace", .. })
    ));
    let mut foreign_g = Gradients::zeros_like(&other);
    let pass = network.forward_into(x.as_ref(), &mut ws).unwrap();
    assert!(matches!(
        pass.backward_into(Targets::Classes(&y), &mut foreign_g),
        Err(Error::WorkspaceMismatch { what: "gradients", .. })
    ));
    let pass = network.forward_into(x.as_ref(), &mut ws).unwrap();
    assert!(matches!(
        pass.backward_shard_into(Targets::Classes(&y), &mut g, 1),
        Err(Error::BatchSize { max: 1, found: 2 })
    ));
    assert!(matches!(g.add_assign(&foreign_g), Err(Error::WorkspaceMismatch { .. })));
    assert!(matches!(
        network.add_l2_into(&mut g, 0),
        Err(Error::InvalidHyperparameter { name: "batch_size", .. })
    ));
}

#[test]
fn errors_say_what_was_expected_and_found() {
    let e = Error::LayerMismatch { layer_idx: 2, expected: 128, found: 256 };
    assert_eq!(e.to_string(), "layer 2 takes 128 inputs, but the layer before it produces 256");
    let e = Error::InputRows { expected: 784, found: 28 };
    assert_eq!(
        e.to_string(),
        "input has 28 rows, but the network takes 784 inputs (samples are columns)"
    );
}

#[test]
fn a_gradient_check_step_that_is_not_positive_is_an_error() {
    let network = small();
    let x = Mat::<f64>::zeros(3, 2);
    for step in [0.0, -1e-4, f64::NAN] {
        let options = nn_core::gradcheck::Options::default().with_step(step).with_floor(1e-9);
        assert!(matches!(
            nn_core::gradcheck::numeric_gradient(
                &network,
                x.as_ref(),
                Targets::Classes(&[0, 1]),
                &options
            ),
            Err(Error::InvalidHyperparameter { name: "gradcheck step", .. })
        ));
    }
}
