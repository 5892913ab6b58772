"""Quantization-aware fine-tuning for full-int8 TFLite (int8 activations and weights).

Post-training int8 loses 3-5 dB on the instance-normalised networks of the zoo
(PPCN, EdS, DPED): an instance norm divides a feature by its own standard
deviation, which is small next to the feature's range (its per-image offset and
the other channels), so the 8-bit rounding of the layers before it, and of the
squared deviations inside it, comes out amplified (BUILD_NOTES "The phone
path"). Fine-tuning with that rounding simulated lets the weights adapt to it.

The procedure (Jacob et al., "Quantization and Training of Neural Networks for
Efficient Integer-Arithmetic-Only Inference", CVPR 2018, simulated quantization
with a straight-through gradient; the MAI 2021 mobile challenges used the same
for their int8 restoration models):

* every tensor that LiteRT's full-int8 graph keeps in 8 bits (the input, every
  layer output, and the intermediate ops of the instance norm, the contrast
  layer, the image-wide means and the output head, see
  :func:`pirm_enhance.layers.quant_point`) goes through
  ``fake_quant_with_min_max_vars`` (8 bits, range nudged to hold zero, as the
  converter does);
* the ranges are the converter's own rule, the minimum and maximum of the float
  model's tensor over the calibration images, measured again every
  ``range_every`` steps (the weights move); or, with ``ranges="learn"``, they start
  there and are learnt with the weights (learned step size quantization, Esser et al.,
  ICLR 2020: :func:`learned_round`), and the file takes the kept step's ranges;
* the student starts from the float model and minimises the difference between
  its simulated-int8 output and the float model's output (the teacher) on random
  crops of unlabelled photos, as minus the crops' mean PSNR (:func:`int8_objective`;
  or their pooled mean squared difference): no labels, no PIRM data;
* the step whose simulated-int8 output is closest to the teacher on held-out
  photos is kept, and the result is converted by the ordinary post-training
  path (:func:`pirm_enhance.exporters.writers.tflite_bytes`) with the same
  calibration images.

The weights are rounded too, as the converter stores them (:func:`weight_rounding`):
convolution kernels to 8 bits per output channel, symmetric; an instance norm's
scale and shift to 8 bits per tensor. Each training step runs on the rounded
weights and applies its gradient to the float ones (a straight-through
estimate, as Jacob et al. train), and the returned model holds the rounded
weights, so its simulation is the file's arithmetic up to the converter's
integer kernels. Without this, the simulation took the weights in float: after
:func:`equalize` a channel's kernel spans a wide range (the PPCN student's
``conv3``: largest over median weight up to 531), whose per-channel 8-bit
rounding moved the fine-tuned student's file 1.6 dB away from its simulation
(BUILD_NOTES "The phone path").
"""

import contextlib
import math
import sys

import numpy as np

from pirm_enhance import layers
from pirm_enhance.errors import DataMissing, UsageError


class FakeQuantizer:
    """The hook of :func:`pirm_enhance.layers.quant_point`: records ranges
    (``collect``), or rounds to 8 bits with them (``simulate``). Quantization points
    are numbered in the order the forward pass reaches them, the same in every trace.

    ``percentiles``: per point, the share of the collected values (in percent) that its
    range holds: 100 (or ``None`` for every point) is the converter's min/max rule; below
    100 the range is cut to the ``(100 - p, p)`` percentiles of a sample of the values
    (:func:`search_ranges`)."""

    SAMPLE = 20000  # values kept per point and image for the percentiles

    def __init__(self, percentiles=None):
        self.mode = "collect"
        self.index = 0
        self.low, self.high = [], []  # collected, python floats
        self.variables = None  # (min, max) tf.Variables while simulating
        self.percentiles = list(percentiles) if percentiles is not None else None
        self.fixed = set()  # points whose range the op fixes (TANH)
        self.samples = {}  # point -> value samples, while keep_samples (collect_ranges)
        self.keep_samples = False

    def wants_samples(self, i):
        return self.percentiles is None or (i < len(self.percentiles) and self.percentiles[i] < 100)

    def __call__(self, x, fixed_range=None):
        import tensorflow as tf

        i = self.index
        self.index += 1
        if self.mode == "collect":
            if fixed_range is not None:
                self.fixed.add(i)
            low, high = (fixed_range if fixed_range is not None
                         else (float(tf.reduce_min(x)), float(tf.reduce_max(x))))
            if i == len(self.low):
                self.low.append(min(low, 0.0))
                self.high.append(max(high, 0.0))
            else:
                self.low[i] = min(self.low[i], low)
                self.high[i] = max(self.high[i], high)
            if self.keep_samples and fixed_range is None and self.wants_samples(i):
                values = np.asarray(x).ravel()
                if values.size > self.SAMPLE:
                    values = values[np.random.default_rng(i).integers(0, values.size, self.SAMPLE)]
                self.samples.setdefault(i, []).append(values)
            return x
        if self.mode == "learn":
            return learned_round(x, *self.learned_range(i))
        low, high = self.variables[i]
        return tf.quantization.fake_quant_with_min_max_vars(x, low, high, num_bits=8)

    def make_learnable(self):
        """Switch to ``"learn"``: each point's collected range becomes trainable, as the
        logarithms of ``-low`` and ``high`` (a scale-free step for the optimiser, and each
        end keeps its sign); an end at zero stays there, and so does the range an op fixes
        (TANH). :meth:`range_variables` lists what trains, :meth:`learned_ranges` reads it."""
        import tensorflow as tf

        def log_end(value, trainable):
            return None if value == 0.0 else tf.Variable(math.log(abs(value)), trainable=trainable,
                                                         dtype=tf.float32)

        self.log_ends = [(log_end(lo, i not in self.fixed), log_end(hi, i not in self.fixed))
                         for i, (lo, hi) in enumerate(zip(self.low, self.high))]
        self.mode = "learn"

    def range_variables(self):
        return [v for ends in self.log_ends for v in ends if v is not None and v.trainable]

    def learned_range(self, i):
        """``(low, high)`` of point ``i`` as tensors, in ``"learn"`` mode."""
        import tensorflow as tf

        log_low, log_high = self.log_ends[i]
        low = -tf.exp(log_low) if log_low is not None else tf.constant(0.0)
        high = tf.exp(log_high) if log_high is not None else tf.constant(0.0)
        return low, high

    def learned_ranges(self):
        """``[[low, high], ...]``, python floats: the explicit ranges of every point."""
        return [[float(v) for v in self.learned_range(i)] for i in range(len(self.log_ends))]

    def cut(self, percentiles, minmax=None):
        """``(low, high)`` per point: the collected min/max (or ``minmax``) where
        ``percentiles[i]`` is 100 (or the op fixes the range), else the sampled
        percentiles, each range still holding zero."""
        low, high = (list(v) for v in (minmax or (self.low, self.high)))
        for i, p in enumerate(percentiles):
            if p < 100 and i not in self.fixed and i in self.samples:
                values = np.concatenate(self.samples[i])
                low[i] = min(0.0, max(low[i], float(np.percentile(values, 100 - p))))
                high[i] = max(0.0, min(high[i], float(np.percentile(values, p))))
        return low, high


def learned_round(x, low, high):
    """``x`` rounded to the 256 levels of ``[low, high]`` as ``fake_quant_with_min_max_vars``
    rounds (zero on a level, range nudged to hold it), with the gradient of learned step
    size quantization (Esser et al., "Learned Step Size Quantization", ICLR 2020): the
    rounding passes the gradient straight through, so the range receives both the
    clipping error of the values outside it and the rounding error of those inside
    (``round(x/s) - x/s``); TensorFlow's own op gives the range the clipping part only,
    which always widens it."""
    import tensorflow as tf

    step = tf.maximum((high - low) / 255.0, 1e-12)  # a collapsing range must not divide by zero
    zero = -low / step
    zero = zero + tf.stop_gradient(tf.clip_by_value(tf.floor(zero + 0.5), 0.0, 255.0) - zero)  # as TF nudges
    v = x / step
    v = v + tf.stop_gradient(tf.floor(v + 0.5) - v)
    return (tf.clip_by_value(v + zero, 0.0, 255.0) - zero) * step


def _forward(model, x, quantizer):
    """``model(x)`` with every layer output (and the model input) through ``quantizer``
    (each floating tensor of a layer that returns several)."""
    import tensorflow as tf

    def point(t):
        return quantizer(t) if tf.is_tensor(t) and t.dtype.is_floating else t

    def wrap(op):
        def call(*args, **kwargs):
            return tf.nest.map_structure(point, op(*args, **kwargs))
        return call

    previous = layers._QUANT_HOOK[0]
    layers._QUANT_HOOK[0] = quantizer
    quantizer.index = 0
    try:
        return model._run_through_graph(quantizer(x), operation_fn=wrap)
    finally:
        layers._QUANT_HOOK[0] = previous


def collect_ranges(model, images, quantizer=None, samples=False):
    """The converter's calibration rule on ``model``: min/max (with zero) of every
    quantization point over ``images`` (HxWx3 float arrays), one image at a time; where
    ``quantizer.percentiles`` cuts a point below 100 %, that percentile range instead.
    ``samples``: keep value samples of every point (``quantizer.samples``, for
    :meth:`FakeQuantizer.cut`)."""
    import tensorflow as tf

    quantizer = quantizer or FakeQuantizer()
    quantizer.mode = "collect"
    quantizer.low, quantizer.high, quantizer.samples, quantizer.fixed = [], [], {}, set()
    cuts = quantizer.percentiles is not None and any(p < 100 for p in quantizer.percentiles)
    quantizer.keep_samples = samples or cuts
    try:
        for image in images:
            _forward(model, tf.constant(image[None], tf.float32), quantizer)
    finally:
        quantizer.keep_samples = False
    if cuts:
        quantizer.low, quantizer.high = quantizer.cut(quantizer.percentiles)
    if not samples:
        quantizer.samples = {}
    return quantizer


CANDIDATES = (99.99, 99.9, 99.0)  # the percentile ranges search_ranges tries


MAX_WORK = 1e11  # search_ranges' cap: activation floats per pixel x calibration pixels x trials


def _within_work(model, images, eligible, ratios, passes, options, max_work):
    """The points and passes of a search that fit ``max_work`` (activation floats per
    pixel, :func:`pirm_enhance.tiling.activation_volume`, x calibration pixels x trials):
    both passes, else one, else one over the most outlying points (in forward order)."""
    from pirm_enhance.tiling import activation_volume

    try:
        per_trial = activation_volume(model) * sum(img.shape[0] * img.shape[1] for img in images)
    except Exception:  # not a functional model: no estimate, no cap
        return eligible, passes
    budget = int(max_work // max(per_trial, 1.0))
    if passes * options * len(eligible) <= budget:
        return eligible, passes
    if options * len(eligible) <= budget:
        return eligible, 1
    keep = set(sorted(eligible, key=lambda i: -ratios[i])[:max(1, budget // options)])
    print(f"int8 range search: {len(keep)} of {len(eligible)} outlying tensors tried, one pass (the work cap "
          f"for this model and {len(images)} calibration images)", file=sys.stderr)
    return [i for i in eligible if i in keep], 1


def search_ranges(model, images, candidates=CANDIDATES, outlier_ratio=1.5, passes=2, progress=False,
                  max_work=MAX_WORK):
    """Per quantization point, the range rule (min/max = 100, or a percentile of
    ``candidates``) that brings the simulated-int8 output closest to the float output on
    ``images`` (the calibration images; never evaluation data): coordinate descent, point
    by point in forward order, each choice kept for the next, ``passes`` times over (a
    cut pays off only once the tensors after it are cut too). Only points whose min/max
    range is at least ``outlier_ratio`` times their 99.99 % range are tried: there a few
    outlying values set the 8-bit step for all the others. The cost is about
    ``passes x 4 x (points tried)`` simulated passes over the images (PPCN student 18
    points, 55 s; EdS, about 40 points, 4-5 min; on 16 crops of 256 px); ``max_work``
    caps it for large models: one pass, then only the most outlying points
    (:func:`_within_work`; dped_resnet_12_64 gets about a dozen).

    Why: the converter's min/max rule lets one calibration image decide a tensor's step.
    The PPCN student's second instance norm reaches 62 standard deviations on a flat
    crop, so its output's 8-bit step is 0.34 for values whose RMS is 0.55; that one
    tensor alone costs 24 dB (BUILD_NOTES "The phone path"). Cutting it to 99.9 % loses
    a few saturating values behind a tanh and keeps the rest. Returns the list of
    percentiles, one per point (``FakeQuantizer(percentiles)``, ``int8_ranges``);
    ``progress``: a progress line per pass on stderr."""
    import tensorflow as tf

    from pirm_enhance.progress import Progress

    probe = collect_ranges(model, images, samples=True)
    raw = (list(probe.low), list(probe.high))
    n = len(raw[0])
    percentiles = [100.0] * n
    groups = {}  # the images in one batch per size: one call per size and trial
    for img in images:
        groups.setdefault(img.shape, []).append(img)
    batch = [tf.constant(np.stack(group), tf.float32) for group in groups.values()]
    weights = [len(group) / len(images) for group in groups.values()]
    targets = [model(x, training=False) for x in batch]

    @tf.function(reduce_retracing=True)
    def simulate(x):
        return _forward(model, x, probe)

    def error(choice):
        probe.low, probe.high = probe.cut(choice, raw)
        _set_simulation(probe)
        return sum(w * float(tf.reduce_mean(tf.square(simulate(x) - t))) for w, x, t in zip(weights, batch, targets))

    eligible, ratios = [], {}
    for i in range(n):
        if i in probe.fixed or i not in probe.samples:
            continue
        low, high = probe.cut([100.0] * i + [99.99], raw)
        ratios[i] = (raw[1][i] - raw[0][i]) / max(high[i] - low[i], 1e-12)
        if ratios[i] >= outlier_ratio:
            eligible.append(i)
    eligible, passes = _within_work(model, images, eligible, ratios, passes, len(candidates) + 1, max_work)
    best = error(percentiles)
    for k in range(passes):
        for i in Progress(eligible, f"int8 range search, pass {k + 1}/{passes}", enabled=progress):
            for p in (100.0, *candidates):
                if p == percentiles[i]:
                    continue
                trial = percentiles[:i] + [p] + percentiles[i + 1:]
                e = error(trial)
                if e < best:
                    best, percentiles = e, trial
    return percentiles


INT8_RANGES = ("minmax", "search", "learn")


def _check_ranges(ranges, learn=False):
    """``ranges`` must be a rule of :data:`INT8_RANGES` (``"learn"`` only where ``learn``:
    a fine-tuning run), a list of per-point percentiles or a list of explicit ``[low, high]``
    pairs."""
    if isinstance(ranges, str):
        if ranges not in INT8_RANGES:
            raise UsageError(f"int8 ranges must be one of {', '.join(INT8_RANGES)}, a list of percentiles "
                             f"or of [low, high] pairs, got {ranges!r}")
        if ranges == "learn" and not learn:
            raise UsageError("int8 ranges 'learn' are learnt by quantization-aware fine-tuning: "
                             "give it steps (--qat-steps N)")


def _explicit(ranges):
    """Whether ``ranges`` lists explicit ``[low, high]`` pairs (learnt ranges)."""
    return not isinstance(ranges, str) and ranges is not None and len(ranges) > 0 \
        and all(np.ndim(r) == 1 and len(r) == 2 for r in ranges)


def _percentiles(model, images, ranges, progress):
    """The per-point percentiles of the range rule ``ranges`` (``None`` for min/max; the
    learnt rule starts from min/max)."""
    _check_ranges(ranges, learn=True)
    if ranges == "search":
        return search_ranges(model, images, progress=progress)
    return None if ranges in ("minmax", "learn") else list(ranges)


def int8_quantizer(model, images, ranges="search", progress=False):
    """A simulating :class:`FakeQuantizer` for ``model`` calibrated on ``images``:
    ``ranges`` ``"minmax"`` (the converter's rule), ``"search"`` (:func:`search_ranges`),
    a list of per-point percentiles (what a fine-tuning run used), or a list of explicit
    ``[low, high]`` pairs, one per point (what a fine-tuning run with ``"learn"`` ended
    with; ``images`` then only number the points, and their count must match)."""
    if _explicit(ranges):
        quantizer = collect_ranges(model, images[:1], FakeQuantizer())
        if len(ranges) != len(quantizer.low):
            raise UsageError(f"{len(ranges)} int8 ranges given for the {len(quantizer.low)} quantization "
                             f"points of {model.name}")
        bad = [i for i, (lo, hi) in enumerate(ranges) if not lo <= 0.0 <= hi]
        if bad:  # [0, 0] stays allowed: an all-zero tensor, as min/max ranges give it
            raise UsageError(f"int8 range of point {bad[0]} ({ranges[bad[0]]}) must hold zero")
        quantizer.low, quantizer.high = [float(r[0]) for r in ranges], [float(r[1]) for r in ranges]
    else:
        quantizer = collect_ranges(model, images, FakeQuantizer(_percentiles(model, images, ranges, progress)))
    _set_simulation(quantizer)
    return quantizer


def int8_forward(model, images, ranges="search", progress=False):
    """``x -> model(x)`` with every point that the full-int8 graph keeps in 8 bits rounded
    to its range (calibrated on ``images``; ``ranges`` see :func:`int8_quantizer`), for
    :func:`pirm_enhance.graphs.frozen_function`: traced, each rounding is a FakeQuant op
    with constant ranges, and LiteRT's converter quantizes a tensor behind such an op
    with that op's range. So the int8 file quantizes where this module's simulation does,
    with the same ranges, instead of where the converter's own op fusion puts its
    calibration points (PPCN student with min/max ranges: 22.1 dB from float on unseen
    100-px photo crops against 20.0, and 28-33 dB from the simulation against 21;
    BUILD_NOTES "The phone path"). Ops inside a layer without a quantization point are
    calibrated by the converter as before."""
    quantizer = int8_quantizer(model, images, ranges, progress)

    def forward(x):
        return _forward(model, x, quantizer)

    return forward


def _set_simulation(quantizer):
    import tensorflow as tf

    if quantizer.variables is None or len(quantizer.variables) != len(quantizer.low):
        quantizer.variables = [(tf.Variable(lo, trainable=False, dtype=tf.float32),
                                tf.Variable(hi, trainable=False, dtype=tf.float32))
                               for lo, hi in zip(quantizer.low, quantizer.high)]
    else:
        for (vlo, vhi), lo, hi in zip(quantizer.variables, quantizer.low, quantizer.high):
            vlo.assign(lo)
            vhi.assign(hi)
    quantizer.mode = "simulate"


def copy_model(model):
    """A new instance of ``model``'s architecture with a copy of its weights."""
    clone = type(model).from_config(model.get_config())
    clone.set_weights(model.get_weights())
    return clone


def weight_rounding(model):
    """``[(variable, axes)]``: the weights of ``model`` that a full-int8 TFLite file stores
    in 8 bits, with the rule the converter rounds each by. ``axes`` is a tuple: symmetric
    rounding to +-127 levels of one scale per slice, the scale being the largest magnitude
    over ``axes`` (a convolution kernel per output channel: Conv2D and its dilated form,
    depthwise kernels per channel, transposed kernels ``[kh, kw, out, in]`` per ``out``);
    ``("phases", s)``: a transposed kernel that the int8 file computes as phase
    convolutions (:func:`pirm_enhance.lowering.phase_conv_transpose`), whose output
    channels are one per phase and ``out``, so one scale per ``out`` and class of taps
    ``(ky mod s, kx mod s)``; or ``None``: asymmetric rounding to 256 levels of the
    tensor's own range with zero held (an instance norm's scale and shift, which the file
    multiplies and adds as int8 constants). Biases stay: the file keeps them in 32 bits. Weights the converter
    folds into others (batch norms) or that no zoo model quantizes here (dense layers,
    PReLU slopes) stay float in the simulation."""
    import keras

    from pirm_enhance import layers as zoo_layers
    from pirm_enhance.lowering import _layers, _phase_eligible

    plan = []
    for layer in _layers(model):
        if _phase_eligible(layer):
            plan.append((layer.kernel, ("phases", int(layer.strides))))
        elif isinstance(layer, keras.layers.DepthwiseConv2D):
            plan.append((layer.kernel, (0, 1)))
        elif isinstance(layer, keras.layers.Conv2DTranspose) or isinstance(layer, zoo_layers.ConvTransposeLike):
            plan.append((layer.kernel, (0, 1, 3)))
        elif isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv1D)):
            plan.append((layer.kernel, tuple(range(len(layer.kernel.shape) - 1))))
        elif isinstance(layer, zoo_layers.InstanceNorm):
            plan += [(layer.scale, None), (layer.shift, None)]
    return plan


def round_weight(value, axes):
    """``value`` (a tensor) rounded by the rule ``axes`` of :func:`weight_rounding`."""
    import tensorflow as tf

    if axes is None:
        low = tf.minimum(tf.reduce_min(value), 0.0)
        high = tf.maximum(tf.reduce_max(value), 0.0)
        return tf.quantization.fake_quant_with_min_max_vars(value, low, high, num_bits=8)
    if axes[0] == "phases":
        s, k = axes[1], int(value.shape[0])
        largest = tf.stack([tf.reduce_max(tf.abs(value[a::s, b::s]), axis=(0, 1, 3))
                            for a in range(s) for b in range(s)])  # [s * s, out]
        taps = (np.arange(k)[:, None] % s) * s + np.arange(k)[None, :] % s
        scale = tf.gather(largest, taps)[..., None] / 127.0  # [k, k, out, 1]
    else:
        scale = tf.reduce_max(tf.abs(value), axis=axes, keepdims=True) / 127.0
    scale = tf.where(scale > 0, scale, tf.ones_like(scale))
    return tf.clip_by_value(tf.round(value / scale), -127.0, 127.0) * scale


@contextlib.contextmanager
def _rounded(plan):
    """While inside, the variables of ``plan`` (:func:`weight_rounding`) hold their rounded
    values; their float values come back after."""
    saved = [variable.numpy() for variable, _ in plan]
    try:
        for variable, axes in plan:
            variable.assign(round_weight(variable, axes))
        yield
    finally:
        for (variable, _), value in zip(plan, saved):
            variable.assign(value)


def apply_weight_rounding(model):
    """Round ``model``'s weights in place as the converter stores them (:func:`weight_rounding`)."""
    for variable, axes in weight_rounding(model):
        variable.assign(round_weight(variable, axes))
    return model


# the spread of a channel that equalisation balances: this central range of its values on
# the calibration images (a few outlying values of flat crops would otherwise set it)
EQUALIZE_PERCENTILES = (0.01, 99.99)
# the smallest factor a channel is scaled by: a near-dead channel would otherwise be scaled up
# a million times (and its readers' weights down as much), which broke EdS's int8 conversion
MIN_EQUALIZE_FACTOR = 1 / 32
# how far equalisation goes (:func:`equalize`): 1 gives every channel the widest one's spread,
# towards 0 the model is left as it is; 0.5 takes the square root of each spread ratio. Full
# equalisation crowds the readers' kernels (input channels scaled up to 32x apart within
# one kernel, which the file's one scale per output channel cannot follow), so the int8
# student came out closer to float half way (BUILD_NOTES "The phone path", session 13)
EQUALIZE_ALPHA = 0.5


def _homogeneous(layer):
    """True for an activation with ``f(s x) = s f(x)`` for every ``s > 0`` (ReLU, LeakyReLU,
    a linear or ReLU ``Activation``)."""
    import keras

    if isinstance(layer, keras.layers.LeakyReLU):
        return True
    if isinstance(layer, keras.layers.ReLU):
        return layer.max_value is None and float(layer.threshold) == 0.0
    if isinstance(layer, keras.layers.Activation):
        return getattr(layer.activation, "__name__", "") in ("relu", "linear")
    return False


def _plain_conv(layer):
    """A 2-D convolution whose kernel ``[kh, kw, cin, cout]`` maps every input channel to
    every output channel, with a homogeneous activation or none."""
    import keras

    return (isinstance(layer, keras.layers.Conv2D) and getattr(layer, "groups", 1) == 1
            and layer.data_format == "channels_last"
            and getattr(layer.activation, "__name__", "") in ("linear", "relu", "leaky_relu"))


def _layer_graph(model):
    """``(ops, parents, readers)`` of a functional model: its layers (inputs left out), by
    id each one's input layers (``None`` for a layer called more than once, which the
    rewrites leave alone), and by id the layers that read each one, from every call."""
    import keras

    ops = [op for op in model.operations if not isinstance(op, keras.layers.InputLayer)]
    parents, readers = {}, {id(op): [] for op in ops}
    for op in ops:
        nodes = getattr(op, "_inbound_nodes", [])
        parents[id(op)] = [t._keras_history.operation for t in nodes[0].input_tensors] if len(nodes) == 1 else None
        for node in nodes:
            for t in node.input_tensors:
                readers.setdefault(id(t._keras_history.operation), []).append(op)
    return ops, parents, readers


def equalization_groups(model):
    """The channel groups of ``model`` that :func:`equalize` can rescale exactly:
    ``[{"producers", "members", "consumers", "exits"}]`` (lists of layers; ``exits``: the
    members that a consumer reads).

    A group is a set of layer outputs whose channels are tied: a homogeneous activation's
    output to its input, an ``Add``'s output to each of its inputs. It can be rescaled, one
    factor per channel, when every member is produced by a convolution (its output weights
    and bias absorb ``1 / s``), an :class:`pirm_enhance.layers.InstanceNorm` (its scale and
    shift absorb it), a homogeneous activation or an ``Add`` of members, and every layer
    outside the group that reads a member is a convolution (its input weights absorb
    ``s``). Anything else that reads a member (a norm, a concatenation, the output head, the
    model's output) leaves the group as it is."""
    import keras

    from pirm_enhance.layers import InstanceNorm

    ops, parents, readers = _layer_graph(model)
    root = {id(op): id(op) for op in ops}

    def find(i):
        while root[i] != i:
            root[i] = root[root[i]]
            i = root[i]
        return i

    for op in ops:
        if parents[id(op)] and (_homogeneous(op) or isinstance(op, keras.layers.Add)):
            for parent in parents[id(op)]:
                if id(parent) in root:
                    root[find(id(parent))] = find(id(op))
    groups = {}
    for op in ops:
        groups.setdefault(find(id(op)), []).append(op)
    outputs = {id(t._keras_history.operation) for t in model.outputs}
    found = []
    for members in groups.values():
        ids = {id(op) for op in members}
        producers = [op for op in members if not (_homogeneous(op) or isinstance(op, keras.layers.Add))]
        if not producers or ids & outputs or any(parents[id(op)] is None for op in members):
            continue
        # an activation or Add that reads something no layer produces (the model's input):
        # that tensor cannot absorb 1 / s, so the group cannot be rescaled exactly
        if any(id(parent) not in root for op in members if op not in producers for parent in parents[id(op)]):
            continue
        if not all(_plain_conv(op) or type(op) is InstanceNorm for op in producers):
            continue
        # every reader of a member: a pass-through member (activation, add), or a convolution
        # that absorbs s in its input weights (one of the group's own producers included:
        # a residual branch's convolution reads the group and writes into it)
        passing = ids - {id(op) for op in producers}
        consumers, exits = {}, []  # consumers by id, in reading order
        for op in members:
            outside = [r for r in readers.get(id(op), []) if id(r) not in passing]
            if outside:
                exits.append(op)
            consumers.update((id(r), r) for r in outside)
        consumers = list(consumers.values())
        if not consumers or not all(_plain_conv(r) and parents[id(r)] is not None for r in consumers):
            continue
        if len({int(op.output.shape[-1]) for op in members}) == 1:
            found.append({"producers": producers, "members": members, "consumers": consumers, "exits": exits})
    return found


def norm_cancelled_biases(model):
    """The convolutions of ``model`` whose bias an :class:`pirm_enhance.layers.InstanceNorm`
    cancels: the convolution has no activation, and every layer that reads its output is an
    instance norm (which subtracts each channel's mean over the image, a per-channel constant
    included) and the output is not one of the model's."""
    import keras

    from pirm_enhance.layers import InstanceNorm

    kinds = (keras.layers.Conv2D, keras.layers.Conv2DTranspose, keras.layers.DepthwiseConv2D)
    ops, parents, readers = _layer_graph(model)
    outputs = {id(t._keras_history.operation) for t in model.outputs}
    return [op for op in ops
            if isinstance(op, kinds) and op.use_bias and parents[id(op)] is not None
            and getattr(op.activation, "__name__", "") == "linear" and id(op) not in outputs
            and readers[id(op)] and all(type(r) is InstanceNorm for r in readers[id(op)])]


def drop_norm_biases(model):
    """A copy of ``model`` with the biases of :func:`norm_cancelled_biases` set to zero: the
    same function in float (to rounding), since the norm subtracts them again.

    For per-tensor 8-bit activations: a convolution's bias sets each channel's level, and a
    tensor's 8-bit range must hold every channel's level and spread. Before a norm only the
    spread matters, and it can be a few steps of a range that the levels widen: the PPCN
    student's second norm reads channels at levels -0.17 to 1.58 (its biases) that spread
    about 0.02 over a crop (BUILD_NOTES "The phone path"). The fine-tuning cannot move such a
    bias itself: the norm gives it no gradient. Returns ``(copy, names)``, the names of the
    convolutions whose bias was dropped."""
    clone = copy_model(model)
    dropped = norm_cancelled_biases(clone)
    for op in dropped:
        op.bias.assign(np.zeros(op.bias.shape, op.bias.dtype))
    return clone, [op.name for op in dropped]


def equalize(model, images, alpha=EQUALIZE_ALPHA):
    """A copy of ``model`` with the channels of each :func:`equalization_groups` group
    rescaled towards equal spread, the same function in float (to rounding), for per-tensor
    8-bit activations (cross-layer equalisation, after Nagel et al., "Data-Free
    Quantization Through Weight Equalization and Bias Absorption", ICCV 2019, with the
    spreads measured on data).

    One 8-bit step per tensor serves every channel of it; where one channel spreads over 20
    times the range of another, the narrow one gets a few levels. For each group, channel
    ``k``'s spread ``r_k`` is its :data:`EQUALIZE_PERCENTILES` range on ``images`` (HxWx3
    calibration images), the largest over the group's outputs that leave it; its values are
    divided by ``s_k = (r_k / max r) ** alpha`` (``alpha=1``: every channel to the widest
    one's spread; the default :data:`EQUALIZE_ALPHA` goes half way in ratio), at least
    :data:`MIN_EQUALIZE_FACTOR`, and the reading convolutions' input weights multiplied by
    ``s_k``. ``alpha`` is in ``(0, 1]``.
    Returns ``(copy, report)``: ``report`` lists each group's layers and factors."""
    import numbers

    import keras

    from pirm_enhance.layers import InstanceNorm

    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0 < alpha <= 1:
        raise UsageError(f"equalize: alpha must be in (0, 1] (1: every channel to the widest one's "
                         f"spread), got {alpha!r}")

    clone = copy_model(model)
    groups = equalization_groups(clone)
    tensors = [op.output for group in groups for op in group["exits"]]
    spread = {}
    if tensors:
        probe = keras.Model(clone.inputs[0], tensors)
        values = [[] for _ in tensors]
        for img in images:
            outs = probe(np.asarray(img, np.float32)[None], training=False)
            outs = outs if isinstance(outs, (list, tuple)) else [outs]
            for store, out in zip(values, outs):
                store.append(np.asarray(out).reshape(-1, out.shape[-1]))
        lo, hi = EQUALIZE_PERCENTILES
        for t, store in zip(tensors, values):
            a = np.concatenate(store)
            spread[id(t)] = np.percentile(a, hi, axis=0) - np.percentile(a, lo, axis=0)
    report = []
    for group in groups:
        producers, consumers = group["producers"], group["consumers"]
        r = np.max([spread[id(op.output)] for op in group["exits"]], axis=0)
        s = np.maximum((r / max(float(r.max()), 1e-12)) ** float(alpha), MIN_EQUALIZE_FACTOR)
        for op in producers:  # the output channel is the last axis of each of these
            for var in ((op.scale, op.shift) if type(op) is InstanceNorm
                        else (op.kernel, op.bias) if op.use_bias else (op.kernel,)):
                _rescale(var, 1.0 / s)
        for op in consumers:  # kernel [kh, kw, cin, cout]: the input channel
            _rescale(op.kernel, s[None, None, :, None])
        report.append({"producers": [op.name for op in producers], "consumers": [op.name for op in consumers],
                       "factors": [round(float(v), 4) for v in s]})
    return clone, report


def _rescale(variable, factor):
    value = np.asarray(variable)
    variable.assign((value * factor).astype(value.dtype))


def _decay(value):
    """True for a real number strictly between 0 and 1 (a moving-average decay; numpy
    scalars included, booleans and strings not)."""
    import numbers

    return isinstance(value, numbers.Real) and not isinstance(value, bool) and bool(0 < value < 1)


def _load_photos(paths):
    from pirm_enhance.data.io import read_float

    return [read_float(p).astype(np.float32) for p in paths]


PHONE_SEED = 7  # first word of the degradation seeds of finetune_for_int8's phone-like photos


def _phone_like(photos, first):
    """A phone-like version of each photo (:func:`pirm_enhance.data.degrade.degrade`, the
    default :class:`~pirm_enhance.data.degrade.CameraPipeline`; seed ``[PHONE_SEED, first + k]``
    for the k-th, so a photo keeps its version whatever else is in the list)."""
    import tensorflow as tf

    from pirm_enhance.data.degrade import degrade

    return [degrade(img, tf.constant([PHONE_SEED, first + k], tf.int64)).numpy() for k, img in enumerate(photos)]


def _crops(photos, rng, count, size):
    out = []
    for _ in range(count):
        img = photos[rng.integers(len(photos))]
        h, w = img.shape[:2]
        ch, cw = min(size, h), min(size, w)
        y, x = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
        crop = img[y:y + ch, x:x + cw]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        out.append(crop)
    return np.stack(out)


RANGE_LR = 0.1  # finetune_for_int8's peak learning rate of the learnt ranges' logarithms


# the floor of the per-crop squared error in the "psnr" objective (60 dB): a crop that close
# to float weighs no more
PSNR_EPS = 1e-6
# what the int8 fine-tuning minimises (``objective`` of :func:`finetune_for_int8`); "psnr" by
# default since 2026-12-07 (BUILD_NOTES "The mean of per-crop PSNR as the objective")
OBJECTIVES = ("mse", "psnr")
OBJECTIVE = "psnr"


def int8_objective(y, target, objective=OBJECTIVE):
    """The loss of the int8 fine-tuning for a batch ``y`` (the simulated-int8 output) against
    ``target`` (the float model's), both ``[N, H, W, C]``.

    ``"mse"``: ``mean((y - target)^2)`` over the whole batch. ``"psnr"``: ``mean_i 10
    log10(mse_i + PSNR_EPS)``, ``mse_i`` the mean squared difference of crop ``i``: minus the
    crops' mean PSNR against float (to ``PSNR_EPS``), the average the held-out checks and the
    PIRM scorer take (per image, in dB)."""
    import tensorflow as tf

    if objective == "psnr":
        per_crop = tf.reduce_mean(tf.square(y - target), axis=[1, 2, 3])
        return tf.reduce_mean(10.0 * tf.math.log(per_crop + PSNR_EPS) / math.log(10.0))
    return tf.reduce_mean(tf.square(y - target))


def finetune_for_int8(model, photos=None, calibration=None, steps=600, batch=8, size=128,
                      learning_rate=1e-4, range_every=50, check_every=50, held_out=8, seed=0,
                      progress=True, decay="cosine", ranges="search", range_lr=RANGE_LR, phone_like=False,
                      average=None, round_weights=True, objective=OBJECTIVE):
    """A copy of ``model`` fine-tuned for full-int8 TFLite (see the module docstring).

    ``photos``: paths of unlabelled training photos (default: the bundled ai-benchmark
    photos); the last ``held_out`` of them choose the kept step. ``calibration``: the
    HxWx3 images the export will calibrate on (default: the exporter's crops of the
    first 16 photos), used for the ranges here too: pass the export's own. ``decay``:
    ``"cosine"`` (the default: the learning rate falls to 0 at the last step) or ``None``
    (constant; BUILD_NOTES "The phone path" has both on EdS). ``ranges``: the range rule
    of the simulated points, chosen once on ``calibration`` before the first step and
    applied at every range update (:func:`int8_quantizer`); ``"learn"``: the ranges start
    at min/max and train with the weights (:meth:`FakeQuantizer.make_learnable`,
    :func:`learned_round`; Adam at ``range_lr`` on their logarithms, with the same decay),
    instead of being measured again. Returns ``(model, report)``; ``report`` has the
    held-out PSNR of the simulated-int8 output against the float model before and after,
    per check, and under ``"int8_ranges"`` the per-point percentiles used, for the export
    (``int8_ranges``), ``"minmax"``, or after ``"learn"`` the kept step's ``[low, high]``
    per point. ``phone_like``: each training photo is joined by a phone-like version of
    itself (:func:`pirm_enhance.data.degrade.degrade`: darker, noisier, flatter, JPEG, as
    the phone photos an int8 model on a phone gets), and the kept step is chosen on the
    phone-like versions of the held-out photos (BUILD_NOTES "The phone path"). ``seed``: the
    crop seed, or a list of them: one fine-tuning per seed, each from ``model``, and the one
    whose kept step came closest to float on the held-out photos is returned, with
    ``"seed"`` and every run's figure (``"held_out_by_seed"``) in the report; the photos,
    their phone-like versions, the teacher's targets and the range rule are made once for
    all of them. ``average``: a decay in (0, 1), or ``None``: the checks (and the kept
    step) use an exponential moving average of the weights, and of the learnt ranges,
    ``a <- average * a + (1 - average) * w`` after every step (Polyak averaging), instead of
    the weights of that step; with measured ranges, they are measured again for the
    averaged weights at each check. ``round_weights``: every step, range measurement and
    check runs on the weights rounded as the file stores them (:func:`weight_rounding`),
    each gradient is applied to the float weights, and the returned model holds the kept
    step's weights rounded (``False``: the weights stay float throughout, as before
    2026-12-06). ``objective`` (:data:`OBJECTIVE` by default; :func:`int8_objective`):
    ``"mse"`` minimises the mean squared difference from the teacher over the batch;
    ``"psnr"`` minimises ``mean_i 10 log10(mse_i + PSNR_EPS)`` over the batch's crops ``i``,
    minus their mean PSNR against the teacher, which is how the held-out checks and the PIRM
    scorer average (per image, in dB): it weighs a crop by the inverse of its own error, so
    the flat crops that int8 already follows closely, and that a mean of dB counts as much
    as any other, are not drowned by the few far ones."""
    import keras
    import tensorflow as tf

    from pirm_enhance.data.photos import ai_benchmark_photos, representative_images

    if steps < 1:
        raise UsageError(f"steps must be at least 1, got {steps}")
    if objective not in OBJECTIVES:
        raise UsageError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
    if decay not in (None, "cosine"):
        raise UsageError(f"decay must be None or 'cosine', got {decay!r}")
    _check_ranges(ranges, learn=True)  # before photos are loaded and models copied
    several = not isinstance(seed, (int, np.integer))
    if several and not (isinstance(seed, (list, tuple, range)) and len(seed)
                        and all(isinstance(s, (int, np.integer)) for s in seed)):
        raise UsageError(f"seed: give a crop seed or a non-empty list of them, got {seed!r}")
    seeds = [int(s) for s in seed] if several else [int(seed)]
    learn = ranges == "learn"
    if average is not None and not _decay(average):
        raise UsageError(f"average: give a moving-average decay between 0 and 1, or None, got {average!r}")
    if learn and not range_lr > 0:
        raise UsageError(f"range_lr must be a positive learning rate, got {range_lr}")
    for name, value in (("held_out", held_out), ("range_every", range_every), ("check_every", check_every)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise UsageError(f"{name} must be a whole number of at least 1, got {value!r}")
    paths = list(photos) if photos is not None else ai_benchmark_photos()
    if photos is None and len(paths) < held_out + 2:
        raise DataMissing("quantization-aware fine-tuning needs photos: install the bundled ones "
                          "(pip install --no-deps ai-benchmark==0.1.2) or pass photos=[...]")
    if len(paths) < held_out + 2:
        raise UsageError(f"quantization-aware fine-tuning needs at least {held_out + 2} photos ({held_out} held "
                         f"out to choose the kept step, 2 or more to train on), got {len(paths)}")
    train_photos = _load_photos(paths[:-held_out])
    check_photos = _load_photos(paths[-held_out:])
    small = [(p, img.shape[:2]) for p, img in zip(paths, train_photos + check_photos) if min(img.shape[:2]) < size]
    if small:
        path, (h, w) = small[0]
        raise UsageError(f"{path}: {w}x{h} is smaller than the fine-tuning's {size}x{size} crops ({len(small)} "
                         f"photo(s) so); give photos of at least {size} px a side, or a smaller size")
    if phone_like:
        if progress:
            print(f"int8 fine-tuning: developing phone-like versions of {len(paths)} photos",
                  file=sys.stderr, flush=True)
        train_photos += _phone_like(train_photos, 0)
        check_photos = _phone_like(check_photos, len(paths) - held_out)
    check_images = [img[:size * 2, :size * 2] for img in check_photos]
    if calibration is None:  # what the exporter calibrates on for these photos
        calibration = representative_images(paths[:16])
    teacher = copy_model(model)
    targets = [teacher(img[None], training=False) for img in check_images]
    percentiles = _percentiles(copy_model(model), calibration, ranges, progress)

    def schedule(peak):
        return keras.optimizers.schedules.CosineDecay(peak, steps) if decay == "cosine" else peak

    def one_run(seed):
        """One fine-tuning from ``model`` with crop seed ``seed``: ``(student, best, history,
        ranges)``, the student at its kept step and the ranges it was simulated with."""
        student = copy_model(model)
        quantizer = FakeQuantizer(percentiles)
        optimizer = keras.optimizers.Adam(schedule(learning_rate))
        variables = student.trainable_variables
        plan = weight_rounding(student) if round_weights else []
        with _rounded(plan):
            collect_ranges(student, calibration, quantizer)
        if learn:
            quantizer.make_learnable()
            range_optimizer = keras.optimizers.Adam(schedule(range_lr))
            range_variables = quantizer.range_variables()
        else:
            _set_simulation(quantizer)
            range_variables = []

        @tf.function(reduce_retracing=True)
        def train_step(x):
            target = teacher(x, training=False)
            masters = [tf.identity(v) for v, _ in plan]  # the step runs on the rounded weights
            for (v, axes), m in zip(plan, masters):
                v.assign(round_weight(m, axes))
            with tf.GradientTape() as tape:
                y = _forward(student, x, quantizer)
                loss = int8_objective(y, target, objective)
            grads = tape.gradient(loss, variables + range_variables)
            for (v, _), m in zip(plan, masters):  # and its gradient goes to the float ones
                v.assign(m)
            if learn:  # an 8-bit zero under a root (a norm's variance) gives inf x 0 in the gradient
                grads = [tf.where(tf.math.is_finite(g), g, tf.zeros_like(g)) for g in grads]
            optimizer.apply(grads[:len(variables)], variables)
            if range_variables:
                range_optimizer.apply(grads[len(variables):], range_variables)
            for a, w in zip(averages, variables + range_variables):
                a.assign(average * a + (1.0 - average) * w)
            return loss

        # the moving averages of the trained variables (``average``), from the start values
        averages = ([tf.Variable(np.asarray(v), trainable=False) for v in variables + range_variables]
                    if average is not None else [])

        def state():
            return student.get_weights(), [v.numpy() for v in range_variables]

        def checked_state():
            """The state the checks judge: the trained variables, or their averages (with
            measured ranges, measured again for them); a callable puts the trained ones back."""
            if not averages:
                return lambda: None
            trained = [v.numpy() for v in variables + range_variables]
            measured = list(quantizer.low), list(quantizer.high)
            for v, a in zip(variables + range_variables, averages):
                v.assign(a)
            if not learn:
                with _rounded(plan):
                    collect_ranges(student, calibration, quantizer)
                _set_simulation(quantizer)

            def restore():
                for v, value in zip(variables + range_variables, trained):
                    v.assign(value)
                if not learn:  # the ranges the training was simulating with
                    quantizer.low, quantizer.high = measured
                    _set_simulation(quantizer)
            return restore

        @tf.function(reduce_retracing=True)
        def simulate(x):
            return _forward(student, x, quantizer)

        def held_out_psnr():
            values = []
            with _rounded(plan):
                for img, target in zip(check_images, targets):
                    mse = float(tf.reduce_mean(tf.square(simulate(tf.constant(img[None])) - target)))
                    values.append(10 * math.log10(1.0 / max(mse, 1e-12)))
            return float(np.mean(values))

        rng = np.random.default_rng(seed)
        best = held_out_psnr()
        history = [(0, best)]
        best_state = state()
        for step in range(1, steps + 1):
            loss = float(train_step(tf.constant(_crops(train_photos, rng, batch, size))))
            if not learn and (step % range_every == 0 or step == steps):
                with _rounded(plan):
                    collect_ranges(student, calibration, quantizer)
                _set_simulation(quantizer)
            if step % check_every == 0 or step == steps:
                restore = checked_state()
                value = held_out_psnr()
                history.append((step, value))
                if value > best:
                    best, best_state = value, state()
                restore()
                if progress:
                    tag = f" (seed {seed})" if several else ""
                    print(f"int8 fine-tuning{tag} {step}/{steps}: loss {loss:.3g}, held-out int8 vs float "
                          f"{value:.2f} dB (best {best:.2f})", file=sys.stderr, flush=True)
        student.set_weights(best_state[0])
        for variable, axes in plan:  # the file's weights
            variable.assign(round_weight(variable, axes))
        for variable, value in zip(range_variables, best_state[1]):
            variable.assign(value)
        used = quantizer.learned_ranges() if learn else list(percentiles) if percentiles is not None else "minmax"
        return student, best, history, used

    # the photos, their phone-like versions, the teacher's targets and the range rule are
    # made once; each seed only trains
    kept, by_seed = None, []
    for s in seeds:  # only the best student so far stays in memory
        run = one_run(s)
        by_seed.append(run[1])
        if kept is None or run[1] > kept[1][1]:
            kept = (s, run)
    seed, (student, best, history, used) = kept
    report = {"steps": steps, "batch": batch, "size": size, "learning_rate": learning_rate, "decay": decay,
              "range_lr": range_lr if learn else None, "phone_like": bool(phone_like), "average": average,
              "round_weights": bool(round_weights), "objective": objective,
              "held_out_psnr_before": history[0][1], "held_out_psnr_best": best,
              "int8_ranges": used, "history": history}
    if several:
        report.update(seed=seed, held_out_by_seed=by_seed)
    return student, report
