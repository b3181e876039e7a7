"""The estimators' attributes, options and guarantees: shapes, labels, zero copy, the GIL."""

import threading
import time
import tracemalloc

import numpy as np
import pytest
from sklearn.neural_network import MLPClassifier as SkMLPClassifier

from nnrs import MLPClassifier, MLPRegressor


def test_fitted_attributes_have_sklearns_shapes(blobs):
    X, y = blobs
    ours = MLPClassifier((7, 4), max_iter=3, random_state=0).fit(X, y)
    theirs = SkMLPClassifier((7, 4), max_iter=3, random_state=0).fit(X, y)
    for name in ("coefs_", "intercepts_"):
        assert [a.shape for a in getattr(ours, name)] == [a.shape for a in getattr(theirs, name)]
    for name in ("n_features_in_", "n_layers_", "n_outputs_", "out_activation_", "n_iter_", "t_"):
        assert getattr(ours, name) == getattr(theirs, name), name
    np.testing.assert_array_equal(ours.classes_, theirs.classes_)
    assert len(ours.loss_curve_) == 3 and ours.best_loss_ == min(ours.loss_curve_)
    assert ours.coefs_[0].dtype == np.float32 and not ours.coefs_[0].flags.writeable


def test_coefs_are_the_network_in_sklearns_convention(blobs):
    # coefs_[i] is (n_in, n_out): h = relu(X @ W0 + b0) @ W1 + b1, softmax.
    X, y = blobs
    clf = MLPClassifier((6,), max_iter=5, random_state=1, precision="float64").fit(X, y)
    (W0, W1), (b0, b1) = clf.coefs_, clf.intercepts_
    z = np.maximum(X.astype(np.float64) @ W0 + b0, 0) @ W1 + b1
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(clf.predict_proba(X), p, rtol=1e-10, atol=1e-12)


def test_binary_problems_have_one_logistic_output_like_sklearn():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(200, 3))
    y = np.where(X[:, 0] > 0, "yes", "no")
    clf = MLPClassifier((5,), max_iter=200, learning_rate_init=0.01, random_state=0).fit(X, y)
    assert clf.out_activation_ == "logistic" and clf.coefs_[-1].shape == (5, 1)
    proba = clf.predict_proba(X)
    assert proba.shape == (200, 2) and proba.dtype == np.float64
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[proba.argmax(axis=1)])
    assert clf.score(X, y) > 0.95


def test_multilabel_targets_get_one_logistic_output_per_label():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 4))
    Y = np.column_stack([X[:, 0] > 0, X[:, 1] > 0, X[:, 0] + X[:, 1] > 0]).astype(int)
    clf = MLPClassifier((16,), max_iter=200, learning_rate_init=0.01, random_state=0).fit(X, Y)
    assert clf.out_activation_ == "logistic" and list(clf.classes_) == [0, 1, 2]
    assert clf.predict(X).shape == (300, 3) and clf.predict(X).dtype == Y.dtype
    assert clf.score(X, Y) > 0.8  # subset accuracy


def test_multi_output_regression_and_1d_targets():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(400, 5))
    Y = np.column_stack([X[:, 0] - X[:, 1], X[:, 2] * 0.5])
    reg = MLPRegressor((32,), max_iter=300, random_state=0).fit(X, Y)
    assert reg.predict(X).shape == (400, 2) and reg.predict(X).dtype == np.float64
    assert reg.score(X, Y) > 0.9
    assert MLPRegressor((4,), max_iter=2).fit(X, Y[:, 0]).predict(X).shape == (400,)


def test_early_stopping_keeps_the_best_validation_score(blobs):
    X, y = blobs
    clf = MLPClassifier((16,), early_stopping=True, n_iter_no_change=3, max_iter=300,
                        learning_rate_init=0.01, random_state=0).fit(X, y)
    assert clf.n_iter_ < 300 and len(clf.validation_scores_) == clf.n_iter_
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    assert clf.best_loss_ is None


def test_training_stops_when_the_loss_stops_improving_as_in_sklearn(blobs):
    X, y = blobs
    # tol=10: only the first epoch improves (on an infinite best loss); more than 2 bad ones stop.
    params = dict(hidden_layer_sizes=(16,), tol=10.0, n_iter_no_change=2, max_iter=100)
    clf = MLPClassifier(**params).fit(X, y)
    assert clf.n_iter_ == SkMLPClassifier(**params).fit(X, y).n_iter_ == 4


def test_schedules_change_the_training(blobs):
    X, y = blobs
    runs = {}
    for schedule in ("constant", {"name": "step", "step_epochs": 1, "gamma": 0.1}, "plateau",
                     "cosine", "one_cycle", "inverse_scaling", "exponential"):
        clf = MLPClassifier((8,), solver="sgd", max_iter=4, random_state=0, schedule=schedule)
        clf.fit(X, y)
        key = schedule if isinstance(schedule, str) else schedule["name"]
        runs[key] = clf.loss_curve_
    assert runs["step"] != runs["constant"] and runs["cosine"] != runs["constant"]
    assert runs["one_cycle"] != runs["constant"] and runs["inverse_scaling"] != runs["constant"]
    # The step schedule divides the rate by 10 each epoch: the loss barely moves after that.
    step = runs["step"]
    assert abs(step[3] - step[2]) < abs(step[1] - step[0])


def test_dropout_solvers_and_precision_train(blobs):
    X, y = blobs
    for params in (dict(dropout=0.3), dict(dropout=[0.1, 0.2]), dict(solver="adamw"),
                   dict(solver="rmsprop"), dict(solver="sgd", nesterovs_momentum=False),
                   dict(precision="float64"), dict(activation="gelu"), dict(activation="tanh")):
        clf = MLPClassifier((16, 8), max_iter=100, learning_rate_init=0.01, random_state=0,
                            **params).fit(X, y)
        assert clf.score(X, y) > 0.9, params
    assert MLPClassifier(precision="float64", max_iter=1).fit(X, y).coefs_[0].dtype == np.float64


def test_verbose_prints_sklearns_lines(blobs, capsys):
    X, y = blobs
    MLPClassifier((4,), max_iter=2, verbose=True, early_stopping=True, random_state=0).fit(X, y)
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("Iteration 1, loss = ") and out[1].startswith("Validation score: ")


def _peak_numpy_bytes(f):
    tracemalloc.start()
    try:
        f()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_c_ordered_float32_input_is_not_copied_other_layouts_once():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(20_000, 200)).astype(np.float32)  # 16 MB
    y = (X[:, 0] > 0).astype(int)
    clf = MLPClassifier((8,), max_iter=1, random_state=0, n_threads=1)
    # numpy reports its allocations to tracemalloc; a copy of X would show up as 16 MB.
    assert _peak_numpy_bytes(lambda: clf.fit(X, y)) < X.nbytes / 8
    assert _peak_numpy_bytes(lambda: clf.predict_proba(X)) < X.nbytes / 8
    X64, Xf = X.astype(np.float64), np.asfortranarray(X)
    for other in (X64, Xf):
        assert _peak_numpy_bytes(lambda: clf.predict_proba(other)) >= X.nbytes
        np.testing.assert_array_equal(clf.predict_proba(other), clf.predict_proba(X))


def test_the_gil_is_released_while_training_and_predicting():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(30_000, 100)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    counts = []
    stop = threading.Event()

    def spin():
        n = 0
        while not stop.is_set():
            n += 1
        counts.append(n)

    clf = MLPClassifier((256, 256), max_iter=1, random_state=0, n_threads=1)
    t = threading.Thread(target=spin)
    start = time.perf_counter()
    t.start()
    clf.fit(X, y)
    clf.predict(X)
    seconds = time.perf_counter() - start
    stop.set()
    t.join()
    # With the GIL held for the whole call the other thread would count (almost) nothing;
    # released, it counts at its own pace (millions per second on one free core).
    assert seconds > 0.2
    assert counts[0] > 100_000 * seconds, (counts, seconds)


def test_n_threads_none_uses_every_cpu_and_any_value_works(blobs):
    X, y = blobs
    for n in (None, 1, 3):
        MLPClassifier((4,), max_iter=1, n_threads=n).fit(X, y).predict(X)
