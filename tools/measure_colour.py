"""Colour / fidelity measurements for issue 11 (the default model's orange-brown foliage).

Measures an image (or a model's output) against its clean original:

* ``hue``: saturation-weighted mean absolute hue difference (degrees) over the
  coloured pixels of the clean image (HSV saturation >= 0.15 and value >= 0.08
  there; weight = clean saturation);
* ``hue_green``: the same over the clean image's green pixels (hue 70..170 deg);
* ``psnr`` vs clean (images in [0, 1], clipped);
* ``clip``: fraction of pixels >= 250/255 in every channel;
* ``gain``: per-channel mean(image) / mean(clean);
* ``border``: mean of (left col 0, left col 3, right col -1, right col -4,
  top row 0, top row 3, bottom row -1, bottom row -4), 0..255.

Usage::

    # the bundled samples through models (whole image and tiled), against the ai-benchmark originals
    python tools/measure_colour.py samples --models default ppcn_teacher.paper [--tiled]
    # any image against its clean original
    python tools/measure_colour.py measure CLEAN IMAGE [IMAGE ...]
    # a clean photo only darkened/flattened (steps 1 of the degradation, no cast) through models
    python tools/measure_colour.py clean --photos 0 1 --models default
    # what the degradation does to colour over many draws (per-channel gain, hue shift)
    python tools/measure_colour.py degradation --draws 200

Environment: KERAS_BACKEND=tensorflow PIRM_WEIGHTS_DIR=/work/shared/pretrained.
"""

import argparse
import pathlib
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SAT_MIN, VAL_MIN = 0.15, 0.08
GREEN = (70.0, 170.0)


def rgb_to_hsv(img):
    """``[..., 3]`` in [0, 1] -> hue (degrees), saturation, value."""
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
    d = np.abs(h1 - h2) % 360
    return np.minimum(d, 360 - d)


def measure(clean, image):
    """Dict of the measurements of ``image`` against ``clean`` (both ``[H, W, 3]`` in [0, 1])."""
    clean = np.clip(np.asarray(clean, np.float64), 0, 1)
    image = np.clip(np.asarray(image, np.float64), 0, 1)
    hc, sc, vc = rgb_to_hsv(clean)
    hi, _, _ = rgb_to_hsv(image)
    coloured = (sc >= SAT_MIN) & (vc >= VAL_MIN)
    green = coloured & (hc >= GREEN[0]) & (hc <= GREEN[1])
    dh = hue_diff(hc, hi)

    def weighted(mask):
        w = sc * mask
        return float((dh * w).sum() / max(w.sum(), 1e-9))

    mse = float(np.mean((clean - image) ** 2))
    u8 = np.round(image * 255)
    border = lambda a: float(np.mean(a))  # noqa: E731
    return {
        "hue": weighted(coloured), "hue_green": weighted(green),
        "green_frac": float(green.mean()),
        "psnr": 10 * np.log10(1.0 / max(mse, 1e-12)),
        "clip": float((u8 >= 250).all(-1).mean()),
        "gain": (image.reshape(-1, 3).mean(0) / np.maximum(clean.reshape(-1, 3).mean(0), 1e-6)).round(3).tolist(),
        "border": [round(border(u8[:, i]), 1) for i in (0, 3, -1, -4)]
        + [round(border(u8[i]), 1) for i in (0, 3, -1, -4)],
    }


def fmt(label, m):
    return (f"{label:<34} hue {m['hue']:6.1f}  green {m['hue_green']:6.1f}  psnr {m['psnr']:6.2f}  "
            f"clip {100 * m['clip']:5.2f}%  gain {m['gain']}  border L0/L3/R0/R3/T0/T3/B0/B3 {m['border']}")


def _read(path):
    from pirm_enhance.data.io import read_float

    return read_float(path)


def _photos():
    from pirm_enhance.data.photos import ai_benchmark_photos

    return {p.stem: p for p in ai_benchmark_photos()}


def _enhancers(names, tiled):
    import keras

    import pirm_enhance as pe
    from pirm_enhance.enhancer import Enhancer

    out = {}
    for name in names:
        model = pe.load_model(name) if not name.endswith(".keras") else keras.models.load_model(name)
        whole = (lambda m: lambda x: np.asarray(m(x[None], training=False))[0])(model)
        out[name] = {"whole": whole}
        if tiled:
            out[name]["tiled"] = Enhancer(model)
    return out


def cmd_samples(args):
    photos = _photos()
    enh = _enhancers(args.models, args.tiled)
    for sample in sorted((ROOT / "samples").glob("phone_*.jpg")):
        stem = sample.stem.split("_", 1)[1]
        clean, phone = _read(photos[stem]), _read(sample)
        print(f"--- {sample.name}")
        print(fmt("clean (self)", measure(clean, clean)))
        print(fmt("input", measure(clean, phone)))
        for name, runs in enh.items():
            for how, run in runs.items():
                out = run(phone)
                print(fmt(f"{name} [{how}]", measure(clean, out)))
                if args.save:
                    from pirm_enhance.data.io import write_png

                    write_png(pathlib.Path(args.save) / f"{sample.stem}_{pathlib.Path(name).stem}_{how}.png", out)


def dark_flat(clean, exposure=0.8, contrast=0.8, gamma=1.05):
    """Step 1 of the degradation only (darker, flatter), no colour cast / noise / blur."""
    x = 0.5 + (clean * exposure - 0.5) * contrast
    return np.clip(x, 0, 1) ** gamma


def cmd_clean(args):
    photos = _photos()
    enh = _enhancers(args.models, False)
    for stem in args.photos:
        clean = _read(photos[stem])
        phone = dark_flat(clean).astype(np.float32)
        print(f"--- photo {stem} (darkened + flattened only)")
        print(fmt("input", measure(clean, phone)))
        for name, runs in enh.items():
            print(fmt(name, measure(clean, runs["whole"](phone))))


def cmd_measure(args):
    clean = _read(args.clean)
    for path in args.images:
        print(fmt(pathlib.Path(path).name, measure(clean, _read(path))))


def cmd_degradation(args):
    """Per-channel gain and hue shift of the degradation on random crops, over many draws."""
    import tensorflow as tf

    from pirm_enhance.data.degrade import degrade

    photos = list(_photos().values())
    rng = np.random.default_rng(0)
    gains, hues, hue_signed = [], [], []
    for k in range(args.draws):
        clean = _read(photos[rng.integers(len(photos))])
        y, x = rng.integers(0, clean.shape[0] - 100), rng.integers(0, clean.shape[1] - 100)
        crop = clean[y:y + 100, x:x + 100]
        phone = degrade(crop, [args.seed, k], position=(y, x, clean.shape[0], clean.shape[1])).numpy()
        gains.append(phone.reshape(-1, 3).mean(0) / np.maximum(crop.reshape(-1, 3).mean(0), 1e-6))
        m = measure(crop, phone)
        hues.append(m["hue"])
        hc, sc, vc = rgb_to_hsv(crop)
        hp, _, _ = rgb_to_hsv(phone)
        mask = (sc >= SAT_MIN) & (vc >= VAL_MIN)
        if mask.any():
            d = ((hp - hc + 180) % 360 - 180)[mask]
            hue_signed.append(float(np.average(d, weights=sc[mask])))
    g = np.array(gains)
    print(f"draws {len(g)}: mean per-channel gain R/G/B {g.mean(0).round(4)}  sd {g.std(0).round(4)}")
    print(f"  mean G/R {np.mean(g[:, 1] / g[:, 0]):.4f}  B/R {np.mean(g[:, 2] / g[:, 0]):.4f}  "
          f"B/G {np.mean(g[:, 2] / g[:, 1]):.4f}")
    print(f"  hue error of the degraded crop: mean {np.mean(hues):.2f} deg; signed hue shift mean "
          f"{np.mean(hue_signed):+.2f} deg (sd {np.std(hue_signed):.2f})")
    del tf


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("samples")
    s.add_argument("--models", nargs="+", default=["default", "ppcn_teacher.paper"])
    s.add_argument("--tiled", action="store_true", help="also run through Enhancer (tiled, image-wide stats)")
    s.add_argument("--save", help="folder for the outputs (PNG)")
    c = sub.add_parser("clean")
    c.add_argument("--photos", nargs="+", default=["0", "1"])
    c.add_argument("--models", nargs="+", default=["default", "ppcn_teacher.paper"])
    m = sub.add_parser("measure")
    m.add_argument("clean")
    m.add_argument("images", nargs="+")
    d = sub.add_parser("degradation")
    d.add_argument("--draws", type=int, default=200)
    d.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    {"samples": cmd_samples, "clean": cmd_clean, "measure": cmd_measure, "degradation": cmd_degradation}[args.cmd](args)


if __name__ == "__main__":
    main()
