"""BOE-SBG enhancement network: Demux/Mux layers around dense blocks (PIRM 2018 Track B).

Reconstructed from the PIRM 2018 challenge report (Ignatov et al., ECCVW 2018),
section 5.7 "BOE-SBG" (figure 9, bottom: the enhancement network; right: the
dense block), which cites the team's paper for it (H. Liu,
P. Navarrete Michelini, D. Zhu, "Deep networks for image-to-image translation
with Mux and Demux layers", ECCV workshops 2018). That paper's text and code
were not found; what the report says is short: the network has "several Mux and
Demux layers performing image up- and downscaling without information loss",
"a variant of (de)subpixel layers", and a "denseblock inspired by [DenseNet]".
The rest comes from the same team's public code, read (not copied) for facts:

* Mux: ``Muxout`` in github.com/pnavarre/ntire ``layers.py`` (commit
  096a8e57544abec18c0ec76dd204bc518cf1d287; P. Navarrete Michelini and H. Liu,
  "Convolutional networks with MuxOut layers as multi-rate systems for image
  upscaling", arXiv:1705.07772). For a 2x2 factor the input channels are taken in
  groups of 4 (channel ``4 g + 2 i + j`` is the sample at row offset ``i``, column
  offset ``j`` of group ``g``); every row permutation ``pv`` and column
  permutation ``ph`` of the 2x2 positions (2 x 2 = 4 of them) interleaves each
  group into one map of twice the size, ``out[p Ng + g][2h + a, 2w + b] =
  in[4 g + 2 pv[a] + ph[b]][h, w]`` with ``p = 2 index(pv) + index(ph)`` and
  ``Ng = C / 4``. C channels in, C channels out at twice the height and width:
  the sub-pixel shuffle (``p = 0`` alone) plus the three other interleavings.
* Demux: the report's "downscaling without information loss" needs ``4 C``
  channels at half size, so it is the exact inverse of the permutation-free Mux
  (a de-subpixel / space-to-depth in the team's group-of-4 channel order):
  ``out[4 g + 2 i + j][h, w] = in[g][2h + i, 2w + j]``. The team's
  ``MuxoutTranspose`` (the adjoint of Mux, C -> C channels, a sum of the 4
  inverse interleavings) loses information and so does not fit the report.
* Dense block: github.com/pnavarre/pirm-sr-2018 ``layers.py`` (commit
  e8c63989fb48b91184d22bb5965cf00d88c040e8; the team's Track A code of the same
  challenge): DenseNet-BC layers, each a 1x1 convolution to ``4 * growth``
  channels and a 3x3 convolution to ``growth`` channels, ReLU, the new maps
  concatenated to the block input; then a 1x1 "transition" back to the block's
  feature count. Default growth there: 16.

Layer list (F = ``features``, g = ``growth``, L = ``block_layers`` per dense block)::

    input, mirror-padded bottom/right to a multiple of 4
    Demux              3 -> 12 channels, 1/2 resolution
    conv 3x3 12 -> F, ReLU
    dense block (L layers, growth g) + 1x1 transition -> F      = e1 (1/2)
    Demux              F -> 4F, 1/4 resolution
    dense block (L, g) + 1x1 transition -> 4F
    Mux                4F -> 4F, 1/2 resolution
    concat with e1 (5F); conv 1x1 5F -> F, ReLU
    dense block (L, g) + 1x1 transition -> F
    Mux                F -> F, full resolution
    conv 3x3 F -> 3; crop to the input size; tanh * 0.58 + 0.5

Choices the report leaves open, and what is used here:

* Depth of the pyramid: two Demux and two Mux layers (full, 1/2 and 1/4
  resolution), a U-Net with one skip; the report says "several" of each.
* F = 32 features, growth g = 16 (the team's SR default), L = 4 layers per dense
  block, bottleneck factor 4 (the team's): picked for the cost target below.
* Activation: ReLU after every convolution except the last (the team's SR code
  uses ReLU with leak 0, pre-activation "bias + ReLU" before bias-free
  convolutions; here the equivalent post-activation form with biased
  convolutions, so the block input itself is not re-activated).
* No normalisation (the team's ``BN0``; it also keeps images of a batch
  independent).
* Head: the DPED output ``tanh * 0.58 + 0.5``, since the team trained with the
  DPED losses (colour, TV, adversarial); the real head is not published.
* Initialisation: Glorot-uniform kernels, zero biases (the network is 30
  convolutions deep; the DPED std-0.01 initialisation would barely pass a signal).
* Any input size: ``PadToMultiple(4)`` then a top-left crop (the Demux layers
  halve the size twice).

Cost (multiply-adds per output pixel at 1280x720, counted per layer with its
resolution): about 36.4k MAC/pixel against SRCNN's 69,152, a ratio of 1.90;
the report's Table 2 CPU ratio is 3274 / 1620 = 2.02. 219,555 parameters.

Measured cost (pirm-bench, frozen .pb, 1280x720, median of 3 rounds interleaved with the
organisers' SRCNN graph at 1269 ms; 2-core CPU, TF 2.21): 2006 ms, SRCNN / boe_enh =
0.63 against the report's 3274 / 1620 = 2.02: off by a factor 3.20, explained as
follows. The network's floating-point work, 67.3 GFLOP (TensorFlow's profiler), puts it
at 1.89x cheaper than SRCNN's 127.6, near the report's ratio, as chosen above; but this
CPU runs its layers at 34 GFLOP/s against 101 for SRCNN's 64-channel 9x9/5x5
convolutions (thin layers, 1x1 and depthwise convolutions and memory-bound
concatenations get less out of oneDNN than wide ones). The 2018 times came from another
CPU and TensorFlow 1.x, whose per-layer efficiency cannot be measured here, so the
widths stay at the cost the report implies by work rather than being tuned to this
machine.
"""

import keras
import numpy as np

from pirm_enhance import layers
from pirm_enhance.archs.base import ZooModel, image_input
from pirm_enhance.registry import register_arch

_PACKAGE = "pirm_enhance"
_PERMUTATIONS = ((0, 1), (1, 0))  # the orderings of a 2-sample axis, sympy's order


def mux_index(channels):
    """Channel order that makes ``depth_to_space(x[..., index], 2)`` the team's Mux.

    TF's ``depth_to_space`` puts input channel ``(2a + b) C + o`` at sub-pixel
    ``(a, b)`` of output channel ``o``; the Mux wants there input channel
    ``4 g + 2 pv[a] + ph[b]`` for ``o = (2 index(pv) + index(ph)) Ng + g``."""
    if channels % 4:
        raise ValueError(f"Mux takes a multiple of 4 channels, got {channels}")
    groups = channels // 4
    index = np.zeros(4 * channels, np.int32)
    for a in range(2):
        for b in range(2):
            for i, pv in enumerate(_PERMUTATIONS):
                for j, ph in enumerate(_PERMUTATIONS):
                    for g in range(groups):
                        out = (2 * i + j) * groups + g
                        index[(2 * a + b) * channels + out] = 4 * g + 2 * pv[a] + ph[b]
    return index


def demux_index(channels):
    """Channel order that makes ``space_to_depth(x, 2)[..., index]`` the Demux:
    output channel ``4 g + 2 i + j`` is TF's channel ``(2i + j) C + g``."""
    index = np.zeros(4 * channels, np.int32)
    for g in range(channels):
        for i in range(2):
            for j in range(2):
                index[4 * g + 2 * i + j] = (2 * i + j) * channels + g
    return index


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Mux(keras.layers.Layer):
    """BOE's 2x2 Mux (MuxOut with every permutation): C channels at (H, W) ->
    C channels at (2H, 2W); see the module docstring. A constant channel gather
    and ``depth_to_space`` (both TFLite builtins)."""

    def build(self, input_shape):
        self.index = mux_index(int(input_shape[-1]))

    def call(self, x):
        import tensorflow as tf

        return tf.nn.depth_to_space(tf.gather(x, self.index, axis=3), 2)

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        return (b, None if h is None else 2 * h, None if w is None else 2 * w, c)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Demux(keras.layers.Layer):
    """BOE's lossless 2x2 Demux: C channels at (2H, 2W) -> 4C channels at (H, W),
    the inverse of the permutation-free Mux (``space_to_depth`` and a constant
    channel gather). Height and width must be even."""

    def build(self, input_shape):
        self.index = demux_index(int(input_shape[-1]))

    def call(self, x):
        import tensorflow as tf

        return tf.gather(tf.nn.space_to_depth(x, 2), self.index, axis=3)

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        return (b, None if h is None else h // 2, None if w is None else w // 2, 4 * c)


@register_arch("boe_enh")
@keras.saving.register_keras_serializable(package="pirm_enhance")
class BOEEnhance(ZooModel):
    tf1_checkpoint = False  # no published weights: Keras layer names only (first, block<b>_..., fuse, last)
    tiny_config = {"features": 8, "growth": 4, "block_layers": 1}

    def __init__(self, features=32, growth=16, block_layers=4, name="boe_enh", **kwargs):
        if features % 4:
            raise ValueError(f"features must be a multiple of 4 (the Mux takes groups of 4), got {features}")
        blocks = iter(range(1, 10))

        def conv(x, filters, size, name, activation="relu"):
            return layers.conv(filters, size, name, activation=activation, init="keras")(x)

        def dense_block(x, out_features):
            b = next(blocks)
            for i in range(1, block_layers + 1):
                y = conv(x, 4 * growth, 1, f"block{b}_layer{i}_1x1")
                y = conv(y, growth, 3, f"block{b}_layer{i}_3x3")
                x = keras.layers.Concatenate(name=f"block{b}_concat{i}")([x, y])
            return conv(x, out_features, 1, f"block{b}_transition")

        f = features
        inputs = image_input()
        x = layers.PadToMultiple(4, name="pad")(inputs)
        x = Demux(name="demux1")(x)
        e1 = dense_block(conv(x, f, 3, "first"), f)
        x = Demux(name="demux2")(e1)
        x = dense_block(x, 4 * f)
        x = Mux(name="mux1")(x)
        x = conv(keras.layers.Concatenate(name="skip_concat")([x, e1]), f, 1, "fuse")
        x = dense_block(x, f)
        x = Mux(name="mux2")(x)
        x = conv(x, 3, 3, "last", activation=None)
        x = layers.CropLike(anchor="top_left", name="crop")([x, inputs])
        outputs = layers.OutputHead(name="head")(x)
        config = {"features": features, "growth": growth, "block_layers": block_layers}
        self._finish(inputs, outputs, name, config, **kwargs)


