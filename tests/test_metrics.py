"""The scorer's metrics against independent implementations of the organisers' definitions."""

import numpy as np
import pytest
import tensorflow as tf
from scipy import ndimage, signal

from pirm_enhance.data.io import read_float
from pirm_enhance import metrics


def reference_ms_ssim(a, b):
    """A second, loop-based implementation of PIRM2018.md section 2 (one image,
    direct 2-D convolution per channel, explicit reflect padding for the box
    filter) to cross-check the vectorised scorer."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    weights = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333]
    ssims, css = [], []
    for level in range(5):
        h, w, _ = a.shape
        size = min(11, h, w)
        sigma = size * 1.5 / 11
        centre = (size - 1) / 2.0
        g = np.array([[np.exp(-((i - centre) ** 2 + (j - centre) ** 2) / (2 * sigma ** 2))
                       for j in range(size)] for i in range(size)])
        g /= g.sum()

        def blur(img):
            # 'valid' over H, W with the window, then summed over channels' own maps
            return np.stack([signal.convolve2d(img[..., c], g, mode="valid")
                             for c in range(img.shape[-1])], -1)

        mu1, mu2 = blur(a), blur(b)
        s11 = blur(a * a) - mu1 ** 2
        s22 = blur(b * b) - mu2 ** 2
        s12 = blur(a * b) - mu1 * mu2
        c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
        v1, v2 = 2 * s12 + c2, s11 + s22 + c2
        ssims.append(np.mean((2 * mu1 * mu2 + c1) * v1 / ((mu1 ** 2 + mu2 ** 2 + c1) * v2)))
        css.append(np.mean(v1 / v2))

        def down(img):
            # scipy.ndimage.convolve with a 2x2 box averages pixel i with i+1,
            # the last one with its mirror ('reflect' repeats the edge pixel)
            p = np.pad(img, ((0, 1), (0, 1), (0, 0)), mode="symmetric")
            box = (p[:-1, :-1] + p[1:, :-1] + p[:-1, 1:] + p[1:, 1:]) / 4.0
            return box[::2, ::2]

        a, b = down(a), down(b)
    return np.prod(np.array(css[:4]) ** weights[:4]) * ssims[4] ** weights[4]


def _pairs(rng, data_dir=None):
    pairs = []
    base = rng.random((100, 100, 3)) * 255
    pairs.append((base, np.clip(base + rng.normal(0, 12, base.shape), 0, 255)))
    pairs.append((base[:37, :91], 0.7 * base[:37, :91] + 40))
    odd = rng.random((64, 51, 3)) * 255
    pairs.append((odd, ndimage.gaussian_filter(odd, (1.2, 0.7, 0)) + 3.0))
    return pairs


def test_ms_ssim_matches_independent_implementation(rng):
    for a, b in _pairs(rng):
        got = metrics.ms_ssim(a[None], b[None])
        want = reference_ms_ssim(a, b)
        assert abs(got - want) < 1e-6, (got, want)


def test_ms_ssim_on_real_patches(data_dir):
    for n in (0, 17, 399):
        phone = read_float(data_dir / "dped/patches/iphone" / f"{n}.jpg") * 255.0
        canon = read_float(data_dir / "dped/patches/canon" / f"{n}.jpg") * 255.0
        got = metrics.ms_ssim(canon[None], phone[None])
        assert abs(got - reference_ms_ssim(canon, phone)) < 1e-6
        assert 0.3 < got < 1.0


def test_ms_ssim_identity_and_errors(rng):
    a = rng.random((1, 40, 40, 3)) * 255
    assert metrics.ms_ssim(a, a) == pytest.approx(1.0, abs=1e-12)
    with pytest.raises(ValueError, match="shapes differ"):
        metrics.ms_ssim(a, a[:, :30])


def test_gaussian_window_even_and_odd():
    for size in (11, 6, 5):
        g = metrics.gaussian_window(size, size * 1.5 / 11)
        assert g.shape == (size, size)
        assert g.sum() == pytest.approx(1.0)
        np.testing.assert_allclose(g, g[::-1, ::-1])


def test_psnr_equals_tf_image_psnr_with_clipping(rng):
    out = rng.normal(0.5, 0.4, (3, 20, 30, 3)).astype("float32")
    tgt = rng.random((3, 20, 30, 3), dtype=np.float32)
    want = tf.image.psnr(np.clip(out, 0, 1), np.clip(tgt, 0, 1), max_val=1.0).numpy()
    np.testing.assert_allclose(metrics.psnr(out, tgt), want, atol=1e-4)
    assert metrics.psnr(tgt[0], tgt[0]) == float("inf")
