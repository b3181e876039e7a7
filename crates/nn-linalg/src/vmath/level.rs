//! Which SIMD instruction set the kernels run with, detected once per process.

use std::fmt;
use std::sync::OnceLock;

use pulp::{Simd, WithSimd};

/// The instruction set a [`Kernels`](super::Kernels) handle runs its f32 kernels with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SimdLevel {
    /// x86-64 with AVX-512 (F, BW, CD, DQ, VL): 16 f32 lanes (pulp's `V4`).
    Avx512,
    /// x86-64 with AVX2 and FMA: 8 f32 lanes (pulp's `V3`).
    Avx2Fma,
    /// AArch64 with NEON: 4 f32 lanes.
    Neon,
    /// Any CPU: one lane at a time, plain Rust (pulp's `Scalar`), no fused multiply-add.
    Portable,
}

impl SimdLevel {
    /// Every level, widest first.
    pub const ALL: [SimdLevel; 4] =
        [SimdLevel::Avx512, SimdLevel::Avx2Fma, SimdLevel::Neon, SimdLevel::Portable];

    /// The best level this CPU supports (what [`Kernels::detected`](super::Kernels::detected)
    /// uses), detected once per process.
    #[must_use]
    pub fn detected() -> SimdLevel {
        super::Kernels::detected().level()
    }

    /// Whether this CPU can run this level.
    #[must_use]
    pub fn is_supported(self) -> bool {
        Backend::new(self).is_some()
    }

    /// The levels this CPU can run, widest first (always ends with [`SimdLevel::Portable`]).
    pub fn supported() -> impl Iterator<Item = SimdLevel> {
        SimdLevel::ALL.into_iter().filter(|l| l.is_supported())
    }

    /// f32 lanes per vector.
    #[must_use]
    pub fn f32_lanes(self) -> usize {
        match self {
            SimdLevel::Avx512 => 16,
            SimdLevel::Avx2Fma => 8,
            SimdLevel::Neon => 4,
            SimdLevel::Portable => 1,
        }
    }

    /// A short name: `avx512`, `avx2-fma`, `neon`, `portable`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            SimdLevel::Avx512 => "avx512",
            SimdLevel::Avx2Fma => "avx2-fma",
            SimdLevel::Neon => "neon",
            SimdLevel::Portable => "portable",
        }
    }
}

impl fmt::Display for SimdLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// pulp's SIMD token for a level (its existence proves the CPU supports it).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Backend {
    #[cfg(target_arch = "x86_64")]
    V4(pulp::x86::V4),
    #[cfg(target_arch = "x86_64")]
    V3(pulp::x86::V3),
    #[cfg(target_arch = "aarch64")]
    Neon(pulp::aarch64::Neon),
    Portable,
}

impl Backend {
    pub(super) fn new(level: SimdLevel) -> Option<Backend> {
        match level {
            #[cfg(target_arch = "x86_64")]
            SimdLevel::Avx512 => pulp::x86::V4::try_new().map(Backend::V4),
            #[cfg(target_arch = "x86_64")]
            SimdLevel::Avx2Fma => pulp::x86::V3::try_new().map(Backend::V3),
            #[cfg(target_arch = "aarch64")]
            SimdLevel::Neon => pulp::aarch64::Neon::try_new().map(Backend::Neon),
            SimdLevel::Portable => Some(Backend::Portable),
            #[allow(unreachable_patterns, reason = "which levels exist depends on the target")]
            _ => None,
        }
    }

    pub(crate) fn level(self) -> SimdLevel {
        match self {
            #[cfg(target_arch = "x86_64")]
            Backend::V4(_) => SimdLevel::Avx512,
            #[cfg(target_arch = "x86_64")]
            Backend::V3(_) => SimdLevel::Avx2Fma,
            #[cfg(target_arch = "aarch64")]
            Backend::Neon(_) => SimdLevel::Neon,
            Backend::Portable => SimdLevel::Portable,
        }
    }

    /// The best backend of this CPU, detected once.
    pub(super) fn detected() -> Backend {
        static DETECTED: OnceLock<Backend> = OnceLock::new();
        *DETECTED.get_or_init(|| {
            SimdLevel::ALL.into_iter().find_map(Backend::new).unwrap_or(Backend::Portable)
        })
    }

    /// Runs `op` with this backend's SIMD type (inside a function compiled for its features).
    #[inline(always)]
    pub(crate) fn run<Op: WithSimd>(self, op: Op) -> Op::Output {
        match self {
            #[cfg(target_arch = "x86_64")]
            Backend::V4(s) => Simd::vectorize(s, op),
            #[cfg(target_arch = "x86_64")]
            Backend::V3(s) => Simd::vectorize(s, op),
            #[cfg(target_arch = "aarch64")]
            Backend::Neon(s) => Simd::vectorize(s, op),
            Backend::Portable => Simd::vectorize(pulp::Scalar::new(), op),
        }
    }
}
