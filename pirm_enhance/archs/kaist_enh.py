"""KAIST-VICLAB's Track B encoder-decoder with space-to-batch downscaling (PIRM 2018).

Reconstructed from the PIRM 2018 challenge report (Ignatov et al., ECCVW 2018),
section 5.2 and figure 4 (right). No paper or code of the team's Track B network
was found (public code and pages were searched), so everything below that the
report does not state is a choice of this project, listed at the end.

What the report states: an encoder-decoder in which "spatial sizes are reduced
with a space-to-batch technique: instead of using stride-2 convolutions, the
feature maps obtained after each layer are divided into 4 smaller feature maps
that are then concatenated along the batch dimension"; Track B was "trained
similarly to track A" (whose network used residual learning, 8 convolutions),
with DPED's colour loss and a relativistic GAN (see
:mod:`pirm_enhance.losses.kaist`). Table 2: 2153 ms on CPU against SRCNN's
3274 ms, a speed-up of 1.52.

Layers (``c = channels``, 3x3 'SAME' convolutions, ReLU):

    PadToMultiple(4)                                   mirror, bottom/right
    enc0 3->c                        full resolution   e0
    space-to-batch; enc1 c->c        1/2, batch x4     e1
    space-to-batch; enc2 c->c        1/4, batch x16
    bottleneck c->c                  1/4
    batch-to-space; + e1; dec1 c->c  1/2
    batch-to-space; + e0; dec0 c->c  full
    to_rgb c->3 (no activation); CropLike(top_left)
    output = clip(input + tanh(to_rgb), 0, 1)          (ResidualHead)

Space-to-batch is TensorFlow's ``space_to_batch_nd`` with block 2x2 (image
``b`` of a batch of ``B`` gives the sub-images ``(2i + j) B + b``, ``i, j`` the
row and column phase), and batch-to-space its exact inverse, so every output
image depends on its own input only, whatever the batch. A convolution on the
four phase sub-images equals a convolution dilated by 2 on the full map (how
TensorFlow itself implements atrous convolution), so the encoder widens the
receptive field (31x31 pixels here) without strides, but the pixel count stays
the same at every level: unlike strided encoders, the lower levels cost as
much per channel as the full-resolution one. Both ops are TFLite builtins
(``SPACE_TO_BATCH_ND``, ``BATCH_TO_SPACE_ND``) and take dynamic sizes: the
registry-wide export tests convert the model to .pb and .tflite and compare it
at 37x91 and 100x100.

Cost at 1280x720 (multiply-adds per input pixel; every level keeps the pixel
count): enc0 3*9*32 = 864, enc1..dec0 5 * 32*9*32 = 46,080, to_rgb 864,
total 47,808 MAC/pixel. SRCNN 9-5-5: 69,152. Ratio 1.45 against the report's
CPU-time ratio 3274 / 2153 = 1.52. Parameters: 48,003 at the default width.

Choices the report leaves open (what was chosen, and why):

* channel count: 32 at every level (the lower levels cost as much as the top,
  so widths doubling with depth as in a U-Net would make the network 2-4x
  slower than the reported time); 32 puts the MAC ratio at 1.45 vs 1.52;
* depth: two space-to-batch levels, seven convolutions (one per level on the
  way down, one bottleneck, one per level on the way up, one RGB output),
  close to the 8 convolutions of the team's Track A network;
* the split: phase (polyphase, ``space_to_batch_nd``) rather than quadrant
  tiles: it is the operation named "space-to-batch" in TensorFlow, and tiles
  would convolve each quadrant with zero borders in the image middle (seams
  whose place depends on the image size);
* skips: additive skip connections from each encoder level to the decoder
  level of the same resolution (encoder-decoder of the figure; addition keeps
  the width at c);
* kernels 3x3, ReLU activations, no normalisation (none is mentioned; an
  instance norm over phase sub-images would be a per-phase statistic);
* output: global residual learning (the report: Track B "trained similarly to
  track A", which used residual learning), ``clip(input + tanh(x), 0, 1)``,
  output range (0, 1). The last convolution starts with DPED's small random
  initialisation (std 0.01), not zeros, so every weight gets a gradient from
  the first step;
* initialisation: Glorot-uniform for the inner convolutions (``init="keras"``
  of :func:`pirm_enhance.layers.conv`).

Measured cost (pirm-bench, frozen .pb, 1280x720, median of 3 rounds interleaved with the
organisers' SRCNN graph at 1269 ms; 2-core CPU, TF 2.21): 1630 ms, SRCNN / kaist_enh =
0.78 against the report's 3274 / 2153 = 1.52: off by a factor 1.95, explained as
follows. The network's floating-point work, 88.4 GFLOP (TensorFlow's profiler), puts it
at 1.44x cheaper than SRCNN's 127.6, near the report's ratio, as chosen above; but this
CPU runs its layers at 54 GFLOP/s against 101 for SRCNN's 64-channel 9x9/5x5
convolutions (thin layers, 1x1 and depthwise convolutions and memory-bound
concatenations get less out of oneDNN than wide ones). The 2018 times came from another
CPU and TensorFlow 1.x, whose per-layer efficiency cannot be measured here, so the
widths stay at the cost the report implies by work rather than being tuned to this
machine.
"""

import keras

from pirm_enhance import layers
from pirm_enhance.archs.base import ZooModel, image_input
from pirm_enhance.registry import register_arch

# two space-to-batch levels of 2x2: the input is padded to a multiple of 4
_LEVELS = 2


@keras.saving.register_keras_serializable(package="pirm_enhance")
class SpaceToBatch(keras.layers.Layer):
    """``tf.space_to_batch_nd`` with a 2x2 block: ``[B, H, W, C] -> [4B, H/2, W/2, C]``,
    sub-image ``(2i + j) B + b`` holding the pixels ``(2y + i, 2x + j)`` of image ``b``.
    H and W must be even (the model pads its input to a multiple of 4)."""

    def call(self, x):
        import tensorflow as tf

        return tf.space_to_batch_nd(x, [2, 2], [[0, 0], [0, 0]])

    def compute_output_shape(self, input_shape):
        return (None, None, None, input_shape[3])


@keras.saving.register_keras_serializable(package="pirm_enhance")
class BatchToSpace(keras.layers.Layer):
    """The exact inverse of :class:`SpaceToBatch` (``tf.batch_to_space`` with a 2x2 block)."""

    def call(self, x):
        import tensorflow as tf

        return tf.batch_to_space(x, [2, 2], [[0, 0], [0, 0]])

    def compute_output_shape(self, input_shape):
        return (None, None, None, input_shape[3])


@register_arch("kaist_enh")
@keras.saving.register_keras_serializable(package="pirm_enhance")
class KAISTEnh(ZooModel):
    """KAIST-VICLAB Track B: space-to-batch encoder-decoder, 32 channels, 48,003 parameters."""

    tf1_checkpoint = False  # no published weights: Keras layer names (enc0, ..., to_rgb), no TF1 layout
    output_range = (0.0, 1.0)
    tiny_config = {"channels": 4}

    def __init__(self, channels=32, name="kaist_enh", **kwargs):
        c = channels

        def conv(x, filters, name, activation="relu", init="keras"):
            return layers.conv(filters, 3, name, activation=activation, init=init)(x)

        inputs = image_input()
        x = layers.PadToMultiple(2 ** _LEVELS, name="pad")(inputs)
        e0 = conv(x, c, "enc0")
        e1 = conv(SpaceToBatch(name="to_batch1")(e0), c, "enc1")
        x = conv(SpaceToBatch(name="to_batch2")(e1), c, "enc2")
        x = conv(x, c, "bottleneck")
        x = keras.layers.Add(name="skip1")([BatchToSpace(name="to_space1")(x), e1])
        x = conv(x, c, "dec1")
        x = keras.layers.Add(name="skip0")([BatchToSpace(name="to_space0")(x), e0])
        x = conv(x, c, "dec0")
        x = conv(x, 3, "to_rgb", activation=None, init="dped")
        x = layers.CropLike(anchor="top_left", name="crop")([x, inputs])
        outputs = layers.ResidualHead(name="head")([inputs, x])
        self._finish(inputs, outputs, name, {"channels": channels}, **kwargs)
