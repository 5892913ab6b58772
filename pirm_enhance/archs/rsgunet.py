"""RSGUNet: range scaling global U-Net (PIRM 2018 Track B winner, team Mt.Phoenix).

Huang et al., "Range Scaling Global U-Net for Perceptual Image Enhancement on
Mobile Devices" (ECCV 2018 workshops). No official weights were published; the
port follows the paper's layer list (1,451,268 parameters at base width 16).

Encoder of stride-2 stages (s0 at 1/2 resolution, e1..e5), a global feature
(mean of e5 -> dense + ReLU, broadcast over e4 and concatenated), a decoder of
bias-free 2x2 transposed convolutions sized to each skip, range scaling
(elementwise product with s0) and ``tanh * 0.58 + 0.52``. LeakyReLU(0.2).

``residual=True`` is not in the paper: the last convolution starts at zero and
its ``tanh`` is added to the input (clipped to [0, 1]), so the network starts
as the identity and learns a correction; the input is mirror-padded by 16
pixels inside the network (cropped back before the head), so the borders are
not convolved with zeros (a dark frame otherwise), after the image is mirrored
at the bottom and right to a multiple of 32 (``align``, on with ``residual``):
TensorFlow's "same" padding of a stride-2 convolution pads the top only when the
length is odd, so without it a 682-px-high photo is sampled on a grid one pixel
off the one its 32-aligned tiles (and 128-px training patches) see, and tiles
disagree with the whole-image run by up to 3 levels along whole tile rows
(issue 11). The project's default model
(``models/default.keras``, issue 11) uses it; ``residual=False`` (the default)
is the published network.
"""

import keras

from pirm_enhance import layers
from pirm_enhance.archs.base import ZooModel, image_input
from pirm_enhance.registry import register_arch

_SLOPE = 0.2


@register_arch("rsgunet")
@keras.saving.register_keras_serializable(package="pirm_enhance")
class RSGUNet(ZooModel):
    tf1_checkpoint = False  # no official weights: Keras layer names only (up<i>, global_dense)
    output_range = (0.52 - 0.58, 0.52 + 0.58)
    tiny_config = {"width": 4}

    def __init__(self, width=16, residual=False, align=None, name="rsgunet", **kwargs):
        counter = iter(range(1, 100))

        def conv(x, filters, strides=1, activation="lrelu", init="keras"):
            y = layers.conv(filters, 3, f"conv{next(counter)}", strides=strides,
                            init=init)(x)
            if activation == "lrelu":
                y = keras.layers.LeakyReLU(negative_slope=_SLOPE)(y)
            return y

        w = width
        inputs = image_input()
        align = residual if align is None else bool(align)
        aligned = layers.PadToMultiple(32, name="align_pad")(inputs) if align else inputs
        x0 = layers.MirrorPad(16, name="mirror_pad")(aligned) if residual else aligned
        s0 = conv(x0, w, strides=2)
        e1 = conv(conv(s0, w), w)
        e2 = conv(conv(conv(e1, w, strides=2), 2 * w), 2 * w)
        e3 = conv(conv(conv(e2, 2 * w, strides=2), 4 * w), 4 * w)
        e4 = conv(conv(conv(e3, 4 * w, strides=2), 8 * w), 8 * w)
        e5 = conv(conv(e4, 8 * w, strides=2), 16 * w)

        g = keras.layers.GlobalAveragePooling2D(name="global_mean")(e5)
        g = keras.layers.Dense(8 * w, activation="relu", name="global_dense")(g)
        g = layers.BroadcastToSpatial(name="global_broadcast")([g, e4])
        x = keras.layers.Concatenate()([e4, g])
        x = conv(conv(x, 8 * w), 8 * w)

        for i, skip in enumerate((e3, e2, e1)):
            channels = skip.shape[-1]
            x = layers.ConvTransposeLike(channels, 2, use_bias=False, name=f"up{i + 1}")([x, skip])
            x = keras.layers.Concatenate()([x, skip])
            x = conv(conv(x, channels), channels)

        x = keras.layers.Multiply(name="range_scaling")([x, s0])
        x = layers.ConvTransposeLike(3, 2, use_bias=False, name="up4")([x, x0])
        if residual:
            x = conv(x, 3, activation=None, init="zeros")
            x = layers.CropLike(name="crop")([x, aligned])
        else:
            x = conv(x, 3, activation=None)
        if align:
            x = layers.CropLike(anchor="top_left", name="align_crop")([x, inputs])
        if residual:
            outputs = layers.ResidualHead(name="head")([inputs, x])
        else:
            outputs = layers.OutputHead(offset=0.52, name="head")(x)
        self._finish(inputs, outputs, name, {"width": width, "residual": bool(residual), "align": align},
                     **kwargs)
