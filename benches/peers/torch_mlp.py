#!/usr/bin/env python3
"""The workloads of docs/workloads.md in PyTorch on the CPU, written as a PyTorch user would:
`nn.Sequential` of `nn.Linear`, `F.cross_entropy`, `torch.optim.SGD`, float32.

    python torch_mlp.py --workload w1 --threads 2

prints one line in the format of examples/bench.rs, `library=torch` first.

The initial parameters are the same He-uniform draws as numpy_mlp.py's (common.he_uniform),
copied into the layers; the epochs' permutations come from the same numpy stream.
"""

import common

args = common.parse_args(__doc__.splitlines()[0])
common.limit_threads(args.threads)

import numpy as np  # noqa: E402 (after the thread limits)
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

torch.set_num_threads(args.threads)
try:
    torch.set_num_interop_threads(1)
except RuntimeError:  # already set by an earlier parallel call
    pass

ACTIVATIONS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid}


def build(sizes, activation, seed):
    """Linear layers with `activation` between them and He-uniform initial weights, zero biases."""
    weights, biases = common.he_uniform(sizes, seed)
    layers = []
    for l, (w, b) in enumerate(zip(weights, biases)):
        linear = nn.Linear(w.shape[0], w.shape[1])
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(w.T.copy()))  # torch stores (fan_out, fan_in)
            linear.bias.copy_(torch.from_numpy(b))
        layers.append(linear)
        if l < len(weights) - 1:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


@torch.inference_mode()
def evaluate(model, x, y):
    """(accuracy, mean cross-entropy) over `x`, in batches of 1000."""
    correct, loss = 0, 0.0
    for start in range(0, x.shape[0], common.INFERENCE_BATCH):
        logits = model(x[start:start + common.INFERENCE_BATCH])
        yb = y[start:start + common.INFERENCE_BATCH]
        correct += int((logits.argmax(1) == yb).sum())
        loss += float(F.cross_entropy(logits, yb, reduction="sum"))
    return correct / x.shape[0], loss / x.shape[0]


def train():
    sizes, activation = common.TRAINING[args.workload]
    x_train, y_train, x_test, y_test = (torch.from_numpy(a) for a in common.load_data(args.data))
    n = x_train.shape[0]
    b = common.BATCH
    model = build(sizes, activation, args.seed)
    initial = {k: v.clone() for k, v in model.state_dict().items()}

    def optimizer():
        return torch.optim.SGD(model.parameters(), lr=common.LEARNING_RATE,
                               momentum=common.MOMENTUM)

    def step(opt, xb, yb):
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(xb), yb).backward()  # the mean over the batch
        opt.step()

    # Warm-up: steps on the first batches, unshuffled; then the initial parameters and a fresh
    # optimizer (zero momentum).
    opt = optimizer()
    for k in range(common.WARMUP_STEPS):
        step(opt, x_train[k * b:(k + 1) * b], y_train[k * b:(k + 1) * b])
    model.load_state_dict(initial)
    opt = optimizer()
    rng = np.random.default_rng(args.seed + 1)
    started = common.clock()
    for _ in range(args.epochs):
        order = torch.from_numpy(rng.permutation(n))
        for start in common.batch_starts(n):
            idx = order[start:start + b]
            step(opt, x_train[idx], y_train[idx])
    seconds = common.clock() - started
    accuracy, loss = evaluate(model, x_test, y_test)
    common.training_line("torch", torch.__version__, args, n, seconds, accuracy, loss)


@torch.inference_mode()
def infer():
    _, _, x_test, y_test = (torch.from_numpy(a) for a in common.load_data(args.data))
    model = build(common.INFERENCE_SIZES, "relu", args.seed).eval()
    n = x_test.shape[0]
    classes = torch.empty(n, dtype=torch.int64)

    def one_pass():
        started = common.clock()
        for start in range(0, n, common.INFERENCE_BATCH):
            logits = model(x_test[start:start + common.INFERENCE_BATCH])
            classes[start:start + logits.shape[0]] = logits.argmax(1)
        return common.clock() - started

    one_pass()
    passes = [one_pass() for _ in range(common.INFERENCE_PASSES)]
    images = [x_test[i:i + 1] for i in range(n)]
    for i in range(common.SINGLE_WARMUP):
        model(images[i]).argmax(1)
    latencies = []
    for image in images:
        started = common.clock()
        model(image).argmax(1)
        latencies.append(common.clock() - started)
    accuracy = float((classes == y_test).double().mean())
    common.inference_line("torch", torch.__version__, args, passes, latencies, accuracy)


if __name__ == "__main__":
    infer() if args.workload == "w3" else train()
