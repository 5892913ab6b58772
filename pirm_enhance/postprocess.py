"""MPSE phase 3: regional histogram equalisation, then gamma correction 1/2.2.

Thesis "DPED+, MPSE and MDIE", section 3.1.3 (Post-processing Optimization):
after the networks, (1) histogram equalisation "in each sub-image" of the
semantic regions, the image being decomposed "recursively" into sub-images,
then (2) gamma correction with exponent 1/2.2 (Weber-Fechner), "the last
procedure". The thesis's equalisation of a sub-image with ``L`` grey levels
and level probabilities ``p_n`` is

    T(k) = floor((L - 1) * sum_{n=0..k} p_n)

which makes the output histogram as flat as the levels allow (p_Y(y) =
1/(L-1)). All functions take ``[H, W, 3]`` float32 in [0, 1] (uint8 is
converted, floats clipped) and return float32 in [0, 1].

What the thesis leaves open, and what is done here:

* **channel**: the HSV value ``V = max(R, G, B)`` is equalised and each
  pixel's RGB is scaled by ``V'/V`` (a black pixel becomes the grey ``V'``),
  so hue and HSV saturation are kept exactly and no channel can clip.
  Equalising R, G and B separately would shift hues.
* **levels**: ``L = 256``; the histogram counts ``round(255 V)`` and the
  table is applied to the continuous ``255 V`` by linear interpolation
  between levels, so float inputs are not posterised (8-bit inputs get
  ``T(k)`` exactly).
* **the recursive sub-image scheme** (the thesis names it, does not define
  it): each region's histogram is split at its mean level ``m`` (floored)
  into the sub-images ``[lo, m]`` and ``[m + 1, hi]``, recursively ``depth``
  times (2^depth sub-histograms, recursive mean-separate equalisation of
  Chen & Ramli 2003), and each is equalised onto its own level range with
  ``T(k) = lo + floor((hi - lo) * sum_{n=lo..k} h_n / sum_{n=lo..hi} h_n)``.
  ``depth=0`` is the thesis's formula on the region (``lo=0, hi=L-1``);
  deeper keeps more of the region's mean brightness. Default ``depth=1``:
  chosen by eye (see below).
* **regions**: any segmentation through
  :func:`pirm_enhance.segment.masks_from` (default: :func:`segment`'s
  unsupervised regions; the thesis used a semantic segmentation it does not
  name). A region's histogram weights pixels by its mask (soft masks count
  fractionally). The thesis's regional factors (alpha, Lambda) belong to
  phase 2 and are not available to a post-process run on any model's
  output; only the region areas are used, below.
* **small regions**: a region covering less than ``min_fraction`` (1%) of
  the image has too few pixels for a meaningful histogram (a few hundred
  pixels stretched to 256 levels is mostly noise): it gets the whole image's
  table instead of its own.
* **blending**: hard region borders would show seams where two regions'
  tables differ, so each pixel's new value is ``sum_r w_r T_r(V) + (1 -
  sum_r w_r) V`` with ``w_r`` the region's mask smoothed by three box
  filters (an approximation of a Gaussian of ``blend`` pixels, finite
  support of about ``3 blend``, 2% of the longer side by default); masks
  that overlap are normalised so the weights sum to at most 1. Pixels no
  mask covers keep their value. ``blend=0``: hard borders.
* **strength**: ``V' = V + strength (T(V) - V)``; 1 (the thesis) by default.
* **order**: equalisation, then gamma ``out = in ** (1/2.2)``, as the
  thesis says (gamma is the last step).
"""

import numpy as np
from scipy import ndimage

from pirm_enhance.errors import UnknownName, UsageError
from pirm_enhance.segment import as_float_image, masks_from

LEVELS = 256
GAMMA = 1 / 2.2
DEPTH = 1
BLEND = 0.02
MIN_FRACTION = 0.01


def equalization_table(hist, lo=0, hi=None, clip_limit=None):
    """Lookup table ``T`` (float, length ``len(hist)``) equalising ``hist`` onto levels ``[lo, hi]``.

    ``T(k) = lo + floor((hi - lo) * sum_{n=lo..k} hist[n] / sum_{n=lo..hi} hist[n])`` for
    ``lo <= k <= hi`` (thesis 3.1.3 with ``lo=0, hi=L-1``); other levels, and every level
    of an empty sub-histogram, map to themselves. ``clip_limit`` (not in the thesis): bins
    are first cut at ``clip_limit`` times the mean bin and the excess spread evenly over
    ``[lo, hi]`` (contrast-limited equalisation, Pizer et al. 1987), so no level step is
    stretched much more than ``clip_limit + 1`` times."""
    hist = np.asarray(hist, np.float64)
    hi = len(hist) - 1 if hi is None else hi
    table = np.arange(len(hist), dtype=np.float64)
    sub = hist[lo:hi + 1]
    total = sub.sum()
    if total <= 0:
        return table
    if clip_limit is not None:
        clipped = np.minimum(sub, clip_limit * total / len(sub))
        sub = clipped + (total - clipped.sum()) / len(sub)
    cdf = np.cumsum(sub) / total
    table[lo:hi + 1] = lo + np.floor((hi - lo) * cdf + 1e-9)  # 1e-9: the last cdf may be 0.999...
    return table


def recursive_table(hist, depth=DEPTH, lo=0, hi=None, clip_limit=None):
    """Table of the recursive mean-split equalisation (module docstring): the levels
    ``[lo, hi]`` are split at the floored mean of their histogram ``depth`` times and each
    piece is equalised onto its own range; ``depth=0`` is :func:`equalization_table`."""
    hist = np.asarray(hist, np.float64)
    hi = len(hist) - 1 if hi is None else hi
    sub = hist[lo:hi + 1]
    total = sub.sum()
    if depth <= 0 or lo >= hi or total <= 0:
        return equalization_table(hist, lo, hi, clip_limit)
    mean = int(np.floor((np.arange(lo, hi + 1) * sub).sum() / total))
    if mean >= hi:
        return equalization_table(hist, lo, hi, clip_limit)
    table = recursive_table(hist, depth - 1, lo, mean, clip_limit)
    table[mean + 1:hi + 1] = recursive_table(hist, depth - 1, mean + 1, hi, clip_limit)[mean + 1:hi + 1]
    return table


def _histogram(levels, weights=None):
    return np.bincount(np.rint(levels).astype(np.int64).ravel(), weights=None if weights is None
                       else weights.ravel(), minlength=LEVELS)[:LEVELS]


def _smooth(mask, sigma):
    """Three box filters (about a Gaussian of ``sigma`` pixels; support ``3 (w // 2)``)."""
    width = int(round(np.sqrt(4 * sigma ** 2 + 1)))
    if width < 2:
        return mask
    for _ in range(3):
        mask = ndimage.uniform_filter(mask, size=width, mode="nearest")
    return mask


def _with_value(rgb, value, new_value):
    """``rgb`` with its HSV value replaced (hue and saturation kept)."""
    scale = np.where(value > 0, new_value / np.maximum(value, 1e-12), 0.0)
    out = rgb * scale[..., None]
    out = np.where((value <= 0)[..., None], new_value[..., None], out)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def equalize(image, mask=None, depth=DEPTH):
    """Histogram equalisation of the image's HSV value (hue and saturation kept), with the
    histogram of the pixels where ``mask`` (``[H, W]``, weights in [0, 1]) is set; ``mask``
    ``None``: the whole image. Applied to every pixel: see :func:`regional_equalization`
    for per-region results."""
    rgb = as_float_image(image)
    value = rgb.max(-1) * (LEVELS - 1)
    weights = None if mask is None else np.asarray(mask, np.float64)
    table = recursive_table(_histogram(value, weights), depth)
    new = np.interp(value, np.arange(LEVELS), table) / (LEVELS - 1)
    return _with_value(rgb, value / (LEVELS - 1), new)


def regional_equalization(image, segmentation=None, depth=DEPTH, blend=BLEND, min_fraction=MIN_FRACTION,
                          strength=1.0, clip_limit=None, **segment_kwargs):
    """Per-region histogram equalisation of the HSV value (module docstring: every choice).

    ``segmentation``: ``None`` (:func:`pirm_enhance.segment.segment`), a label map, masks
    ``[R, H, W]`` or a callable (see :func:`~pirm_enhance.segment.masks_from`).
    ``blend``: smoothing of the region weights, a fraction of the longer side (< 1) or
    pixels (>= 1); 0 for hard borders. A pixel no (smoothed) mask reaches is unchanged."""
    rgb = as_float_image(image)
    if not 0 <= strength <= 1:
        raise UsageError(f"strength must be between 0 and 1; got {strength}")
    if blend < 0:
        raise UsageError(f"blend must be 0 or more; got {blend}")
    masks = masks_from(segmentation, rgb, **segment_kwargs)
    h, w = rgb.shape[:2]
    value = rgb.max(-1) * (LEVELS - 1)
    level_axis = np.arange(LEVELS)
    global_table = None
    sigma = blend * max(h, w) if blend < 1 else blend
    weights = np.stack([_smooth(m, sigma) for m in masks]) if sigma > 0 else masks
    total = weights.sum(0)
    weights = weights / np.maximum(total, 1.0)  # overlapping masks: weights sum to at most 1
    new = value * (1.0 - np.minimum(total, 1.0))
    for mask, weight in zip(masks, weights):
        if not weight.any():
            continue
        if mask.sum() < min_fraction * h * w:
            if global_table is None:
                global_table = recursive_table(_histogram(value), depth, clip_limit=clip_limit)
            table = global_table
        else:
            table = recursive_table(_histogram(value, mask), depth, clip_limit=clip_limit)
        new += weight * np.interp(value, level_axis, table)
    new = value + strength * (new - value)
    return _with_value(rgb, value / (LEVELS - 1), new / (LEVELS - 1))


def gamma_correction(image, gamma=GAMMA):
    """``out = in ** gamma`` per channel (thesis 3.1.3: ``gamma = 1/2.2``)."""
    if gamma <= 0:
        raise UsageError(f"gamma must be positive; got {gamma}")
    return np.power(as_float_image(image), np.float32(gamma)).astype(np.float32)


def mpse_post(image, segmentation=None, depth=DEPTH, blend=BLEND, min_fraction=MIN_FRACTION, strength=1.0,
              clip_limit=None, gamma=GAMMA, **segment_kwargs):
    """MPSE phase 3 (thesis 3.1.3): :func:`regional_equalization` then :func:`gamma_correction`.

    ``image``: ``[H, W, 3]`` float in [0, 1] (clipped) or uint8; returns float32 ``[H, W, 3]``."""
    return gamma_correction(regional_equalization(image, segmentation, depth=depth, blend=blend,
                                                  min_fraction=min_fraction, strength=strength,
                                                  clip_limit=clip_limit, **segment_kwargs), gamma)


POSTS = {"mpse": mpse_post}


def post_function(name):
    """The post-processing called ``name`` (``None``: none), or :class:`UnknownName` listing the choices."""
    if name is None or callable(name):
        return name
    if name not in POSTS:
        raise UnknownName(f"unknown post-processing {name!r}; choose from: {', '.join(sorted(POSTS))}")
    return POSTS[name]


__all__ = ["GAMMA", "POSTS", "equalization_table", "equalize", "gamma_correction", "mpse_post", "post_function",
           "recursive_table", "regional_equalization"]
