//! The Python extension module `nnrs._nnrs`: the engine under the scikit-learn-compatible
//! estimators `nnrs.MLPClassifier` and `nnrs.MLPRegressor` (written in Python, in
//! `python/nnrs/`).
//!
//! It holds a `nn-core` network and its `nn-train` trainer per estimator, trains one epoch per
//! call on numpy's buffer without copying it (a C-ordered `(n, d)` array is the column-major
//! `d × n` matrix the crates want: samples as columns), releases the GIL while it computes,
//! looks for Ctrl-C between batches, and pickles as `nn-io`'s model format. Every error of the
//! crates below becomes a Python `ValueError`, `TypeError` or `RuntimeError`; nothing panics.
//!
//! What it deliberately does not do: validate input the way scikit-learn does (the Python side
//! calls scikit-learn's own validation first, for its exact messages), or encode labels.
//!
//! This crate is not a member of the repository's Cargo workspace: building it needs a Python
//! interpreter (PyO3's build script asks it for its configuration), which `cargo test
//! --workspace` must not. `pip install ./crates/nn-py` builds it with maturin.

#![forbid(unsafe_code)]

mod array;
mod config;
mod error;
mod model;
mod state;

use pyo3::prelude::*;

/// The module `nnrs._nnrs`.
#[pymodule]
fn _nnrs(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<model::Model>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
