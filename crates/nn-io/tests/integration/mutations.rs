//! Property tests: random networks round-trip bit-exactly; mutated files (flipped, cut,
//! spliced; with their checksum broken or recomputed) give an error or a valid network, never a
//! panic.

use nn_core::rng::{ChaCha8Rng, SeedableRng};
use nn_core::{Activation, Loss, Network};
use nn_io::{ModelMetadata, decode_model, encode_model};
use proptest::prelude::*;

use crate::support::{HEADER_LEN, assert_same_network, reseal};

/// A random network: 1 to 3 layers of 1 to 6 units, any activation, any loss.
fn network() -> impl Strategy<Value = Network<f32>> {
    (
        prop::collection::vec((1usize..7, 0..Activation::ALL.len()), 1..4),
        1usize..6,
        0..Loss::ALL.len(),
        any::<u64>(),
    )
        .prop_map(|(layers, n_inputs, loss, seed)| {
            let loss = Loss::ALL[loss];
            let last = layers.len() - 1;
            let mut b = Network::builder(n_inputs, loss);
            for (l, &(n, act)) in layers.iter().enumerate() {
                let act = if l == last && loss.fuses_output() {
                    Activation::Identity
                } else {
                    Activation::ALL[act]
                };
                b = b.layer(n, act);
            }
            b.build(&mut ChaCha8Rng::seed_from_u64(seed)).unwrap()
        })
}

/// A mutation of a file's bytes.
#[derive(Clone, Debug)]
enum Mutation {
    /// XOR the byte at this position (modulo the length) with a non-zero mask.
    Flip(usize, u8),
    /// Insert a byte.
    Insert(usize, u8),
    /// Delete a byte.
    Delete(usize),
    /// Cut the file to this fraction of its length (in 1/256ths).
    Truncate(u8),
    /// Overwrite a run of bytes with random ones.
    Splice(usize, Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1u8..).prop_map(|(i, m)| Mutation::Flip(i, m)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Delete),
        any::<u8>().prop_map(Mutation::Truncate),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(i, v)| Mutation::Splice(i, v)),
    ]
}

/// Applies `m` to `bytes`, leaving the header alone when `payload_only`.
fn apply(bytes: &mut Vec<u8>, m: &Mutation, payload_only: bool) {
    let start = if payload_only { HEADER_LEN } else { 0 };
    let span = bytes.len() - start;
    if span == 0 {
        return;
    }
    let at = |i: usize| start + i % span;
    match m {
        Mutation::Flip(i, mask) => bytes[at(*i)] ^= mask,
        Mutation::Insert(i, b) => bytes.insert(at(*i), *b),
        Mutation::Delete(i) => {
            bytes.remove(at(*i));
        }
        Mutation::Truncate(f) => bytes.truncate(start + span * usize::from(*f) / 256),
        Mutation::Splice(i, v) => {
            let from = at(*i);
            for (k, b) in v.iter().enumerate().take(bytes.len() - from) {
                bytes[from + k] = *b;
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_networks_round_trip_bit_exactly(net in network()) {
        let bytes = encode_model(&net, &ModelMetadata::default()).unwrap();
        let model = nn_io::decode_model_as::<f32>(&bytes).unwrap();
        assert_same_network(&model.network, &net);
    }

    #[test]
    fn a_mutated_model_file_is_an_error(
        net in network(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let bytes = encode_model(&net, &ModelMetadata::default()).unwrap();
        let mut mutated = bytes.clone();
        for m in &mutations {
            apply(&mut mutated, m, false);
        }
        prop_assume!(mutated != bytes);
        prop_assert!(decode_model(&mutated).is_err());
    }

    #[test]
    fn a_mutated_payload_with_a_valid_checksum_is_an_error_or_a_valid_network(
        net in network(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let bytes = encode_model(&net, &ModelMetadata::default()).unwrap();
        let mut mutated = bytes.clone();
        for m in &mutations {
            apply(&mut mutated, m, true);
        }
        let mutated = reseal(&mutated);
        if let Ok(model) = decode_model(&mutated) {
            // Whatever loads is a valid network, which saves and loads again unchanged.
            let nn_io::AnyNetwork::F32(net) = model.network else { panic!("not f32") };
            let again = encode_model(&net, &model.metadata).unwrap();
            let back = nn_io::decode_model_as::<f32>(&again).unwrap();
            assert_same_network(&back.network, &net);
        }
    }

    #[test]
    fn random_payloads_with_a_valid_checksum_never_panic(
        payload in prop::collection::vec(any::<u8>(), 0..256),
        magic in prop::bool::ANY,
    ) {
        let magic = if magic { crate::support::MODEL_MAGIC } else { crate::support::CHECKPOINT_MAGIC };
        let bytes = crate::support::seal(magic, &payload);
        let _ = decode_model(&bytes);
        #[cfg(feature = "train")]
        {
            let _ = nn_io::decode_checkpoint::<f32>(&bytes);
            let _ = nn_io::decode_checkpoint::<f64>(&bytes);
        }
    }
}

#[cfg(feature = "train")]
mod train {
    use nn_io::{Checkpoint, decode_checkpoint, encode_checkpoint};
    use nn_train::optim::OptimizerConfig;
    use nn_train::{RandomShift, TrainConfig, Trainer};

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn a_mutated_checkpoint_is_an_error_and_a_resealed_one_never_panics(
            net in network(),
            mutations in prop::collection::vec(mutation(), 1..4),
        ) {
            // With format 3's options whenever the network takes them: label smoothing for a
            // softmax output, random shifts for 4 inputs (2 × 2 images).
            let mut config = TrainConfig::new(4, 0.1, OptimizerConfig::adam());
            if net.loss_kind() == Loss::SoftmaxCrossEntropy {
                config = config.with_label_smoothing(0.1);
            }
            if net.n_inputs() == 4 {
                config = config.with_random_shift(RandomShift::new(2, 2, 1).unwrap());
            }
            let trainer = Trainer::new(&net, config).unwrap();
            let ckpt = Checkpoint::of(&net, &trainer, ModelMetadata::default());
            let bytes = encode_checkpoint(&ckpt).unwrap();
            prop_assert_eq!(decode_checkpoint::<f32>(&bytes).unwrap(), ckpt);
            let mut mutated = bytes.clone();
            for m in &mutations {
                apply(&mut mutated, m, false);
            }
            if mutated != bytes {
                prop_assert!(decode_checkpoint::<f32>(&mutated).is_err());
            }
            let mut mutated = bytes.clone();
            for m in &mutations {
                apply(&mut mutated, m, true);
            }
            let _ = decode_checkpoint::<f32>(&reseal(&mutated));
            let _ = decode_model(&reseal(&mutated));
        }
    }
}
