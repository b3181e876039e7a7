"""Bad input: scikit-learn's exceptions and messages, never a Rust panic."""

import numpy as np
import pytest
import scipy.sparse as sp

from nnrs import InvalidParameterError, MLPClassifier, MLPRegressor
from nnrs._nnrs import Model


@pytest.mark.parametrize(
    "params, message",
    [
        ({"alpha": -1}, "The 'alpha' parameter of MLPClassifier must be a float in the range [0.0, inf). Got -1 instead."),
        ({"solver": "lbfgs"}, "The 'solver' parameter of MLPClassifier must be a str among {'adam', 'adamw', 'rmsprop', 'sgd'}. Got 'lbfgs' instead."),
        ({"learning_rate_init": 0.0}, "The 'learning_rate_init' parameter of MLPClassifier must be a float in the range (0.0, inf). Got 0.0 instead."),
        ({"batch_size": 0}, "The 'batch_size' parameter of MLPClassifier must be a str among {'auto'} or an int in the range [1, inf). Got 0 instead."),
        ({"max_iter": 2.5}, "The 'max_iter' parameter of MLPClassifier must be an int in the range [1, inf). Got 2.5 instead."),
        ({"momentum": 1.0}, "The 'momentum' parameter of MLPClassifier must be a float in the range [0.0, 1.0). Got 1.0 instead."),
        ({"activation": "relu6"}, "The 'activation' parameter of MLPClassifier must be a str among"),
        ({"random_state": -1}, "The 'random_state' parameter of MLPClassifier must be an int in the range [0, 4294967295], an instance of 'numpy.random.mtrand.RandomState' or None. Got -1 instead."),
        ({"shuffle": "yes"}, "The 'shuffle' parameter of MLPClassifier must be an instance of 'bool' or an instance of 'numpy.bool'. Got 'yes' instead."),
        ({"dropout": 1.0}, "The 'dropout' parameter of MLPClassifier must be a float in the range [0.0, 1.0)"),
        ({"dropout": [0.1, 0.2, 0.3]}, "The 'dropout' parameter of MLPClassifier must be"),
        ({"schedule": "warmup"}, "The 'schedule' parameter of MLPClassifier must be a str among"),
        ({"schedule": {"name": "step", "gamma": 0.5, "size": 3}}, "The schedule 'step' takes the parameters ['gamma', 'step_epochs']; got ['size']."),
        ({"n_threads": 0}, "The 'n_threads' parameter of MLPClassifier must be an int in the range [1, 1024] or None. Got 0 instead."),
        ({"precision": "float16"}, "The 'precision' parameter of MLPClassifier must be a str among {'float32', 'float64'}. Got 'float16' instead."),
        ({"epsilon": float("nan")}, "The 'epsilon' parameter of MLPClassifier must be a float in the range (0.0, inf). Got nan instead."),
    ],
)
def test_invalid_parameters_raise_sklearns_error_at_fit(blobs, params, message):
    X, y = blobs
    clf = MLPClassifier(**params)  # Never in __init__ or set_params: scikit-learn's contract.
    with pytest.raises(InvalidParameterError) as info:
        clf.fit(X, y)
    assert str(info.value).startswith(message), str(info.value)
    assert isinstance(info.value, ValueError) and isinstance(info.value, TypeError)


def test_hidden_layer_sizes_must_be_positive(blobs):
    X, y = blobs
    with pytest.raises(ValueError, match=r"hidden_layer_sizes must be > 0, got \[4, 0\]."):
        MLPClassifier((4, 0)).fit(X, y)


@pytest.mark.parametrize(
    "X, error, message",
    [
        (np.array([[1.0, np.nan]] * 4), ValueError, "Input X contains NaN."),
        (np.array([[1.0, np.inf]] * 4), ValueError, "Input X contains infinity"),
        (np.array([1.0, 2.0, 3.0, 4.0]), ValueError, "Expected 2D array, got 1D array instead"),
        (np.zeros((0, 2)), ValueError, r"Found array with 0 sample\(s\)"),
        (np.zeros((4, 0)), ValueError, r"Found array with 0 feature\(s\)"),
        (np.array([["a", "b"]] * 4), ValueError, "could not convert string to float"),
        (sp.csr_matrix(np.ones((4, 2))), TypeError, "Sparse data was passed"),
        (np.ones((4, 2)) + 1j, ValueError, "Complex data not supported"),
    ],
)
def test_bad_X_is_refused_with_sklearns_messages(X, error, message):
    y = np.array([0, 1, 0, 1])
    for est in (MLPClassifier((3,), max_iter=1), MLPRegressor((3,), max_iter=1)):
        with pytest.raises(error, match=message):
            est.fit(X, y)


def test_bad_targets_are_refused(blobs):
    X, y = blobs
    with pytest.raises(ValueError, match="Unknown label type: continuous"):
        MLPClassifier().fit(X, y + 0.5)
    with pytest.raises(ValueError, match="got 1 class"):
        MLPClassifier().fit(X, np.zeros(len(X)))
    with pytest.raises(ValueError, match=r"inconsistent numbers of samples: \[300, 299\]"):
        MLPClassifier().fit(X, y[:-1])
    with pytest.raises(ValueError, match="requires y to be passed"):
        MLPRegressor().fit(X, None)
    with pytest.raises(ValueError, match="Input y contains NaN"):
        MLPRegressor().fit(X, np.where(y == 0, np.nan, 1.0))


def test_prediction_checks_the_features(blobs):
    X, y = blobs
    clf = MLPClassifier((4,), max_iter=1).fit(X, y)
    with pytest.raises(ValueError, match="X has 4 features, but MLPClassifier is expecting 5 features as input."):
        clf.predict(X[:, :4])
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        MLPRegressor().predict(X)


def test_partial_fit_needs_the_classes_first_and_no_new_ones(blobs):
    X, y = blobs
    with pytest.raises(ValueError, match="classes must be passed on the first call to partial_fit."):
        MLPClassifier().partial_fit(X, y)
    clf = MLPClassifier((4,)).partial_fit(X[y < 2], y[y < 2], classes=[0, 1, 2])
    assert list(clf.classes_) == [0, 1, 2] and clf.coefs_[-1].shape == (4, 3)
    with pytest.raises(ValueError, match="`y` has classes not in `self.classes_`"):
        clf.partial_fit(X, y + 1)
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping=True"):
        MLPRegressor(early_stopping=True).partial_fit(X, y)


def test_divergence_is_a_value_error_not_a_panic():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(64, 3)).astype(np.float32) * 1e18
    reg = MLPRegressor((8,), solver="sgd", learning_rate_init=1e6, max_iter=3)
    with pytest.raises(ValueError, match=r"training diverged .*\(try a smaller learning rate"):
        reg.fit(X, X[:, 0])
    # The estimator is left fitted with the parameters of the last complete step.
    assert reg.n_iter_ == len(reg.loss_curve_) < 3 and reg.predict(X[:2]).shape == (2,)


def test_the_extension_refuses_wrong_arrays_with_type_errors():
    model = Model(3, [4], "relu", 2, "softmax", "float32", 0.0, 0)
    with pytest.raises(ValueError, match="training was not configured"):
        model.run_epoch(np.zeros((4, 3), np.float32), np.zeros(4, np.int64), batch_size=2, shuffle=False, n_threads=1)
    with pytest.raises(TypeError, match="2-D numpy array of float32"):
        model.predict(np.zeros((4, 3), np.float64), n_threads=1)
    with pytest.raises(TypeError, match="C-contiguous"):
        model.predict(np.zeros((3, 4), np.float32).T, n_threads=1)
    with pytest.raises(ValueError, match="X has 2 features"):
        model.predict(np.zeros((4, 2), np.float32), n_threads=1)
    with pytest.raises(ValueError, match="unknown precision"):
        Model(3, [4], "relu", 2, "softmax", "float16", 0.0, 0)
    with pytest.raises(ValueError, match="layer 0 has zero width"):
        Model(3, [0], "relu", 2, "softmax", "float32", 0.0, 0)
    model.configure(solver="sgd", learning_rate=0.1, momentum=0.0, nesterov=False, beta_1=0.9,
                    beta_2=0.999, epsilon=1e-8, weight_decay=0.0, batch_size=2, dropout=[],
                    schedule="constant", schedule_params={}, n_threads=1, seed=0, max_iter=1)
    X = np.zeros((4, 3), np.float32)
    with pytest.raises(ValueError, match="label 2 is not a class index below 2"):
        model.run_epoch(X, np.array([0, 1, 2, 0]), batch_size=2, shuffle=True, n_threads=1)
    with pytest.raises(ValueError, match="sample index 9 is out of range for 4 samples"):
        model.run_epoch(X, np.zeros(4, np.int64), batch_size=2, shuffle=True, n_threads=1,
                        indices=np.array([0, 9]))
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        model.run_epoch(X, np.zeros(3, np.int64), batch_size=2, shuffle=True, n_threads=1)
    with pytest.raises(ValueError, match="invalid learning_rate"):
        model.configure(solver="sgd", learning_rate=-1.0, momentum=0.0, nesterov=False,
                        beta_1=0.9, beta_2=0.999, epsilon=1e-8, weight_decay=0.0, batch_size=2,
                        dropout=[], schedule="constant", schedule_params={}, n_threads=1,
                        seed=0, max_iter=1)


@pytest.mark.parametrize(
    "name, value",
    [("alpha", -1.0), ("batch_size", 0), ("batch_size", "big"), ("learning_rate_init", -0.1),
     ("max_iter", 0), ("shuffle", 1), ("random_state", "seed"), ("tol", -1.0), ("verbose", -1),
     ("nesterovs_momentum", None), ("early_stopping", "no"), ("beta_1", 1.0), ("beta_2", -0.5),
     ("epsilon", 0.0), ("n_iter_no_change", 0)],
)
def test_parameter_messages_are_word_for_word_sklearns(blobs, name, value):
    from sklearn.neural_network import MLPClassifier as SkMLPClassifier

    X, y = blobs
    with pytest.raises(InvalidParameterError) as ours:
        MLPClassifier(**{name: value}).fit(X, y)
    with pytest.raises(InvalidParameterError) as theirs:
        SkMLPClassifier(**{name: value}).fit(X, y)
    assert str(ours.value) == str(theirs.value)
