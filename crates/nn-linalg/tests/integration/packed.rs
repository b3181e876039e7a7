//! The packed inference product: the same bits as the scalar reference of F1's order at every
//! SIMD level this CPU runs, for many shapes; batch 1 equal to a column of any batch; an error
//! bound against f64; shape errors.

use nn_linalg::packed::{PackedTheta, Rounding, reference_into};
use nn_linalg::vmath::{Kernels, SimdLevel};
use nn_linalg::{Accum, Float, Mat, Par, ShapeError, gemm_into};

/// A small deterministic generator (xorshift64*), values in [−1, 1) with varied magnitudes so
/// that the order and the fusing of the multiply-adds show in the last bits.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let u = (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64;
        let scale = [1.0, 0.01, 3.0, 0.3][(self.0 & 3) as usize];
        (2.0 * u - 1.0) * scale
    }

    fn mat<T: Float>(&mut self, rows: usize, cols: usize) -> Mat<T> {
        Mat::from_fn(rows, cols, |_, _| T::from_f64(self.next()))
    }
}

const ROUNDINGS: [Rounding; 2] = [Rounding::Fused, Rounding::Separate];

fn levels() -> Vec<Kernels> {
    let levels: Vec<Kernels> = SimdLevel::supported().filter_map(Kernels::with_level).collect();
    assert!(levels.iter().any(|k| k.level() == SimdLevel::Portable));
    levels
}

fn bits<T: Float>(m: &Mat<T>) -> Vec<u64> {
    (0..m.ncols()).flat_map(|j| (0..m.nrows()).map(move |i| m[(i, j)].to_bits_u64())).collect()
}

/// Checks every level against the reference for `n` outputs, `m` inputs and each batch size.
fn check_shape<T: Float>(g: &mut Gen, n: usize, m: usize, batches: &[usize]) {
    let theta = g.mat::<T>(n, m + 1);
    let b_max = batches.iter().copied().max().unwrap_or(0);
    // One extra leading column: the products read `subcols`, not only whole matrices.
    let x_all = g.mat::<T>(m, b_max + 1);
    // Both roundings at every level: `Separate` is what the portable level computes on a CPU
    // without FMA; here it is tested on any CPU.
    for (k, rounding) in levels().into_iter().flat_map(|k| ROUNDINGS.map(|r| (k, r))) {
        let packed = PackedTheta::with_rounding(theta.as_ref(), k, rounding).unwrap();
        assert_eq!((packed.n_outputs(), packed.n_inputs(), packed.level()), (n, m, k.level()));
        assert_eq!(packed.rounding(), rounding);
        for &b in batches {
            let x = x_all.as_ref().subcols(1, b);
            let mut expected = Mat::<T>::zeros(n, b);
            reference_into(theta.as_ref(), x, expected.as_mut(), rounding).unwrap();
            let mut out = Mat::<T>::from_fn(n, b, |_, _| T::from_f64(f64::NAN));
            packed.product_into(x, out.as_mut()).unwrap();
            assert_eq!(
                bits(&out),
                bits(&expected),
                "{} {} {rounding:?} n={n} m={m} b={b}: kernel != reference",
                T::NAME,
                k.level()
            );
        }
    }
}

#[test]
fn every_level_gives_the_reference_bits_for_f32_and_f64() {
    let mut g = Gen(0x9e37_79b9_7f4a_7c15);
    let all_small: Vec<usize> = (1..=40).collect();
    // Rows: below, at and above the panel heights (2 to 32 rows) and their multiples.
    for &(n, m) in &[(1, 1), (3, 0), (5, 7), (10, 128), (17, 33), (32, 64), (33, 5), (70, 31)] {
        check_shape::<f32>(&mut g, n, m, &all_small);
        check_shape::<f64>(&mut g, n, m, &all_small);
    }
    for &(n, m) in &[(2, 1), (15, 300), (31, 2), (64, 100), (129, 17), (256, 9)] {
        check_shape::<f32>(&mut g, n, m, &[1, 2, 3, 7, 12, 13, 24, 25, 64, 100, 131]);
        check_shape::<f64>(&mut g, n, m, &[1, 5, 6, 11, 12, 37, 100]);
    }
}

#[test]
fn the_test_data_tell_summation_orders_apart() {
    // The bitwise tests above could not fail if every order gave the same bits on their data:
    // faer's blocked GEMM (another order) and an unfused loop must differ somewhere.
    let mut g = Gen(7);
    let (n, m, b) = (33, 128, 20);
    let theta = g.mat::<f32>(n, m + 1);
    let x = g.mat::<f32>(m, b);
    let mut expected = Mat::<f32>::zeros(n, b);
    reference_into(theta.as_ref(), x.as_ref(), expected.as_mut(), Rounding::Fused).unwrap();
    let mut separate = Mat::<f32>::zeros(n, b);
    reference_into(theta.as_ref(), x.as_ref(), separate.as_mut(), Rounding::Separate).unwrap();
    let mut unfused = Mat::<f32>::zeros(n, b);
    for j in 0..b {
        for i in 0..n {
            let mut acc = theta[(i, 0)];
            for k in 1..=m {
                acc += theta[(i, k)] * x[(k - 1, j)];
            }
            unfused[(i, j)] = acc;
        }
    }
    assert_ne!(bits(&unfused), bits(&expected));
    assert_eq!(bits(&unfused), bits(&separate), "Rounding::Separate is the unfused loop");
    let mut faer = Mat::<f32>::zeros(n, b);
    for j in 0..b {
        for i in 0..n {
            faer[(i, j)] = theta[(i, 0)];
        }
    }
    let w = theta.as_ref().subcols(1, m);
    gemm_into(faer.as_mut(), Accum::Add, w, x.as_ref(), 1.0, Par::Seq).unwrap();
    assert_ne!(bits(&faer), bits(&expected));
}

#[test]
fn one_sample_alone_is_its_column_in_every_batch() {
    let mut g = Gen(11);
    let (n, m) = (45, 200);
    let theta = g.mat::<f32>(n, m + 1);
    let x = g.mat::<f32>(m, 57);
    for k in levels() {
        let packed = PackedTheta::with_kernels(theta.as_ref(), k).unwrap();
        let mut all = Mat::<f32>::zeros(n, 57);
        packed.product_into(x.as_ref(), all.as_mut()).unwrap();
        for j in 0..57 {
            let mut one = Mat::<f32>::zeros(n, 1);
            packed.product_into(x.as_ref().subcols(j, 1), one.as_mut()).unwrap();
            assert_eq!(one.col(0), all.col(j), "{} sample {j}", k.level());
        }
        // Any split of the batch between calls.
        let mut split = Mat::<f32>::zeros(n, 57);
        let mut start = 0;
        for len in [5, 13, 1, 24, 14] {
            let dst = split.as_mut().subcols_mut(start, len);
            packed.product_into(x.as_ref().subcols(start, len), dst).unwrap();
            start += len;
        }
        assert_eq!(split, all);
    }
}

#[test]
fn repeated_calls_and_clones_give_the_same_bits() {
    // Every call sweeps the panels in the opposite order of the previous one (a cache heuristic):
    // three calls cover both orders, for a batch tile and for one sample.
    let mut g = Gen(13);
    let (n, m) = (300, 70);
    let theta = g.mat::<f32>(n, m + 1);
    let x = g.mat::<f32>(m, 13);
    for k in levels() {
        let packed = PackedTheta::with_kernels(theta.as_ref(), k).unwrap();
        let clone = packed.clone();
        let mut expected = Mat::<f32>::zeros(n, 13);
        reference_into(theta.as_ref(), x.as_ref(), expected.as_mut(), packed.rounding()).unwrap();
        for b in [13, 1] {
            for p in [&packed, &clone, &packed, &packed] {
                let mut out = Mat::<f32>::zeros(n, b);
                p.product_into(x.as_ref().subcols(0, b), out.as_mut()).unwrap();
                assert_eq!(out.as_ref(), expected.as_ref().subcols(0, b), "{} b={b}", k.level());
            }
        }
    }
}

#[test]
fn strided_layouts_give_the_same_bits() {
    let mut g = Gen(3);
    let (n, m, b) = (19, 23, 9);
    let theta = g.mat::<f64>(n, m + 1);
    let x = g.mat::<f64>(m, b);
    let xt = Mat::<f64>::from_fn(b, m, |j, k| x[(k, j)]);
    let packed = PackedTheta::new(theta.as_ref()).unwrap();
    let mut expected = Mat::<f64>::zeros(n, b);
    packed.product_into(x.as_ref(), expected.as_mut()).unwrap();
    // x as a transposed view, out as a transposed view: the fallback loop.
    let mut out_t = Mat::<f64>::zeros(b, n);
    packed.product_into(xt.transpose(), out_t.as_mut().transpose_mut()).unwrap();
    assert_eq!(out_t.transpose().to_owned(), expected);
}

#[test]
fn f32_error_is_within_the_bound_of_a_sum_of_m_plus_1_terms() {
    // |z − z_exact| ≤ γ_m · Σ_k |Θ_ik a_k| (γ_m = m·u/(1 − m·u), u = 2⁻²⁴): the classical bound of
    // a recursive sum with fused products, against an f64 sum of the same f32 values.
    let mut g = Gen(5);
    let (n, m, b) = (40, 784, 16);
    let theta = g.mat::<f32>(n, m + 1);
    let x = g.mat::<f32>(m, b);
    let packed = PackedTheta::new(theta.as_ref()).unwrap();
    let mut out = Mat::<f32>::zeros(n, b);
    packed.product_into(x.as_ref(), out.as_mut()).unwrap();
    let u = f64::from(f32::EPSILON) / 2.0;
    let gamma = m as f64 * u / (1.0 - m as f64 * u);
    let mut worst = 0.0f64;
    for j in 0..b {
        for i in 0..n {
            let mut exact = f64::from(theta[(i, 0)]);
            let mut abs = exact.abs();
            for k in 1..=m {
                let t = f64::from(theta[(i, k)]) * f64::from(x[(k - 1, j)]);
                exact += t;
                abs += t.abs();
            }
            let err = (f64::from(out[(i, j)]) - exact).abs();
            assert!(err <= gamma * abs, "({i}, {j}): error {err} above {}", gamma * abs);
            worst = worst.max(err / abs);
        }
    }
    assert!(worst > 0.0, "f32 sums of random values are not all exact");
}

#[test]
fn shape_errors_are_typed_not_panics() {
    let theta = Mat::<f32>::zeros(4, 3);
    let packed = PackedTheta::new(theta.as_ref()).unwrap();
    let x = Mat::<f32>::zeros(2, 5);
    let bad_x = Mat::<f32>::zeros(3, 5);
    let mut out = Mat::<f32>::zeros(4, 5);
    let mut bad_out = Mat::<f32>::zeros(4, 4);
    let e: ShapeError = packed.product_into(bad_x.as_ref(), out.as_mut()).unwrap_err();
    assert_eq!(e.to_string(), "PackedTheta::product_into: x expected 2×5, found 3×5");
    let e = packed.product_into(x.as_ref(), bad_out.as_mut()).unwrap_err();
    assert_eq!(e.operand, "out");
    let e = PackedTheta::new(Mat::<f32>::zeros(4, 0).as_ref()).unwrap_err();
    assert_eq!(e.operand, "theta (the bias column)");
    let e =
        reference_into(theta.as_ref(), bad_x.as_ref(), out.as_mut(), Rounding::Fused).unwrap_err();
    assert_eq!(e.operand, "x");
    // No samples: nothing to do, not an error.
    let empty = Mat::<f32>::zeros(2, 0);
    packed.product_into(empty.as_ref(), Mat::<f32>::zeros(4, 0).as_mut()).unwrap();
}

#[test]
fn the_packed_copy_is_about_the_size_of_theta() {
    let theta = Mat::<f32>::zeros(256, 785);
    for k in levels() {
        let packed = PackedTheta::with_kernels(theta.as_ref(), k).unwrap();
        let rows = 256usize.div_ceil(packed.panel_rows()) * packed.panel_rows();
        assert_eq!(packed.memory_bytes(), rows * 785 * 4);
    }
}

#[test]
fn separate_rounding_at_the_portable_level_runs_in_sse_vectors_on_x86_64() {
    // The tests above check its bits; this checks that they checked the SSE kernels (4 f32
    // lanes, panels of 8 rows), which a CPU without FMA runs, and not one lane at a time.
    let theta = Mat::<f32>::zeros(5, 3);
    let portable = Kernels::with_level(SimdLevel::Portable).unwrap();
    let p = PackedTheta::with_rounding(theta.as_ref(), portable, Rounding::Separate).unwrap();
    // SSE up to 4.2 (pulp's `V2`): not every x86-64 CPU has it (the x86-64 baseline, QEMU's
    // `qemu64`, runs one lane at a time; scripts/emulated-cpus.sh).
    #[cfg(target_arch = "x86_64")]
    let sse = pulp::x86::V2::try_new().is_some();
    #[cfg(not(target_arch = "x86_64"))]
    let sse = false;
    assert_eq!(p.panel_rows(), if sse { 8 } else { 2 });
    let p = PackedTheta::with_rounding(theta.as_ref(), portable, Rounding::Fused).unwrap();
    assert_eq!(p.panel_rows(), 2);
}
