"""Export-time rewrites of large convolutions that keep the function (to float rounding).

A ``kh x kw`` convolution with few output channels (the RGB head of nearly every
model in the zoo: DPED's and EdS's 9x9 64->3 and 16->3, SRCNN's 5x5 32->3) is
a GEMM with 3 columns, which neither oneDNN nor XNNPACK runs well: SIMD lanes
hold 8-16 output channels. And XNNPACK keeps one 8-byte pointer per output pixel
and kernel tap for every convolution (its indirection buffer), 597 MB for a 9x9
layer at 1280x720. Two exact rewrites of such a layer, both a reordering of the
same sum (``y[i, j, o] = sum_{r, s, c} W[r, s, c, o] x[i + r - p, j + s - q, c]``):

* **output stacking** (``cout`` at most :data:`MAX_STACKED_OUT`, ``cin`` at least
  :data:`MIN_STACKED_OUT_IN`, both kernel sides above 1): one ``1 x kw``
  convolution computes the ``kh`` row partial sums ``z[i, j, r*cout + o] =
  sum_{s, c} W[r, s, c, o] x[i, j + s - q, c]`` (``kh * cout`` columns: 27 for a
  9x9 RGB head), and :func:`row_adder` adds each sum from its row, ``y[i, j, o] =
  sum_r z[i + r - p, j, r*cout + o]`` (a ``kh x 1`` convolution with a one-hot kernel;
  in TFLite a one-hot depthwise ``kh x 1`` and a one-hot ``1 x 1``). The zero
  padding of ``z`` stands for the zero padding of ``x`` (a row outside the
  image contributes nothing either way).
* **input stacking** (TFLite only; ``cin`` at most :data:`MAX_STACKED_IN` and
  ``kh * kw`` at least :data:`MIN_STACKED_TAPS`): a depthwise ``kh x 1``
  convolution with one-hot taps stacks the ``kh`` row shifts of the input,
  ``u[i, j, c*kh + r] = x[i + r - p, j, c]`` (27 channels for an RGB input),
  and one ``1 x kw`` convolution with the reordered kernel finishes the sum.

Measured one layer at a time at 1280x720 on the 2-core Xeon (AVX-512) of
2026-12-03, median of 5, plain -> rewritten (BUILD_NOTES "The phone path"):
9x9 64->3: TensorFlow 454 -> 83 ms, TFLite 801 -> 99 ms; 9x9 16->3: 111 -> 47,
196 -> 70; 9x9 3->16 stacked input, TFLite: 148 -> 103 (TensorFlow 39 -> 52,
so TensorFlow graphs do not get it); 9x9 3->64 stacked input, TFLite: 288 ->
305 ms, but its indirection buffer falls from 597 MB to 66 MB, which is what
bounds DPED's peak memory. Output stacking with 32 outputs (5x5 64->32) doubles
the time, and on PPCN's student (a 7x1 8->8 and a 3x3 8->3 layer) it took the
frozen graph from 97 to 170 ms: hence the limits on ``cout``, ``cin`` and ``kw``.

Transposed convolutions (``"phases"``, float TFLite only, :func:`_phase_eligible`): XNNPACK's
deconvolution is slow, so a SAME transposed convolution with stride ``s`` becomes one
convolution on the input's grid that computes all ``s*s`` output phases as channel
blocks, then ``DEPTH_TO_SPACE`` (:func:`phase_conv_transpose`). Where the kernel is a
multiple of the stride that is the layer's own multiply-adds; otherwise some phases'
windows are partly empty and the form does more. On the 2-core Xeon (AVX-512, AMX) of
2026-12-06, median of 15, one layer in a fixed TFLite file, plain -> phases in ms: 4x4
stride 2 32->16 to 720p 77.6 -> 66.4, 64->32 to 360x640 38.6 -> 27.9; 2x2 stride 2 16->3
to 720p 12.1 -> 4.3, 32->16 to 360x640 6.9 -> 4.1, 64->32 3.6 -> 2.2, 128->64 2.4 -> 1.3;
8x8 stride 4 from 180x320, 16->3 26.2 -> 15.7, 64->3 132.7 -> 24.8; 3x3 stride 2 16->3
36.8 -> 15.7. Partly empty windows with many outputs lose: 3x3 stride 2 64->32 150.0 ->
164.3, 5x5 stride 4 128->32 204.9 -> 213.1; hence the rule (a kernel that is a multiple
of the stride, or at most :data:`MAX_PHASE_OUT` outputs). In TensorFlow the forms were
slower (4x4 32->16 38.3 -> 59.5 ms), so graphs for TensorFlow keep the op. Whole fixed
TFLite files at 720p, median of 9: ``eds.iphone`` 490 -> 441 ms, ``rsgunet`` 136 -> 121,
outputs unchanged (6e-7 and 6e-8 from Keras, as before). Full-int8 files take this
rewrite too (target ``"tflite_int8"``, and no other): LiteRT leaves an int8
``TRANSPOSE_CONV`` outside the XNNPACK delegate, on its own kernel, and one layer (float
in and out) went from 133.6 to 49.1 ms (4x4 32->16 to 720p) and from 31.3 to 13.3 ms
(64->32 to 360x640).

One more rewrite, of :class:`pirm_enhance.layers.InstanceNorm` (``"batch_norm"``, in
float graphs of one image): the layer's two-step mean, its variance from one
``squared_difference`` pass, and then the normalisation, scale and shift as one
inference-mode ``FusedBatchNormV3`` fed those per-image statistics, four passes over
the tensor instead of seven. On the 2-core EPYC (AVX-512) of 2026-12-05, whose
elementwise ops are bound by memory bandwidth, at 1280x720: PPCN student frozen graph
88 -> 82 ms, teacher 346 -> 334, EdS 366 -> 360; fixed TFLite (kept buffers) student
90 -> 83, teacher 305 -> 296; outputs within 1e-6 of the layers as written. TensorFlow's
own fused instance norm (``_MklFusedInstanceNorm``, which grappler substitutes for
the pattern ``x * a + (b - m * a)`` with ``a = rsqrt(var + eps) * scale``) was faster
(student 98 -> 68 ms) but put the student's 720p output 0.059 off (29.5 dB from Keras):
its statistics lose precision where a channel's mean is far larger than its
deviation; centring first kept 1e-4 and most of the time. Int8 TFLite keeps the layer
as written.

Int16x8 TFLite files get the norms' ``"float_statistics"`` form instead
(:meth:`pirm_enhance.layers.InstanceNorm._float_deviation`): the standard
deviation and the division by it stay float (ops without an int16 kernel, which the
exporter lets the converter keep in float), since one int16 scale per tensor cannot
hold a per-image inverse deviation across photos. PPCN teacher, 80 held-out 100-px
crops of bundled photos 60-99, 16x8 file against float, mean / p10 / worst dB: 46.07 /
40.93 / 23.42 with the layer as written, 47.34 / 43.84 / 38.80 with float statistics;
EdS 48.56 / 40.99 / 34.23 -> 50.36 / 47.19 / 43.78; the PPCN students unchanged
(within 0.1 dB).

Where it applies: :func:`split_kernels` is a context manager, active while the
exporters trace a model (:func:`pirm_enhance.graphs.frozen_function`); outside
it, the layers run Keras's own convolution, so training, checkpoints and Keras
inference are untouched. Quantized TFLite files (int8, 16x8) get no convolution
rewrite: the stacked partial sums would be one more rounded tensor. Full-int8 files do
take the transposed convolutions' phase form (above), whose blocks are the layer's own
outputs, rearranged.
"""

import contextlib
import functools

import numpy as np

TARGETS = ("tf", "tflite", "tflite_int16x8", "tflite_int8")
# the form each target gives the instance norms (see the module doc)
NORM_FORMS = {"tf": "batch_norm", "tflite": "batch_norm", "tflite_int16x8": "float_statistics"}
# the targets whose convolutions are rewritten: not int16x8 TFLite, where the partial sums
# would be one more rounded tensor
CONVOLUTION_TARGETS = ("tf", "tflite")
# the targets whose transposed convolutions become phase convolutions: float TFLite, and full
# int8, whose TRANSPOSE_CONV XNNPACK does not take (module doc); int16x8 runs on reference
# kernels either way
PHASE_TARGETS = ("tflite", "tflite_int8")
MAX_STACKED_OUT = 4
MIN_STACKED_OUT_IN = 16
MAX_STACKED_IN = 4
MIN_STACKED_TAPS = 49
# transposed convolutions with at most this many outputs take the phase form even where its
# windows are partly empty: XNNPACK's deconvolution is slowest there (module doc)
MAX_PHASE_OUT = 4


def _eligible(layer):
    import keras

    if not isinstance(layer, keras.layers.Conv2D) or getattr(layer, "rank", 2) != 2:
        return False
    kh, kw = layer.kernel_size
    return (tuple(layer.strides) == (1, 1) and tuple(layer.dilation_rate) == (1, 1)
            and layer.padding == "same" and layer.data_format == "channels_last"
            and getattr(layer, "groups", 1) == 1 and kh % 2 == 1 and kw % 2 == 1 and kh > 1)


def _phase_eligible(layer):
    """Whether TFLite files (:data:`PHASE_TARGETS`) compute ``layer`` as phase convolutions
    (:func:`phase_conv_transpose`): a built :class:`pirm_enhance.layers.ConvTransposeLike`
    with stride 2 or more whose kernel is a multiple of its stride (every phase's window
    full: the layer's own multiply-adds), or with at most :data:`MAX_PHASE_OUT` outputs."""
    from pirm_enhance.layers import ConvTransposeLike

    if type(layer) is not ConvTransposeLike or not layer.built:
        return False
    k, s = int(layer.kernel_size), int(layer.strides)
    return 2 <= s <= k and (k % s == 0 or int(layer.filters) <= MAX_PHASE_OUT)


def _norm_form(layer, target):
    """The :data:`NORM_FORMS` entry of ``target`` for a built :class:`InstanceNorm`, else
    ``None`` (also for the batch-norm form below its smallest epsilon)."""
    from pirm_enhance.layers import MIN_FUSED_EPSILON, InstanceNorm

    form = NORM_FORMS.get(target)
    if type(layer) is not InstanceNorm or not layer.built:
        return None
    return None if form == "batch_norm" and layer.epsilon < MIN_FUSED_EPSILON else form


def plan(layer, target):
    """``"output"``, ``"input"``, ``"phases"``, ``"batch_norm"``, ``"float_statistics"`` or
    ``None``: the rewrite :func:`split_kernels` gives ``layer``."""
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    form = _norm_form(layer, target)
    if form is not None:
        return form
    if target in PHASE_TARGETS and _phase_eligible(layer):
        return "phases"
    if target not in CONVOLUTION_TARGETS or not _eligible(layer) or not layer.built:
        return None
    kh, kw, cin, cout = (int(v) for v in layer.kernel.shape)
    if cout <= MAX_STACKED_OUT and cin >= MIN_STACKED_OUT_IN and kw > 1:
        return "output"
    if target == "tflite" and cin <= MAX_STACKED_IN and kh * kw >= MIN_STACKED_TAPS:
        return "input"
    return None


def stacked_output_conv(inputs, kernel, target="tf"):
    """``conv2d(inputs, kernel, SAME)`` as a ``1 x kw`` convolution to the row partial
    sums and :func:`row_adder`, which adds each sum from its row (see the module doc)."""
    import tensorflow as tf

    kh, kw, cin, cout = (int(v) for v in kernel.shape)
    rows = tf.reshape(tf.transpose(kernel, [1, 2, 0, 3]), [1, kw, cin, kh * cout])  # column r*cout + o
    partial = tf.nn.conv2d(inputs, tf.cast(rows, inputs.dtype), 1, "SAME")
    return row_adder(partial, kh, cout, target)


def row_adder(partial, kh, cout, target="tf"):
    """``y[i, j, o] = sum_r partial[i + r - p, j, r*cout + o]`` (``p = kh // 2``, zero rows
    outside the image). Exact either way: each output is the same ``kh`` additions of the
    same numbers.

    * TFLite (``target="tflite"``): a one-hot depthwise ``kh x 1`` convolution moves each
      partial sum to its row, and a one-hot ``1 x 1`` convolution adds the ``kh`` moved
      copies: 243 + 27 multiply-adds per pixel for a 9x9 RGB head.
    * TensorFlow graphs: one ``kh x 1`` convolution with a one-hot ``kh*cout -> cout``
      kernel (729 per pixel, a GEMM with 3 columns).

    Measured on the 2-core EPYC (AVX-512), 1280x720. EdS's 9x9 head, the adder alone: fixed
    TFLite 36.9 -> 14.0 ms moved (a sum over a ``[.., kh, cout]`` reshape instead of the
    1x1: 27.0); TensorFlow 37.4 -> 20.3 ms moved (17.7 with the sum). Whole files,
    ``pirm-bench``, one -> the other: the fixed TFLite file 521 -> 501 ms, peak RSS 316 ->
    337 MB; the frozen graph 375 -> 362 ms but 238 -> 341 MB (the moved copies are one more
    ``kh*cout``-channel tensor, 100 MB at 720p, alive beside the partial sums), and the
    project's SRCNN graph no faster (593 -> 599 ms) for 439 -> 481 MB. So only TFLite moves."""
    import tensorflow as tf

    if target != "tflite":
        return tf.nn.conv2d(partial, tf.constant(_one_hot_adder(kh, cout, kh), dtype=partial.dtype), 1, "SAME")
    shifts = np.zeros((kh, 1, kh * cout, 1), np.float32)
    for r in range(kh):
        shifts[r, 0, r * cout:(r + 1) * cout, 0] = 1.0
    moved = tf.nn.depthwise_conv2d(partial, tf.constant(shifts, dtype=partial.dtype), [1, 1, 1, 1], "SAME")
    return tf.nn.conv2d(moved, tf.constant(_one_hot_adder(kh, cout, 1), dtype=partial.dtype), 1, "SAME")


def _one_hot_adder(kh, cout, rows):
    """A ``rows x 1`` kernel ``kh*cout -> cout`` that adds channel ``r*cout + o`` to output
    ``o``, from row ``r`` of the kernel (``rows == kh``) or in place (``rows == 1``)."""
    adder = np.zeros((rows, 1, kh * cout, cout), np.float32)
    for r in range(kh):
        adder[r if rows == kh else 0, 0, r * cout:(r + 1) * cout, :] = np.eye(cout, dtype=np.float32)
    return adder


def stacked_input_conv(inputs, kernel, target="tflite"):
    """``conv2d(inputs, kernel, SAME)`` as a one-hot depthwise ``kh x 1`` convolution that
    stacks the input's row shifts and one ``1 x kw`` convolution (see the module doc; the
    same ops for every ``target``)."""
    import tensorflow as tf

    kh, kw, cin, cout = (int(v) for v in kernel.shape)
    shifts = np.zeros((kh, 1, cin, kh), np.float32)  # depthwise output channel c*kh + r
    for r in range(kh):
        shifts[r, 0, :, r] = 1.0
    stacked = tf.nn.depthwise_conv2d(inputs, tf.constant(shifts, dtype=inputs.dtype), [1, 1, 1, 1], "SAME")
    rows = tf.reshape(tf.transpose(kernel, [1, 2, 0, 3]), [1, kw, cin * kh, cout])
    return tf.nn.conv2d(stacked, tf.cast(rows, inputs.dtype), 1, "SAME")


def _phase_offsets(kernel_size, stride, phase):
    """The input offsets ``d = i - j`` that reach output ``stride * j + phase`` of a SAME
    transposed convolution, with the tap each one takes: ``{d: t}``."""
    pad = max(kernel_size - stride, 0) // 2  # TensorFlow's SAME padding before the first row
    found = {}
    for d in range(-kernel_size, kernel_size + 1):
        t = phase + pad - stride * d
        if 0 <= t < kernel_size:
            found[d] = t
    return found


def phase_conv_transpose(inputs, kernel, strides):
    """``conv_transpose(inputs, kernel, strides, SAME)`` (output ``strides`` times the input's
    size; kernel layout ``[k, k, out, in]``) as one convolution on the input's grid to
    ``strides**2 * out`` channels, one block per output phase, and ``depth_to_space``.

    Output pixel ``s*j + p`` of a SAME transposed convolution is ``sum_d x[j + d] W[t]``
    with ``t = p + pad - s*d`` (``pad = (k - s) // 2``): for each phase ``p`` a few
    consecutive input pixels, a window of ``m`` taps starting at offset ``d_p``. One
    VALID ``m x m`` convolution of the input padded by the windows' reach computes every
    phase, each from its own window start; a phase whose window starts later is read from
    its block shifted by that much (a slice), and ``depth_to_space`` interleaves the
    blocks. The same multiply-adds as the transposed convolution (zero taps only where a
    phase has fewer). 2x2 stride 2: a 1x1 convolution to 4x the channels, no slices;
    4x4 stride 2: a 2x2 convolution on the input padded by one pixel, four slices (the
    same ops for every target)."""
    import tensorflow as tf

    k, s = int(kernel.shape[0]), int(strides)
    cout, cin = int(kernel.shape[2]), int(kernel.shape[3])
    if k < s:
        raise ValueError(f"a {k}x{k} kernel with stride {s} leaves output phases without taps")
    phases = [_phase_offsets(k, s, p) for p in range(s)]
    starts = [min(taps) for taps in phases]
    m = max(max(taps) - start for taps, start in zip(phases, starts)) + 1
    lo, hi = min(starts), max(start + m - 1 for start in starts)
    zero = tf.zeros([cin, cout], kernel.dtype)

    def block(a, b, py, px):  # window tap (a, b) of output phase (py, px): [in, out]
        ty, tx = phases[py].get(starts[py] + a), phases[px].get(starts[px] + b)
        return zero if ty is None or tx is None else tf.transpose(kernel[ty, tx])

    weights = tf.stack([tf.stack([tf.concat([block(a, b, py, px) for py in range(s) for px in range(s)], -1)
                                  for b in range(m)]) for a in range(m)])
    weights = tf.cast(weights, inputs.dtype)  # [m, m, in, s*s*out], block (py*s + px)
    padded = tf.pad(inputs, [[0, 0], [-lo, hi], [-lo, hi], [0, 0]]) if (lo or hi) else inputs
    blocks = tf.nn.conv2d(padded, weights, 1, "VALID")
    if any(start != lo for start in starts):  # else the blocks are the input's size already
        shape = tf.shape(inputs)
        parts = [blocks[:, starts[py] - lo:starts[py] - lo + shape[1], starts[px] - lo:starts[px] - lo + shape[2],
                        (py * s + px) * cout:(py * s + px + 1) * cout]
                 for py in range(s) for px in range(s)]
        blocks = tf.concat(parts, -1)
    return tf.nn.depth_to_space(blocks, s) if s > 1 else blocks


_REWRITES = {"output": stacked_output_conv, "input": stacked_input_conv}
# the attribute of a layer that each rewrite replaces for the trace
_ATTRIBUTES = {"output": "convolution_op", "input": "convolution_op", "phases": "transpose_op",
               **{form: "graph_form" for form in NORM_FORMS.values()}}


def _layers(model):
    flatten = getattr(model, "_flatten_layers", None)
    if flatten is not None:
        return list(flatten(include_self=True, recursive=True))
    found, stack = [], [model]
    while stack:
        layer = stack.pop()
        found.append(layer)
        stack.extend(getattr(layer, "layers", []))
    return found


def lower(model, target):
    """Rewrite the convolutions of ``model`` that :func:`plan` picks for ``target`` for good
    (for a private inference copy, such as the tiler's twin); returns ``{layer name:
    (layer, rewrite, the instance's previous convolution_op or None)}``."""
    patched = {}
    if target is None:
        return patched
    for layer in _layers(model):
        how = plan(layer, target)
        if how is None:
            continue
        attribute = _ATTRIBUTES[how]
        patched[layer.name] = (layer, how, vars(layer).get(attribute))
        if how in NORM_FORMS.values():
            layer.graph_form = how
        elif how == "phases":
            layer.transpose_op = functools.partial(phase_conv_transpose, strides=layer.strides)
        else:
            layer.convolution_op = functools.partial(_REWRITES[how], target=target)
    return patched


@contextlib.contextmanager
def split_kernels(model, target="tf"):
    """While active, the convolutions of ``model`` that :func:`plan` picks for ``target``
    (``"tf"``: frozen graph, SavedModel, ONNX; ``"tflite"``; ``"tflite_int16x8"``) compute
    through the rewrites above; afterwards they are as before. Yields ``{layer name: rewrite}``.
    ``target=None`` changes nothing."""
    patched = lower(model, target)
    try:
        yield {name: how for name, (_, how, _) in patched.items()}
    finally:
        for layer, how, previous in patched.values():
            attribute = _ATTRIBUTES[how]
            if previous is None:
                delattr(layer, attribute)
            else:
                setattr(layer, attribute, previous)

def planned(model, target):
    """``{layer name: rewrite}`` that :func:`split_kernels` would apply (``{}`` for ``None``)."""
    if target is None:
        return {}
    return {layer.name: how for layer in _layers(model) if (how := plan(layer, target)) is not None}
