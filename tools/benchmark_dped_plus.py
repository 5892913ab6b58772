"""DPED+ against DPED: training steps per second and inference time, in one process.

The thesis (section 3.1.1) claims depthwise separable convolutions make DPED+
train about 40% faster than DPED for about 0.6 dB less PSNR. This measures the
speed part on this machine:

* training: steps per second of the ``dped_plus`` and ``dped`` recipes (each
  recipe's generator at full size, DPED's discriminator, VGG-19 to relu5_4, all
  loss terms; one ``EnhancerTrainer.update`` per step, as the training loop
  runs it, the grappler remapper set as the loop sets it); same batch and patch
  (default DPED's 50 x 100x100); fixed synthetic pairs (no input pipeline);
  VGG-19 with random weights by default (the time does not depend on the
  values; no download);
* inference: one 1280x720 forward pass of ``dped_plus`` and
  ``dped_resnet_12_64`` (Keras, ``tf.function``, random weights), after
  warm-up.

Each round times every variant once, in turn (the order rotates by round), so
that machine noise hits both alike; the medians over rounds and their ratios
are printed. The PSNR part of the claim needs two full training runs; this does
not measure it.

    python tools/benchmark_dped_plus.py --rounds 5            # the full benchmark
    python tools/benchmark_dped_plus.py --rounds 1 --size 64x64 --batch 2 --patch 32 --steps 1  # a smoke run
"""

import argparse
import json
import os
import pathlib
import platform
import statistics
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RECIPES = ("dped", "dped_plus")
MODELS = ("dped_resnet_12_64", "dped_plus")


def _size(text):
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--size {text!r}: WIDTHxHEIGHT, e.g. 1280x720") from None
    if min(w, h) < 1:
        raise argparse.ArgumentTypeError(f"--size {text!r}: width and height must be >= 1")
    return w, h


def _rotated(names, r):
    names = list(names)
    return names[r % len(names):] + names[:r % len(names)]


def training_rates(args, log):
    """``{recipe: [steps per second, one value per round]}``."""
    import keras
    import tensorflow as tf

    from pirm_enhance.data.synthetic import synthetic_photo
    from pirm_enhance.training import recipe
    from pirm_enhance.training.loop import _remapper_off, build_trainer, remapper_fails

    p = args.patch
    phones = tf.constant([synthetic_photo(p, p, seed=i) for i in range(args.batch)])
    targets = tf.clip_by_value(phones * 1.2 - 0.05, 0.0, 1.0)
    strategy = tf.distribute.get_strategy()
    trainers, steps = {}, {}
    for name in RECIPES:
        keras.utils.set_random_seed(0)
        trainers[name] = build_trainer(recipe(name), p, strategy, vgg_weights=args.vgg_weights)
        steps[name] = tf.function(trainers[name].update)
    rates = {name: [] for name in RECIPES}
    # as train() does; both recipes train DPED's discriminator (LeakyReLU), so the setting is the same
    with _remapper_off(any(remapper_fails(t) for t in trainers.values())):
        for name in RECIPES:  # trace, then one untimed step
            for _ in range(2):
                float(steps[name]((phones, targets))["loss"])
        for r in range(args.rounds):
            for name in _rotated(RECIPES, r):
                start = time.perf_counter()
                for _ in range(args.steps):
                    out = steps[name]((phones, targets))
                float(out["loss"])  # wait for the last step
                rates[name].append(args.steps / (time.perf_counter() - start))
            log(f"training round {r + 1}/{args.rounds}: "
                + ", ".join(f"{n} {rates[n][-1]:.3f} steps/s" for n in RECIPES))
    return rates


def inference_times(args, log):
    """``{model: [seconds per forward pass, one value per round]}``."""
    import keras
    import numpy as np

    import pirm_enhance as pe
    from pirm_enhance.runners import KerasRunner

    w, h = args.size
    x = np.random.default_rng(0).random((1, h, w, 3), dtype=np.float32)
    runners = {}
    for name in MODELS:
        keras.utils.set_random_seed(0)
        runners[name] = KerasRunner(pe.build_model(name))
        for _ in range(2):  # trace and warm up
            runners[name](x)
    times = {name: [] for name in MODELS}
    for r in range(args.rounds):
        for name in _rotated(MODELS, r):
            start = time.perf_counter()
            runners[name](x)
            times[name].append(time.perf_counter() - start)
        log(f"inference round {r + 1}/{args.rounds}: "
            + ", ".join(f"{n} {1000 * times[n][-1]:.1f} ms" for n in MODELS))
    return times


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds (median taken; default 5)")
    p.add_argument("--steps", type=int, default=5, help="training steps per recipe and round (default 5)")
    p.add_argument("--batch", type=int, default=50, help="training batch (default 50, DPED's)")
    p.add_argument("--patch", type=int, default=100, help="training patch side (default 100, DPED's)")
    p.add_argument("--size", type=_size, default=(1280, 720), help="inference WIDTHxHEIGHT (default 1280x720)")
    p.add_argument("--vgg-weights", default="random",
                   help="VGG-19 weights for the content term: random (default; speed does not depend on "
                        "them), imagenet or a MatConvNet .mat path")
    p.add_argument("--skip", choices=("training", "inference"), help="measure only the other part")
    p.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    args = p.parse_args(argv)
    if min(args.rounds, args.steps, args.batch, args.patch) < 1:
        p.error("--rounds, --steps, --batch and --patch must be >= 1")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import tensorflow as tf

    def log(text):
        print(text, file=sys.stderr, flush=True)

    result = {"settings": {"rounds": args.rounds, "steps": args.steps, "batch": args.batch, "patch": args.patch,
                           "size": f"{args.size[0]}x{args.size[1]}", "vgg_weights": args.vgg_weights},
              "machine": {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
                          "gpus": len(tf.config.list_physical_devices("GPU")), "tensorflow": tf.__version__}}
    if args.skip != "training":
        rates = training_rates(args, log)
        med = {n: statistics.median(v) for n, v in rates.items()}
        result["training"] = {n: {"steps_per_s": med[n], "rounds": rates[n]} for n in RECIPES}
        result["training_speedup"] = med["dped_plus"] / med["dped"]  # thesis: about 1.4
    if args.skip != "inference":
        times = inference_times(args, log)
        med = {n: statistics.median(v) for n, v in times.items()}
        result["inference"] = {n: {"ms": 1000 * med[n], "rounds_ms": [1000 * t for t in times[n]]}
                               for n in MODELS}
        result["inference_speedup"] = med["dped_resnet_12_64"] / med["dped_plus"]
    if args.json:
        print(json.dumps(result, indent=1))
        return result
    s = result["settings"]
    m = result["machine"]
    print(f"DPED+ vs DPED, median of {s['rounds']} interleaved rounds; {m['cpus']} CPUs, {m['gpus']} GPUs, "
          f"TF {m['tensorflow']}")
    if "training" in result:
        tr = result["training"]
        print(f"\ntraining: batch {s['batch']} x {s['patch']}x{s['patch']}, {s['steps']} steps per round, "
              f"VGG-19 weights {s['vgg_weights']}")
        print(f"{'recipe':12s} {'steps/s':>9s} {'s/step':>9s}")
        for n in RECIPES:
            print(f"{n:12s} {tr[n]['steps_per_s']:9.3f} {1 / tr[n]['steps_per_s']:9.3f}")
        sp = result["training_speedup"]
        print(f"dped_plus / dped steps per second: {sp:.3f} (a dped_plus step takes {100 / sp:.0f}% of a dped "
              f"step; the thesis: about 40% faster)")
    if "inference" in result:
        inf = result["inference"]
        print(f"\ninference: one {s['size']} image, Keras forward pass")
        print(f"{'model':18s} {'ms':>9s}")
        for n in MODELS:
            print(f"{n:18s} {inf[n]['ms']:9.1f}")
        print(f"dped_resnet_12_64 / dped_plus time: {result['inference_speedup']:.3f}")
    return result


if __name__ == "__main__":
    main()
