"""What the three peer scripts share: the command line, the thread limits, the data, the
initialisation, the timing helpers and the one output line.

Import this module before numpy, torch or scikit-learn and call `limit_threads` first: the BLAS
and OpenMP pools read their thread counts when those libraries load. docs/workloads.md defines
the workloads; examples/bench.rs implements them in Rust and prints the same `key=value` line.
"""

import argparse
import gzip
import os
import resource
import struct
import sys
import time

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"

# The two training workloads (docs/workloads.md): layer sizes and the hidden activation. Both use
# softmax cross-entropy, SGD with momentum 0.9, lr 0.05, batch 128 and 5 epochs.
TRAINING = {
    "w1": ([784, 256, 128, 10], "relu"),
    "w2": ([784, 100, 10], "sigmoid"),
}
# W3 runs W1's network forward.
INFERENCE_SIZES = TRAINING["w1"][0]
LEARNING_RATE = 0.05
MOMENTUM = 0.9
BATCH = 128
EPOCHS = 5
WARMUP_STEPS = 10
INFERENCE_BATCH = 1000
INFERENCE_PASSES = 7
SINGLE_WARMUP = 500

# Matrix-product FLOP per sample (a multiply-add is 2 FLOP), as examples/bench.rs counts them:
# training is the forward products, the weight gradients and the input gradients of every layer
# but the first; inference is the forward products.
FLOP = {"w1": 1_007_104, "w2": 319_600, "w3": 469_504}

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


def parse_args(description, workloads=("w1", "w2", "w3")):
    """The options of examples/bench.rs that the peers share."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--workload", required=True, choices=workloads)
    parser.add_argument("--threads", type=int, default=1,
                        help="threads of the library's thread pools (default 1)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the initialisation and the shuffling (default 0)")
    parser.add_argument("--epochs", type=int, default=EPOCHS,
                        help=f"training epochs (default {EPOCHS})")
    parser.add_argument("--data", default=FASHION_MNIST_DIR,
                        help="the folder of the four IDX files, raw or gzip "
                             f"(default {FASHION_MNIST_DIR})")
    args = parser.parse_args()
    if args.threads < 1:
        parser.error(f"--threads must be at least 1, found {args.threads}")
    if args.epochs < 1:
        parser.error(f"--epochs must be at least 1, found {args.epochs}")
    return args


def limit_threads(threads):
    """Sets the thread count every BLAS and OpenMP runtime reads when it loads."""
    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads)


def _read_idx(folder, name):
    """The u8 array of the IDX file `name` (or `name.gz`) in `folder`."""
    import numpy as np

    for path in (os.path.join(folder, name), os.path.join(folder, name + ".gz")):
        if os.path.isfile(path):
            break
    else:
        sys.exit(f"error: neither {name} nor {name}.gz is in {folder} "
                 "(on Debian or Ubuntu: apt-get install dataset-fashion-mnist)")
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        sys.exit(f"error: {path}: not an IDX file of unsigned bytes")
    rank = raw[3]
    header = 4 + 4 * rank
    if len(raw) < header:
        sys.exit(f"error: {path}: truncated IDX header")
    shape = struct.unpack(f">{rank}I", raw[4:header])
    count = 1
    for d in shape:
        count *= d
    if len(raw) - header != count:
        sys.exit(f"error: {path}: expected {count} bytes of data, found {len(raw) - header}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def load_data(folder):
    """(train images, train labels, test images, test labels) of an MNIST-like folder.

    Images are float32 rows of 784 values x = u8 / 255 (an f32 division, as examples/bench.rs
    does), one C-contiguous (n, 784) matrix; labels are int64 class indices.
    """
    import numpy as np

    def images(name):
        pixels = _read_idx(folder, name)
        if pixels.ndim != 3:
            sys.exit(f"error: {name}: expected images (3 dimensions), found {pixels.ndim}")
        x = pixels.reshape(pixels.shape[0], -1).astype(np.float32)
        x /= np.float32(255.0)
        return x

    def labels(name, n):
        y = _read_idx(folder, name)
        if y.shape != (n,):
            sys.exit(f"error: {name}: expected {n} labels, found shape {y.shape}")
        return y.astype(np.int64)

    x_train = images("train-images-idx3-ubyte")
    y_train = labels("train-labels-idx1-ubyte", x_train.shape[0])
    x_test = images("t10k-images-idx3-ubyte")
    y_test = labels("t10k-labels-idx1-ubyte", x_test.shape[0])
    return x_train, y_train, x_test, y_test


def he_uniform(sizes, seed):
    """Weights (fan_in, fan_out) drawn from U(-sqrt(6/fan_in), sqrt(6/fan_in)) in float32, and
    zero biases, from numpy's PCG64 stream of `seed`."""
    import numpy as np

    rng = np.random.default_rng(seed)
    weights, biases = [], []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = (6.0 / fan_in) ** 0.5
        weights.append(rng.uniform(-bound, bound, (fan_in, fan_out)).astype(np.float32))
        biases.append(np.zeros(fan_out, dtype=np.float32))
    return weights, biases


def batch_starts(n):
    """The start of every batch of an epoch: full batches, then the partial last one."""
    return range(0, n, BATCH)


def clock():
    """A monotonic clock in seconds."""
    return time.perf_counter()


def median(values):
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def peak_rss_mib():
    """Peak resident memory of this process in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def training_line(library, version, args, n_samples, seconds, accuracy, loss):
    """The line examples/bench.rs prints for W1 and W2 (`args.epochs` epochs of `n_samples`
    samples in `seconds`), with the library first."""
    samples_per_s = args.epochs * n_samples / seconds
    emit(library=library, version=version, workload=args.workload, threads=args.threads,
         samples_per_s=f"{samples_per_s:.0f}", s_per_epoch=f"{n_samples / samples_per_s:.3f}",
         gflops=f"{samples_per_s * FLOP[args.workload] / 1e9:.1f}",
         test_accuracy=f"{accuracy:.4f}", test_loss=f"{loss:.4f}",
         peak_rss_mib=f"{peak_rss_mib():.1f}")


def inference_line(library, version, args, pass_seconds, latencies, accuracy):
    """The line examples/bench.rs prints for W3: batch 1000 throughput (the median of the timed
    passes) and batch 1 latency (median, 90th percentile, and samples over the summed time)."""
    n = len(latencies)
    batch_rate = n / median(pass_seconds)
    ordered = sorted(latencies)
    emit(library=library, version=version, workload="w3", threads=args.threads,
         batch1000_samples_per_s=f"{batch_rate:.0f}",
         batch1_median_us=f"{ordered[n // 2] * 1e6:.1f}",
         batch1_p90_us=f"{ordered[n * 9 // 10] * 1e6:.1f}",
         batch1_samples_per_s=f"{n / sum(latencies):.0f}",
         test_accuracy=f"{accuracy:.4f}", peak_rss_mib=f"{peak_rss_mib():.1f}",
         batch1000_gflops=f"{batch_rate * FLOP['w3'] / 1e9:.1f}",
         batch1_gflops=f"{FLOP['w3'] / ordered[n // 2] / 1e9:.1f}")


def emit(**fields):
    print(" ".join(f"{key}={value}" for key, value in fields.items()), flush=True)
