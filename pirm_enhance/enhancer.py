"""``enhance``: run an enhancer on real photos of any size.

Keras models run tiled with image-wide statistics (:mod:`pirm_enhance.tiling`),
so peak memory follows the tile size. Frozen graphs and TFLite files cannot be
rewired that way: they run on the whole image up to ``whole_pixels`` and are
tiled with per-tile statistics beyond (a warning says so).
"""

import glob
import logging
import os
import pathlib
import sys

import numpy as np

from pirm_enhance.data.io import ImageError
from pirm_enhance.data.photo_io import DEFAULT_MAX_PIXELS, read_photo, write_photo

log = logging.getLogger(__name__)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")


class Enhancer:
    """A loaded model ready for photos: ``Enhancer("default")(rgb) -> rgb``."""

    def __init__(self, model="default", tile=512, overlap=64, stats_pixels=500_000, whole_pixels=2_000_000):
        """``stats_pixels``: resolution of the statistics pass for photos over 1280x736."""
        import keras

        from pirm_enhance.runners import make_runner

        self.runner = make_runner(model)  # names ("default" too), keras.Model, any model file
        self.name = getattr(self.runner, "name", str(model))
        self.whole_pixels = whole_pixels
        self.tiled = None
        if isinstance(getattr(self.runner, "model", None), keras.Model):
            from pirm_enhance.tiling import TiledModel

            self.tiled = TiledModel(self.runner.model, tile=tile, overlap=overlap, stats_pixels=stats_pixels)
        self.tile, self.overlap = tile, overlap

    def __call__(self, rgb, progress=None):
        rgb = np.asarray(rgb)
        if rgb.dtype == np.uint8:
            rgb = rgb.astype(np.float32) / 255.0
        rgb = rgb.astype(np.float32)
        if self.tiled is not None:
            return self.tiled(rgb, progress=progress)
        h, w = rgb.shape[:2]
        if h * w <= self.whole_pixels:
            return self.runner(rgb[None])[0]
        log.warning("%s is not a Keras model: tiles use their own statistics (seams possible); "
                    "use the .keras model for image-wide statistics", self.name)
        from pirm_enhance.tiling import blend_tiles

        return blend_tiles(lambda crop: self.runner(crop[None])[0], rgb, self.tile, self.overlap, progress)


def enhance(model, image, **kwargs):
    """Enhance one image (``[H, W, 3]`` array, uint8 or float in [0, 1], or a path).

    ``model``: a ``keras.Model``, zoo/pretrained name, ``"default"``, or a
    ``.keras`` / ``.pb`` / ``.tflite`` path. Returns float32 ``[H, W, 3]``
    (unclipped network output; clip before saving).
    """
    enhancer = model if isinstance(model, Enhancer) else Enhancer(model, **kwargs)
    if isinstance(image, (str, os.PathLike)):
        image = read_photo(image).rgb
    return enhancer(image)


def expand_inputs(inputs):
    """Files from paths, folders (their images, sorted) and glob patterns, in order, unique."""
    out, seen = [], set()
    for item in inputs:
        item = str(item)
        if os.path.isdir(item):
            found = sorted(p for p in pathlib.Path(item).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        elif any(c in item for c in "*?["):
            found = sorted(pathlib.Path(p) for p in glob.glob(item, recursive=True))
        else:
            found = [pathlib.Path(item)]
        for p in found:
            if p not in seen:
                seen.add(p)
                out.append(p)
    return out


def _side_by_side(before, after):
    gap = np.ones((before.shape[0], 8, 3), np.float32)
    return np.concatenate([before, gap, np.clip(after, 0, 1)], axis=1)


def enhance_files(inputs, outdir, model="default", output_format=None, quality=95, keep_metadata=True,
                  compare=False, max_pixels=DEFAULT_MAX_PIXELS, suffix="", progress=True, **kwargs):
    """Enhance every input file into ``outdir``; returns ``{"written": [...], "failed": [(path, msg)]}``.

    A file that cannot be read or written gets one line on stderr and the batch
    goes on. ``output_format``: ``jpg``, ``png``, ``webp`` or ``None`` (same as
    input, PNG for other inputs). ``compare`` also writes ``<name>_compare.png``
    (input | output).
    """
    from pirm_enhance.data.io import write_png
    from pirm_enhance.progress import Progress

    enhancer = model if isinstance(model, Enhancer) else Enhancer(model, **kwargs)
    outdir = pathlib.Path(outdir)
    files = expand_inputs(inputs)
    written, failed = [], []
    for path in Progress(files, f"enhance ({enhancer.name})", enabled=progress):
        try:
            photo = read_photo(path, max_pixels=max_pixels)
            ext = output_format or path.suffix.lower().lstrip(".")
            ext = {"jpeg": "jpg", "tif": "png", "tiff": "png", "bmp": "png"}.get(ext, ext)
            if ext not in ("jpg", "png", "webp"):
                ext = "png"
            target = outdir / f"{path.stem}{suffix}.{ext}"
            out = enhancer(photo.rgb)
            notes = list(photo.notes) + write_photo(target, out, photo, quality=quality, keep_metadata=keep_metadata)
            if compare:
                write_png(outdir / f"{path.stem}{suffix}_compare.png", _side_by_side(photo.rgb, out))
            written.append(str(target))
            if notes:
                print(f"{path}: {'; '.join(notes)}", file=sys.stderr)
        except (ImageError, OSError, ValueError) as err:
            msg = str(err) if str(path) in str(err) else f"{path}: {err}"
            print(f"skipped {msg}", file=sys.stderr)
            failed.append((str(path), msg))
    return {"written": written, "failed": failed}
