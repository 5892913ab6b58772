"""Fidelity metrics exactly as the PIRM 2018 organisers computed them.

``psnr``: ``tf.image.psnr(clip(out, 0, 1), clip(target, 0, 1), max_val=1)``
per image. ``ms_ssim``: the organisers' NumPy multi-scale SSIM (Wang,
Simoncelli and Bovik, "Multi-scale structural similarity for image quality
assessment", 2003, as in the organisers' validation script); see
docs PIRM2018.md section 2 for every constant.
"""

import numpy as np
from scipy import ndimage, signal

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def psnr(output, target, max_val=1.0):
    """Per-image PSNR in dB of ``[..., H, W, C]`` arrays in [0, 1], both clipped first.

    Returns a float for one image or an array for a batch; identical images
    give ``inf`` (the caller decides what to do with it).
    """
    out = np.clip(np.asarray(output, np.float32), 0, 1).astype(np.float64)
    tgt = np.clip(np.asarray(target, np.float32), 0, 1).astype(np.float64)
    mse = np.mean((out - tgt) ** 2, axis=(-3, -2, -1))
    with np.errstate(divide="ignore"):
        value = 20 * np.log10(max_val) - 10 * np.log10(mse)
    return float(value) if np.ndim(value) == 0 else value


def gaussian_window(size, sigma):
    """The MATLAB ``fspecial('gaussian')`` window used by the organisers (sums to 1)."""
    radius = size // 2
    offset = 0.5 if size % 2 == 0 else 0.0
    stop = radius if size % 2 == 0 else radius + 1
    grid = np.arange(-radius, stop, dtype=np.float64) + offset
    y, x = np.meshgrid(grid, grid, indexing="ij")
    g = np.exp(-((x ** 2 + y ** 2) / (2.0 * sigma ** 2)))
    return g / g.sum()


def _ssim_and_cs(img1, img2, max_val, filter_size=11, filter_sigma=1.5, k1=0.01, k2=0.03):
    _, height, width, _ = img1.shape
    size = min(filter_size, height, width)
    sigma = size * filter_sigma / filter_size
    window = gaussian_window(size, sigma).reshape(1, size, size, 1)

    def blur(a):
        return signal.fftconvolve(a, window, mode="valid")

    mu1, mu2 = blur(img1), blur(img2)
    mu11, mu22, mu12 = mu1 * mu1, mu2 * mu2, mu1 * mu2
    sigma11 = blur(img1 * img1) - mu11
    sigma22 = blur(img2 * img2) - mu22
    sigma12 = blur(img1 * img2) - mu12
    c1 = (k1 * max_val) ** 2
    c2 = (k2 * max_val) ** 2
    v1 = 2.0 * sigma12 + c2
    v2 = sigma11 + sigma22 + c2
    ssim = np.mean(((2.0 * mu12 + c1) * v1) / ((mu11 + mu22 + c1) * v2))
    cs = np.mean(v1 / v2)
    return ssim, cs


def ms_ssim(img1, img2, max_val=255.0, weights=MS_SSIM_WEIGHTS):
    """The organisers' MS-SSIM of ``[N, H, W, C]`` (or ``[H, W, C]``) arrays in 0..max_val.

    Five scales; between scales both images are box-filtered 2x2 with
    ``scipy.ndimage.convolve(mode='reflect')`` and subsampled by 2. Result
    ``prod(cs[:4] ** w[:4]) * ssim[4] ** w[4]``. The organisers called it with
    ``target * 255`` and the unclipped ``output * 255``.
    """
    im1 = np.asarray(img1, np.float64)
    im2 = np.asarray(img2, np.float64)
    if im1.shape != im2.shape:
        raise ValueError(f"ms_ssim: shapes differ, {im1.shape} vs {im2.shape}")
    if im1.ndim == 3:
        im1, im2 = im1[None], im2[None]
    if im1.ndim != 4:
        raise ValueError(f"ms_ssim: expected [N, H, W, C] arrays, got shape {im1.shape}")
    weights = np.asarray(weights, np.float64)
    box = np.full((1, 2, 2, 1), 0.25)
    ssims, css = [], []
    for level in range(weights.size):
        ssim, cs = _ssim_and_cs(im1, im2, max_val)
        ssims.append(ssim)
        css.append(cs)
        if level + 1 < weights.size:
            im1, im2 = (ndimage.convolve(a, box, mode="reflect")[:, ::2, ::2, :] for a in (im1, im2))
    css, ssims = np.array(css), np.array(ssims)
    with np.errstate(invalid="ignore"):  # a negative term to a fractional power is NaN, as in the original
        return float(np.prod(css[:-1] ** weights[:-1]) * ssims[-1] ** weights[-1])
