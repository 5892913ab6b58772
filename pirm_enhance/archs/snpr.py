"""SNPR's three generators G1, G2, G3 (PIRM 2018 Track B, team SNPR).

Reconstructed from the PIRM 2018 challenge report (Ignatov et al., ECCVW 2018),
section 5.11 "SNPR" and figure 13 (left). No paper or code of the team's
enhancement networks was found; the report's text is the only source, so
everything below besides the structure it states is a choice.

What the report fixes: three generators for three operating points (G3 the
fastest and below DPED's quality, G1 the slowest with quality comparable to
DPED); layers written Conv(f, k, s), ReLU, batch normalisation and a pixel
shuffler x2; the first three layers extract features at a lower resolution
(larger receptive field, lower cost); the features are brought back up with
pixel shufflers and concatenated with the full-resolution input image, and the
following convolutions combine the two.

Layer list (downscale d = 2 or 4, width f, fuse channels c):

* conv 3x3 stride 2 3 -> f, ReLU (1/2 resolution);
* conv 3x3 stride 2 (d = 4) or 1 (d = 2) f -> f, BN, ReLU;
* conv 3x3 f -> f, BN, ReLU (the three feature-extraction layers, at 1/d);
* conv 3x3 f -> c*d^2, then log2(d) pixel shufflers x2 (c channels at full size);
* concat with the input image (c + 3 channels);
* conv 3x3 c + 3 -> c, ReLU; conv 3x3 c -> 3; ``tanh * 0.58 + 0.5``.

Any input size: mirror-padding to a multiple of d and a top-left crop before
the head (``layers.PadToMultiple``, ``layers.CropLike``).

Operating points (MAC per output pixel at 1280x720; SRCNN 9-5-5 has 69,152):

* ``snpr_g1``: d = 2, f = 64, c = 16: 31,248 MAC, ratio 2.21, 116,147 parameters. The submitted
  entry: Table 2 gives SNPR 1448 ms against SRCNN's 3274 ms, ratio 2.26, and
  its quality (22.03 dB, MS-SSIM 0.9042) is comparable to DPED's (21.38 dB,
  0.9034), which the text says of G1, while G3 is below DPED.
* ``snpr_g2``: d = 4, f = 64, c = 16: 17,424 MAC, ratio 3.97, 226,931 parameters (about the score's
  cap of 4x SRCNN's speed).
* ``snpr_g3``: d = 4, f = 32, c = 16: 9,144 MAC, ratio 7.56, 96,755 parameters.

The report gives no runtime for G2 and G3; they are chosen to halve the cost at
each step (about 2.2x, 4x and 7.6x faster than SRCNN).

Other choices the report leaves open:

* kernel sizes 3x3 everywhere, one stride-2 convolution per halving;
* batch normalisation after the second and third feature layers only (not on
  the first layer nor at full resolution, as in SRGAN-style generators); the
  convolutions before a BN have no bias;
* one convolution produces all c*d^2 channels before the pixel shufflers;
* two convolutions after the concatenation, with c channels between them;
* output: the DPED head ``tanh * 0.58 + 0.5`` (SNPR compared against DPED and
  trained with an adversarial loss, see :mod:`pirm_enhance.losses.snpr`);
* initialisation: Keras defaults (Glorot uniform, zero biases).

Measured cost (pirm-bench, frozen .pb, 1280x720, median of 3 rounds interleaved with the
organisers' SRCNN graph at 1269 ms; 2-core CPU, TF 2.21): 697 ms, SRCNN / snpr_g1 = 1.82
against the report's 3274 / 1448 = 2.26 (within a factor 1.24).
snpr_g2 475 ms (2.67), snpr_g3 428 ms (2.97) in the same run.
"""

import keras

from pirm_enhance import layers
from pirm_enhance.archs.alex_enh import Subpixel
from pirm_enhance.archs.base import ZooModel, image_input
from pirm_enhance.registry import register_arch

_PACKAGE = "pirm_enhance"


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SNPRGenerator(ZooModel):
    """Feature extraction at 1/downscale, pixel shuffle back up, concat with the input."""

    tf1_checkpoint = False
    tiny_config = {"width": 8, "fuse": 4}
    kd_features = None

    def __init__(self, downscale=2, width=64, fuse=16, name="snpr_g1", **kwargs):
        if downscale not in (2, 4):
            raise ValueError(f"downscale must be 2 or 4, not {downscale}")
        f, c = width, fuse

        def conv(x, filters, index, strides=1, bn=False, activation=True):
            x = layers.conv(filters, 3, f"conv{index}", strides=strides, use_bias=not bn, init="keras")(x)
            if bn:
                x = keras.layers.BatchNormalization(name=f"bn{index}")(x)
            return keras.layers.ReLU()(x) if activation else x

        inputs = image_input()
        x0 = layers.PadToMultiple(downscale, name="pad")(inputs)
        x = conv(x0, f, 1, strides=2)
        x = conv(x, f, 2, strides=2 if downscale == 4 else 1, bn=True)
        x = conv(x, f, 3, bn=True)
        x = conv(x, c * downscale * downscale, 4, activation=False)
        for k in range(downscale.bit_length() - 1):
            x = Subpixel(2, name=f"pixel_shuffle{k + 1}")(x)
        x = keras.layers.Concatenate(name="concat_input")([x, x0])
        x = conv(x, c, 5)
        x = conv(x, 3, 6, activation=False)
        x = layers.CropLike(anchor="top_left", name="crop")([x, inputs])
        outputs = layers.OutputHead(name="head")(x)
        self._finish(inputs, outputs, name,
                     {"downscale": downscale, "width": width, "fuse": fuse}, **kwargs)


def _operating_point(name, downscale, width, doc):
    def build(**kwargs):
        kwargs.setdefault("downscale", downscale)
        kwargs.setdefault("width", width)
        kwargs.setdefault("name", name)
        return SNPRGenerator(**kwargs)
    build.__doc__ = doc
    return register_arch(name)(build)


_operating_point("snpr_g1", 2, 64, "G1, the submitted entry: features at 1/2 resolution, width 64.")
_operating_point("snpr_g2", 4, 64, "G2: features at 1/4 resolution, width 64.")
_operating_point("snpr_g3", 4, 32, "G3, the fastest: features at 1/4 resolution, width 32.")
