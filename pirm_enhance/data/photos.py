"""Good photos that may be redistributed, for synthetic pairs, demos and tests.

The ``ai-benchmark`` package (Apache-2.0, Andrey Ignatov) ships 100 sharp
1024x682 street photos under ``ai_benchmark/data/enhancement/``. They are
located without importing the package (its ``__init__`` needs psutil and more).
"""

import importlib.util
import pathlib


def ai_benchmark_photos():
    """Sorted paths of the ai-benchmark enhancement photos, or ``[]`` if not installed."""
    spec = importlib.util.find_spec("ai_benchmark")
    if spec is None or not spec.submodule_search_locations:
        return []
    folder = pathlib.Path(list(spec.submodule_search_locations)[0]) / "data" / "enhancement"
    if not folder.is_dir():
        return []
    return sorted(folder.glob("*.jpg"), key=lambda p: (len(p.stem), p.stem))


def representative_images(paths=None, count=16, size=256, seed=0):
    """Calibration images for int8 TFLite: one ``size`` crop of each of ``paths`` (``size=None``:
    the whole photos); with ``paths=None`` of the first ``count`` bundled photos
    (:func:`ai_benchmark_photos`, the calibration of the 400-pair int8 figures in BUILD_NOTES),
    or ``count`` synthetic photos (``size`` square, 256 for whole photos) where they are not
    installed (the exporter and :mod:`pirm_enhance.quantize` share them)."""
    import numpy as np

    if paths is None:
        paths = ai_benchmark_photos()[:count]

    from pirm_enhance.data.io import read_float
    from pirm_enhance.data.synthetic import synthetic_photo

    images = []
    for path in paths or ():
        img = read_float(path)
        rng = np.random.default_rng(seed + len(images))
        h, w = img.shape[:2]
        ch, cw = (h, w) if size is None else (min(size, h), min(size, w))
        y, x = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
        images.append(img[y:y + ch, x:x + cw])
    while len(images) < count and not paths:
        images.append(synthetic_photo(size or 256, size or 256, seed=seed + len(images)))
    return images
