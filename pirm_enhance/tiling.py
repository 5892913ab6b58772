"""Tiled inference with image-wide statistics, so memory follows the tile, not the photo.

The zoo's networks normalise with statistics of the whole image: instance
norms (per-channel mean/variance), PPCN's contrast step (per-channel mean)
and RSGUNet's global feature (mean of its deepest features). Running tiles
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

Networks whose deep layers see further than any overlap (RSGUNet: five
stride-2 stages, 3x3 convolutions at 1/16 and 1/32 of the resolution) declare a
*context split* (``context_split = (start, start_stride, end, end_stride)``:
layer names and their strides). :class:`ContextSplit` then runs them in two
tiled passes with the deep part in between on the whole image:

1. the encoder up to ``start`` on the tiles, its feature maps blended into one
   map of the whole image (``start_stride`` times smaller: 1/8 for RSGUNet);
2. the context part (``start`` to ``end``: RSGUNet's 1/16 and 1/32 layers and
   its global feature) once on that map, so the deep features and the global
   mean are those of the whole image, at any photo size;
3. the rest on the tiles again, each reading its crop of the context map.

Only the shallow layers' receptive field then crosses a tile edge, and the
overlaps cover it. The encoder runs twice (about 1.4x the work of one pass).
"""

import math

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from pirm_enhance import layers as zoo_layers
from pirm_enhance.errors import UsageError

TILE_ALIGN = 32


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
        mean, var = self._current()
        return (x - mean) / ops.sqrt(var + self.epsilon) * self.scale + self.shift


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


def axis_spans(n, tile, overlap):
    """``[(start, end)]`` of the fewest tiles of at most ``tile`` pixels that cover
    ``n`` pixels with neighbours overlapping by at least ``2 * overlap``, spread
    evenly: the tiles are made as short as that allows (a multiple of 32), so that
    little is computed twice. Starts are multiples of 32 (the zoo's largest stride),
    so the last tile may be up to 31 pixels longer than the others."""
    if n <= tile:
        return [(0, n)]
    a = TILE_ALIGN

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
    return ramp_at(np.arange(length, dtype=np.float32) + 0.5, length, lo_edge, hi_edge, overlap)


def ramp_at(d, length, lo_edge, hi_edge, overlap):
    """:func:`blend_ramp` at positions ``d`` (pixels from the tile's start; outside
    ``[0, length]`` the weight is 0 next to an inner edge and 1 next to an image edge)."""
    d = np.asarray(d, np.float32)
    margin = overlap / 2
    r = np.ones(d.shape, np.float32)
    if not lo_edge:
        r = np.minimum(r, np.clip((d - margin) / overlap, 0, 1))
    if not hi_edge:
        r = np.minimum(r, np.clip((length - d - margin) / overlap, 0, 1))
    return r


def blend_tiles(run, image, tile, overlap, progress=None):
    """``run(crop [h, w, 3]) -> [h, w, 3]`` over the tiles of ``image``, blended."""
    h, w = image.shape[:2]
    tiles = tile_spans(h, w, tile, overlap)
    done = [0]

    def one(crop, span):
        y = run(crop)
        done[0] += 1
        if progress:
            progress(done[0], len(tiles))
        return y

    return _blend(one, image, tiles, overlap)


_ACTIVATIONS = (keras.layers.LeakyReLU, keras.layers.ReLU, keras.layers.Activation)


def _input_tensors(layer):
    try:
        return keras.tree.flatten(layer.input)
    except (AttributeError, ValueError):  # a layer used more than once
        return []


def _after_activations(model, name):
    """The output of layer ``name``, followed through activation layers that are its only
    consumer (``conv9`` -> the LeakyReLU after it)."""
    tensor = model.get_layer(name).output
    while True:
        users = [layer for layer in model.layers if any(t is tensor for t in _input_tensors(layer))]
        if len(users) != 1 or not isinstance(users[0], _ACTIVATIONS):
            return tensor
        tensor = users[0].output


class ContextSplit:
    """A model cut into encoder, whole-image context and decoder (see the module
    docstring). ``ContextSplit(model)(image, tile, overlap)`` is the tiled output."""

    def __init__(self, model):
        start, self.start_stride, end, self.end_stride = model.context_split
        if self.end_stride % self.start_stride or TILE_ALIGN % self.end_stride:
            raise ValueError(f"context split strides {self.start_stride}, {self.end_stride}: the second must be "
                             f"a multiple of the first and divide {TILE_ALIGN}")
        inner, outer = _after_activations(model, start), _after_activations(model, end)
        self.encoder = keras.Model(model.inputs, inner)
        self.context = keras.Model(inner, outer)
        self.decoder = keras.Model([model.inputs[0], outer], model.outputs)
        for part in (self.encoder, self.decoder):
            if _stat_layers(part):
                raise ValueError(f"statistics layers outside the context part: {_stat_layers(part)}")
        # pixels the encoder pads on each side before its first layer (its features start there)
        self.pad = sum(layer.pad for layer in self.encoder.layers if isinstance(layer, zoo_layers.MirrorPad))
        self.model = model
        self._whole = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
        self._encode = tf.function(lambda x: self.encoder(x, training=False), reduce_retracing=True)
        self._context = tf.function(lambda x: self.context(x, training=False), reduce_retracing=True)
        self._decode = tf.function(lambda x, c: self.decoder([x, c], training=False), reduce_retracing=True)

    def _feature_weights(self, shape, span, height, width, overlap):
        """Blend weights of one tile's encoder features: the pixel ramps at the cells' centres."""
        y0, y1, x0, x1 = span
        a = self.start_stride
        cy = np.arange(shape[0]) * a + a / 2 - self.pad
        cx = np.arange(shape[1]) * a + a / 2 - self.pad
        return (ramp_at(cy, y1 - y0, y0 == 0, y1 == height, overlap)[:, None]
                * ramp_at(cx, x1 - x0, x0 == 0, x1 == width, overlap)[None, :])[..., None]

    def __call__(self, image, tile, overlap, progress=None):
        h, w = image.shape[:2]
        spans = tile_spans(h, w, tile, overlap)
        if len(spans) == 1:
            out = self._whole(tf.constant(image[None])).numpy()[0]
            if progress:
                progress(1, 1)
            return out
        a, b = self.start_stride, self.end_stride
        feats = []
        for i, (y0, y1, x0, x1) in enumerate(spans):
            feats.append(self._encode(tf.constant(image[None, y0:y1, x0:x1])).numpy()[0])
            if progress:
                progress(i + 1, 2 * len(spans))
        fh = max(s[0] // a + f.shape[0] for s, f in zip(spans, feats))
        fw = max(s[2] // a + f.shape[1] for s, f in zip(spans, feats))
        inner = np.zeros((fh, fw, feats[0].shape[-1]), np.float32)
        weight = np.zeros((fh, fw, 1), np.float32)
        for span, f in zip(spans, feats):
            oy, ox = span[0] // a, span[2] // a
            wt = self._feature_weights(f.shape, span, h, w, overlap)
            inner[oy:oy + f.shape[0], ox:ox + f.shape[1]] += f * wt
            weight[oy:oy + f.shape[0], ox:ox + f.shape[1]] += wt
        inner /= np.maximum(weight, 1e-12)
        outer = self._context(tf.constant(inner[None]))
        r = b // a
        lengths = {span: (-(-f.shape[0] // r), -(-f.shape[1] // r)) for span, f in zip(spans, feats)}
        del feats, inner
        done = [len(spans)]

        def run(crop, span):
            (y0, _, x0, _), (lh, lw) = span, lengths[span]
            piece = outer[:, y0 // b:y0 // b + lh, x0 // b:x0 // b + lw]
            out = self._decode(tf.constant(crop[None]), piece).numpy()[0]
            done[0] += 1
            if progress:
                progress(done[0], 2 * len(spans))
            return out

        return _blend(run, image, spans, overlap)


def _blend(run, image, spans, overlap):
    """``run(crop, span) -> [h, w, 3]`` over ``spans`` of ``image``, blended with
    :func:`blend_ramp` weights."""
    h, w = image.shape[:2]
    out = np.zeros((h, w, 3), np.float32)
    weight = np.zeros((h, w, 1), np.float32)
    for span in spans:
        y0, y1, x0, x1 = span
        y = run(image[y0:y1, x0:x1], span)
        wt = (blend_ramp(y1 - y0, y0 == 0, y1 == h, overlap)[:, None]
              * blend_ramp(x1 - x0, x0 == 0, x1 == w, overlap)[None, :])[..., None]
        out[y0:y1, x0:x1] += y * wt
        weight[y0:y1, x0:x1] += wt
    return out / weight


_REPLACE = {zoo_layers.InstanceNorm: FixedInstanceNorm, zoo_layers.AdjustContrast: FixedAdjustContrast,
            keras.layers.GlobalAveragePooling2D: FixedGlobalMean}


def _stat_layers(model):
    return [l for l in model.layers if type(l) in _REPLACE]


class TiledModel:
    """``TiledModel(model)(image)``: enhance an ``[H, W, 3]`` float32 image in tiles."""

    def __init__(self, model, tile=768, overlap=64, stats_pixels=500_000, exact_pixels=1280 * 736):
        if tile % TILE_ALIGN or overlap % TILE_ALIGN or overlap * 2 >= tile:
            raise UsageError(f"tile {tile} and overlap {overlap}: both must be multiples of {TILE_ALIGN} "
                             "and the overlap less than half the tile (e.g. --tile 768 --overlap 64)")
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
        self._run_twin = tf.function(lambda x: self.twin(x, training=False), reduce_retracing=True)
        self.statistics = np.zeros(self.statistics_size, np.float32)  # the last image's, flattened
        # networks that declare a context split run it (the keras runtime): deep context
        # and global statistics of the whole image, at any size
        self.split = ContextSplit(model) if getattr(model, "context_split", None) else None

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
        if self.split is not None and (run is None or run == self.run_tile or getattr(run, "name", None) == "keras"):
            return self.split(image, self.tile, self.overlap, progress)
        self.set_statistics(image)
        run = run or self.run_tile
        return blend_tiles(lambda crop: run(crop, self.statistics), image, self.tile, self.overlap, progress)
