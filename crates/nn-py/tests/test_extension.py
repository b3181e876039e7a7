"""The extension class itself, `nnrs._nnrs.Model`, as the estimators drive it."""

import numpy as np
import pytest

from nnrs._nnrs import Model


def _configure(model, **overrides):
    settings = dict(solver="sgd", learning_rate=0.1, momentum=0.0, nesterov=False, beta_1=0.9,
                    beta_2=0.999, epsilon=1e-8, weight_decay=0.0, batch_size=8, dropout=[],
                    schedule="constant", schedule_params={}, n_threads=1, seed=0, max_iter=1)
    settings.update(overrides)
    model.configure(**settings)


@pytest.mark.parametrize("sizes", [[20, 100, 3], [784, 256, 128, 10], [3, 2]])
def test_a_samples_prediction_does_not_depend_on_its_batch(sizes):
    # faer computes a single-column product in another order than wider ones: a lone sample
    # must still get the bits it gets inside any batch (scikit-learn's subset invariance).
    model = Model(sizes[0], sizes[1:-1], "relu", sizes[-1], "softmax", "float32", 0.0, 1)
    X = np.random.RandomState(2).normal(size=(1100, sizes[0])).astype(np.float32)
    whole = model.predict(X, n_threads=1)
    for width, threads in [(1, 1), (2, 1), (7, 1), (513, 1), (1100, 2), (1100, 3)]:
        for start in range(0, 1100, max(width, 97)):
            part = model.predict(X[start : start + width], n_threads=threads)
            assert part.tobytes() == whole[start : start + width].tobytes(), (width, start)


def test_schedules_need_exactly_their_parameters():
    model = Model(3, [4], "relu", 2, "softmax", "float32", 0.0, 0)
    _configure(model, schedule="step", schedule_params={"step_epochs": 3.0, "gamma": 0.5})
    for name, params, message in [
        ("step", {"gamma": 0.5}, "takes the parameters"),
        ("step", {"step_epochs": 2.5, "gamma": 0.5}, "must be a whole number"),
        ("constant", {"gamma": 0.5}, "takes the parameters"),
        ("warmup", {}, "unknown schedule"),
        ("step", {"step_epochs": 2.0, "gamma": 1.5}, "invalid gamma"),
    ]:
        with pytest.raises(ValueError, match=message):
            _configure(model, schedule=name, schedule_params=params)
    with pytest.raises(ValueError, match="unknown solver"):
        _configure(model, solver="lbfgs")


def test_nesterov_without_momentum_is_plain_sgd():
    # scikit-learn's default nesterovs_momentum=True with momentum=0 must train, not fail the
    # trainer's "Nesterov needs momentum" check.
    X = np.random.RandomState(0).normal(size=(16, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    runs = []
    for nesterov in (True, False):
        model = Model(3, [4], "relu", 2, "softmax", "float32", 0.0, 0)
        _configure(model, nesterov=nesterov)
        model.run_epoch(X, y, batch_size=8, shuffle=True, n_threads=1)
        runs.append([w.tobytes() for w in model.parameters()[0]])
    assert runs[0] == runs[1]


def test_a_model_round_trips_through_its_bytes_and_keeps_its_shuffling():
    X = np.random.RandomState(0).normal(size=(64, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    a = Model(3, [5], "tanh", 2, "softmax", "float32", 0.01, 4)
    _configure(a, batch_size=16)
    a.run_epoch(X, y, batch_size=16, shuffle=True, n_threads=1)
    b = Model.from_bytes(a.to_bytes())
    assert (b.sizes, b.activation, b.output, b.precision) == ([3, 5, 2], "tanh", "softmax", "float32")
    assert b.l2 == pytest.approx(0.01) and b.is_configured and b.n_steps == a.n_steps == 4
    for m in (a, b):
        m.run_epoch(X, y, batch_size=16, shuffle=True, n_threads=1)
    assert [w.tobytes() for w in a.parameters()[0]] == [w.tobytes() for w in b.parameters()[0]]
