"""A seeded degradation model of a small-sensor phone camera.

Turns a good photo into a phone-like one, so that any folder of good photos
becomes (phone, original) training pairs for users without DPED. Steps, in
the order a camera pipeline applies them (all parameters in
:class:`PhoneDegradation`, each drawn per image from the given range):

1. exposure and tone: darker exposure, then a flatter tone curve
   ``mid + (x - mid) * contrast`` with a gamma (washed-out, low-contrast look);
2. colour cast: per-channel white-balance gains around 1;
3. vignetting: ``1 - strength * r^2`` over the whole photo (r = 1 in the corners);
4. optical blur: Gaussian, sigma in pixels;
5. sensor noise that grows in the dark: Gaussian with variance
   ``shot * x + read^2`` in linear light, luminance plus a little chroma;
6. JPEG compression at a random quality.

Everything uses stateless random ops keyed by a ``[2]`` int seed, so a pair is
a pure function of (photo, seed): reproducible and resumable.
"""

import dataclasses

import tensorflow as tf


@dataclasses.dataclass(frozen=True)
class PhoneDegradation:
    """Ranges ``(low, high)`` of the degradation parameters (uniformly drawn)."""

    exposure: tuple = (0.7, 1.0)
    contrast: tuple = (0.7, 0.9)
    gamma: tuple = (0.9, 1.2)
    wb_gain: tuple = (0.92, 1.08)
    vignette: tuple = (0.1, 0.35)
    blur_sigma: tuple = (0.4, 1.3)
    shot_noise: tuple = (0.0005, 0.004)
    read_noise: tuple = (0.002, 0.01)
    chroma_noise: float = 0.3
    jpeg_quality: tuple = (60, 90)


def _uniform(seed, offset, low_high, shape=()):
    low, high = low_high
    s = tf.stack([seed[0], seed[1] + offset])
    return tf.random.stateless_uniform(shape, s, low, high)


def _gaussian_blur(image, sigma, radius=3):
    x = tf.range(-radius, radius + 1, dtype=tf.float32)
    k = tf.exp(-0.5 * tf.square(x / sigma))
    k = k / tf.reduce_sum(k)
    img = image[None]
    channels = 3
    kx = tf.tile(tf.reshape(k, [1, -1, 1, 1]), [1, 1, channels, 1])
    ky = tf.tile(tf.reshape(k, [-1, 1, 1, 1]), [1, 1, channels, 1])
    pad = [[0, 0], [radius, radius], [radius, radius], [0, 0]]
    img = tf.pad(img, pad, mode="REFLECT")
    img = tf.nn.depthwise_conv2d(img, kx, [1, 1, 1, 1], "VALID")
    img = tf.nn.depthwise_conv2d(img, ky, [1, 1, 1, 1], "VALID")
    return img[0]


def degrade(image, seed, params=PhoneDegradation(), position=None):
    """The phone-like version of ``image`` ([H, W, 3] float32 in [0, 1]).

    ``position``: ``(y0, x0, full_h, full_w)`` of a crop inside its photo, so
    that vignetting follows the whole photo; ``None`` treats the image as whole.
    """
    image = tf.convert_to_tensor(image, tf.float32)
    seed = tf.cast(tf.convert_to_tensor(seed), tf.int64)
    h = tf.shape(image)[0]
    w = tf.shape(image)[1]
    # 1. exposure and tone
    x = image * _uniform(seed, 1, params.exposure)
    mid = 0.5
    x = mid + (x - mid) * _uniform(seed, 2, params.contrast)
    x = tf.clip_by_value(x, 0.0, 1.0) ** _uniform(seed, 3, params.gamma)
    # 2. colour cast
    x = x * _uniform(seed, 4, params.wb_gain, [3])
    # 3. vignetting over the whole photo
    if position is None:
        y0, x0, full_h, full_w = 0, 0, h, w
    else:
        y0, x0, full_h, full_w = position
    ys = (tf.cast(tf.range(h) + y0, tf.float32) + 0.5) / tf.cast(full_h, tf.float32) * 2.0 - 1.0
    xs = (tf.cast(tf.range(w) + x0, tf.float32) + 0.5) / tf.cast(full_w, tf.float32) * 2.0 - 1.0
    r2 = (ys[:, None] ** 2 + xs[None, :] ** 2) / 2.0
    x = x * (1.0 - _uniform(seed, 5, params.vignette) * r2)[..., None]
    # 4. optical blur
    x = _gaussian_blur(x, _uniform(seed, 6, params.blur_sigma))
    # 5. noise that grows in the dark (linear light)
    linear = tf.clip_by_value(x, 0.0, 1.0) ** 2.2
    variance = _uniform(seed, 7, params.shot_noise) * linear + _uniform(seed, 8, params.read_noise) ** 2
    s = tf.stack([seed[0], seed[1] + 9])
    luma_noise = tf.random.stateless_normal(tf.shape(linear)[:2], s)[..., None]
    chroma = tf.random.stateless_normal(tf.shape(linear), tf.stack([seed[0], seed[1] + 10]))
    noise = (luma_noise + params.chroma_noise * chroma) * tf.sqrt(variance)
    x = tf.clip_by_value(linear + noise, 0.0, 1.0) ** (1 / 2.2)
    # 6. JPEG
    quality = tf.cast(_uniform(seed, 11, (float(params.jpeg_quality[0]), float(params.jpeg_quality[1]) + 1)),
                      tf.int32)
    x = tf.image.adjust_jpeg_quality(tf.clip_by_value(x, 0.0, 1.0), quality)
    return tf.clip_by_value(x, 0.0, 1.0)
