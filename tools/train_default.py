"""Retrain the project's default model from scratch (one command):

    python tools/train_default.py            # ~30 min on 2 CPU cores

Architecture PPCN teacher, recipe ``ppcn_teacher`` without its VGG and adversarial terms (no
VGG weights can be downloaded where this is built; see models/default.json),
trained on synthetic (phone-like, original) pairs made from the 100
Apache-2.0 photos of the ``ai-benchmark`` package, 10% of them held out.
Writes models/default.keras and the model card models/default.json. The 400
PIRM validation pairs are only used at the end, to report (never to choose).
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

RECIPE = "ppcn_teacher"
OVERRIDES = {"contextual": 0.0, "texture": 0.0, "lr": 1e-3, "lr_decay_every": 1000, "lr_decay": 0.5}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--workdir", default="runs/default")
    p.add_argument("--out", default=str(ROOT / "models"))
    args = p.parse_args(argv)

    from pirm_enhance.data.photos import ai_benchmark_photos
    from pirm_enhance.training import recipe, train

    photos = ai_benchmark_photos()
    if not photos:
        raise SystemExit("install the photos first: pip install --no-deps ai-benchmark==0.1.2")
    folder = pathlib.Path(tempfile.mkdtemp(prefix="pirm_photos_"))
    for path in photos:
        shutil.copy(path, folder / path.name)
    start = time.time()
    result = train(RECIPE, f"synthetic:{folder}", steps=args.steps, workdir=args.workdir,
                   batch_size=args.batch_size, patch_size=100, seed=0, checkpoint_every=250,
                   validate_every=250, vgg_weights=None, progress=False, **OVERRIDES)
    # a resumed run only adds its own time to the recorded seconds of the run it continues
    wall = max(time.time() - start, result["history"][-1]["seconds"] if result["history"] else 0)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / ".default.part.keras"
    result["generator"].save(tmp)
    os.replace(tmp, out / "default.keras")
    last = result["history"][-1]
    card = {
        "name": "default",
        "architecture": "ppcn_teacher",
        "parameters": result["generator"].count_params(),
        "recipe": {"name": RECIPE, "overrides": OVERRIDES,
                   "terms": {k: v for k, v in recipe(RECIPE, **OVERRIDES).items()
                             if k in ("ssim", "color", "tv", "texture", "contextual") and v},
                   "note": "the recipe's contextual (VGG-19) term is off: VGG weights cannot be "
                           "downloaded where this model is built"},
        "data": {"source": "ai-benchmark 0.1.2 (Apache-2.0), ai_benchmark/data/enhancement, 100 photos "
                           "1024x682", "pairs": "synthetic phone degradation (pirm_enhance.data.degrade, "
                           "default parameters), random 100x100 crops, flips and rotations",
                 "train_photos": result["train_items"], "held_out_photos": result["val_items"]},
        "steps": result["step"], "batch_size": args.batch_size, "patch_size": 100,
        "wall_time_s": round(wall, 1), "machine": f"{os.cpu_count()} CPU cores",
        "metrics": {"synthetic_held_out": {"psnr": last["val_psnr"], "ms_ssim": last["val_ms_ssim"],
                                           "do_nothing_psnr": last["val_input_psnr"]}},
        "history": [{k: round(v, 4) for k, v in h.items()} for h in result["history"]],
    }
    data_dir = os.environ.get("PIRM_DATA_DIR")
    if data_dir and pathlib.Path(data_dir, "dped").is_dir():
        import pirm_enhance as pe

        real = pe.evaluate(result["generator"], data_dir=data_dir, progress=False)
        card["metrics"]["pirm_validation_400"] = {"psnr": real["psnr"], "ms_ssim": real["ms_ssim"],
                                                  "infinite_psnr": real["infinite_psnr"],
                                                  "note": "reported only; never used for training or selection"}
    (out / "default.json").write_text(json.dumps(card, indent=1) + "\n")
    print(json.dumps(card["metrics"], indent=1))


if __name__ == "__main__":
    main()
