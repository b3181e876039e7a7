//! The exported bytes decoded back with prost: structure, parameters, metadata, errors, and the
//! graph evaluated by a small interpreter of ONNX's operator semantics against `predict_proba`.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::float_cmp,
    reason = "tests: a failure should stop them; exact comparisons are intended"
)]

use std::collections::HashMap;

use nn_core::rng::{ChaCha8Rng, RngCore, SeedableRng};
use nn_core::{Activation, Dense, Loss, Network};
use nn_linalg::{Float, Mat};
use prost::Message;

use super::proto::tensor_proto::DataType;
use super::proto::tensor_shape_proto::dimension;
use super::proto::{
    AttributeProto, ModelProto, NodeProto, TensorProto, ValueInfoProto, type_proto,
};
use super::{ONNX_IR_VERSION, ONNX_OPSET, OnnxOptions, PROTOBUF_LIMIT, check_size, encode_onnx};
use crate::{OnnxError, StoredFloat};

fn decode(bytes: &[u8]) -> ModelProto {
    ModelProto::decode(bytes).unwrap()
}

fn export<T: StoredFloat>(net: &Network<T>, options: &OnnxOptions) -> ModelProto {
    decode(&encode_onnx(net, options).unwrap())
}

fn network<T: Float>(
    sizes: &[usize],
    hidden: Activation,
    last: Activation,
    loss: Loss,
) -> Network<T> {
    let mut builder = Network::builder(sizes[0], loss);
    for (i, &n) in sizes[1..].iter().enumerate() {
        builder = builder.layer(n, if i + 2 == sizes.len() { last } else { hidden });
    }
    builder.build(&mut ChaCha8Rng::seed_from_u64(7)).unwrap()
}

fn op_types(model: &ModelProto) -> Vec<&str> {
    model.graph.as_ref().unwrap().node.iter().map(NodeProto::op_type).collect()
}

fn int_attr(node: &NodeProto, name: &str) -> Option<i64> {
    node.attribute.iter().find(|a| a.name() == name).map(AttributeProto::i)
}

fn float_attr(node: &NodeProto, name: &str) -> Option<f32> {
    node.attribute.iter().find(|a| a.name() == name).map(AttributeProto::f)
}

/// The element type and dimensions (`Err(name)` for a symbolic one) of a tensor value.
fn signature(info: &ValueInfoProto) -> (i32, Vec<Result<i64, String>>) {
    let Some(type_proto::Value::TensorType(t)) = info.r#type.as_ref().unwrap().value.as_ref()
    else {
        panic!("{} is not a tensor", info.name());
    };
    let dims = t
        .shape
        .as_ref()
        .unwrap()
        .dim
        .iter()
        .map(|d| match d.value.as_ref().unwrap() {
            dimension::Value::DimValue(v) => Ok(*v),
            dimension::Value::DimParam(p) => Err(p.clone()),
        })
        .collect();
    (t.elem_type(), dims)
}

fn floats(t: &TensorProto) -> Vec<f32> {
    assert_eq!(t.data_type(), DataType::Float as i32);
    assert!(t.float_data.is_empty());
    t.raw_data().as_chunks::<4>().0.iter().map(|c| f32::from_le_bytes(*c)).collect()
}

fn metadata(model: &ModelProto) -> Vec<(&str, &str)> {
    model.metadata_props.iter().map(|e| (e.key(), e.value())).collect()
}

#[test]
fn the_model_has_one_input_one_output_with_a_dynamic_batch() {
    let net = network::<f32>(
        &[5, 4, 3],
        Activation::Relu,
        Activation::Identity,
        Loss::SoftmaxCrossEntropy,
    );
    let model = export(&net, &OnnxOptions::new());
    assert_eq!(model.ir_version(), ONNX_IR_VERSION);
    assert_eq!((ONNX_IR_VERSION, ONNX_OPSET), (8, 17));
    assert_eq!(model.opset_import.len(), 1);
    assert_eq!((model.opset_import[0].domain(), model.opset_import[0].version()), ("", 17));
    let graph = model.graph.as_ref().unwrap();
    assert_eq!(graph.input.len(), 1);
    assert_eq!(graph.output.len(), 1);
    assert_eq!(graph.input[0].name(), "input");
    assert_eq!(graph.output[0].name(), "output");
    let float = DataType::Float as i32;
    assert_eq!(signature(&graph.input[0]), (float, vec![Err("N".to_owned()), Ok(5)]));
    assert_eq!(signature(&graph.output[0]), (float, vec![Err("N".to_owned()), Ok(3)]));
    // Exactly one node produces the output, and it is the last.
    let producers: Vec<_> =
        graph.node.iter().filter(|n| n.output.iter().any(|o| o == "output")).collect();
    assert_eq!(producers.len(), 1);
    assert_eq!(graph.node.last().unwrap().output, vec!["output".to_owned()]);
}

#[test]
fn each_layer_is_a_gemm_with_transposed_weights_then_the_loss_output_function() {
    let cases = [
        (Loss::SoftmaxCrossEntropy, Activation::Identity, vec!["Gemm", "Tanh", "Gemm", "Softmax"]),
        (
            Loss::SigmoidBinaryCrossEntropy,
            Activation::Identity,
            vec!["Gemm", "Tanh", "Gemm", "Sigmoid"],
        ),
        (Loss::MeanSquaredError, Activation::Identity, vec!["Gemm", "Tanh", "Gemm"]),
        (Loss::MeanSquaredError, Activation::Relu, vec!["Gemm", "Tanh", "Gemm", "Relu"]),
    ];
    for (loss, last, expected) in cases {
        let net = network::<f32>(&[3, 4, 2], Activation::Tanh, last, loss);
        let model = export(&net, &OnnxOptions::new());
        assert_eq!(op_types(&model), expected, "{loss} {last}");
        let graph = model.graph.as_ref().unwrap();
        let gemms: Vec<_> = graph.node.iter().filter(|n| n.op_type() == "Gemm").collect();
        for (i, gemm) in gemms.iter().enumerate() {
            assert_eq!(int_attr(gemm, "transB"), Some(1));
            assert_eq!(int_attr(gemm, "transA"), None);
            let expected_inputs = [
                if i == 0 { "input".to_owned() } else { "layers.0.a".to_owned() },
                format!("layers.{i}.weight"),
                format!("layers.{i}.bias"),
            ];
            assert_eq!(gemm.input, expected_inputs);
        }
        if loss == Loss::SoftmaxCrossEntropy {
            assert_eq!(int_attr(graph.node.last().unwrap(), "axis"), Some(1));
        }
    }
}

#[test]
fn initializers_hold_w_row_major_and_b_bit_for_bit() {
    let net = network::<f32>(
        &[3, 4, 2],
        Activation::Relu,
        Activation::Identity,
        Loss::SoftmaxCrossEntropy,
    );
    let model = export(&net, &OnnxOptions::new());
    let graph = model.graph.as_ref().unwrap();
    let init: HashMap<&str, &TensorProto> =
        graph.initializer.iter().map(|t| (t.name(), t)).collect();
    assert_eq!(init.len(), 4);
    for (i, layer) in net.layers().iter().enumerate() {
        let (n, m) = (layer.n_outputs(), layer.n_inputs());
        let w = init[format!("layers.{i}.weight").as_str()];
        let b = init[format!("layers.{i}.bias").as_str()];
        assert_eq!(w.dims, [n as i64, m as i64]);
        assert_eq!(b.dims, [n as i64]);
        let (w, b) = (floats(w), floats(b));
        let theta = layer.theta();
        for r in 0..n {
            assert_eq!(b[r].to_bits(), theta[(r, 0)].to_bits());
            for c in 0..m {
                assert_eq!(w[r * m + c].to_bits(), theta[(r, c + 1)].to_bits());
            }
        }
    }
}

#[test]
fn an_f64_network_is_exported_as_the_nearest_float32() {
    let net =
        network::<f64>(&[3, 2], Activation::Relu, Activation::Identity, Loss::MeanSquaredError);
    let model = export(&net, &OnnxOptions::new());
    let graph = model.graph.as_ref().unwrap();
    assert_eq!(signature(&graph.input[0]).0, DataType::Float as i32);
    let w = floats(graph.initializer.iter().find(|t| t.name() == "layers.0.weight").unwrap());
    let theta = net.layers()[0].theta();
    for r in 0..2 {
        for c in 0..3 {
            assert_eq!(w[r * 3 + c], theta[(r, c + 1)] as f32);
        }
    }
    assert!(metadata(&model).contains(&("nn.precision", "f64")));
}

#[test]
fn every_activation_maps_to_its_operators() {
    let cases: [(Activation, &[&str]); 11] = [
        (Activation::Sigmoid, &["Sigmoid"]),
        (Activation::Tanh, &["Tanh"]),
        (Activation::Relu, &["Relu"]),
        (Activation::LeakyRelu { alpha: -0.25 }, &["LeakyRelu"]),
        (Activation::Elu { alpha: 0.75 }, &["Elu"]),
        (Activation::Gelu, &["Mul", "Erf", "Add", "Mul", "Mul"]),
        (Activation::GeluTanh, &["Mul", "Mul", "Mul", "Add", "Mul", "Tanh", "Add", "Mul", "Mul"]),
        (Activation::Silu, &["Sigmoid", "Mul"]),
        (Activation::Softplus, &["Abs", "Neg", "Exp", "Add", "Log", "Relu", "Add"]),
        (Activation::Identity, &[]),
        (Activation::LeakyRelu { alpha: 0.01 }, &["LeakyRelu"]),
    ];
    for (act, ops) in cases {
        let net = network::<f32>(&[3, 4, 2], act, Activation::Identity, Loss::SoftmaxCrossEntropy);
        let model = export(&net, &OnnxOptions::new());
        let mut expected = vec!["Gemm"];
        expected.extend_from_slice(ops);
        expected.extend(["Gemm", "Softmax"]);
        assert_eq!(op_types(&model), expected, "{act}");
        let graph = model.graph.as_ref().unwrap();
        match act {
            Activation::LeakyRelu { alpha } | Activation::Elu { alpha } => {
                assert_eq!(float_attr(&graph.node[1], "alpha"), Some(alpha as f32));
            }
            _ => {}
        }
        // The activation's result is what the next Gemm reads.
        let a = if ops.is_empty() { "layers.0.z" } else { "layers.0.a" };
        let second_gemm = graph.node.iter().filter(|n| n.op_type() == "Gemm").nth(1).unwrap();
        assert_eq!(second_gemm.input[0], a, "{act}");
    }
}

#[test]
fn scalar_constants_are_shared_float32_initializers() {
    let net = network::<f32>(
        &[3, 4, 4, 2],
        Activation::GeluTanh,
        Activation::Identity,
        Loss::SoftmaxCrossEntropy,
    );
    let model = export(&net, &OnnxOptions::new());
    let graph = model.graph.as_ref().unwrap();
    let constants: Vec<_> =
        graph.initializer.iter().filter(|t| t.name().starts_with("const.")).collect();
    // ½, 0.044715, √(2/π) and 1, once each although two layers use them.
    assert_eq!(constants.len(), 4);
    for c in &constants {
        assert!(c.dims.is_empty(), "{} is a scalar", c.name());
        assert_eq!(floats(c).len(), 1);
    }
    let values: Vec<f32> = constants.iter().map(|c| floats(c)[0]).collect();
    for v in [0.5, 0.044_715_f64 as f32, 0.797_884_560_802_865_4_f64 as f32, 1.0] {
        assert!(values.contains(&v), "{v} in {values:?}");
    }
}

#[test]
fn metadata_holds_the_architecture_then_the_options_entries() {
    let net = network::<f32>(
        &[4, 3, 2],
        Activation::Elu { alpha: 0.5 },
        Activation::Identity,
        Loss::SigmoidBinaryCrossEntropy,
    );
    let options = OnnxOptions::new()
        .with_metadata("preprocessing", "pixel / 255")
        .with_metadata_entries([("class_names", "[\"a\",\"b\"]"), ("b", "2")])
        .with_producer("tabular", "9.9")
        .with_graph_name("classifier")
        .with_model_version(3);
    let model = export(&net, &options);
    assert_eq!(
        metadata(&model),
        [
            ("nn.sizes", "4,3,2"),
            ("nn.activations", "elu:0.5,identity"),
            ("nn.loss", "sigmoid_binary_cross_entropy"),
            ("nn.output", "per-output probabilities: element-wise sigmoid (multi-label)"),
            ("nn.precision", "f32"),
            ("b", "2"),
            ("class_names", "[\"a\",\"b\"]"),
            ("preprocessing", "pixel / 255"),
        ]
    );
    assert_eq!((model.producer_name(), model.producer_version()), ("tabular", "9.9"));
    assert_eq!(model.graph.as_ref().unwrap().name(), "classifier");
    assert_eq!(model.model_version, Some(3));
    assert!(model.doc_string().contains("4-3-2"), "{}", model.doc_string());

    let model = export(&net, &OnnxOptions::new().with_doc_string("mine"));
    assert_eq!(model.doc_string(), "mine");
    assert_eq!(model.producer_name(), "nn");
    assert_eq!(model.producer_version(), env!("CARGO_PKG_VERSION"));
    assert_eq!(model.model_version, None);
}

#[test]
fn the_encoding_is_deterministic() {
    let net = network::<f32>(
        &[3, 5, 2],
        Activation::Gelu,
        Activation::Identity,
        Loss::SoftmaxCrossEntropy,
    );
    let options = OnnxOptions::new().with_metadata("k", "v");
    assert_eq!(encode_onnx(&net, &options).unwrap(), encode_onnx(&net, &options).unwrap());
}

#[test]
fn reserved_and_empty_metadata_keys_are_refused() {
    let net =
        network::<f32>(&[2, 2], Activation::Relu, Activation::Identity, Loss::MeanSquaredError);
    for key in ["", "nn.sizes", "nn.mine"] {
        let err = encode_onnx(&net, &OnnxOptions::new().with_metadata(key, "x")).unwrap_err();
        assert!(matches!(&err, OnnxError::MetadataKey { key: k, .. } if k == key), "{err}");
    }
    // "nn" alone and other prefixes are the user's.
    assert!(encode_onnx(&net, &OnnxOptions::new().with_metadata("nn", "x")).is_ok());
    assert!(encode_onnx(&net, &OnnxOptions::new().with_metadata("nnx.a", "x")).is_ok());
}

#[test]
fn an_empty_graph_name_is_refused() {
    let net =
        network::<f32>(&[2, 2], Activation::Relu, Activation::Identity, Loss::MeanSquaredError);
    let err = encode_onnx(&net, &OnnxOptions::new().with_graph_name("")).unwrap_err();
    assert!(matches!(err, OnnxError::InvalidOption { option: "graph_name", .. }), "{err}");
}

#[test]
fn a_non_finite_parameter_is_refused() {
    let mut net =
        network::<f32>(&[2, 2], Activation::Relu, Activation::Identity, Loss::MeanSquaredError);
    net.layers_mut()[0].theta_mut()[(1, 2)] = f32::NAN;
    let err = encode_onnx(&net, &OnnxOptions::new()).unwrap_err();
    assert!(
        matches!(
            err,
            OnnxError::Invalid(nn_core::Error::NonFiniteParameter { row: 1, col: 2, .. })
        ),
        "{err}"
    );
}

#[test]
fn f64_values_beyond_float32_are_refused() {
    let big = 1e39;
    let layer = |act| Dense::from_theta_col_major(1, 1, &[0.0, 1.0], act).unwrap();
    let mut theta_big = vec![0.0, 1.0];
    theta_big[0] = big;
    let cases = [
        (
            vec![
                layer(Activation::Relu),
                Dense::from_theta_col_major(1, 1, &theta_big, Activation::Identity).unwrap(),
            ],
            1,
            "a parameter",
        ),
        (
            vec![layer(Activation::LeakyRelu { alpha: big }), layer(Activation::Identity)],
            0,
            "leaky_relu alpha",
        ),
        (vec![layer(Activation::Relu), layer(Activation::Elu { alpha: big })], 1, "elu alpha"),
    ];
    for (layers, layer_idx, what) in cases {
        let net: Network<f64> = Network::new(layers, Loss::MeanSquaredError).unwrap();
        let err = encode_onnx(&net, &OnnxOptions::new()).unwrap_err();
        assert_eq!(err, OnnxError::NotFloat32 { layer_idx, what, value: big });
    }
    // The largest float32 itself is fine.
    let max = f64::from(f32::MAX);
    let net: Network<f64> = Network::new(
        vec![Dense::from_theta_col_major(1, 1, &[max, -max], Activation::Identity).unwrap()],
        Loss::MeanSquaredError,
    )
    .unwrap();
    assert!(encode_onnx(&net, &OnnxOptions::new()).is_ok());
}

#[test]
fn models_beyond_protobufs_limit_are_refused() {
    assert_eq!(PROTOBUF_LIMIT, (1 << 31) - 1);
    assert_eq!(check_size(PROTOBUF_LIMIT), Ok(()));
    assert_eq!(
        check_size(PROTOBUF_LIMIT + 1),
        Err(OnnxError::TooLarge { bytes: PROTOBUF_LIMIT + 1, limit: PROTOBUF_LIMIT })
    );
}

// ---------------------------------------------------------------------------------------------
// A reference interpreter of the ONNX operators the export uses, written from the operators'
// specification (not from nn-core's formulas), in float32 as a runtime computes.

struct Tensor {
    shape: Vec<usize>,
    data: Vec<f32>,
}

fn binary(x: &Tensor, y: &Tensor, f: impl Fn(f32, f32) -> f32) -> Tensor {
    // Numpy broadcasting, restricted to what the export needs: equal shapes, or a scalar.
    let (shape, data) = if x.shape == y.shape {
        (x.shape.clone(), x.data.iter().zip(&y.data).map(|(&a, &b)| f(a, b)).collect())
    } else if y.shape.is_empty() {
        (x.shape.clone(), x.data.iter().map(|&a| f(a, y.data[0])).collect())
    } else if x.shape.is_empty() {
        (y.shape.clone(), y.data.iter().map(|&b| f(x.data[0], b)).collect())
    } else {
        panic!("shapes {:?} and {:?}", x.shape, y.shape);
    };
    Tensor { shape, data }
}

fn unary(x: &Tensor, f: impl Fn(f32) -> f32) -> Tensor {
    Tensor { shape: x.shape.clone(), data: x.data.iter().map(|&v| f(v)).collect() }
}

/// Runs the model on `x` (rows are samples) and returns `output`.
fn run(model: &ModelProto, x: Tensor) -> Tensor {
    let graph = model.graph.as_ref().unwrap();
    let mut env: HashMap<String, Tensor> = HashMap::new();
    for t in &graph.initializer {
        let shape = t.dims.iter().map(|&d| d as usize).collect();
        env.insert(t.name().to_owned(), Tensor { shape, data: floats(t) });
    }
    env.insert("input".to_owned(), x);
    for node in &graph.node {
        let arg = |i: usize| &env[&node.input[i]];
        let y = match node.op_type() {
            "Gemm" => {
                // Y = A Bᵀ + C with transB = 1 (the only form exported), C broadcast over rows.
                let (a, b, c) = (arg(0), arg(1), arg(2));
                assert_eq!(int_attr(node, "transB"), Some(1));
                let (rows, k, n) = (a.shape[0], a.shape[1], b.shape[0]);
                assert_eq!((b.shape[1], c.shape.as_slice()), (k, &[n][..]));
                let mut data = vec![0.0; rows * n];
                for r in 0..rows {
                    for j in 0..n {
                        let dot: f32 = (0..k).map(|t| a.data[r * k + t] * b.data[j * k + t]).sum();
                        data[r * n + j] = dot + c.data[j];
                    }
                }
                Tensor { shape: vec![rows, n], data }
            }
            "Relu" => unary(arg(0), |v| v.max(0.0)),
            "Sigmoid" => unary(arg(0), |v| 1.0 / (1.0 + (-v).exp())),
            "Tanh" => unary(arg(0), f32::tanh),
            "Erf" => unary(arg(0), Float::erf),
            "Exp" => unary(arg(0), f32::exp),
            "Log" => unary(arg(0), f32::ln),
            "Abs" => unary(arg(0), f32::abs),
            "Neg" => unary(arg(0), |v| -v),
            "LeakyRelu" => {
                let alpha = float_attr(node, "alpha").unwrap();
                unary(arg(0), |v| if v < 0.0 { alpha * v } else { v })
            }
            "Elu" => {
                let alpha = float_attr(node, "alpha").unwrap();
                unary(arg(0), |v| if v < 0.0 { alpha * (v.exp() - 1.0) } else { v })
            }
            "Add" => binary(arg(0), arg(1), |a, b| a + b),
            "Mul" => binary(arg(0), arg(1), |a, b| a * b),
            "Softmax" => {
                let x = arg(0);
                assert_eq!(int_attr(node, "axis"), Some(1));
                let n = x.shape[1];
                let mut data = x.data.clone();
                for row in data.chunks_mut(n) {
                    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                    row.iter_mut().for_each(|v| *v = (*v - max).exp());
                    let sum: f32 = row.iter().sum();
                    row.iter_mut().for_each(|v| *v /= sum);
                }
                Tensor { shape: x.shape.clone(), data }
            }
            other => panic!("the interpreter has no {other}"),
        };
        assert_eq!(node.output.len(), 1);
        env.insert(node.output[0].clone(), y);
    }
    env.remove("output").unwrap()
}

/// `n_samples` inputs in [−3, 3], every fifth one scaled by 20 to reach the activations' tails.
fn inputs(n_inputs: usize, n_samples: usize, rng: &mut ChaCha8Rng) -> Vec<f64> {
    (0..n_inputs * n_samples)
        .map(|k| {
            let u = (rng.next_u32() as f64 / f64::from(u32::MAX)) * 6.0 - 3.0;
            if (k / n_inputs) % 5 == 4 { u * 20.0 } else { u }
        })
        .collect()
}

fn check_against_predict_proba<T: StoredFloat>(net: &Network<T>, rows: &[f64], n_samples: usize) {
    let m = net.n_inputs();
    let model = export(net, &OnnxOptions::new());
    let x = Tensor { shape: vec![n_samples, m], data: rows.iter().map(|&v| v as f32).collect() };
    let out = run(&model, x);
    assert_eq!(out.shape, [n_samples, net.n_outputs()]);
    // Our samples are columns: sample k is row k of the ONNX input.
    let x = Mat::<T>::from_fn(m, n_samples, |i, k| T::from_f64(f64::from(rows[k * m + i] as f32)));
    let ours = net.predict_proba(x.as_ref()).unwrap();
    for k in 0..n_samples {
        for i in 0..net.n_outputs() {
            let (theirs, ours) =
                (f64::from(out.data[k * net.n_outputs() + i]), ours[(i, k)].to_f64());
            assert!(
                (theirs - ours).abs() <= 1e-5 * ours.abs().max(1.0),
                "{:?} {}: sample {k} output {i}: onnx {theirs}, ours {ours}",
                net.layers().iter().map(Dense::activation).collect::<Vec<_>>(),
                net.loss_kind(),
            );
        }
    }
}

#[test]
fn the_graph_computes_predict_proba_for_every_activation_and_loss() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut activations = Activation::ALL.to_vec();
    activations.extend([Activation::LeakyRelu { alpha: -0.3 }, Activation::Elu { alpha: 0.7 }]);
    for &act in &activations {
        for loss in Loss::ALL {
            // For MSE the activation is also the output function.
            let last = if loss == Loss::MeanSquaredError { act } else { Activation::Identity };
            let n_samples = 25;
            let rows = inputs(6, n_samples, &mut rng);
            let net = network::<f32>(&[6, 8, 5, 3], act, last, loss);
            check_against_predict_proba(&net, &rows, n_samples);
            let net = network::<f64>(&[6, 8, 5, 3], act, last, loss);
            check_against_predict_proba(&net, &rows, n_samples);
        }
    }
}

#[test]
fn softplus_stays_finite_for_large_inputs() {
    // One unit, z = x: ln(1 + e^z) must be z itself for z = 200, not +∞ (e^200 overflows f32).
    let layer = Dense::from_theta_col_major(1, 1, &[0.0_f32, 1.0], Activation::Softplus).unwrap();
    let net = Network::new(vec![layer], Loss::MeanSquaredError).unwrap();
    let model = export(&net, &OnnxOptions::new());
    let out = run(&model, Tensor { shape: vec![3, 1], data: vec![200.0, -200.0, 0.0] });
    assert_eq!(out.data[0], 200.0);
    assert_eq!(out.data[1], 0.0);
    assert!((out.data[2] - std::f32::consts::LN_2).abs() < 1e-7);
}
