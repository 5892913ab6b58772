"""Train Track B reconstructions on the default model's data path and ship them with cards.

    python tools/train_reconstructions.py kaist_enh fccn_enh      # about 15 min each on 2 CPU cores

Each architecture (a reconstruction from the PIRM 2018 report, see its module)
is trained with the default model's recipe terms (L1 + chroma + DPED colour +
TV, no VGG or adversarial term: nothing is downloaded) on synthetic pairs made
from the 100 Apache-2.0 photos of the ``ai-benchmark`` package with
``data.degrade.CameraPipeline``, 10% of the photos held out; the checkpoint
kept is the one with the best held-out PSNR. This is not the team's own
training (their losses and the DPED data are in the ``<team>`` recipes of
``pirm-train``); it shows that the network, as reconstructed, learns the task.
Writes ``models/track_b/<arch>.keras`` and ``<arch>.json`` (card). The 400 PIRM
validation pairs are only used at the end, to report (never to choose).
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
# smaller patches than the default's 128: these networks cost 3-4x more per pixel
SETTINGS = {"steps": 800, "batch_size": 8, "patch_size": 96, "lr": 1e-3, "lr_decay": 0.5, "lr_decay_every": 600}


def recipe_for(arch):
    from pirm_enhance.training.recipes import RECIPES

    rec = {k: v for k, v in RECIPES["default"].items() if k != "arch_config"}
    rec.update(SETTINGS, arch=arch,
               source=f"{arch} (reconstruction) with the default model's terms and data path "
                      "(tools/train_reconstructions.py)")
    return rec


def train_one(arch, args):
    from train_default import photo_folder

    import pirm_enhance as pe
    from pirm_enhance.training import train

    rec = recipe_for(arch)
    steps = args.steps or rec["steps"]
    workdir = pathlib.Path(args.workdir) / arch
    start = time.time()
    train(rec, f"synthetic:{photo_folder()}", steps=steps, workdir=workdir, seed=SEED,
          checkpoint_every=300, validate_every=300, vgg_weights=None, progress=True)
    wall = time.time() - start
    history = json.loads((workdir / "history.json").read_text())
    best = max(history, key=lambda h: h["val_psnr"])
    model = pe.zoo.load_keras_file(workdir / "best_generator.keras")
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pe.zoo.save_keras_file(model, out / f"{arch}.keras")
    card = {
        "name": arch, "architecture": arch, "parameters": model.count_params(),
        "reconstruction": f"pirm_enhance/archs: reconstructed from the PIRM 2018 challenge report; see the module",
        "recipe": {k: rec[k] for k in ("l1", "chroma", "color", "tv", "lr", "lr_decay", "lr_decay_every")},
        "seed": SEED, "steps": history[-1]["step"], "chosen_step": best["step"],
        "selection": "the step with the best PSNR on the held-out photos' synthetic pairs",
        "batch_size": rec["batch_size"], "patch_size": rec["patch_size"],
        "data": {"source": "ai-benchmark 0.1.2 (Apache-2.0), ai_benchmark/data/enhancement, 100 photos",
                 "pairs": "synthetic: pirm_enhance.data.degrade.CameraPipeline, random crops, flips, rotations"},
        "wall_time_s": round(wall, 1), "machine": f"{os.cpu_count()} CPU cores",
        "metrics": {"synthetic_held_out": {"psnr": best["val_psnr"], "ms_ssim": best["val_ms_ssim"],
                                           "do_nothing_psnr": best["val_input_psnr"]}},
        "history": [{k: round(v, 4) for k, v in h.items()} for h in history],
    }
    data_dir = os.environ.get("PIRM_DATA_DIR")
    if data_dir and pathlib.Path(data_dir, "dped").is_dir():
        real = pe.evaluate(model, data_dir=data_dir, progress=False)
        card["metrics"]["pirm_validation_400"] = {
            "psnr": real["psnr"], "ms_ssim": real["ms_ssim"], "do_nothing_psnr": 17.29,
            "note": "reported only; never used for training or selection"}
    (out / f"{arch}.json").write_text(json.dumps(card, indent=1, default=float) + "\n")
    print(json.dumps({arch: card["metrics"]}, indent=1, default=float))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("archs", nargs="+", help="zoo architectures to train")
    p.add_argument("--steps", type=int, default=None, help=f"default {SETTINGS['steps']}")
    p.add_argument("--workdir", default="runs/reconstructions")
    p.add_argument("--out", default=str(ROOT / "models" / "track_b"))
    args = p.parse_args(argv)
    for arch in args.archs:
        train_one(arch, args)


if __name__ == "__main__":
    main()
