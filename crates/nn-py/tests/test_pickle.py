"""Pickling goes through our model format and continues training exactly."""

import copy
import pickle

import numpy as np
import pytest

from nnrs import MLPClassifier, MLPRegressor
from nnrs._nnrs import Model


def _bits(est):
    return [a.tobytes() for a in est.coefs_ + est.intercepts_]


def test_a_pickled_classifier_predicts_the_same_with_string_labels(blobs):
    X, y = blobs
    labels = np.array(["cat", "dog", "emu"])[y]
    clf = MLPClassifier((16,), max_iter=5, random_state=0).fit(X, labels)
    again = pickle.loads(pickle.dumps(clf))
    assert list(again.classes_) == ["cat", "dog", "emu"]
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))
    assert _bits(again) == _bits(clf)
    assert again.loss_curve_ == clf.loss_curve_ and again.n_iter_ == clf.n_iter_


def test_training_after_unpickling_continues_exactly():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 6)).astype(np.float32)
    y = X @ rng.normal(size=(6, 2))
    straight = MLPRegressor((16,), solver="adam", max_iter=3, random_state=1, dropout=0.1)
    straight.fit(X, y).partial_fit(X, y).partial_fit(X, y)
    resumed = MLPRegressor((16,), solver="adam", max_iter=3, random_state=1, dropout=0.1)
    resumed.fit(X, y)
    resumed = pickle.loads(pickle.dumps(resumed))  # Adam's moments, the schedule, the shuffling
    resumed.partial_fit(X, y).partial_fit(X, y)
    assert _bits(resumed) == _bits(straight)
    deep = copy.deepcopy(resumed)
    assert _bits(deep) == _bits(resumed)


def test_the_model_bytes_are_our_checkpoint_format(blobs):
    X, y = blobs
    model = MLPClassifier((4,), max_iter=1, random_state=0).fit(X, y)._model
    data = model.to_bytes()
    assert data[:8] == b"NNCKPT\0\0"
    fresh = Model(5, [4], "relu", 3, "softmax", "float32", 0.0, 0)
    assert fresh.to_bytes()[:8] == b"NNMODEL\0"  # a model file before any training
    assert Model.from_bytes(fresh.to_bytes()).sizes == [5, 4, 3]


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage", "empty"])
def test_damaged_bytes_are_a_value_error(blobs, damage):
    X, y = blobs
    data = bytearray(MLPClassifier((4,), max_iter=1, random_state=0).fit(X, y)._model.to_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "flip":
        data[len(data) // 2] ^= 0xFF
    elif damage == "garbage":
        data = bytearray(b"not a model at all")
    else:
        data = bytearray()
    with pytest.raises(ValueError, match="not a valid nnrs model"):
        Model.from_bytes(bytes(data))


def test_an_unfitted_estimator_pickles():
    clf = pickle.loads(pickle.dumps(MLPClassifier(hidden_layer_sizes=(3, 2), dropout=0.5)))
    assert clf.get_params()["hidden_layer_sizes"] == (3, 2)
    assert clf.get_params()["dropout"] == 0.5
