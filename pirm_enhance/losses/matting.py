"""The Matting Laplacian of Levin, Lischinski and Weiss, "A closed-form solution to
natural image matting" (IEEE TPAMI 30(2), 2008), equation 12, as a sparse matrix.

MPSE's photorealism term (thesis "DPED+, MPSE and MDIE", section 3.1.2, the
``L_m`` equation) is ``sum_c V_c[O]^T M_I V_c[O]`` with ``M_I`` this matrix of
the input image ``I`` (:func:`pirm_enhance.losses.mpse.photorealism_loss`), as
in Luan et al., "Deep photo style transfer" (CVPR 2017), equation 2.

For every ``(2r+1) x (2r+1)`` window ``w_k`` lying wholly inside the image,
with ``n = |w_k|`` pixels, colour mean ``mu_k`` and colour covariance
``Sigma_k`` (the population one, divided by ``n``)::

    M[i, j] = sum_{k: i, j in w_k} ( delta_ij - (1 + (I_i - mu_k)^T (Sigma_k + eps/n E)^-1 (I_j - mu_k)) / n )

(``E`` the identity). Every row sums to 0, ``M`` is symmetric and positive
semi-definite, and the constant vector and (up to ``eps``) every channel of
``I`` lie in its null space: ``V^T M V`` is near 0 for any ``V`` that is
locally an affine function of ``I``'s colours.

Memory: pixel ``i`` and pixel ``j`` share a window only when they are at most
``2r`` apart in each direction, so each row has at most ``(4r+1)^2`` entries
(25 for ``r = 1``). The matrix is built straight into CSR form from one dense
``[H, W]`` array per neighbour offset, windows processed in chunks of rows:
for a 1 MP image and ``r = 1`` that is about 0.5 GB at the peak (the result,
25 M float64 entries, is 0.3 GB).
"""

import numpy as np
from scipy import sparse

from pirm_enhance.errors import ImageError, UsageError
from pirm_enhance.segment import unit_scale

CHUNK_WINDOWS = 65_536  # windows per vectorised chunk: about 50 MB of temporaries for r = 1


def matting_laplacian(image, eps=1e-7, radius=1):
    """The ``(H W) x (H W)`` Matting Laplacian of ``image`` (``[H, W, C]``, float in [0, 1]
    or uint8) as a ``scipy.sparse.csr_matrix`` of float64; pixels in row-major order
    (index ``y * W + x``, as ``image.reshape(-1, C)``).

    Levin et al. 2008, eq. 12 (module docstring); ``eps`` regularises each window's
    covariance (their default 1e-7), ``radius`` is the window's half size (1: 3x3
    windows). An image smaller than one window gives the zero matrix.
    """
    image = np.asarray(image)
    if image.ndim != 3 or min(image.shape) < 1:
        raise ImageError(f"matting_laplacian needs an [H, W, C] image; got shape {tuple(image.shape)}")
    image = unit_scale(image, "matting_laplacian's image", np.float64)
    if not np.isfinite(image).all():
        raise ImageError("matting_laplacian: the image holds NaN or infinite values")
    radius = int(radius)
    if radius < 1 or not eps > 0:
        # eps = 0 leaves a flat window's covariance singular (a clipped sky has many)
        raise UsageError(f"matting_laplacian: radius must be >= 1 and eps > 0 (Levin et al. use 1e-7); got radius "
                         f"{radius}, eps {eps}")
    h, w, c = image.shape
    size = 2 * radius + 1
    n = size * size
    span = 4 * radius + 1  # neighbour offsets -2r..2r in each direction
    wh, ww = h - size + 1, w - size + 1  # window positions (top-left corners)
    if wh < 1 or ww < 1:
        return sparse.csr_matrix((h * w, h * w))
    acc = np.zeros((span * span, h, w))
    windows = np.lib.stride_tricks.sliding_window_view(image, (size, size), axis=(0, 1))
    rows_per_chunk = max(1, CHUNK_WINDOWS // ww)
    ay, ax = np.divmod(np.arange(n), size)  # position of each window pixel
    for top in range(0, wh, rows_per_chunk):
        bottom = min(wh, top + rows_per_chunk)
        # [k, n, C]: the window's pixels in row-major order within the window
        pix = windows[top:bottom].reshape(-1, c, n).transpose(0, 2, 1)
        mu = pix.mean(axis=1, keepdims=True)
        d = pix - mu
        cov = np.einsum("kna,knb->kab", d, d) / n + (eps / n) * np.eye(c)
        q = np.linalg.solve(cov, d.transpose(0, 2, 1))  # [k, C, n] = Sigma^-1 (I_j - mu)
        values = -(1.0 + np.einsum("kac,kcb->kab", d, q)) / n  # [k, n, n]
        values[:, np.arange(n), np.arange(n)] += 1.0
        values = values.reshape(bottom - top, ww, n, n)
        for a in range(n):
            for b in range(n):
                o = (ay[b] - ay[a] + 2 * radius) * span + (ax[b] - ax[a] + 2 * radius)
                acc[o, top + ay[a]:bottom + ay[a], ax[a]:ax[a] + ww] += values[:, :, a, b]
    return _offsets_to_csr(acc, h, w, radius)


def _offsets_to_csr(acc, h, w, radius):
    """CSR matrix from ``acc[o, y, x]`` = entry between pixel ``(y, x)`` and pixel ``(y, x) + offset o``
    (``acc`` is consumed: emptied to save memory)."""
    span = 4 * radius + 1
    dy, dx = np.divmod(np.arange(span * span), span)
    dy, dx = dy - 2 * radius, dx - 2 * radius
    ys, xs = np.arange(h)[:, None, None], np.arange(w)[None, :, None]
    valid = ((ys + dy >= 0) & (ys + dy < h) & (xs + dx >= 0) & (xs + dx < w)).reshape(h * w, -1)
    index_type = np.int32 if h * w + span * w < 2 ** 31 and valid.sum() < 2 ** 31 else np.int64
    data = acc.reshape(span * span, h * w).T[valid]
    acc.resize(0, refcheck=False)
    columns = (np.arange(h * w, dtype=index_type)[:, None] + (dy * w + dx).astype(index_type)[None, :])[valid]
    indptr = np.zeros(h * w + 1, index_type)
    np.cumsum(valid.sum(1), out=indptr[1:])
    out = sparse.csr_matrix((data, columns, indptr), shape=(h * w, h * w))
    if w <= 4 * radius:  # else the offsets' order (dy, dx) is already the columns' order
        out.has_sorted_indices = False
        out.sort_indices()
    return out


__all__ = ["matting_laplacian"]
