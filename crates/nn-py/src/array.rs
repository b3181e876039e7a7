//! numpy arrays as the matrices of the crates below, without copying.
//!
//! A C-ordered array of shape (n, d) stores sample after sample, `d` contiguous values each:
//! that is exactly a column-major d × n matrix, samples as columns, the layout of `nn-core`.
//! So the view is built over numpy's own buffer. Any other layout is refused with a
//! `TypeError`: the Python side converts such arrays once (`numpy.ascontiguousarray`) before
//! calling in.

use nn_io::StoredFloat;
use nn_linalg::MatRef;
use numpy::{Element, PyReadonlyArray2, PyUntypedArrayMethods};

use crate::error::Failure;

/// The samples of a C-ordered `(n, d)` array: a `d × n` column-major matrix over its buffer.
#[derive(Clone, Copy)]
pub(crate) struct Samples<'a, T> {
    values: &'a [T],
    pub(crate) n_features: usize,
    n_samples: usize,
}

impl<'a, T: StoredFloat> Samples<'a, T> {
    /// The samples in `values`, `n_features` contiguous values each.
    pub(crate) fn new(
        values: &'a [T],
        n_samples: usize,
        n_features: usize,
    ) -> Result<Self, Failure> {
        if n_samples.checked_mul(n_features) != Some(values.len()) {
            return Err(Failure::Type(format!(
                "{} values are not {n_samples} samples of {n_features} features",
                values.len()
            )));
        }
        Ok(Samples { values, n_features, n_samples })
    }

    pub(crate) fn n_samples(&self) -> usize {
        self.n_samples
    }

    /// The matrix, features × samples, without copying.
    pub(crate) fn matrix(&self) -> MatRef<'a, T> {
        MatRef::from_column_major_slice(self.values, self.n_features, self.n_samples)
    }

    /// Sample `j`'s features (`j < n_samples`, checked by the callers).
    pub(crate) fn sample(&self, j: usize) -> &'a [T] {
        &self.values[j * self.n_features..(j + 1) * self.n_features]
    }
}

/// The samples of a C-ordered `(n, d)` array, over its buffer.
///
/// # Errors
/// [`Failure::Type`] if the array is not C-contiguous.
pub(crate) fn samples<'a, T: StoredFloat + Element>(
    array: &'a PyReadonlyArray2<'_, T>,
) -> Result<Samples<'a, T>, Failure> {
    let (n, d) = (array.shape()[0], array.shape()[1]);
    if !array.is_c_contiguous() {
        return Err(Failure::Type(format!(
            "expected a C-contiguous array of shape ({n}, {d}); convert it with numpy.ascontiguousarray"
        )));
    }
    let values = array
        .as_slice()
        .map_err(|e| Failure::Type(format!("cannot view the array's memory: {e}")))?;
    Samples::new(values, n, d)
}
