"""Console entry points: argument parsing only, each calls one library function."""

import os
import sys


def fail(message, code=1):
    """Print one line on stderr and exit with ``code``."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(code)


def quiet_tensorflow():
    """Import TensorFlow with its start-up banner (absl/oneDNN lines that no
    environment variable silences in TF 2.21) kept off the user's stderr, so
    that an error stays one line."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            import tensorflow as tf

            tf.constant(0.0) + 1.0  # the CPU feature banner prints at first use
    finally:
        os.dup2(saved, 2)
        os.close(saved)
