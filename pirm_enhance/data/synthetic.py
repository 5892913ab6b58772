"""Synthetic photo-like images: smooth shading, edges and texture, seeded.

Used where real photos are not at hand: the TFLite int8 calibration set when
the user names no images, export checks and tests.
"""

import numpy as np
from scipy import ndimage


def synthetic_photo(height, width, seed=0):
    """A ``[H, W, 3]`` float32 image in [0, 1] with the statistics of a photo, not noise:
    a colour gradient (sky/ground), a few flat-coloured shapes with sharp edges,
    blurred multi-scale texture and a little sensor noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    yy /= max(height - 1, 1)
    xx /= max(width - 1, 1)
    top, bottom = rng.random(3), rng.random(3)
    img = top * (1 - yy[..., None]) + bottom * yy[..., None]
    for _ in range(rng.integers(3, 8)):
        cy, cx, r = rng.random(), rng.random(), 0.05 + 0.25 * rng.random()
        mask = ((yy - cy) ** 2 + ((xx - cx) * width / max(height, 1)) ** 2) < r ** 2
        if rng.random() < 0.5:
            mask = (np.abs(yy - cy) < r) & (np.abs(xx - cx) < r * 0.7)
        img[mask] = 0.6 * img[mask] + 0.4 * rng.random(3)
    for sigma, amp in ((max(height, width) / 16, 0.15), (3.0, 0.06), (0.8, 0.03)):
        tex = ndimage.gaussian_filter(rng.standard_normal((height, width)), sigma)
        img += amp * (tex / (tex.std() + 1e-8))[..., None]
    img += rng.normal(0, 0.01, img.shape)
    return np.clip(img, 0, 1).astype(np.float32)
