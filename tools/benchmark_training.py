"""Training steps per second for each recipe, with and without jit_compile (CPU).

Batch 16, 100x100 patches of synthetic pairs, random VGG (no download), a
random teacher for ppcn_student; each recipe's own architecture. The two
variants are timed alternately, median over rounds.

    python tools/benchmark_training.py --steps 10 --rounds 3
"""

import argparse
import os
import pathlib
import statistics
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recipes", nargs="*")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=16)
    args = p.parse_args(argv)
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras
    import tensorflow as tf

    import pirm_enhance as pe
    from pirm_enhance.data.synthetic import synthetic_photo
    from pirm_enhance.losses import VGG19Features
    from pirm_enhance.training import EnhancerTrainer, list_recipes, recipe
    from pirm_enhance.training.loop import make_optimizer
    from pirm_enhance.training.trainer import build_discriminator
    from pirm_enhance.training.recipes import vgg_layers

    def teacher_arch(spec):  # a pretrained name or arch:checkpoint
        if ":" in spec and not spec.endswith(".keras"):
            return spec.split(":", 1)[0]
        return pe.pretrained.get_entry(spec)["arch"]

    # dped_paper differs from dped in loss weights only: same graph, same speed
    names = args.recipes or [n for n in list_recipes() if n != "dped_paper"]
    phones = tf.constant([synthetic_photo(100, 100, seed=i) for i in range(args.batch_size)])
    targets = tf.clip_by_value(phones * 1.2 - 0.05, 0, 1)
    print(f"{'recipe':14s} {'arch':18s} {'steps/s':>8s} {'jit':>8s} {'jit/plain':>9s}")
    for name in names:
        rec = recipe(name)
        rates = {}
        fns = {}
        for jit in (False, True):
            keras.utils.set_random_seed(0)
            gen = pe.build_model(rec["arch"])
            layers = vgg_layers(rec)
            vgg = VGG19Features(layers, weights=None) if layers else None
            # the recipe's own teacher architecture, random weights (speed does not depend on them)
            teacher = pe.build_model(teacher_arch(rec["teacher"])) if rec.get("kd") else None
            disc = build_discriminator(rec, 100)  # the recipe's own (PPCN's for PPCN)
            trainer = EnhancerTrainer(gen, rec, discriminator=disc, teacher=teacher, vgg=vgg)
            trainer.compile(make_optimizer(rec), make_optimizer(rec) if disc else None)
            fns[jit] = tf.function(trainer.update, jit_compile=jit)
            try:
                fns[jit]((phones, targets))  # trace / compile
            except tf.errors.InvalidArgumentError as err:  # an op XLA cannot compile
                print(f"{name}: jit_compile={jit} failed: {str(err).splitlines()[0][:200]}", file=sys.stderr)
                del fns[jit]
                continue
            rates[jit] = []
        for _ in range(args.rounds):
            for jit in fns:
                start = time.perf_counter()
                for _ in range(args.steps):
                    out = fns[jit]((phones, targets))
                float(out["loss"])
                rates[jit].append(args.steps / (time.perf_counter() - start))
        plain, jit = (statistics.median(rates[j]) if j in rates else float("nan") for j in (False, True))
        print(f"{name:14s} {rec['arch']:18s} {plain:8.2f} {jit:8.2f} {jit / plain:9.2f}", flush=True)


if __name__ == "__main__":
    main()
