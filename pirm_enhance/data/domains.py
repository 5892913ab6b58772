"""Attribute domains for MDIE: colour-only, noise-only and texture-only degradations.

The thesis's multi-domain GAN (section 3.2.2 and 5.2) learns from three datasets,
each degraded in one attribute only: colour (retouched vs. original), noise
(clean vs. high-ISO) and texture (DSLR vs. downgraded). Here the three datasets
are made from any folder of good photos with the pieces of
:mod:`pirm_enhance.data.degrade`, one attribute at a time, each parameter drawn
per image from :class:`AttributeDomains` (stateless random ops keyed by a
``[2]`` seed: a degraded image is a pure function of (photo, seed)):

* ``colour`` (index 0): exposure, a flatter tone curve about mid-grey
  (``0.5 + (x - 0.5) contrast``), lower saturation about luminance and a small
  white-balance error on red and blue (the phone ISP's colour steps of
  ``CameraPipeline``), nothing spatial;
* ``noise`` (index 1): shot and read noise in linear light with the noise
  distribution of Brooks et al. (CVPR 2019) that ``CameraPipeline`` uses
  (``log shot ~ U(log 1e-4, log 1.2e-2)``, ``log read = 2.18 log shot + 1.20 +
  N(0, 0.26)``), per pixel and channel, colours and sharpness untouched;
* ``texture`` (index 2): lens blur (Gaussian) then over-sharpening (unsharp
  mask, radius 1 px, ``CameraPipeline``'s), fine texture lost and halos added,
  colours and noise untouched.

:func:`degrade_all` applies the three in camera order (texture, noise, colour):
the held-out "synthetic pairs" the full MDIE model is measured on.
:func:`domain_dataset` streams training batches: batch ``k`` holds crops of
one attribute, ``k mod 3`` (the thesis trains "with a specific enhancement
factor with a mask vector" at a time).
"""

import dataclasses

import numpy as np
import tensorflow as tf

from pirm_enhance.data.degrade import _gaussian_blur, _uniform
from pirm_enhance.data.pairs import _decode, _epoch_order
from pirm_enhance.errors import ImageError, UsageError

ATTRIBUTES = ("colour", "noise", "texture")  # the order of pirm_enhance.archs.mdie.ATTRIBUTES
_LUMA = (0.2126, 0.7152, 0.0722)


@dataclasses.dataclass(frozen=True)
class AttributeDomains:
    """Ranges ``(low, high)`` of each attribute's parameters (uniformly drawn).

    Colour: ``exposure`` (gain), ``contrast`` (about mid-grey), ``saturation``,
    ``wb_error`` (relative error of the red and blue gains). Noise: ``noise_scale``
    multiplies both variances of the Brooks et al. distribution. Texture:
    ``blur_sigma`` (pixels), ``sharpen`` (unsharp amount). The colour changes lean
    one way (darker, flatter, paler) so that the picture reveals them; the
    white-balance error is small for the reason given in ``CameraPipeline``."""

    exposure: tuple = (0.7, 1.05)
    contrast: tuple = (0.65, 0.95)
    saturation: tuple = (0.55, 0.95)
    wb_error: tuple = (-0.03, 0.03)
    noise_scale: float = 1.0
    blur_sigma: tuple = (0.6, 1.6)
    sharpen: tuple = (0.3, 1.2)


def degrade_colour(image, seed, p=AttributeDomains()):
    """Colour-only degradation of ``image`` ([H, W, 3] float32 in [0, 1])."""
    seed = tf.cast(tf.convert_to_tensor(seed), tf.int64)
    x = image * _uniform(seed, 51, p.exposure)
    x = 0.5 + (x - 0.5) * _uniform(seed, 52, p.contrast)
    luma = tf.reduce_sum(x * tf.constant(_LUMA), axis=-1, keepdims=True)
    x = luma + _uniform(seed, 53, p.saturation) * (x - luma)
    gains = tf.stack([1.0 + _uniform(seed, 54, p.wb_error), 1.0, 1.0 + _uniform(seed, 55, p.wb_error)])
    return tf.clip_by_value(x * gains, 0.0, 1.0)


def degrade_noise(image, seed, p=AttributeDomains()):
    """Noise-only degradation: heteroscedastic sensor noise added in linear light."""
    seed = tf.cast(tf.convert_to_tensor(seed), tf.int64)
    linear = tf.clip_by_value(image, 0.0, 1.0) ** 2.2
    log_shot = _uniform(seed, 61, (float(np.log(1e-4)), float(np.log(1.2e-2))))
    log_read = 2.18 * log_shot + 1.20 + 0.26 * tf.random.stateless_normal([], tf.stack([seed[0], seed[1] + 62]))
    variance = p.noise_scale * (tf.exp(log_shot) * linear + tf.exp(log_read))
    noise = tf.sqrt(variance) * tf.random.stateless_normal(tf.shape(linear), tf.stack([seed[0], seed[1] + 63]))
    return tf.clip_by_value(linear + noise, 0.0, 1.0) ** (1.0 / 2.2)


def degrade_texture(image, seed, p=AttributeDomains()):
    """Texture-only degradation: Gaussian lens blur, then an unsharp mask (radius 1 px)."""
    seed = tf.cast(tf.convert_to_tensor(seed), tf.int64)
    x = _gaussian_blur(image, _uniform(seed, 71, p.blur_sigma))
    x = x + _uniform(seed, 72, p.sharpen) * (x - _gaussian_blur(x, tf.constant(1.0)))
    return tf.clip_by_value(x, 0.0, 1.0)


_DEGRADE = (degrade_colour, degrade_noise, degrade_texture)


def degrade_attribute(image, seed, attribute, p=AttributeDomains()):
    """``image`` degraded in attribute ``attribute`` only (0 colour, 1 noise, 2 texture; a
    Python int or a scalar int tensor)."""
    image = tf.convert_to_tensor(image, tf.float32)
    if isinstance(attribute, (int, np.integer)):
        if not 0 <= int(attribute) < len(_DEGRADE):
            raise UsageError(f"attribute {attribute}: must be 0 (colour), 1 (noise) or 2 (texture)")
        return _DEGRADE[int(attribute)](image, seed, p)
    branches = [lambda f=f: f(image, seed, p) for f in _DEGRADE]
    out = tf.switch_case(tf.cast(attribute, tf.int32), branches)
    return tf.ensure_shape(out, image.shape)


def degrade_all(image, seed, p=AttributeDomains()):
    """All three attributes, in camera order: texture (optics), noise (sensor), colour (ISP)."""
    seed = tf.cast(tf.convert_to_tensor(seed), tf.int64)
    image = tf.convert_to_tensor(image, tf.float32)
    x = degrade_texture(image, seed, p)
    x = degrade_noise(x, seed + [0, 100], p)
    return degrade_colour(x, seed + [0, 200], p)


def _check_sizes(photos, size):
    """One clear line for a photo the crops cannot take (read from its header, not decoded)."""
    import imageio.v3 as iio

    small = []
    for path in photos:
        try:
            shape = iio.improps(path).shape
        except Exception as err:
            raise ImageError(f"{path}: cannot be read as a photo ({type(err).__name__}); remove it from "
                             "the training folder") from None
        if min(shape[:2]) < size:
            small.append((path, shape))
    if small:
        path, shape = small[0]
        raise ImageError(f"{path}: {shape[1]}x{shape[0]} is smaller than the {size}x{size} training crops "
                         f"({len(small)} photo(s) so); remove them or train with a smaller patch size")


def _crop(photo, size, s):
    shape = tf.shape(photo)
    y0 = tf.random.stateless_uniform([], s + [0, 2], 0, shape[0] - size + 1, dtype=tf.int32)
    x0 = tf.random.stateless_uniform([], s + [0, 3], 0, shape[1] - size + 1, dtype=tf.int32)
    return photo[y0:y0 + size, x0:x0 + size]


def domain_dataset(photos, batch_size, seed=0, start=0, patch_size=64, augment=True, attributes="cycle",
                   params=AttributeDomains(), repeat=True):
    """Batches ``(low_quality, high_quality, attribute)`` of photo crops:
    ``[B, patch, patch, 3]`` float32 twice and ``[B]`` int32.

    ``attributes="cycle"``: batch ``k`` is degraded in attribute ``k mod 3`` only
    (every image of a batch in the same one); ``"all"``: every image in all three
    (:func:`degrade_all`; ``attribute`` is then -1); ``"cycle+all"``: batch ``k`` in
    attribute ``k mod 4``, the fourth (``k mod 4 = 3``) in all three (``attribute``
    -1). ``start``: examples already
    consumed (resume); crops, flips and degradations are pure functions of (seed,
    example index). A photo smaller than ``patch_size`` or unreadable is refused before
    the first batch (:class:`pirm_enhance.errors.ImageError`, naming it)."""
    photos = [str(p) for p in photos]
    _check_sizes(photos, patch_size)
    table = tf.constant(photos)
    order = _epoch_order(len(photos), seed) if repeat else tf.data.Dataset.range(len(photos))
    indexed = tf.data.Dataset.zip((tf.data.Dataset.range(1 << 62), order)).skip(start)
    if attributes not in ("cycle", "all", "cycle+all"):
        raise UsageError(f"attributes must be 'cycle', 'all' or 'cycle+all', not {attributes!r}")

    def load(index, item):
        s = tf.stack([tf.cast(seed, tf.int64) + 4271, index])
        target = _crop(_decode(table[item]), patch_size, s)
        if augment:
            flip = tf.random.stateless_uniform([], s + [0, 5], 0, 2, dtype=tf.int32)
            target = tf.cond(flip > 0, lambda: tf.image.flip_left_right(target), lambda: target)
            target = tf.image.rot90(target, tf.random.stateless_uniform([], s + [0, 6], 0, 4, dtype=tf.int32))
        target = tf.ensure_shape(target, [patch_size, patch_size, 3])
        if attributes == "all":
            attribute = tf.constant(-1, tf.int32)
            phone = degrade_all(target, s + [0, 7], params)
        elif attributes == "cycle+all":
            kind = tf.cast((index // batch_size) % (len(_DEGRADE) + 1), tf.int32)
            attribute = tf.where(kind < len(_DEGRADE), kind, -1)
            branches = [lambda f=f: f(target, s + [0, 7], params) for f in _DEGRADE]
            phone = tf.switch_case(kind, branches + [lambda: degrade_all(target, s + [0, 7], params)])
        else:
            attribute = tf.cast((index // batch_size) % len(_DEGRADE), tf.int32)
            phone = degrade_attribute(target, s + [0, 7], attribute, params)
        return tf.ensure_shape(phone, [patch_size, patch_size, 3]), target, attribute

    ds = indexed.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
