"""Regenerate samples/: phone-like versions of three held-out ai-benchmark photos.

The photos come from the ai-benchmark package (Apache-2.0, Andrey Ignatov;
``ai_benchmark/data/enhancement/``); they are degraded with the project's
phone model (pirm_enhance.data.degrade.PhoneDegradation, the first, hand-ranged
model, default parameters, fixed seeds).
They are held out of the default model's training set.
"""

import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main():
    import numpy as np
    from PIL import Image

    from pirm_enhance.data import pairs
    from pirm_enhance.data.degrade import PhoneDegradation, degrade
    from pirm_enhance.data.io import read_float
    from pirm_enhance.data.photos import ai_benchmark_photos

    _, held = pairs.split_holdout([str(p) for p in ai_benchmark_photos()], 0.1)
    out = ROOT / "samples"
    out.mkdir(exist_ok=True)
    for i, path in enumerate(held[:3]):
        phone = degrade(read_float(path), [2018, i], PhoneDegradation()).numpy()
        name = f"phone_{pathlib.Path(path).stem}.jpg"
        Image.fromarray(np.uint8(np.round(phone * 255))).save(out / name, quality=90)
        print(out / name)


if __name__ == "__main__":
    main()
