//! The ONNX graph of a network: one `Gemm` per layer, its activation as ONNX operators, the
//! output function of the loss, the parameters as float32 initializers.

use std::collections::BTreeSet;

use nn_core::{Activation, Loss, Network};

use super::proto::attribute_proto::AttributeType;
use super::proto::tensor_proto::DataType;
use super::proto::tensor_shape_proto::{Dimension, dimension};
use super::proto::{
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto,
    TensorProto, TensorShapeProto, TypeProto, ValueInfoProto, type_proto,
};
use super::{
    BATCH_DIM, INPUT, ONNX_IR_VERSION, ONNX_OPSET, OUTPUT, OnnxOptions, PROTOBUF_LIMIT,
    RESERVED_PREFIX,
};
use crate::{OnnxError, StoredFloat};

/// `1/√2`, the scale inside GELU's erf (the value `nn-core` uses).
const INV_SQRT_2: f64 = std::f64::consts::FRAC_1_SQRT_2;
/// `√(2/π)` of GELU's tanh form (the value `nn-core` uses).
const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;
/// The cubic coefficient of GELU's tanh form.
const GELU_TANH_C: f64 = 0.044_715;

/// The model proto of `net`, with `options`' metadata and names (see [`super`] for the layout).
pub(super) fn model<T: StoredFloat>(
    net: &Network<T>,
    options: &OnnxOptions,
) -> Result<ModelProto, OnnxError> {
    net.check_finite().map_err(OnnxError::Invalid)?;
    if options.graph_name.is_empty() {
        return Err(OnnxError::InvalidOption {
            option: "graph_name",
            reason: "empty: ONNX requires a graph name",
        });
    }
    for key in options.metadata.keys() {
        if key.is_empty() {
            return Err(OnnxError::MetadataKey { key: key.clone(), reason: "empty" });
        }
        if key.starts_with(RESERVED_PREFIX) {
            return Err(OnnxError::MetadataKey {
                key: key.clone(),
                reason: "keys starting with \"nn.\" are written by nn-io itself",
            });
        }
    }
    // Four bytes per float32 parameter: refuse a model that cannot fit before building it.
    let param_bytes = u64::try_from(net.n_params()).unwrap_or(u64::MAX).saturating_mul(4);
    if param_bytes > PROTOBUF_LIMIT {
        return Err(OnnxError::TooLarge { bytes: param_bytes, limit: PROTOBUF_LIMIT });
    }

    let mut g = GraphBuilder::default();
    let mut x = INPUT.to_owned();
    for (layer_idx, layer) in net.layers().iter().enumerate() {
        let prefix = format!("layers.{layer_idx}");
        let (n, m) = (layer.n_outputs(), layer.n_inputs());
        // Θ column-major: column 0 is b, column j + 1 is W's column j.
        let theta = layer.theta_col_major();
        let (bias, weights) = theta.split_at(n);
        // W row-major, [n_outputs, n_inputs]: PyTorch's `nn.Linear.weight` layout. Gemm reads
        // it with transB = 1, so no value is rearranged arithmetically: the export is exact for
        // f32 networks (f64 ones are rounded to the nearest float32 once).
        let w = (0..n).flat_map(|i| (0..m).map(move |j| weights[j * n + i]));
        let weight = format!("{prefix}.weight");
        g.initializer(&weight, &[n, m], &float32s(w, layer_idx)?);
        let b = format!("{prefix}.bias");
        g.initializer(&b, &[n], &float32s(bias.iter().copied(), layer_idx)?);
        // (F2) z = W a + b for every sample; samples are rows here: Z = X Wᵀ + bᵀ.
        let z =
            g.node("Gemm", format!("{prefix}.z"), &[&x, &weight, &b], vec![attr_int("transB", 1)]);
        // (F3) a = g(z).
        x = g.activation(layer.activation(), z, &prefix, layer_idx)?;
    }
    // The output function fused with the loss (L2, L3); MSE (L1) outputs the last layer's a.
    match net.loss_kind() {
        Loss::SoftmaxCrossEntropy => {
            x = g.node("Softmax", "softmax".to_owned(), &[&x], vec![attr_int("axis", 1)]);
        }
        Loss::SigmoidBinaryCrossEntropy => {
            x = g.node("Sigmoid", "sigmoid".to_owned(), &[&x], Vec::new());
        }
        Loss::MeanSquaredError => {}
    }
    // The last tensor is no node's input: renaming it renames the graph's result.
    for node in &mut g.nodes {
        for out in &mut node.output {
            if *out == x {
                OUTPUT.clone_into(out);
            }
        }
    }

    let graph = GraphProto {
        node: g.nodes,
        name: Some(options.graph_name.clone()),
        initializer: g.initializers,
        input: vec![value_info(INPUT, net.n_inputs())],
        output: vec![value_info(OUTPUT, net.n_outputs())],
        ..GraphProto::default()
    };
    let mut metadata_props: Vec<StringStringEntryProto> =
        own_metadata(net).into_iter().map(|(k, v)| entry(k, v)).collect();
    metadata_props.extend(options.metadata.iter().map(|(k, v)| entry(k.clone(), v.clone())));
    Ok(ModelProto {
        ir_version: Some(ONNX_IR_VERSION),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(ONNX_OPSET),
        }],
        producer_name: Some(options.producer_name.clone()),
        producer_version: Some(options.producer_version.clone()),
        model_version: options.model_version,
        doc_string: Some(options.doc_string.clone().unwrap_or_else(|| describe(net))),
        graph: Some(graph),
        metadata_props,
        ..ModelProto::default()
    })
}

/// The entries nn-io writes itself, all under [`RESERVED_PREFIX`].
fn own_metadata<T: StoredFloat>(net: &Network<T>) -> Vec<(String, String)> {
    let join = |items: Vec<String>| items.join(",");
    vec![
        ("nn.sizes".to_owned(), join(net.sizes().iter().map(ToString::to_string).collect())),
        (
            "nn.activations".to_owned(),
            join(net.layers().iter().map(|l| l.activation().to_string()).collect()),
        ),
        ("nn.loss".to_owned(), net.loss_kind().to_string()),
        ("nn.output".to_owned(), output_meaning(net.loss_kind()).to_owned()),
        ("nn.precision".to_owned(), T::NAME.to_owned()),
    ]
}

fn output_meaning(loss: Loss) -> &'static str {
    match loss {
        Loss::SoftmaxCrossEntropy => "class probabilities: softmax over the outputs",
        Loss::SigmoidBinaryCrossEntropy => {
            "per-output probabilities: element-wise sigmoid (multi-label)"
        }
        Loss::MeanSquaredError => "the last layer's activations (regression outputs)",
    }
}

/// The default model doc string: the architecture in one line.
fn describe<T: StoredFloat>(net: &Network<T>) -> String {
    let sizes: Vec<String> = net.sizes().iter().map(ToString::to_string).collect();
    let acts: Vec<String> = net.layers().iter().map(|l| l.activation().to_string()).collect();
    format!(
        "Fully connected network {} ({}), trained with {} loss, exported from {}. Output: {}.",
        sizes.join("-"),
        acts.join(", "),
        net.loss_kind(),
        T::NAME,
        output_meaning(net.loss_kind())
    )
}

fn entry(key: String, value: String) -> StringStringEntryProto {
    StringStringEntryProto { key: Some(key), value: Some(value) }
}

/// The values as float32, refusing finite values beyond its range (an f64 network's).
fn float32s<T: StoredFloat>(
    values: impl Iterator<Item = T>,
    layer_idx: usize,
) -> Result<Vec<f32>, OnnxError> {
    values
        .map(|v| to_f32(v.to_f64(), layer_idx, "a parameter"))
        .collect::<Result<Vec<f32>, OnnxError>>()
}

/// `value` rounded to the nearest float32 (exact for an f32 network's values), if in range.
fn to_f32(value: f64, layer_idx: usize, what: &'static str) -> Result<f32, OnnxError> {
    // Rounds to nearest, as nn-core's `T::from_f64`.
    let v = value as f32;
    if v.is_finite() { Ok(v) } else { Err(OnnxError::NotFloat32 { layer_idx, what, value }) }
}

/// A size as an ONNX dimension. Sizes are below 2²⁹ once the parameters passed the size check.
fn dim(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A float32 tensor `[N, n]` with the symbolic batch dimension `N`.
fn value_info(name: &str, n: usize) -> ValueInfoProto {
    let dims =
        [dimension::Value::DimParam(BATCH_DIM.to_owned()), dimension::Value::DimValue(dim(n))];
    ValueInfoProto {
        name: Some(name.to_owned()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(DataType::Float as i32),
                shape: Some(TensorShapeProto {
                    dim: dims
                        .into_iter()
                        .map(|v| Dimension { value: Some(v), ..Dimension::default() })
                        .collect(),
                }),
            })),
            ..TypeProto::default()
        }),
        ..ValueInfoProto::default()
    }
}

fn attr_int(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.to_owned()),
        r#type: Some(AttributeType::Int as i32),
        i: Some(value),
        ..AttributeProto::default()
    }
}

fn attr_float(name: &str, value: f32) -> AttributeProto {
    AttributeProto {
        name: Some(name.to_owned()),
        r#type: Some(AttributeType::Float as i32),
        f: Some(value),
        ..AttributeProto::default()
    }
}

/// The nodes and initializers, in order.
#[derive(Default)]
struct GraphBuilder {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    /// The names of the scalar constants already among the initializers.
    constants: BTreeSet<String>,
}

impl GraphBuilder {
    /// Adds a node computing `output` (also the node's name) and returns `output`.
    fn node(
        &mut self,
        op_type: &str,
        output: String,
        inputs: &[&str],
        attribute: Vec<AttributeProto>,
    ) -> String {
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|&s| s.to_owned()).collect(),
            output: vec![output.clone()],
            name: Some(output.clone()),
            op_type: Some(op_type.to_owned()),
            attribute,
            ..NodeProto::default()
        });
        output
    }

    /// A float32 initializer, little-endian in `raw_data` (the layout ONNX tools write).
    fn initializer(&mut self, name: &str, dims: &[usize], values: &[f32]) {
        let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.initializers.push(TensorProto {
            dims: dims.iter().map(|&n| dim(n)).collect(),
            data_type: Some(DataType::Float as i32),
            name: Some(name.to_owned()),
            raw_data: Some(raw),
            ..TensorProto::default()
        });
    }

    /// The scalar float32 constant `value`, as an initializer shared by every node that uses
    /// it; `value` is rounded to float32 as `nn-core`'s f32 path rounds it (`T::from_f64`).
    fn constant(&mut self, value: f64) -> String {
        let v = value as f32;
        let name = format!("const.{v:?}");
        if self.constants.insert(name.clone()) {
            self.initializer(&name, &[], &[v]);
        }
        name
    }

    /// The nodes of `a = g(z)` (F3), named under `prefix`; returns the name of `a`.
    ///
    /// Each formula follows `nn-core`'s `Activation::apply` operation by operation, so the only
    /// differences from our f32 path are in `exp`, `erf` and `tanh` themselves.
    fn activation(
        &mut self,
        act: Activation,
        z: String,
        prefix: &str,
        layer_idx: usize,
    ) -> Result<String, OnnxError> {
        let a = format!("{prefix}.a");
        let name = |part: &str| format!("{prefix}.{}.{part}", act.name());
        Ok(match act {
            Activation::Identity => z,
            Activation::Sigmoid => self.node("Sigmoid", a, &[&z], Vec::new()),
            Activation::Tanh => self.node("Tanh", a, &[&z], Vec::new()),
            Activation::Relu => self.node("Relu", a, &[&z], Vec::new()),
            // ONNX's LeakyRelu and Elu take the negative branch for z < 0, ours for z ≤ 0: both
            // give 0 at z = 0.
            Activation::LeakyRelu { alpha } => {
                let alpha = to_f32(alpha, layer_idx, "leaky_relu alpha")?;
                self.node("LeakyRelu", a, &[&z], vec![attr_float("alpha", alpha)])
            }
            Activation::Elu { alpha } => {
                let alpha = to_f32(alpha, layer_idx, "elu alpha")?;
                self.node("Elu", a, &[&z], vec![attr_float("alpha", alpha)])
            }
            // ½z(1 + erf(z/√2)) = (½·z)·(1 + erf(z·(1/√2))). Opset 17 has Erf but not Gelu
            // (opset 20).
            Activation::Gelu => {
                let (half, c, one) =
                    (self.constant(0.5), self.constant(INV_SQRT_2), self.constant(1.0));
                let s = self.node("Mul", name("scaled"), &[&z, &c], Vec::new());
                let e = self.node("Erf", name("erf"), &[&s], Vec::new());
                let p = self.node("Add", name("one_plus"), &[&one, &e], Vec::new());
                let h = self.node("Mul", name("half_z"), &[&half, &z], Vec::new());
                self.node("Mul", a, &[&h, &p], Vec::new())
            }
            // ½z(1 + tanh(√(2/π)(z + 0.044715z³))), with z³ as ((0.044715·z)·z)·z like nn-core.
            Activation::GeluTanh => {
                let (half, c, k, one) = (
                    self.constant(0.5),
                    self.constant(GELU_TANH_C),
                    self.constant(SQRT_2_OVER_PI),
                    self.constant(1.0),
                );
                let c1 = self.node("Mul", name("cz"), &[&c, &z], Vec::new());
                let c2 = self.node("Mul", name("czz"), &[&c1, &z], Vec::new());
                let c3 = self.node("Mul", name("czzz"), &[&c2, &z], Vec::new());
                let inner = self.node("Add", name("inner"), &[&z, &c3], Vec::new());
                let u = self.node("Mul", name("u"), &[&k, &inner], Vec::new());
                let t = self.node("Tanh", name("tanh"), &[&u], Vec::new());
                let p = self.node("Add", name("one_plus"), &[&one, &t], Vec::new());
                let h = self.node("Mul", name("half_z"), &[&half, &z], Vec::new());
                self.node("Mul", a, &[&h, &p], Vec::new())
            }
            // z·σ(z).
            Activation::Silu => {
                let s = self.node("Sigmoid", name("sigmoid"), &[&z], Vec::new());
                self.node("Mul", a, &[&z, &s], Vec::new())
            }
            // max(z, 0) + ln(1 + e^(−|z|)), as nn-core computes it: finite for any z. ONNX's
            // Softplus is ln(e^z + 1), which overflows to +∞ for z > 88 in float32 in runtimes
            // that compute it as written.
            Activation::Softplus => {
                let one = self.constant(1.0);
                let abs = self.node("Abs", name("abs"), &[&z], Vec::new());
                let neg = self.node("Neg", name("neg_abs"), &[&abs], Vec::new());
                let exp = self.node("Exp", name("exp"), &[&neg], Vec::new());
                let sum = self.node("Add", name("one_plus"), &[&one, &exp], Vec::new());
                let log = self.node("Log", name("log"), &[&sum], Vec::new());
                let relu = self.node("Relu", name("relu"), &[&z], Vec::new());
                self.node("Add", a, &[&relu, &log], Vec::new())
            }
        })
    }
}
