//! ONNX export through the public API: the file is what `encode_onnx` returns, written
//! atomically, and every error names the file and leaves what was there. (The graph itself is
//! tested in `src/onnx/tests.rs`, where the protobuf types are visible, and by onnxruntime in
//! `.ci/run`.)

use std::fs;

use nn_core::Network;
use nn_io::{Error, OnnxError, OnnxOptions, encode_onnx, export_onnx};

use crate::support::{TempDir, random_network};

#[test]
fn export_onnx_writes_what_encode_onnx_returns() {
    let dir = TempDir::new("onnx-file");
    let path = dir.join("model.onnx");
    let options = OnnxOptions::new().with_metadata("preprocessing", "pixel / 255");
    for net in [random_network::<f32>(1), random_network::<f32>(2)] {
        // The second export replaces the first.
        export_onnx(&path, &net, &options).unwrap();
        assert_eq!(fs::read(&path).unwrap(), encode_onnx(&net, &options).unwrap());
    }
    let net64 = random_network::<f64>(3);
    export_onnx(&path, &net64, &OnnxOptions::default()).unwrap();
    assert_eq!(fs::read(&path).unwrap(), encode_onnx(&net64, &OnnxOptions::new()).unwrap());
    assert_eq!(dir.names(), ["model.onnx"]);
}

#[test]
fn a_refused_export_names_the_file_and_leaves_the_old_one() {
    let dir = TempDir::new("onnx-refused");
    let path = dir.join("m.onnx");
    let mut net: Network<f32> = random_network(4);
    export_onnx(&path, &net, &OnnxOptions::new()).unwrap();
    let before = fs::read(&path).unwrap();

    let err =
        export_onnx(&path, &net, &OnnxOptions::new().with_metadata("nn.loss", "x")).unwrap_err();
    assert!(matches!(&err, Error::Onnx { kind: OnnxError::MetadataKey { .. }, .. }), "{err}");
    assert!(err.to_string().contains("m.onnx"), "{err}");
    assert!(err.to_string().contains("\"nn.loss\""), "{err}");

    net.layers_mut()[1].theta_mut()[(0, 0)] = f32::INFINITY;
    let err = export_onnx(&path, &net, &OnnxOptions::new()).unwrap_err();
    assert!(matches!(&err, Error::Onnx { kind: OnnxError::Invalid(_), .. }), "{err}");
    assert!(err.to_string().contains("m.onnx"), "{err}");
    assert_eq!(fs::read(&path).unwrap(), before);
    assert_eq!(dir.names(), ["m.onnx"]);
}

#[test]
fn an_unwritable_path_is_a_write_error_and_leaves_nothing() {
    let dir = TempDir::new("onnx-unwritable");
    let net: Network<f32> = random_network(5);
    let err = export_onnx(dir.join("missing/m.onnx"), &net, &OnnxOptions::new()).unwrap_err();
    assert!(matches!(&err, Error::Write { .. }), "{err}");
    // A folder where the file should be.
    fs::create_dir(dir.join("taken.onnx")).unwrap();
    let err = export_onnx(dir.join("taken.onnx"), &net, &OnnxOptions::new()).unwrap_err();
    assert!(matches!(&err, Error::WrongFileType { .. }), "{err}");
    assert_eq!(dir.names(), ["taken.onnx"]);
}

#[test]
fn error_messages_are_lower_case_without_closing_period_and_say_what_was_found() {
    let errors = [
        (OnnxError::NotFloat32 { layer_idx: 2, what: "elu alpha", value: 1e39 }, "is 1e39"),
        (OnnxError::MetadataKey { key: "nn.x".to_owned(), reason: "reserved" }, "\"nn.x\""),
        (OnnxError::InvalidOption { option: "graph_name", reason: "empty" }, "graph_name"),
        (OnnxError::TooLarge { bytes: 1 << 32, limit: (1 << 31) - 1 }, "4294967296"),
    ];
    for (err, found) in errors {
        let msg = err.to_string();
        assert!(!msg.chars().next().unwrap().is_uppercase(), "{msg}");
        assert!(!msg.ends_with('.'), "{msg}");
        assert!(msg.contains(found), "{msg} does not say {found}");
    }
}
