"""Colour fidelity and picture checks of an enhancement model against clean photos.

Issue 11 (a default model that turned greens orange) asked for measures that
catch what an eye catches. All take ``[H, W, 3]`` arrays in [0, 1]:

* :func:`measure` of an image against its clean original: ``hue``, the
  saturation-weighted mean absolute hue difference in degrees over the clean
  photo's coloured pixels (HSV saturation >= 0.15 and value >= 0.08; weight =
  clean saturation); ``hue_green``, the same over its green pixels (hue 70-170
  degrees), ``None`` when they are under 1% of the photo (no green region: a
  few scattered greenish-grey pixels make a noisy figure); ``psnr``; ``clip``, the fraction of pixels at 250/255 or more in
  every channel; ``blotch``, the fraction of the clean photo's grey pixels
  (saturation < 0.1, value >= 0.15) that became clearly coloured (saturation
  >= 0.3 of the image's 5x5 local mean: a blotch is a region; single noisy
  pixels average out, and ``chroma_noise`` measures them); ``chroma_noise``, the
  mean magnitude (0-255) of the BT.601 chroma (Cb, Cr) minus its 7x7 local mean
  over the clean photo's grey pixels (colour speckle); ``texture``, the mean absolute Laplacian over the clean photo's
  smooth pixels (a sky's "crumpled paper" raises it); ``border``, the largest
  difference (0-255) between the mean of an outer row/column and the row/column
  three pixels in, minus the same difference in the clean photo (a dark frame
  raises it); ``gain``, per-channel mean(image) / mean(clean).
* :func:`castfree_phone`: a clean photo made phone-like without any colour
  cast (darker, flatter, gamma, a little luminance noise; the same gains on the
  three channels), for testing that a model keeps hues where they are.
* :func:`fidelity_report`: a model on the cast-free versions of held-out
  photos (never trained on): per photo input and output measures, and the
  worst case. ``models/default.json`` carries it.
"""

import pathlib

import numpy as np

SAT_MIN, VAL_MIN = 0.15, 0.08
GREEN = (70.0, 170.0)
GREEN_MIN_FRACTION = 0.01
# BT.601 (JPEG) chroma rows of RGB -> YCbCr: Cb, Cr (also the chroma and hue losses')
BT601_CBCR = ((-0.168736, -0.331264, 0.5), (0.5, -0.418688, -0.081312))


def rgb_to_hsv(img):
    """``[..., 3]`` in [0, 1] -> hue (degrees), saturation, value (float64)."""
    img = np.clip(np.asarray(img, np.float64), 0, 1)
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    mx, mn = img.max(-1), img.min(-1)
    d = mx - mn
    safe = np.where(d > 0, d, 1)
    h = np.where(mx == r, ((g - b) / safe) % 6, np.where(mx == g, (b - r) / safe + 2, (r - g) / safe + 4))
    h = np.where(d > 0, h * 60.0, 0.0)
    s = np.where(mx > 0, d / np.where(mx > 0, mx, 1), 0.0)
    return h, s, mx


def hue_diff(h1, h2):
    """Absolute angular difference of hues in degrees (0..180)."""
    d = np.abs(h1 - h2) % 360
    return np.minimum(d, 360 - d)


def _laplacian(gray):
    p = np.pad(gray, 1, mode="edge")
    return np.abs(4 * p[1:-1, 1:-1] - p[:-2, 1:-1] - p[2:, 1:-1] - p[1:-1, :-2] - p[1:-1, 2:])


def _local_std(gray, radius=3):
    mean = _local_mean(gray, radius)
    return np.sqrt(np.maximum(_local_mean(gray * gray, radius) - mean * mean, 0))


def _local_mean(img, radius):
    """Mean over a ``(2 radius + 1)``-pixel square window (per channel for ``[H, W, C]``)."""
    from scipy import ndimage

    size = (2 * radius + 1,) * 2 + (1,) * (img.ndim - 2)
    return ndimage.uniform_filter(img, size, mode="reflect")


def _chroma_speckle(img):
    """Per-pixel magnitude of the chroma's high-pass (chroma minus its 7x7 local mean)."""
    c = img @ np.array(BT601_CBCR).T
    return np.sqrt(((c - _local_mean(c, 3)) ** 2).sum(-1))


def _edge_steps(u8):
    """Differences (0-255) between outer rows/columns and those three pixels in."""
    cols = [u8[:, 0].mean() - u8[:, 3].mean(), u8[:, -1].mean() - u8[:, -4].mean()]
    rows = [u8[0].mean() - u8[3].mean(), u8[-1].mean() - u8[-4].mean()]
    return np.array(cols + rows)


def measure(clean, image):
    """Dict of the measurements of ``image`` against ``clean`` (see the module docstring)."""
    clean = np.clip(np.asarray(clean, np.float64), 0, 1)
    image = np.clip(np.asarray(image, np.float64), 0, 1)
    if clean.shape != image.shape:
        raise ValueError(f"shapes differ: clean {clean.shape}, image {image.shape}")
    hc, sc, vc = rgb_to_hsv(clean)
    hi, _, _ = rgb_to_hsv(image)
    coloured = (sc >= SAT_MIN) & (vc >= VAL_MIN)
    green = coloured & (hc >= GREEN[0]) & (hc <= GREEN[1])
    dh = hue_diff(hc, hi)

    def weighted(mask):
        w = sc * mask
        return float((dh * w).sum() / w.sum()) if w.sum() > 0 else 0.0

    grey = (sc < 0.1) & (vc >= 0.15)
    _, s_local, _ = rgb_to_hsv(_local_mean(image, 2))
    gray_clean = clean.mean(-1)
    smooth = _local_std(gray_clean) < 0.01
    mse = float(np.mean((clean - image) ** 2))
    u8_clean, u8 = np.round(clean * 255), np.round(image * 255)
    return {
        "hue": weighted(coloured),
        "hue_green": weighted(green) if green.mean() >= GREEN_MIN_FRACTION else None,
        "green_fraction": float(green.mean()),
        "psnr": float(10 * np.log10(1.0 / max(mse, 1e-12))),
        "clip": float((u8 >= 250).all(-1).mean()),
        "blotch": float(((s_local >= 0.3) & grey).sum() / max(grey.sum(), 1)),
        "chroma_noise": float(255 * _chroma_speckle(image)[grey].mean()) if grey.any() else 0.0,
        "texture": float(_laplacian(image.mean(-1))[smooth].mean()) if smooth.any() else 0.0,
        "border": float(np.max(np.abs(_edge_steps(u8)) - np.abs(_edge_steps(u8_clean)))),
        "gain": [float(g) for g in image.reshape(-1, 3).mean(0) / np.maximum(clean.reshape(-1, 3).mean(0), 1e-6)],
    }


def castfree_phone(clean, seed=0, exposure=0.8, contrast=0.8, gamma=1.1, noise=0.01):
    """``clean`` made phone-like with no colour cast: ``(0.5 + (exposure x - 0.5)
    contrast) ^ gamma`` on every channel alike, plus Gaussian luminance noise of
    standard deviation ``noise`` (the same on the three channels), clipped."""
    clean = np.asarray(clean, np.float32)
    x = np.clip(0.5 + (clean * exposure - 0.5) * contrast, 0, 1) ** gamma
    rng = np.random.default_rng(seed)
    x = x + noise * rng.standard_normal(clean.shape[:2], dtype=np.float32)[..., None]
    return np.clip(x, 0, 1).astype(np.float32)


def held_out_photos():
    """The ai-benchmark photos the default model never trained on: the held-out
    tenth of :func:`pirm_enhance.data.pairs.split_holdout` (also the validation
    photos of its training run). ``[]`` without the ai-benchmark package."""
    from pirm_enhance.data.pairs import split_holdout, synthetic_sources
    from pirm_enhance.data.photos import ai_benchmark_photos

    photos = ai_benchmark_photos()
    if len(photos) < 2:
        return []
    # the listing and split the training run made of its copy of this folder
    return [pathlib.Path(p) for p in split_holdout(synthetic_sources(photos[0].parent), 0.1)[1]]


def held_out_names():
    return [p.name for p in held_out_photos()]


def _run(model, image):
    out = model(image[None], training=False)
    return np.clip(np.asarray(out, np.float32)[0], 0, 1)


def fidelity_report(model, photos=None, seed=0):
    """A Keras ``model`` on cast-free phone-like versions of ``photos`` (default:
    :func:`held_out_photos`): ``{"photos": [{name, input, output}], "worst": {...}}``
    where ``input``/``output`` are :func:`measure` dicts against the clean photo and
    ``worst`` holds the largest output hue errors, the smallest PSNR gain over the
    input, and the photo counts."""
    from pirm_enhance.data.io import read_float

    photos = held_out_photos() if photos is None else list(photos)
    rows = []
    for i, path in enumerate(photos):
        clean = read_float(path)
        phone = castfree_phone(clean, seed=seed + i)
        rows.append({"name": getattr(path, "name", str(path)), "input": measure(clean, phone),
                     "output": measure(clean, _run(model, phone))})
    worst = {
        "hue": max((r["output"]["hue"] for r in rows), default=0.0),
        "hue_green": max((r["output"]["hue_green"] for r in rows if r["output"]["hue_green"] is not None),
                         default=None),
        "photos_with_green": sum(r["output"]["hue_green"] is not None for r in rows),
        "psnr_gain_min": min((r["output"]["psnr"] - r["input"]["psnr"] for r in rows), default=0.0),
        "photos": len(rows),
    }
    return {"photos": rows, "worst": worst,
            "recipe": "castfree_phone: exposure 0.8, contrast 0.8 about 0.5, gamma 1.1, luminance noise sd 0.01"}
