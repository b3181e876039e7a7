"""nnrs: scikit-learn's ``MLPClassifier`` and ``MLPRegressor``, trained by the ``nn`` crates.

>>> from nnrs import MLPClassifier
>>> clf = MLPClassifier(hidden_layer_sizes=(64,), random_state=0).fit(X, y)  # doctest: +SKIP

Same parameters and attributes as scikit-learn's estimators where the concept is the same,
plus ``solver="adamw"``/``"rmsprop"``, more activations, ``dropout``, ``schedule``,
``n_threads`` and ``precision``. The same ``random_state`` gives the same ``coefs_``, bit for bit,
for any ``n_threads``.
"""

from ._mlp import MLPClassifier, MLPRegressor
from ._nnrs import __version__
from ._params import InvalidParameterError

__all__ = ["MLPClassifier", "MLPRegressor", "InvalidParameterError", "__version__"]
