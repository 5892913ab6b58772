"""pirm-score: score submissions exactly as the PIRM 2018 organisers did.

Examples:
  pirm-score submission.pb                      # Track B, PIRM_DATA_DIR
  pirm-score model.tflite --data ~/pirm2018 --json
  pirm-score ppcn_student.paper --as keras,pb,tflite,tflite_int8
  pirm-score --all-pretrained --as pb,tflite,tflite_int8
  pirm-score mt_phoenix.pb --mos 2.6804         # final Track B ranking form
  pirm-score --all-models --rounds 3 --png field.png   # Table 2 of the report re-run here
  pirm-score --all-models --models srcnn,geometry --size 96x64 --pairs 8
  pirm-score --track A --all-pretrained         # the four Track A checkpoints on DIV2K
  pirm-score --track A --all-models --png track_a.png  # Table 1 of the report re-run here
Submission files are loaded and run only in a child process with a memory and a time
limit; a file over either is refused with one line.
Exit codes: 1 the model failed while running, 2 usage, 3 submission refused,
4 validation data missing, 5 weights unavailable, 130 interrupted.
"""

import sys

from pirm_enhance.cli import ArgumentParser, entry, fail, positive_float, positive_int
from pirm_enhance.formats import VARIANTS


def parser():
    p = ArgumentParser("pirm-score", __doc__)
    p.add_argument("submissions", nargs="*", metavar="SUBMISSION",
                   help=".pb, SavedModel folder, .tflite, .onnx, .keras or a pretrained name")
    p.add_argument("--track", choices=("A", "B"), default="B",
                   help="A: x4 super-resolution on DIV2K; B: enhancement on the DPED iPhone pairs")
    p.add_argument("--data", help="folder holding dped/ and div2k/ (default: $PIRM_DATA_DIR)")
    p.add_argument("--mos", type=positive_float, help="mean opinion score: use the final Track B ranking's form")
    p.add_argument("--as", dest="variants", default="keras",
                   help="for pretrained names and .keras files: comma list of "
                        f"{', '.join(VARIANTS)}")
    p.add_argument("--all-pretrained", action="store_true",
                   help="score every pretrained entry of the track whose weights can be found")
    p.add_argument("--all-models", action="store_true",
                   help="re-run the track's leaderboard (the report's Table 2, Track A: Table 1): every team's "
                        "zoo architecture timed at 1280x720 interleaved with SRCNN in one run (random weights "
                        "where no official ones exist), fidelity where official weights exist, beside the "
                        "report's columns")
    p.add_argument("--models", metavar="LIST",
                   help="with --all-models: comma list of zoo architectures or teams of the track's table "
                        "(default: every team of the table, baselines included)")
    p.add_argument("--size", type=size_arg, metavar="WxH", default="1280x720",
                   help="with --all-models: runtime image size; smaller sizes crop the HD images "
                        "(a quick check, not the protocol)")
    p.add_argument("--pairs", type=positive_int, metavar="N",
                   help="with --all-models: validation pairs (Track A: DIV2K images) for fidelity "
                        "(default: all)")
    p.add_argument("--runtime", choices=("pb", "keras"), default="pb",
                   help="with --all-models: time each model as a frozen graph in a TF1 session (as submissions "
                        "and the SRCNN baseline run) or as the Keras model's tf.function")
    p.add_argument("--png", metavar="PATH",
                   help="with --all-models: write a PNG of time ratio SRCNN/model (x, log) versus PSNR, the "
                        "report's points and ours (needs matplotlib: the [bench] extra)")
    p.add_argument("--rounds", type=positive_int, default=1, help="repeat the runtime protocol, report the median")
    p.add_argument("--no-timing", action="store_true", help="fidelity only (no runtime, no scores)")
    p.add_argument("--infinite", choices=("exclude", "cap"), default="exclude",
                   help="infinite per-image PSNR (white patches): leave out of the mean, or count as 100 dB")
    p.add_argument("--memory-limit", type=positive_float, metavar="GIB", default=12.0,
                   help="memory (RLIMIT_DATA) a submission file may use while it is scored in its child process")
    p.add_argument("--time-limit", type=positive_float, metavar="SECONDS", default=1800.0,
                   help="wall-clock time one submission file may take (fidelity, RAM and runtime together)")
    p.add_argument("--json", action="store_true", help="print only a strict JSON document on stdout "
                                                       "(NaN as null, infinities as \"inf\"/\"-inf\")")
    p.add_argument("--list", action="store_true", help="list the model names and exit")
    return p


def size_arg(text):
    """argparse type: ``WIDTHxHEIGHT`` -> ``(height, width)``."""
    import argparse

    w, sep, h = str(text).lower().partition("x")
    try:
        size = (int(h), int(w))
    except ValueError:
        size = None
    if not sep or size is None or min(size) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not WIDTHxHEIGHT (e.g. 1280x720)")
    return size


def run_field(args):
    """--all-models: the track's leaderboard re-run (:func:`pirm_enhance.leaderboard.field`)."""
    if args.submissions or args.all_pretrained:
        fail("--all-models scores the zoo's entries of the track; give no SUBMISSION and no --all-pretrained")
    if args.mos is not None or args.no_timing or args.variants.strip() != "keras":
        fail("--all-models always times the models; --mos, --no-timing and --as do not apply")
    if args.png:
        import importlib.util

        if importlib.util.find_spec("matplotlib") is None:
            fail("--png needs matplotlib: pip install 'pirm-enhance[bench]' (or pip install matplotlib)")
    from pirm_enhance.quiet import quiet_tensorflow

    quiet_tensorflow()
    from pirm_enhance.leaderboard import field, format_field, plot_field, to_json

    result = field(models=args.models, data_dir=args.data, rounds=args.rounds, size=args.size, pairs=args.pairs,
                   runtime=args.runtime, infinite=args.infinite, track=args.track)
    if args.png:
        result["png"] = str(plot_field(result, args.png))
    print(to_json(result) if args.json else format_field(result))
    return 0


def run(argv=None):
    args = parser().parse_args(argv)
    if args.list:
        from pirm_enhance.zoo import list_model_names

        print("\n".join(list_model_names()))
        return 0
    if args.all_models:
        return run_field(args)
    if args.models or args.pairs or args.png or args.runtime != "pb" or args.size != (720, 1280):
        fail("--models, --size, --pairs, --runtime and --png apply to --all-models")
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    bad = [v for v in variants if v not in VARIANTS]
    if bad or not variants:
        fail(f"--as: unknown variant(s) {', '.join(bad) or '(none given)'}; choose from {', '.join(VARIANTS)}")
    if not args.submissions and not args.all_pretrained:
        fail("name at least one SUBMISSION (or --all-pretrained); see pirm-score --help")
    from pirm_enhance.quiet import quiet_tensorflow

    quiet_tensorflow()
    from pirm_enhance.leaderboard import available_pretrained, score, to_json
    from pirm_enhance.scoring import format_table

    submissions = list(args.submissions)
    if args.all_pretrained:
        found, skipped = available_pretrained(args.track)
        for name, why in skipped:
            print(f"skipping {name}: {why}", file=sys.stderr)
        submissions += found
    if not submissions:
        fail(f"no Track {args.track} pretrained weights could be found (see the lines above)", 5)
    result = score(submissions, track=args.track, data_dir=args.data, mos=args.mos, variants=variants,
                   rounds=args.rounds, timing=not args.no_timing, infinite=args.infinite,
                   memory_limit_gib=args.memory_limit, time_limit_s=args.time_limit)
    print(to_json(result) if args.json else format_table(result))
    for fail_ in result.get("failed", []):  # scored the others; each failure once more, on stderr
        print(f"error: {fail_['error']}", file=sys.stderr)
    return max((fail_["exit_code"] for fail_ in result.get("failed", [])), default=0)


main = entry(run)

if __name__ == "__main__":
    sys.exit(main())
