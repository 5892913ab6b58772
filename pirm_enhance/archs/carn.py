"""CARN CVL's convolutional anchored regression network (CARN), Track A entry.

Reconstructed from the PIRM 2018 challenge report (Ignatov et al., ECCVW 2018),
section 5.4 "CARN CVL" and figure 6, with the team's paper and code: Li,
Agustsson, Gu, Timofte, Van Gool, "CARN: Convolutional Anchored Regression Network
for Fast and Accurate Single Image Super-Resolution" (ECCV workshops / PIRM 2018),
github.com/ofsoundof/CARN at commit 13fbf9b08e6bcd2a86bb005f187e920675479052
(``model.py``: ``carn_rgb``, the PIRM-challenge function on the interpolated RGB
image, and its ``regression_layer``). Facts used, not code.

The regression block (the paper's convolutional form of A+/ARN's anchored
regression), on features X with C channels, R anchors, D outputs:

* regressors: conv k x k C -> R*D with PReLU: R candidate outputs per pixel;
* similarity to the anchors: conv k x k C -> R, softmax over the R anchors;
* output: ``sum_r alpha_r * regression_r`` (D channels), + X when D == C.

What the report fixes for the challenge entry: 5 regression blocks, 16 anchors /
regressors per block, 2 feature layers (the code's PIRM function has 3), both with
stride 2 (the bicubic input has no detail at full resolution), 8 inner channels.

Layer list (any input size: mirror-padded to a multiple of 4, cropped back):

* feature layers: conv 3x3 stride 2 3 -> 64, PReLU; conv 3x3 stride 2 64 -> 8,
  PReLU (1/4 resolution);
* 4 regression blocks 8 -> 8 (16 anchors, shortcut);
* 1 regression block 8 -> 48 (16 anchors, no shortcut): the x4 residual in
  depth-to-space layout;
* depth-to-space x4 (48 -> 3 channels), + input, clip to [0, 1].

Cost: 17,720 multiply-adds per pixel at 1280x720 (convolutions at their
resolutions; the anchor weighting adds 80 multiply-adds per pixel, not counted), a
MAC ratio of 3.90 to SRCNN's 69,152 against the report's CPU-time ratio
3239 / 773 = 4.19 (0.93x); 281,120 parameters.

Choices the report leaves open, and what this port does:

* regression kernel k = 5 (similarity and regressor convolutions alike). The code's
  PIRM functions use 3; with 3 this network has 6,840 MAC/pixel, ratio 10.1, 2.4x
  the CPU-time ratio (the 2018 timing of such a small network is dominated by the
  reshape / softmax / weighted-sum traffic of 16 x 48 regressor outputs, not by
  its MACs). 5 meets the project's cost target (``kernel=3`` gives the code's);
* feature layers: 3x3 kernels, the first 64 wide (the code's), PReLU with one slope
  per channel (the code's ``PReLU(shared_axes=[1, 2])``); the code's stride-1 first
  feature layer is the one dropped;
* PReLU on the regressor outputs (as ``carn_rgb``; the paper's generic ``carn`` has
  none), on the last block too;
* RGB in and out (``carn_rgb``; the code's Y-channel variants are left out);
* the anchor-weighted sum computed with 4-D tensors only (reshape, multiply,
  reduce), so that TFLite takes it;
* output clipped to [0, 1] (the code returns ``sr_space + data_mid`` unclipped; the
  challenge clips before scoring): ``output_range = (0, 1)``;
* initialisation: He normal kernels (the code's), zero biases; no L2 weight decay
  (a training choice, not the network's).

Measured cost (pirm-bench, frozen .pb, 1280x720, median of 3 rounds interleaved with the
organisers' SRCNN graph at 1269 ms; 2-core CPU, TF 2.21): 733 ms, SRCNN / carn = 1.73
against the report's 3239 / 773 = 4.19: off by a factor 2.42, explained as follows. The
network's floating-point work, 33.2 GFLOP (TensorFlow's profiler), puts it at 3.84x
cheaper than SRCNN's 127.6, near the report's ratio, as chosen above; but this CPU runs
its layers at 45 GFLOP/s against 101 for SRCNN's 64-channel 9x9/5x5 convolutions (thin
layers, 1x1 and depthwise convolutions and memory-bound concatenations get less out of
oneDNN than wide ones). The 2018 times came from another CPU and TensorFlow 1.x, whose
per-layer efficiency cannot be measured here, so the widths stay at the cost the report
implies by work rather than being tuned to this machine.
"""

import keras
import tensorflow as tf

from pirm_enhance import layers
from pirm_enhance.archs.alex_enh import Subpixel
from pirm_enhance.archs.base import ZooModel, image_input
from pirm_enhance.registry import register_arch

SCALE = 4


@keras.saving.register_keras_serializable(package="pirm_enhance")
class AnchoredSum(keras.layers.Layer):
    """``sum_r alpha[..., r] * regressions[..., r * D:(r + 1) * D]``: the regressors'
    outputs weighted by the similarity to their anchors (R = ``anchors``)."""

    def __init__(self, anchors, **kwargs):
        super().__init__(**kwargs)
        self.anchors = anchors

    def call(self, inputs):
        regressions, alpha = inputs
        r = self.anchors
        d = regressions.shape[-1] // r
        s = tf.shape(regressions)
        b, h, w = s[0], s[1], s[2]
        # (B, H, W, R*D) -> (B, H, W*R, D): row-major, so each pixel's R groups of D
        # become R rows; alpha (B, H, W, R) -> (B, H, W*R, 1) lines up with them
        weighted = tf.reshape(regressions, [b, h, w * r, d]) * tf.reshape(alpha, [b, h, w * r, 1])
        return tf.reshape(tf.reduce_sum(tf.reshape(weighted, [b, h * w, r, d]), axis=2), [b, h, w, d])

    def compute_output_shape(self, input_shapes):
        reg, _ = input_shapes
        return (reg[0], reg[1], reg[2], reg[3] // self.anchors)

    def get_config(self):
        return {**super().get_config(), "anchors": self.anchors}


def _conv(filters, kernel, name, strides=1, activation=None):
    return keras.layers.Conv2D(filters, kernel, strides=strides, padding="same", activation=activation,
                               kernel_initializer="he_normal", name=name)


def regression_block(x, outputs, anchors, kernel, name):
    """CARN's regression block on ``x``: ``outputs`` channels, + ``x`` when they match."""
    reg = _conv(anchors * outputs, kernel, f"{name}_regressors")(x)
    reg = keras.layers.PReLU(shared_axes=[1, 2], name=f"{name}_prelu")(reg)
    alpha = _conv(anchors, kernel, f"{name}_similarity", activation="softmax")(x)
    y = AnchoredSum(anchors, name=f"{name}_sum")([reg, alpha])
    if outputs == x.shape[-1]:
        y = keras.layers.Add(name=f"{name}_add")([y, x])
    return y


@register_arch("carn")
@keras.saving.register_keras_serializable(package="pirm_enhance")
class CARN(ZooModel):
    """Two stride-2 feature layers, regression blocks at 1/4 resolution, depth-to-space x4."""

    tf1_checkpoint = False
    output_range = (0.0, 1.0)
    tiny_config = {"blocks": 2, "anchors": 4, "channels": 4, "features": 8, "kernel": 3}
    kd_features = None

    def __init__(self, blocks=5, anchors=16, channels=8, features=64, kernel=5, name="carn", **kwargs):
        if blocks < 1:
            raise ValueError(f"blocks must be at least 1, not {blocks}")
        inputs = image_input()
        x = layers.PadToMultiple(SCALE, name="pad")(inputs)
        x = _conv(features, 3, "feature1", strides=2)(x)
        x = keras.layers.PReLU(shared_axes=[1, 2], name="feature1_prelu")(x)
        x = _conv(channels, 3, "feature2", strides=2)(x)
        x = keras.layers.PReLU(shared_axes=[1, 2], name="feature2_prelu")(x)
        for i in range(blocks - 1):
            x = regression_block(x, channels, anchors, kernel, f"block{i + 1}")
        x = regression_block(x, 3 * SCALE * SCALE, anchors, kernel, f"block{blocks}")
        y = Subpixel(SCALE, name="depth_to_space")(x)
        y = layers.CropLike(anchor="top_left", name="crop")([y, inputs])
        y = keras.layers.Add(name="global_residual")([inputs, y])
        outputs = keras.layers.ReLU(max_value=1.0, name="clip")(y)
        self._finish(inputs, outputs, name,
                     {"blocks": blocks, "anchors": anchors, "channels": channels,
                      "features": features, "kernel": kernel}, **kwargs)
