"""DPED ResNet generator (n layers, c channels).

Ignatov et al., "DSLR-Quality Photos on Mobile Devices with Deep
Convolutional Networks" (ICCV 2017), github.com/aiff22/DPED ``models.py``;
PIRM 2018 baselines ``dped_resnet_12_64`` (Track B), ``dped_resnet_8_32`` and
``div2k_resnet_6_16`` (Track A) from github.com/aiff22/ai-challenge.

conv 9x9 3->c ReLU; ``blocks`` x [conv3x3, IN, ReLU, conv3x3, IN, ReLU, + input];
two conv 3x3 c->c ReLU; conv 9x9 c->3; ``tanh * 0.58 + 0.5``.
"""

import keras

from pirm_enhance import layers
from pirm_enhance.archs.base import ZooModel, image_input
from pirm_enhance.registry import register_arch


def residual_blocks(x, blocks, channels, conv_index, norm_index, init="dped"):
    """DPED residual blocks; returns (x, next conv index, next norm index)."""
    for _ in range(blocks):
        skip = x
        for _ in range(2):
            x = layers.conv(channels, 3, f"conv{conv_index}", init=init)(x)
            x = layers.InstanceNorm(name=f"norm{norm_index}")(x)
            x = keras.layers.ReLU()(x)
            conv_index += 1
            norm_index += 1
        x = keras.layers.Add()([x, skip])
    return x, conv_index, norm_index


@keras.saving.register_keras_serializable(package="pirm_enhance")
class DPEDResNet(ZooModel):
    tiny_config = {"blocks": 1, "channels": 8}

    def __init__(self, blocks=4, channels=64, init="dped", name="dped_resnet", **kwargs):
        inputs = image_input()
        x = layers.conv(channels, 9, "conv1", activation="relu", init=init)(inputs)
        x, n, _ = residual_blocks(x, blocks, channels, 2, 0, init=init)
        x = layers.conv(channels, 3, f"conv{n}", activation="relu", init=init)(x)
        x = layers.conv(channels, 3, f"conv{n + 1}", activation="relu", init=init)(x)
        x = layers.conv(3, 9, f"conv{n + 2}", init=init)(x)
        outputs = layers.OutputHead(name="head")(x)
        self._finish(inputs, outputs, name, {"blocks": blocks, "channels": channels, "init": init},
                     **kwargs)


def _variant(blocks, channels):
    def build(**kwargs):
        kwargs.setdefault("blocks", blocks)
        kwargs.setdefault("channels", channels)
        kwargs.setdefault("name", f"dped_resnet_{4 + 2 * kwargs['blocks']}_{kwargs['channels']}")
        return DPEDResNet(**kwargs)
    build.__doc__ = f"DPED ResNet with {blocks} residual blocks of {channels} channels."
    return build


register_arch("dped_resnet_12_64")(_variant(4, 64))
register_arch("dped_resnet_8_32")(_variant(2, 32))
register_arch("dped_resnet_6_16")(_variant(1, 16))
