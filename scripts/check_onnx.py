"""Checks nn's ONNX exports with onnx and onnxruntime (run by .ci/run, in a virtualenv).

    python scripts/check_onnx.py DIR [--mnist MODEL.onnx]

DIR is what `cargo run --example onnx_check -- DIR` writes: for every model listed in
DIR/manifest.tsv, NAME.onnx, NAME.inputs.npy (float32, one sample per row) and
NAME.expected.npy (nn's predict_proba of those inputs). Each model must:
- pass onnx's full checker (with strict shape inference);
- be IR version 8 importing only opset 17 of the default domain;
- have one input `input`, float32 [N, n_inputs], and one output `output`, float32
  [N, n_outputs], N symbolic, both in the file and as onnxruntime sees them;
- carry the metadata nn.sizes, nn.activations, nn.loss, nn.output, nn.precision and the entry
  check = NAME;
- give, under onnxruntime, outputs within 1e-5 of nn's (relative to max(1, |value|)) for the
  100 inputs run as one batch, and the same for a batch of 1 and of 7 (a dynamic batch);
- give the same under onnx's reference evaluator (numpy, written from the operators' spec).
--mnist also checks the file `mnist train --export-onnx` wrote: 784 inputs, 10 probabilities
per row, the preprocessing metadata and the class names; with --mnist-data (the folder of IDX
files) and --mnist-accuracy (what `train` printed), the model, fed the test images preprocessed
as its metadata says, must reach that test accuracy within 0.001.
The last line is `onnx: P passed, F failed`; the exit status is 1 if any check failed.
"""

import argparse
import gzip
import json
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx.reference import ReferenceEvaluator

TOLERANCE = 1e-5
IR_VERSION = 8
OPSET = 17
OWN_METADATA = ("nn.sizes", "nn.activations", "nn.loss", "nn.output", "nn.precision")


def signature(value_info):
    """(element type, [dims]) of a graph input or output; a symbolic dim is its name."""
    tensor = value_info.type.tensor_type
    dims = []
    for d in tensor.shape.dim:
        dims.append(d.dim_param if d.HasField("dim_param") else d.dim_value)
    return tensor.elem_type, dims


def check_structure(model, n_inputs, n_outputs):
    onnx.checker.check_model(model, full_check=True)
    assert model.ir_version == IR_VERSION, f"IR version {model.ir_version}"
    opsets = [(o.domain, o.version) for o in model.opset_import]
    assert opsets == [("", OPSET)], f"opsets {opsets}"
    graph = model.graph
    assert [i.name for i in graph.input] == ["input"], [i.name for i in graph.input]
    assert [o.name for o in graph.output] == ["output"], [o.name for o in graph.output]
    float32 = onnx.TensorProto.FLOAT
    elem, dims = signature(graph.input[0])
    assert elem == float32 and len(dims) == 2 and dims[1] == n_inputs, (elem, dims)
    assert isinstance(dims[0], str) and dims[0], f"batch dim {dims[0]!r} is not symbolic"
    elem, out_dims = signature(graph.output[0])
    assert elem == float32 and out_dims == [dims[0], n_outputs], (elem, out_dims)


def session(path):
    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (i,), (o,) = s.get_inputs(), s.get_outputs()
    assert i.name == "input" and i.type == "tensor(float)", (i.name, i.type)
    assert o.name == "output" and o.type == "tensor(float)", (o.name, o.type)
    assert isinstance(i.shape[0], str) and isinstance(o.shape[0], str), (i.shape, o.shape)
    return s


def max_error(actual, expected):
    """The largest |actual − expected| / max(1, |expected|)."""
    actual = actual.astype(np.float64)
    return float(np.max(np.abs(actual - expected) / np.maximum(1.0, np.abs(expected))))


def check_model(directory, name, loss, n_inputs, n_outputs):
    path = directory / f"{name}.onnx"
    model = onnx.load(str(path))
    check_structure(model, n_inputs, n_outputs)
    meta = {p.key: p.value for p in model.metadata_props}
    for key in OWN_METADATA:
        assert key in meta, f"metadata {key} missing"
    assert meta["nn.loss"] == loss, meta["nn.loss"]
    assert meta["check"] == name, meta.get("check")
    s = session(path)
    assert s.get_modelmeta().custom_metadata_map.get("check") == name
    x = np.load(directory / f"{name}.inputs.npy")
    expected = np.load(directory / f"{name}.expected.npy")
    assert x.dtype == np.float32 and x.shape == (expected.shape[0], n_inputs), x.shape
    (y,) = s.run(["output"], {"input": x})
    assert y.dtype == np.float32 and y.shape == expected.shape, (y.dtype, y.shape)
    assert np.all(np.isfinite(y)), "non-finite output"
    err = max_error(y, expected)
    assert err <= TOLERANCE, f"max error {err:.3g} > {TOLERANCE}"
    for rows in (slice(0, 1), slice(3, 10)):
        (part,) = s.run(["output"], {"input": x[rows]})
        part_err = max_error(part, expected[rows])
        assert part_err <= TOLERANCE, f"batch {rows}: max error {part_err:.3g}"
    # The reference's Sigmoid computes e^x on both branches: overflows it then discards.
    with np.errstate(over="ignore", invalid="ignore"):
        (ref,) = ReferenceEvaluator(model).run(["output"], {"input": x})
    ref_err = max_error(ref, expected)
    assert ref_err <= TOLERANCE, f"reference evaluator: max error {ref_err:.3g}"
    return max(err, ref_err)


def read_idx(path):
    """An IDX file (raw or gzip) of unsigned bytes as a numpy array."""
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    assert data[:3] == b"\x00\x00\x08", f"{path}: not an IDX file of unsigned bytes"
    n_dims = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(n_dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * n_dims).reshape(dims)


def find(folder, name):
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"neither {name} nor {name}.gz in {folder}")


def mnist_accuracy(session, folder):
    """The test accuracy of the model on t10k, preprocessed as the metadata says."""
    images = read_idx(find(folder, "t10k-images-idx3-ubyte"))
    labels = read_idx(find(folder, "t10k-labels-idx1-ubyte"))
    x = images.reshape(len(images), -1).astype(np.float32) / 255  # preprocessing: pixel / 255
    (y,) = session.run(["output"], {"input": x})
    return float(np.mean(np.argmax(y, axis=1) == labels))


def check_mnist(path, data=None, accuracy=None):
    model = onnx.load(str(path))
    check_structure(model, 784, 10)
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["nn.loss"] == "softmax_cross_entropy", meta["nn.loss"]
    assert meta["preprocessing"] == "pixel / 255", meta.get("preprocessing")
    classes = json.loads(meta["class_names"])
    assert len(classes) == 10 and all(isinstance(c, str) and c for c in classes), classes
    assert meta["image_shape"] == "28x28", meta.get("image_shape")
    s = session(path)
    x = np.random.default_rng(0).integers(0, 256, size=(5, 784)).astype(np.float32) / 255
    (y,) = s.run(["output"], {"input": x})
    assert y.shape == (5, 10) and np.all(y >= 0), y
    assert np.allclose(y.sum(axis=1), 1.0, atol=1e-5), y.sum(axis=1)
    if data is not None and accuracy is not None:
        onnx_accuracy = mnist_accuracy(s, data)
        print(f"     mnist test accuracy: onnxruntime {onnx_accuracy:.4f}, nn {accuracy:.4f}")
        assert abs(onnx_accuracy - accuracy) <= 1e-3, (onnx_accuracy, accuracy)
    return classes


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", type=Path)
    parser.add_argument("--mnist", type=Path)
    parser.add_argument("--mnist-data", type=Path)
    parser.add_argument("--mnist-accuracy", type=float)
    args = parser.parse_args()
    print(f"onnx {onnx.__version__}, onnxruntime {ort.__version__}, numpy {np.__version__}")
    lines = (args.dir / "manifest.tsv").read_text().splitlines()[1:]
    passed = failed = 0
    worst = 0.0
    for line in lines:
        name, loss, precision, n_inputs, n_outputs = line.split("\t")
        try:
            err = check_model(args.dir, name, loss, int(n_inputs), int(n_outputs))
        except Exception as e:  # Report every model, then fail.
            failed += 1
            print(f"FAIL {name}: {type(e).__name__}: {e}")
        else:
            passed += 1
            worst = max(worst, err)
            print(f"ok   {name} ({precision}): max error {err:.2g}")
    if args.mnist:
        try:
            classes = check_mnist(args.mnist, args.mnist_data, args.mnist_accuracy)
        except Exception as e:
            failed += 1
            print(f"FAIL mnist {args.mnist}: {type(e).__name__}: {e}")
        else:
            passed += 1
            print(f"ok   mnist {args.mnist}: classes {', '.join(classes)}")
    if not lines:
        failed += 1
        print(f"FAIL: no model in {args.dir / 'manifest.tsv'}")
    print(
        f"largest error of onnxruntime and onnx's reference against predict_proba: {worst:.2g}"
        f" (tolerance {TOLERANCE})"
    )
    print(f"onnx: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
