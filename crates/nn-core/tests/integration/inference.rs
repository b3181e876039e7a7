//! `Predictor`: the bits of a scalar forward pass that sums every pre-activation in F1's order
//! with one FMA per term, the results of the training forward pass (faer) within rounding, the
//! same bits for any chunk size and thread count, the batch-1 path equal to the batched one, and
//! every error; `Network::predict_proba` and `predict`, which run through it, the same bits for
//! one sample as in a batch.

use nn_core::{Activation, Error, Loss, Network, Predictor, Workspace};
use nn_linalg::packed::{Rounding, reference_into};
use nn_linalg::vmath::{Act, Kernels};
use nn_linalg::{Float, Mat, MatRef};

use crate::support::{net, rng, uniform_mat};

fn inputs<T: Float>(rows: usize, cols: usize, seed: u64) -> Mat<T> {
    let x = uniform_mat(&mut rng(seed), rows, cols, -1.0, 1.0);
    Mat::from_fn(rows, cols, |i, j| T::from_f64(x[(i, j)]))
}

/// One network per loss (and both kinds of sigmoid output), in f64 and cast to f32.
fn networks() -> Vec<Network<f64>> {
    vec![
        net(
            &[784, 256, 128, 10],
            Activation::Relu,
            Loss::SoftmaxCrossEntropy,
            Activation::Identity,
            1,
        ),
        net(
            &[12, 9, 5],
            Activation::Gelu,
            Loss::SigmoidBinaryCrossEntropy,
            Activation::Identity,
            2,
        ),
        net(&[6, 7, 1], Activation::Tanh, Loss::SigmoidBinaryCrossEntropy, Activation::Identity, 3),
        net(&[5, 8, 3], Activation::Silu, Loss::MeanSquaredError, Activation::Sigmoid, 4),
    ]
}

fn bits<T: Float>(m: MatRef<'_, T>) -> Vec<u64> {
    (0..m.ncols()).flat_map(|j| (0..m.nrows()).map(move |i| m[(i, j)].to_bits_u64())).collect()
}

/// `h_Θ(x)` by the training forward pass (faer's GEMM) over all of `x`.
fn forward_whole<T: Float>(net: &Network<T>, x: MatRef<'_, T>) -> Mat<T> {
    if x.ncols() == 0 {
        return Mat::zeros(net.n_outputs(), 0);
    }
    let mut ws = Workspace::for_network(net, x.ncols()).unwrap();
    let out = net.forward_into(x, &mut ws).unwrap().into_output();
    Mat::from_fn(out.nrows(), out.ncols(), |i, j| out[(i, j)])
}

/// `h_Θ(x)` as the predictor defines it, one value at a time: each z by the scalar loop of F1's
/// order (`acc = Θ_i0`, then `acc = Θ_ik.mul_add(a_k, acc)` for k = 1..=m; the product and the
/// sum rounded apart on a CPU without FMA), then the activation or the loss's output function
/// (F3) by the element-wise kernels.
fn reference<T: Float>(net: &Network<T>, x: MatRef<'_, T>) -> Mat<T> {
    let k = Kernels::detected();
    let b = x.ncols();
    let last = net.layers().len() - 1;
    let mut a = x.to_owned();
    for (l, layer) in net.layers().iter().enumerate() {
        let n = layer.n_outputs();
        let mut z = Mat::<T>::zeros(n, b);
        let rounding = Rounding::for_level(k.level());
        reference_into(layer.theta(), a.as_ref(), z.as_mut(), rounding).unwrap();
        let mut next = Mat::<T>::zeros(n, b);
        for j in 0..b {
            let (z, out) = (z.col_as_slice(j), next.col_as_slice_mut(j));
            match net.loss_kind() {
                Loss::SoftmaxCrossEntropy if l == last => {
                    k.softmax(z, out).unwrap();
                }
                Loss::SigmoidBinaryCrossEntropy if l == last => {
                    k.forward(Act::Sigmoid, z, out).unwrap();
                }
                _ => k.forward(layer.activation().kernel(), z, out).unwrap(),
            }
        }
        a = next;
    }
    a
}

/// Within `tol` of `expected`, relative to max(1, |expected|).
fn assert_close<T: Float>(found: MatRef<'_, T>, expected: MatRef<'_, T>, tol: f64, what: &str) {
    assert_eq!((found.nrows(), found.ncols()), (expected.nrows(), expected.ncols()));
    for j in 0..found.ncols() {
        for i in 0..found.nrows() {
            let (f, e) = (found[(i, j)].to_f64(), expected[(i, j)].to_f64());
            assert!((f - e).abs() <= tol * e.abs().max(1.0), "{what} ({i}, {j}): {f} vs {e}");
        }
    }
}

fn check_against_forward<T: Float>(net: &Network<T>) {
    // f32: the two summation orders differ by a few ulps of the pre-activations.
    let tol = if T::NAME == "f32" { 1e-5 } else { 1e-13 };
    let mut differs = false;
    for n in [0usize, 1, 2, 7, 300] {
        let x = inputs::<T>(net.n_inputs(), n, 10 + n as u64);
        let expected = reference(net, x.as_ref());
        let proba = net.predict_proba(x.as_ref()).unwrap();
        assert_eq!(bits(proba.as_ref()), bits(expected.as_ref()), "predict_proba, n={n}");
        let training = forward_whole(net, x.as_ref());
        assert_close(proba.as_ref(), training.as_ref(), tol, "predict_proba vs forward_into");
        differs |= bits(proba.as_ref()) != bits(training.as_ref());
        let expected_classes: Vec<usize> =
            (0..n).map(|j| net.class_of(expected.col_as_slice(j))).collect();
        assert_eq!(net.predict(x.as_ref()).unwrap(), expected_classes, "predict, n={n}");
        for chunk in [1, 64, 1000] {
            let mut p = Predictor::new(net, chunk).unwrap();
            let mut out = Mat::<T>::zeros(net.n_outputs(), n);
            p.predict_proba_into(x.as_ref(), out.as_mut()).unwrap();
            assert_eq!(bits(out.as_ref()), bits(expected.as_ref()), "n={n} chunk={chunk}");
            let mut classes = vec![usize::MAX; n];
            p.predict_into(x.as_ref(), &mut classes).unwrap();
            assert_eq!(classes, expected_classes);
        }
    }
    // Where faer fuses its multiply-adds (x86-64 with FMA): without FMA (the x86-64 baseline,
    // QEMU's `qemu64` in scripts/emulated-cpus.sh) faer's fallback GEMM adds each product to the
    // bias in order with two roundings, as the predictor then does, and gives the same bits.
    #[cfg(target_arch = "x86_64")]
    let faer_fuses = std::arch::is_x86_feature_detected!("fma");
    #[cfg(not(target_arch = "x86_64"))]
    let faer_fuses = true;
    if net.n_inputs() == 784 && faer_fuses {
        // On the large network the orders do round differently: the exact comparisons above
        // would catch the predictor falling back to faer.
        assert!(differs, "the predictor gave faer's bits on a 784-input network");
    }
}

#[test]
fn predictor_gives_the_reference_bits_and_the_forward_pass_within_rounding() {
    for net in networks() {
        check_against_forward(&net);
        check_against_forward(&net.cast::<f32>());
    }
}

/// `Network::predict_proba` of one sample: the bits of that sample in a batch (it once went
/// through faer's matrix-vector product, which rounds differently from its matrix product).
fn check_one_sample<T: Float>(net: &Network<T>) {
    let x = inputs::<T>(net.n_inputs(), 9, 5);
    let batch = net.predict_proba(x.as_ref()).unwrap();
    let classes = net.predict(x.as_ref()).unwrap();
    let mut p = Predictor::new(net, 4).unwrap();
    for (j, &class) in classes.iter().enumerate() {
        let one = net.predict_proba(x.as_ref().subcols(j, 1)).unwrap();
        assert_eq!(bits(one.as_ref()), bits(batch.as_ref().subcols(j, 1)), "sample {j}");
        assert_eq!(net.predict(x.as_ref().subcols(j, 1)).unwrap(), [class]);
        let slice_bits = |v: &[T]| v.iter().map(|v| v.to_bits_u64()).collect::<Vec<_>>();
        let fast = slice_bits(p.predict_one(x.col_as_slice(j)).unwrap());
        assert_eq!(fast, slice_bits(batch.col_as_slice(j)), "predict_one, sample {j}");
    }
}

#[test]
fn network_predict_proba_of_one_sample_is_its_column_of_any_batch() {
    for net in networks() {
        check_one_sample(&net);
        check_one_sample(&net.cast::<f32>());
    }
}

/// The outputs of every sample, predicted with `chunk` samples per pass on `threads` threads.
fn all_outputs<T: Float>(
    net: &Network<T>,
    x: MatRef<'_, T>,
    chunk: usize,
    threads: usize,
) -> Vec<u64> {
    let mut out = Mat::<T>::zeros(net.n_outputs(), x.ncols());
    let p = Predictor::new(net, chunk).unwrap();
    #[cfg(feature = "rayon")]
    let p = p.with_threads(threads).unwrap();
    #[cfg(not(feature = "rayon"))]
    assert_eq!(threads, 1);
    let mut p = p;
    let pool = rayon_pool(threads);
    run_in(&pool, || p.predict_proba_into(x, out.as_mut()).unwrap());
    bits(out.as_ref())
}

#[cfg(feature = "rayon")]
fn rayon_pool(threads: usize) -> Option<rayon::ThreadPool> {
    Some(rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap())
}
#[cfg(not(feature = "rayon"))]
fn rayon_pool(_: usize) -> Option<()> {
    None
}
#[cfg(feature = "rayon")]
fn run_in<R: Send>(pool: &Option<rayon::ThreadPool>, f: impl FnOnce() -> R + Send) -> R {
    pool.as_ref().unwrap().install(f)
}
#[cfg(not(feature = "rayon"))]
fn run_in<R>(_: &Option<()>, f: impl FnOnce() -> R) -> R {
    f()
}

fn thread_counts() -> Vec<usize> {
    if cfg!(feature = "rayon") { vec![1, 2, 3, 4] } else { vec![1] }
}

#[test]
fn outputs_are_the_same_bits_for_any_chunk_size_and_thread_count() {
    for net in networks() {
        let net = net.cast::<f32>();
        let x = inputs::<f32>(net.n_inputs(), 157, 7);
        let reference = all_outputs(&net, x.as_ref(), 157, 1);
        for chunk in [1, 2, 3, 16, 64, 100, 1000] {
            for threads in thread_counts() {
                assert_eq!(
                    all_outputs(&net, x.as_ref(), chunk, threads),
                    reference,
                    "{:?}: chunk {chunk}, {threads} threads",
                    net.sizes()
                );
            }
        }
        // The batch-1 path: each sample alone gives its column of the batch, bit for bit.
        let mut p = Predictor::new(&net, 1).unwrap();
        let n_out = net.n_outputs();
        for j in [0, 1, 56, 156] {
            let col: Vec<f32> = (0..net.n_inputs()).map(|i| x[(i, j)]).collect();
            let one: Vec<u64> =
                p.predict_one(&col).unwrap().iter().map(|v| v.to_bits_u64()).collect();
            assert_eq!(one, reference[j * n_out..(j + 1) * n_out], "sample {j}");
            let class = p.classify_one(&col).unwrap();
            let mut batch_classes = vec![0; 157];
            p.predict_into(x.as_ref(), &mut batch_classes).unwrap();
            assert_eq!(class, batch_classes[j]);
        }
    }
}

#[test]
fn predictor_errors_say_what_was_expected() {
    let net = networks().remove(3).cast::<f32>(); // 5-8-3
    assert!(matches!(Predictor::new(&net, 0), Err(Error::BatchSize { found: 0, .. })));
    let mut p = Predictor::new(&net, 4).unwrap();
    let x = inputs::<f32>(4, 3, 1);
    let mut out = Mat::<f32>::zeros(3, 3);
    assert!(matches!(
        p.predict_proba_into(x.as_ref(), out.as_mut()),
        Err(Error::InputRows { expected: 5, found: 4 })
    ));
    let x = inputs::<f32>(5, 3, 1);
    let mut wrong = Mat::<f32>::zeros(3, 2);
    let err = p.predict_proba_into(x.as_ref(), wrong.as_mut()).unwrap_err();
    assert!(matches!(err, Error::Shape(_)));
    assert_eq!(err.to_string(), "Predictor::predict_proba_into: out expected 3×3, found 3×2");
    let mut classes = vec![0; 2];
    assert!(matches!(
        p.predict_into(x.as_ref(), &mut classes),
        Err(Error::LabelCount { expected: 3, found: 2 })
    ));
    assert!(matches!(p.predict_one(&[1.0; 4]), Err(Error::InputRows { expected: 5, found: 4 })));
    assert!(matches!(p.classify_one(&[]), Err(Error::InputRows { expected: 5, found: 0 })));
    #[cfg(feature = "rayon")]
    assert!(matches!(
        Predictor::new(&net, 4).unwrap().with_threads(0),
        Err(Error::InvalidHyperparameter { .. })
    ));
    // Nothing to predict is not an error.
    let empty = inputs::<f32>(5, 0, 1);
    p.predict_proba_into(empty.as_ref(), Mat::<f32>::zeros(3, 0).as_mut()).unwrap();
    p.predict_into(empty.as_ref(), &mut []).unwrap();
}
