//! The model and checkpoint decoders on arbitrary bytes: none may panic, and whatever loads is
//! a valid network that saves and loads back unchanged.
//!
//! Random bytes almost never carry a valid CRC-32, so each input is also tried with its
//! header's length and checksum fields recomputed (magic bytes and version left as they are):
//! that lets the fuzzer reach the payload decoder and the validation behind it. Seed the corpus
//! with the fixtures: `cargo +nightly fuzz run checkpoint_decode corpus/checkpoint_decode
//! ../tests/fixtures -- -max_total_time=300`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use nn_io::{
    AnyNetwork, LoadedModel, decode_checkpoint, decode_model, decode_model_as, encode_checkpoint,
    encode_model,
};

/// Magic bytes, version, payload length, CRC-32.
const HEADER_LEN: usize = 24;

/// `data` with the length and checksum fields fitted to the bytes after the header.
fn resealed(data: &[u8]) -> Option<Vec<u8>> {
    let payload = data.get(HEADER_LEN..)?;
    let mut bytes = data.to_vec();
    bytes[12..20].copy_from_slice(&(payload.len() as u64).to_le_bytes());
    bytes[20..24].copy_from_slice(&crc32fast::hash(payload).to_le_bytes());
    Some(bytes)
}

fn check_model(model: &LoadedModel) {
    let again = match &model.network {
        AnyNetwork::F32(net) => {
            let x = nn_linalg::Mat::<f32>::zeros(net.n_inputs(), 1);
            net.predict(x.as_ref()).expect("a loaded network predicts");
            encode_model(net, &model.metadata)
        }
        AnyNetwork::F64(net) => {
            let x = nn_linalg::Mat::<f64>::zeros(net.n_inputs(), 1);
            net.predict(x.as_ref()).expect("a loaded network predicts");
            encode_model(net, &model.metadata)
        }
    };
    let again = again.expect("a loaded network saves");
    assert_eq!(&decode_model(&again).expect("a saved network loads"), model);
}

fn check(bytes: &[u8]) {
    if let Ok(model) = decode_model(bytes) {
        check_model(&model);
    }
    let _ = decode_model_as::<f32>(bytes);
    let _ = decode_model_as::<f64>(bytes);
    if let Ok(ckpt) = decode_checkpoint::<f32>(bytes) {
        let again = encode_checkpoint(&ckpt).expect("a loaded checkpoint saves");
        assert_eq!(decode_checkpoint::<f32>(&again).expect("a saved checkpoint loads"), ckpt);
    }
    if let Ok(ckpt) = decode_checkpoint::<f64>(bytes) {
        let again = encode_checkpoint(&ckpt).expect("a loaded checkpoint saves");
        assert_eq!(decode_checkpoint::<f64>(&again).expect("a saved checkpoint loads"), ckpt);
    }
}

fuzz_target!(|data: &[u8]| {
    check(data);
    if let Some(bytes) = resealed(data) {
        check(&bytes);
    }
});
