import os
import sys

import numpy as np
import pytest

# The Fashion-MNIST loader of the benchmark script, so that both read the data the same way.
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "bench"))


@pytest.fixture
def blobs():
    """300 samples of 5 features in 3 well separated classes."""
    rng = np.random.RandomState(0)
    y = np.arange(300) % 3
    centers = rng.normal(scale=3.0, size=(3, 5))
    X = centers[y] + rng.normal(size=(300, 5))
    return X.astype(np.float32), y
