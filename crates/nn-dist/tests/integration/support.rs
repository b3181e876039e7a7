//! Helpers shared by the tests.

use nn_core::rng::{ChaCha8Rng, SeedableRng, uniform_f64};
use nn_core::{Activation, Float, Loss, Network};
use nn_dist::{Element, Group, Options};
use nn_linalg::Mat;
use nn_train::{Dataset, NoObserver, Observer, TrainConfig, Trainer, TrainerState};

/// Runs `f` on each member of an in-process group of `n` ranks, each on its own thread; returns
/// the results in rank order.
pub(crate) fn on_ranks<R: Send>(
    n: usize,
    options: Options,
    f: impl Fn(Group) -> R + Sync,
) -> Vec<R> {
    let groups = Group::threads(n, options).unwrap();
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = groups.into_iter().map(|g| s.spawn(move || f(g))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// Options with a short timeout, for the fault tests.
pub(crate) fn quick() -> Options {
    Options::default()
        .with_timeout(std::time::Duration::from_millis(300))
        .with_startup_timeout(std::time::Duration::from_secs(20))
}

/// A classification network with `hidden` activations and a softmax cross-entropy output.
pub(crate) fn classifier<T: Float>(sizes: &[usize], hidden: Activation, seed: u64) -> Network<T> {
    let mut b = Network::builder(sizes[0], Loss::SoftmaxCrossEntropy);
    for &n in &sizes[1..sizes.len() - 1] {
        b = b.layer(n, hidden);
    }
    b.layer(sizes[sizes.len() - 1], Activation::Identity)
        .build(&mut ChaCha8Rng::seed_from_u64(seed))
        .unwrap()
}

/// Blobs: `n` samples of `n_features` features in `n_classes` classes.
pub(crate) fn blobs<T: Float>(
    n: usize,
    n_features: usize,
    n_classes: usize,
    seed: u64,
) -> Dataset<T> {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    let labels: Vec<usize> = (0..n).map(|k| k % n_classes).collect();
    let x = Mat::<T>::from_fn(n_features, n, |i, j| {
        let center = if (i + labels[j]).is_multiple_of(n_classes) { 1.5 } else { -0.5 };
        T::from_f64(center + uniform_f64(&mut r) - 0.5)
    });
    Dataset::classification(x, labels, n_classes).unwrap()
}

/// Every parameter's bits, layer after layer.
pub(crate) fn bits<T: Float>(net: &Network<T>) -> Vec<u64> {
    net.layers().iter().flat_map(nn_core::Dense::theta_col_major).map(Float::to_bits_u64).collect()
}

/// What a run ends with: the parameters' bits and, per epoch, the bits of the training loss and
/// accuracy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Outcome {
    pub(crate) params: Vec<u64>,
    pub(crate) history: Vec<(u64, Option<u64>)>,
}

pub(crate) fn outcome<T: Float>(net: &Network<T>, trainer: &Trainer<T>) -> Outcome {
    Outcome {
        params: bits(net),
        history: trainer
            .history()
            .iter()
            .map(|h| (h.train_loss.to_bits(), h.train_accuracy.map(f64::to_bits)))
            .collect(),
    }
}

/// Trains `start` on `data` in one process with the local reducer.
pub(crate) fn train_alone<T: Float>(
    start: &Network<T>,
    data: &Dataset<T>,
    config: &TrainConfig,
    state: Option<TrainerState<T>>,
) -> (Network<T>, Trainer<T>) {
    let mut net = start.clone();
    let mut trainer = match state {
        Some(s) => Trainer::resume(&net, config.clone(), s).unwrap(),
        None => Trainer::new(&net, config.clone()).unwrap(),
    };
    trainer.fit(&mut net, data, None, &mut NoObserver).unwrap();
    (net, trainer)
}

/// Trains as one member of `group`: rank 0's copy of `start` is broadcast first.
pub(crate) fn train_in_group<T: Float + Element>(
    group: &Group,
    start: &Network<T>,
    data: &Dataset<T>,
    config: &TrainConfig,
    state: Option<TrainerState<T>>,
    observer: &mut (dyn Observer<T> + Send),
) -> Result<(Network<T>, Trainer<T>), nn_train::Error> {
    let mut net = start.clone();
    group.broadcast_parameters(&mut net)?;
    let reducer = group.chain_reducer(&net)?;
    let trainer = match state {
        Some(s) => Trainer::resume(&net, config.clone(), s)?,
        None => Trainer::new(&net, config.clone())?,
    };
    let mut trainer = trainer.with_reducer(&net, reducer)?;
    trainer.fit(&mut net, data, None, observer)?;
    Ok((net, trainer))
}
