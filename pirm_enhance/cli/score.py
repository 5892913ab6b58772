"""pirm-score: score submissions exactly as the PIRM 2018 organisers did.

Examples:
  pirm-score submission.pb                      # Track B, PIRM_DATA_DIR
  pirm-score model.tflite --data ~/pirm2018 --json
  pirm-score ppcn_student.paper --as keras,pb,tflite,tflite_int8
  pirm-score --all-pretrained --as pb,tflite,tflite_int8
  pirm-score mt_phoenix.pb --mos 2.6804         # final Track B ranking form
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


def run(argv=None):
    args = parser().parse_args(argv)
    if args.list:
        from pirm_enhance.zoo import list_model_names

        print("\n".join(list_model_names()))
        return 0
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
    return 0


main = entry(run)

if __name__ == "__main__":
    sys.exit(main())
