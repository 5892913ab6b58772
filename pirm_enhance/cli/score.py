"""pirm-score: score submissions exactly as the PIRM 2018 organisers did.

Examples:
  pirm-score submission.pb                      # Track B, PIRM_DATA_DIR
  pirm-score model.tflite --data ~/pirm2018 --json
  pirm-score ppcn_student.paper --as keras,pb,tflite,tflite_int8
  pirm-score --all-pretrained --as pb,tflite,tflite_int8
  pirm-score mt_phoenix.pb --mos 2.6804         # final Track B ranking form
"""

import argparse
import json
import sys

EXIT_REFUSED = 3
EXIT_NO_DATA = 4


def parser():
    p = argparse.ArgumentParser(prog="pirm-score", description=__doc__.splitlines()[0],
                                epilog="\n".join(__doc__.splitlines()[2:]),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("submissions", nargs="*", metavar="SUBMISSION",
                   help=".pb, SavedModel folder, .tflite, .onnx, .keras or a pretrained name")
    p.add_argument("--track", choices=("A", "B"), default="B")
    p.add_argument("--data", help="folder holding dped/ and div2k/ (default: $PIRM_DATA_DIR)")
    p.add_argument("--mos", type=float, help="mean opinion score: use the final Track B ranking's form")
    p.add_argument("--as", dest="variants", default="keras",
                   help="for pretrained names and .keras files: comma list of keras, pb, saved_model, "
                        "tflite, tflite_fp16, tflite_dynamic_int8, tflite_int8, onnx (default keras)")
    p.add_argument("--all-pretrained", action="store_true",
                   help="score every pretrained entry whose weights can be found")
    p.add_argument("--rounds", type=int, default=1, help="repeat the runtime protocol, report the median")
    p.add_argument("--no-timing", action="store_true", help="fidelity only (no runtime, no scores)")
    p.add_argument("--infinite", choices=("exclude", "cap"), default="exclude",
                   help="infinite per-image PSNR (white patches): leave out of the mean, or count as 100 dB")
    p.add_argument("--json", action="store_true", help="print only a JSON document on stdout")
    p.add_argument("--list", action="store_true", help="list the pretrained names and exit")
    return p


def _available_pretrained(track):
    from pirm_enhance import list_pretrained, pretrained

    names = []
    for name in list_pretrained():
        if (track == "B") == name.endswith("_div2k"):  # Track A models are the DIV2K ones
            continue
        try:
            pretrained.resolve(name)
        except pretrained.WeightsUnavailable as err:
            print(f"skipping {name}: {err}", file=sys.stderr)
            continue
        names.append(name)
    return names


def run(argv=None):
    args = parser().parse_args(argv)
    from pirm_enhance.cli import quiet_tensorflow

    quiet_tensorflow()
    from pirm_enhance import list_pretrained
    from pirm_enhance.cli import fail

    if args.list:
        print("\n".join(list_pretrained()))
        return 0
    import pirm_enhance as pe
    from pirm_enhance.runners import SubmissionError, UnsafeGraph
    from pirm_enhance.scoring import DataMissing, format_table, score

    submissions = list(args.submissions)
    if args.all_pretrained:
        submissions += _available_pretrained(args.track)
    if not submissions:
        fail("name at least one SUBMISSION (or --all-pretrained); see pirm-score --help", 2)
    try:
        result = score(submissions, track=args.track, data_dir=args.data, mos=args.mos,
                       variants=[v for v in args.variants.split(",") if v], rounds=args.rounds,
                       timing=not args.no_timing, infinite=args.infinite)
    except DataMissing as err:
        fail(str(err), EXIT_NO_DATA)
    except (SubmissionError, UnsafeGraph) as err:
        fail(str(err), EXIT_REFUSED)
    except (KeyError, ValueError, pe.WeightsUnavailable, pe.CheckpointMismatch) as err:
        fail(str(err).strip('"'), 2)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(format_table(result))
    return 0


if __name__ == "__main__":
    sys.exit(run())
