"""One interface to run a model on images: ``runner(batch) -> batch``.

Batches are ``[N, H, W, 3]`` float32 NumPy arrays in [0, 1]; results come back
as float32 NumPy arrays, unclipped (the scorer clips for PSNR only, as the
organisers did).
"""

import numpy as np
import tensorflow as tf


class KerasRunner:
    """Runs a ``keras.Model`` through one ``tf.function`` with dynamic batch and size."""

    kind = "keras"

    def __init__(self, model):
        self.model = model
        self.name = model.name
        self._fn = tf.function(
            lambda x: model(x, training=False),
            input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)],
            reduce_retracing=True)

    def __call__(self, batch):
        return self._fn(tf.constant(np.asarray(batch, np.float32))).numpy()


def make_runner(model_or_name):
    """A runner for a ``keras.Model``, a zoo/pretrained name or a ``.keras`` file."""
    if callable(getattr(model_or_name, "__call__", None)) and hasattr(model_or_name, "kind"):
        return model_or_name
    import keras

    if isinstance(model_or_name, keras.Model):
        return KerasRunner(model_or_name)
    from pirm_enhance.models_api import load_model

    return KerasRunner(load_model(str(model_or_name)))
