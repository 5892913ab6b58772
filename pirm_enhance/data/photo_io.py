"""Reading and writing real photos: orientation, odd formats, limits, atomic writes.

* EXIF orientation is applied (the pixels are turned upright; the written
  file carries orientation 1).
* Grayscale (L, I;16) is enhanced as RGB with equal channels and written as RGB.
* RGBA / LA: colour is enhanced, alpha is kept unchanged (PNG/WebP output; a
  JPEG output drops it and says so).
* 16-bit PNG: read at 16 bits and, for PNG output, written at 16 bits.
* CMYK JPEG: converted to RGB by Pillow.
* Anything else (floating-point TIFF, palettes with odd modes, ...) is refused
  with one line. Images over ``max_pixels`` are refused before decoding
  (decompression bombs). Corrupt or truncated files give one line.
"""

import dataclasses
import io
import pathlib
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from pirm_enhance.data.io import ImageError, write_atomic

DEFAULT_MAX_PIXELS = 100_000_000
_ORIENT = {2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
           5: lambda a: np.swapaxes(a, 0, 1), 6: lambda a: np.swapaxes(a, 0, 1)[:, ::-1],
           7: lambda a: np.swapaxes(a, 0, 1)[::-1, ::-1], 8: lambda a: np.swapaxes(a, 0, 1)[::-1]}


@dataclasses.dataclass
class Photo:
    rgb: np.ndarray  # [H, W, 3] float32 in [0, 1]
    alpha: np.ndarray = None  # [H, W] float32 in [0, 1], or None
    bits: int = 8
    source_mode: str = "RGB"
    exif: bytes = b""
    icc_profile: bytes = None
    notes: tuple = ()


def _png_bit_depth(path):
    with open(path, "rb") as f:
        head = f.read(25)
    if head[:8] == b"\x89PNG\r\n\x1a\n" and len(head) == 25:
        return head[24]
    return None


def read_photo(path, max_pixels=DEFAULT_MAX_PIXELS):
    """A :class:`Photo` from an image file; :class:`ImageError` with one line otherwise."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: no such file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            saved_limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
            try:
                im = Image.open(path)
            finally:
                Image.MAX_IMAGE_PIXELS = saved_limit
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image, or a format Pillow cannot read") from None
    except OSError as err:
        raise ImageError(f"{path}: cannot open ({err})") from None
    with im:
        w, h = im.size
        if w * h > max_pixels:
            raise ImageError(f"{path}: {w}x{h} is {w * h / 1e6:.0f} MP, over the {max_pixels / 1e6:.0f} MP limit "
                             "(raise it with --max-pixels if the file is trusted)")
        notes = []
        try:
            exif = im.getexif()  # Pillow loads a PNG to find its EXIF: a truncated one fails here
            orientation = exif.get(0x0112, 1)
            icc = im.info.get("icc_profile")
            if icc and icc[16:20] != b"RGB ":  # a grayscale or CMYK profile would mislabel the RGB output
                notes.append(f"its {icc[16:20].decode('latin-1').strip() or 'non-RGB'} colour profile "
                             "left out of the RGB output")
                icc = None
            if im.format == "PNG" and _png_bit_depth(path) == 16:
                return _read_png16(path, orientation, exif, icc)
            im.load()
        except ImageError:  # already one clear line (16-bit PNG path)
            raise
        except Exception as err:
            raise ImageError(f"{path}: corrupt or truncated image ({str(err).splitlines()[0]})") from None
        mode = im.mode
        upright = ImageOps.exif_transpose(im) if orientation != 1 else im
        if orientation != 1:
            notes.append(f"EXIF orientation {orientation} applied")
        alpha = None
        if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in im.info):
            rgba = upright.convert("RGBA")
            alpha = np.asarray(rgba)[..., 3].astype(np.float32) / 255.0
            rgb = rgba.convert("RGB")
        elif mode in ("RGB", "L", "P", "1", "CMYK", "YCbCr"):
            rgb = upright.convert("RGB")
            if mode == "CMYK":
                notes.append("CMYK converted to RGB")
            if mode in ("L", "1"):
                notes.append("grayscale enhanced as RGB")
        elif mode in ("I;16", "I;16B", "I;16L", "I"):
            arr = np.asarray(upright).astype(np.float32)
            scale = 65535.0 if mode.startswith("I;16") or arr.max() > 255 else 255.0
            gray = np.clip(arr / scale, 0, 1)
            exif_bytes = _exif_bytes(exif)
            return Photo(np.repeat(gray[..., None], 3, axis=-1), None, 16, mode, exif_bytes, icc,
                         tuple(notes + ["16-bit grayscale enhanced as RGB"]))
        else:
            raise ImageError(f"{path}: unsupported pixel format {mode} (use 8/16-bit RGB, RGBA or grayscale)")
        arr = np.asarray(rgb).astype(np.float32) / 255.0
        return Photo(arr, alpha, 8, mode, _exif_bytes(exif), icc, tuple(notes))


def _exif_bytes(exif):
    if not exif:
        return b""
    exif[0x0112] = 1
    return exif.tobytes()


def _read_png16(path, orientation, exif, icc):
    import tensorflow as tf

    try:
        arr = tf.io.decode_png(pathlib.Path(path).read_bytes(), channels=0, dtype=tf.uint16).numpy()
    except Exception as err:
        raise ImageError(f"{path}: corrupt 16-bit PNG ({str(err).splitlines()[0]})") from None
    arr = arr.astype(np.float32) / 65535.0
    if orientation in _ORIENT:
        arr = _ORIENT[orientation](arr)
    channels = arr.shape[-1]
    alpha = arr[..., -1] if channels in (2, 4) else None
    color = arr[..., :3] if channels >= 3 else np.repeat(arr[..., :1], 3, axis=-1)
    notes = ["16-bit PNG"] + (["grayscale enhanced as RGB"] if channels in (1, 2) else [])
    return Photo(np.ascontiguousarray(color), alpha, 16, f"PNG16/{channels}ch", _exif_bytes(exif), icc, tuple(notes))


def encode_photo(rgb, fmt, alpha=None, bits=8, quality=95, exif=b"", icc_profile=None):
    """Encoded bytes of an enhanced photo; ``fmt`` is ``jpeg``, ``png`` or ``webp``."""
    rgb = np.clip(np.asarray(rgb, np.float32), 0, 1)
    if fmt == "png" and bits == 16:
        import tensorflow as tf

        channels = [rgb] + ([alpha[..., None]] if alpha is not None else [])
        arr = np.round(np.concatenate(channels, axis=-1) * 65535).astype(np.uint16)
        return tf.io.encode_png(arr).numpy()
    arr = np.round(rgb * 255).astype(np.uint8)
    if alpha is not None and fmt in ("png", "webp"):
        a = np.round(np.clip(alpha, 0, 1) * 255).astype(np.uint8)
        im = Image.fromarray(np.concatenate([arr, a[..., None]], axis=-1), "RGBA")
    else:
        im = Image.fromarray(arr, "RGB")
    kwargs = {}
    if exif:
        kwargs["exif"] = exif
    if icc_profile:
        kwargs["icc_profile"] = icc_profile
    buf = io.BytesIO()
    if fmt == "jpeg":
        im.save(buf, "JPEG", quality=quality, **kwargs)
    elif fmt == "webp":
        im.save(buf, "WEBP", quality=quality, **kwargs)
    else:
        im.save(buf, "PNG", **kwargs)
    return buf.getvalue()


def write_photo(path, rgb, photo=None, quality=95, keep_metadata=True, overwrite=True):
    """Write an enhanced photo atomically; the format follows the suffix. Returns notes.

    ``overwrite=False``: an existing file is not replaced
    (:class:`~pirm_enhance.data.io.OutputExists`). The file gets the user's umask."""
    path = pathlib.Path(path)
    fmt = {".jpg": "jpeg", ".jpeg": "jpeg", ".png": "png", ".webp": "webp"}.get(path.suffix.lower())
    if fmt is None:
        raise ImageError(f"{path}: write .jpg, .png or .webp")
    photo = photo or Photo(rgb)
    notes = []
    if photo.alpha is not None and fmt == "jpeg":
        notes.append("alpha dropped (JPEG has none; write .png to keep it)")
    bits = photo.bits if fmt == "png" else 8
    data = encode_photo(rgb, fmt, photo.alpha if fmt != "jpeg" else None, bits, quality,
                        photo.exif if keep_metadata else b"", photo.icc_profile if keep_metadata else None)
    write_atomic(path, data, overwrite=overwrite)
    return notes
