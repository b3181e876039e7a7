//! Every error of the crates below, as the Python exception scikit-learn users expect.

use pyo3::PyErr;
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};

/// Why a call into the extension failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// A value the caller passed is wrong (an array's shape or contents, a label, a setting):
    /// `ValueError`.
    Value(String),
    /// An argument of the wrong type or memory layout: `TypeError`.
    Type(String),
    /// Something the caller cannot fix (threads that cannot start): `RuntimeError`.
    Runtime(String),
    /// A Python exception raised while the extension waited (Ctrl-C: `KeyboardInterrupt`).
    Python(PyErr),
}

impl From<nn_core::Error> for Failure {
    fn from(e: nn_core::Error) -> Self {
        Failure::Value(e.to_string())
    }
}

impl From<nn_train::Error> for Failure {
    fn from(e: nn_train::Error) -> Self {
        match e {
            nn_train::Error::ThreadPool { .. } => Failure::Runtime(e.to_string()),
            other => Failure::Value(other.to_string()),
        }
    }
}

impl From<nn_io::CheckpointError> for Failure {
    fn from(e: nn_io::CheckpointError) -> Self {
        Failure::Value(format!("not a valid nnrs model: {e}"))
    }
}

impl From<PyErr> for Failure {
    fn from(e: PyErr) -> Self {
        Failure::Python(e)
    }
}

impl From<Failure> for PyErr {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Value(m) => PyValueError::new_err(m),
            Failure::Type(m) => PyTypeError::new_err(m),
            Failure::Runtime(m) => PyRuntimeError::new_err(m),
            Failure::Python(e) => e,
        }
    }
}
