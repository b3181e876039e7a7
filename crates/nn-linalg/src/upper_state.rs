//! The upper halves of the vector registers after faer's GEMM: reading their state (XINUSE) and
//! clearing it (`vzeroupper`). The only module of the workspace with `unsafe` code.
//!
//! # Why
//! faer's f32/f64 GEMM on x86-64 runs the hand-written assembly micro-kernels of the crate
//! `private-gemm-x86`. Their AVX2 and AVX-512 kernels return without `vzeroupper`, so bits 128 and
//! up of the vector registers stay "dirty" after the call. On Intel CPUs every legacy-SSE
//! instruction executed while they are dirty (all the code compiled for the baseline x86-64
//! target: scalar loops, libm, the optimizer update) then pays a transition penalty: a scalar
//! sigmoid loop was measured at 4.5 ns per element with clean registers and 182 ns with dirty ones.
//! AMD CPUs have no such penalty. It is the bug class of BLIS issues 149 and 523 and oneDNN
//! issue 247.
//!
//! # What
//! - [`clear_upper_state`] executes `vzeroupper` on the calling thread, when the CPU has AVX
//!   (detected at run time, cached); elsewhere it does nothing. [`crate::gemm_into`] calls it after
//!   every faer product, and, for [`crate::Par::Threads`] with the `rayon` feature, also on every
//!   worker of the rayon pool the product ran in (`clear_upper_state_on_pool`, `rayon` feature).
//! - [`upper_state`] reports the XINUSE bits of the upper vector state (`XGETBV` with `ECX = 1`),
//!   so a test can check that the registers really are clean; `None` where the CPU cannot tell.
//!
//! Compiled code of our own crates needs none of this: LLVM inserts `vzeroupper` itself before a
//! function compiled with AVX returns to or calls code that may use SSE, and pulp's kernels are
//! such functions. Only assembly that LLVM does not see (private-gemm-x86's) can leave the state
//! dirty.
#![allow(
    unsafe_code,
    reason = "`vzeroupper`, `XGETBV` and `CPUID` are instructions only reachable through unsafe \
              intrinsics; each use is guarded by run-time CPU detection and has a SAFETY comment"
)]

/// The XINUSE bits of the upper vector state on the calling thread (Intel SDM vol. 1 §13.6:
/// `XGETBV` with `ECX = 1` returns XCR0 ∧ XINUSE, the state components not in their initial
/// configuration).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct UpperState {
    /// Bit 2 (AVX): the upper halves (bits 128..255) of YMM0–15 are in use.
    pub ymm_upper: bool,
    /// Bit 6 (ZMM_Hi256): the upper halves (bits 256..511) of ZMM0–15 are in use.
    pub zmm_upper: bool,
    /// Bit 7 (Hi16_ZMM): ZMM16–31 are in use. `vzeroupper` does not clear them and legacy-SSE
    /// instructions cannot address them, so they cause no transition penalty: informative only.
    pub zmm_hi16: bool,
}

impl UpperState {
    /// Whether legacy-SSE code would pay the transition penalty on Intel CPUs: the upper halves
    /// of YMM0–15 or ZMM0–15 are dirty.
    #[must_use]
    pub fn is_dirty(self) -> bool {
        self.ymm_upper || self.zmm_upper
    }
}

/// Executes `vzeroupper` on the calling thread if the CPU has AVX; otherwise (and on other
/// architectures) does nothing. Costs a few cycles. Safe to call at any time from code that is
/// not itself in the middle of AVX work (which is all safe Rust code: the compiler keeps no vector
/// values live across this call).
#[inline]
pub fn clear_upper_state() {
    if has_avx() {
        #[cfg(target_arch = "x86_64")]
        x86::vzeroupper_with_avx();
    }
}

/// Clears the upper vector state ([`clear_upper_state`]) on every thread of the rayon pool the
/// caller runs in (the global pool when called from outside any pool), and on the caller.
///
/// Cost: one `rayon::broadcast`, which wakes every worker, runs a few cycles of work on each and
/// waits for all of them (a few microseconds on an idle pool, plus the time a busy worker needs to
/// finish its current job), and allocates one small job per worker. [`crate::gemm_into`] calls it
/// only after products that really ran in parallel (at least [`crate::PARALLEL_MIN_FLOP`]
/// multiply-adds, so tens of microseconds or more). Does nothing on CPUs without AVX.
#[cfg(feature = "rayon")]
pub fn clear_upper_state_on_pool() {
    if has_avx() {
        clear_upper_state();
        rayon::broadcast(|_| clear_upper_state());
    }
}

/// Whether the CPU (and OS) support AVX, hence `vzeroupper`; std caches the detection.
#[inline]
fn has_avx() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The XINUSE bits of the upper vector state on the calling thread, or `None` if the CPU cannot
/// report them (not x86-64, no XSAVE enabled by the OS, or no `XGETBV` with `ECX = 1`: CPUID leaf
/// 0xD sub-leaf 1, EAX bit 2). Intel CPUs since Skylake and AMD Zen CPUs report them.
///
/// Reading the state does not change it.
#[must_use]
pub fn upper_state() -> Option<UpperState> {
    #[cfg(target_arch = "x86_64")]
    {
        x86::xinuse().map(|bits| UpperState {
            ymm_upper: bits & (1 << 2) != 0,
            zmm_upper: bits & (1 << 6) != 0,
            zmm_hi16: bits & (1 << 7) != 0,
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        None
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::{__cpuid, __cpuid_count, _mm256_zeroupper, _xgetbv};
    use std::sync::OnceLock;

    /// `vzeroupper`; only called once `has_avx()` returned true.
    #[inline]
    pub(super) fn vzeroupper_with_avx() {
        // SAFETY: `vzeroupper` requires AVX, which the only caller checked (CPU and OS support).
        // It only zeroes bits 128 and up of YMM0–15/ZMM0–15; the caller is code compiled without
        // AVX, which keeps no values in those bits (and an AVX function is never inlined into a
        // non-AVX caller), so no live value changes.
        unsafe { vzeroupper() }
    }

    #[target_feature(enable = "avx")]
    fn vzeroupper() {
        _mm256_zeroupper();
    }

    /// Whether `XGETBV` with `ECX = 1` is available, detected once per process.
    fn has_xinuse() -> bool {
        static DETECTED: OnceLock<bool> = OnceLock::new();
        *DETECTED.get_or_init(|| {
            // CPUID.1:ECX bit 27 (OSXSAVE): the OS enabled XSAVE, so XGETBV may execute.
            let osxsave = __cpuid(1).ecx & (1 << 27) != 0;
            // CPUID leaf 0xD exists and its sub-leaf 1, EAX bit 2, says XGETBV supports ECX = 1.
            osxsave && __cpuid(0).eax >= 0xD && __cpuid_count(0xD, 1).eax & (1 << 2) != 0
        })
    }

    pub(super) fn xinuse() -> Option<u64> {
        if has_xinuse() {
            // SAFETY: XGETBV requires OSXSAVE and, with ECX = 1, CPUID.(0xD, 1):EAX[2]; both were
            // checked by `has_xinuse`. It only reads a register.
            Some(unsafe { xgetbv1() })
        } else {
            None
        }
    }

    /// # Safety
    /// The CPU must support `XGETBV` with `ECX = 1` (see `has_xinuse`).
    #[target_feature(enable = "xsave")]
    unsafe fn xgetbv1() -> u64 {
        // SAFETY: the caller guarantees OSXSAVE and CPUID.(0xD, 1):EAX[2].
        unsafe { _xgetbv(1) }
    }
}
