"""A small real-data check: Fashion-MNIST (installed by .ci/run), read as numpy arrays."""

import numpy as np

from compare_sklearn import load_fashion_mnist
from nnrs import MLPClassifier


def test_fashion_mnist_is_learned_from_numpy_arrays():
    X, y, X_test, y_test = load_fashion_mnist()
    assert X.shape == (60_000, 784) and X.dtype == np.float32 and X.flags.c_contiguous
    labels = np.array(["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                       "Sneaker", "Bag", "Ankle boot"])
    clf = MLPClassifier((128,), solver="sgd", momentum=0.9, learning_rate_init=0.05,
                        batch_size=128, max_iter=3, random_state=0)
    clf.fit(X[:20_000], labels[y[:20_000]])
    accuracy = clf.score(X_test, labels[y_test])
    assert accuracy >= 0.80, accuracy  # 0.8295 with this seed
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]
