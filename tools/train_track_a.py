"""Train Track A (x4 super-resolution) reconstructions on the bundled photos and ship them with cards.

    python tools/train_track_a.py feqe kaist_sr        # about 15 minutes each on 2 CPU cores

Each architecture (a reconstruction from the PIRM 2018 report, see its module)
is trained with its team's recipe (``pirm-train --recipe <arch>``: the loss the
report states) at a budget this machine can afford (fewer steps, smaller
patches and batches than the teams', a higher learning rate; written in the
card), on Track A pairs cut from the 100 Apache-2.0 photos of the
``ai-benchmark`` package: each crop and its PIL bicubic x4 down/up version,
the organisers' protocol (``data.degrade.BicubicDownUp``), 10% of the photos
held out; the checkpoint kept is the one with the best held-out PSNR. Terms
that need downloaded VGG-19 weights are dropped (offline). Writes
``models/track_a/<arch>.keras`` and ``<arch>.json``. The five DIV2K validation
images are used only at the end, to report (never to choose): the trained
model against bicubic (doing nothing) and the organisers' ``srcnn.pirm_div2k``.
"""

import argparse
import json
import os
import pathlib
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

SEED = 0
SETTINGS = {"steps": 3000, "batch_size": 8, "patch_size": 96, "lr": 1e-3, "lr_decay": 0.5, "lr_decay_every": 1000,
            "lr_inverse_decay": 0.0, "content": 0.0}


def recipe_for(arch, steps=None):
    from pirm_enhance.training.recipes import recipe

    rec = recipe(arch, **SETTINGS)
    if steps:
        rec["steps"] = steps
    rec["source"] = (f"pirm-train --recipe {arch} (the team's loss, see its source) with tools/train_track_a.py's "
                     f"budget {SETTINGS}")
    return rec


def track_a_reference(data_dir):
    """Bicubic (doing nothing) and the organisers' SRCNN on the five DIV2K images."""
    import numpy as np

    import pirm_enhance as pe

    class Identity:
        name = "bicubic"

        def __call__(self, batch):
            return np.asarray(batch, np.float32)

    from pirm_enhance.scoring.track_a import fidelity_a, track_a_images

    files = track_a_images(data_dir)
    out = {"bicubic": fidelity_a(Identity(), files, progress=False)}
    if os.environ.get("PIRM_WEIGHTS_DIR"):
        out["srcnn.pirm_div2k"] = pe.evaluate("srcnn.pirm_div2k", data_dir=data_dir, track="A", progress=False)
    return {k: {"psnr": v["psnr"], "ms_ssim": v["ms_ssim"]} for k, v in out.items()}


def train_one(arch, args):
    from train_default import photo_folder

    import pirm_enhance as pe
    from pirm_enhance.training import train

    rec = recipe_for(arch, args.steps)
    workdir = pathlib.Path(args.workdir) / arch
    start = time.time()
    train(rec, f"synthetic:{photo_folder()}", workdir=workdir, seed=SEED, checkpoint_every=300,
          validate_every=300, vgg_weights=None, progress=True)
    wall = time.time() - start
    history = json.loads((workdir / "history.json").read_text())
    best = max(history, key=lambda h: h["val_psnr"])
    model = pe.zoo.load_keras_file(workdir / "best_generator.keras")
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pe.zoo.save_keras_file(model, out / f"{arch}.keras")
    terms = [k for k in ("l1", "mse", "ssim", "ms_ssim") if rec.get(k)]
    card = {
        "name": arch, "architecture": arch, "parameters": model.count_params(), "track": "A",
        "reconstruction": "pirm_enhance/archs: reconstructed from the PIRM 2018 challenge report; see the module",
        "recipe": {"name": arch, "terms": {k: rec[k] for k in terms},
                   **{k: rec[k] for k in ("lr", "lr_decay", "lr_decay_every", "lr_blur") if k in rec},
                   "dropped": "VGG content term (needs downloaded VGG-19 weights)" if arch == "feqe" else None},
        "seed": SEED, "steps": history[-1]["step"], "chosen_step": best["step"],
        "selection": "the step with the best PSNR on the held-out photos' Track A pairs",
        "batch_size": rec["batch_size"], "patch_size": rec["patch_size"],
        "data": {"source": "ai-benchmark 0.1.2 (Apache-2.0), ai_benchmark/data/enhancement, 100 photos",
                 "pairs": "pirm_enhance.data.degrade.BicubicDownUp (PIL bicubic x4 down/up), random crops"
                          + (", flips, rotations" if rec.get("augment", True) else "")},
        "wall_time_s": round(wall, 1), "machine": f"{os.cpu_count()} CPU cores",
        "metrics": {"synthetic_held_out": {"psnr": best["val_psnr"], "ms_ssim": best["val_ms_ssim"],
                                           "bicubic_psnr": best["val_input_psnr"]}},
        "history": [{k: round(v, 4) for k, v in h.items()} for h in history],
    }
    data_dir = os.environ.get("PIRM_DATA_DIR")
    if data_dir and pathlib.Path(data_dir, "div2k").is_dir():
        mine = pe.evaluate(model, data_dir=data_dir, track="A", progress=False)
        card["metrics"]["track_a_div2k_5"] = {
            "psnr": mine["psnr"], "ms_ssim": mine["ms_ssim"], "reference": track_a_reference(data_dir),
            "note": "the five DIV2K validation images, organisers' protocol; reported only, never used for "
                    "training or selection"}
    (out / f"{arch}.json").write_text(json.dumps(card, indent=1, default=float) + "\n")
    print(json.dumps({arch: card["metrics"]}, indent=1, default=float))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("archs", nargs="+", help="zoo architectures with a Track A recipe of the same name")
    p.add_argument("--steps", type=int, default=None, help=f"default {SETTINGS['steps']}")
    p.add_argument("--workdir", default="runs/track_a")
    p.add_argument("--out", default=str(ROOT / "models" / "track_a"))
    args = p.parse_args(argv)
    for arch in args.archs:
        train_one(arch, args)


if __name__ == "__main__":
    main()
