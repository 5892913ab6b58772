"""Retrain the project's default model from scratch (one command):

    python tools/train_default.py            # about 48 minutes on 2 CPU cores

Recipe ``default`` (pirm_enhance.training.recipes): RSGUNet at width 12 with a
residual output (starts as the identity), L1 + chroma + DPED colour + TV
losses, trained on synthetic (phone-like, original) pairs made from the 100
Apache-2.0 photos of the ``ai-benchmark`` package with the camera-pipeline
degradation (pirm_enhance.data.degrade.CameraPipeline, 30% of the pairs from
mosaic-free sensors: no false colour at edges), 10% of the photos held
out. The checkpoint kept is the one with the best held-out PSNR. Writes
models/default.keras and the model card models/default.json, with the
colour-fidelity figures (pirm_enhance.colour) on the held-out photos. The 400
PIRM validation pairs are only used at the end, to report (never to choose).
``--card-only`` recomputes the card of an existing run.
"""

import argparse
import json
import os
import pathlib
import shutil
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RECIPE = "default"
SEED = 0


def photo_folder():
    from pirm_enhance.data.photos import ai_benchmark_photos

    photos = ai_benchmark_photos()
    if not photos:
        raise SystemExit("install the photos first: pip install --no-deps ai-benchmark==0.1.2")
    folder = pathlib.Path(tempfile.mkdtemp(prefix="pirm_photos_"))
    for path in photos:
        shutil.copy(path, folder / path.name)
    return folder


def run_training(args):
    from pirm_enhance.training import train

    start = time.time()
    result = train(RECIPE, f"synthetic:{photo_folder()}", steps=args.steps, workdir=args.workdir, seed=SEED,
                   checkpoint_every=500, validate_every=500, vgg_weights=None, progress=True)
    wall = max(time.time() - start, result["history"][-1]["seconds"] if result["history"] else 0)
    return wall


def write_card(args, wall=None):
    import pirm_enhance as pe
    from pirm_enhance import colour
    from pirm_enhance.training import recipe

    workdir = pathlib.Path(args.workdir)
    history = json.loads((workdir / "history.json").read_text())
    best = max(history, key=lambda h: h["val_psnr"])
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model = pe.zoo.load_keras_file(workdir / "best_generator.keras")
    pe.zoo.save_keras_file(model, out / "default.keras")
    rec = recipe(RECIPE)
    fidelity = colour.fidelity_report(model)
    card = {
        "name": "default",
        "architecture": rec["arch"],
        "config": rec["arch_config"],
        "parameters": model.count_params(),
        "recipe": {"name": RECIPE, "terms": {k: rec[k] for k in ("l1", "chroma", "hue", "color", "tv") if rec.get(k)},
                   "lr": rec["lr"], "lr_decay": rec["lr_decay"], "lr_decay_every": rec["lr_decay_every"],
                   "seed": SEED, "noise_floor": bool(rec.get("noise_floor")),
                   "full_rgb_share": float(rec.get("full_rgb_share") or 0.0),
                   "note": "no VGG or adversarial term: nothing is downloaded where this model is built"},
        "data": {"source": "ai-benchmark 0.1.2 (Apache-2.0), ai_benchmark/data/enhancement, 100 photos 1024x682",
                 "pairs": "synthetic: pirm_enhance.data.degrade.CameraPipeline (Brooks et al. 2019 unprocessing "
                          "+ a cheap phone's forward pipeline"
                          + (", with its noise-floor correction" if rec.get("noise_floor") else "")
                          + (f", {rec['full_rgb_share']:.0%} of the pairs from mosaic-free sensors"
                             if rec.get("full_rgb_share") else "")
                          + "), random 128x128 crops, flips and rotations",
                 "held_out_photos": colour.held_out_names()},
        "steps": history[-1]["step"], "chosen_step": best["step"],
        "selection": "the step with the best PSNR on the held-out photos' synthetic pairs",
        "batch_size": rec["batch_size"], "patch_size": rec["patch_size"],
        "wall_time_s": round(wall if wall else history[-1]["seconds"], 1), "machine": f"{os.cpu_count()} CPU cores",
        "metrics": {"synthetic_held_out": {"psnr": best["val_psnr"], "ms_ssim": best["val_ms_ssim"],
                                           "do_nothing_psnr": best["val_input_psnr"]},
                    "colour_fidelity": fidelity},
        "history": [{k: round(v, 4) for k, v in h.items()} for h in history],
    }
    data_dir = os.environ.get("PIRM_DATA_DIR")
    if data_dir and pathlib.Path(data_dir, "dped").is_dir():
        real = pe.evaluate(model, data_dir=data_dir, progress=False)
        card["metrics"]["pirm_validation_400"] = {
            "psnr": real["psnr"], "ms_ssim": real["ms_ssim"], "infinite_psnr": real["infinite_psnr"],
            "note": "reported only; never used for training or selection"}
    (out / "default.json").write_text(json.dumps(card, indent=1, default=float) + "\n")
    print(json.dumps(card["metrics"], indent=1, default=float))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=None, help="default: the recipe's")
    p.add_argument("--workdir", default="runs/default")
    p.add_argument("--out", default=str(ROOT / "models"))
    p.add_argument("--card-only", action="store_true", help="only (re)write the card of an existing run")
    p.add_argument("--no-card", action="store_true", help="only train")
    args = p.parse_args(argv)
    wall = None if args.card_only else run_training(args)
    if not args.no_card:
        write_card(args, wall)


if __name__ == "__main__":
    main()
