//! Model files: bit-exact round trips, every error a user can meet, atomic writes.

use std::fs;

use nn_core::rng::{ChaCha8Rng, SeedableRng};
use nn_core::{Activation, Loss, Network};
use nn_io::{
    AnyNetwork, CheckpointError, Error, FileKind, ModelMetadata, Precision, decode_model,
    decode_model_as, encode_model, load_model, load_model_as, save_model,
};

use crate::format_v1::{
    ActivationRecord, LayerRecord, LossRecord, model_file, payload, valid_record,
};
use crate::support::{
    CHECKPOINT_MAGIC, HEADER_LEN, MODEL_MAGIC, MODEL_VERSION, TempDir, assert_same_network,
    metadata, random_network, reseal, seal, seal_version,
};

fn decode_err(bytes: &[u8]) -> CheckpointError {
    decode_model(bytes).unwrap_err()
}

#[test]
fn f32_and_f64_models_round_trip_bit_exactly() {
    let dir = TempDir::new("round-trip");
    let meta = metadata(&["cat", "dog", "bird"]);
    let net32 = random_network::<f32>(1);
    let path = dir.join("m32.nnm");
    save_model(&path, &net32, &meta).unwrap();
    let loaded = load_model(&path).unwrap();
    assert_eq!(loaded.network.precision(), Precision::F32);
    assert_eq!(loaded.metadata, meta);
    let AnyNetwork::F32(back) = loaded.network else { panic!("not f32") };
    assert_same_network(&back, &net32);
    assert_same_network(&load_model_as::<f32>(&path).unwrap().network, &net32);

    let net64 = random_network::<f64>(2);
    let path = dir.join("m64.nnm");
    save_model(&path, &net64, &ModelMetadata::default()).unwrap();
    let model = load_model_as::<f64>(&path).unwrap();
    assert_same_network(&model.network, &net64);
    assert_eq!(model.metadata, ModelMetadata::default());
    assert_eq!(dir.names(), ["m32.nnm", "m64.nnm"]);
}

#[test]
fn every_activation_and_loss_round_trips() {
    for loss in Loss::ALL {
        for act in Activation::ALL {
            let out_act = if loss.fuses_output() { Activation::Identity } else { act };
            let net: Network<f64> = Network::builder(3, loss)
                .layer(4, act)
                .layer(2, out_act)
                .build(&mut ChaCha8Rng::seed_from_u64(7))
                .unwrap();
            let bytes = encode_model(&net, &ModelMetadata::default()).unwrap();
            assert_same_network(&decode_model_as::<f64>(&bytes).unwrap().network, &net);
        }
    }
}

#[test]
fn the_same_model_gives_the_same_bytes() {
    let net = random_network::<f32>(3);
    let meta = metadata(&[]);
    assert_eq!(encode_model(&net, &meta).unwrap(), encode_model(&net, &meta).unwrap());
}

#[test]
fn the_header_is_as_documented() {
    let bytes = encode_model(&random_network::<f32>(3), &ModelMetadata::default()).unwrap();
    assert_eq!(&bytes[..8], MODEL_MAGIC);
    assert_eq!(u32::from_le_bytes(bytes[8..12].try_into().unwrap()), MODEL_VERSION);
    let len = u64::from_le_bytes(bytes[12..20].try_into().unwrap());
    assert_eq!(len as usize, bytes.len() - HEADER_LEN);
    let crc = u32::from_le_bytes(bytes[20..24].try_into().unwrap());
    assert_eq!(crc, crc32fast::hash(&bytes[HEADER_LEN..]));
    assert_eq!(bytes[HEADER_LEN], 0, "the precision tag of f32");
    // The independent transcription of the format writes what the library reads.
    let model = decode_model_as::<f32>(&model_file(&valid_record())).unwrap();
    assert_eq!(model.network.sizes(), [2, 3, 2]);
    assert_eq!(model.network.layers()[1].theta_col_major()[7], -7.0 / 8.0);
}

#[test]
fn the_wrong_precision_is_a_typed_error() {
    let dir = TempDir::new("precision");
    let path = dir.join("m.nnm");
    save_model(&path, &random_network::<f32>(4), &ModelMetadata::default()).unwrap();
    let err = load_model_as::<f64>(&path).unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Checkpoint {
                kind: CheckpointError::WrongPrecision {
                    expected: Precision::F64,
                    found: Precision::F32
                },
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("m.nnm"), "{err}");
    // Loaded as whatever it holds, it converts.
    let any = load_model(&path).unwrap().network;
    assert_eq!(any.cast::<f64>().sizes(), [5, 7, 4, 3]);
}

#[test]
fn a_missing_file_is_an_io_error_naming_it() {
    let err = load_model("/nonexistent/dir/model.nnm").unwrap_err();
    assert!(matches!(&err, Error::Io { .. }), "{err}");
    assert!(err.to_string().contains("/nonexistent/dir/model.nnm"), "{err}");
}

#[test]
fn header_errors_are_typed() {
    let good = encode_model(&random_network::<f32>(5), &ModelMetadata::default()).unwrap();
    // Not a checkpoint at all.
    let err = decode_err(b"\x89PNG\r\n\x1a\n and the rest of a picture");
    assert!(matches!(&err, CheckpointError::BadMagic { found } if found == b"\x89PNG\r\n\x1a\n"));
    assert!(err.to_string().starts_with("not an nn model or checkpoint"), "{err}");
    // Written by a newer version.
    let newer = seal_version(MODEL_MAGIC, 3, &good[HEADER_LEN..]);
    let err = decode_err(&newer);
    assert_eq!(err, CheckpointError::UnsupportedVersion { found: 3, supported: 2 });
    assert!(err.to_string().contains("newer version"), "{err}");
    assert!(matches!(
        decode_err(&seal_version(MODEL_MAGIC, 0, &good[HEADER_LEN..])),
        CheckpointError::UnsupportedVersion { found: 0, .. }
    ));
    // Truncated.
    let n = good.len() as u64;
    assert_eq!(
        decode_err(&good[..good.len() - 1]),
        CheckpointError::Truncated { part: "payload", expected: n, found: n - 1 }
    );
    assert!(matches!(decode_err(&good[..10]), CheckpointError::Truncated { part: "header", .. }));
    // Trailing bytes.
    let mut longer = good.clone();
    longer.push(0);
    assert_eq!(decode_err(&longer), CheckpointError::TrailingBytes { expected: n, found: n + 1 });
    // Corrupted.
    let mut corrupted = good.clone();
    *corrupted.last_mut().unwrap() ^= 0x10;
    let err = decode_err(&corrupted);
    assert!(matches!(err, CheckpointError::ChecksumMismatch { .. }), "{err}");
    assert!(err.to_string().starts_with("corrupted"), "{err}");
    // A header that claims more than the file holds, even the whole address space.
    let mut huge = good.clone();
    huge[12..20].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(matches!(decode_err(&huge), CheckpointError::Truncated { part: "payload", .. }));
}

#[test]
fn payload_errors_are_typed() {
    // An empty payload, an unknown precision tag, garbage after a valid checksum.
    for payload in [&[][..], &[7, 1, 2, 3][..], &[0, 0xff, 0xff, 0xff, 0xff][..]] {
        let err = decode_err(&seal(MODEL_MAGIC, payload));
        assert!(matches!(err, CheckpointError::Decode { .. }), "{err}");
    }
    // Bytes after the model, in a model file.
    let mut bytes = payload(0, &valid_record());
    bytes.push(0);
    let err = decode_err(&seal(MODEL_MAGIC, &bytes));
    assert!(
        matches!(&err, CheckpointError::Decode { message } if message.contains("1 unread")),
        "{err}"
    );
    // A string that claims more bytes than there are.
    let mut record = valid_record();
    record.metadata.class_names = vec!["a".repeat(40); 2];
    let mut bytes = payload(0, &record);
    let at = bytes.windows(40).position(|w| w == "a".repeat(40).as_bytes()).unwrap();
    bytes[at - 1] = 250; // The varint length byte of the first name: 250 > what is left.
    let err = decode_err(&seal(MODEL_MAGIC, &bytes));
    assert!(matches!(err, CheckpointError::Decode { .. }), "{err}");
}

#[test]
fn invalid_networks_are_rejected_by_the_constructors() {
    let check = |record: crate::format_v1::ModelRecord<f32>,
                 expected: fn(&nn_core::Error) -> bool| {
        let err = decode_err(&model_file(&record));
        match &err {
            CheckpointError::Invalid(e) if expected(e) => {}
            _ => panic!("unexpected error: {err}"),
        }
        assert!(err.to_string().starts_with("invalid network"), "{err}");
    };
    // A non-finite parameter, reported with its layer and position.
    let mut r = valid_record();
    r.layers[1].theta[5] = f32::NAN;
    check(r, |e| {
        matches!(e, nn_core::Error::NonFiniteParameter { layer_idx: 1, row: 1, col: 2, .. })
    });
    let mut r = valid_record();
    r.layers[0].theta[0] = f32::INFINITY;
    check(r, |e| matches!(e, nn_core::Error::NonFiniteParameter { layer_idx: 0, .. }));
    // Shapes: Θ of the wrong length, layers that do not chain, no layers, zero width.
    let mut r = valid_record();
    r.layers[0].theta.pop();
    check(r, |e| matches!(e, nn_core::Error::ParameterCount { expected: 9, found: 8 }));
    let mut r = valid_record();
    r.layers[1] = LayerRecord {
        n_inputs: 4,
        n_outputs: 2,
        activation: ActivationRecord::Identity,
        theta: vec![0.0; 10],
    };
    check(r, |e| {
        matches!(e, nn_core::Error::LayerMismatch { layer_idx: 1, expected: 4, found: 3 })
    });
    let mut r = valid_record();
    r.layers.clear();
    check(r, |e| matches!(e, nn_core::Error::NoLayers));
    let mut r = valid_record();
    r.layers[1] = LayerRecord {
        n_inputs: 3,
        n_outputs: 0,
        activation: ActivationRecord::Identity,
        theta: vec![],
    };
    check(r, |e| matches!(e, nn_core::Error::ZeroWidth { layer_idx: 1, what: "n_outputs" }));
    // Sizes beyond the limits, whose product would overflow: no allocation, no panic.
    for (n_inputs, n_outputs) in [(u64::MAX, 3), (2, u64::MAX / 2), (1 << 24, 1 << 24)] {
        let mut r = valid_record();
        r.layers[0].n_inputs = n_inputs;
        r.layers[0].n_outputs = n_outputs;
        check(r, |e| matches!(e, nn_core::Error::InvalidHyperparameter { .. }));
    }
    // Hyper-parameters: a bad activation parameter, λ, class weights, the output activation.
    let mut r = valid_record();
    r.layers[0].activation = ActivationRecord::Elu { alpha: -1.0 };
    check(r, |e| matches!(e, nn_core::Error::InvalidHyperparameter { name: "elu alpha", .. }));
    let mut r = valid_record();
    r.l2 = f32::NAN;
    check(r, |e| matches!(e, nn_core::Error::InvalidHyperparameter { name: "l2", .. }));
    let mut r = valid_record();
    r.class_weights = Some(vec![1.0, 1.0]);
    check(r, |e| matches!(e, nn_core::Error::ClassWeights { .. }));
    let mut r = valid_record();
    r.loss = LossRecord::SoftmaxCrossEntropy;
    r.layers[1].activation = ActivationRecord::Tanh;
    check(r, |e| matches!(e, nn_core::Error::OutputActivation { .. }));
}

#[test]
fn class_names_must_fit_the_outputs() {
    let net = random_network::<f32>(6);
    let err = encode_model(&net, &metadata(&["a", "b"])).unwrap_err();
    assert_eq!(err, CheckpointError::ClassNames { expected: 3, found: 2 });
    let mut record = valid_record();
    record.metadata.class_names = vec!["x".into()];
    assert_eq!(
        decode_err(&model_file(&record)),
        CheckpointError::ClassNames { expected: 2, found: 1 }
    );
    // A single sigmoid output has two classes.
    let mut record = valid_record();
    record.loss = LossRecord::SigmoidBinaryCrossEntropy;
    record.layers[1] = LayerRecord {
        n_inputs: 3,
        n_outputs: 1,
        activation: ActivationRecord::Identity,
        theta: vec![0.5; 4],
    };
    record.metadata.class_names = vec!["no".into(), "yes".into()];
    assert_eq!(decode_model(&model_file(&record)).unwrap().metadata.class_names, ["no", "yes"]);
}

#[test]
fn a_non_finite_network_is_not_saved_and_the_old_file_stays() {
    let dir = TempDir::new("non-finite");
    let path = dir.join("m.nnm");
    let good = random_network::<f32>(7);
    save_model(&path, &good, &ModelMetadata::default()).unwrap();
    let before = fs::read(&path).unwrap();
    let mut bad = good.clone();
    bad.layers_mut()[0].theta_mut()[(0, 1)] = f32::NAN;
    let err = save_model(&path, &bad, &ModelMetadata::default()).unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Checkpoint {
                kind: CheckpointError::Invalid(nn_core::Error::NonFiniteParameter { .. }),
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(fs::read(&path).unwrap(), before);
    assert_eq!(dir.names(), ["m.nnm"]);
}

#[test]
fn a_folder_target_is_refused_and_kept_and_no_temporary_file_is_left() {
    // A folder where the model should go is refused before anything is written (the failures
    // between the write and the rename are injected in `atomic.rs`'s unit tests).
    let dir = TempDir::new("rename-fails");
    let target = dir.join("model.nnm");
    fs::create_dir(&target).unwrap();
    fs::write(target.join("keep"), b"old").unwrap();
    let err =
        save_model(&target, &random_network::<f32>(8), &ModelMetadata::default()).unwrap_err();
    assert!(
        matches!(&err, Error::WrongFileType { path, found, .. } if *path == target && found == "a folder"),
        "{err}"
    );
    assert_eq!(fs::read(target.join("keep")).unwrap(), b"old");
    assert_eq!(dir.names(), ["model.nnm"]);
    // A folder that does not exist: nothing is created.
    let err =
        save_model(dir.join("missing/m.nnm"), &random_network::<f32>(8), &ModelMetadata::default())
            .unwrap_err();
    assert!(matches!(err, Error::Write { .. }), "{err}");
}

#[test]
fn every_byte_flip_and_every_truncation_of_a_model_file_is_detected() {
    let bytes = encode_model(&random_network::<f32>(9), &metadata(&["a", "b", "c"])).unwrap();
    for i in 0..bytes.len() {
        for mask in [0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xff] {
            let mut flipped = bytes.clone();
            flipped[i] ^= mask;
            assert!(decode_model(&flipped).is_err(), "flip {mask:#x} at byte {i} not detected");
        }
    }
    for len in 0..bytes.len() {
        assert!(decode_model(&bytes[..len]).is_err(), "truncation to {len} bytes not detected");
    }
}

#[test]
fn a_model_file_is_not_a_checkpoint_and_kinds_are_named() {
    let bytes = encode_model(&random_network::<f32>(10), &ModelMetadata::default()).unwrap();
    // The same payload under the checkpoint magic is not a valid checkpoint, but its model
    // section still loads as a model.
    let as_checkpoint = reseal(&[CHECKPOINT_MAGIC.as_slice(), &bytes[8..]].concat());
    assert!(decode_model(&as_checkpoint).is_ok());
    assert_eq!(FileKind::Model.to_string(), "a model file");
    assert_eq!(FileKind::Checkpoint.to_string(), "a training checkpoint");
    assert_eq!(Precision::F32.to_string(), "f32");
}

#[test]
fn error_messages_are_lower_case_without_closing_period() {
    let errors: Vec<String> = vec![
        decode_err(b"NOTAFILE").to_string(),
        decode_err(&seal_version(MODEL_MAGIC, 9, b"")).to_string(),
        decode_err(b"NNMODEL\0").to_string(),
        CheckpointError::WrongKind { expected: FileKind::Checkpoint, found: FileKind::Model }
            .to_string(),
        CheckpointError::WrongPrecision { expected: Precision::F32, found: Precision::F64 }
            .to_string(),
        CheckpointError::ClassNames { expected: 3, found: 2 }.to_string(),
    ];
    for msg in errors {
        assert!(!msg.chars().next().unwrap().is_uppercase(), "{msg}");
        assert!(!msg.ends_with('.'), "{msg}");
    }
}

#[test]
fn devices_folders_and_huge_files_are_refused_before_reading() {
    #[cfg(unix)]
    for device in ["/dev/zero", "/dev/urandom"] {
        let err = load_model(device).unwrap_err();
        assert!(
            matches!(&err, Error::WrongFileType { expected: "a regular file", found, .. } if found == "a character device"),
            "{err}"
        );
    }
    let dir = TempDir::new("huge-model");
    assert!(matches!(
        load_model(dir.join("")).unwrap_err(),
        Error::WrongFileType { .. } | Error::Io { .. }
    ));
    let path = dir.join("sub");
    fs::create_dir(&path).unwrap();
    let err = load_model(&path).unwrap_err();
    assert!(matches!(&err, Error::WrongFileType { found, .. } if found == "a folder"), "{err}");
    // A valid model followed by 64 GiB of (sparse) zeros: refused from its header, at once.
    let path = dir.join("m.nnm");
    save_model(&path, &random_network::<f32>(1), &ModelMetadata::default()).unwrap();
    let valid_len = fs::metadata(&path).unwrap().len();
    fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(1 << 36).unwrap();
    let err = load_model(&path).unwrap_err();
    assert!(
        matches!(&err, Error::Checkpoint { kind: CheckpointError::TrailingBytes { expected, found }, .. }
            if *expected == valid_len && *found == 1 << 36),
        "{err}"
    );
    // A file of another kind is refused after reading its first bytes only.
    fs::write(&path, b"GIF89a").unwrap();
    fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(1 << 36).unwrap();
    assert!(matches!(
        load_model(&path).unwrap_err(),
        Error::Checkpoint { kind: CheckpointError::BadMagic { .. }, .. }
    ));
}
