#!/usr/bin/env python3
"""The workloads of docs/workloads.md in plain numpy: forward and backward written by hand, the
products in numpy's BLAS (the OpenBLAS of the numpy wheel), float32 throughout.

    python numpy_mlp.py --workload w1 --threads 2

prints one line in the format of examples/bench.rs, `library=numpy` first.

Samples are rows here (numpy's natural layout): a layer computes Z = A W + b with W of shape
(fan_in, fan_out). Every buffer is allocated once, before the timed section, so numpy spends its
time in the products and the element-wise passes, not in the allocator.
"""

import common

args = common.parse_args(__doc__.splitlines()[0])
common.limit_threads(args.threads)

import numpy as np  # noqa: E402 (after the thread limits)
from threadpoolctl import threadpool_limits  # noqa: E402

F32 = np.float32


class Mlp:
    """Parameters, momentum and every buffer of one network, for batches of up to `capacity`."""

    def __init__(self, sizes, activation, seed, capacity):
        self.activation = activation
        self.sizes = sizes
        self.weights, self.biases = common.he_uniform(sizes, seed)
        self.v_weights = [np.zeros_like(w) for w in self.weights]
        self.v_biases = [np.zeros_like(b) for b in self.biases]
        self.g_weights = [np.empty_like(w) for w in self.weights]
        self.g_biases = [np.empty_like(b) for b in self.biases]
        self.step_weights = [np.empty_like(w) for w in self.weights]
        self.step_biases = [np.empty_like(b) for b in self.biases]
        # outputs[l]: layer l's activations (the last layer's logits, then probabilities);
        # deltas[l]: the loss's gradient with respect to layer l's pre-activation.
        self.outputs = [np.empty((capacity, n), F32) for n in sizes[1:]]
        self.deltas = [np.empty((capacity, n), F32) for n in sizes[1:]]
        self.scratch = [np.empty((capacity, n), F32) for n in sizes[1:]]
        self.input = np.empty((capacity, sizes[0]), F32)
        self.rows = np.arange(capacity)

    def reset(self, seed):
        """Back to the initial parameters of `seed` and zero momentum, in the same buffers."""
        weights, biases = common.he_uniform(self.sizes, seed)
        for p, initial in zip(self.weights + self.biases, weights + biases):
            p[...] = initial
        for v in self.v_weights + self.v_biases:
            v.fill(0)

    def forward(self, x):
        """The logits of the rows of `x`, in a buffer of this network."""
        n = x.shape[0]
        a = x
        last = len(self.weights) - 1
        for l, (w, b) in enumerate(zip(self.weights, self.biases)):
            z = self.outputs[l][:n]
            np.matmul(a, w, out=z)
            z += b
            if l < last:
                if self.activation == "relu":
                    np.maximum(z, F32(0), out=z)
                else:  # sigmoid: 1 / (1 + exp(-z))
                    np.negative(z, out=z)
                    np.exp(z, out=z)
                    z += F32(1)
                    np.reciprocal(z, out=z)
            a = z
        return a

    def softmax_cross_entropy(self, logits, y):
        """Turns `logits` into the gradient of the mean cross-entropy with respect to them (the
        softmax minus the one-hot labels, over n) and returns the summed loss."""
        n = logits.shape[0]
        rows = self.rows[:n]
        logits -= logits.max(axis=1, keepdims=True)
        picked = logits[rows, y]
        np.exp(logits, out=logits)
        sums = logits.sum(axis=1, keepdims=True)
        loss = float(np.log(sums).sum() - picked.sum())
        logits /= sums
        logits[rows, y] -= F32(1)
        logits *= F32(1.0 / n)
        return loss

    def train_step(self, x, y):
        n = x.shape[0]
        delta = self.forward(x)
        self.softmax_cross_entropy(delta, y)
        for l in range(len(self.weights) - 1, -1, -1):
            a_in = x if l == 0 else self.outputs[l - 1][:n]
            np.matmul(a_in.T, delta, out=self.g_weights[l])
            np.sum(delta, axis=0, out=self.g_biases[l])
            if l > 0:
                previous = self.deltas[l - 1][:n]
                np.matmul(delta, self.weights[l].T, out=previous)
                derivative = self.scratch[l - 1][:n]
                if self.activation == "relu":
                    np.greater(a_in, F32(0), out=derivative)
                else:  # sigmoid: a (1 - a)
                    np.subtract(F32(1), a_in, out=derivative)
                    derivative *= a_in
                previous *= derivative
                delta = previous
            # SGD with momentum, PyTorch's form: v = 0.9 v + g; w = w - lr v.
            for p, v, g, s in ((self.weights[l], self.v_weights[l], self.g_weights[l],
                                self.step_weights[l]),
                               (self.biases[l], self.v_biases[l], self.g_biases[l],
                                self.step_biases[l])):
                v *= F32(common.MOMENTUM)
                v += g
                np.multiply(v, F32(common.LEARNING_RATE), out=s)
                p -= s

    def evaluate(self, x, y):
        """(accuracy, mean cross-entropy) over the rows of `x`, in batches of 1000."""
        correct, loss = 0, 0.0
        for start in range(0, x.shape[0], common.INFERENCE_BATCH):
            xb, yb = x[start:start + common.INFERENCE_BATCH], y[start:start + common.INFERENCE_BATCH]
            logits = self.forward(xb)
            correct += int((logits.argmax(axis=1) == yb).sum())
            loss += self.softmax_cross_entropy(logits, yb)
        return correct / x.shape[0], loss / x.shape[0]


def train():
    sizes, activation = common.TRAINING[args.workload]
    x_train, y_train, x_test, y_test = common.load_data(args.data)
    n = x_train.shape[0]
    b = common.BATCH
    net = Mlp(sizes, activation, args.seed, max(b, common.INFERENCE_BATCH))
    # Warm-up: steps on the first batches, unshuffled; then the initial parameters again.
    for k in range(common.WARMUP_STEPS):
        net.train_step(x_train[k * b:(k + 1) * b], y_train[k * b:(k + 1) * b])
    net.reset(args.seed)
    rng = np.random.default_rng(args.seed + 1)
    started = common.clock()
    for _ in range(args.epochs):
        order = rng.permutation(n)
        for start in common.batch_starts(n):
            idx = order[start:start + b]
            xb = net.input[:idx.shape[0]]
            np.take(x_train, idx, axis=0, out=xb)
            net.train_step(xb, y_train[idx])
    seconds = common.clock() - started
    accuracy, loss = net.evaluate(x_test, y_test)
    common.training_line("numpy", np.__version__, args, n, seconds, accuracy, loss)


def infer():
    _, _, x_test, y_test = common.load_data(args.data)
    net = Mlp(common.INFERENCE_SIZES, "relu", args.seed, common.INFERENCE_BATCH)
    n = x_test.shape[0]
    classes = np.empty(n, np.int64)

    def one_pass():
        started = common.clock()
        for start in range(0, n, common.INFERENCE_BATCH):
            logits = net.forward(x_test[start:start + common.INFERENCE_BATCH])
            classes[start:start + logits.shape[0]] = logits.argmax(axis=1)
        return common.clock() - started

    one_pass()
    passes = [one_pass() for _ in range(common.INFERENCE_PASSES)]
    images = [x_test[i:i + 1] for i in range(n)]
    for i in range(common.SINGLE_WARMUP):
        net.forward(images[i]).argmax(axis=1)
    latencies = []
    for image in images:
        started = common.clock()
        net.forward(image).argmax(axis=1)
        latencies.append(common.clock() - started)
    accuracy = float((classes == y_test).mean())
    common.inference_line("numpy", np.__version__, args, passes, latencies, accuracy)


if __name__ == "__main__":
    with threadpool_limits(limits=args.threads):
        infer() if args.workload == "w3" else train()
