//! `parse_idx` and the gzip path of `decode_idx` on arbitrary bytes: neither may panic, and
//! both must agree on the same content, raw or compressed.

#![no_main]

use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;
use libfuzzer_sys::fuzz_target;
use nn_io::{IdxArray, IdxData, IdxError, decode_idx, parse_idx};

/// Sizes, type code and bit patterns, so that NaN payloads compare equal.
fn summary(res: Result<IdxArray, IdxError>) -> Result<(Vec<usize>, u8, Vec<u64>), IdxError> {
    let array = res?;
    let n_elements: usize = array.dims().iter().product();
    assert_eq!(n_elements, array.len(), "dims {:?}", array.dims());
    let code = array.idx_type().code();
    let (dims, data) = array.into_parts();
    let bits = match data {
        IdxData::U8(v) => v.into_iter().map(u64::from).collect(),
        IdxData::I8(v) => v.into_iter().map(|x| u64::from(x.to_be_bytes()[0])).collect(),
        IdxData::I16(v) => {
            v.into_iter().map(|x| u64::from(u16::from_be_bytes(x.to_be_bytes()))).collect()
        }
        IdxData::I32(v) => {
            v.into_iter().map(|x| u64::from(u32::from_be_bytes(x.to_be_bytes()))).collect()
        }
        IdxData::F32(v) => v.into_iter().map(|x| u64::from(x.to_bits())).collect(),
        IdxData::F64(v) => v.into_iter().map(f64::to_bits).collect(),
    };
    Ok((dims, code, bits))
}

fuzz_target!(|data: &[u8]| {
    let raw = summary(parse_idx(data));
    // The input as is: gzip when it starts with 1f 8b, which the fuzzer finds quickly.
    let _ = summary(decode_idx(data));
    // The input compressed: every header and data shape goes through the gzip path too, and
    // must give exactly what the raw parser gives, errors included.
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(data).expect("writing to a Vec cannot fail");
    let compressed = encoder.finish().expect("writing to a Vec cannot fail");
    assert_eq!(raw, summary(decode_idx(&compressed)));
});
