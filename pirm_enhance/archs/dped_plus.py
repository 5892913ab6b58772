"""DPED+: DPED's residual generator with depthwise separable convolutions.

Reconstructed from the thesis "DPED+, MPSE and MDIE" (/work/shared/papers/
thesis_dped_plus_mpse_mdie.txt), section 3.1.1 "Paired Pixel-wise Learning",
paragraph "DPED+" and figure 6. No code or weights were published; the text is
the only source, so everything besides what it states is a choice.

What the thesis fixes: DPED's residual structure (a 9x9 convolution, four
residual blocks of two 3x3 layers with batch normalisation, 3x3 layers after
the blocks, a last 9x9 layer); LeakyReLU with slope 0.005 after the layers;
"the traditional convolutional layer" replaced by a depthwise convolution (one
filter per input channel) followed by a pointwise 1x1 convolution (MobileNet);
DPED's losses on the output of the last layer. It claims training about 40%
faster for about 0.6 dB less PSNR than DPED (tools/benchmark_dped_plus.py
measures the speed part). Section 5.1 adds the training settings (recipe
``dped_plus``: 30k iterations, batch 50, Adam 5e-4 halved every 10k) and, in
its unnumbered benchmark table, a "MobileNet" revision of the baseline at
25.24 / 27.41 dB PSNR against 26.35 / 27.80 for the baseline after 2e4 / 7e4
iterations (-1.1 / -0.4 dB).

Layer list (width c = 64, ``blocks`` = 4; ``sep3`` = depthwise 3x3 without bias,
then pointwise 1x1 c -> c; ``lrelu`` = LeakyReLU 0.005):

* conv 9x9 3 -> c, lrelu;
* ``blocks`` x [sep3, BN, lrelu, sep3, lrelu, + block input];
* two sep3, lrelu each;
* conv 9x9 c -> 3; DPED's head ``tanh * 0.58 + 0.5``.

Any input size (no down-sampling); the model has no TF1 layout
(``tf1_checkpoint = False``).

Choices the thesis leaves open, and what this port does:

* Which convolutions become separable: the 3x3 ones (``separable_9x9=False``).
  The two 9x9 layers stay ordinary convolutions, as MobileNet keeps its first
  layer a full convolution: the first sees only 3 channels, where a depthwise
  filter has little to separate, and the pair holds 2 x 15,552 of the network's
  77,824 MAC per pixel (DPED: 399,744). ``separable_9x9=True`` makes them
  separable too (depthwise 9x9 + pointwise; 52,531 MAC per pixel).
* One separable layer is one layer: depthwise then pointwise with no
  activation or normalisation between them (Keras's ``SeparableConv2D``; the
  thesis replaces one layer by the pair and puts the activation "after all
  layers"). The depthwise part has no bias (the pointwise bias absorbs it).
* Batch normalisation: "two 3x3 layers alternated with one Batch-Normalization
  layer" is read literally: one BN per block, between the two layers, after the
  first's pointwise convolution and before its activation (DPED's order conv,
  norm, activation); the pointwise convolution before it has no bias.
  ``block_norms=2`` puts one after each of the two layers, where DPED has its
  instance norms.
* BN settings: Keras's defaults (momentum 0.99, epsilon 1e-3), which are also
  TF 1.x ``tf.layers.batch_normalization``'s, the thesis's likely tool. At
  inference (and in every ``model(x)`` call) BN uses its moving statistics, so
  images do not depend on their batch; with momentum 0.99 those statistics take
  a few hundred steps (0.99^300 = 5%) to forget their start (0 mean, unit
  variance): a validation in the first few hundred training steps under-states
  the network.
* The head: "all layers are followed by LeakyReLU" is not applied to the last
  9x9 layer, whose output gets DPED's ``tanh * 0.58 + 0.5`` instead (a LeakyReLU
  of slope 0.005 before it would leave the output almost no way below 0.5: no
  dark pixels). So ``output_range`` is DPED's.
* Width and depth: DPED's 4 blocks of 64 channels (the thesis: "four residual
  blocks"; DPED's width).
* Where the activations sit: after the residual additions there is none, as in
  DPED (each block's second layer is activated before its skip is added).
* Initialisation: Keras's defaults (Glorot uniform kernels, zero biases;
  ``layers.conv(init="keras")``; the defaults of Keras's MobileNet and of TF
  1.x ``separable_conv2d``), not DPED's normal(0.01): a chain of depthwise and
  pointwise layers with std 0.01 shrinks the signal by several hundred times
  per layer, and the tail layers, which have no normalisation, would start
  with next to no gradient. (Glorot counts a depthwise kernel's fan-in over
  all channels, so each depthwise layer still shrinks the signal about 6x at
  the start; measured on 60 tiny steps, a variance-preserving depthwise init
  lowered the training loss faster but not the held-out PSNR, so the
  convention is kept.)
"""

import keras

from pirm_enhance import layers
from pirm_enhance.archs.base import ZooModel, image_input
from pirm_enhance.registry import register_arch

SLOPE = 0.005  # the thesis's LeakyReLU slope


def _separable(x, filters, kernel, name, use_bias=True):
    """Depthwise ``kernel`` x ``kernel`` (no bias), then pointwise 1x1 to ``filters``."""
    x = keras.layers.DepthwiseConv2D(kernel, padding="same", use_bias=False, name=f"{name}_dw")(x)
    return keras.layers.Conv2D(filters, 1, use_bias=use_bias, name=f"{name}_pw")(x)


def _lrelu(x, name=None):
    return keras.layers.LeakyReLU(negative_slope=SLOPE, name=name)(x)


@register_arch("dped_plus")
@keras.saving.register_keras_serializable(package="pirm_enhance")
class DPEDPlus(ZooModel):
    """DPED's residual generator with depthwise separable 3x3 layers, BN and LeakyReLU 0.005."""

    tf1_checkpoint = False
    tiny_config = {"blocks": 1, "channels": 8}
    kd_features = None

    def __init__(self, blocks=4, channels=64, block_norms=1, separable_9x9=False, name="dped_plus",
                 **kwargs):
        if block_norms not in (1, 2):
            raise ValueError(f"block_norms must be 1 (the thesis's one BN per block) or 2, not {block_norms}")
        c = channels

        def wide(x, filters, name):  # the 9x9 layers
            if separable_9x9:
                return _separable(x, filters, 9, name)
            return layers.conv(filters, 9, name, init="keras")(x)

        inputs = image_input()
        x = _lrelu(wide(inputs, c, "conv_in"))
        for b in range(1, blocks + 1):
            skip = x
            for j in (1, 2):
                norm = j == 1 or block_norms == 2
                x = _separable(x, c, 3, f"block{b}_sep{j}", use_bias=not norm)
                if norm:
                    x = keras.layers.BatchNormalization(name=f"block{b}_bn{j}")(x)
                x = _lrelu(x)
            x = keras.layers.Add(name=f"block{b}_add")([x, skip])
        for j in (1, 2):
            x = _lrelu(_separable(x, c, 3, f"tail{j}"))
        x = wide(x, 3, "conv_out")
        outputs = layers.OutputHead(name="head")(x)
        self._finish(inputs, outputs, name,
                     {"blocks": blocks, "channels": channels, "block_norms": block_norms,
                      "separable_9x9": bool(separable_9x9)}, **kwargs)
