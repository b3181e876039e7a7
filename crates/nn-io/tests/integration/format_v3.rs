//! The training section of format version 3, from its documentation: version 2's, with the
//! configuration record followed by `random_shift: Option<{ height, width, max_shift: u64 }>`
//! and `label_smoothing: f64`. Checked against the committed version-2 fixture, so the writer's
//! version-3 bytes are tested by something other than the writer that made the v3 fixtures.

use std::fs;
use std::path::PathBuf;

use nn_io::{Checkpoint, StoredFloat, encode_checkpoint};

use crate::fixtures::train::{checkpoint_v2, checkpoint_v3};
use crate::support::{CHECKPOINT_MAGIC, CHECKPOINT_VERSION, HEADER_LEN};

/// The last field of the fixtures' configuration record: `eval_batch_size` = 1000, a bincode
/// varint (251, then the u16 in little-endian).
const EVAL_BATCH_1000: [u8; 3] = [251, 0xe8, 0x03];

fn payload_of<T: StoredFloat>(ckpt: &Checkpoint<T>) -> Vec<u8> {
    let bytes = encode_checkpoint(ckpt).unwrap();
    assert_eq!(&bytes[..8], CHECKPOINT_MAGIC);
    assert_eq!(u32::from_le_bytes(bytes[8..12].try_into().unwrap()), CHECKPOINT_VERSION);
    bytes[HEADER_LEN..].to_vec()
}

/// `with` is `without` with `inserted` at one place; returns that place.
fn insertion(without: &[u8], with: &[u8], inserted: &[u8]) -> usize {
    assert_eq!(with.len(), without.len() + inserted.len());
    let at = without.iter().zip(with).position(|(a, b)| a != b).unwrap();
    assert_eq!(&with[at..at + inserted.len()], inserted);
    assert_eq!(&with[..at], &without[..at]);
    assert_eq!(&with[at + inserted.len()..], &without[at..]);
    at
}

#[test]
fn version_3_is_version_2_with_the_two_options_after_the_configuration() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/checkpoint-v2-f32.nnc");
    let v2 = fs::read(path).unwrap()[HEADER_LEN..].to_vec();

    // Label smoothing 0.125 and no shift: `None` (0) and the f64, little-endian.
    let mut ckpt = checkpoint_v2::<f32>();
    ckpt.config.label_smoothing = 0.125;
    ckpt.state.label_smoothing = 0.125;
    let inserted: Vec<u8> = [0u8].into_iter().chain(0.125f64.to_le_bytes()).collect();
    let at = insertion(&v2, &payload_of(&ckpt), &inserted);
    // Right after the configuration's last field, right before the state's first ones (epoch
    // 2, step 6, the optimizer's step 6 and its 2 layers).
    assert_eq!(v2[at - 3..at], EVAL_BATCH_1000);
    assert_eq!(v2[at..at + 4], [2, 6, 6, 2]);

    // Without either option, the same place holds `None` and 0.0.
    let inserted: Vec<u8> = [0u8].into_iter().chain(0.0f64.to_le_bytes()).collect();
    assert_eq!(insertion(&v2, &payload_of(&checkpoint_v2::<f32>()), &inserted), at);
}

#[test]
fn a_random_shift_is_some_and_its_three_sizes() {
    let with = checkpoint_v3::<f64>();
    let mut without = with.clone();
    without.config.random_shift = None;
    without.state.random_shift = None;
    let (with, without) = (payload_of(&with), payload_of(&without));
    // `Some` (1), height 2, width 3, max_shift 1 (varints) where `None` (0) was, after the
    // configuration's last field and before the label smoothing.
    let at = with.iter().zip(&without).position(|(a, b)| a != b).unwrap();
    assert_eq!(with[..at], without[..at]);
    assert_eq!(with[at - 3..at], EVAL_BATCH_1000);
    assert_eq!((&with[at..at + 4], without[at]), (&[1, 2, 3, 1][..], 0));
    assert_eq!(with[at + 4..], without[at + 1..]);
    assert_eq!(with[at + 4..at + 12], 0.125f64.to_le_bytes());
}
