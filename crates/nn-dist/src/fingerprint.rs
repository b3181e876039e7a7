//! What the processes of a group compare before they train together.

use std::fmt::Debug;

use nn_core::Float;
use nn_linalg::vmath::SimdLevel;
use nn_train::Dataset;

/// The version of the messages between processes; processes of different versions refuse to
/// train together.
pub(crate) const PROTOCOL_VERSION: u64 = 1;

/// A summary of what one process is about to train: a hash of its configuration, the size and a
/// digest of its training data, or the fact that it could not prepare them. The processes of a
/// group compare their fingerprints in [`Group::agree`](crate::Group::agree).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fingerprint {
    pub(crate) failed: bool,
    pub(crate) config: u64,
    pub(crate) n_samples: u64,
    pub(crate) n_features: u64,
    pub(crate) data: u64,
}

impl Default for Fingerprint {
    fn default() -> Self {
        Fingerprint::new()
    }
}

impl Fingerprint {
    /// An empty fingerprint (no configuration, no data).
    #[must_use]
    pub fn new() -> Self {
        Fingerprint { failed: false, config: OFFSET, n_samples: 0, n_features: 0, data: OFFSET }
    }

    /// The fingerprint of a process that could not prepare its part (it reports why itself); the
    /// others then stop too, naming it.
    #[must_use]
    pub fn failed() -> Self {
        Fingerprint { failed: true, ..Fingerprint::new() }
    }

    /// Mixes `text` (a canonical description of settings) into the configuration hash. Mix in
    /// everything that must be equal in every process, nothing that may differ (such as the
    /// number of threads).
    #[must_use]
    pub fn with_config(mut self, text: &str) -> Self {
        for chunk in text.as_bytes().chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.config = mix(self.config, u64::from_le_bytes(word));
        }
        self.config = mix(self.config, text.len() as u64);
        self
    }

    /// Mixes `value`'s `Debug` text into the configuration hash (Rust prints floats exactly and
    /// the same way everywhere).
    #[must_use]
    pub fn with_config_of(self, value: &impl Debug) -> Self {
        self.with_config(&format!("{value:?}"))
    }

    /// Records the size and a digest of the training data (every value's bits and every target).
    #[must_use]
    pub fn with_data<T: Float>(mut self, data: &Dataset<T>) -> Self {
        self.n_samples = data.n_samples() as u64;
        self.n_features = data.n_features() as u64;
        self.data = dataset_digest(data);
        self
    }

    pub(crate) fn to_words(self) -> [u64; WORDS] {
        [
            PROTOCOL_VERSION,
            u64::from(self.failed),
            self.config,
            self.n_samples,
            self.n_features,
            self.data,
            machine(),
        ]
    }
}

/// The words of a fingerprint in the agreement's table.
pub(crate) const WORDS: usize = 7;

const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// The kind of CPU this process computes on, as far as the bits of a result depend on it: the
/// SIMD level of `nn-linalg`'s element-wise kernels (faer's GEMM dispatches on the same CPU
/// features), as its index in [`SimdLevel::ALL`], and the architecture in the high bits.
pub(crate) fn machine() -> u64 {
    let level = SimdLevel::detected();
    let index = SimdLevel::ALL.iter().position(|&l| l == level).unwrap_or(usize::MAX);
    let arch = std::env::consts::ARCH.bytes().fold(OFFSET, |h, b| mix(h, u64::from(b)));
    (arch << 8) | (index as u64 & 0xff)
}

/// The name of the SIMD level in a [`machine`] word.
pub(crate) fn machine_name(word: u64) -> String {
    let level = usize::try_from(word & 0xff).ok().and_then(|i| SimdLevel::ALL.get(i));
    match level {
        Some(l) => format!(
            "{l:?} kernels on {}",
            if word >> 8 == machine() >> 8 {
                std::env::consts::ARCH
            } else {
                "another architecture"
            }
        ),
        None => "unknown kernels".to_owned(),
    }
}

/// FNV-1a over 64-bit words, with a shift to carry high bits down.
fn mix(h: u64, word: u64) -> u64 {
    let h = (h ^ word).wrapping_mul(0x0000_0100_0000_01b3);
    h ^ (h >> 29)
}

/// A 64-bit digest of a data set: its shape, every input's bits and every target, in order.
#[must_use]
pub fn dataset_digest<T: Float>(data: &Dataset<T>) -> u64 {
    let mut h = mix(mix(OFFSET, data.n_features() as u64), data.n_samples() as u64);
    let add_matrix = |h: &mut u64, m: nn_linalg::MatRef<'_, T>| {
        if let Some(cols) = nn_linalg::cols(m) {
            for col in cols {
                for x in col {
                    *h = mix(*h, x.to_bits_u64());
                }
            }
        }
    };
    add_matrix(&mut h, data.inputs());
    let targets = data.target_data();
    for byte in format!("{:?}", targets.task()).bytes() {
        h = mix(h, u64::from(byte));
    }
    if let (Some(labels), Some(n_classes)) = (data.labels(), data.n_classes()) {
        h = mix(h, n_classes as u64);
        for &l in labels {
            h = mix(h, l as u64);
        }
    }
    if let Some(m) = targets.matrix() {
        add_matrix(&mut h, m.as_ref());
    }
    h
}
