"""EdS convdeconv generator (PIRM 2018 Track B, team EdS).

Ignatov-style DPED generator with a strided encoder and transposed-conv
decoder, github.com/dojure/FPIE (``iphone_convdeconv16_iteration_40000``).

conv 9x9 3->d ReLU (c1); conv 4x4/2 d->2d IN ReLU; conv 4x4/2 2d->4d IN ReLU;
two DPED residual blocks (4d); tconv 4x4/2 4d->2d IN ReLU (to the 1/2 shape);
tconv 4x4/2 2d->d IN ReLU (to the input shape), + c1; two conv 3x3 d ReLU;
conv 9x9 d->3; ``tanh * 0.58 + 0.5``.
"""

import keras

from pirm_enhance import layers
from pirm_enhance.archs.base import ZooModel, image_input
from pirm_enhance.archs.dped_resnet import residual_blocks
from pirm_enhance.registry import register_arch


def _conv_in_relu(x, layer, norm_index):
    x = layer(x)
    x = layers.InstanceNorm(name=f"norm{norm_index}")(x)
    return keras.layers.ReLU()(x)


@register_arch("eds")
@keras.saving.register_keras_serializable(package="pirm_enhance")
class EdS(ZooModel):
    tiny_config = {"depth": 4}

    def __init__(self, depth=16, name="eds", **kwargs):
        d = depth
        inputs = image_input()
        c1 = layers.conv(d, 9, "conv1", activation="relu")(inputs)
        half = _conv_in_relu(c1, layers.conv(2 * d, 4, "conv2", strides=2), 0)
        quarter = _conv_in_relu(half, layers.conv(4 * d, 4, "conv3", strides=2), 1)
        x, n, k = residual_blocks(quarter, 2, 4 * d, 4, 2)
        up = layers.ConvTransposeLike(2 * d, 4, name=f"conv{n}")
        x = _conv_in_relu([x, half], up, k)
        up = layers.ConvTransposeLike(d, 4, name=f"conv{n + 1}")
        x = _conv_in_relu([x, c1], up, k + 1)
        x = keras.layers.Add()([x, c1])
        x = layers.conv(d, 3, f"conv{n + 2}", activation="relu")(x)
        x = layers.conv(d, 3, f"conv{n + 3}", activation="relu")(x)
        x = layers.conv(3, 9, f"conv{n + 4}")(x)
        outputs = layers.OutputHead(name="head")(x)
        self._finish(inputs, outputs, name, {"depth": depth}, **kwargs)
