"""pirm-train: train an enhancer with a published recipe.

Examples:
  pirm-train --list-recipes
  pirm-train --recipe dped --data ~/dped --steps 20000 --vgg imagenet-vgg-verydeep-19.mat
  pirm-train --recipe ppcn_student --teacher ppcn_teacher.paper --data ~/dped --workdir runs/student
  pirm-train --recipe dped --data synthetic:~/photos --steps 2000 --vgg random --export dped.tflite
  pirm-train --recipe rsgunet --data ~/dped --strategy mirrored      # all local GPUs

A run resumes from the newest checkpoint in --workdir; Ctrl-C saves one first.
"""

import argparse
import json
import sys


def parser():
    p = argparse.ArgumentParser(prog="pirm-train", description=__doc__.splitlines()[0],
                                epilog="\n".join(__doc__.splitlines()[2:]),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--recipe", help="recipe name (see --list-recipes)")
    p.add_argument("--list-recipes", action="store_true")
    p.add_argument("--data", help="DPED folder, folder with two aligned-pair folders, or synthetic:DIR")
    p.add_argument("--steps", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--patch-size", type=int)
    p.add_argument("--workdir", default="runs/train")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--vgg", default="imagenet",
                   help="imagenet (downloads), a path to imagenet-vgg-verydeep-19.mat, or random / "
                        "random:he_normal (tests only)")
    p.add_argument("--teacher", help="distillation teacher: pretrained name, .keras file or arch:checkpoint")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a recipe value, e.g. --set lr=1e-4 --set texture=0")
    p.add_argument("--arch-arg", action="append", default=[], metavar="KEY=VALUE",
                   help="architecture constructor argument, e.g. --arch-arg channels=32")
    p.add_argument("--checkpoint-every", type=int, default=500)
    p.add_argument("--validate-every", type=int, default=500)
    p.add_argument("--strategy", choices=("default", "mirrored", "multiworker"), default="default")
    p.add_argument("--jit", action="store_true", help="XLA-compile the training step")
    p.add_argument("--precision", choices=("float32", "mixed_bfloat16", "mixed_float16"), default="float32")
    p.add_argument("--export", help="export the trained generator here (.pb, .tflite, .onnx or a folder)")
    return p


def _value(text):
    try:
        return json.loads(text)
    except ValueError:
        return text


def run(argv=None):
    args = parser().parse_args(argv)
    from pirm_enhance.cli import fail, quiet_tensorflow

    quiet_tensorflow()
    from pirm_enhance.training import list_recipes, recipe, train

    if args.list_recipes:
        for name in list_recipes():
            print(f"{name:14s} {recipe(name)['source']}")
        return 0
    if not args.recipe or not args.data:
        fail("--recipe and --data are required; see pirm-train --help", 2)
    import tensorflow as tf

    strategy = {"default": tf.distribute.get_strategy,
                "mirrored": tf.distribute.MirroredStrategy,
                "multiworker": tf.distribute.MultiWorkerMirroredStrategy}[args.strategy]()
    overrides = dict(kv.split("=", 1) for kv in args.set)
    arch_kwargs = {k: _value(v) for k, v in (kv.split("=", 1) for kv in args.arch_arg)}
    try:
        result = train(args.recipe, args.data, steps=args.steps, workdir=args.workdir,
                       batch_size=args.batch_size, patch_size=args.patch_size, seed=args.seed,
                       strategy=strategy, checkpoint_every=args.checkpoint_every,
                       validate_every=args.validate_every,
                       vgg_weights=args.vgg, teacher=args.teacher,
                       jit_compile=args.jit, precision=args.precision, arch_kwargs=arch_kwargs,
                       export_to=args.export, **{k: _value(v) for k, v in overrides.items()})
    except KeyboardInterrupt:
        fail(f"interrupted; the checkpoint in {args.workdir} resumes the run", 130)
    except (KeyError, ValueError, FileNotFoundError) as err:
        fail(str(err).strip('"'), 2)
    last = result["history"][-1] if result["history"] else {}
    print(json.dumps({"workdir": result["workdir"], "step": result["step"],
                      **{k: v for k, v in last.items() if k.startswith("val_")},
                      "best": result["best"]}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(run())
