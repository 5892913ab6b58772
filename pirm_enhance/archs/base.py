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

import inspect

import keras

# keys of a zoo model's saved configuration that are not constructor arguments of its own
_BASE_CONFIG_KEYS = {"name", "trainable", "dtype"}


class ZooModel(keras.Model):
    """A zoo architecture. Subclasses set the TF1 layout and ``_arch_config``.

    Class attributes, read by the library and by the generic tests (which run every
    registered architecture, so a new one is tested without editing them); override
    the defaults in the subclass:

    * ``tf1_scope``, ``tf1_kernel``, ``tf1_bias``: the TF1 variable names
      (``<scope>/<kernel % N>``) that :mod:`pirm_enhance.checkpoints` maps to layer
      ``conv<N>``; ``tf1_broadcast_bias``: ``{conv index: TF1 shape}`` of biases
      broadcast onto the Keras bias (SRCNN's one-value last bias).
    * ``tf1_conv_names`` (absent): for checkpoints saved by ``tf.layers`` (variables
      named by path, PPCN-SR), the list of names; layer ``conv<N>`` then maps to
      ``<scope>/<tf1_kernel % tf1_conv_names[N]>``.
    * ``tf1_checkpoint`` (``True``): the architecture has a TF1 variable layout that
      :func:`pirm_enhance.checkpoints.load_tf1_checkpoint` maps (every weighted layer
      is a ``conv<N>`` or a ``norm<K>`` instance norm). ``False`` for ports without
      TF1 weights whose layers have no TF1 names (RSGUNet).
    * ``output_range`` (``(0.5 - 0.58, 0.5 + 0.58)``, the DPED head
      ``tanh * 0.58 + 0.5``): closed bounds every output value lies in.
    * ``tiny_config`` (``{}``): constructor keyword arguments of a small version
      (fewer blocks / channels) with the same structure, for fast tests (gradients,
      one training step per recipe); ``{}`` when the default is already small.
    * ``kd_features`` (``None``): the name of the layer whose output the
      distillation loss compares (student and teacher of a ``kd`` recipe); ``None``
      when the architecture has no such layer. Its output has the input's height
      and width.
    * ``full_int8`` (``True``): LiteRT's converter can quantize the graph to full int8
      (``False``: it refuses it, and an int8 export is a one-line ``ModelRunError``).

    The challenge track is a property of trained weights, not of an architecture
    (SRCNN has Track A and Track B weights): it is the ``track`` field of
    ``pretrained.json``.
    """

    tf1_scope = "generator"
    tf1_kernel = "W%d"
    tf1_bias = "b%d"
    # tf1 bias shapes that are broadcast onto the Keras bias: {conv index: tf1 shape}
    tf1_broadcast_bias = {}
    tf1_checkpoint = True
    output_range = (0.5 - 0.58, 0.5 + 0.58)
    tiny_config = {}
    kd_features = None
    full_int8 = True

    def _finish(self, inputs, outputs, name, arch_config, **kwargs):
        super().__init__(inputs=inputs, outputs=outputs, name=name, **kwargs)
        self._arch_config = dict(arch_config)

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable, **self._arch_config}

    @classmethod
    def from_config(cls, config):
        # a setting this version does not know (a file written by a newer pirm-enhance, or
        # edited) is refused: Keras would pass it on unused and load only the weights of the
        # layers this version builds, silently giving another model
        known = {k for k in inspect.signature(cls.__init__).parameters if k not in ("self", "kwargs")}
        unknown = sorted(set(config) - known - _BASE_CONFIG_KEYS)
        if unknown:
            raise ValueError(f"the {cls.__name__} configuration has setting(s) {unknown} that this version "
                             f"of pirm-enhance does not know (known: {sorted(known - {'name'})}): a file from a newer "
                             "version needs that version (upgrade pirm-enhance); an edited one, the setting removed")
        return cls(**config)


def image_input():
    """NHWC float32 RGB in [0, 1], any height and width."""
    return keras.Input(shape=(None, None, 3), dtype="float32", name="input")
