"""MENet theta-inception network (PIRM 2018 Track B, team MENet).

Reconstructed from the PIRM 2018 challenge report (Ignatov et al., ECCVW 2018),
section 5.9 "MENet" (figure 11). No paper or code of the team was found. The
report: a "theta-inception block" in which the image is processed in parallel by
convolutional and deconvolutional layers with strides 2 and 4, with filters of
size 3 and 5 in the first and second case; the two outputs are concatenated with
the output of the first convolutional layer and passed to the last layer. The
training is DPED's (Ignatov et al., ICCV 2017) plus two texture losses, see
:mod:`pirm_enhance.losses.menet`.

Layer list (w = ``width``)::

    conv 9x9 3 -> w, ReLU                                   = c1 (first layer)
    branch 2: conv 3x3 stride 2 w -> 2w, ReLU; deconv 3x3 stride 2 2w -> w, ReLU
    branch 4: conv 5x5 stride 4 w -> 4w, ReLU; deconv 5x5 stride 4 4w -> w, ReLU
    concat (c1, branch 2, branch 4) = 3w
    conv 3x3 3w -> 3; tanh * 0.58 + 0.5

Choices the report leaves open, and what is used here:

* Branch contents: one strided convolution and one transposed convolution each,
  nothing between them (the report names only these two layer kinds); each
  transposed convolution returns to the first layer's exact size (a 'same'
  transposed convolution cropped, so odd sizes work without padding).
* Widths: w = 32 for the first layer and the branch outputs, 2w at stride 2 and
  4w at stride 4 (channels doubling as the resolution halves); picked for the
  cost target below.
* First layer 9x9 and last layer 3x3: DPED's first layer (the team used DPED's
  setup), and a small last layer because it reads 3w channels at full size.
* Activation ReLU (DPED's), no normalisation, DPED head ``tanh * 0.58 + 0.5``.
* Initialisation: Glorot-uniform kernels, zero biases.

Cost (multiply-adds per pixel at 1280x720, each layer at its resolution; a
transposed convolution counted per input pixel): first layer 7,776; branch 2
2 x 4,608; branch 4 2 x 6,400; last layer 2,592: about 32.4k MAC/pixel against
SRCNN's 69,152, a ratio of 2.13; the report's Table 2 CPU ratio is
3274 / 1461 = 2.24. 252,323 parameters.

Measured cost (pirm-bench, frozen .pb, 1280x720, median of 3 rounds interleaved with the
organisers' SRCNN graph at 1269 ms; 2-core CPU, TF 2.21): 1233 ms, SRCNN / menet = 1.03
against the report's 3274 / 1461 = 2.24: off by a factor 2.18, explained as follows. The
network's floating-point work, 59.8 GFLOP (TensorFlow's profiler), puts it at 2.13x
cheaper than SRCNN's 127.6, near the report's ratio, as chosen above; but this CPU runs
its layers at 49 GFLOP/s against 101 for SRCNN's 64-channel 9x9/5x5 convolutions (thin
layers, 1x1 and depthwise convolutions and memory-bound concatenations get less out of
oneDNN than wide ones). The 2018 times came from another CPU and TensorFlow 1.x, whose
per-layer efficiency cannot be measured here, so the widths stay at the cost the report
implies by work rather than being tuned to this machine.
"""

import keras

from pirm_enhance import layers
from pirm_enhance.archs.base import ZooModel, image_input
from pirm_enhance.registry import register_arch


@register_arch("menet")
@keras.saving.register_keras_serializable(package="pirm_enhance")
class MENet(ZooModel):
    tf1_checkpoint = False  # no published weights: Keras layer names only (first, down<s>, up<s>, last)
    tiny_config = {"width": 4}

    def __init__(self, width=32, name="menet", **kwargs):
        w = width
        inputs = image_input()
        c1 = layers.conv(w, 9, "first", activation="relu", init="keras")(inputs)
        branches = [c1]
        for stride, size in ((2, 3), (4, 5)):
            x = layers.conv(stride * w, size, f"down{stride}", strides=stride, activation="relu",
                            init="keras")(c1)
            x = layers.ConvTransposeLike(w, size, strides=stride, name=f"up{stride}")([x, c1])
            branches.append(keras.layers.ReLU(name=f"up{stride}_relu")(x))
        x = keras.layers.Concatenate(name="theta_concat")(branches)
        x = layers.conv(3, 3, "last", init="keras")(x)
        outputs = layers.OutputHead(name="head")(x)
        self._finish(inputs, outputs, name, {"width": width}, **kwargs)
