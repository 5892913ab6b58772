"""MDIE: Multi-Domain Intrinsic Enhancement, decompose -> enhance -> recompose.

Reconstructed from the thesis "DPED+, MPSE and MDIE" (section 3.2, figures 10-11,
section 5.2; /work/shared/papers/thesis_dped_plus_mpse_mdie.txt). No code or
weights were published; what the thesis states is below, then every choice it
leaves open.

What the thesis states:

* intrinsic decomposition ``I = A . S`` (albedo A, shading S); a decomposition
  network ``F(I) = (A, S)`` is trained self-supervised with a reconstruction
  loss through a *composition network* ``F'``, ``||I - F'(A, S)||^2``, because
  the product loss ``||I - A . S||^2`` has the meaningless zero-loss solution
  ``A = I, S = 1`` (section 3.2.1, after Janner et al., NIPS 2017 [23]);
* F and F' are the same "symmetric intrinsic network": an encoder of 5 3x3
  stride-2 convolutions with {16, 32, 64, 128, 256} filters, batch norm and
  ReLU in every layer; a decoder with the same layers in reverse order, with
  sub-pixel upsampling (Shi et al. 2016) after each convolution, and an output
  layer of six channels (albedo and shading) for F;
* a multi-domain generator ``G(x, c)`` (StarGAN, Choi et al., CVPR 2018 [10])
  on the six-channel intrinsics, conditioned on the label
  ``c~ = [c_1, ..., c_n, m]``: one label per attribute dataset (colour, noise,
  texture: n = 3, each "low-quality" or "high-quality") and a mask vector
  ``m``, an n-dimensional one-hot vector naming the dataset the sample comes
  from, so that the unknown labels are ignored; at test time "all labels
  high-quality" gives the comprehensive enhancement (figure 11);
* a discriminator with an auxiliary classifier, ``D: x -> {D_src(x), D_cls(x)}``;
* F' recomposes G's output into the enhanced image (figure 11).

The zoo model ``mdie`` is that pipeline as one graph, image in, image out::

    PadToMultiple(2^levels) -> F -> (A, S) -> G(., target label) -> F' -> CropLike

with the target label fixed in the graph (``target``, default all attributes
high quality, see below), so it exports to .pb and TFLite like every zoo model.
That is ``recompose="direct"``, the thesis's figure 11 as drawn. The default,
``recompose="residual"``, transfers G's edit instead of the recomposition itself::

    output = clip(I + F'(G(F(I))) - F'(F(I)), 0, 1)

(one more F' pass on the same layers). Not in the thesis; chosen because a
composition network of a few hundred thousand weights reconstructs photos at
only 25-27 dB (``tools/train_mdie.py``'s card), below what mildly degraded photos
already score (noise-only and texture-only held-out pairs are 33.6 and 31.8 dB
from their originals): the direct form puts F''s reconstruction error into every
output, so it cannot beat doing nothing on them, whatever G learns. In the
residual form the detail F' loses comes from the input, a G at the identity gives
the input back exactly, and with F and F' frozen (the ``mdie`` recipe's default)
the paired term trains G alone. Measured in ``models/mdie/mdie.json``.
:meth:`MDIE.networks` gives F, G (with a label input) and F' as separate Keras
models sharing the zoo model's layers, for training
(:mod:`pirm_enhance.training.mdie_intrinsic`, :mod:`pirm_enhance.training.mdie`);
:class:`MDIEDiscriminator` is D.

Choices the thesis leaves open (what was chosen, and why):

* decoder: each of the five decoder convolutions has the mirrored filter count
  (256, 128, 64, 32, 16 at width 16) and is followed by batch norm, ReLU and a
  x2 sub-pixel shuffle, which divides the channels by 4 (the thesis's order:
  "sub-pixel upsampling is used after the convolutional layer"); the output
  layer is a 3x3 convolution;
* skip connections and a full-resolution layer: the decoder concatenates the
  encoder's features of the same resolution before each convolution (U-Net
  style) and, at full resolution, the network's own input, which then passes
  one more 3x3 convolution (``width`` channels, batch norm, ReLU) before the
  output layer. The thesis names neither, but without skips everything passes
  through a 1/32-resolution bottleneck, the first stride-2 layer alone keeps
  too little of each 2x2 block, and neither the noise and texture that figure
  10 shows in the shading nor the image itself could be reconstructed; and F'
  must compute something like the product ``A . S`` per pixel, which one
  linear output layer cannot. Trials (shipped size, held-out reconstruction
  ``F'(F(I))``): 23.6 dB after 600 steps with the input skip alone, 24.7 dB
  with this layer; a wider stage (3x3 and 1x1 convolutions, ``2 x width``
  channels, no batch norm) reached 23.1 dB after 450 steps against 25.3 dB for
  this one, at 1.7x the step time;
* outputs: sigmoid on F's six channels (``A`` = channels 0-2, ``S`` = 3-5, both
  in (0, 1); three shading channels because the thesis says six outputs) and on
  F''s three; no bias on convolutions followed by batch norm; batch-norm
  momentum 0.9 (the moving statistics follow short training runs);
* ``levels`` (default 5, the thesis) and ``width`` (16, the thesis) are
  arguments: the shipped model (``tools/train_mdie.py``) is smaller to train in
  minutes on a CPU; ``tiny_config`` uses 4 levels so that a 24x32 test image
  does not reach a 1x1 bottleneck, where batch norm on one value has no gradient;
* G: the thesis gives no layer list; a StarGAN generator scaled down: 7x7 conv
  (``generator_width`` = 16 channels), two 4x4 stride-2 convolutions (x2, x4
  channels), ``generator_blocks`` = 3 residual blocks, two x2 sub-pixel
  upsamplings (sub-pixel, as in the intrinsic networks, instead of StarGAN's
  transposed convolutions: TFLite-friendly), instance norm (DPED variant,
  :class:`pirm_enhance.layers.InstanceNorm`) and ReLU, except after the first
  convolution: the label enters as constant channels, so its contribution to
  that convolution is constant over the image and an instance norm right after
  it would subtract it (StarGAN's label then reaches G only through the zero
  padding at the borders); with a bias and a ReLU instead, the label moves the
  first layer's thresholds. Output: a 7x7 convolution, which also reads the
  conditioning input (a skip around the whole network: the instance norms take
  each feature map's mean and scale out, and a correction such as an exposure gain
  depends on the input's level; in one trial setting, residual form, F and F'
  trained together at 5e-4, the colour-only held-out pairs gained at most 0.09 dB
  over doing nothing without it and 0.5 dB with it), whose ``tanh`` is added
  to the input intrinsics and clipped to [0, 1]
  (:class:`pirm_enhance.layers.ResidualHead`), initialised small (std 1e-3) so
  that G starts near the identity and the untrained pipeline is ``F'(F(I))``
  (not zero: every weight then gets a gradient);
* the label: ``c_i`` in {0 = low quality, 1 = high quality} for the attribute
  of the sample's dataset and 0 for the others (StarGAN's unknown labels), the
  mask ``m`` one-hot over the three datasets (:func:`domain_label`). The thesis
  writes "only c_i is assigned to 1", which reads as the mask; StarGAN's mask
  vector is what the section cites. Order: colour, noise, texture
  (:data:`ATTRIBUTES`);
* the exported target ``c~ = [1, 1, 1, 1, 1, 1]`` (every label high quality and
  every dataset named: "when we name all label to 'high-quality'"); it never
  occurs in training (one dataset at a time), so it relies on G combining the
  three translations, as the thesis expects;
* D: StarGAN's discriminator scaled down, on the six-channel intrinsics (the
  GAN's domain in figure 11): 4x4 stride-2 convolutions with LeakyReLU(0.01),
  ``width``, 2x, 4x channels; ``D_src`` a 3x3 convolution to one logit per
  patch (PatchGAN), ``D_cls`` a global average and a dense layer to one logit
  per attribute (any input size, instead of StarGAN's full-size kernel).
"""

import keras
import numpy as np
from keras import ops

from pirm_enhance import layers
from pirm_enhance.archs.alex_enh import Subpixel
from pirm_enhance.archs.base import ZooModel, image_input
from pirm_enhance.errors import UsageError
from pirm_enhance.registry import register_arch

_PACKAGE = "pirm_enhance"
ATTRIBUTES = ("colour", "noise", "texture")
N_ATTRIBUTES = len(ATTRIBUTES)
LABEL_SIZE = 2 * N_ATTRIBUTES  # [c_1..c_n, m_1..m_n]
ALL_HIGH_QUALITY = (1.0,) * LABEL_SIZE
_BN_MOMENTUM = 0.9


def domain_label(attribute, quality, n=N_ATTRIBUTES):
    """The label ``c~ = [c_1..c_n, m_1..m_n]`` of a sample of dataset ``attribute``
    (index into :data:`ATTRIBUTES`) at ``quality`` (0 low, 1 high): ``c_attribute =
    quality``, the other ``c`` 0 (unknown), ``m`` one-hot at ``attribute`` (thesis
    3.2.2, "Mask Vector"; StarGAN's mask vector). float32 ``[2n]``."""
    if not 0 <= int(attribute) < n:
        raise UsageError(f"attribute {attribute}: must be in 0..{n - 1}")
    label = np.zeros(2 * n, np.float32)
    label[int(attribute)] = float(quality)
    label[n + int(attribute)] = 1.0
    return label


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ConstantLabel(keras.layers.Layer):
    """``[B, ...] -> [B, len(vector)]``: the fixed target label of an exported graph,
    one row per image of the batch (a multiplication with ones, no Tile/BroadcastTo)."""

    def __init__(self, vector=ALL_HIGH_QUALITY, **kwargs):
        super().__init__(**kwargs)
        self.vector = tuple(float(v) for v in vector)

    def call(self, x):
        return ops.ones_like(x[:, 0, 0, :1]) * ops.convert_to_tensor(np.asarray(self.vector, np.float32))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], len(self.vector))

    def get_config(self):
        return {**super().get_config(), "vector": list(self.vector)}


RECOMPOSE = ("residual", "direct")


@keras.saving.register_keras_serializable(package=_PACKAGE)
class EditTransfer(keras.layers.Layer):
    """``[I, F'(G(F(I))), F'(F(I))] -> clip(I + F'(G(F(I))) - F'(F(I)), 0, 1)``: G's edit as
    the change it makes to the recomposition, added to the input (the residual form of
    the pipeline, module doc)."""

    def call(self, inputs):
        return transfer_edit(*inputs)

    def compute_output_shape(self, input_shapes):
        return input_shapes[0]


def transfer_edit(image, edited, recomposed, recompose="residual"):
    """The pipeline's output from its parts, as :class:`MDIE` computes it: ``edited`` (F' of
    G's output) itself for ``"direct"``, ``clip(image + edited - recomposed, 0, 1)`` for
    ``"residual"`` (``recomposed`` = F'(F(image))). Tensors or arrays."""
    if recompose == "direct":
        return edited
    return ops.clip(image + edited - recomposed, 0.0, 1.0)


def _intrinsic_net(x, prefix, out_channels, width, levels, make):
    """The symmetric intrinsic network (F with 6 outputs, F' with 3), see the module doc.
    ``make(name, factory)`` creates a layer or returns the model's layer of that name."""
    def conv(name, filters, strides=1):
        return make(name, lambda n: keras.layers.Conv2D(filters, 3, strides=strides, padding="same",
                                                        use_bias=False, name=n))

    def bn_relu(x, index, kind):
        x = make(f"{prefix}_{kind}_bn{index}",
                 lambda n: keras.layers.BatchNormalization(momentum=_BN_MOMENTUM, name=n))(x)
        return make(f"{prefix}_{kind}_relu{index}", lambda n: keras.layers.ReLU(name=n))(x)

    image, skips = x, []
    for k in range(levels):
        x = bn_relu(conv(f"{prefix}_enc_conv{k + 1}", width * 2 ** k, strides=2)(x), k + 1, "enc")
        skips.append(x)
    for j, k in enumerate(reversed(range(levels))):
        if j:
            x = make(f"{prefix}_skip{j}", lambda n: keras.layers.Concatenate(name=n))([x, skips[k]])
        x = bn_relu(conv(f"{prefix}_dec_conv{j + 1}", width * 2 ** k)(x), j + 1, "dec")
        x = make(f"{prefix}_shuffle{j + 1}", lambda n: Subpixel(2, name=n))(x)
    x = make(f"{prefix}_skip_input", lambda n: keras.layers.Concatenate(name=n))([x, image])
    x = bn_relu(conv(f"{prefix}_full_conv", width)(x), 1, "full")  # per-pixel capacity (module doc)
    x = make(f"{prefix}_out", lambda n: keras.layers.Conv2D(out_channels, 3, padding="same", name=n))(x)
    return make(f"{prefix}_sigmoid", lambda n: keras.layers.Activation("sigmoid", name=n))(x)


def _generator(x, label, width, blocks, make):
    """G(x, c~) on the six intrinsic channels; returns ``(output, conditioning input)``."""
    def conv(x, name, filters, kernel, strides=1, norm=True, relu=True):
        x = make(name, lambda n: keras.layers.Conv2D(filters, kernel, strides=strides, padding="same",
                                                     use_bias=not norm, name=n))(x)
        if norm:
            x = make(f"{name}_norm", lambda n: layers.InstanceNorm(name=n))(x)
        return make(f"{name}_relu", lambda n: keras.layers.ReLU(name=n))(x) if relu else x

    g = "generator"
    spatial = make(f"{g}_label_broadcast", lambda n: layers.BroadcastToSpatial(name=n))([label, x])
    condition = make(f"{g}_condition", lambda n: keras.layers.Concatenate(name=n))([x, spatial])
    # no norm after the first convolution: it would subtract the label's contribution, constant
    # over the image (module doc); with a bias and a ReLU the label moves the thresholds instead
    h = conv(condition, f"{g}_conv_in", width, 7, norm=False)
    h = conv(h, f"{g}_down1", 2 * width, 4, strides=2)
    h = conv(h, f"{g}_down2", 4 * width, 4, strides=2)
    for b in range(1, blocks + 1):
        r = conv(conv(h, f"{g}_block{b}_conv1", 4 * width, 3), f"{g}_block{b}_conv2", 4 * width, 3, relu=False)
        h = make(f"{g}_block{b}_add", lambda n: keras.layers.Add(name=n))([h, r])
    for u, filters in ((1, 2 * width), (2, width)):
        h = make(f"{g}_up{u}_conv", lambda n: keras.layers.Conv2D(4 * filters, 3, padding="same", use_bias=False,
                                                                  name=n))(h)
        h = make(f"{g}_up{u}_shuffle", lambda n: Subpixel(2, name=n))(h)
        h = make(f"{g}_up{u}_norm", lambda n: layers.InstanceNorm(name=n))(h)
        h = make(f"{g}_up{u}_relu", lambda n: keras.layers.ReLU(name=n))(h)
    # the output convolution also reads the conditioning input: instance norm has taken each
    # feature map's mean and scale out, and a correction such as an exposure gain depends on them
    h = make(f"{g}_skip", lambda n: keras.layers.Concatenate(name=n))([h, condition])
    h = make(f"{g}_conv_out", lambda n: keras.layers.Conv2D(
        LABEL_SIZE, 7, padding="same", name=n,
        kernel_initializer=keras.initializers.RandomNormal(stddev=1e-3)))(h)
    out = make(f"{g}_head", lambda n: layers.ResidualHead(name=n))([x, h])
    return out, condition


@register_arch("mdie")
@keras.saving.register_keras_serializable(package=_PACKAGE)
class MDIE(ZooModel):
    """Decomposition F, multi-domain generator G at a fixed target label, composition F'."""

    tf1_checkpoint = False
    output_range = (0.0, 1.0)
    tiny_config = {"width": 4, "levels": 4, "generator_width": 4, "generator_blocks": 1}
    # int8 concatenation takes one scale for all its inputs, and G's and F''s skip
    # concatenations join tensors of different ranges: LiteRT's converter refuses them
    full_int8 = False

    def __init__(self, width=16, levels=5, generator_width=16, generator_blocks=3, target=ALL_HIGH_QUALITY,
                 recompose="residual", name="mdie", **kwargs):
        if recompose not in RECOMPOSE:
            raise UsageError(f"recompose must be one of {RECOMPOSE}, not {recompose!r}")
        if len(tuple(target)) != LABEL_SIZE:
            raise UsageError(f"target must have {LABEL_SIZE} values [c_1..c_3, m_1..m_3], not {target}")
        if width % 4 or generator_width < 1 or levels < 2:
            # G halves the size twice, so the input is padded to 2 ** levels with levels >= 2
            raise UsageError(f"width {width} must be a multiple of 4 (sub-pixel shuffles divide channels by 4), "
                             f"levels {levels} at least 2 (G downsamples by 4) and generator_width "
                             f"{generator_width} at least 1")
        config = {"width": int(width), "levels": int(levels), "generator_width": int(generator_width),
                  "generator_blocks": int(generator_blocks), "target": [float(v) for v in target],
                  "recompose": recompose}
        made = {}

        def shared(name, factory):  # F' runs twice in the residual form: one set of layers
            if name not in made:
                made[name] = factory(name)
            return made[name]

        inputs = image_input()
        padded = layers.PadToMultiple(2 ** config["levels"], name="pad")(inputs)
        intrinsics = self._decompose(padded, config, shared)
        label = ConstantLabel(config["target"], name="target_label")(intrinsics)
        enhanced, _ = _generator(intrinsics, label, config["generator_width"], config["generator_blocks"], shared)
        image = self._compose(enhanced, config, shared)
        if recompose == "residual":
            image = EditTransfer(name="edit_transfer")([padded, image, self._compose(intrinsics, config, shared)])
        outputs = layers.CropLike(anchor="top_left", name="crop")([image, inputs])
        self._finish(inputs, outputs, name, config, **kwargs)

    @staticmethod
    def _decompose(x, config, make):
        return _intrinsic_net(x, "decompose", LABEL_SIZE, config["width"], config["levels"], make)

    @staticmethod
    def _compose(x, config, make):
        return _intrinsic_net(x, "compose", 3, config["width"], config["levels"], make)

    @property
    def multiple(self):
        """Training crops must be multiples of this (the networks of :meth:`networks` do not pad)."""
        return 2 ** self._arch_config["levels"]

    def networks(self):
        """``{"decompose": F, "generator": G, "condition": G's conditioning input, "compose": F'}``:
        Keras models on this model's own layers (training them trains this model).
        F: image -> 6 channels (A = 0-2, S = 3-5); G: ``[intrinsics, label [B, 6]]`` -> 6 channels;
        "condition": ``[intrinsics, label]`` -> the 12-channel tensor G's first convolution reads;
        F': 6 channels -> image. Sizes must be multiples of :attr:`multiple`."""
        config = self._arch_config

        def existing(name, factory):
            return self.get_layer(name)

        image = keras.Input((None, None, 3), name="image")
        decompose = keras.Model(image, self._decompose(image, config, existing), name="decompose")
        x = keras.Input((None, None, LABEL_SIZE), name="intrinsics")
        label = keras.Input((LABEL_SIZE,), name="label")
        out, condition = _generator(x, label, config["generator_width"], config["generator_blocks"], existing)
        generator = keras.Model([x, label], out, name="generator")
        condition = keras.Model([x, label], condition, name="condition")
        y = keras.Input((None, None, LABEL_SIZE), name="intrinsics")
        compose = keras.Model(y, self._compose(y, config, existing), name="compose")
        return {"decompose": decompose, "generator": generator, "condition": condition, "compose": compose}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class MDIEDiscriminator(keras.Model):
    """D on six-channel intrinsics: ``[D_src patch logits [B, h, w, 1], D_cls logits [B, n]]``."""

    def __init__(self, width=32, depth=3, attributes=N_ATTRIBUTES, name="mdie_discriminator", **kwargs):
        inputs = keras.Input((None, None, LABEL_SIZE), name="intrinsics")
        x = inputs
        for k in range(depth):
            x = keras.layers.Conv2D(width * 2 ** k, 4, strides=2, padding="same", name=f"conv{k + 1}")(x)
            x = keras.layers.LeakyReLU(negative_slope=0.01, name=f"lrelu{k + 1}")(x)
        src = keras.layers.Conv2D(1, 3, padding="same", name="src")(x)
        pooled = keras.layers.GlobalAveragePooling2D(name="global_mean")(x)
        cls = keras.layers.Dense(attributes, name="cls")(pooled)
        super().__init__(inputs, [src, cls], name=name, **kwargs)
        self.width, self.depth, self.attributes = width, depth, attributes

    def get_config(self):
        return {"width": self.width, "depth": self.depth, "attributes": self.attributes, "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
