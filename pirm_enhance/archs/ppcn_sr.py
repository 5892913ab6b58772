"""PPCN super-resolution network (PIRM 2018 Track A, team Rainbow).

Hui et al., "Perception-Preserving Convolutional Networks for Image
Enhancement on Smartphones" (ECCV 2018 workshops), section 3.1 and Fig. 2;
github.com/Zheng222/PPCN ``test/model_super_resolution.py`` (``Generator``),
checkpoint ``test/ckpt_super_resolution/generator_all.ckpt``.

The input is the bicubic-upscaled image (the Track A protocol), so the network
first works at 1/4 resolution and ends with a x4 sub-pixel convolution:

* ``x * 255`` minus its per-image, per-channel mean over H and W;
* conv 3x3 stride 2 3->c LeakyReLU(0.05); conv 3x3 stride 2 c->2c LeakyReLU;
  conv 3x3 2c->c (``t``);
* two groups, each: two residual modules (conv 3x3 c->2c LeakyReLU, conv 3x3
  2c->c, + module input), a transition conv 3x3 c->c, + group input;
* conv 3x3 c->c, + ``t`` (the global residual);
* upsampler: conv 3x3 c->c, conv 3x3 c->48 (no activations), sub-pixel x4
  applied to each colour's 16 channels separately (``PS(..., color=True)``);
* ``(x + mean) / 255``: no output head, the output is not bounded (the Track A
  scorer clips it to [0, 1]).

The TF1 code used ``tf.layers.conv2d``, whose variables are named by layer path
(``generator/res1/0/conv1/kernel``); ``tf1_conv_names`` lists them in the
order of the ``conv<N>`` layers (see :mod:`pirm_enhance.checkpoints`). The
output is cropped to the input's size (top-left), which changes nothing when
height and width are multiples of 4 (DIV2K) and keeps the output the input's
shape otherwise.
"""

import math

import keras
import numpy as np

from pirm_enhance import layers
from pirm_enhance.archs.base import ZooModel, image_input
from pirm_enhance.registry import register_arch

_PACKAGE = "pirm_enhance"
_SLOPE = 0.05
_SCALE = 4

_TF1_CONV_NAMES = (
    "downsample/1", "downsample/2", "n64s1/c1",
    "res1/0/conv1", "res1/0/conv2", "res1/1/conv1", "res1/1/conv2", "trans/1",
    "res2/0/conv1", "res2/0/conv2", "res2/1/conv1", "res2/1/conv2", "trans/2",
    "n64s1/c/m", "conv2d", "conv2d_1",
)


def colour_shuffle_index(channels, scale):
    """Channel order that makes ``depth_to_space(x[..., index], scale)`` PPCN's
    ``PS(x, scale, color=True)``: ``depth_to_space`` takes sub-pixel ``k`` of colour
    ``c`` from channel ``k * colours + c``, PPCN's from channel ``c * scale**2 + k``."""
    block = scale * scale
    colours = channels // block
    return np.array([c * block + k for k in range(block) for c in range(colours)], dtype="int32")


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ColourSubpixel(keras.layers.Layer):
    """Sub-pixel convolution of each colour's ``scale**2`` channels (a gather and
    ``depth_to_space``, both TFLite builtins)."""

    def __init__(self, scale=_SCALE, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale

    def build(self, input_shape):
        self.index = colour_shuffle_index(int(input_shape[-1]), self.scale)

    def call(self, x):
        import tensorflow as tf

        return tf.nn.depth_to_space(tf.gather(x, self.index, axis=3), self.scale)

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        s = self.scale
        return (b, None if h is None else h * s, None if w is None else w * s, c // (s * s))

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


def _lrelu(x):
    return keras.layers.LeakyReLU(negative_slope=_SLOPE)(x)


@register_arch("ppcn_sr")
@keras.saving.register_keras_serializable(package=_PACKAGE)
class PPCNSR(ZooModel):
    """Rainbow's x4 SR generator: 16 convolutions of ``channels`` (32) / 2x, at 1/4 resolution."""

    tf1_scope = "generator"
    tf1_kernel = "%s/kernel"
    tf1_bias = "%s/bias"
    tf1_conv_names = _TF1_CONV_NAMES
    output_range = (-math.inf, math.inf)
    tiny_config = {"channels": 8}

    def __init__(self, channels=32, name="ppcn_sr", **kwargs):
        c = channels
        n_conv = iter(range(len(_TF1_CONV_NAMES)))

        def conv(filters, x, strides=1, act=False):
            y = layers.conv(filters, 3, f"conv{next(n_conv)}", strides=strides, init="keras")(x)
            return _lrelu(y) if act else y

        inputs = image_input()
        x, mean = layers.MeanCentre(name="mean_centre")(inputs)
        x = conv(c, x, strides=2, act=True)
        x = conv(2 * c, x, strides=2, act=True)
        t = x = conv(c, x)
        for _ in range(2):
            group_input = x
            for _ in range(2):
                x = keras.layers.Add()([x, conv(c, conv(2 * c, x, act=True))])
            x = keras.layers.Add()([conv(c, x), group_input])
        x = keras.layers.Add()([conv(c, x), t])
        x = conv(3 * _SCALE * _SCALE, conv(c, x))
        x = ColourSubpixel(_SCALE, name="subpixel")(x)
        x = layers.CropLike(anchor="top_left", name="crop")([x, inputs])
        outputs = layers.MeanRestore(name="mean_restore")([x, mean])
        self._finish(inputs, outputs, name, {"channels": channels}, **kwargs)
