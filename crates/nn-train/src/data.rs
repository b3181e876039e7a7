//! Data sets (samples as columns), seeded splits, and batches gathered into reused buffers.

use nn_core::rng::{ChaCha8Rng, SeedableRng, shuffle};
use nn_core::{Float, Targets};
use nn_linalg::{Mat, MatMut, MatRef};

use crate::Error;

/// The targets of a data set.
#[derive(Clone, Debug, PartialEq)]
pub enum TargetData<T: Float> {
    /// A class index per sample, each `< n_classes`.
    Classes {
        /// The labels.
        labels: Vec<usize>,
        /// The number of classes.
        n_classes: usize,
    },
    /// A target column per sample (regression, multi-label, probability targets): outputs ×
    /// samples.
    Matrix(Mat<T>),
}

/// Inputs (features × samples: **samples are columns**) and their targets.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset<T: Float> {
    inputs: Mat<T>,
    targets: TargetData<T>,
}

impl<T: Float> Dataset<T> {
    /// A classification data set.
    ///
    /// # Errors
    /// [`Error::TargetShape`] if the label count differs from the number of samples or a label is
    /// `≥ n_classes`.
    pub fn classification(
        inputs: Mat<T>,
        labels: Vec<usize>,
        n_classes: usize,
    ) -> Result<Self, Error> {
        if labels.len() != inputs.ncols() {
            return Err(Error::TargetShape {
                detail: format!("{} labels for {} samples", labels.len(), inputs.ncols()),
            });
        }
        if let Some((i, l)) = labels.iter().enumerate().find(|(_, l)| **l >= n_classes) {
            return Err(Error::TargetShape {
                detail: format!("label {l} of sample {i} is not below the {n_classes} classes"),
            });
        }
        Ok(Dataset { inputs, targets: TargetData::Classes { labels, n_classes } })
    }

    /// A data set with a target column per sample.
    ///
    /// # Errors
    /// [`Error::TargetShape`] if the target matrix has not one column per sample, or holds a
    /// non-finite value.
    pub fn with_target_matrix(inputs: Mat<T>, targets: Mat<T>) -> Result<Self, Error> {
        if targets.ncols() != inputs.ncols() {
            return Err(Error::TargetShape {
                detail: format!(
                    "{} target columns for {} samples",
                    targets.ncols(),
                    inputs.ncols()
                ),
            });
        }
        for j in 0..targets.ncols() {
            if let Some(i) = targets.col_as_slice(j).iter().position(|v| !v.is_finite()) {
                return Err(Error::TargetShape {
                    detail: format!("target ({i}, {j}) is not finite"),
                });
            }
        }
        Ok(Dataset { inputs, targets: TargetData::Matrix(targets) })
    }

    /// A classification data set from features stored sample after sample (`n_features`
    /// contiguous values per sample: the layout of an IDX image file), which is exactly a
    /// column-major features × samples matrix.
    ///
    /// # Errors
    /// [`Error::TargetShape`] if `values.len()` is not `n_features × labels.len()`, and those of
    /// [`Dataset::classification`].
    pub fn from_samples(
        n_features: usize,
        values: &[T],
        labels: Vec<usize>,
        n_classes: usize,
    ) -> Result<Self, Error> {
        if n_features.checked_mul(labels.len()) != Some(values.len()) {
            return Err(Error::TargetShape {
                detail: format!(
                    "{} values are not {} samples of {n_features} features",
                    values.len(),
                    labels.len()
                ),
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
            TargetData::Matrix(m) => Targets::Matrix(m.as_ref()),
        }
    }

    /// The labels, for a classification data set.
    #[must_use]
    pub fn labels(&self) -> Option<&[usize]> {
        match &self.targets {
            TargetData::Classes { labels, .. } => Some(labels),
            TargetData::Matrix(_) => None,
        }
    }

    /// The number of classes, for a classification data set.
    #[must_use]
    pub fn n_classes(&self) -> Option<usize> {
        match &self.targets {
            TargetData::Classes { n_classes, .. } => Some(*n_classes),
            TargetData::Matrix(_) => None,
        }
    }

    /// The samples at `indices`, in that order. Allocates.
    ///
    /// # Errors
    /// [`Error::TargetShape`] if an index is out of range.
    pub fn subset(&self, indices: &[usize]) -> Result<Self, Error> {
        let n = self.n_samples();
        if let Some(&bad) = indices.iter().find(|&&i| i >= n) {
            return Err(Error::TargetShape {
                detail: format!("sample index {bad} is out of range for {n} samples"),
            });
        }
        let inputs =
            Mat::from_fn(self.n_features(), indices.len(), |i, j| self.inputs[(i, indices[j])]);
        let targets = match &self.targets {
            TargetData::Classes { labels, n_classes } => TargetData::Classes {
                labels: indices.iter().map(|&i| labels[i]).collect(),
                n_classes: *n_classes,
            },
            TargetData::Matrix(m) => {
                TargetData::Matrix(Mat::from_fn(m.nrows(), indices.len(), |i, j| {
                    m[(i, indices[j])]
                }))
            }
        };
        Ok(Dataset { inputs, targets })
    }

    /// The first `n` samples (all of them if there are fewer). Allocates.
    #[must_use]
    pub fn head(&self, n: usize) -> Self {
        let n = n.min(self.n_samples());
        let inputs = self.inputs.as_ref().subcols(0, n).to_owned();
        let targets = match &self.targets {
            TargetData::Classes { labels, n_classes } => {
                TargetData::Classes { labels: labels[..n].to_vec(), n_classes: *n_classes }
            }
            TargetData::Matrix(m) => TargetData::Matrix(m.as_ref().subcols(0, n).to_owned()),
        };
        Dataset { inputs, targets }
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
    classes: bool,
}

impl<T: Float> Batch<T> {
    /// Buffers for batches of up to `capacity` samples of `data`. Allocates.
    #[must_use]
    pub fn for_dataset(data: &Dataset<T>, capacity: usize) -> Self {
        let (classes, n_targets) = match data.target_data() {
            TargetData::Classes { .. } => (true, 0),
            TargetData::Matrix(m) => (false, m.nrows()),
        };
        Batch {
            x: Mat::zeros(data.n_features(), capacity),
            labels: vec![0; if classes { capacity } else { 0 }],
            y: Mat::zeros(n_targets, if classes { 0 } else { capacity }),
            len: 0,
            classes,
        }
    }

    /// Copies the samples `indices` of `data` into the buffers, in that order. No allocation.
    ///
    /// # Errors
    /// [`Error::TargetShape`] if there are more indices than the capacity, an index is out of
    /// range, or `data` has other shapes than the data set the buffers were made for.
    pub fn gather(&mut self, data: &Dataset<T>, indices: &[usize]) -> Result<(), Error> {
        if indices.len() > self.x.ncols() {
            return Err(Error::TargetShape {
                detail: format!(
                    "{} samples for a batch of capacity {}",
                    indices.len(),
                    self.x.ncols()
                ),
            });
        }
        if data.n_features() != self.x.nrows() {
            return Err(Error::TargetShape {
                detail: format!(
                    "{} features for batch buffers of {}",
                    data.n_features(),
                    self.x.nrows()
                ),
            });
        }
        let n = data.n_samples();
        if let Some(&bad) = indices.iter().find(|&&i| i >= n) {
            return Err(Error::TargetShape {
                detail: format!("sample index {bad} is out of range for {n} samples"),
            });
        }
        // Inside a rayon pool (the trainer's), the copy is split over its threads.
        let parallel = rayon::current_thread_index().is_some();
        let dst = self.x.as_mut().subcols_mut(0, indices.len());
        gather_columns(dst, &data.inputs, indices, parallel);
        match (&data.targets, self.classes) {
            (TargetData::Classes { labels, .. }, true) => {
                for (k, &i) in indices.iter().enumerate() {
                    self.labels[k] = labels[i];
                }
            }
            (TargetData::Matrix(m), false) if m.nrows() == self.y.nrows() => {
                for (k, &i) in indices.iter().enumerate() {
                    self.y.col_as_slice_mut(k).copy_from_slice(m.col_as_slice(i));
                }
            }
            _ => {
                return Err(Error::TargetShape {
                    detail: "the batch buffers were made for another kind of targets".to_owned(),
                });
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

    /// The gathered targets.
    #[must_use]
    pub fn targets(&self) -> Targets<'_, T> {
        if self.classes {
            Targets::Classes(&self.labels[..self.len])
        } else {
            Targets::Matrix(self.y.as_ref().subcols(0, self.len))
        }
    }
}
