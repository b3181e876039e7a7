//! Data sets (samples as columns), seeded splits, and batches gathered into reused buffers.

use nn_core::rng::{ChaCha8Rng, SeedableRng, shuffle};
use nn_core::{Float, Targets};
use nn_linalg::{Mat, MatMut, MatRef};

use crate::Error;

/// What a data set's targets are, and so which metrics [`evaluate`](crate::evaluate) computes
/// (nn-core's type, shared with nn-io's tables).
pub use nn_core::{ParseTaskError, Task};

/// The targets of a data set.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum TargetData<T: Float> {
    /// A class index per sample, each `< n_classes`.
    Classes {
        /// The labels.
        labels: Vec<usize>,
        /// The number of classes.
        n_classes: usize,
    },
    /// Real-valued targets: outputs × samples, all finite.
    Regression(Mat<T>),
    /// Label indicators: labels × samples, each 0 or 1.
    Multilabel(Mat<T>),
}

impl<T: Float> TargetData<T> {
    /// Which task these targets are for.
    #[must_use]
    pub fn task(&self) -> Task {
        match self {
            TargetData::Classes { .. } => Task::Classification,
            TargetData::Regression(_) => Task::Regression,
            TargetData::Multilabel(_) => Task::Multilabel,
        }
    }

    /// The target matrix of a regression or multi-label data set.
    #[must_use]
    pub fn matrix(&self) -> Option<&Mat<T>> {
        match self {
            TargetData::Classes { .. } => None,
            TargetData::Regression(m) | TargetData::Multilabel(m) => Some(m),
        }
    }

    /// The number of target rows: the outputs of a regression, the labels of a multi-label data
    /// set, 0 for class indices.
    #[must_use]
    pub fn n_rows(&self) -> usize {
        self.matrix().map_or(0, Mat::nrows)
    }

    /// The same kind of targets with the columns `indices`, in that order.
    fn select(&self, indices: &[usize]) -> Self {
        let pick = |m: &Mat<T>| Mat::from_fn(m.nrows(), indices.len(), |i, j| m[(i, indices[j])]);
        match self {
            TargetData::Classes { labels, n_classes } => TargetData::Classes {
                labels: indices.iter().map(|&i| labels[i]).collect(),
                n_classes: *n_classes,
            },
            TargetData::Regression(m) => TargetData::Regression(pick(m)),
            TargetData::Multilabel(m) => TargetData::Multilabel(pick(m)),
        }
    }
}

/// Inputs (features × samples: **samples are columns**) and their targets: class labels
/// ([`Dataset::classification`]), real values ([`Dataset::regression`]) or label indicators
/// ([`Dataset::multilabel`]). The constructors check that the targets fit the inputs.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset<T: Float> {
    inputs: Mat<T>,
    targets: TargetData<T>,
}

impl<T: Float> Dataset<T> {
    /// A classification data set: one class index per sample, each `< n_classes`. Train it with
    /// a softmax cross-entropy network of `n_classes` outputs (or a single-output sigmoid network
    /// for two classes).
    ///
    /// # Errors
    /// [`Error::LabelCount`] if the label count differs from the number of samples,
    /// [`Error::LabelOutOfRange`] for a label `≥ n_classes`.
    pub fn classification(
        inputs: Mat<T>,
        labels: Vec<usize>,
        n_classes: usize,
    ) -> Result<Self, Error> {
        if labels.len() != inputs.ncols() {
            return Err(Error::LabelCount { expected: inputs.ncols(), found: labels.len() });
        }
        if let Some((sample_idx, &label)) =
            labels.iter().enumerate().find(|(_, l)| **l >= n_classes)
        {
            return Err(Error::LabelOutOfRange { sample_idx, label, n_classes });
        }
        Ok(Dataset { inputs, targets: TargetData::Classes { labels, n_classes } })
    }

    /// A regression data set: `targets` is outputs × samples (one column per sample), every
    /// value finite. Train it with a mean-squared-error network.
    ///
    /// ```
    /// use nn_linalg::Mat;
    /// use nn_train::{Dataset, Task};
    ///
    /// let x = Mat::<f32>::from_fn(1, 5, |_, j| j as f32);
    /// let y = Mat::<f32>::from_fn(1, 5, |_, j| 2.0 * j as f32 + 1.0); // y = 2x + 1
    /// let data = Dataset::regression(x, y)?;
    /// assert_eq!((data.task(), data.n_samples()), (Task::Regression, 5));
    /// # Ok::<(), nn_train::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::TargetColumns`] if `targets` has not one column per sample,
    /// [`Error::NonFiniteTarget`] for a NaN or infinite value.
    pub fn regression(inputs: Mat<T>, targets: Mat<T>) -> Result<Self, Error> {
        check_target_matrix(&inputs, &targets)?;
        Ok(Dataset { inputs, targets: TargetData::Regression(targets) })
    }

    /// A multi-label data set: `targets` is labels × samples, each value 0 or 1 (label `i`
    /// applies to sample `j` when `targets[(i, j)]` is 1). Train it with a sigmoid binary
    /// cross-entropy network of one output per label.
    ///
    /// # Errors
    /// [`Error::TargetColumns`] if `targets` has not one column per sample,
    /// [`Error::NotBinaryTarget`] for a value other than 0 and 1.
    pub fn multilabel(inputs: Mat<T>, targets: Mat<T>) -> Result<Self, Error> {
        check_target_matrix(&inputs, &targets)?;
        for col in 0..targets.ncols() {
            for (row, &value) in targets.col_as_slice(col).iter().enumerate() {
                if value != T::ZERO && value != T::ONE {
                    return Err(Error::NotBinaryTarget { row, col, value: value.to_f64() });
                }
            }
        }
        Ok(Dataset { inputs, targets: TargetData::Multilabel(targets) })
    }

    /// A classification data set from features stored sample after sample (`n_features`
    /// contiguous values per sample: the layout of an IDX image file), which is exactly a
    /// column-major features × samples matrix.
    ///
    /// # Errors
    /// [`Error::ValueCount`] if `values.len()` is not `n_features × labels.len()`, and those of
    /// [`Dataset::classification`].
    pub fn from_samples(
        n_features: usize,
        values: &[T],
        labels: Vec<usize>,
        n_classes: usize,
    ) -> Result<Self, Error> {
        if n_features.checked_mul(labels.len()) != Some(values.len()) {
            return Err(Error::ValueCount {
                n_features,
                n_samples: labels.len(),
                found: values.len(),
            });
        }
        let inputs = Mat::from_fn(n_features, labels.len(), |i, j| values[j * n_features + i]);
        Dataset::classification(inputs, labels, n_classes)
    }

    /// A classification data set whose feature `i` of sample `j` is `feature(i, j)`: builds the
    /// inputs in place, with no intermediate buffer (for converting large image sets).
    ///
    /// # Errors
    /// As [`Dataset::classification`].
    pub fn classification_from_fn(
        n_features: usize,
        labels: Vec<usize>,
        n_classes: usize,
        feature: impl FnMut(usize, usize) -> T,
    ) -> Result<Self, Error> {
        let inputs = Mat::from_fn(n_features, labels.len(), feature);
        Dataset::classification(inputs, labels, n_classes)
    }

    /// Which task the targets are for.
    #[must_use]
    pub fn task(&self) -> Task {
        self.targets.task()
    }

    /// The number of samples.
    #[must_use]
    pub fn n_samples(&self) -> usize {
        self.inputs.ncols()
    }

    /// The number of features per sample.
    #[must_use]
    pub fn n_features(&self) -> usize {
        self.inputs.nrows()
    }

    /// The inputs, features × samples.
    #[must_use]
    pub fn inputs(&self) -> MatRef<'_, T> {
        self.inputs.as_ref()
    }

    /// The targets.
    #[must_use]
    pub fn target_data(&self) -> &TargetData<T> {
        &self.targets
    }

    /// The targets of all samples, as `nn-core` takes them.
    #[must_use]
    pub fn targets(&self) -> Targets<'_, T> {
        match &self.targets {
            TargetData::Classes { labels, .. } => Targets::Classes(labels),
            TargetData::Regression(m) | TargetData::Multilabel(m) => Targets::Matrix(m.as_ref()),
        }
    }

    /// The labels, for a classification data set.
    #[must_use]
    pub fn labels(&self) -> Option<&[usize]> {
        match &self.targets {
            TargetData::Classes { labels, .. } => Some(labels),
            _ => None,
        }
    }

    /// The number of classes, for a classification data set.
    #[must_use]
    pub fn n_classes(&self) -> Option<usize> {
        match &self.targets {
            TargetData::Classes { n_classes, .. } => Some(*n_classes),
            _ => None,
        }
    }

    /// The target matrix (outputs or labels × samples), for a regression or multi-label data set.
    #[must_use]
    pub fn target_matrix(&self) -> Option<MatRef<'_, T>> {
        self.targets.matrix().map(Mat::as_ref)
    }

    /// The samples at `indices`, in that order. Allocates.
    ///
    /// # Errors
    /// [`Error::SampleIndex`] if an index is out of range.
    pub fn subset(&self, indices: &[usize]) -> Result<Self, Error> {
        let n_samples = self.n_samples();
        if let Some(&index) = indices.iter().find(|&&i| i >= n_samples) {
            return Err(Error::SampleIndex { index, n_samples });
        }
        let inputs =
            Mat::from_fn(self.n_features(), indices.len(), |i, j| self.inputs[(i, indices[j])]);
        Ok(Dataset { inputs, targets: self.targets.select(indices) })
    }

    /// The first `n` samples (all of them if there are fewer). Allocates.
    #[must_use]
    pub fn head(&self, n: usize) -> Self {
        let n = n.min(self.n_samples());
        let indices: Vec<usize> = (0..n).collect();
        let inputs = self.inputs.as_ref().subcols(0, n).to_owned();
        Dataset { inputs, targets: self.targets.select(&indices) }
    }

    /// Splits off a validation set: a seeded random `fraction` of the samples (rounded down)
    /// goes to the second data set, the rest, in their original order, to the first.
    ///
    /// # Errors
    /// [`Error::InvalidHyperparameter`] unless `0 ≤ fraction < 1`.
    pub fn split_validation(&self, fraction: f64, seed: u64) -> Result<(Self, Self), Error> {
        crate::error::check_param("validation fraction", fraction, "a number in [0, 1)", |f| {
            (0.0..1.0).contains(&f)
        })?;
        let n = self.n_samples();
        let n_val = (n as f64 * fraction).floor() as usize;
        let mut perm: Vec<usize> = (0..n).collect();
        shuffle(&mut ChaCha8Rng::seed_from_u64(seed), &mut perm);
        let mut val: Vec<usize> = perm[..n_val].to_vec();
        let mut train: Vec<usize> = perm[n_val..].to_vec();
        val.sort_unstable();
        train.sort_unstable();
        Ok((self.subset(&train)?, self.subset(&val)?))
    }
}

/// Checks that a target matrix has one finite column per sample.
fn check_target_matrix<T: Float>(inputs: &Mat<T>, targets: &Mat<T>) -> Result<(), Error> {
    if targets.ncols() != inputs.ncols() {
        return Err(Error::TargetColumns { expected: inputs.ncols(), found: targets.ncols() });
    }
    for col in 0..targets.ncols() {
        if let Some((row, v)) =
            targets.col_as_slice(col).iter().enumerate().find(|(_, v)| !v.is_finite())
        {
            return Err(Error::NonFiniteTarget { row, col, value: v.to_f64() });
        }
    }
    Ok(())
}

/// Copies the columns `indices` of `src` into the columns of `dst`, in order; with `parallel`,
/// halves the work recursively with `rayon::join` on the current pool.
fn gather_columns<T: Float>(dst: MatMut<'_, T>, src: &Mat<T>, indices: &[usize], parallel: bool) {
    if parallel && indices.len() >= 32 {
        let mid = indices.len() / 2;
        let (left, right) = dst.split_at_col_mut(mid);
        let (first, second) = indices.split_at(mid);
        rayon::join(
            || gather_columns(left, src, first, true),
            || gather_columns(right, src, second, true),
        );
        return;
    }
    // Columns of an owned matrix and of its column ranges are contiguous: `cols_mut` cannot fail.
    let _ = nn_linalg::cols_mut(dst, |k, col| col.copy_from_slice(src.col_as_slice(indices[k])));
}

/// A batch gathered from a [`Dataset`] into buffers allocated once for `capacity` samples.
#[derive(Clone, Debug)]
pub struct Batch<T: Float> {
    x: Mat<T>,
    labels: Vec<usize>,
    y: Mat<T>,
    len: usize,
    task: Task,
}

impl<T: Float> Batch<T> {
    /// Buffers for batches of up to `capacity` samples of `data`. Allocates.
    #[must_use]
    pub fn for_dataset(data: &Dataset<T>, capacity: usize) -> Self {
        let task = data.task();
        let classes = task == Task::Classification;
        Batch {
            x: Mat::zeros(data.n_features(), capacity),
            labels: vec![0; if classes { capacity } else { 0 }],
            y: Mat::zeros(data.targets.n_rows(), if classes { 0 } else { capacity }),
            len: 0,
            task,
        }
    }

    /// The largest number of samples the buffers hold.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.x.ncols()
    }

    /// Whether the buffers were made for data shaped like `data`: the same number of features,
    /// the same task and the same number of target rows. [`Batch::gather`] refuses other data.
    #[must_use]
    pub fn fits(&self, data: &Dataset<T>) -> bool {
        data.n_features() == self.x.nrows()
            && data.task() == self.task
            && data.targets.n_rows() == self.y.nrows()
    }

    /// Copies the samples `indices` of `data` into the buffers, in that order. No allocation.
    ///
    /// # Errors
    /// [`Error::BatchCapacity`] if there are more indices than the capacity,
    /// [`Error::BatchMismatch`] if `data` is not shaped like the data set the buffers were made
    /// for ([`Batch::fits`]), [`Error::SampleIndex`] if an index is out of range.
    pub fn gather(&mut self, data: &Dataset<T>, indices: &[usize]) -> Result<(), Error> {
        if indices.len() > self.capacity() {
            return Err(Error::BatchCapacity { capacity: self.capacity(), found: indices.len() });
        }
        if !self.fits(data) {
            return Err(Error::BatchMismatch {
                expected_features: self.x.nrows(),
                expected: self.task,
                expected_rows: self.y.nrows(),
                found_features: data.n_features(),
                found: data.task(),
                found_rows: data.targets.n_rows(),
            });
        }
        let n_samples = data.n_samples();
        if let Some(&index) = indices.iter().find(|&&i| i >= n_samples) {
            return Err(Error::SampleIndex { index, n_samples });
        }
        // Inside a rayon pool (the trainer's), the copy is split over its threads.
        let parallel = rayon::current_thread_index().is_some();
        let dst = self.x.as_mut().subcols_mut(0, indices.len());
        gather_columns(dst, &data.inputs, indices, parallel);
        match &data.targets {
            TargetData::Classes { labels, .. } => {
                for (k, &i) in indices.iter().enumerate() {
                    self.labels[k] = labels[i];
                }
            }
            TargetData::Regression(m) | TargetData::Multilabel(m) => {
                for (k, &i) in indices.iter().enumerate() {
                    self.y.col_as_slice_mut(k).copy_from_slice(m.col_as_slice(i));
                }
            }
        }
        self.len = indices.len();
        Ok(())
    }

    /// The number of samples gathered.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no sample is gathered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The gathered inputs, features × len.
    #[must_use]
    pub fn inputs(&self) -> MatRef<'_, T> {
        self.x.as_ref().subcols(0, self.len)
    }

    /// The gathered inputs, for augmentation in place.
    pub(crate) fn inputs_mut(&mut self) -> MatMut<'_, T> {
        self.x.as_mut().subcols_mut(0, self.len)
    }

    /// The gathered targets.
    #[must_use]
    pub fn targets(&self) -> Targets<'_, T> {
        if self.task == Task::Classification {
            Targets::Classes(&self.labels[..self.len])
        } else {
            Targets::Matrix(self.y.as_ref().subcols(0, self.len))
        }
    }
}
