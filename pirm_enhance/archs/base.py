"""Base class of the model zoo: a Keras functional model with a TF1 variable layout.

Each architecture builds ``keras.Input -> layers -> output`` in ``__init__``
(the keras-hub backbone pattern), so summary, ``.keras`` save/load and export
work unchanged. Layers that own TF1 checkpoint variables follow one naming
rule that :mod:`pirm_enhance.checkpoints` reads:

* ``conv<N>``: kernel <- ``<scope>/<kernel_fmt % N>``, bias <- ``<scope>/<bias_fmt % N>``;
* ``norm<K>``: the K-th instance norm in TF1 construction order; its shift is
  ``<scope>/Variable_<2K>`` and its scale ``<scope>/Variable_<2K+1>``
  (``Variable`` for index 0).
"""

import keras


class ZooModel(keras.Model):
    """A zoo architecture. Subclasses set the TF1 layout and ``_arch_config``."""

    tf1_scope = "generator"
    tf1_kernel = "W%d"
    tf1_bias = "b%d"
    # tf1 bias shapes that are broadcast onto the Keras bias: {conv index: tf1 shape}
    tf1_broadcast_bias = {}

    def _finish(self, inputs, outputs, name, arch_config, **kwargs):
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)
        self._arch_config = dict(arch_config)

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable, **self._arch_config}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def image_input():
    """NHWC float32 RGB in [0, 1], any height and width."""
    return keras.Input(shape=(None, None, 3), dtype="float32", name="input")
