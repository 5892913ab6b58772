"""Layers shared by the PIRM 2018 model family.

Every op here converts to TFLite builtins: moments are plain means, the
transposed convolution takes its output size from a reference tensor and the
broadcast is a multiplication, so exported graphs accept any input size.
"""

import contextlib

import keras
from keras import ops

_PACKAGE = "pirm_enhance"

# quantization-aware fine-tuning (pirm_enhance.quantize) sets a fake-quantizer here while it
# traces; every intermediate tensor that a full-int8 TFLite graph stores in 8 bits passes it
_QUANT_HOOK = [None]


def quant_point(x, fixed_range=None):
    """``x``, or ``x`` through the active fake-quantizer of :mod:`pirm_enhance.quantize`
    (an intermediate tensor that full-int8 TFLite keeps in 8 bits; ``fixed_range``
    for ops whose int8 output range LiteRT fixes, TANH's ``(-1, 1)``)."""
    hook = _QUANT_HOOK[0]
    return x if hook is None else hook(x, fixed_range)


def spatial_mean(x):
    """Mean over height and width per image and channel (``keepdims``), as two
    reductions: over the width, then over the height.

    The same value as one ``mean`` over both axes (to float32 rounding), but LiteRT's
    MEAN kernel (and XNNPACK's) sums a single reduction sequentially in float32: over
    a 1280x720 image (921,600 values) it is off by about 1e-3, which an instance norm
    behind a dilated convolution turns into output errors of 0.087 (PPCN student:
    30.5 dB against the float model at 720p, exact at 256x256). Two reductions of at
    most a few thousand values each stay within 1e-6."""
    return quant_point(ops.mean(quant_point(ops.mean(x, axis=2, keepdims=True)), axis=1, keepdims=True))


MIN_FUSED_EPSILON = 1.001e-5  # FusedBatchNormV3's smallest epsilon


def fused_normalise(x, mean, var, scale, shift, epsilon):
    """``(x - mean) / sqrt(var + epsilon) * scale + shift`` with per-channel ``[C]`` (or
    broadcastable) statistics, in one pass over ``x``: an inference-mode ``FusedBatchNormV3``
    (TensorFlow's CPU kernel), where the written form makes four; the written form below
    :data:`MIN_FUSED_EPSILON`. The statistics apply to every image of a batch."""
    import tensorflow as tf

    if epsilon < MIN_FUSED_EPSILON:
        return (x - mean) / ops.sqrt(var + epsilon) * scale + shift
    channels = x.shape[-1]
    y, _, _ = tf.compat.v1.nn.fused_batch_norm(
        x, tf.cast(scale, x.dtype), tf.cast(shift, x.dtype), mean=tf.reshape(tf.cast(mean, x.dtype), [channels]),
        variance=tf.reshape(tf.cast(var, x.dtype), [channels]), epsilon=epsilon, is_training=False)
    return y


@keras.saving.register_keras_serializable(package=_PACKAGE)
class InstanceNorm(keras.layers.Layer):
    """DPED instance normalisation.

    ``(x - mean_hw) / sqrt(var_hw + epsilon) * scale + shift`` per image and
    channel (Ignatov et al., DPED, ICCV 2017, ``models.py``). The TF1 code
    created ``shift`` before ``scale`` as unnamed variables; checkpoint import
    relies on that order (see :mod:`pirm_enhance.checkpoints`).
    """

    def __init__(self, epsilon=1e-3, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def build(self, input_shape):
        channels = input_shape[-1]
        self.shift = self.add_weight(name="shift", shape=(channels,), initializer="zeros")
        self.scale = self.add_weight(name="scale", shape=(channels,), initializer="ones")

    def call(self, x):
        form = getattr(self, "graph_form", None)
        if form == "batch_norm" and _QUANT_HOOK[0] is None and x.shape[0] == 1:
            return self._batch_norm_form(x)
        # centred * centred, not square(x - mean): the converter fuses the latter into
        # SQUARED_DIFFERENCE, which LiteRT's int16x8 kernels do not take
        mean = spatial_mean(x)
        centred = x - mean
        if _QUANT_HOOK[0] is not None:  # the ops of the int8 TFLite graph, each output in 8 bits
            centred = quant_point(centred)
            var = spatial_mean(quant_point(centred * centred))
            inverse = quant_point(ops.rsqrt(quant_point(var + self.epsilon)))
            return quant_point(quant_point(centred * inverse) * self.scale) + self.shift
        var = spatial_mean(centred * centred)
        deviation = self._float_deviation(var) if form == "float_statistics" else ops.sqrt(var + self.epsilon)
        return centred / deviation * self.scale + self.shift

    def _batch_norm_form(self, x):
        """The same function in fewer passes over the image, for float inference graphs of
        one image (set by :mod:`pirm_enhance.lowering` while an export traces): the two-step
        mean, the variance from one ``squared_difference`` pass, and the normalisation,
        scale and shift in one pass (:func:`fused_normalise`) fed those statistics. Four
        passes over the tensor instead of seven; the statistics are the layer's own, so only
        float rounding changes. Not for int16x8 TFLite, whose kernels have no
        SQUARED_DIFFERENCE, nor for batches (one mean per channel)."""
        import tensorflow as tf

        mean = spatial_mean(x)
        var = spatial_mean(tf.math.squared_difference(x, mean))
        return fused_normalise(x, mean, var, self.scale, self.shift, self.epsilon)

    def _float_deviation(self, var):
        """``sqrt(var + epsilon)`` as int16x8 TFLite files compute it (the ``"float_statistics"``
        form, set by :mod:`pirm_enhance.lowering` while such an export traces): the
        converter's float fallback keeps ``ADD_N``, ``SQRT`` and the ``DIV`` by the result in
        float, so the standard deviation and the division by it are never rounded to int16.
        Int16 activations cannot hold them: one scale per tensor, and a per-image standard
        deviation, or its inverse, spans more than that scale covers across photos (a flat
        crop's inverse was up to 3x its calibrated range on held-out photos). The means and
        squared deviations stay int16; the normalised tensor, whose range no longer depends
        on the photo, is int16 again. Written so that the converter does not turn ``d /
        sqrt(v)`` into int16 ``d * rsqrt(v)``: ``add_n`` for both additions (it has no int16
        kernel), the second adding 1e-30, which leaves a float32 deviation of at least
        ``sqrt(epsilon)`` unchanged."""
        import tensorflow as tf

        std = tf.sqrt(tf.add_n([var, tf.fill(tf.shape(var), tf.constant(self.epsilon, var.dtype))]))
        return tf.add_n([std, tf.fill(tf.shape(std), tf.constant(1e-30, std.dtype))])

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class MeanCentre(keras.layers.Layer):
    """``x * 255 -> (x*255 - mean_hw, mean_hw)``, per image and channel (PPCN's Track A
    network, :mod:`pirm_enhance.archs.ppcn_sr`: an image-wide statistic, which tiling
    replaces by the whole photo's, :class:`pirm_enhance.tiling.FixedMeanCentre`).

    The mean is taken over W, then H, as the TF1 code did: on a 2K image one float32
    mean over both axes at once is off by up to 0.1 (of 255), the two-step one by 1e-4."""

    def call(self, x):
        x = x * 255.0
        mean = spatial_mean(x)
        return x - mean, mean

    def compute_output_shape(self, input_shape):
        return input_shape, (input_shape[0], 1, 1, input_shape[3])


@keras.saving.register_keras_serializable(package=_PACKAGE)
class MeanRestore(keras.layers.Layer):
    """``(x, mean) -> (x + mean) / 255``."""

    def call(self, inputs):
        x, mean = inputs
        return (x + mean) / 255.0

    def compute_output_shape(self, input_shapes):
        return input_shapes[0]


@keras.saving.register_keras_serializable(package=_PACKAGE)
class AdjustContrast(keras.layers.Layer):
    """``(x - mean_hw) * factor + mean_hw`` per image and channel.

    The same arithmetic as ``tf.image.adjust_contrast`` (used by PPCN), written
    with means so that it converts to TFLite without the AdjustContrastv2 op.
    """

    def __init__(self, factor=1.2, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, x):
        mean = spatial_mean(x)
        return quant_point(quant_point(x - mean) * self.factor) + mean

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class BroadcastToSpatial(keras.layers.Layer):
    """Broadcast a global feature vector ``[B, C]`` to ``[B, H, W, C]``.

    H and W are taken from a reference feature map (the second input), as in
    RSGUNet's global-feature path. A multiplication with ones keeps the op set
    small (no BroadcastTo / Tile with dynamic multiples).
    """

    def call(self, inputs):
        vector, reference = inputs
        ones = ops.ones_like(reference[..., :1])
        return vector[:, None, None, :] * ones

    def compute_output_shape(self, input_shapes):
        vector, reference = input_shapes
        return (reference[0], reference[1], reference[2], vector[-1])


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ConvTransposeLike(keras.layers.Layer):
    """Transposed convolution whose output size is that of a reference tensor.

    TF1 code called ``tf.nn.conv2d_transpose(x, W, output_shape=tf.shape(ref))``
    with 'SAME' padding. For the kernel/stride pairs used here (4/2 and 2/2)
    that output equals the 'same' transposed convolution of size ``stride*H``
    cropped to the first ``H_ref`` rows and ``W_ref`` columns (SAME padding puts
    the odd extra pixel at the end), which is what this layer computes.
    The kernel layout is TF's ``[kh, kw, out, in]``.
    """

    def __init__(self, filters, kernel_size, strides=2, use_bias=True,
                 kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.kernel_size = kernel_size
        self.strides = strides
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shapes):
        x_shape, _ = input_shapes
        self.kernel = self.add_weight(
            name="kernel",
            shape=(self.kernel_size, self.kernel_size, self.filters, x_shape[-1]),
            initializer=self.kernel_initializer)
        self.bias = (self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")
                     if self.use_bias else None)

    def call(self, inputs):
        x, reference = inputs
        y = self.transpose_op(x, self.kernel)
        shape = ops.shape(reference)
        y = y[:, : shape[1], : shape[2], :]
        if self.bias is not None:
            y = y + self.bias
        return y

    def transpose_op(self, x, kernel):
        """The 'same' transposed convolution to ``strides`` times the input's size (an
        export may replace it for one trace: :func:`pirm_enhance.lowering.phase_conv_transpose`)."""
        return ops.conv_transpose(x, kernel, strides=self.strides, padding="same")

    def compute_output_shape(self, input_shapes):
        x_shape, ref_shape = input_shapes
        return (x_shape[0], ref_shape[1], ref_shape[2], self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": self.kernel_size, "strides": self.strides,
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class OutputHead(keras.layers.Layer):
    """``tanh(x) * 0.58 + offset``: the DPED-family output (offset 0.5, RSGUNet 0.52)."""

    def __init__(self, offset=0.5, **kwargs):
        super().__init__(**kwargs)
        self.offset = offset

    def call(self, x):
        return quant_point(quant_point(ops.tanh(x), fixed_range=(-1.0, 1.0)) * 0.58) + self.offset

    def get_config(self):
        return {**super().get_config(), "offset": self.offset}


class MirrorPad(keras.layers.Layer):
    """Pads height and width by ``pad`` pixels with the image mirrored (edge pixel
    repeated, numpy's ``"symmetric"``), so that the borders are not convolved with
    zeros; images smaller than ``pad`` are padded by their own size."""

    def __init__(self, pad=16, **kwargs):
        super().__init__(**kwargs)
        self.pad = pad

    def call(self, x):
        # mirrored slices concatenated (StridedSlice, Reverse, Concat: ops every runtime,
        # TFLite included, takes with a dynamic size); a slice past the end is shorter,
        # so small images are padded by their own size
        p = self.pad
        x = ops.concatenate([ops.flip(x[:, :p], axis=1), x, ops.flip(x[:, -p:], axis=1)], axis=1)
        return ops.concatenate([ops.flip(x[:, :, :p], axis=2), x, ops.flip(x[:, :, -p:], axis=2)], axis=2)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], None, None, input_shape[3])

    def get_config(self):
        return {**super().get_config(), "pad": self.pad}


class PadToMultiple(keras.layers.Layer):
    """Pads the bottom and right of an image to the next multiple of ``multiple``
    (height and width) with the image mirrored (numpy's ``"symmetric"``), so that
    networks that downscale by space-to-depth, strides or pooling take any size,
    odd ones too. Undo it with ``CropLike(anchor="top_left")``. Built from a
    dynamic slice, reverse and concat (every runtime, TFLite included, takes
    them); an image smaller than the padding repeats its mirror image."""

    def __init__(self, multiple=4, **kwargs):
        super().__init__(**kwargs)
        self.multiple = multiple

    def _pad(self, x, axis):
        import tensorflow as tf

        m = self.multiple
        size = tf.shape(x)[axis]
        # (m - size % m) % m, not (-size) % m: ONNX Runtime's Mod of a negative int32 is
        # C's remainder (-1 for -37 % 4), which made the ONNX graph pad by 15 rows, not 3
        extra = (m - size % m) % m
        # the last m rows (all of them when the image is smaller) mirrored; mirrored again
        # while shorter than the padding (a tiny image repeats as x, rev(x), x, ...)
        mirror = tf.reverse(x[:, -m:] if axis == 1 else x[:, :, -m:], [axis])
        for _ in range(max(m - 2, 0).bit_length()):
            mirror = tf.concat([mirror, tf.reverse(mirror, [axis])], axis)
        # image and mirror joined, then cut to size: no slice is ever empty (ONNX Runtime
        # cannot reshape the empty tail that tf2onnx's rewrite of reverse-then-slice makes)
        padded = tf.concat([x, mirror], axis)
        end = size + extra
        return padded[:, :end] if axis == 1 else padded[:, :, :end]

    def call(self, x):
        return self._pad(self._pad(x, 1), 2)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], None, None, input_shape[3])

    def get_config(self):
        return {**super().get_config(), "multiple": self.multiple}


class CropLike(keras.layers.Layer):
    """``x`` cropped to the height and width of ``reference``: centred (undoes
    :class:`MirrorPad`) or, with ``anchor="top_left"``, its top-left corner
    (undoes :class:`PadToMultiple`)."""

    def __init__(self, anchor="centre", **kwargs):
        super().__init__(**kwargs)
        if anchor not in ("centre", "top_left"):
            raise ValueError(f"anchor must be 'centre' or 'top_left', not {anchor!r}")
        self.anchor = anchor

    def call(self, inputs):
        import tensorflow as tf

        x, reference = inputs
        sx, sr = tf.shape(x), tf.shape(reference)
        if self.anchor == "top_left":
            return x[:, :sr[1], :sr[2], :]
        top, left = (sx[1] - sr[1]) // 2, (sx[2] - sr[2]) // 2
        return x[:, top:top + sr[1], left:left + sr[2], :]

    def get_config(self):
        return {**super().get_config(), "anchor": self.anchor}

    def compute_output_shape(self, input_shapes):
        x, reference = input_shapes
        return (reference[0], reference[1], reference[2], x[3])


class ResidualHead(keras.layers.Layer):
    """``clip(image + scale * tanh(x), 0, 1)``: an output that starts as the
    identity when ``x`` starts at zero (a zero-initialised last convolution)."""

    def __init__(self, scale=1.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale

    def call(self, inputs):
        image, x = inputs
        return ops.clip(image + ops.tanh(x) * self.scale, 0.0, 1.0)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


_DIRECT_DILATIONS = [False]


@contextlib.contextmanager
def direct_dilations(explicit_padding=False):
    """While tracing inside this context, :class:`DilatedConv2D` layers are one
    ``tf.nn.conv2d(..., dilations=...)`` op (the exporters' frozen graphs use it).
    ``explicit_padding``: that op with the SAME padding written out (ONNX: ONNX Runtime
    refuses a dilated Conv with ``auto_pad`` SAME, "Dilation not supported for
    AutoPadType::SAME_UPPER"; TFLite would add a PAD op per layer, so it keeps SAME).
    Not for training: TensorFlow's CPU kernels have no gradient for that op with
    dilation rates above 1 ("Current CPU implementations do not yet support dilation
    rates larger than 1")."""
    previous = _DIRECT_DILATIONS[0]
    _DIRECT_DILATIONS[0] = "explicit" if explicit_padding else True
    try:
        yield
    finally:
        _DIRECT_DILATIONS[0] = previous


@keras.saving.register_keras_serializable(package=_PACKAGE)
class DilatedConv2D(keras.layers.Conv2D):
    """``Conv2D`` that is one ``tf.nn.conv2d(..., dilations=...)`` in exported graphs.

    Keras 3 lowers a dilated convolution to ``tf.nn.convolution``, which wraps it in
    SPACE_TO_BATCH_ND / BATCH_TO_SPACE_ND with paddings computed from the input
    shape (SHAPE, FLOOR_MOD, PACK, STRIDED_SLICE): in a resizable TFLite graph these
    stay on LiteRT's CPU kernels, split the XNNPACK delegate, and LiteRT's 16x8
    quantizer refuses FLOOR_MOD. Traced inside :func:`direct_dilations` (as the
    exporters do), one dilated Conv2D converts to one CONV_2D with dilation factors.
    Elsewhere (training, Keras inference) it is Keras's own lowering, which has a
    gradient on the CPU. Same weights and same result (to float32 rounding)."""

    def convolution_op(self, inputs, kernel):
        if not _DIRECT_DILATIONS[0] or self.dilation_rate == (1, 1) or self.groups != 1:
            return super().convolution_op(inputs, kernel)
        import tensorflow as tf

        padding = self.padding.upper()
        if _DIRECT_DILATIONS[0] == "explicit" and padding == "SAME" and tuple(self.strides) == (1, 1):
            pads = []
            for k, d in zip(self.kernel_size, self.dilation_rate):
                total = (k - 1) * d  # SAME at stride 1: the effective kernel's reach, top/left first
                pads.append([total // 2, total - total // 2])
            padding = [[0, 0], *pads, [0, 0]]
        return tf.nn.conv2d(inputs, kernel, strides=self.strides, padding=padding, dilations=self.dilation_rate)


def conv(filters, kernel_size, name, strides=1, dilation_rate=1, activation=None, use_bias=True,
         init="dped"):
    """A 'SAME' convolution.

    ``init="dped"``: the 2018 DPED-family initialisation (truncated normal,
    std 0.01; biases 0.01); ``init="keras"``: Glorot-uniform kernels and zero
    biases, for deep networks (RSGUNet) that would not train from the former;
    ``init="zeros"``: all zero (the last layer of a residual output).
    """
    if init == "dped":
        kernel_init = keras.initializers.TruncatedNormal(stddev=0.01)
        bias_init = keras.initializers.Constant(0.01)
    elif init == "zeros":
        kernel_init, bias_init = "zeros", "zeros"
    else:
        kernel_init, bias_init = "glorot_uniform", "zeros"
    cls = keras.layers.Conv2D if dilation_rate in (1, (1, 1)) else DilatedConv2D
    return cls(
        filters, kernel_size, strides=strides, padding="same", dilation_rate=dilation_rate,
        activation=activation, use_bias=use_bias, name=name,
        kernel_initializer=kernel_init, bias_initializer=bias_init)
