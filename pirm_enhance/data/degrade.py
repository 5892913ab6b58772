"""Seeded degradation models of a small-sensor phone camera.

Turn a good photo into a phone-like one, so that any folder of good photos
becomes (phone, original) training pairs for users without DPED.

:class:`CameraPipeline` (the default since issue 11) is grounded in published
camera-pipeline statistics: the photo is "unprocessed" to raw sensor values
with the procedure and parameter distributions of Brooks et al., "Unprocessing
Images for Learned Raw Denoising" (CVPR 2019, section 3: inverse tone curve,
inverse gamma, inverse colour correction with a random mix of four cameras'
XYZ->camera matrices, inverse white-balance/digital gains, Bayer mosaic,
shot/read noise with ``log shot ~ U(log 1e-4, log 1.2e-2)`` and ``log read =
2.18 log shot + 1.20 + N(0, 0.26)``), then developed again by a cheap phone's
forward pipeline: lens blur and vignetting, under-exposure, white balance with
an auto-white-balance error, bilinear demosaicking, a weak colour matrix
(lower saturation), a flatter and darker tone curve applied to luminance only
(hue-preserving), over-sharpening and JPEG. The phone-side ranges are the
project's choices (written in :class:`CameraPipeline`); none was tuned on the
PIRM validation data.

:class:`PhoneDegradation` is the first, hand-ranged model (kept for
reproducing models trained with it). Its steps, in the order a camera
pipeline applies them (each parameter drawn per image from the given range):

1. exposure and tone: darker exposure, then a flatter tone curve
   ``mid + (x - mid) * contrast`` with a gamma (washed-out, low-contrast look);
2. colour cast: per-channel white-balance gains around 1;
3. vignetting: ``1 - strength * r^2`` over the whole photo (r = 1 in the corners);
4. optical blur: Gaussian, sigma in pixels;
5. sensor noise that grows in the dark: Gaussian with variance
   ``shot * x + read^2`` in linear light, luminance plus a little chroma;
6. JPEG compression at a random quality.

Both use stateless random ops keyed by a ``[2]`` int seed, so a pair is
a pure function of (photo, seed): reproducible and resumable.
"""

import dataclasses

import numpy as np
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


def _radius2(h, w, position):
    """Squared distance from the photo's centre (1 in the corners), ``[h, w]``."""
    if position is None:
        y0, x0, full_h, full_w = 0, 0, h, w
    else:
        y0, x0, full_h, full_w = position
    ys = (tf.cast(tf.range(h) + y0, tf.float32) + 0.5) / tf.cast(full_h, tf.float32) * 2.0 - 1.0
    xs = (tf.cast(tf.range(w) + x0, tf.float32) + 0.5) / tf.cast(full_w, tf.float32) * 2.0 - 1.0
    return (ys[:, None] ** 2 + xs[None, :] ** 2) / 2.0


@dataclasses.dataclass(frozen=True)
class BicubicDownUp:
    """Track A's input: the photo shrunk ``factor`` times and enlarged back to its size
    with PIL's bicubic filter (the organisers' protocol, :mod:`pirm_enhance.scoring.track_a`).

    ``lr_blur``: ``(low, high)`` sigma, in low-resolution pixels, of a Gaussian blur
    applied to the shrunk image before it is enlarged (KAIST-VICLAB's training
    scheme, PIRM 2018 report section 5.2: "a small amount of Gaussian blur");
    ``(0, 0)`` (default) is the protocol's input exactly.
    """

    factor: int = 4
    lr_blur: tuple = (0.0, 0.0)


def bicubic_down_up(image_u8, factor=4, lr_sigma=0.0):
    """``uint8 [H, W, 3]`` -> shrunk ``factor`` times and enlarged back with PIL bicubic
    (uint8), optionally blurred in between (``lr_sigma`` in low-resolution pixels)."""
    from PIL import Image

    h, w = image_u8.shape[:2]
    small = Image.fromarray(image_u8).resize((max(w // factor, 1), max(h // factor, 1)), Image.BICUBIC)
    if lr_sigma > 0:
        from scipy.ndimage import gaussian_filter

        blurred = gaussian_filter(np.asarray(small, np.float32), (lr_sigma, lr_sigma, 0), mode="reflect")
        small = Image.fromarray(np.uint8(np.clip(np.round(blurred), 0, 255)))
    return np.asarray(small.resize((w, h), Image.BICUBIC))


def _bicubic_down_up(image, seed, params):
    def run(img, sigma):
        u8 = np.uint8(np.clip(np.round(img * 255.0), 0, 255))
        return np.float32(bicubic_down_up(u8, params.factor, float(sigma))) / 255.0

    low, high = params.lr_blur
    sigma = _uniform(seed, 1, (float(low), float(high))) if high > 0 else tf.constant(0.0)
    out = tf.numpy_function(run, [image, sigma], tf.float32, stateful=False)
    out.set_shape(image.shape)
    return tf.reshape(out, tf.shape(image))


def degrade(image, seed, params=None, position=None):
    """The phone-like version of ``image`` ([H, W, 3] float32 in [0, 1]).

    ``params``: a :class:`CameraPipeline` (default), a :class:`PhoneDegradation` or
    :class:`BicubicDownUp` (Track A pairs).
    ``position``: ``(y0, x0, full_h, full_w)`` of a crop inside its photo, so
    that vignetting follows the whole photo; ``None`` treats the image as whole.
    """
    params = CameraPipeline() if params is None else params
    image = tf.convert_to_tensor(image, tf.float32)
    seed = tf.cast(tf.convert_to_tensor(seed), tf.int64)
    if isinstance(params, CameraPipeline):
        return _camera_pipeline(image, seed, params, position)
    if isinstance(params, BicubicDownUp):
        return _bicubic_down_up(image, seed, params)
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
    x = x * (1.0 - _uniform(seed, 5, params.vignette) * _radius2(h, w, position))[..., None]
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


# ---------------------------------------------------------------- camera pipeline

# Brooks et al. 2019 (section 3.2): XYZ -> camera matrices of four cameras, of
# which a random convex combination is drawn, and the sRGB (D65) -> XYZ matrix.
XYZ2CAMS = (
    ((1.0234, -0.2969, -0.2266), (-0.5625, 1.6328, -0.0469), (-0.0703, 0.2188, 0.6406)),
    ((0.4913, -0.0541, -0.0202), (-0.6130, 1.3513, 0.2906), (-0.1564, 0.2151, 0.7183)),
    ((0.8380, -0.2630, -0.0639), (-0.2887, 1.0725, 0.2496), (-0.0627, 0.1427, 0.5438)),
    ((0.6596, -0.2079, -0.0562), (-0.4782, 1.3016, 0.1933), (-0.0970, 0.1581, 0.5181)),
)
RGB2XYZ = ((0.4124564, 0.3575761, 0.1804375), (0.2126729, 0.7151522, 0.0721750),
           (0.0193339, 0.1191920, 0.9503041))


NOISE_FLOOR_SIGMA = 4.0  # pixels: wide enough to average the grain, narrow enough for shading


@dataclasses.dataclass(frozen=True)
class CameraPipeline:
    """Unprocessing (Brooks et al. 2019) + a cheap phone's forward pipeline.

    Unprocessing draws (Brooks et al.): ``rgb_gain = 1 / N(0.8, 0.1)``, red gain
    ``U(1.9, 2.4)``, blue gain ``U(1.5, 1.9)``, the camera matrix mix, and the
    shot/read noise pair (``noise_scale`` multiplies both variances; 1 = the
    paper's distribution). The phone side, each ``(low, high)`` uniform, chosen
    by the project to describe a 2010-era phone (iPhone 3GS class) against a
    DSLR: ``sensor_exposure`` (linear gain on the sensor: under-exposed, so
    noisier), ``awb_error`` (relative error of the red and blue white-balance
    gains), ``saturation`` (the weak colour matrix, 1 = the DSLR's), then the
    phone's tone on luminance only, after the DSLR's gamma and S-curve:
    ``tone`` (fraction of the S-curve undone, flatter) and ``exposure``
    (darker on average, sometimes brighter: a phone's auto-exposure errs both
    ways); every channel is scaled by the same factor, so hues stay put;
    or, for a ``lut_share`` of the photos, a simpler ISP's global tone curve
    applied alike to every channel, ``(0.5 + (exposure x - 0.5) lut_contrast)
    ^ lut_gamma`` (no hue shift, lower saturation);
    ``blur_sigma`` (lens, pixels), ``vignette``, ``sharpen`` (unsharp-mask
    amount, radius 1 px), ``jpeg_quality``.

    ``noise_floor``: take the noise's expected colour out of the phone picture (a real
    ISP's noise-floor correction). Clipped at 0 and then gained by about 2 in red and
    1.7 in blue, the sensor noise lifts a neutral shadow towards magenta (R/G 1.12 at
    grey 0.05), which a model trained on such pairs learns to remove from every
    shadow, cast-free ones too (BUILD_NOTES, Default model). With it on, the ISP
    also runs on the noiseless mosaic and the low-pass (sigma
    :data:`NOISE_FLOOR_SIGMA`) of the difference is subtracted: the grain stays, its
    mean colour goes. Off by default here (other recipes' pairs stay as they were);
    the ``default`` recipe turns it on (``noise_floor: True``).

    ``full_rgb_share``: the share of photos whose sensor noise falls on every colour of
    every pixel, with no Bayer mosaic and no bilinear demosaic (a phone whose
    demosaicking leaves no false colour at edges). Bilinear demosaicking colours every
    sharp luminance edge, so a model trained on it alone learns to take colour out of
    such edges and puts false colour into sharp photos that never had it (BUILD_NOTES,
    Default model: 69.jpg). 0 by default (other recipes' pairs stay as they were).

    The AWB error (+-2%) and the saturation range (0.75-1) are narrow on
    purpose: a random colour change that the picture itself does not reveal
    cannot be learnt back, only hedged, and a model trained on +-6% and 0.65-1
    hedged by shifting and draining hues of photos that had no cast at all
    (BUILD_NOTES, Default model).
    """

    sensor_exposure: tuple = (0.6, 1.0)
    exposure: tuple = (0.75, 1.15)
    awb_error: tuple = (-0.02, 0.02)
    saturation: tuple = (0.75, 1.0)
    tone: tuple = (0.2, 1.0)
    lut_share: float = 0.5
    lut_contrast: tuple = (0.65, 1.0)
    lut_gamma: tuple = (0.85, 1.2)
    blur_sigma: tuple = (0.3, 1.0)
    vignette: tuple = (0.05, 0.3)
    sharpen: tuple = (0.2, 0.9)
    jpeg_quality: tuple = (60, 92)
    noise_scale: float = 1.0
    noise_floor: bool = False
    full_rgb_share: float = 0.0


def _smoothstep(x):
    return 3.0 * x ** 2 - 2.0 * x ** 3


def _inverse_smoothstep(y):
    y = tf.clip_by_value(y, 0.0, 1.0)
    return 0.5 - tf.sin(tf.asin(1.0 - 2.0 * y) / 3.0)


def _bayer_masks(h, w):
    """RGGB masks ``[h, w, 3]`` (1 where the sensor measured that colour)."""
    ys = tf.range(h)[:, None] % 2
    xs = tf.range(w)[None, :] % 2
    r = tf.cast((ys == 0) & (xs == 0), tf.float32)
    b = tf.cast((ys == 1) & (xs == 1), tf.float32)
    return tf.stack([r, 1.0 - r - b, b], axis=-1)


def _bilinear_demosaic(mosaic, masks):
    """Bilinear interpolation of each colour from its own samples (normalised
    convolution, so borders and odd sizes need no special case)."""
    rb = tf.constant([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]])
    g = tf.constant([[0.0, 1.0, 0.0], [1.0, 4.0, 1.0], [0.0, 1.0, 0.0]])
    kernel = tf.stack([rb, g, rb], axis=-1)[..., None]  # [3, 3, 3, 1] depthwise
    sampled = (mosaic[..., None] * masks)[None]
    num = tf.nn.depthwise_conv2d(sampled, kernel, [1, 1, 1, 1], "SAME")
    den = tf.nn.depthwise_conv2d(masks[None], kernel, [1, 1, 1, 1], "SAME")
    return (num / den)[0]


def _phone_isp(rgb, gains, rgb2cam, seed, p):
    """The phone's ISP from the demosaiced sensor image to its tone curve (before sharpening and JPEG)."""
    # phone ISP: white balance with an AWB error, weak colour matrix
    error = tf.stack([1.0 + _uniform(seed, 30, p.awb_error), 1.0, 1.0 + _uniform(seed, 31, p.awb_error)])
    x = rgb * gains * error
    # a saturated sensor stays neutral: clip at the white point of the least-gained channel
    x = tf.minimum(x, tf.reduce_min(gains * error))
    x = tf.tensordot(x, tf.transpose(tf.linalg.inv(rgb2cam)), axes=1)
    luma = tf.reduce_sum(x * tf.constant([0.2126, 0.7152, 0.0722]), axis=-1, keepdims=True)
    x = luma + _uniform(seed, 32, p.saturation) * (x - luma)
    # the DSLR's rendering (gamma and S-curve), then the phone's flatter, darker tone on
    # luminance only (every channel scaled alike: hues stay put, as in colour-preserving ISPs)
    x = _smoothstep(tf.clip_by_value(x, 0.0, 1.0) ** (1.0 / 2.2))
    luma = tf.reduce_sum(x * tf.constant([0.2126, 0.7152, 0.0722]), axis=-1, keepdims=True)
    t = _uniform(seed, 33, p.tone)
    flat = _uniform(seed, 36, p.exposure) * ((1.0 - t) * luma + t * _inverse_smoothstep(luma))
    on_luma = x * flat / tf.maximum(luma, 1e-4)
    # or a simpler ISP's global tone curve, the same on every channel (lower contrast about
    # mid-grey, darker, a gamma): no hue shift either, but less saturation
    c = _uniform(seed, 37, p.lut_contrast)
    lut = tf.clip_by_value(0.5 + (x * _uniform(seed, 38, p.exposure) - 0.5) * c, 0.0, 1.0)
    per_channel = lut ** _uniform(seed, 39, p.lut_gamma)
    x = tf.where(_uniform(seed, 40, (0.0, 1.0)) < p.lut_share, per_channel, on_luma)
    return x


def _camera_pipeline(image, seed, p, position):
    h, w = tf.shape(image)[0], tf.shape(image)[1]
    # unprocess (Brooks et al. 2019): tone curve, gamma, colour matrix, gains
    x = tf.maximum(_inverse_smoothstep(image), 1e-8) ** 2.2
    weights = _uniform(seed, 20, (1e-8, 1.0), [4])
    xyz2cam = tf.tensordot(weights / tf.reduce_sum(weights), tf.constant(XYZ2CAMS), axes=1)
    rgb2cam = tf.matmul(xyz2cam, tf.constant(RGB2XYZ))
    rgb2cam = rgb2cam / tf.reduce_sum(rgb2cam, axis=-1, keepdims=True)
    x = tf.tensordot(x, tf.transpose(rgb2cam), axes=1)
    rgb_gain = 1.0 / (0.8 + 0.1 * tf.random.stateless_normal([], tf.stack([seed[0], seed[1] + 21])))
    red = _uniform(seed, 22, (1.9, 2.4))
    blue = _uniform(seed, 23, (1.5, 1.9))
    gains = tf.stack([red, 1.0, blue]) * rgb_gain
    # plain inverse gains (not Brooks's highlight-preserving form: that keeps white at
    # 1 in raw, which turns pink once the phone's under-exposure brings it below clipping)
    x = x / gains
    # phone optics and exposure
    x = _gaussian_blur(x, _uniform(seed, 24, p.blur_sigma))
    x = x * (1.0 - _uniform(seed, 25, p.vignette) * _radius2(h, w, position))[..., None]
    x = x * _uniform(seed, 26, p.sensor_exposure)
    # sensor: shot and read noise on a Bayer mosaic, bilinear demosaic; or, for a
    # full_rgb_share of the photos, on every colour of every pixel (no false colour)
    log_shot = _uniform(seed, 27, (float(np.log(1e-4)), float(np.log(1.2e-2))))
    log_read = 2.18 * log_shot + 1.20 + 0.26 * tf.random.stateless_normal([], tf.stack([seed[0], seed[1] + 28]))
    noise_seed = tf.stack([seed[0], seed[1] + 29])

    def noisy(sensor):
        variance = p.noise_scale * (tf.exp(log_shot) * tf.maximum(sensor, 0.0) + tf.exp(log_read))
        return sensor + tf.sqrt(variance) * tf.random.stateless_normal(tf.shape(sensor), noise_seed)

    def bayer():
        masks = _bayer_masks(h, w)
        mosaic = tf.reduce_sum(x * masks, axis=-1)
        demosaic = lambda m: _bilinear_demosaic(tf.clip_by_value(m, 0.0, 1.0), masks)  # noqa: E731
        return demosaic(noisy(mosaic)), (demosaic(mosaic) if p.noise_floor else tf.zeros_like(x))

    def full_rgb():
        return tf.clip_by_value(noisy(x), 0.0, 1.0), tf.clip_by_value(x, 0.0, 1.0)

    if p.full_rgb_share > 0:
        sensor, noiseless = tf.cond(_uniform(seed, 41, (0.0, 1.0)) < p.full_rgb_share, full_rgb, bayer)
    else:
        sensor, noiseless = bayer()
    x = _phone_isp(sensor, gains, rgb2cam, seed, p)
    if p.noise_floor:
        # the noise's expected colour, taken out: the same photo through the same ISP
        # without noise, and the low-pass of the difference (the local bias of clipped,
        # gamma-curved noise) subtracted; the grain itself stays
        bias = _gaussian_blur(x - _phone_isp(noiseless, gains, rgb2cam, seed, p), tf.constant(NOISE_FLOOR_SIGMA))
        x = x - bias
    # over-sharpening, JPEG
    x = x + _uniform(seed, 34, p.sharpen) * (x - _gaussian_blur(x, tf.constant(1.0)))
    quality = tf.cast(_uniform(seed, 35, (float(p.jpeg_quality[0]), float(p.jpeg_quality[1]) + 1)), tf.int32)
    x = tf.image.adjust_jpeg_quality(tf.clip_by_value(x, 0.0, 1.0), quality)
    return tf.clip_by_value(x, 0.0, 1.0)
