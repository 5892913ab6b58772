"""Mt.Phoenix's super-resolution network (PIRM 2018 Track A), a reconstruction.

Reconstructed from the PIRM 2018 challenge report (Ignatov et al., ECCVW 2018),
section 5.3 "Mt.Phoenix". The report's whole description of the Track A network
is: "a deep residual CNN with two downsampling blocks performing image
downscaling and two deconvolution blocks for its upscaling to the original
size. Besides the standard residual blocks, additional skip connections between
the input and middle layers were added"; trained with L1 on 500x500 patches. No
figure, paper or code of this network was published. The team's Track B paper
(Huang et al., "Range Scaling Global U-Net for Perceptual Image Enhancement on
Mobile Devices", ECCV workshops 2018; ``pirm_enhance/archs/rsgunet.py``) says
only that RSGUNet itself did worse on super-resolution; it is used here as
evidence of the team's habits (LeakyReLU 0.2, stride-2 3x3 convolutions,
bias-free 2x2 transposed convolutions, widths doubling per halving).

Layer list (w = ``width``, B = ``blocks``, LReLU = LeakyReLU(0.2))::

    input (bicubic-upscaled, full size), mirror-padded bottom/right to a multiple of 4
    down1   conv 3x3 stride 2, 3 -> 2w, LReLU                    1/2 resolution
    down2   conv 3x3 stride 2, 2w -> 4w, LReLU                   1/4 resolution
    skip    the input average-pooled 4x4 (3 channels at 1/4: about the LR image)
    B x     [concat(h, skip) -> conv 3x3 4w LReLU -> conv 3x3 4w] + h
    up1     transposed conv 2x2 stride 2, 4w -> 2w (no bias), LReLU, + down1
    up2     transposed conv 2x2 stride 2, 2w -> w (no bias), LReLU   full resolution
    last    conv 3x3 w -> 3; crop to the input size
    output  clip(input + tanh(last), 0, 1)

Choices the report leaves open, and what is used here:

* Widths and depth: w = 16 (RSGUNet's base width; 64 channels at 1/4
  resolution) and B = 3 residual blocks, picked for the cost target below.
* "Skip connections between the input and middle layers": the input reduced to
  the middle resolution by a 4x4 average (the bicubic image's 4x4 mean is close
  to the low-resolution pixel) and concatenated to the input of every residual
  block. A 4x4 space-to-depth (48 channels) would keep more but cost about
  1.7k MAC/pixel per block.
* Residual blocks: conv-LReLU-conv plus the block input (EDSR-style, no
  normalisation, which also keeps the images of a batch independent).
* Deconvolution blocks: a bias-free 2x2 stride-2 transposed convolution and
  LReLU, as in RSGUNet's decoder; the first one adds the down1 features (an
  encoder-decoder skip; a sum, not RSGUNet's concat, to keep the cost).
* Activation: LeakyReLU(0.2) (RSGUNet's).
* Output: a global residual on the bicubic input, ``clip(input + tanh(x), 0, 1)``
  (the "residual CNN"; the clip is what a [0, 1] submission needs), so
  ``output_range = (0, 1)``. Not a zero-initialised last layer (that would stop
  every other gradient at the first step).
* Initialisation: Glorot-uniform kernels, zero biases.
* Any input size: ``PadToMultiple(4)`` then a top-left crop (two halvings).

Cost (multiply-adds per output pixel at 1280x720, every convolution and
transposed convolution at its resolution): down1 216, down2 1,152, 3 blocks of
4,716, up1 512, up2 512, last 432: 16,972 MAC/pixel. SRCNN 9-5-5 is 69,152, a
ratio of 4.07; the report's Table 1 CPU ratio is 3239 / 793 = 4.08.
256,819 parameters (w = 16, B = 3).

Measured cost (pirm-bench, frozen .pb, 1280x720, median of 3 rounds interleaved with the
organisers' SRCNN graph at 1269 ms; 2-core CPU, TF 2.21): 393 ms, SRCNN / mtphoenix_sr =
3.23 against the report's 3239 / 794 = 4.08 (within a factor 1.26).
"""

import keras

from pirm_enhance import layers
from pirm_enhance.archs.base import ZooModel, image_input
from pirm_enhance.registry import register_arch

_SLOPE = 0.2


@register_arch("mtphoenix_sr")
@keras.saving.register_keras_serializable(package="pirm_enhance")
class MtPhoenixSR(ZooModel):
    tf1_checkpoint = False  # no published weights: Keras layer names only
    output_range = (0.0, 1.0)
    tiny_config = {"width": 4, "blocks": 1}

    def __init__(self, width=16, blocks=3, name="mtphoenix_sr", **kwargs):
        def conv(x, filters, name, strides=1, activation=True):
            y = layers.conv(filters, 3, name, strides=strides, init="keras")(x)
            return keras.layers.LeakyReLU(negative_slope=_SLOPE)(y) if activation else y

        w = width
        inputs = image_input()
        x = layers.PadToMultiple(4, name="pad")(inputs)
        d1 = conv(x, 2 * w, "down1", strides=2)
        h = conv(d1, 4 * w, "down2", strides=2)
        skip = keras.layers.AveragePooling2D(4, name="input_quarter")(x)
        for b in range(1, blocks + 1):
            y = keras.layers.Concatenate(name=f"block{b}_skip")([h, skip])
            y = conv(y, 4 * w, f"block{b}_conv1")
            y = conv(y, 4 * w, f"block{b}_conv2", activation=False)
            h = keras.layers.Add(name=f"block{b}_add")([h, y])
        u = layers.ConvTransposeLike(2 * w, 2, use_bias=False, name="up1")([h, d1])
        u = keras.layers.LeakyReLU(negative_slope=_SLOPE)(u)
        u = keras.layers.Add(name="up1_skip")([u, d1])
        u = layers.ConvTransposeLike(w, 2, use_bias=False, name="up2")([u, x])
        u = keras.layers.LeakyReLU(negative_slope=_SLOPE)(u)
        u = conv(u, 3, "last", activation=False)
        u = layers.CropLike(anchor="top_left", name="crop")([u, inputs])
        outputs = layers.ResidualHead(name="head")([inputs, u])
        self._finish(inputs, outputs, name, {"width": width, "blocks": blocks}, **kwargs)
