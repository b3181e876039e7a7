//! safetensors export and import: the documented layout, bit-exact round trips, validation.

use std::collections::HashMap;
use std::fs;

use nn_core::{Activation, Loss, Network};
use nn_io::{
    AnyNetwork, Error, SafetensorsError, decode_safetensors, encode_safetensors,
    export_safetensors, import_safetensors,
};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

use crate::support::{TempDir, assert_same_network, exact_network, random_network};

#[test]
fn f32_and_f64_networks_round_trip_bit_exactly() {
    let dir = TempDir::new("st-round-trip");
    let net32 = random_network::<f32>(1);
    let path = dir.join("model.safetensors");
    export_safetensors(&path, &net32).unwrap();
    let AnyNetwork::F32(back) = import_safetensors(&path).unwrap() else { panic!("not f32") };
    assert_same_network(&back, &net32);

    let net64 = random_network::<f64>(2);
    let AnyNetwork::F64(back) = decode_safetensors(&encode_safetensors(&net64).unwrap()).unwrap()
    else {
        panic!("not f64")
    };
    assert_same_network(&back, &net64);
    assert_eq!(dir.names(), ["model.safetensors"]);
}

#[test]
fn exports_are_reproducible_with_the_metadata_sorted_by_key() {
    let net = random_network::<f32>(3);
    let first = encode_safetensors(&net).unwrap();
    // The crate writes its metadata from a `HashMap`, whose order differs between instances:
    // many exports would show it.
    for _ in 0..32 {
        assert_eq!(encode_safetensors(&net).unwrap(), first);
    }
    let header_len = usize::try_from(u64::from_le_bytes(first[..8].try_into().unwrap())).unwrap();
    let header = std::str::from_utf8(&first[8..8 + header_len]).unwrap();
    let keys = ["activations", "class_weights", "format", "l2", "loss", "sizes"];
    let positions: Vec<usize> =
        keys.iter().map(|k| header.find(&format!("\"{k}\":")).unwrap()).collect();
    assert!(positions.is_sorted(), "{header}");
    assert!(header.starts_with("{\"__metadata__\":{\"activations\":"), "{header}");
    // Still a valid file, read back exactly.
    let AnyNetwork::F32(back) = decode_safetensors(&first).unwrap() else { panic!("not f32") };
    assert_same_network(&back, &net);
}

#[test]
fn the_layout_is_what_pytorch_expects() {
    let net = random_network::<f32>(3);
    let bytes = encode_safetensors(&net).unwrap();
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    let meta = header.metadata().as_ref().unwrap();
    assert_eq!(meta["format"], "nn");
    assert_eq!(meta["sizes"], "5,7,4,3");
    assert_eq!(meta["activations"], "leaky_relu:-0.3,elu:0.7,identity");
    assert_eq!(meta["loss"], "softmax_cross_entropy");
    assert_eq!(meta["l2"].parse::<f64>().unwrap() as f32, 0.1);
    assert_eq!(meta["class_weights"], "1,2.5,0.5");

    let tensors = SafeTensors::deserialize(&bytes).unwrap();
    let mut names = tensors.names();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "layers.0.bias",
            "layers.0.weight",
            "layers.1.bias",
            "layers.1.weight",
            "layers.2.bias",
            "layers.2.weight"
        ]
    );
    for (i, layer) in net.layers().iter().enumerate() {
        let w = tensors.tensor(&format!("layers.{i}.weight")).unwrap();
        assert_eq!(w.dtype(), Dtype::F32);
        assert_eq!(w.shape(), [layer.n_outputs(), layer.n_inputs()]);
        // Row-major [out, in]: element (r, c) is W[(r, c)], the weight from input c to output r.
        let values: Vec<f32> =
            w.data().chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
        for r in 0..layer.n_outputs() {
            for c in 0..layer.n_inputs() {
                assert_eq!(values[r * layer.n_inputs() + c], layer.weights()[(r, c)]);
            }
        }
        let b = tensors.tensor(&format!("layers.{i}.bias")).unwrap();
        assert_eq!(b.shape(), [layer.n_outputs()]);
        let bias: Vec<f32> =
            b.data().chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
        assert_eq!(bias, (0..layer.n_outputs()).map(|r| layer.bias()[r]).collect::<Vec<_>>());
    }
    // Without class weights, there is no such entry.
    let plain = exact_network::<f64>(&[2, 2], Activation::Identity, Loss::MeanSquaredError);
    let bytes = encode_safetensors(&plain).unwrap();
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    assert!(!header.metadata().as_ref().unwrap().contains_key("class_weights"));
    assert_eq!(header.metadata().as_ref().unwrap()["l2"], "0");
}

/// A safetensors file of f32 tensors `(name, shape, values)` and metadata entries.
fn craft(tensors: &[(&str, Vec<usize>, Vec<f32>)], meta: &[(&str, &str)]) -> Vec<u8> {
    let data: Vec<Vec<u8>> =
        tensors.iter().map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect()).collect();
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .zip(&data)
        .map(|((name, shape, _), d)| {
            ((*name).to_owned(), TensorView::new(Dtype::F32, shape.clone(), d).unwrap())
        })
        .collect();
    let meta: HashMap<String, String> =
        meta.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    safetensors::serialize(views, if meta.is_empty() { None } else { Some(meta) }).unwrap()
}

const META: [(&str, &str); 5] =
    [("format", "nn"), ("sizes", "2,3"), ("activations", "identity"), ("loss", "mse"), ("l2", "0")];

fn layer0() -> Vec<(&'static str, Vec<usize>, Vec<f32>)> {
    vec![("layers.0.weight", vec![3, 2], vec![0.5; 6]), ("layers.0.bias", vec![3], vec![0.25; 3])]
}

fn meta_with(key: &'static str, value: &'static str) -> Vec<(&'static str, &'static str)> {
    META.iter().map(|&(k, v)| if k == key { (k, value) } else { (k, v) }).collect()
}

#[test]
fn a_hand_made_file_imports() {
    let AnyNetwork::F32(net) = decode_safetensors(&craft(&layer0(), &META)).unwrap() else {
        panic!("not f32")
    };
    assert_eq!(net.sizes(), [2, 3]);
    assert_eq!(net.layers()[0].theta_col_major(), [0.25, 0.25, 0.25, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]);
    // Aliases that `FromStr` accepts are fine, and so are spaces.
    let meta = meta_with("sizes", " 2 , 3 ");
    assert!(decode_safetensors(&craft(&layer0(), &meta)).is_ok());
}

#[test]
fn invalid_files_are_typed_errors() {
    let err = |bytes: &[u8]| decode_safetensors(bytes).unwrap_err();
    assert!(matches!(err(b"not a safetensors file"), SafetensorsError::Format { .. }));
    assert!(matches!(err(&[]), SafetensorsError::Format { .. }));
    // Metadata.
    assert!(matches!(
        err(&craft(&layer0(), &[])),
        SafetensorsError::Metadata { key: "format", .. }
    ));
    let cases: [(&str, &str, &str); 9] = [
        ("format", "pt", "format"),
        ("sizes", "2", "sizes"),
        ("sizes", "2,x", "sizes"),
        ("sizes", "2,0", "sizes"),
        ("activations", "relu,relu", "activations"),
        ("activations", "relu6", "activations"),
        ("activations", "tanh:0.5", "activations"),
        ("loss", "hinge", "loss"),
        ("l2", "lots", "l2"),
    ];
    for (key, value, expected_key) in cases {
        let e = err(&craft(&layer0(), &meta_with(key, value)));
        assert!(
            matches!(&e, SafetensorsError::Metadata { key, .. } if *key == expected_key),
            "{key}={value}: {e}"
        );
    }
    // Tensors: missing, unexpected, wrong shape, wrong dtype.
    let mut t = layer0();
    t.pop();
    assert_eq!(
        err(&craft(&t, &META)),
        SafetensorsError::MissingTensor { name: "layers.0.bias".into() }
    );
    let mut t = layer0();
    t.push(("layers.1.weight", vec![1], vec![0.0]));
    assert!(matches!(
        err(&craft(&t, &META)),
        SafetensorsError::UnexpectedTensor { n_layers: 1, .. }
    ));
    let mut t = layer0();
    t[0] = ("layers.0.weight", vec![2, 3], vec![0.5; 6]);
    assert_eq!(
        err(&craft(&t, &META)),
        SafetensorsError::Shape {
            name: "layers.0.weight".into(),
            expected: vec![3, 2],
            found: vec![2, 3]
        }
    );
    let i32_file = {
        let w = vec![0u8; 24];
        let b = vec![0u8; 12];
        let views = vec![
            ("layers.0.weight".to_owned(), TensorView::new(Dtype::I32, vec![3, 2], &w).unwrap()),
            ("layers.0.bias".to_owned(), TensorView::new(Dtype::I32, vec![3], &b).unwrap()),
        ];
        let meta: HashMap<String, String> =
            META.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        safetensors::serialize(views, Some(meta)).unwrap()
    };
    assert!(matches!(err(&i32_file), SafetensorsError::Dtype { .. }));
    let mixed = {
        let w = vec![0u8; 24];
        let b = vec![0u8; 24];
        let views = vec![
            ("layers.0.weight".to_owned(), TensorView::new(Dtype::F32, vec![3, 2], &w).unwrap()),
            ("layers.0.bias".to_owned(), TensorView::new(Dtype::F64, vec![3], &b).unwrap()),
        ];
        let meta: HashMap<String, String> =
            META.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        safetensors::serialize(views, Some(meta)).unwrap()
    };
    assert!(matches!(err(&mixed), SafetensorsError::Dtype { .. }), "{}", err(&mixed));
    // Networks the constructors reject.
    let mut t = layer0();
    t[1].2[2] = f32::NAN;
    assert!(matches!(
        err(&craft(&t, &META)),
        SafetensorsError::Invalid(nn_core::Error::NonFiniteParameter {
            layer_idx: 0,
            row: 2,
            col: 0,
            ..
        })
    ));
    let mut meta = meta_with("loss", "cross_entropy");
    meta[2] = ("activations", "relu");
    let e = err(&craft(&layer0(), &meta));
    assert!(matches!(e, SafetensorsError::Invalid(nn_core::Error::OutputActivation { .. })), "{e}");
    let e = err(&craft(&layer0(), &meta_with("activations", "elu:-1")));
    assert!(
        matches!(e, SafetensorsError::Invalid(nn_core::Error::InvalidHyperparameter { .. })),
        "{e}"
    );
}

#[test]
fn a_network_with_non_finite_parameters_is_not_exported() {
    let dir = TempDir::new("st-non-finite");
    let path = dir.join("m.safetensors");
    let mut net: Network<f32> = random_network(4);
    export_safetensors(&path, &net).unwrap();
    let before = fs::read(&path).unwrap();
    net.layers_mut()[1].theta_mut()[(0, 0)] = f32::INFINITY;
    let err = export_safetensors(&path, &net).unwrap_err();
    assert!(matches!(&err, Error::Safetensors { kind: SafetensorsError::Invalid(_), .. }), "{err}");
    assert!(err.to_string().contains("m.safetensors"), "{err}");
    assert_eq!(fs::read(&path).unwrap(), before);
    assert_eq!(dir.names(), ["m.safetensors"]);
    // Importing something else names the file.
    fs::write(dir.join("junk.safetensors"), b"junk").unwrap();
    let err = import_safetensors(dir.join("junk.safetensors")).unwrap_err();
    assert!(matches!(&err, Error::Safetensors { kind: SafetensorsError::Format { .. }, .. }));
    assert!(err.to_string().contains("junk.safetensors"), "{err}");
}

#[test]
fn every_truncation_and_byte_flip_gives_an_error_or_a_valid_network_never_a_panic() {
    let bytes = encode_safetensors(&random_network::<f32>(5)).unwrap();
    for len in 0..bytes.len() {
        assert!(decode_safetensors(&bytes[..len]).is_err(), "truncation to {len}");
    }
    // safetensors has no checksum: a flip in the data gives another valid network (or a
    // non-finite one, rejected); a flip in the header, an error.
    for i in 0..bytes.len() {
        let mut flipped = bytes.clone();
        flipped[i] ^= 0x5a;
        let _ = decode_safetensors(&flipped);
    }
}
