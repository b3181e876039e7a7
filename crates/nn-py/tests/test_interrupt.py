"""Ctrl-C (SIGINT) stops training between two batches; the estimator stays usable."""

import signal
import subprocess
import sys
import textwrap
import time

SCRIPT = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from nnrs import MLPClassifier

    rng = np.random.RandomState(0)
    X = rng.normal(size=(200_000, 100)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    # One epoch takes seconds: an interruption within a second proves the check between batches.
    clf = MLPClassifier((512, 512), max_iter=1000, tol=0.0, n_iter_no_change=np.inf,
                        random_state=0, n_threads=2)
    print("ready", flush=True)
    start = time.time()
    if sys.argv[1] == "catch":
        try:
            clf.fit(X, y)
        except KeyboardInterrupt:
            print(f"interrupted after {time.time() - start:.2f} s, epochs {clf.n_iter_}", flush=True)
            before = clf.predict(X[:1000])
            clf.partial_fit(X[:2000], y[:2000])  # still trainable
            assert clf.n_iter_ == 1 and clf.predict(X[:5]).shape == (5,)
            print("usable", (before == y[:1000]).mean() > 0.5, flush=True)
            sys.exit(0)
        sys.exit(3)
    clf.fit(X, y)
    """
)


def _interrupt(mode):
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(1.5)
    sent = time.time()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out, err, time.time() - sent


def test_ctrl_c_raises_keyboard_interrupt_and_leaves_the_estimator_usable():
    code, out, err, _ = _interrupt("catch")
    assert code == 0, (out, err)
    assert "interrupted after" in out and "epochs 0" in out, out
    assert "usable True" in out, out
    assert "panicked" not in err


def test_an_uncaught_ctrl_c_ends_python_promptly():
    code, out, err, seconds = _interrupt("uncaught")
    assert code in (-signal.SIGINT, 128 + signal.SIGINT, 1), (code, err)
    assert "KeyboardInterrupt" in err
    assert "panicked" not in err
    assert seconds < 5.0, seconds
