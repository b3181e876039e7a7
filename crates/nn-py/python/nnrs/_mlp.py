"""`MLPClassifier` and `MLPRegressor`: scikit-learn estimators over the `nn` crates.

The Python side does what scikit-learn's estimators do around their solver: it checks the
parameters and the data with scikit-learn's own functions (so errors carry scikit-learn's
messages), encodes the labels, splits off the validation set of ``early_stopping``, applies
scikit-learn's stopping rule (``tol``, ``n_iter_no_change``) between epochs, and keeps the fitted
attributes (``classes_``, ``coefs_``, ``loss_curve_``, ...). Each epoch runs in Rust
(``nnrs._nnrs.Model``), on the array's own memory when it is C-ordered and of the model's float
type, with the GIL released.
"""

import os
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state, column_or_1d
from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _nnrs
from ._params import (
    dropout_rates,
    hidden_layer_sizes,
    schedule_name_and_params,
    validate_params,
)

_DTYPES = {"float32": np.float32, "float64": np.float64}


def _available_cpus():
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


class _BaseMLP(BaseEstimator):
    """What both estimators share: parameters, the epoch loop, pickling, prediction."""

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate_init=0.001,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        dropout=0.0,
        schedule="constant",
        n_threads=None,
        precision="float32",
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.dropout = dropout
        self.schedule = schedule
        self.n_threads = n_threads
        self.precision = precision

    # ---------------------------------------------------------------- helpers

    def _dtype(self):
        return _DTYPES[self.precision]

    def _threads(self):
        return _available_cpus() if self.n_threads is None else int(self.n_threads)

    def _batch_size(self, n_samples):
        if self.batch_size == "auto":
            return min(200, n_samples)
        if self.batch_size > n_samples:
            warnings.warn(
                "Got `batch_size` less than 1 or larger than sample size. It is going to be "
                "clipped"
            )
        return int(np.clip(self.batch_size, 1, n_samples))

    def _new_model(self, n_features, n_outputs, output, seed):
        adamw = self.solver == "adamw"
        return _nnrs.Model(
            n_features,
            hidden_layer_sizes(self),
            self.activation,
            n_outputs,
            output,
            self.precision,
            0.0 if adamw else float(self.alpha),
            seed,
        )

    def _configure(self, model, seed, n_samples, batch):
        name, params = schedule_name_and_params(
            self, max_iter=self.max_iter, steps_per_epoch=-(-n_samples // batch)
        )
        model.configure(
            solver=self.solver,
            learning_rate=float(self.learning_rate_init),
            momentum=float(self.momentum),
            nesterov=bool(self.nesterovs_momentum),
            beta_1=float(self.beta_1),
            beta_2=float(self.beta_2),
            epsilon=float(self.epsilon),
            weight_decay=float(self.alpha) if self.solver == "adamw" else 0.0,
            batch_size=batch,
            dropout=dropout_rates(self),
            schedule=name,
            schedule_params={k: float(v) for k, v in params.items()},
            n_threads=self._threads(),
            seed=seed,
            max_iter=int(self.max_iter),
        )

    def _initialize(self):
        self.n_iter_ = 0
        self.t_ = 0
        self.loss_curve_ = []
        self._no_improvement_count = 0
        if self.early_stopping:
            self.validation_scores_ = []
            self.best_validation_score_ = -np.inf
            self.best_loss_ = None
        else:
            self.best_loss_ = np.inf
            self.validation_scores_ = None
            self.best_validation_score_ = None

    def _publish_parameters(self):
        coefs, intercepts = self._model.parameters()
        for a in coefs + intercepts:
            a.flags.writeable = False
        self.coefs_ = coefs
        self.intercepts_ = intercepts
        sizes = self._model.sizes
        self.n_layers_ = len(sizes)
        self.n_outputs_ = sizes[-1]
        self.out_activation_ = self._model.output

    def _seed(self):
        rng = check_random_state(self.random_state)
        return int(rng.randint(0, np.iinfo(np.int32).max))

    def _forward(self, X):
        """The network's outputs for X, as float64: probabilities or regression values."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=self._dtype(), order="C", reset=False)
        return self._model.predict(X, n_threads=self._threads()).astype(np.float64)

    # ---------------------------------------------------------------- training

    def _targets(self, y):
        """The targets as the model takes them (see the subclasses)."""
        raise NotImplementedError

    def _validation_score(self, X_val, y_val):
        raise NotImplementedError

    def _fit(self, X, y, *, incremental, classes=None):
        validate_params(self)
        if incremental and self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True")
        first = not (incremental and hasattr(self, "_model"))
        X, y = self._validate_input(X, y, first=first, classes=classes)
        targets, n_outputs, output = self._targets(y)
        seed = self._seed() if first else None
        train_idx = None
        X_val = y_val = None
        if self.early_stopping:  # never incremental, so `seed` is set
            X_val, y_val, train_idx = self._split(X, y, seed)
        n_train = X.shape[0] if train_idx is None else len(train_idx)
        batch = self._batch_size(n_train)
        if first:
            model = self._new_model(X.shape[1], n_outputs, output, seed)
            self._configure(model, seed, n_train, batch)
            self._model = model  # only once it is ready: a failure leaves the previous fit
            self._initialize()
        epochs = 1 if incremental else self.max_iter
        plateau = schedule_name_and_params(self)[0] == "plateau"
        try:
            for _ in range(epochs):
                loss = self._model.run_epoch(
                    X,
                    targets,
                    batch_size=batch,
                    shuffle=bool(self.shuffle),
                    n_threads=self._threads(),
                    indices=train_idx,
                )
                self.n_iter_ += 1
                self.t_ += n_train
                self.loss_ = loss
                self.loss_curve_.append(loss)
                if self.verbose:
                    print("Iteration %d, loss = %.8f" % (self.n_iter_, loss))
                self._update_no_improvement_count(X_val, y_val)
                self._model.end_epoch(loss if plateau else None)
                if self._no_improvement_count > self.n_iter_no_change:
                    if self.early_stopping:
                        msg = (
                            "Validation score did not improve more than tol=%f for %d "
                            "consecutive epochs." % (self.tol, self.n_iter_no_change)
                        )
                    else:
                        msg = (
                            "Training loss did not improve more than tol=%f for %d "
                            "consecutive epochs." % (self.tol, self.n_iter_no_change)
                        )
                    if self.verbose:
                        print(msg + " Stopping.")
                    break
                if incremental:
                    break
                if self.n_iter_ == self.max_iter:
                    warnings.warn(
                        "Stochastic Optimizer: Maximum iterations (%d) reached and the "
                        "optimization hasn't converged yet." % self.max_iter,
                        ConvergenceWarning,
                    )
        finally:
            # Also after Ctrl-C (KeyboardInterrupt goes on up): the estimator is left fitted
            # with the parameters of the last complete step (or early stopping's best).
            if self.early_stopping:
                self._model.restore_best()
            self._publish_parameters()
        return self

    def _update_no_improvement_count(self, X_val, y_val):
        if self.early_stopping:
            score = self._validation_score(X_val, y_val)
            self.validation_scores_.append(score)
            if self.verbose:
                print("Validation score: %f" % score)
            if score < self.best_validation_score_ + self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._model.save_best()
        else:
            if self.loss_curve_[-1] > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if self.loss_curve_[-1] < self.best_loss_:
                self.best_loss_ = self.loss_curve_[-1]

    def _split(self, X, y, seed):
        stratify = y if is_classifier(self) and y.ndim == 1 else None
        train_idx, val_idx = train_test_split(
            np.arange(X.shape[0]),
            random_state=seed,
            test_size=self.validation_fraction,
            stratify=stratify,
        )
        if len(val_idx) < 2:
            raise ValueError(
                "The validation set is too small. Increase 'validation_fraction' or the size "
                "of your dataset."
            )
        # Only the validation set is copied; training reads X in place through the indices.
        return X[val_idx], y[val_idx], np.sort(train_idx).astype(np.int64)

    def fit(self, X, y):
        """Trains a new network on X (n_samples, n_features) and y, for up to `max_iter`
        epochs. Returns self."""
        return self._fit(X, y, incremental=False)

    # ---------------------------------------------------------------- tags

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        tags.target_tags.multi_output = True
        return tags


class MLPClassifier(ClassifierMixin, _BaseMLP):
    """A multi-layer perceptron classifier: scikit-learn's ``MLPClassifier``, trained by the
    ``nn`` crates.

    Binary problems get one logistic output (binary cross-entropy), multi-class problems a
    softmax output (cross-entropy), multi-label problems (a 0/1 indicator matrix ``y``) one
    logistic output per label. Parameters are scikit-learn's, plus ``solver`` values ``adamw``
    and ``rmsprop``, more activations, and ``dropout``, ``schedule``, ``n_threads`` and
    ``precision``: see the package's documentation.
    """

    def _validate_input(self, X, y, *, first, classes):
        X, y = validate_data(
            self, X, y, multi_output=True, dtype=self._dtype(), order="C", reset=first
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        multilabel = type_of_target(y).startswith("multilabel")
        if first:
            if classes is not None:
                self.classes_ = unique_labels(np.asarray(classes))
            elif multilabel:
                self.classes_ = np.arange(y.shape[1])
            else:
                self.classes_ = unique_labels(y)
            self._multilabel = multilabel
            self._y_dtype = y.dtype
            if not multilabel and len(self.classes_) < 2:
                raise ValueError(
                    "The number of classes has to be greater than one; got "
                    f"{len(self.classes_)} class"
                )
        if multilabel != self._multilabel:
            raise ValueError("y is multi-label now, but was not in the first call, or the reverse")
        if multilabel:
            if y.shape[1] != len(self.classes_):
                raise ValueError(
                    f"y has {y.shape[1]} labels, but the model was trained on {len(self.classes_)}"
                )
        else:
            seen = unique_labels(y)
            unknown = np.setdiff1d(seen, self.classes_, assume_unique=True)
            if len(unknown):
                raise ValueError(
                    "`y` has classes not in `self.classes_`. "
                    f"`self.classes_` has {self.classes_}. 'y' has {seen}."
                )
        return X, y

    def _targets(self, y):
        if self._multilabel:
            k = y.shape[1]
            return np.ascontiguousarray(y, dtype=self._dtype()), k, "logistic"
        indices = np.searchsorted(self.classes_, y).astype(np.int64)
        k = len(self.classes_)
        if k == 2:
            return indices, 1, "logistic"
        return indices, k, "softmax"

    def _validation_score(self, X_val, y_val):
        return accuracy_score(y_val, self.predict(X_val))

    def partial_fit(self, X, y, classes=None):
        """One epoch over X and y, continuing the training state (optimizer moments,
        schedule, shuffling) of the previous calls. The first call needs `classes`, every
        label that will ever appear (except for multi-label indicator targets). Returns self."""
        if not hasattr(self, "_model") and classes is None:
            multilabel = y is not None and type_of_target(y).startswith("multilabel")
            if not multilabel:
                raise ValueError("classes must be passed on the first call to partial_fit.")
        return self._fit(X, y, incremental=True, classes=classes)

    def predict_proba(self, X):
        """Class probabilities, (n_samples, n_classes), float64, columns in the order of
        `classes_`. Multi-label: the probability of each label."""
        out = self._forward(X)
        if self._multilabel:
            return out
        if out.shape[1] == 1:
            p = out[:, 0]
            return np.column_stack([1.0 - p, p])
        # Computed in the model's precision; rounded sums are put back to 1 in float64.
        return out / out.sum(axis=1, keepdims=True)

    def predict_log_proba(self, X):
        """The logarithm of `predict_proba`."""
        return np.log(self.predict_proba(X))

    def predict(self, X):
        """The predicted class of each sample (the label indicators for multi-label)."""
        proba = self.predict_proba(X)
        if self._multilabel:
            return (proba > 0.5).astype(self._y_dtype)
        return self.classes_[np.argmax(proba, axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, _BaseMLP):
    """A multi-layer perceptron regressor: scikit-learn's ``MLPRegressor`` (squared error,
    identity output), trained by the ``nn`` crates. One output per target column."""

    def _validate_input(self, X, y, *, first, classes=None):
        X, y = validate_data(
            self,
            X,
            y,
            multi_output=True,
            y_numeric=True,
            dtype=self._dtype(),
            order="C",
            reset=first,
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if not first:
            k = 1 if y.ndim == 1 else y.shape[1]
            if k != self.n_outputs_:
                raise ValueError(f"y has {k} targets, but the model was trained on {self.n_outputs_}")
        return X, y

    def _targets(self, y):
        rows = np.ascontiguousarray(y.reshape(y.shape[0], -1), dtype=self._dtype())
        return rows, rows.shape[1], "identity"

    def _validation_score(self, X_val, y_val):
        return r2_score(y_val, self.predict(X_val))

    def partial_fit(self, X, y):
        """One epoch over X and y, continuing the training state of the previous calls.
        Returns self."""
        return self._fit(X, y, incremental=True)

    def predict(self, X):
        """The predicted values, (n_samples,) for one target, else (n_samples, n_targets)."""
        out = self._forward(X)
        return out.ravel() if out.shape[1] == 1 else out
