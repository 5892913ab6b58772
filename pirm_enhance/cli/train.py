"""pirm-train: train an enhancer with a published recipe.

Examples:
  pirm-train --list-recipes
  pirm-train --recipe dped --data ~/dped --steps 20000 --vgg imagenet-vgg-verydeep-19.mat
  pirm-train --recipe ppcn_student --teacher ppcn_teacher.paper --data ~/dped --workdir runs/student
  pirm-train --recipe dped --data synthetic:~/photos --steps 2000 --vgg random --export dped.tflite
  pirm-train --recipe rsgunet --data ~/dped --strategy mirrored      # all local GPUs

A run resumes from the newest readable checkpoint in --workdir; Ctrl-C saves one first.
Offline, recipes with VGG terms need --vgg PATH.mat (MatConvNet imagenet-vgg-verydeep-19) or --vgg random.
"""

import json
import sys

from pirm_enhance.cli import ArgumentParser, entry, fail, key_value, positive_int


def parser():
    p = ArgumentParser("pirm-train", __doc__)
    p.add_argument("--recipe", help="recipe name (see --list-recipes)")
    p.add_argument("--list-recipes", action="store_true", help="list the recipes with their sources and exit")
    p.add_argument("--data", help="DPED folder, folder with two aligned-pair folders, or synthetic:DIR")
    p.add_argument("--steps", type=positive_int, help="training steps (default: the recipe's)")
    p.add_argument("--batch-size", type=positive_int, help="images per step (default: the recipe's)")
    p.add_argument("--patch-size", type=positive_int, help="training crop size in pixels (default: the recipe's)")
    p.add_argument("--workdir", default="runs/train", help="checkpoints, logs, samples and the trained model")
    p.add_argument("--seed", type=int, default=0, help="seed of weights, data order and crops")
    p.add_argument("--vgg", default="imagenet",
                   help="VGG-19 of the content/contextual terms: imagenet (downloads), a path to "
                        "imagenet-vgg-verydeep-19.mat, or random / random:he_normal (tests only)")
    p.add_argument("--teacher", help="distillation teacher: pretrained name, .keras file or arch:checkpoint")
    p.add_argument("--set", action="append", default=[], type=key_value, metavar="KEY=VALUE",
                   help="override a recipe value, e.g. --set lr=1e-4 --set texture=0")
    p.add_argument("--arch-arg", action="append", default=[], type=key_value, metavar="KEY=VALUE",
                   help="architecture constructor argument, e.g. --arch-arg channels=32")
    p.add_argument("--checkpoint-every", type=positive_int, default=500, help="steps between checkpoints")
    p.add_argument("--validate-every", type=positive_int, default=500, help="steps between validations")
    p.add_argument("--strategy", choices=("default", "mirrored", "multiworker"), default="default",
                   help="tf.distribute strategy: one device, all local GPUs, or several machines")
    p.add_argument("--jit", action="store_true", help="XLA-compile the training step")
    p.add_argument("--precision", choices=("float32", "mixed_bfloat16", "mixed_float16"), default="float32",
                   help="compute precision (mixed_float16 on GPUs, mixed_bfloat16 on recent CPUs)")
    p.add_argument("--export", help="export the trained generator here (.pb, .tflite, .onnx, .keras or a folder)")
    return p


def run(argv=None):
    args = parser().parse_args(argv)
    from pirm_enhance.training.recipes import list_recipes, recipe

    if args.list_recipes:
        for name in list_recipes():
            print(f"{name:14s} {recipe(name)['source']}")
        return 0
    if not args.recipe or not args.data:
        fail("--recipe and --data are required; see pirm-train --help")
    rec = recipe(args.recipe, **dict(args.set))  # unknown recipe or key: one line, before TensorFlow starts
    if args.export:
        from pirm_enhance.formats import format_of

        if format_of(args.export, writing=True) is None:
            from pirm_enhance.formats import known_suffixes

            fail(f"--export {args.export}: unknown suffix; use {', '.join(known_suffixes())} or a folder name")
    from pirm_enhance.quiet import quiet_tensorflow

    quiet_tensorflow()
    import tensorflow as tf

    from pirm_enhance.training import train

    strategy = {"default": tf.distribute.get_strategy,
                "mirrored": tf.distribute.MirroredStrategy,
                "multiworker": tf.distribute.MultiWorkerMirroredStrategy}[args.strategy]()
    try:
        result = train(rec, args.data, steps=args.steps, workdir=args.workdir,
                       batch_size=args.batch_size, patch_size=args.patch_size, seed=args.seed,
                       strategy=strategy, checkpoint_every=args.checkpoint_every,
                       validate_every=args.validate_every,
                       vgg_weights=args.vgg, teacher=args.teacher,
                       jit_compile=args.jit, precision=args.precision, arch_kwargs=dict(args.arch_arg),
                       export_to=args.export)
    except KeyboardInterrupt:
        fail(f"interrupted; the checkpoint in {args.workdir} resumes the run", 130)
    last = result["history"][-1] if result["history"] else {}
    report = {"workdir": result["workdir"], "step": result["step"],
              **{k: v for k, v in last.items() if k.startswith("val_")}, "best": result["best"],
              "generator": str(result.get("generator_path", "")) or None}
    if result.get("export"):
        report["export"] = {k: result["export"][k] for k in ("path", "format", "quantization", "max_abs_diff")
                            if k in result["export"]}
    print(json.dumps(report, indent=1))
    return 0


main = entry(run)

if __name__ == "__main__":
    sys.exit(main())
