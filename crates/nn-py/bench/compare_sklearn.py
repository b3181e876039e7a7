"""nnrs.MLPClassifier next to scikit-learn's MLPClassifier on Fashion-MNIST, same settings.

    python crates/nn-py/bench/compare_sklearn.py [--data DIR] [--rounds N]

Both estimators get the same numpy arrays (60,000 training images as float32 in [0, 1], C order)
and the same constructor arguments:

    hidden_layer_sizes=(256, 128), solver="sgd", momentum=0.9, learning_rate_init=0.05,
    batch_size=128, max_iter=5, random_state=0

with every other parameter at its default, which is the same value in both packages (activation
relu, alpha 1e-4, nesterovs_momentum True, shuffle True, learning_rate constant, no early
stopping; tol and n_iter_no_change never stop 5 epochs). nnrs uses all CPUs (n_threads=None, its
default), scikit-learn its BLAS's threads. Rounds are interleaved (nnrs, scikit-learn, nnrs, ...);
the script prints each fit's wall-clock time, the CPU time of all the process's threads, and the
test accuracy, then the medians and their ratios. On a busy machine read the CPU-time ratio: the
wall-clock one then mostly measures how threads wait for a core.
"""

import argparse
import gzip
import os
import platform
import statistics
import struct
import time
import warnings

import numpy as np

FASHION_MNIST = "/usr/share/datasets/fashion-mnist"

SETTINGS = dict(
    hidden_layer_sizes=(256, 128),
    solver="sgd",
    momentum=0.9,
    learning_rate_init=0.05,
    batch_size=128,
    max_iter=5,
    random_state=0,
)


def _read_idx(path):
    """An IDX file (raw or gzip) as a numpy array."""
    opener = gzip.open if open(path, "rb").read(2) == b"\x1f\x8b" else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path}: not an IDX file of unsigned bytes")
    dims = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _find(folder, stem):
    for name in (stem + ".gz", stem):
        path = os.path.join(folder, name)
        if os.path.exists(path):
            return path
    raise FileNotFoundError(
        f"{folder} has no {stem}[.gz]: install Debian's dataset-fashion-mnist or pass --data"
    )


def load_fashion_mnist(folder=FASHION_MNIST):
    """(X_train, y_train, X_test, y_test): images as C-ordered float32 (n, 784) in [0, 1]."""
    parts = []
    for prefix in ("train", "t10k"):
        images = _read_idx(_find(folder, f"{prefix}-images-idx3-ubyte"))
        labels = _read_idx(_find(folder, f"{prefix}-labels-idx1-ubyte"))
        x = np.ascontiguousarray(images.reshape(len(images), -1), dtype=np.float32) / 255.0
        parts += [x.astype(np.float32, copy=False), labels.astype(np.int64)]
    return tuple(parts)


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def run(make, X, y, X_test, y_test):
    clf = make()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: 5 epochs on purpose
        start, cpu_start = time.perf_counter(), time.process_time()
        clf.fit(X, y)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    return seconds, cpu, clf.score(X_test, y_test)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=FASHION_MNIST)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()

    import sklearn
    from sklearn.neural_network import MLPClassifier as SkMLP

    import nnrs

    X, y, X_test, y_test = load_fashion_mnist(args.data)
    print(f"cpu={cpu_model()!r} cpus={len(os.sched_getaffinity(0))} "
          f"nnrs={nnrs.__version__} sklearn={sklearn.__version__} numpy={np.__version__}")
    print(f"data: {X.shape[0]} training and {X_test.shape[0]} test images, {X.dtype}, "
          f"C-contiguous={X.flags.c_contiguous}; settings: {SETTINGS}")
    times = {"nnrs": [], "sklearn": []}
    cpu_times = {"nnrs": [], "sklearn": []}
    accuracy = {}
    for r in range(args.rounds):
        for name, make in (("nnrs", lambda: nnrs.MLPClassifier(**SETTINGS)),
                           ("sklearn", lambda: SkMLP(**SETTINGS))):
            seconds, cpu, acc = run(make, X, y, X_test, y_test)
            times[name].append(seconds)
            cpu_times[name].append(cpu)
            accuracy[name] = acc
            print(f"round {r + 1}: {name:8s} fit {seconds:7.2f} s (CPU time of all threads "
                  f"{cpu:7.2f} s)  test accuracy {acc:.4f}", flush=True)
    ours, theirs = statistics.median(times["nnrs"]), statistics.median(times["sklearn"])
    ours_cpu, theirs_cpu = statistics.median(cpu_times["nnrs"]), statistics.median(cpu_times["sklearn"])
    print(f"nnrs_seconds={ours:.2f} sklearn_seconds={theirs:.2f} speedup={theirs / ours:.2f} "
          f"cpu_speedup={theirs_cpu / ours_cpu:.2f} "
          f"nnrs_accuracy={accuracy['nnrs']:.4f} sklearn_accuracy={accuracy['sklearn']:.4f}")


if __name__ == "__main__":
    main()
