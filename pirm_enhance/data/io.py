"""Reading and writing images: one clear error per bad file, atomic writes."""

import os
import pathlib
import tempfile

import imageio.v3 as iio
import numpy as np


from pirm_enhance.errors import ImageError  # noqa: E402  (re-exported)


def read_rgb(path):
    """``[H, W, 3]`` uint8 RGB of an image file, as the organisers read it (PIL decoding)."""
    try:
        img = iio.imread(path)
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except Exception as err:
        raise ImageError(f"{path}: not a readable image ({str(err).splitlines()[0] if str(err) else type(err).__name__})") from None
    if img.dtype != np.uint8:
        raise ImageError(f"{path}: expected 8-bit image, found {img.dtype}")
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    if img.ndim != 3 or img.shape[-1] not in (3, 4):
        raise ImageError(f"{path}: expected an RGB image, found shape {img.shape}")
    return img[..., :3]


def read_float(path):
    """``[H, W, 3]`` float32 in [0, 1] (uint8 / 255, the organisers' scaling)."""
    return np.float32(read_rgb(path)) / np.float32(255)


def write_atomic(path, data: bytes):
    """Write bytes to ``path`` through a temporary file in the same folder and a rename."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_png(path, image):
    """Write a float [0, 1] or uint8 ``[H, W, 3]`` image as PNG, atomically."""
    img = np.asarray(image)
    if img.dtype != np.uint8:
        img = np.uint8(np.round(np.clip(img, 0, 1) * 255))
    write_atomic(path, iio.imwrite("<bytes>", img, extension=".png"))
