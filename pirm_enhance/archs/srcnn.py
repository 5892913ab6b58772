"""SRCNN 9-5-5, the PIRM 2018 baseline.

Dong et al., "Image Super-Resolution Using Deep Convolutional Networks"
(TPAMI 2016), as trained for both PIRM tracks by the organisers
(github.com/aiff22/ai-challenge, ``models_pretrained/dped_srcnn``), with the
DPED output head ``tanh(x) * 0.58 + 0.5``.
"""

import keras

from pirm_enhance import layers
from pirm_enhance.archs.base import ZooModel, image_input
from pirm_enhance.registry import register_arch


@register_arch("srcnn")
@keras.saving.register_keras_serializable(package="pirm_enhance")
class SRCNN(ZooModel):
    tf1_kernel = "w%d"
    # The official checkpoint's last bias has shape [1]: one value added to all
    # three channels. It is imported by broadcasting it onto the 3-channel bias.
    tf1_broadcast_bias = {3: (1,)}
    tiny_config = {"filters": (8, 8)}

    def __init__(self, filters=(64, 32), kernel_sizes=(9, 5, 5), name="srcnn", **kwargs):
        inputs = image_input()
        f1, f2 = filters
        k1, k2, k3 = kernel_sizes
        x = layers.conv(f1, k1, "conv1", activation="relu")(inputs)
        x = layers.conv(f2, k2, "conv2", activation="relu")(x)
        x = layers.conv(3, k3, "conv3")(x)
        outputs = layers.OutputHead(name="head")(x)
        self._finish(inputs, outputs, name,
                     {"filters": list(filters), "kernel_sizes": list(kernel_sizes)}, **kwargs)
