"""VDSR as the PIRM 2018 organisers' Track A baseline ("vgg19_vdsr").

Kim et al., "Accurate Image Super-Resolution Using Very Deep Convolutional
Networks" (CVPR 2016): 20 plain 3x3 convolutions with a global residual on the
luminance of the bicubic-upscaled image. The organisers' version
(github.com/aiff22/ai-challenge ``models.py``, ``vgg_19``; checkpoint
``models_pretrained/div2k_vgg19_vdsr.ckpt``, TF1 V1 format):

* gray = ``tf.image.rgb_to_grayscale(image)`` (weights 0.2989, 0.5870, 0.1140);
* conv 3x3 1->64 ReLU (``conv_00``); 18 x conv 3x3 64->64 ReLU (``conv_01`` ..
  ``conv_18``); conv 3x3 64->1 (``conv_20``; there is no ``conv_19``);
* output = ``image - gray + (conv_20 + gray)``: the predicted luminance residual
  added to all three channels, chroma untouched. No output head: the output is
  not bounded (the Track A scorer clips it to [0, 1]).
"""

import math

import keras
from keras import ops

from pirm_enhance import layers
from pirm_enhance.archs.base import ZooModel, image_input
from pirm_enhance.registry import register_arch

_PACKAGE = "pirm_enhance"
# tf.image.rgb_to_grayscale's luma weights (ITU-R BT.601)
_LUMA = (0.2989, 0.5870, 0.1140)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Grayscale(keras.layers.Layer):
    """``[B, H, W, 3] -> [B, H, W, 1]``: the luma of ``tf.image.rgb_to_grayscale``."""

    def call(self, x):
        return ops.sum(x * ops.convert_to_tensor(_LUMA, dtype=x.dtype), axis=-1, keepdims=True)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 1)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class LumaResidual(keras.layers.Layer):
    """``image - gray + luma``: the network's luminance replaces the input's in every channel."""

    def call(self, inputs):
        image, gray, luma = inputs
        return image - gray + luma

    def compute_output_shape(self, input_shapes):
        return input_shapes[0]


@register_arch("vgg19_vdsr")
@keras.saving.register_keras_serializable(package=_PACKAGE)
class VDSR(ZooModel):
    """``depth`` convolutions (20) of ``channels`` (64) on the luminance, global residual."""

    tf1_scope = "shared_model"
    tf1_kernel = "conv_%02d_w"
    tf1_bias = "conv_%02d_b"
    output_range = (-math.inf, math.inf)
    tiny_config = {"channels": 8, "depth": 4}

    def __init__(self, channels=64, depth=20, name="vgg19_vdsr", **kwargs):
        if depth < 2:
            raise ValueError(f"depth must be at least 2 (first and last convolution), not {depth}")
        inputs = image_input()
        gray = Grayscale(name="grayscale")(inputs)
        x = gray
        # conv_00 .. conv_{depth-2} with ReLU, then conv_{depth} (the TF1 code skips depth-1)
        for i in range(depth - 1):
            x = layers.conv(channels, 3, f"conv{i}", activation="relu", init="keras")(x)
        x = layers.conv(1, 3, f"conv{depth}", init="keras")(x)
        luma = keras.layers.Add(name="luma")([x, gray])
        outputs = LumaResidual(name="luma_residual")([inputs, gray, luma])
        self._finish(inputs, outputs, name, {"channels": channels, "depth": depth}, **kwargs)
