//! `nnrs._nnrs.Model`: the Python class over [`State`], in `f32` or `f64`.

use std::collections::HashMap;

use nn_io::StoredFloat;
use numpy::ndarray::Array2;
use numpy::{Element, IntoPyArray, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyTuple};

use crate::array::samples;
use crate::config::{self, SolverParams};
use crate::error::Failure;
use crate::state::{Architecture, Epoch, Output, State, TargetValues, Training};

/// The network of one float type.
enum Inner {
    F32(State<f32>),
    F64(State<f64>),
}

/// Runs `$body` with `$s` bound to the state, whatever its float type.
macro_rules! dispatch {
    ($inner:expr, $s:ident => $body:expr) => {
        match $inner {
            Inner::F32($s) => $body,
            Inner::F64($s) => $body,
        }
    };
}

/// A network, its training state and the epoch loop: the engine under `nnrs.MLPClassifier` and
/// `nnrs.MLPRegressor` (which validate everything before calling in). Pickles as our model
/// format: a training checkpoint once training started, a model file before.
#[pyclass(module = "nnrs._nnrs", name = "Model")]
pub(crate) struct Model {
    inner: Inner,
}

/// The numpy array `x` as samples, if it is a C-ordered 2-D array of `T`.
fn readonly<'py, T: Element>(
    x: &Bound<'py, PyAny>,
    what: &str,
) -> Result<PyReadonlyArray2<'py, T>, Failure> {
    x.extract::<PyReadonlyArray2<'py, T>>().map_err(|_| {
        Failure::Type(format!(
            "{what} must be a 2-D numpy array of {}",
            std::any::type_name::<T>().replace("f32", "float32").replace("f64", "float64")
        ))
    })
}

fn run_epoch_typed<T: StoredFloat + Element>(
    state: &mut State<T>,
    py: Python<'_>,
    x: &Bound<'_, PyAny>,
    y: &Bound<'_, PyAny>,
    epoch: Epoch<'_>,
) -> Result<f64, Failure> {
    let x_array = readonly::<T>(x, "X")?;
    let x = samples(&x_array)?;
    let labels;
    let rows;
    let targets = match state.output() {
        Output::Identity => {
            rows = readonly::<T>(y, "y")?;
            TargetValues::Rows(samples(&rows)?)
        }
        Output::Sigmoid if state.net.n_outputs() > 1 => {
            rows = readonly::<T>(y, "y")?;
            TargetValues::Rows(samples(&rows)?)
        }
        Output::Softmax | Output::Sigmoid => {
            labels = y.extract::<PyReadonlyArray1<'_, i64>>().map_err(|_| {
                Failure::Type("y must be a 1-D numpy array of int64 class indices".to_owned())
            })?;
            TargetValues::Labels(labels.as_slice().map_err(|e| Failure::Type(e.to_string()))?)
        }
    };
    // The GIL is released for the epoch and taken back only to look for Ctrl-C.
    py.detach(|| {
        state.run_epoch(x, targets, epoch, &mut || {
            #[allow(
                clippy::redundant_closure_for_method_calls,
                reason = "the method is not general over the lifetime"
            )]
            Python::attach(|py| py.check_signals()).map_err(Failure::Python)
        })
    })
}

fn predict_typed<'py, T: StoredFloat + Element>(
    state: &State<T>,
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    n_threads: usize,
) -> Result<Bound<'py, PyAny>, Failure> {
    let x_array = readonly::<T>(x, "X")?;
    let x = samples(&x_array)?;
    let (n, k) = (x.n_samples(), state.net.n_outputs());
    let mut out = vec![T::ZERO; n * k];
    py.detach(|| state.predict_into(x, &mut out, n_threads))?;
    let array = Array2::from_shape_vec((n, k), out)
        .map_err(|e| Failure::Runtime(format!("cannot shape the predictions: {e}")))?;
    Ok(array.into_pyarray(py).into_any())
}

/// A layer's weights and biases as numpy arrays.
type LayerArrays<'py> = (Bound<'py, PyAny>, Bound<'py, PyAny>);

fn coefs_typed<'py, T: StoredFloat + Element>(
    state: &State<T>,
    py: Python<'py>,
) -> Result<Vec<LayerArrays<'py>>, Failure> {
    state
        .coefs_and_intercepts()
        .into_iter()
        .map(|(n_in, n_out, weights, biases)| {
            let w = Array2::from_shape_vec((n_in, n_out), weights)
                .map_err(|e| Failure::Runtime(format!("cannot shape the weights: {e}")))?;
            Ok((w.into_pyarray(py).into_any(), biases.into_pyarray(py).into_any()))
        })
        .collect()
}

#[pymethods]
impl Model {
    /// A new network: `n_inputs`, the `hidden` layer widths with `activation`, `n_outputs` with
    /// `output` (`softmax`, `logistic` or `identity`), in `precision` (`float32` or `float64`),
    /// with the L2 penalty `l2`, weights drawn from `seed`.
    #[new]
    #[pyo3(signature = (n_inputs, hidden, activation, n_outputs, output, precision, l2, seed))]
    #[allow(clippy::too_many_arguments, reason = "the arguments of a Python constructor")]
    fn new(
        n_inputs: usize,
        hidden: Vec<usize>,
        activation: &str,
        n_outputs: usize,
        output: &str,
        precision: &str,
        l2: f64,
        seed: u64,
    ) -> PyResult<Self> {
        let arch = Architecture {
            n_inputs,
            hidden,
            activation: config::activation(activation)?,
            n_outputs,
            output: Output::from_name(output)?,
            l2,
        };
        let inner = match precision {
            "float32" => Inner::F32(State::build(&arch, seed)?),
            "float64" => Inner::F64(State::build(&arch, seed)?),
            other => {
                return Err(Failure::Value(format!(
                    "unknown precision {other:?}: expected float32 or float64"
                ))
                .into());
            }
        };
        Ok(Model { inner })
    }

    /// The model in `data` (from `to_bytes`, or a model file or checkpoint written by `nn-io`).
    #[staticmethod]
    fn from_bytes(data: &[u8]) -> PyResult<Self> {
        let loaded = nn_io::decode_model(data).map_err(Failure::from)?;
        let inner = match loaded.network.precision() {
            nn_io::Precision::F32 => Inner::F32(State::from_bytes(data)?),
            nn_io::Precision::F64 => Inner::F64(State::from_bytes(data)?),
        };
        Ok(Model { inner })
    }

    /// The model as bytes of our format: a training checkpoint once training is configured, a
    /// model file before.
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = dispatch!(&self.inner, s => s.to_bytes())?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// Pickling: `Model.from_bytes(model.to_bytes())`.
    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let from_bytes = py.get_type::<Model>().getattr("from_bytes")?;
        let args = PyTuple::new(py, [self.to_bytes(py)?])?;
        PyTuple::new(py, [from_bytes, args.into_any()])
    }

    /// `float32` or `float64`.
    #[getter]
    fn precision(&self) -> &'static str {
        match self.inner {
            Inner::F32(_) => "float32",
            Inner::F64(_) => "float64",
        }
    }

    /// The widths of all layers of units, inputs first.
    #[getter]
    fn sizes(&self) -> Vec<usize> {
        dispatch!(&self.inner, s => s.net.sizes())
    }

    /// The output function: `softmax`, `logistic` or `identity`.
    #[getter]
    fn output(&self) -> &'static str {
        dispatch!(&self.inner, s => s.output().name())
    }

    /// The hidden layers' activation (`None` without hidden layers).
    #[getter]
    fn activation(&self) -> Option<String> {
        dispatch!(&self.inner, s => {
            let layers = s.net.layers();
            (layers.len() > 1).then(|| layers[0].activation().to_string())
        })
    }

    /// λ of the L2 penalty.
    #[getter]
    fn l2(&self) -> f64 {
        dispatch!(&self.inner, s => nn_core::Float::to_f64(s.net.l2()))
    }

    /// Whether training is configured (a trainer with its optimizer state exists).
    #[getter]
    fn is_configured(&self) -> bool {
        dispatch!(&self.inner, s => s.trainer().is_some())
    }

    /// Optimizer steps taken since training was configured.
    #[getter]
    fn n_steps(&self) -> u64 {
        dispatch!(&self.inner, s => s.trainer().map_or(0, nn_train::Trainer::n_steps))
    }

    /// The learning rate of the next step (`None` before training is configured).
    #[getter]
    fn learning_rate(&self) -> Option<f64> {
        dispatch!(&self.inner, s => s.trainer().map(nn_train::Trainer::learning_rate))
    }

    /// Starts training afresh with these settings (a new optimizer state and shuffling order).
    #[pyo3(signature = (
        *, solver, learning_rate, momentum, nesterov, beta_1, beta_2, epsilon, weight_decay,
        batch_size, dropout, schedule, schedule_params, n_threads, seed, max_iter
    ))]
    #[allow(clippy::too_many_arguments, reason = "the keyword arguments of a Python method")]
    fn configure(
        &mut self,
        solver: &str,
        learning_rate: f64,
        momentum: f64,
        nesterov: bool,
        beta_1: f64,
        beta_2: f64,
        epsilon: f64,
        weight_decay: f64,
        batch_size: usize,
        dropout: Vec<f64>,
        schedule: &str,
        schedule_params: &Bound<'_, PyDict>,
        n_threads: usize,
        seed: u64,
        max_iter: usize,
    ) -> PyResult<()> {
        let params = SolverParams { momentum, nesterov, beta_1, beta_2, epsilon, weight_decay };
        let training = Training {
            optimizer: config::optimizer(solver, &params)?,
            learning_rate,
            schedule: config::schedule(
                schedule,
                &schedule_params.extract::<HashMap<String, f64>>()?,
            )?,
            batch_size,
            dropout,
            n_threads,
            seed,
            epochs: max_iter,
        };
        dispatch!(&mut self.inner, s => s.configure(training))?;
        Ok(())
    }

    /// One epoch over `x` (C-ordered `(n, d)`, of the model's float type: not copied) and `y`
    /// (int64 class indices for softmax and binary models, a C-ordered `(n, k)` array of the
    /// float type otherwise), restricted to the samples `indices` if given; returns the mean
    /// training loss. The GIL is released; Ctrl-C raises `KeyboardInterrupt` between batches.
    #[pyo3(signature = (x, y, *, batch_size, shuffle, n_threads, indices = None))]
    #[allow(clippy::too_many_arguments, reason = "the keyword arguments of a Python method")]
    fn run_epoch(
        &mut self,
        py: Python<'_>,
        x: &Bound<'_, PyAny>,
        y: &Bound<'_, PyAny>,
        batch_size: usize,
        shuffle: bool,
        n_threads: usize,
        indices: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<f64> {
        let index_array = match indices {
            Some(a) => Some(a.extract::<PyReadonlyArray1<'_, i64>>().map_err(|_| {
                Failure::Type("indices must be a 1-D numpy array of int64".to_owned())
            })?),
            None => None,
        };
        let indices = match &index_array {
            Some(a) => Some(a.as_slice().map_err(|e| Failure::Type(e.to_string()))?),
            None => None,
        };
        let epoch = Epoch { indices, batch_size, shuffle, n_threads };
        let loss = dispatch!(&mut self.inner, s => run_epoch_typed(s, py, x, y, epoch))?;
        Ok(loss)
    }

    /// Ends an epoch: the schedule's epoch step (`monitored`: the loss reduce-on-plateau watches).
    #[pyo3(signature = (monitored = None))]
    fn end_epoch(&mut self, monitored: Option<f64>) -> PyResult<()> {
        dispatch!(&mut self.inner, s => s.end_epoch(monitored))?;
        Ok(())
    }

    /// The outputs for `x` (C-ordered `(n, d)` of the model's float type: not copied) as an
    /// `(n, n_outputs)` array: class probabilities (softmax, or the sigmoid of each output) or
    /// regression values. The GIL is released.
    #[pyo3(signature = (x, *, n_threads))]
    fn predict<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        n_threads: usize,
    ) -> PyResult<Bound<'py, PyAny>> {
        Ok(dispatch!(&self.inner, s => predict_typed(s, py, x, n_threads))?)
    }

    /// `(coefs, intercepts)`: per layer, the weights `(n_in, n_out)` and the biases `(n_out,)`,
    /// copies in the model's float type.
    #[allow(clippy::type_complexity, reason = "two lists of arrays")]
    fn parameters<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(Vec<Bound<'py, PyAny>>, Vec<Bound<'py, PyAny>>)> {
        let pairs = dispatch!(&self.inner, s => coefs_typed(s, py))?;
        Ok(pairs.into_iter().unzip())
    }

    /// Keeps a copy of the current parameters (early stopping's best epoch).
    fn save_best(&mut self) {
        dispatch!(&mut self.inner, s => s.save_best());
    }

    /// Puts back the parameters kept by `save_best`, if any.
    fn restore_best(&mut self) -> PyResult<()> {
        dispatch!(&mut self.inner, s => s.restore_best())?;
        Ok(())
    }
}
