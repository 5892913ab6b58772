"""PPCN teacher and student (PIRM 2018, team Rainbow).

Hui et al., "Perception-Preserving Convolutional Networks for Image
Enhancement on Smartphones" (ECCV 2018 workshops), github.com/Zheng222/PPCN.
Both start with a contrast adjustment (factor 1.2), use LeakyReLU(0.05) and
the DPED instance norm and output head. The student is trained from the
teacher by knowledge distillation.
"""

import keras

from pirm_enhance import layers
from pirm_enhance.archs.base import ZooModel, image_input
from pirm_enhance.registry import register_arch

_SLOPE = 0.05
# the layer whose output the distillation loss compares (last features before the RGB conv)
KD_FEATURES = "kd_features"


def _lrelu(x):
    return keras.layers.LeakyReLU(negative_slope=_SLOPE)(x)


def _conv_in(x, filters, kernel, conv_index, norm_index, dilation=1):
    x = layers.conv(filters, kernel, f"conv{conv_index}", dilation_rate=dilation)(x)
    return layers.InstanceNorm(name=f"norm{norm_index}")(x)


@register_arch("ppcn_student")
@keras.saving.register_keras_serializable(package="pirm_enhance")
class PPCNStudent(ZooModel):
    """Student (``generator_little``): 5 convolutions, 8/16 channels, about 10k parameters."""

    tf1_scope = "generator_little"
    tiny_config = {"channels": 4}
    kd_features = KD_FEATURES

    def __init__(self, channels=8, contrast=1.2, name="ppcn_student", **kwargs):
        c = channels
        inputs = image_input()
        x = layers.AdjustContrast(contrast, name="contrast")(inputs)
        x = _lrelu(layers.conv(c, (1, 7), "conv0")(x))
        c1 = _lrelu(layers.conv(c, (7, 1), "conv1")(x))
        x = _lrelu(_conv_in(c1, 2 * c, (1, 7), 2, 0, dilation=2))
        x = _lrelu(_conv_in(x, c, (7, 1), 3, 1, dilation=2))
        x = keras.layers.Add(name=KD_FEATURES)([x, c1])
        x = layers.conv(3, 3, "conv4")(x)
        outputs = layers.OutputHead(name="head")(x)
        self._finish(inputs, outputs, name, {"channels": channels, "contrast": contrast}, **kwargs)


@register_arch("ppcn_teacher")
@keras.saving.register_keras_serializable(package="pirm_enhance")
class PPCNTeacher(ZooModel):
    """Teacher (``generator_s``): 8 convolutions, 16/32 channels, two residual groups."""

    tf1_scope = "generator_s"
    tiny_config = {"channels": 4}
    kd_features = KD_FEATURES

    def __init__(self, channels=16, contrast=1.2, name="ppcn_teacher", **kwargs):
        c = channels
        inputs = image_input()
        x = layers.AdjustContrast(contrast, name="contrast")(inputs)
        x = _lrelu(layers.conv(c, (1, 7), "conv0")(x))
        c1 = _lrelu(layers.conv(c, (7, 1), "conv1")(x))
        x = _lrelu(_conv_in(c1, 2 * c, 3, 2, 0))
        x = _conv_in(x, c, 3, 3, 1)
        c3 = keras.layers.Add()([x, c1])
        x = _lrelu(_conv_in(c3, 2 * c, 3, 4, 2, dilation=2))
        x = _conv_in(x, c, 3, 5, 3, dilation=2)
        c5 = keras.layers.Add()([x, c3])
        x = keras.layers.Concatenate()([c3, c5])
        x = keras.layers.LeakyReLU(negative_slope=_SLOPE, name=KD_FEATURES)(layers.conv(c, 1, "conv6")(x))
        x = layers.conv(3, 3, "conv7")(x)
        outputs = layers.OutputHead(name="head")(x)
        self._finish(inputs, outputs, name, {"channels": channels, "contrast": contrast}, **kwargs)
