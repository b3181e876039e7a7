"""Checks of the constructor parameters, with scikit-learn's messages.

scikit-learn checks parameters in ``fit`` (never in ``__init__`` or ``set_params``) and raises
``InvalidParameterError``, a subclass of both ``ValueError`` and ``TypeError``, with messages such
as ``The 'alpha' parameter of MLPClassifier must be a float in the range [0.0, inf). Got -1
instead.`` The same happens here, with the same wording, so that code written against
scikit-learn's estimators catches the same exceptions.
"""

import math
import numbers

import numpy as np

try:  # The class scikit-learn raises, so that `except InvalidParameterError` catches ours.
    from sklearn.utils._param_validation import InvalidParameterError
except ImportError:  # pragma: no cover - older or newer scikit-learn without it

    class InvalidParameterError(ValueError, TypeError):
        """A constructor parameter of the wrong type or outside its domain."""


ACTIVATIONS = (
    "identity",
    "logistic",
    "tanh",
    "relu",
    "leaky_relu",
    "elu",
    "gelu",
    "gelu_tanh",
    "silu",
    "softplus",
)
SOLVERS = ("sgd", "adam", "adamw", "rmsprop")
PRECISIONS = ("float32", "float64")

#: Each schedule's parameters and their defaults; `None` is filled from the fit (see
#: `schedule_params`).
SCHEDULES = {
    "constant": {},
    "step": {"step_epochs": None, "gamma": 0.1},
    "exponential": {"gamma": 0.95},
    "cosine": {"t_max_epochs": None, "eta_min": 0.0},
    "one_cycle": {"total_steps": None, "pct_start": 0.3, "div_factor": 25.0, "final_div_factor": 1e4},
    "inverse_scaling": {"power_t": 0.5},
    "plateau": {"factor": 0.1, "patience": 10, "threshold": 1e-4, "min_lr": 0.0, "cooldown": 0},
}


def _fmt(value):
    return repr(value)


class _Interval:
    def __init__(self, kind, low, high, closed):
        self.kind, self.low, self.high, self.closed = kind, low, high, closed

    def accepts(self, v):
        if isinstance(v, (bool, np.bool_)):
            return False
        if self.kind == "int":
            if not isinstance(v, numbers.Integral):
                return False
        elif not isinstance(v, numbers.Real):
            return False
        if isinstance(v, numbers.Real) and math.isnan(v):
            return False
        lo_ok = self.low is None or (v >= self.low if self.closed in ("left", "both") else v > self.low)
        hi_ok = self.high is None or (v <= self.high if self.closed in ("right", "both") else v < self.high)
        return lo_ok and hi_ok

    def __str__(self):
        left = "[" if self.closed in ("left", "both") else "("
        right = "]" if self.closed in ("right", "both") else ")"
        cast = (lambda x: x) if self.kind == "int" else float
        low = "-inf" if self.low is None else cast(self.low)
        high = "inf" if self.high is None else cast(self.high)
        return f"{'an int' if self.kind == 'int' else 'a float'} in the range {left}{low}, {high}{right}"


class _Options:
    def __init__(self, options):
        self.options = options

    def accepts(self, v):
        return isinstance(v, str) and v in self.options

    def __str__(self):
        return "a str among {" + ", ".join(repr(o) for o in sorted(self.options)) + "}"


class _Bool:
    def accepts(self, v):
        return isinstance(v, (bool, np.bool_))

    def __str__(self):
        return "an instance of 'bool' or an instance of 'numpy.bool'"


class _NoneOk:
    def accepts(self, v):
        return v is None

    def __str__(self):
        return "None"


class _RandomState:
    def accepts(self, v):
        return isinstance(v, np.random.RandomState)

    def __str__(self):
        return "an instance of 'numpy.random.mtrand.RandomState'"


class _InfOk:
    def accepts(self, v):
        return isinstance(v, numbers.Real) and v == math.inf

    def __str__(self):
        return "a float among {inf}"


def _int(low, high=None, closed="left"):
    return _Interval("int", low, high, closed)


def _float(low, high=None, closed="left"):
    return _Interval("float", low, high, closed)


CONSTRAINTS = {
    "activation": [_Options(ACTIVATIONS)],
    "solver": [_Options(SOLVERS)],
    "alpha": [_float(0)],
    "batch_size": [_Options(("auto",)), _int(1)],
    "learning_rate_init": [_float(0, closed="neither")],
    "max_iter": [_int(1)],
    "shuffle": [_Bool()],
    "random_state": [_int(0, 2**32 - 1, closed="both"), _RandomState(), _NoneOk()],
    "tol": [_float(0)],
    "verbose": [_int(0), _Bool()],
    "momentum": [_float(0, 1, closed="left")],
    "nesterovs_momentum": [_Bool()],
    "early_stopping": [_Bool()],
    "validation_fraction": [_float(0, 1, closed="neither")],
    "beta_1": [_float(0, 1, closed="left")],
    "beta_2": [_float(0, 1, closed="left")],
    "epsilon": [_float(0, closed="neither")],
    "n_iter_no_change": [_int(1), _InfOk()],
    "n_threads": [_int(1, 1024, closed="both"), _NoneOk()],
    "precision": [_Options(PRECISIONS)],
}


def _fail(name, estimator, expected, value):
    raise InvalidParameterError(
        f"The {name!r} parameter of {type(estimator).__name__} must be {expected}. "
        f"Got {_fmt(value)} instead."
    )


def _describe(constraints):
    # scikit-learn counts "a bool" as two types, each a part of the list.
    parts = [p for c in constraints for p in str(c).split(" or ")]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " or " + parts[-1]


def validate_params(estimator):
    """Checks every constructor parameter of `estimator` (scikit-learn's messages)."""
    params = estimator.get_params(deep=False)
    for name, constraints in CONSTRAINTS.items():
        value = params[name]
        if not any(c.accepts(value) for c in constraints):
            _fail(name, estimator, _describe(constraints), value)
    hidden_layer_sizes(estimator)
    dropout_rates(estimator)
    schedule_name_and_params(estimator)


def hidden_layer_sizes(estimator):
    """The hidden layer widths as a list of ints."""
    sizes = estimator.hidden_layer_sizes
    if isinstance(sizes, numbers.Integral) and not isinstance(sizes, (bool, np.bool_)):
        sizes = [sizes]
    elif isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__iter__"):
        _fail("hidden_layer_sizes", estimator, "an array-like or an int in the range [1, inf)", sizes)
    sizes = list(sizes)
    if not all(isinstance(s, numbers.Integral) and not isinstance(s, (bool, np.bool_)) for s in sizes):
        raise InvalidParameterError(f"hidden_layer_sizes must be integers, got {sizes}.")
    if any(s <= 0 for s in sizes):
        raise ValueError(f"hidden_layer_sizes must be > 0, got {sizes}.")
    return [int(s) for s in sizes]


def dropout_rates(estimator):
    """The dropout rates: one for every hidden layer, or one per hidden layer."""
    dropout = estimator.dropout
    n_hidden = len(hidden_layer_sizes(estimator))
    rates = [dropout] if isinstance(dropout, numbers.Real) else dropout
    expected = (
        "a float in the range [0.0, 1.0) or a sequence of such floats, one per hidden layer"
    )
    if isinstance(rates, (str, bytes)) or not hasattr(rates, "__iter__"):
        _fail("dropout", estimator, expected, dropout)
    rates = list(rates)
    ok = all(
        isinstance(r, numbers.Real) and not isinstance(r, (bool, np.bool_)) and 0 <= r < 1
        for r in rates
    )
    if not ok or (len(rates) != 1 and len(rates) != n_hidden):
        _fail("dropout", estimator, expected, dropout)
    if all(r == 0 for r in rates):
        return []
    return [float(r) for r in rates]


def schedule_name_and_params(estimator, *, max_iter=None, steps_per_epoch=None):
    """The schedule's name and every parameter, defaults filled in (those that depend on the
    fit, from `max_iter` and `steps_per_epoch`, when given)."""
    schedule = estimator.schedule
    expected = "a str among {" + ", ".join(repr(s) for s in sorted(SCHEDULES)) + "} or a dict with a 'name' among them and that schedule's parameters"
    if isinstance(schedule, str):
        name, given = schedule, {}
    elif isinstance(schedule, dict) and isinstance(schedule.get("name"), str):
        name = schedule["name"]
        given = {k: v for k, v in schedule.items() if k != "name"}
    else:
        _fail("schedule", estimator, expected, schedule)
    if name not in SCHEDULES:
        _fail("schedule", estimator, expected, schedule)
    defaults = SCHEDULES[name]
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise InvalidParameterError(
            f"The schedule {name!r} takes the parameters {sorted(defaults)}; got {unknown}."
        )
    for key, value in given.items():
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            raise InvalidParameterError(
                f"The parameter {key!r} of the schedule {name!r} must be a number. Got {value!r} instead."
            )
    params = {**defaults, **given}
    fit_defaults = {
        "step_epochs": None if max_iter is None else max(1, max_iter // 3),
        "t_max_epochs": max_iter,
        "total_steps": None if max_iter is None or steps_per_epoch is None else max_iter * steps_per_epoch,
    }
    for key, value in params.items():
        if value is None:
            params[key] = fit_defaults[key]
    return name, params
