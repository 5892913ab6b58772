"""Forward time of every zoo architecture at 1280x720 relative to SRCNN, on CPU.

Interleaved rounds (every model once per round, order rotated), median of the
rounds, so that machine noise hits all models alike. Writes a table to stdout
and, with --png, a bar chart.

    python tools/benchmark_zoo.py --rounds 5 --png out/zoo_speed.png
"""

import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import pirm_enhance as pe  # noqa: E402
from pirm_enhance.runners import KerasRunner  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--models", nargs="*", default=pe.list_models())
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if "srcnn" not in args.models:
        args.models = ["srcnn", *args.models]
    x = np.random.default_rng(0).random((1, args.height, args.width, 3), dtype=np.float32)
    runners = {name: KerasRunner(pe.build_model(name)) for name in args.models}
    for name, run in runners.items():  # trace and warm up
        run(x)
        run(x)
    times = {name: [] for name in runners}
    names = list(runners)
    for r in range(args.rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            start = time.perf_counter()
            runners[name](x)
            times[name].append(time.perf_counter() - start)
        print(f"round {r + 1}/{args.rounds}", file=sys.stderr)
    base = statistics.median(times["srcnn"])
    rows = [{"model": n, "params": runners[n].model.count_params(),
             "median_ms": 1000 * statistics.median(t), "time_vs_srcnn": statistics.median(t) / base}
            for n, t in times.items()]
    if args.json:
        print(json.dumps({"threads": tf.config.threading.get_intra_op_parallelism_threads(),
                          "cpus": os.cpu_count(), "rows": rows}, indent=1))
        return
    print(f"{args.width}x{args.height} forward pass, median of {args.rounds} interleaved rounds, "
          f"{os.cpu_count()} CPUs")
    print(f"{'model':20s} {'params':>10s} {'ms':>9s} {'x srcnn':>8s}")
    for row in rows:
        print(f"{row['model']:20s} {row['params']:10,d} {row['median_ms']:9.1f} {row['time_vs_srcnn']:8.2f}")


if __name__ == "__main__":
    main()
