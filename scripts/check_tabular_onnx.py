"""Checks that a `tabular train --export-onnx` model can be used without nn (run by .ci/run).

    python scripts/check_tabular_onnx.py MODEL.onnx TABLE.csv PREDICTIONS.csv

Reads the preprocessing from the model's metadata only (the `tabular.*` entries), encodes the
rows of TABLE.csv as it says (numeric columns (x - mean) / scale, string columns one-hot over
the training categories, missing values as the imputation says), runs the model with
onnxruntime, turns the outputs back into predictions (regression: mean + scale * output) and
compares them with PREDICTIONS.csv, what `tabular predict` wrote for the same table: the same
predicted classes or labels, and every number within 1e-4 (relative to max(1, |value|); the
predictions file has 7 significant digits). The last line is `tabular onnx: N rows agree`;
the exit status is 1 on any difference.
"""

import csv
import json
import sys

import numpy as np
import onnxruntime as ort

TOLERANCE = 1e-4


def encode(rows, header, pre):
    """The float32 inputs, one row per sample, as the preprocessing's JSON describes them."""
    index = {name: k for k, name in enumerate(header)}
    width = sum(1 if f["kind"] == "numeric" else len(f["categories"]) for f in pre["features"])
    x = np.zeros((len(rows), width), dtype=np.float64)
    for r, row in enumerate(rows):
        k = 0
        for f in pre["features"]:
            cell = row[index[f["name"]]].strip()
            if f["kind"] == "numeric":
                if cell == "":
                    assert pre["imputation"] == "mean", f"row {r + 1}: missing {f['name']}"
                    x[r, k] = 0.0  # the training mean, standardized
                else:
                    x[r, k] = (float(cell) - f["mean"]) / f["scale"]
                k += 1
            else:
                categories = f["categories"]
                if cell == "":
                    assert pre["imputation"] == "mean", f"row {r + 1}: missing {f['name']}"
                    x[r, k : k + len(categories)] = f["frequencies"]
                elif cell in categories:
                    x[r, k + categories.index(cell)] = 1.0
                k += len(categories)
    return x.astype(np.float32)


def close(a, b):
    return abs(a - b) <= TOLERANCE * max(1.0, abs(a), abs(b))


def main():
    model_path, table_path, predictions_path = sys.argv[1:4]
    session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    pre = json.loads(meta["tabular.preprocessing"])
    assert pre["format"] == "nn-tabular-preprocessing" and pre["version"] == 1, pre["format"]
    assert meta["tabular.task"] == pre["task"]
    outputs_names = json.loads(meta["tabular.outputs"])
    with open(table_path, newline="", encoding="utf-8-sig") as f:
        table = list(csv.reader(f))
    header, rows = [h.strip() for h in table[0]], [r for r in table[1:] if any(c.strip() for c in r)]
    x = encode(rows, header, pre)
    assert x.shape[1] == len(json.loads(meta["tabular.inputs"])), x.shape
    (y,) = session.run(["output"], {"input": x})
    y = y.astype(np.float64)
    assert y.shape == (len(rows), len(outputs_names)), y.shape
    target = pre["target"]
    if target["kind"] == "regression":
        y = np.array([[c["mean"] + c["scale"] * v for c, v in zip(target["columns"], row)] for row in y])
    with open(predictions_path, newline="", encoding="utf-8") as f:
        expected = list(csv.reader(f))[1:]
    assert len(expected) == len(rows), (len(expected), len(rows))
    failures = 0
    for r, (got, want) in enumerate(zip(y, expected)):
        if target["kind"] == "classification":
            label, numbers = want[0], [float(v) for v in want[1:]]
            ok = target["classes"][int(np.argmax(got))] == label
        elif target["kind"] == "multilabel":
            n = len(outputs_names)
            labels, numbers = [int(v) for v in want[:n]], [float(v) for v in want[n:]]
            ok = labels == [int(p >= 0.5) for p in got]
        else:
            numbers, ok = [float(v) for v in want], True
        ok = ok and all(close(a, b) for a, b in zip(got, numbers))
        if not ok:
            failures += 1
            if failures <= 5:
                print(f"row {r + 1}: onnx {list(got)} but predict wrote {want}")
    if failures:
        print(f"tabular onnx: {failures} of {len(rows)} rows differ")
        sys.exit(1)
    print(f"tabular onnx: {len(rows)} rows agree")


if __name__ == "__main__":
    main()
