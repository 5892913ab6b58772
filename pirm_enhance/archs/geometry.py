"""Geometry's Track B network: 16-filter layers, a middle output and a final output (PIRM 2018).

Reconstructed from the PIRM 2018 challenge report (Ignatov et al., ECCVW 2018),
section 5.12 ("Geometry") and figure 13 (right). The report says the structure
follows its reference [24]; the report text this project holds stops before the
bibliography and the reference could not be identified (public pages and code
were searched), so nothing from [24] is used. No code of the team was found.

What the report states: every convolution has 16 filters; the network produces
two outputs, "one based on the features from the middle CNN layer" (output OC,
trained with an SSIM loss) "and one from the last layer" (output OE, trained with
adversarial, smooth and style losses); all losses are summed and the whole
network is trained at once (Adam, 5e-4, divided by 10 every 8,000 iterations).
Table 2: 833 ms on CPU against SRCNN's 3274 ms, a speed-up of 3.93.

Layers (3x3 'SAME' convolutions, ``c = channels``, ReLU, full resolution):

    conv1 3->c; conv2, conv3, conv4 c->c            middle features m
    conv_oc c->3; tanh * 0.58 + 0.5                 output OC (layer "output_oc")
    concat(m, OC) -> conv5 (c+3)->c; conv6, conv7, conv8 c->c
    conv_oe c->3; tanh * 0.58 + 0.5                 output OE (the model's output)

The zoo model (what is exported, scored and enhanced with) has one output, OE.
For training, :meth:`Geometry.two_output_model` returns a Keras model with the
outputs ``[OC, OE]`` that shares this model's layers and weights, and
:data:`MIDDLE_OUTPUT` names the layer of OC (``model.get_layer(MIDDLE_OUTPUT)``).
:func:`pirm_enhance.losses.geometry.geometry_losses` computes the team's terms
from the two outputs.

Cost at 1280x720 (multiply-adds per pixel): conv1 432, conv2-4 3 * 2,304,
conv_oc 432, conv5 19*9*16 = 2,736, conv6-8 3 * 2,304, conv_oe 432: 17,856
MAC/pixel (OC is on OE's path, so the exported graph computes it too). SRCNN
9-5-5: 69,152. Ratio 3.87 against the report's CPU-time ratio 3274 / 833 =
3.93. Parameters: 17,990 at 16 channels.

Choices the report leaves open (what was chosen, and why):

* depth: four convolutions before the middle output and four after it (plus
  the two RGB heads): the report gives none; eight 16-filter layers put the MAC
  ratio at 3.87 against the report's 3.93;
* kernels 3x3, ReLU, no normalisation, full resolution throughout (nothing is
  said about downscaling; a 16-filter network at full resolution already
  matches the reported time);
* the two heads: a 3x3 convolution to RGB each, with DPED's head
  ``tanh * 0.58 + 0.5`` (the challenge baseline's output range);
* the second half reads the middle features concatenated with OC (a
  coarse-to-fine refinement of OC): OC then lies on the final output's path, so
  its head is part of the one exported graph, is saved with the model, and gets
  gradients from OE's losses as well as from SSIM. The report only says OC is
  "based on the features from the middle CNN layer";
* initialisation: Glorot-uniform inner convolutions, DPED's std-0.01 heads.

Measured cost (pirm-bench, frozen .pb, 1280x720, median of 3 rounds interleaved with the
organisers' SRCNN graph at 1269 ms; 2-core CPU, TF 2.21): 938 ms, SRCNN / geometry =
1.35 against the report's 3274 / 833 = 3.93: off by a factor 2.91, explained as follows.
The network's floating-point work, 33.0 GFLOP (TensorFlow's profiler), puts it at 3.86x
cheaper than SRCNN's 127.6, near the report's ratio, as chosen above; but this CPU runs
its layers at 35 GFLOP/s against 101 for SRCNN's 64-channel 9x9/5x5 convolutions (thin
layers, 1x1 and depthwise convolutions and memory-bound concatenations get less out of
oneDNN than wide ones). The 2018 times came from another CPU and TensorFlow 1.x, whose
per-layer efficiency cannot be measured here, so the widths stay at the cost the report
implies by work rather than being tuned to this machine.
"""

import keras

from pirm_enhance import layers
from pirm_enhance.archs.base import ZooModel, image_input
from pirm_enhance.registry import register_arch

# the layer whose output is the middle output OC (SSIM loss); the model's own output is OE
MIDDLE_OUTPUT = "output_oc"


@register_arch("geometry")
@keras.saving.register_keras_serializable(package="pirm_enhance")
class Geometry(ZooModel):
    """Geometry (Track B): ten 3x3 convolutions of 16 filters, middle output OC and final output OE."""

    tf1_checkpoint = False  # no published weights: Keras layer names (conv_oc, conv_oe) break the TF1 layout
    tiny_config = {"channels": 4}
    middle_output = MIDDLE_OUTPUT

    def __init__(self, channels=16, depth=4, name="geometry", **kwargs):
        c = channels

        def conv(x, filters, layer_name, activation="relu", init="keras"):
            return layers.conv(filters, 3, layer_name, activation=activation, init=init)(x)

        inputs = image_input()
        x = inputs
        for i in range(depth):
            x = conv(x, c, f"conv{i + 1}")
        oc = layers.OutputHead(name=MIDDLE_OUTPUT)(conv(x, 3, "conv_oc", activation=None, init="dped"))
        x = keras.layers.Concatenate(name="middle_and_oc")([x, oc])
        for i in range(depth, 2 * depth):
            x = conv(x, c, f"conv{i + 1}")
        outputs = layers.OutputHead(name="output_oe")(conv(x, 3, "conv_oe", activation=None, init="dped"))
        self._finish(inputs, outputs, name, {"channels": channels, "depth": depth}, **kwargs)

    def two_output_model(self):
        """A Keras model ``image -> [OC, OE]`` sharing this model's layers and weights
        (training on it trains this model): OC for the SSIM loss, OE for the others."""
        return keras.Model(self.input, [self.get_layer(MIDDLE_OUTPUT).output, self.output],
                           name=f"{self.name}_two_outputs")
