"""Tiled inference with image-wide statistics, so memory follows the tile, not the photo.

The zoo's networks normalise with statistics of the whole image: instance
norms (per-channel mean/variance), PPCN's contrast step (per-channel mean),
RSGUNet's global feature (mean of its deepest features) and the Track A PPCN's
input centring (per-channel mean of the photo). Running tiles
naively would give each tile its own statistics and visible seams. Here:

1. a *statistics pass* runs the model once on the whole image (as it is up to
   ``exact_pixels``, so 1280x720 statistics are exact; larger photos are
   area-downscaled to ``stats_pixels``) and records the input moments of
   every statistics layer;
2. a *fixed-statistics twin* of the model (same weights, those layers reading
   the recorded moments) runs on overlapping tiles aligned to 32 pixels (the
   largest stride in the zoo), and the tiles are blended with linear ramps
   across the overlaps that ignore the outer ``overlap / 2`` pixels of each
   tile (exact for receptive-field radii up to that).

``overlap="auto"`` (the enhancer's default) measures the twin's receptive-field
radius (:func:`receptive_radius`) and takes 32 when it is at most 16 pixels
(PPCN: 10), otherwise the old default of 64: the output is the same, only the
tiles overlap less (a 12 MP photo computes 1.25x its pixels instead of 1.46x).
``tile="auto"`` (the default) takes the largest tile side up to 1152 that keeps
the model's activations within a fixed budget (:func:`auto_tile`, from
:func:`activation_volume`): larger tiles overlap less.
"""

import logging
import math
import numbers
import sys

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from pirm_enhance import layers as zoo_layers
from pirm_enhance.errors import UsageError
from pirm_enhance.lowering import lower
from pirm_enhance.registry import architecture_key

TILE_ALIGN = 32
# tile="auto" (the default): the largest tile side whose activations stay within
# those of dped_resnet_12_64, the zoo's heaviest model, in 768-px tiles (1.29 GiB peak
# RSS on a 12 MP photo; in 1152-px tiles it took 2.34 GiB), at most DEFAULT_TILE.
# At 1152 a 4000x3000 photo runs in 4 x 3 tiles of about 1.2 MP, computing 1.23x its
# pixels with 64-px overlaps (768: 7 x 5 tiles, 1.46x). Measured, 12 MP time over 13x
# the 720p time, Keras tiles, 768 -> 1152: eds.iphone 1.49 -> 1.27, ppcn_student.paper
# 1.38 -> 1.31, srcnn.pirm 1.28 -> 1.18, ppcn_teacher.paper 1.20 -> 1.09 (BUILD_NOTES,
# "Real photos and tiling")
DEFAULT_TILE = 1152
SAFE_TILE = 768  # models whose activations cannot be measured (frozen graphs, TFLite files)
_VOLUME_BUDGET = 768 * 768 * 2000  # tile pixels x activation volume: dped_resnet_12_64's (1990) at 768
_VOLUMES = {}  # architecture key -> activation volume, measured once per process
DEFAULT_OVERLAP = 64
log = logging.getLogger(__name__)
_RADII = {}  # architecture key -> receptive radius (pixels), measured once per process


class _Fixed(keras.layers.Layer):
    """Base of the fixed-statistics layers: the moments live in non-trainable weights,
    unless ``given`` holds tensors for them (set while a graph with the moments as an
    input is traced, see :meth:`TiledModel.function_of_statistics`)."""

    given = None  # a tuple of tensors in the order of ``moments``, or None

    def _stat(self, name, channels):
        return self.add_weight(name=name, shape=(channels,), initializer="zeros", trainable=False)

    def moments(self):
        return (self.mean,)

    def _current(self):
        return self.moments() if self.given is None else self.given


class FixedInstanceNorm(_Fixed):
    def __init__(self, epsilon=1e-3, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def build(self, input_shape):
        c = input_shape[-1]
        self.shift = self.add_weight(name="shift", shape=(c,), initializer="zeros")
        self.scale = self.add_weight(name="scale", shape=(c,), initializer="ones")
        self.mean = self._stat("mean", c)
        self.var = self._stat("var", c)

    def moments(self):
        return self.mean, self.var

    def call(self, x):
        """One pass (:func:`pirm_enhance.layers.fused_normalise`; the photo's statistics are
        the same for every tile and every image of a batch), where four elementwise passes
        over the tile did it before (a 12 MP photo in ``graph`` tiles: see BUILD_NOTES, "Instance
        norms in fewer passes")."""
        mean, var = self._current()
        return zoo_layers.fused_normalise(x, mean, var, self.scale, self.shift, self.epsilon)


class FixedAdjustContrast(_Fixed):
    def __init__(self, factor=1.2, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def build(self, input_shape):
        self.mean = self._stat("mean", input_shape[-1])

    def call(self, x):
        (mean,) = self._current()
        return (x - mean) * self.factor + mean


class FixedGlobalMean(_Fixed):
    def __init__(self, **kwargs):
        kwargs.pop("data_format", None)
        kwargs.pop("keepdims", None)
        super().__init__(**kwargs)

    def build(self, input_shape):
        self.mean = self._stat("mean", input_shape[-1])

    def call(self, x):
        (mean,) = self._current()
        return ops.zeros_like(x[:, 0, 0, :]) + mean

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])


class FixedMeanCentre(_Fixed):
    """:class:`pirm_enhance.layers.MeanCentre` with the recorded mean of its input (the
    photo in [0, 1]; the layer works in 0-255)."""

    def build(self, input_shape):
        self.mean = self._stat("mean", input_shape[-1])

    def call(self, x):
        (mean,) = self._current()
        mean = ops.zeros_like(x[:, :1, :1, :]) + mean * 255.0
        return x * 255.0 - mean, mean

    def compute_output_shape(self, input_shape):
        return input_shape, (input_shape[0], 1, 1, input_shape[3])


def axis_spans(n, tile, overlap):
    """``[(start, end)]`` of the fewest tiles of at most ``tile`` pixels that cover
    ``n`` pixels with neighbours overlapping by at least ``2 * overlap``, spread
    evenly: the tiles are made as short as that allows (a multiple of 32), so that
    little is computed twice. Starts are multiples of 32 (the zoo's largest stride),
    so the last tile may be up to 31 pixels longer than the others."""
    if n <= tile:
        return [(0, n)]
    a = TILE_ALIGN
    if shortest_tile(overlap) > tile:  # no tile length would keep the overlaps: the search would never end
        raise UsageError(f"tile {tile} is too short for overlaps of {overlap} px on each side: use --tile "
                         f"{shortest_tile(overlap)} or more, or a smaller --overlap")

    def starts(count, length):
        last = ((n - length) // a) * a
        return sorted({((i * last) // (count - 1) // a) * a for i in range(count)})

    def keeps_overlap(found, length):
        return all(b - s <= length - 2 * overlap for s, b in zip(found, found[1:]))

    count = 2
    while True:  # the fewest tiles, then the shortest length that keeps the overlap
        for length in range(a * math.ceil((2 * overlap + a) / a), tile + 1, a):
            found = starts(count, length)
            if keeps_overlap(found, length):
                last = found[-1]
                return [(s, n if s == last else s + length) for s in found]
        count += 1


def shortest_tile(overlap):
    """The shortest tile (a multiple of :data:`TILE_ALIGN`) that keeps ``overlap`` pixels on
    each side and something between them: what :func:`axis_spans` needs."""
    return TILE_ALIGN * math.ceil((2 * overlap + TILE_ALIGN) / TILE_ALIGN)


def check_tile(tile, overlap, given=None):
    """One :class:`UsageError` line unless ``tile`` and ``overlap`` are multiples of
    :data:`TILE_ALIGN` with the overlap under half the tile (``given``: the overlap as the
    user wrote it, for the message)."""
    if isinstance(tile, bool) or isinstance(overlap, bool) or not isinstance(tile, numbers.Integral) \
            or not isinstance(overlap, numbers.Integral) or tile % TILE_ALIGN or overlap % TILE_ALIGN \
            or overlap < 0 or overlap * 2 >= tile:
        raise UsageError(f"tile {tile} and overlap {overlap if given is None else given}: both must be multiples "
                         f"of {TILE_ALIGN} and the overlap less than half the tile (e.g. --tile 1152 --overlap "
                         "64), or --overlap auto")


def tile_spans(height, width, tile, overlap):
    """``[(y0, y1, x0, x1)]`` of overlapping tiles covering an image (:func:`axis_spans`
    along each axis)."""
    return [(y0, y1, x0, x1) for y0, y1 in axis_spans(height, tile, overlap)
            for x0, x1 in axis_spans(width, tile, overlap)]


def blend_ramp(length, lo_edge, hi_edge, overlap):
    """Blend weights along one tile axis. Next to an inner tile edge the outer
    ``overlap / 2`` pixels (where zero padding reaches) get weight 0, then the
    weight rises linearly over ``overlap`` pixels; neighbouring tiles overlap by
    ``2 * overlap``, so their ramps are complementary and sum to 1."""
    d = np.arange(length, dtype=np.float32) + 0.5
    margin = overlap / 2
    r = np.ones(length, np.float32)
    if not lo_edge:
        r = np.minimum(r, np.clip((d - margin) / overlap, 0, 1))
    if not hi_edge:
        r = np.minimum(r, np.clip((d[::-1] - margin) / overlap, 0, 1))
    return r


def _axis_weights(spans, n, overlap):
    """Each span's :func:`blend_ramp` divided by the sum of the ramps over the axis, so that
    the tiles' weights (products of the two axes' weights: the tiles form a grid) sum to 1
    at every pixel, and blending needs no weight image and no final division."""
    ramps = [blend_ramp(e - s, s == 0, e == n, overlap) for s, e in spans]
    total = np.zeros(n, np.float32)
    for (s, e), r in zip(spans, ramps):
        total[s:e] += r
    return [r / total[s:e] for (s, e), r in zip(spans, ramps)]


def blend_tiles(run, image, tile, overlap, progress=None):
    """``run(crop [h, w, 3]) -> [h, w, 3]`` over the tiles of ``image``, blended (each tile's
    output times its weight, added in place; the weights sum to 1, :func:`_axis_weights`).
    Where a tile's weight is 1 (its core: no other tile counts there) its output is copied,
    one pass instead of the weighted add's five; only the overlap bands are weighted."""
    h, w = image.shape[:2]
    out = np.zeros((h, w, 3), np.float32)
    ys, xs = axis_spans(h, tile, overlap), axis_spans(w, tile, overlap)
    wys, wxs = _axis_weights(ys, h, overlap), _axis_weights(xs, w, overlap)
    count, done = len(ys) * len(xs), 0
    scratch = np.empty((max(e - s for s, e in ys), max(e - s for s, e in xs), 3), np.float32)
    for (y0, y1), wy in zip(ys, wys):
        cy0, cy1 = _core(wy)
        for (x0, x1), wx in zip(xs, wxs):
            y = np.asarray(run(image[y0:y1, x0:x1]), np.float32)
            cx0, cx1 = _core(wx)
            target = out[y0:y1, x0:x1]
            target[cy0:cy1, cx0:cx1] = y[cy0:cy1, cx0:cx1]
            # the bands around the core: rows above and below it, then its rows' left and right ends
            for r0, r1, c0, c1 in ((0, cy0, 0, x1 - x0), (cy1, y1 - y0, 0, x1 - x0),
                                   (cy0, cy1, 0, cx0), (cy0, cy1, cx1, x1 - x0)):
                if r1 <= r0 or c1 <= c0:
                    continue
                weighted = scratch[:r1 - r0, :c1 - c0]
                np.multiply(y[r0:r1, c0:c1], wy[r0:r1, None, None], out=weighted)
                np.multiply(weighted, wx[None, c0:c1, None], out=weighted)
                band = target[r0:r1, c0:c1]
                np.add(band, weighted, out=band)
            done += 1
            if progress:
                progress(done, count)
    return out


def _core(weights):
    """``(start, stop)`` of the longest run of weight 1 in a tile's axis weights (an empty
    run, ``(0, 0)``, where there is none)."""
    ones = np.flatnonzero(weights == 1.0)
    if not len(ones):
        return 0, 0
    breaks = np.flatnonzero(np.diff(ones) != 1)
    starts = np.concatenate([[0], breaks + 1])
    stops = np.concatenate([breaks + 1, [len(ones)]])
    best = int(np.argmax(stops - starts))
    return int(ones[starts[best]]), int(ones[stops[best] - 1]) + 1


_REPLACE = {zoo_layers.InstanceNorm: FixedInstanceNorm, zoo_layers.AdjustContrast: FixedAdjustContrast,
            keras.layers.GlobalAveragePooling2D: FixedGlobalMean, zoo_layers.MeanCentre: FixedMeanCentre}


RADIUS_PROBE = 161  # pixels: the side of the synthetic photo receptive_radius reads


def _probe_photo():
    from pirm_enhance.data.synthetic import synthetic_photo

    return synthetic_photo(RADIUS_PROBE, RADIUS_PROBE, seed=0)


def receptive_radius(model, image=None):
    """The receptive-field radius (pixels) of ``model`` (a fixed-statistics twin: image
    statistics would reach every pixel): how far from an output pixel the input pixels
    with a non-zero gradient reach, on a square ``image`` (default a synthetic photo of
    :data:`RADIUS_PROBE` pixels), for the 8 x 8 output pixels in its centre (every phase
    of strides up to 8). ``size // 2 - 8`` or more means at least that far (whole-image
    context)."""
    image = _probe_photo() if image is None else image
    size = image.shape[0]
    c, block = size // 2 - 4, 8
    x = tf.Variable(image[None])
    with tf.GradientTape() as tape:
        y = model(x, training=False)
        if y.shape[1] != size or y.shape[2] != size:
            return c  # the output has another size: no pixel-to-pixel radius
        value = tf.reduce_sum(y[0, c:c + block, c:c + block])
    grad = tape.gradient(value, x)
    if grad is None:
        return c
    g = np.abs(grad.numpy()[0]).sum(-1)
    ys, xs = np.nonzero(g > 0)
    if not len(ys):
        return c
    last = c + block - 1
    return int(max(c - ys.min(), ys.max() - last, c - xs.min(), xs.max() - last))


# ops of a frozen graph that keep a tensor's pixel grid: each output pixel reads the same
# pixel of its spatial inputs (a per-image statistic broadcast over it reads none)
_POINTWISE_OPS = frozenset((
    "Identity", "IdentityN", "Cast", "Relu", "Relu6", "Elu", "Selu", "LeakyRelu", "Tanh", "Sigmoid",
    "Softplus", "Neg", "Abs", "Square", "Sqrt", "Rsqrt", "Exp", "Log", "Reciprocal", "Floor", "Round",
    "Add", "AddV2", "AddN", "Sub", "Mul", "RealDiv", "Div", "Maximum", "Minimum", "Pow",
    "SquaredDifference", "BiasAdd", "FusedBatchNorm", "FusedBatchNormV3", "ClipByValue", "Select",
    "SelectV2", "Pad", "PadV2", "MirrorPad", "Slice", "StridedSlice", "ConcatV2", "Concat",
    "ZerosLike", "OnesLike", "StopGradient", "Snapshot"))
_REDUCTIONS = frozenset(("Mean", "Sum", "Max", "Min", "Prod"))
_SHAPE_OPS = frozenset(("Shape", "ShapeN", "Size", "Rank"))


class _UnknownReach(Exception):
    pass


def graph_receptive_radius(graph, input_tensor, output_tensor):
    """The receptive-field radius (pixels) of a frozen graph's output over its input, read
    from its ops (the Keras path measures it instead, :func:`receptive_radius`): per axis,
    each convolution or pooling adds the reach of its kernel (``ceil((k - 1) / 2)`` taps
    times its dilation, in input pixels at the tensor's stride), transposed convolutions
    ``ceil((k - 1) / stride)``, and space-to-batch pairs (dilated convolutions) scale the
    grid between them. Spatial reductions are per-image statistics, which a file's tiles
    compute for themselves whatever the overlap: they add no reach. ``None`` where an op
    that reads a neighbourhood is not known here (then the tiler keeps
    :data:`DEFAULT_OVERLAP`)."""
    memo = {}

    def const(tensor):  # a value known without running the graph (a constant, a stack of them)
        try:
            return tf.get_static_value(tensor)
        except Exception:
            return None

    def reach(tensor):
        key = tensor.name
        if key not in memo:
            memo[key] = _reach(tensor)
        return memo[key]

    def _reach(tensor):
        if tensor.name == input_tensor.name:
            return (0, 0, 1.0, 1.0)  # radius y, radius x, input pixels per tensor pixel y, x
        op = tensor.op
        kind = op.type
        found = [reach(t) for t in op.inputs]
        spatial = [r for r in found if r is not None]
        if not spatial or kind in _SHAPE_OPS:
            return None
        if kind in _REDUCTIONS:
            axes = const(op.inputs[1])
            if axes is None:
                raise _UnknownReach(f"{op.name}: reduction axes")
            rank = op.inputs[0].shape.rank or 4
            if {int(a) % rank for a in np.atleast_1d(axes)} & {1, 2}:
                return None  # a per-image (or per-row) statistic
            if found[0] is None or len(spatial) != 1:
                raise _UnknownReach(f"{op.name} ({kind})")
            return found[0]  # over channels: pixel by pixel
        if kind in _POINTWISE_OPS:
            if kind == "StridedSlice" and np.any(const(op.inputs[3]) != 1):
                raise _UnknownReach(f"{op.name}: a strided slice")  # or strides not known
            axis = const(op.inputs[0] if kind == "Concat" else op.inputs[-1]) if "Concat" in kind else None
            if axis is not None and int(axis) % (op.outputs[0].shape.rank or 4) in (1, 2):
                raise _UnknownReach(f"{op.name}: a concatenation across pixels")
            if len({(r[2], r[3]) for r in spatial}) > 1:
                raise _UnknownReach(f"{op.name}: inputs on different grids")
            return (max(r[0] for r in spatial), max(r[1] for r in spatial), spatial[0][2], spatial[0][3])
        # the one spatial input of a neighbourhood op: the third of a transposed convolution
        data = 2 if kind == "Conv2DBackpropInput" else 0
        if found[data] is None or len(spatial) != 1:
            raise _UnknownReach(f"{op.name} ({kind})")
        ry, rx, sy, sx = found[data]
        if kind == "Conv2DBackpropInput":
            kh, kw = (int(v) for v in op.inputs[1].shape[:2])
            th, tw = op.get_attr("strides")[1:3]
            return (ry + math.ceil((kh - 1) / th) * sy, rx + math.ceil((kw - 1) / tw) * sx, sy / th, sx / tw)
        if kind in ("Conv2D", "DepthwiseConv2dNative", "MaxPool", "AvgPool"):
            if kind in ("MaxPool", "AvgPool"):
                kh, kw = op.get_attr("ksize")[1:3]
                dh = dw = 1
            else:
                kh, kw = (int(v) for v in op.inputs[1].shape[:2])
                dh, dw = op.get_attr("dilations")[1:3]
            th, tw = op.get_attr("strides")[1:3]
            return (ry + math.ceil((kh - 1) / 2) * dh * sy, rx + math.ceil((kw - 1) / 2) * dw * sx,
                    sy * th, sx * tw)
        if kind in ("SpaceToBatchND", "BatchToSpaceND"):
            block = const(op.inputs[1])
            if block is None or len(block) != 2:
                raise _UnknownReach(f"{op.name}: block shape")
            by, bx = (float(v) for v in block)
            return (ry, rx, sy * by, sx * bx) if kind == "SpaceToBatchND" else (ry, rx, sy / by, sx / bx)
        raise _UnknownReach(f"{op.name} ({kind})")

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 20000))
    try:
        result = reach(output_tensor)
    except _UnknownReach as e:
        log.debug("receptive radius of the graph not known: %s", e)
        return None
    finally:
        sys.setrecursionlimit(limit)
    if result is None or (result[2], result[3]) != (1.0, 1.0):
        return None  # the output does not depend on the input pixel by pixel
    return int(math.ceil(max(result[0], result[1])))


def auto_overlap(radius):
    """The smallest overlap that keeps tiling exact for ``radius`` (blending ignores the
    outer ``overlap / 2`` pixels of a tile), in steps of 16 px: 32 for radii up to 16, 48 up
    to 24 (DPED's 18: a 12 MP photo in 768-px tiles computes 1.30x its pixels instead of
    1.46x), else :data:`DEFAULT_OVERLAP` (64; wider fields are approximated as before).
    Tile starts and lengths stay multiples of 32 (:func:`axis_spans`)."""
    for overlap in (TILE_ALIGN, TILE_ALIGN + TILE_ALIGN // 2):
        if radius <= overlap // 2:
            return overlap
    return DEFAULT_OVERLAP


def _stat_layers(model):
    return [l for l in model.layers if type(l) in _REPLACE]


def activation_volume(model, size=64):
    """Floats of all the layer outputs of ``model`` per input pixel, on a ``size`` x
    ``size`` probe (each layer's first call): how a model's memory grows with its tile
    (dped_resnet_12_64: 1990; srcnn: 102; eds: 234)."""
    outputs = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        outputs += [o for o in keras.tree.flatten(layer.output) if len(o.shape) == 4]
    probe = keras.Model(model.input, outputs)
    found = probe(np.zeros((1, size, size, 3), np.float32), training=False)
    return float(sum(np.prod(o.shape[1:]) for o in found)) / (size * size)


def graph_activation_volume(runner, size=64):
    """:func:`activation_volume` of a frozen graph (a :class:`pirm_enhance.runners.FrozenGraphRunner`):
    the bytes of every op output on a ``size`` x ``size`` zero image, from TensorFlow's step
    statistics, as floats per input pixel; ``None`` where the trace has no allocation records.
    It counts the ops inside layers too, so it reads a little above the Keras model's figure
    (ppcn_student.paper 148 against 121, eds.iphone 385 against 234, dped_resnet_12_64 2144
    against 1990): the tile it gives errs on the small side."""
    total = sum(out.tensor_description.allocation_description.requested_bytes
                for node in runner.node_stats(np.zeros((1, size, size, 3), np.float32)) for out in node.output)
    return total / 4 / (size * size) if total else None


def auto_tile(volume):
    """The tile side for a model of activation ``volume`` (:func:`activation_volume`): the
    largest multiple of 32 whose square times ``volume`` stays within the budget (see
    :data:`DEFAULT_TILE`), between :data:`SAFE_TILE` and :data:`DEFAULT_TILE`."""
    side = TILE_ALIGN * int(math.sqrt(_VOLUME_BUDGET / max(volume, 1e-9)) // TILE_ALIGN)
    return max(SAFE_TILE, min(DEFAULT_TILE, side))


class TiledModel:
    """``TiledModel(model)(image)``: enhance an ``[H, W, 3]`` float32 image in tiles."""

    def __init__(self, model, tile="auto", overlap=DEFAULT_OVERLAP, stats_pixels=500_000, exact_pixels=1280 * 736):
        if tile == "auto":  # from the model's activation volume (DEFAULT_TILE's comment)
            key = architecture_key(model)
            if key not in _VOLUMES:
                try:
                    _VOLUMES[key] = activation_volume(model)
                except Exception as err:  # a model the probe cannot take: the safe size
                    log.debug("activation volume of %s not measured (%s): tile %d", key, err, SAFE_TILE)
                    _VOLUMES[key] = None
            tile = SAFE_TILE if _VOLUMES[key] is None else auto_tile(_VOLUMES[key])
        check_tile(tile, DEFAULT_OVERLAP if overlap == "auto" else overlap, overlap)
        self.model, self.tile, self.overlap = model, tile, overlap
        self.stats_pixels, self.exact_pixels = stats_pixels, exact_pixels
        self.stat_layers = _stat_layers(model)
        # the probe reduces each statistics layer's input to its moments inside the
        # graph, so that no full-size feature map outlives its layer
        probe_outputs = []
        for layer in self.stat_layers:
            mean = ops.mean(layer.input, axis=(1, 2))
            var = ops.mean(ops.square(layer.input - mean[:, None, None, :]), axis=(1, 2))
            probe_outputs += [mean, var]
        self.probe = (tf.function(keras.Model(model.inputs, probe_outputs), reduce_retracing=True)
                      if probe_outputs else None)

        def clone(layer):
            cls = _REPLACE.get(type(layer), type(layer))
            return cls.from_config(layer.get_config())

        self.twin = keras.models.clone_model(model, clone_function=clone)
        self.twin_layers = {}
        for layer in model.layers:
            twin_layer = self.twin.get_layer(layer.name)
            if type(layer) in _REPLACE:
                self.twin_layers[layer.name] = twin_layer
                if isinstance(layer, zoo_layers.InstanceNorm):
                    twin_layer.shift.assign(layer.shift)
                    twin_layer.scale.assign(layer.scale)
            elif layer.weights:
                twin_layer.set_weights(layer.get_weights())
        # the twin only runs inference: its large few-output convolutions take the faster,
        # equivalent form the exporters use (pirm_enhance.lowering)
        lower(self.twin, "tf")
        self._run_twin = tf.function(lambda x: self.twin(x, training=False), reduce_retracing=True)
        self.statistics = np.zeros(self.statistics_size, np.float32)  # the last image's, flattened
        self.radius = None
        if overlap == "auto":
            key = architecture_key(model)
            if key not in _RADII:
                probe = _probe_photo()
                self.set_statistics(probe)  # any statistics: the radius is structural
                _RADII[key] = receptive_radius(self.twin, probe)
            self.radius = _RADII[key]
            self.overlap = auto_overlap(self.radius)

    def statistics_image(self, image):
        """The image the statistics are taken on: ``image`` itself up to ``exact_pixels``
        (the challenge's 1280x720 included: exact whole-image statistics), beyond that
        an area-downscaled copy of ``stats_pixels`` pixels (memory stays bounded)."""
        h, w = image.shape[:2]
        if h * w <= max(self.exact_pixels, self.stats_pixels):
            return image
        f = math.sqrt(self.stats_pixels / (h * w))
        size = (max(1, int(h * f)), max(1, int(w * f)))
        return tf.image.resize(image[None], size, method="area", antialias=True)[0].numpy()

    def _twin_stat_layers(self):
        return [self.twin_layers[layer.name] for layer in self.stat_layers]

    @property
    def statistics_size(self):
        """Length of the flattened moments (every statistics layer's, in model order)."""
        return sum(int(v.shape[0]) for layer in self._twin_stat_layers() for v in layer.moments())

    def set_statistics(self, image):
        """Record the image-wide moments of every statistics layer (in the twin's weights
        and flattened in ``self.statistics``)."""
        if self.probe is None:
            return
        small = self.statistics_image(image)[None].astype(np.float32)
        moments = self.probe(tf.constant(small))
        for i, layer in enumerate(self.stat_layers):
            twin_layer = self.twin_layers[layer.name]
            twin_layer.mean.assign(moments[2 * i][0])
            if isinstance(twin_layer, FixedInstanceNorm):
                twin_layer.var.assign(moments[2 * i + 1][0])
        self.statistics = np.concatenate(
            [v.numpy() for layer in self._twin_stat_layers() for v in layer.moments()]).astype(np.float32)

    def function_of_statistics(self):
        """``f(x, statistics)``: the twin with its moments read from the flattened
        ``statistics`` vector instead of its weights (to be traced: frozen graphs and
        TFLite files take the moments as a second input)."""
        stat_layers = self._twin_stat_layers()

        def run(x, statistics):
            offset = 0
            for layer in stat_layers:
                parts = []
                for v in layer.moments():
                    n = int(v.shape[0])
                    parts.append(statistics[offset:offset + n])
                    offset += n
                layer.given = tuple(parts)
            try:
                return self.twin(x, training=False)
            finally:
                for layer in stat_layers:
                    layer.given = None

        return run

    def tiles(self, height, width):
        return tile_spans(height, width, self.tile, self.overlap)

    def run_tile(self, crop, statistics=None):
        """The twin on one ``[h, w, 3]`` crop, with the recorded statistics (the
        ``keras`` tile runtime; ``statistics`` is unused: they are in the weights)."""
        return self._run_twin(tf.constant(crop[None])).numpy()[0]

    def __call__(self, image, progress=None, run=None):
        """Enhanced ``[H, W, 3]`` float32 of ``image`` (float32 in [0, 1] or uint8).
        ``run(crop, statistics) -> output`` runs one tile (default :meth:`run_tile`;
        :mod:`pirm_enhance.runtimes` has the others)."""
        if image.dtype == np.uint8:
            image = image.astype(np.float32) / 255.0
        self.set_statistics(image)
        run = run or self.run_tile
        return blend_tiles(lambda crop: run(crop, self.statistics), image, self.tile, self.overlap, progress)
