"""pirm-bench: time zoo models in every runtime against the organisers' SRCNN, in one run.

Examples:
  pirm-bench rsgunet eds ppcn_student --runtimes keras,pb,tflite,tflite_fixed
  pirm-bench --all-pretrained --runtimes keras,pb,saved_model,tflite,tflite_fixed,tflite_fp16,tflite_16x8,tflite_int8,onnx \\
      --rss --photo-12mp --png out/bench.png --json > out/bench.json
  pirm-bench default --rounds 3 --pairs 0          # speed only
  pirm-bench rsgunet --runtimes pb --profile       # where the frozen graph's time goes, op by op
  pirm-bench dped_resnet_12_64.pirm --runtimes pb,tflite_fixed,tflite_fixed_fp16_inference --rss
Every runner is timed at 1280x720 (--size) once per round, interleaved with the SRCNN
baseline graph, order rotated, median of --rounds. The PSNR change is measured against
the Keras float model on the first --pairs PIRM validation pairs ($PIRM_DATA_DIR;
evaluation only), or against the float output on synthetic photos without them.
A variant that a runtime cannot take becomes a "failed:" row; the others go on.
tflite_fixed is the float TFLite file exported at the timing size (pirm-export
--input-size), what a phone app ships; it is compared with the float model there.
It runs as pirm-enhance would: XNNPACK's indirection buffers are built per run
(less memory, slower) where keeping them would take over 256 MB. tflite_fixed_kept
is the same file with the buffers kept (TFLiteRunner(low_memory=False)): the other
side of that trade, for time and --rss. tflite_fp16_inference and
tflite_fixed_fp16_inference are float16 files that allow fp16 arithmetic (pirm-export
--quantization float16_inference), run by XNNPACK in fp16: about half the activation
memory; a row says where LiteRT could only run one in float32.
"""

import json
import sys

from pirm_enhance.cli import ArgumentParser, entry, fail, positive_int


def parser():
    from pirm_enhance.bench import DEFAULT_RUNTIMES, RUNTIMES

    p = ArgumentParser("pirm-bench", __doc__)
    p.add_argument("models", nargs="*", metavar="MODEL",
                   help="zoo architectures (random weights), pretrained names or .keras files")
    p.add_argument("--all-pretrained", action="store_true",
                   help="every Track B pretrained entry whose weights can be found")
    p.add_argument("--runtimes", default=",".join(DEFAULT_RUNTIMES),
                   help=f"comma list of {', '.join(RUNTIMES)}")
    p.add_argument("--size", default="720x1280", metavar="HxW", help="image size of the timing")
    p.add_argument("--rounds", type=positive_int, default=5, help="interleaved timing rounds (median kept)")
    p.add_argument("--pairs", type=int, default=20, help="validation pairs for the PSNR change (0: none)")
    p.add_argument("--data", help="folder holding dped/ (default: $PIRM_DATA_DIR)")
    p.add_argument("--rss", action="store_true", help="peak RSS of one image in a fresh process per variant")
    p.add_argument("--photo-12mp", action="store_true",
                   help="also pe.enhance on a 4000x3000 photo (tiled) and its overhead over 13x the 720p time")
    p.add_argument("--profile", action="store_true",
                   help="per-op profile of each model's frozen graph at the timing size (kernel, ms, "
                        "GFLOP/s; TensorFlow's step statistics), after the timing")
    p.add_argument("--workdir", help="keep the exported files here (default: a temporary folder)")
    p.add_argument("--png", help="write the speed-versus-quality plot here (needs matplotlib)")
    p.add_argument("--json", action="store_true", help="print the result as JSON instead of a table")
    return p


def _size(text):
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        fail(f"--size must be HxW, e.g. 720x1280, not {text!r}")
    if h < 1 or w < 1:
        fail(f"--size must be positive, not {text!r}")
    return h, w


def run(argv=None):
    from pirm_enhance.bench import RUNTIMES

    args = parser().parse_args(argv)
    runtimes = [r.strip() for r in args.runtimes.split(",") if r.strip()]
    bad = [r for r in runtimes if r not in RUNTIMES]
    if bad or not runtimes:
        fail(f"--runtimes: unknown runtime(s) {', '.join(bad) or '(none given)'}; choose from {', '.join(RUNTIMES)}")
    if args.pairs < 0:
        fail("--pairs must be 0 or more")
    if args.profile and "pb" not in runtimes:
        fail("--profile profiles the frozen graph: add pb to --runtimes")
    if not args.models and not args.all_pretrained:
        fail("name at least one MODEL (or --all-pretrained); see pirm-bench --help")
    height, width = _size(args.size)
    from pirm_enhance.quiet import quiet_tensorflow

    quiet_tensorflow()
    from pirm_enhance.bench import bench, format_table, plot
    from pirm_enhance.leaderboard import available_pretrained

    models = list(args.models)
    if args.all_pretrained:
        found, skipped = available_pretrained("B")
        for name, why in skipped:
            print(f"skipping {name}: {why}", file=sys.stderr)
        models += found
    if not models:
        fail("no Track B pretrained weights could be found (see the lines above)", 5)
    if args.png:  # refuse before the long run, not after it
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            fail("--png needs matplotlib: pip install 'pirm-enhance[bench]'")
    result = bench(models, runtimes=runtimes, height=height, width=width, rounds=args.rounds,
                   pairs=args.pairs, data_dir=args.data, rss=args.rss, photo_12mp=args.photo_12mp,
                   workdir=args.workdir, profile=args.profile)
    if args.png:
        plot(result, args.png)
        print(f"wrote {args.png}", file=sys.stderr)
    print(json.dumps(result, indent=1, default=str) if args.json else format_table(result))
    return 0


main = entry(run)

if __name__ == "__main__":
    sys.exit(main())
