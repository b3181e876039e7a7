"""The README's Python example runs and does what it says."""

import contextlib
import io
import os
import re

README = os.path.join(os.path.dirname(__file__), "..", "..", "..", "README.md")


def test_the_readme_example_runs():
    text = open(README, encoding="utf-8").read()
    marker = "<!-- tests/test_readme.py runs this example. -->"
    code = re.search(r"```python\n(.*?)```", text[text.index(marker) :], re.S).group(1)
    assert len(code.strip().splitlines()) <= 10
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})
    lines = out.getvalue().splitlines()
    accuracy = float(re.match(r"accuracy (\S+) after \d+ epochs", lines[0]).group(1))
    assert accuracy > 0.95, lines
    assert lines[1] == "[(64, 128), (128, 10)]"
