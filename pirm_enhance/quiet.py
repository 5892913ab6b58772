"""Start TensorFlow without its start-up banner on the user's stderr.

TensorFlow 2.21 prints absl/oneDNN lines at import and a CPU-feature line at
first use that no environment variable silences; the tools import it with
stderr pointed at /dev/null so that an error stays one line. This module
imports nothing of the library: every layer may use it.
"""

import os
import sys


def quiet_tensorflow():
    """Import TensorFlow (once) with its banner kept off stderr; also sets
    ``TF_CPP_MIN_LOG_LEVEL=2`` and silences Python-side TensorFlow/absl warnings."""
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
    import logging

    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    try:
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
    except ImportError:  # absl is TensorFlow's own dependency
        pass
