//! Helpers shared by the model, checkpoint and safetensors tests.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use nn_core::rng::{ChaCha8Rng, SeedableRng};
use nn_core::{Activation, Dense, Float, Loss, Network};
use nn_io::{ModelMetadata, StoredFloat};

/// A folder under the system's temporary directory, removed on drop.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new(name: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir()
            .join(format!("nn-io-ckpt-test-{}-{unique}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub(crate) fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// The names of the files in the folder, sorted.
    pub(crate) fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A seeded random network: 5 inputs, hidden layers with parametric activations, softmax
/// cross-entropy over 3 classes, an L2 penalty and class weights, so every field is exercised.
pub(crate) fn random_network<T: Float>(seed: u64) -> Network<T> {
    Network::builder(5, Loss::SoftmaxCrossEntropy)
        .layer(7, Activation::LeakyRelu { alpha: -0.3 })
        .layer(4, Activation::Elu { alpha: 0.7 })
        .layer(3, Activation::Identity)
        .l2(0.1)
        .class_weights(vec![1.0, 2.5, 0.5])
        .build(&mut ChaCha8Rng::seed_from_u64(seed))
        .unwrap()
}

/// A network of the given sizes whose Θ entries are small exact fractions, so fixtures can be
/// checked by value.
pub(crate) fn exact_network<T: Float>(
    sizes: &[usize],
    hidden: Activation,
    loss: Loss,
) -> Network<T> {
    let layers = sizes
        .windows(2)
        .enumerate()
        .map(|(l, pair)| {
            let (m, n) = (pair[0], pair[1]);
            let theta: Vec<T> = (0..n * (m + 1))
                .map(|k| T::from_f64((k as f64 - 3.0 * l as f64) / 8.0 - 0.5))
                .collect();
            let act = if l + 2 == sizes.len() { Activation::Identity } else { hidden };
            Dense::from_theta_col_major(m, n, &theta, act).unwrap()
        })
        .collect();
    Network::new(layers, loss).unwrap()
}

/// Metadata with class names and a free-form entry.
pub(crate) fn metadata(class_names: &[&str]) -> ModelMetadata {
    ModelMetadata {
        class_names: class_names.iter().map(|s| (*s).to_owned()).collect(),
        extra: BTreeMap::from([
            ("dataset".to_owned(), "fashion-mnist".to_owned()),
            ("note".to_owned(), "ünïcödé, commas, \"quotes\"".to_owned()),
        ]),
    }
}

/// Every parameter's bits, layer after layer, then λ and the class weights.
pub(crate) fn bits<T: StoredFloat>(net: &Network<T>) -> Vec<u64> {
    net.layers()
        .iter()
        .flat_map(Dense::theta_col_major)
        .chain([net.l2()])
        .chain(net.class_weights().unwrap_or_default().iter().copied())
        .map(Float::to_bits_u64)
        .collect()
}

/// Asserts that two networks are the same, bit for bit, activations and loss included.
pub(crate) fn assert_same_network<T: StoredFloat>(a: &Network<T>, b: &Network<T>) {
    assert_eq!(bits(a), bits(b));
    assert_eq!(a.sizes(), b.sizes());
    assert_eq!(a.loss_kind(), b.loss_kind());
    let acts = |n: &Network<T>| n.layers().iter().map(Dense::activation).collect::<Vec<_>>();
    assert_eq!(acts(a), acts(b));
    assert_eq!(a, b);
}

/// The format version of the model files this build writes.
pub(crate) const MODEL_VERSION: u32 = 2;
/// The format version of the training checkpoints this build writes.
#[cfg(feature = "train")]
pub(crate) const CHECKPOINT_VERSION: u32 = 3;

/// The bytes of a container file (magic, version 1, length, CRC-32) around `payload`, as the
/// format's documentation describes it: tests use it to make files with a valid checksum, for
/// the payloads of `format_v1`.
pub(crate) fn seal(magic: &[u8; 8], payload: &[u8]) -> Vec<u8> {
    seal_version(magic, 1, payload)
}

pub(crate) fn seal_version(magic: &[u8; 8], version: u32, payload: &[u8]) -> Vec<u8> {
    let mut bytes = magic.to_vec();
    bytes.extend_from_slice(&version.to_le_bytes());
    bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    bytes.extend_from_slice(payload);
    bytes
}

pub(crate) const MODEL_MAGIC: &[u8; 8] = b"NNMODEL\0";
pub(crate) const CHECKPOINT_MAGIC: &[u8; 8] = b"NNCKPT\0\0";
pub(crate) const HEADER_LEN: usize = 24;

/// `bytes` with a new length and checksum for whatever follows the header.
pub(crate) fn reseal(bytes: &[u8]) -> Vec<u8> {
    let magic: &[u8; 8] = bytes[..8].try_into().unwrap();
    let version = u32::from_le_bytes(bytes[8..12].try_into().unwrap());
    seal_version(magic, version, &bytes[HEADER_LEN..])
}
