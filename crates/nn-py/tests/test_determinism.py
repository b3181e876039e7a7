"""The same random_state gives the same coefs_, bit for bit, whatever n_threads."""

import numpy as np
import pytest

from nnrs import MLPClassifier, MLPRegressor


def _bits(est):
    return [a.tobytes() for a in est.coefs_ + est.intercepts_]


def _data(n=600, d=12, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] ** 2 > 0.5).astype(int) + (X[:, 2] > 1)
    return X, y


@pytest.mark.parametrize(
    "params",
    [
        dict(solver="sgd", momentum=0.9),
        dict(solver="adam", dropout=0.2),
        dict(solver="adamw", alpha=1e-2, schedule="cosine", shuffle=False),
        dict(solver="rmsprop", early_stopping=True, precision="float64"),
    ],
)
def test_same_seed_gives_the_same_bits_for_any_thread_count(params):
    X, y = _data()
    fits = [
        MLPClassifier((32, 16), batch_size=50, max_iter=4, random_state=7, n_threads=t, **params)
        .fit(X, y)
        for t in (1, 2, 4)
    ]
    assert _bits(fits[0]) == _bits(fits[1]) == _bits(fits[2])
    assert fits[0].loss_curve_ == fits[2].loss_curve_
    # And training did something: the parameters moved away from another seed's.
    other = MLPClassifier((32, 16), batch_size=50, max_iter=4, random_state=8, **params).fit(X, y)
    assert _bits(other) != _bits(fits[0])


def test_partial_fit_is_deterministic_across_thread_counts():
    X, y = _data()
    runs = []
    for t in (1, 3):
        reg = MLPRegressor((20,), random_state=3, n_threads=t)
        for start in range(0, 600, 200):
            reg.partial_fit(X[start : start + 200], y[start : start + 200].astype(float))
        runs.append(_bits(reg))
    assert runs[0] == runs[1]


def test_an_integer_seed_repeats_and_a_random_state_instance_advances():
    X, y = _data()
    a = MLPClassifier((8,), max_iter=2, random_state=5).fit(X, y)
    b = MLPClassifier((8,), max_iter=2, random_state=5).fit(X, y)
    assert _bits(a) == _bits(b)
    rs = np.random.RandomState(5)
    c = MLPClassifier((8,), max_iter=2, random_state=rs).fit(X, y)
    d = MLPClassifier((8,), max_iter=2, random_state=rs).fit(X, y)
    assert _bits(c) != _bits(d)
