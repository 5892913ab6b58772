"""Colour / fidelity measurements for issue 11 (the default model's orange-brown foliage).

Measures an image (or a model's output) against its clean original with
pirm_enhance.colour.measure (the library's definitions; summary):

hue and green-hue error, PSNR, clipped, blotch, texture and border measures (see
its docstring).

Usage::

    # the bundled samples through models (whole image and tiled), against the ai-benchmark originals
    python tools/measure_colour.py samples --models default ppcn_teacher.paper [--tiled]
    # any image against its clean original
    python tools/measure_colour.py measure CLEAN IMAGE [IMAGE ...]
    # a clean photo made phone-like without a cast (pirm_enhance.colour.castfree_phone) through models
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

from pirm_enhance.colour import SAT_MIN, VAL_MIN, castfree_phone, measure, rgb_to_hsv  # noqa: E402


def fmt(label, m):
    green = "   -  " if m["hue_green"] is None else f"{m['hue_green']:6.1f}"
    return (f"{label:<34} hue {m['hue']:6.1f}  green {green}  psnr {m['psnr']:6.2f}  "
            f"clip {100 * m['clip']:5.2f}%  blotch {100 * m['blotch']:5.2f}%  texture {m['texture']:.4f}  "
            f"border {m['border']:5.1f}  gain {[round(g, 3) for g in m['gain']]}")


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


def cmd_clean(args):
    photos = _photos()
    enh = _enhancers(args.models, False)
    for stem in args.photos:
        clean = _read(photos[stem])
        phone = castfree_phone(clean)
        print(f"--- photo {stem} (cast-free phone-like: pirm_enhance.colour.castfree_phone)")
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
