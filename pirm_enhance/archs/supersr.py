"""SuperSR's super-resolution network (PIRM 2018 Track A), a reconstruction.

Reconstructed from the PIRM 2018 challenge report (Ignatov et al., ECCVW 2018),
section 5.10 "SuperSR" (figure 12, "Deep residual network proposed by SuperSR
team"). The report's description: "one space-to-depth 4x downsampling layer
followed by convolutional and residual layers with PReLU activation functions
and one deconvolutional layer for image upscaling"; trained on 192x192 patches,
L2 then Charbonnier + MS-SSIM. No paper or code of the team was found (searched
the stored code, issue and page indexes); the figure's layer details are not in
the report's text, so everything below the report's sentence is a choice.

Layer list (c = ``channels``, B = ``blocks``)::

    input (bicubic-upscaled, full size), mirror-padded bottom/right to a multiple of 4
    space-to-depth x4                     3 -> 48 channels, 1/4 resolution
    first   conv 3x3 48 -> c, PReLU                                   = f
    B x     [conv 3x3 c PReLU -> conv 3x3 c] + block input
    fuse    conv 3x3 c -> c, + f          (SRResNet's long skip)
    deconv  transposed conv 8x8 stride 4, c -> 3     full resolution
    crop to the input size; output clip(input + tanh(deconv), 0, 1)

Choices the report leaves open, and what is used here:

* Width and depth: c = 64 channels (SRResNet's), B = 3 residual blocks plus
  the fuse convolution, picked for the cost target below (B = 4 would cost
  23,232 MAC/pixel, ratio 2.98, 0.89x the report's: about as close from the
  other side).
* Residual layers: SRResNet's block without batch normalisation (no BN keeps
  the images of a batch independent): conv-PReLU-conv plus the block input,
  and SRResNet's conv + long skip after the blocks.
* PReLU: one slope per channel (shared over height and width), initialised to
  0.25 (He et al. 2015).
* The one deconvolution goes straight from c channels at 1/4 resolution to the
  3-channel full-resolution residual: kernel 8, stride 4 (twice the stride, so
  that every output pixel gets the same number of taps).
* Output: a global residual on the bicubic input, ``clip(input + tanh(x), 0, 1)``
  (the clip is what a [0, 1] submission needs), so ``output_range = (0, 1)``.
* Initialisation: Glorot-uniform kernels, zero biases.
* Space-to-depth: ``Desubpixel(4)`` of ``alex_enh`` (``tf.nn.space_to_depth``);
  any input size through ``PadToMultiple(4)`` and a top-left crop.

Cost (multiply-adds per output pixel at 1280x720, every convolution and
transposed convolution at its resolution): first 1,728, 3 blocks of 4,608,
fuse 2,304, deconv 768: 18,624 MAC/pixel. SRCNN 9-5-5 is 69,152, a ratio of
3.71; the report's Table 1 CPU ratio is 3239 / 969 = 3.34 (1.11x).
298,755 parameters (c = 64, B = 3).

Measured cost (pirm-bench, frozen .pb, 1280x720, median of 3 rounds interleaved with the
organisers' SRCNN graph at 1269 ms; 2-core CPU, TF 2.21): 337 ms, SRCNN / supersr = 3.76
against the report's 3239 / 969 = 3.34 (within a factor 1.13).
"""

import keras

from pirm_enhance import layers
from pirm_enhance.archs.alex_enh import Desubpixel
from pirm_enhance.archs.base import ZooModel, image_input
from pirm_enhance.registry import register_arch


@register_arch("supersr")
@keras.saving.register_keras_serializable(package="pirm_enhance")
class SuperSR(ZooModel):
    tf1_checkpoint = False  # no published weights: Keras layer names only
    output_range = (0.0, 1.0)
    tiny_config = {"channels": 8, "blocks": 1}

    def __init__(self, channels=64, blocks=3, name="supersr", **kwargs):
        def conv(x, name, prelu=True):
            y = layers.conv(channels, 3, name, init="keras")(x)
            if prelu:
                y = keras.layers.PReLU(alpha_initializer=keras.initializers.Constant(0.25),
                                       shared_axes=[1, 2], name=f"{name}_prelu")(y)
            return y

        inputs = image_input()
        x = layers.PadToMultiple(4, name="pad")(inputs)
        f = conv(Desubpixel(4, name="space_to_depth")(x), "first")
        h = f
        for b in range(1, blocks + 1):
            y = conv(conv(h, f"block{b}_conv1"), f"block{b}_conv2", prelu=False)
            h = keras.layers.Add(name=f"block{b}_add")([h, y])
        h = keras.layers.Add(name="long_skip")([conv(h, "fuse", prelu=False), f])
        y = layers.ConvTransposeLike(3, 8, strides=4, name="deconv")([h, x])
        y = layers.CropLike(anchor="top_left", name="crop")([y, inputs])
        outputs = layers.ResidualHead(name="head")([inputs, y])
        self._finish(inputs, outputs, name, {"channels": channels, "blocks": blocks}, **kwargs)
