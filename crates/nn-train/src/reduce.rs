//! The seam between a training step and the sum of its shard gradients.
//!
//! A step cuts its batch into [`TrainConfig::n_shards`](crate::TrainConfig::n_shards) fixed
//! shards and needs their gradients summed **in shard order**, as a left fold
//! `((g₀ + g₁) + g₂) + …`: floating-point addition is not associative, so the order is part of
//! the result. A [`GradientReducer`] decides which of the shards this process computes and how the
//! sum over all of them is formed. [`LocalReducer`], the default, runs every shard here and adds
//! them in place; `nn-dist` runs contiguous runs of shards in several processes and passes the
//! partial fold from one to the next, so the additions, and therefore the bits, are the same.

use std::ops::Range;

use nn_core::{Float, Gradients, Workspace};
use nn_linalg::{Mat, MatMut};

use crate::Error;

/// Sums the gradients of a step's shards. See the [module documentation](self).
///
/// The trainer calls [`local_shards`](GradientReducer::local_shards) once, when the reducer is
/// attached, and [`reduce`](GradientReducer::reduce) once per step after its local shards ran
/// forward and backward. Every process of a group must call `reduce` for every step, also when a
/// local shard failed: the failure travels with the sums, so that every process stops at the same
/// step. `Send + Sync`, so that a [`Trainer`](crate::Trainer) holding one stays both.
pub trait GradientReducer<T: Float>: Send + Sync {
    /// The shards, out of `n_shards` (the configuration's count), whose gradients this process
    /// computes: a non-empty contiguous range.
    ///
    /// # Errors
    /// [`Error::Reduction`] when the shards cannot be split this way (fewer shards than
    /// processes).
    fn local_shards(&self, n_shards: usize) -> Result<Range<usize>, Error>;

    /// Sums the step's gradients over **all** shards, in shard order, into
    /// [`LocalShards::total_mut`], and the shards' losses (a left fold starting from `0.0`) and
    /// correct counts; tells whether every entry of the summed gradient is finite.
    ///
    /// # Errors
    /// The first error of a shard, in shard order (every process of a group returns an error at
    /// this step), and [`Error::Reduction`] when the processes cannot complete the sum.
    fn reduce(&mut self, shards: &mut LocalShards<'_, T>) -> Result<StepTotals, Error>;
}

/// What [`GradientReducer::reduce`] returns besides the summed gradient.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepTotals {
    /// The sum of the shards' loss shares (without the L2 penalty), in shard order from `0.0`.
    pub loss: f64,
    /// The number of samples classified right, over all shards.
    pub correct: usize,
    /// Whether every entry of the summed gradient is finite.
    pub finite: bool,
}

/// The default reducer: every shard runs in this process, and shards `1..` are added into shard
/// 0's buffer in shard order (split over the trainer's threads by columns, element-wise: the same
/// bits for any thread count).
#[derive(Clone, Copy, Debug, Default)]
pub struct LocalReducer;

impl<T: Float> GradientReducer<T> for LocalReducer {
    fn local_shards(&self, n_shards: usize) -> Result<Range<usize>, Error> {
        Ok(0..n_shards)
    }

    fn reduce(&mut self, shards: &mut LocalShards<'_, T>) -> Result<StepTotals, Error> {
        let (loss, correct) = shards.fold_outcomes(0.0, 0)?;
        let finite = shards.sum_in_order();
        Ok(StepTotals { loss, correct, finite })
    }
}

/// The buffers of one shard.
pub(crate) struct Shard<T: Float> {
    pub(crate) ws: Workspace<T>,
    pub(crate) grads: Gradients<T>,
    /// This shard's part of the last step: (loss share, samples classified right).
    pub(crate) result: Result<(f64, usize), Error>,
    /// The number of samples it had in the last step (0: its gradient buffer is stale).
    pub(crate) len: usize,
    /// The smoothed targets of its samples, outputs × capacity (0 × 0 without label smoothing).
    pub(crate) smoothed: Mat<T>,
}

/// The shards this process ran in one step, as a [`GradientReducer`] sees them: local shard `i`
/// is global shard [`first_shard`](LocalShards::first_shard)` + i`.
pub struct LocalShards<'a, T: Float> {
    pub(crate) shards: &'a mut [Shard<T>],
    pub(crate) first: usize,
    pub(crate) n_shards: usize,
    pub(crate) step: u64,
    pub(crate) parallel: bool,
}

impl<T: Float> LocalShards<'_, T> {
    /// The number of local shards.
    #[must_use]
    pub fn len(&self) -> usize {
        self.shards.len()
    }

    /// Whether there is no local shard (never, for a trainer).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.shards.is_empty()
    }

    /// The global index of local shard 0.
    #[must_use]
    pub fn first_shard(&self) -> usize {
        self.first
    }

    /// The number of shards over all processes.
    #[must_use]
    pub fn n_shards(&self) -> usize {
        self.n_shards
    }

    /// The trainer's step counter (optimizer steps taken before this one): the same in every
    /// process of a group that is in step.
    #[must_use]
    pub fn step(&self) -> u64 {
        self.step
    }

    /// The number of samples local shard `i` had in this step (0 when the batch had fewer samples
    /// than shards, or `i` is out of range).
    #[must_use]
    pub fn samples(&self, i: usize) -> usize {
        self.shards.get(i).map_or(0, |s| s.len)
    }

    /// The gradient of local shard `i`, or `None` if it had no samples in this step (its buffer
    /// is then stale and takes no part in the sum) or `i` is out of range.
    #[must_use]
    pub fn gradients(&self, i: usize) -> Option<&Gradients<T>> {
        self.shards.get(i).filter(|s| s.len > 0).map(|s| &s.grads)
    }

    /// Continues the fold of the shards' outcomes over the local shards, in order: adds each
    /// shard's loss share to `loss` and its correct count to `correct`.
    ///
    /// # Errors
    /// The first local shard's error, in shard order.
    pub fn fold_outcomes(&self, loss: f64, correct: usize) -> Result<(f64, usize), Error> {
        let (mut loss, mut correct) = (loss, correct);
        for shard in self.shards.iter() {
            let (l, c) = shard.result.clone()?;
            loss += l;
            correct += c;
        }
        Ok((loss, correct))
    }

    /// The first local shard's error, if one failed.
    #[must_use]
    pub fn first_error(&self) -> Option<&Error> {
        self.shards.iter().find_map(|s| s.result.as_ref().err())
    }

    /// Where the total must end up: the gradient buffer of local shard 0, which the trainer hands
    /// to the optimizer after `reduce`. Overwriting it destroys shard 0's own gradient.
    pub fn total_mut(&mut self) -> Option<&mut Gradients<T>> {
        self.shards.first_mut().map(|s| &mut s.grads)
    }

    /// The local sum: adds local shards `1..` into local shard 0 in shard order (skipping shards
    /// without samples) and tells whether every sum is finite. Inside the trainer's pool the
    /// columns are split over its threads (element-wise: the same bits).
    pub fn sum_in_order(&mut self) -> bool {
        let parallel = self.parallel;
        let Some((first, rest)) = self.shards.split_first_mut() else {
            return true;
        };
        let total = &mut first.grads;
        let mut finite = true;
        for layer_idx in 0..total.n_layers() {
            if let Some(dst) = total.layer_mut(layer_idx) {
                finite &= reduce_columns(dst, rest, layer_idx, 0, parallel);
            }
        }
        finite
    }
}

/// Adds the gradients of the non-empty shards `rest` into `dst` (shard 0's gradient of layer
/// `layer_idx`, columns `first_col..`) and tells whether every sum is finite. Inside a rayon pool,
/// halves the columns recursively with `rayon::join`.
fn reduce_columns<T: Float>(
    dst: MatMut<'_, T>,
    rest: &[Shard<T>],
    layer_idx: usize,
    first_col: usize,
    parallel: bool,
) -> bool {
    let n_cols = dst.ncols();
    if parallel && n_cols >= 64 && dst.nrows() * n_cols >= 1 << 14 {
        let mid = n_cols / 2;
        let (left, right) = dst.split_at_col_mut(mid);
        let (a, b) = rayon::join(
            || reduce_columns(left, rest, layer_idx, first_col, true),
            || reduce_columns(right, rest, layer_idx, first_col + mid, true),
        );
        return a && b;
    }
    let mut dst = dst;
    let mut sources = rest.iter().filter(|s| s.len > 0).filter_map(|s| {
        s.grads.layer(layer_idx).map(|g| g.subcols(first_col, n_cols)).and_then(nn_linalg::cols)
    });
    let (mut finite, mut ok) = (true, true);
    let check = |d: &[T], finite: &mut bool| {
        // A non-short-circuit `&=`: the loop stays a vectorizable and-reduction.
        for x in d {
            *finite &= x.is_finite();
        }
    };
    match sources.next() {
        // The common case, two shards: add and check in one loop.
        Some(mut src_cols) => {
            ok &= nn_linalg::cols_mut(dst.as_mut(), |_, d| {
                if let Some(src) = src_cols.next() {
                    for (x, &y) in d.iter_mut().zip(src) {
                        *x += y;
                        finite &= x.is_finite();
                    }
                }
            })
            .is_ok();
            // More shards: add them in order, then check the final sums.
            let mut more = false;
            for mut src_cols in sources {
                more = true;
                ok &= nn_linalg::cols_mut(dst.as_mut(), |_, d| {
                    if let Some(src) = src_cols.next() {
                        for (x, &y) in d.iter_mut().zip(src) {
                            *x += y;
                        }
                    }
                })
                .is_ok();
            }
            if more {
                finite = true;
                ok &= nn_linalg::cols_mut(dst.as_mut(), |_, d| check(d, &mut finite)).is_ok();
            }
        }
        None => ok &= nn_linalg::cols_mut(dst.as_mut(), |_, d| check(d, &mut finite)).is_ok(),
    }
    finite && ok
}

/// Samples `start..start + len` of a batch of `batch` samples that shard `shard` of `n_shards`
/// takes: `⌊batch/n⌋` samples each, one more for the first `batch mod n` shards.
#[must_use]
pub fn shard_span(batch: usize, n_shards: usize, shard: usize) -> Range<usize> {
    let n = n_shards.max(1);
    let (base, rem) = (batch / n, batch % n);
    let len = base + usize::from(shard < rem);
    let start = shard * base + shard.min(rem);
    start..start + len
}

#[cfg(test)]
mod tests {
    use super::shard_span;

    #[test]
    fn a_trainer_with_any_reducer_is_send_and_sync() {
        // Callers share a trainer across threads (the Python package releases the GIL with one).
        fn send_sync<S: Send + Sync>() {}
        send_sync::<crate::Trainer<f32>>();
        send_sync::<crate::Trainer<f64>>();
    }

    #[test]
    fn shard_spans_tile_the_batch_in_order() {
        for batch in 0..40 {
            for n in 1..9 {
                let mut next = 0;
                for i in 0..n {
                    let span = shard_span(batch, n, i);
                    assert_eq!(span.start, next);
                    assert!(span.len() == batch / n || span.len() == batch / n + 1);
                    next = span.end;
                }
                assert_eq!(next, batch);
            }
        }
    }
}
