//! The inference product `out ← Θ·[1; x]` with a rounding we define, the same for every batch
//! size, blocking and SIMD level: [`PackedTheta`].
//!
//! # The sum
//! Each pre-activation is F1's sum `z_i = Σ_{k=0..m} Θ_ik a_k` (a_0 = 1), evaluated term by term
//! in the order of k with one fused multiply-add per term:
//!
//! ```text
//! acc = Θ_i0                                  (the bias)
//! for k in 1..=m { acc = fma(Θ_ik, a_k, acc) }  (one rounding per term)
//! z_i = acc
//! ```
//!
//! The order depends on nothing else: not on the vector width, the number of samples, the
//! thread count or the register blocking. So a sample's outputs are the same bits alone or in a
//! batch of any size, and the same bits at every SIMD level (AVX-512, AVX2 + FMA, NEON, the
//! portable fallback, which calls `mul_add` one lane at a time) as the scalar loop of
//! [`reference_into`]. faer's GEMM (used by training, [`crate::gemm_into`]) sums in another
//! order, blocked by its own kernels: its results differ from these in the last bits.
//!
//! **CPUs without a fused multiply-add** (x86-64 before AVX2: Intel before Haswell, Atom and
//! Celeron lines without AVX; wasm32): there `mul_add` is a call into a software routine, tens
//! of times slower than the products of training. The portable level then sums in the same order
//! with two roundings per term, the product then the sum ([`Rounding::Separate`]), in 128-bit SSE
//! vectors where the CPU has SSE4.2: still the same bits for any batch size, split or thread
//! count on that CPU, but not the bits of a CPU with FMA. [`PackedTheta::rounding`] says which
//! sum a packing computes. (On an AMD EPYC Zen 4, W3's first layer, 256 × 785, for 500
//! samples: 1.7 ms with AVX-512; at the portable level 290 ms fused through `mul_add`, 5.4 ms
//! separate in SSE; for one sample 7.3 µs, 632 µs and 11.0 µs. The minimum of 20 calls.)
//!
//! # The packing
//! [`PackedTheta::new`] copies Θ (n × (m+1), bias in column 0) once into panels of
//! [`PackedTheta::panel_rows`] rows (2 vectors of the chosen level: 32 f32 rows with AVX-512,
//! 16 with AVX2), each panel stored k after k (the bias first), the last panel padded with zero
//! rows, the first panel on a 64-byte boundary (no vector load straddles two cache lines; on
//! an AMD EPYC Zen 4 the batch-1 pass of 784-256-128-10 went from about 10.2 to 9.7 µs, the
//! minimum of 20,000 calls).
//! The micro-kernels then read Θ strictly sequentially. Memory: one extra copy of Θ (plus under
//! one panel of padding and 64 bytes of alignment slack).
//!
//! # The kernels
//! Register-blocked tiles of 2 vectors of rows × 12 samples (32 vector registers: AVX-512,
//! NEON) or × 6 samples (16: AVX2, portable), every accumulator in a register for the whole sum;
//! remaining samples by 4, 2 and 1. One sample (batch 1) runs 4 panels side by side (8 sums in
//! flight), streaming the packed Θ once. Nothing is allocated.
//!
//! Each call runs the groups of panels in the opposite order of the previous call (an atomic
//! toggle in the packed type; panels are independent, so no value changes). When Θ barely fits
//! in the L2 cache, as W3's 0.95 MB on a 1 MB L2 does, a sweep in one order keeps evicting the
//! panels the next sweep needs first; alternating lets the panels read last serve the next
//! call from the cache. On an AMD EPYC Zen 4 this took W3's batch-1 median from about 10.3 to
//! 9.6 µs (`examples/bench.rs`, 8 runs each, interleaved).
//!
//! ```
//! use nn_linalg::Mat;
//! use nn_linalg::packed::{PackedTheta, reference_into};
//!
//! // Θ: 3 outputs × (1 bias + 2 inputs).
//! let theta = Mat::<f32>::from_fn(3, 3, |i, k| (i as f32) - 0.25 * (k as f32));
//! let packed = PackedTheta::new(theta.as_ref())?;
//! let x = Mat::<f32>::from_fn(2, 5, |k, j| (k + j) as f32 * 0.1); // 5 samples
//! let mut z = Mat::<f32>::zeros(3, 5);
//! packed.product_into(x.as_ref(), z.as_mut())?;
//! // The same bits as the scalar loop of F1, and as any sample alone.
//! let mut z_ref = Mat::<f32>::zeros(3, 5);
//! reference_into(theta.as_ref(), x.as_ref(), z_ref.as_mut(), packed.rounding())?;
//! assert_eq!(z, z_ref);
//! let mut z1 = Mat::<f32>::zeros(3, 1);
//! packed.product_into(x.as_ref().subcols(4, 1), z1.as_mut())?;
//! assert_eq!(z1.col(0), z.col(4));
//! # Ok::<(), nn_linalg::ShapeError>(())
//! ```

use std::sync::atomic::{AtomicBool, Ordering};

mod kernel;
mod lane;

pub use lane::Lane;

use crate::vmath::{Kernels, SimdLevel};
use crate::{Float, MatMut, MatRef, Shape, ShapeError, check};

/// How each term of the sum is rounded (see [the module](self)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rounding {
    /// `acc = fma(Θ_ik, a_k, acc)`: one rounding per term, on every CPU with a fused
    /// multiply-add (every level but the portable one, and the portable one where the CPU has
    /// FMA).
    Fused,
    /// `acc = Θ_ik·a_k + acc`, the product rounded, then the sum: the portable level on a CPU
    /// without FMA, where a fused multiply-add would be a slow software routine.
    Separate,
}

impl Rounding {
    /// The rounding [`PackedTheta::with_kernels`] chooses for `level` on this CPU: `Fused`, but
    /// `Separate` for the portable level where the CPU has no fused multiply-add.
    #[must_use]
    pub fn for_level(level: SimdLevel) -> Rounding {
        if level != SimdLevel::Portable || hardware_fma() {
            Rounding::Fused
        } else {
            Rounding::Separate
        }
    }
}

/// The kernels on pulp's 128-bit `V2`; `false` where it does not run (then nothing was written).
fn run_sse<T: Float>(product: kernel::Product<'_, T>) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        pulp::x86::V2::try_new().is_some_and(|s| pulp::Simd::vectorize(s, product))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = product;
        false
    }
}

/// Whether pulp's 128-bit `V2` (SSE up to 4.2) runs on this CPU.
fn sse_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        pulp::x86::V2::try_new().is_some()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether `f32::mul_add` is one instruction on this CPU.
fn hardware_fma() -> bool {
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    {
        std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(target_family = "wasm")]
    {
        false
    }
    // aarch64, riscv64, powerpc64, s390x, loongarch64: in the base instruction set.
    #[cfg(not(any(target_arch = "x86", target_arch = "x86_64", target_family = "wasm")))]
    {
        true
    }
}

/// One layer's Θ (n × (m+1), bias in column 0) packed for the inference product of this module:
/// `out ← Θ·[1; x]` ([`PackedTheta::product_into`]), the same bits for any number of samples and
/// at every SIMD level (see [the module](self)).
///
/// Holds a copy of Θ: `n_panels × (m+1) × panel_rows` values, about the size of Θ itself.
#[derive(Debug)]
pub struct PackedTheta<T> {
    kernels: Kernels,
    n_outputs: usize,
    n_inputs: usize,
    panel_rows: usize,
    /// The panels, from `data[offset]` on (`len` values), `offset` chosen so that they start on a
    /// 64-byte boundary: a vector load never straddles two cache lines.
    data: Vec<T>,
    offset: usize,
    len: usize,
    /// The order of the next call's sweep over the panels (flipped by every call; see the
    /// module's documentation).
    backwards: AtomicBool,
    rounding: Rounding,
    /// The portable level with [`Rounding::Separate`] on an x86 CPU with SSE4.2: the kernels
    /// run on pulp's 128-bit `V2` (4 f32 lanes) instead of one lane at a time.
    sse: bool,
}

/// Bytes of a cache line (and of an AVX-512 vector).
const ALIGN: usize = 64;

/// A zeroed buffer for `len` values starting on a 64-byte boundary, and that start.
fn aligned_zeros<T: Float>(len: usize) -> (Vec<T>, usize) {
    let slack = ALIGN / size_of::<T>();
    let data = vec![T::ZERO; len + slack];
    // The address only picks the offset: no pointer is made from it.
    let misalign = (data.as_ptr() as usize) % ALIGN;
    let offset = ((ALIGN - misalign) % ALIGN) / size_of::<T>();
    (data, offset)
}

impl<T: Float> Clone for PackedTheta<T> {
    fn clone(&self) -> Self {
        // A new buffer has its own alignment: copy the panels to its 64-byte boundary.
        let (mut data, offset) = aligned_zeros(self.len);
        data[offset..offset + self.len].copy_from_slice(self.panels());
        PackedTheta { data, offset, backwards: AtomicBool::new(false), ..*self }
    }
}

impl<T: Float> PackedTheta<T> {
    /// Packs `theta` (n × (m+1): bias in column 0, then the m input weights) for the best SIMD
    /// level of this CPU. Allocates the packed copy; [`PackedTheta::product_into`] allocates
    /// nothing.
    ///
    /// # Errors
    /// [`ShapeError`] if `theta` has no column (there is always the bias column), or if the packed
    /// copy would not be addressable.
    pub fn new(theta: MatRef<'_, T>) -> Result<Self, ShapeError> {
        Self::with_kernels(theta, Kernels::detected())
    }

    /// [`PackedTheta::new`] for the level of `kernels` ([`Kernels::with_level`]): for tests and
    /// benchmarks of each level. The results are the same bits at every level (with the
    /// rounding [`Rounding::for_level`] chooses).
    ///
    /// # Errors
    /// Those of [`PackedTheta::new`].
    pub fn with_kernels(theta: MatRef<'_, T>, kernels: Kernels) -> Result<Self, ShapeError> {
        Self::with_rounding(theta, kernels, Rounding::for_level(kernels.level()))
    }

    /// [`PackedTheta::with_kernels`] with the given rounding: `Rounding::Separate` tests, on a
    /// CPU with FMA, the sum a CPU without computes; `Rounding::Fused` on a CPU without FMA is
    /// exact but slow.
    ///
    /// # Errors
    /// Those of [`PackedTheta::new`].
    pub fn with_rounding(
        theta: MatRef<'_, T>,
        kernels: Kernels,
        rounding: Rounding,
    ) -> Result<Self, ShapeError> {
        const OP: &str = "PackedTheta::new";
        let (n, cols) = (theta.nrows(), theta.ncols());
        if cols == 0 {
            return Err(ShapeError {
                op: OP,
                operand: "theta (the bias column)",
                expected: Shape { rows: n, cols: 1 },
                found: Shape::of(theta),
            });
        }
        let sse = rounding == Rounding::Separate
            && kernels.level() == SimdLevel::Portable
            && sse_available();
        let panel_rows = 2 * if sse { 16 / size_of::<T>() } else { lanes::<T>(kernels.level()) };
        let n_panels = n.div_ceil(panel_rows);
        let len =
            n_panels.checked_mul(panel_rows).and_then(|r| r.checked_mul(cols)).filter(|&len| {
                len.checked_mul(size_of::<T>()).is_some_and(|b| b <= isize::MAX as usize)
            });
        let Some(len) = len else {
            return Err(ShapeError {
                op: OP,
                operand: "theta (too large to pack)",
                expected: Shape { rows: isize::MAX as usize / size_of::<T>() / cols, cols },
                found: Shape::of(theta),
            });
        };
        let (mut data, offset) = aligned_zeros::<T>(len);
        for (p, panel) in data[offset..offset + len].chunks_exact_mut(cols * panel_rows).enumerate()
        {
            for (k, values) in panel.chunks_exact_mut(panel_rows).enumerate() {
                for (r, v) in values.iter_mut().enumerate() {
                    let i = p * panel_rows + r;
                    if i < n {
                        *v = theta[(i, k)];
                    }
                }
            }
        }
        Ok(PackedTheta {
            kernels,
            n_outputs: n,
            n_inputs: cols - 1,
            panel_rows,
            data,
            offset,
            len,
            backwards: AtomicBool::new(false),
            rounding,
            sse,
        })
    }

    /// How each term of the sums is rounded.
    #[must_use]
    pub fn rounding(&self) -> Rounding {
        self.rounding
    }

    /// n, the outputs (rows of Θ).
    #[must_use]
    pub fn n_outputs(&self) -> usize {
        self.n_outputs
    }

    /// m, the inputs (columns of Θ but the bias).
    #[must_use]
    pub fn n_inputs(&self) -> usize {
        self.n_inputs
    }

    /// The SIMD level the product runs at.
    #[must_use]
    pub fn level(&self) -> SimdLevel {
        self.kernels.level()
    }

    /// Rows per panel: two vectors of the level (32 for f32 with AVX-512, 1 lane × 2 for the
    /// portable level, 2 × 4 where its [`Rounding::Separate`] runs in SSE).
    #[must_use]
    pub fn panel_rows(&self) -> usize {
        self.panel_rows
    }

    /// The bytes of the packed copy (without the at most 64 bytes of alignment slack).
    #[must_use]
    pub fn memory_bytes(&self) -> usize {
        self.len * size_of::<T>()
    }

    /// The packed values.
    fn panels(&self) -> &[T] {
        self.data.get(self.offset..self.offset + self.len).unwrap_or(&[])
    }

    /// `out ← Θ·[1; x]` (F1/F2: the pre-activations z of a layer for every sample), each value
    /// summed as [the module](self) defines: the same bits for any number of samples, any split
    /// of the samples between calls, and at every SIMD level. Allocation: none.
    ///
    /// `x` and `out` with contiguous columns (any [`Mat`](crate::Mat) or its `subcols`) run the
    /// vector kernels; other layouts (a transposed view) give the same bits through
    /// [`reference_into`], one value at a time.
    ///
    /// # Shapes
    /// `x`: m × b (b ≥ 0), `out`: n × b.
    ///
    /// # Errors
    /// [`ShapeError`] if `x` has not m rows or `out` is not n × b.
    pub fn product_into(&self, x: MatRef<'_, T>, out: MatMut<'_, T>) -> Result<(), ShapeError> {
        const OP: &str = "PackedTheta::product_into";
        let (n, m, b) = (self.n_outputs, self.n_inputs, x.ncols());
        check(OP, "x", Shape { rows: m, cols: b }, Shape::of(x))?;
        check(OP, "out", Shape { rows: n, cols: b }, Shape::of(out.as_ref()))?;
        let contiguous = |rows: usize, stride: isize| rows <= 1 || stride == 1;
        if b == 0 {
            return Ok(());
        }
        if contiguous(m, x.row_stride()) && contiguous(n, out.row_stride()) {
            let product = kernel::Product {
                data: self.panels(),
                panel_rows: self.panel_rows,
                n,
                m,
                x,
                out,
                backwards: self.backwards.fetch_xor(true, Ordering::Relaxed),
                fused: self.rounding == Rounding::Fused,
            };
            if self.run(product) {
                return Ok(());
            }
            // Unreachable: the packing was made for this level. Nothing was written.
            return Err(ShapeError {
                op: OP,
                operand: "packing (rows per panel)",
                expected: Shape { rows: self.panel_rows, cols: 1 },
                found: Shape { rows: 0, cols: 1 },
            });
        }
        self.unpacked_into(x, out);
        Ok(())
    }

    /// Runs the kernels at this packing's level; `false` if the packing does not fit it.
    fn run(&self, product: kernel::Product<'_, T>) -> bool {
        if self.sse { run_sse(product) } else { self.kernels.backend().run(product) }
    }

    /// The reference loop on the packed copy (for layouts the vector kernels do not take).
    fn unpacked_into(&self, x: MatRef<'_, T>, mut out: MatMut<'_, T>) {
        let r = self.panel_rows;
        let cols = self.n_inputs + 1;
        let data = self.panels();
        let term = term::<T>(self.rounding);
        for j in 0..x.ncols() {
            for i in 0..self.n_outputs {
                let panel = &data[(i / r) * cols * r..];
                let mut acc = panel[i % r];
                for k in 1..cols {
                    acc = term(panel[k * r + i % r], x[(k - 1, j)], acc);
                }
                out[(i, j)] = acc;
            }
        }
    }
}

/// f32 or f64 lanes of a vector at `level` (pulp's portable type has one lane of each).
fn lanes<T>(level: SimdLevel) -> usize {
    (level.f32_lanes() * size_of::<f32>() / size_of::<T>()).max(1)
}

/// `a·b + c` rounded as `rounding` says.
fn term<T: Float>(rounding: Rounding) -> fn(T, T, T) -> T {
    match rounding {
        Rounding::Fused => T::fma,
        Rounding::Separate => T::mul_add_separate,
    }
}

/// The scalar reference of [`PackedTheta::product_into`], straight from Θ (n × (m+1), bias in
/// column 0): for every output i and sample j, `acc = Θ_i0`, then `acc = Θ_ik.mul_add(x_kj, acc)`
/// for k = 1..=m in order (F1 with a_0 = 1; `acc = Θ_ik·x_kj + acc`, rounded twice, for
/// [`Rounding::Separate`]). The vector kernels give these bits exactly (pass them
/// [`PackedTheta::rounding`]); this loop is the definition (and slow).
///
/// # Shapes
/// `theta`: n × (m+1), `x`: m × b, `out`: n × b.
///
/// # Errors
/// [`ShapeError`] if `theta` has no column or the shapes do not fit.
pub fn reference_into<T: Float>(
    theta: MatRef<'_, T>,
    x: MatRef<'_, T>,
    mut out: MatMut<'_, T>,
    rounding: Rounding,
) -> Result<(), ShapeError> {
    const OP: &str = "packed::reference_into";
    let (n, b) = (theta.nrows(), x.ncols());
    let Some(m) = theta.ncols().checked_sub(1) else {
        return Err(ShapeError {
            op: OP,
            operand: "theta (the bias column)",
            expected: Shape { rows: n, cols: 1 },
            found: Shape::of(theta),
        });
    };
    check(OP, "x", Shape { rows: m, cols: b }, Shape::of(x))?;
    check(OP, "out", Shape { rows: n, cols: b }, Shape::of(out.as_ref()))?;
    let term = term::<T>(rounding);
    for j in 0..b {
        for i in 0..n {
            let mut acc = theta[(i, 0)];
            for k in 1..=m {
                acc = term(theta[(i, k)], x[(k - 1, j)], acc);
            }
            out[(i, j)] = acc;
        }
    }
    Ok(())
}
