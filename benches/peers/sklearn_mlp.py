#!/usr/bin/env python3
"""The workloads of docs/workloads.md with scikit-learn's MLPClassifier, float32 input (so
scikit-learn computes in float32).

    python sklearn_mlp.py --workload w1 --threads 2

prints one line in the format of examples/bench.rs, `library=sklearn` first.

MLPClassifier cannot be given our initialisation: it draws weights and biases from its own
Glorot-uniform interval with its own random stream. Its training loop is `fit`, so the timed
section is the whole `fit` call (its input checks take a few milliseconds), after a warm-up `fit`
of another estimator on the first 10 batches. W3 is `predict` of W1's network after a `fit` of
one epoch (its speed does not depend on the weights); `predict` checks its input on every call,
which is most of a batch-1 call.
"""

import common

args = common.parse_args(__doc__.splitlines()[0])
common.limit_threads(args.threads)

import warnings  # noqa: E402

import numpy as np  # noqa: E402 (after the thread limits)
import sklearn  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

ACTIVATIONS = {"relu": "relu", "sigmoid": "logistic"}


def classifier(sizes, activation, epochs):
    return MLPClassifier(
        hidden_layer_sizes=tuple(sizes[1:-1]), activation=ACTIVATIONS[activation],
        solver="sgd", learning_rate="constant", learning_rate_init=common.LEARNING_RATE,
        momentum=common.MOMENTUM, nesterovs_momentum=False, batch_size=common.BATCH,
        max_iter=epochs, alpha=0.0, shuffle=True, tol=0.0, n_iter_no_change=10**9,
        early_stopping=False, random_state=args.seed)


def mean_cross_entropy(clf, x, y):
    p = clf.predict_proba(x)[np.arange(x.shape[0]), y]
    return float(-np.log(np.maximum(p, np.finfo(p.dtype).tiny)).mean())


def train():
    sizes, activation = common.TRAINING[args.workload]
    x_train, y_train, x_test, y_test = common.load_data(args.data)
    n = x_train.shape[0]
    warm = common.WARMUP_STEPS * common.BATCH
    classifier(sizes, activation, 1).fit(x_train[:warm], y_train[:warm])
    clf = classifier(sizes, activation, args.epochs)
    started = common.clock()
    clf.fit(x_train, y_train)
    seconds = common.clock() - started
    accuracy = float((clf.predict(x_test) == y_test).mean())
    loss = mean_cross_entropy(clf, x_test, y_test)
    common.training_line("sklearn", sklearn.__version__, args, n, seconds, accuracy, loss)


def infer():
    x_train, y_train, x_test, y_test = common.load_data(args.data)
    clf = classifier(common.INFERENCE_SIZES, "relu", 1).fit(x_train, y_train)
    n = x_test.shape[0]
    classes = np.empty(n, np.int64)

    def one_pass():
        started = common.clock()
        for start in range(0, n, common.INFERENCE_BATCH):
            xb = x_test[start:start + common.INFERENCE_BATCH]
            classes[start:start + xb.shape[0]] = clf.predict(xb)
        return common.clock() - started

    one_pass()
    passes = [one_pass() for _ in range(common.INFERENCE_PASSES)]
    images = [x_test[i:i + 1] for i in range(n)]
    for i in range(common.SINGLE_WARMUP):
        clf.predict(images[i])
    latencies = []
    for image in images:
        started = common.clock()
        clf.predict(image)
        latencies.append(common.clock() - started)
    accuracy = float((classes == y_test).mean())
    common.inference_line("sklearn", sklearn.__version__, args, passes, latencies, accuracy)


if __name__ == "__main__":
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    with threadpool_limits(limits=args.threads):
        infer() if args.workload == "w3" else train()
