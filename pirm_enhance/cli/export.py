"""pirm-export: turn a model into a PIRM submission (.pb), a SavedModel, TFLite or ONNX.

Examples:
  pirm-export --model ppcn_student.paper --format pb -o submission.pb
  pirm-export --model ppcn_student.paper --format tflite --quantization int8 \\
      --calibration photos/*.jpg -o student_int8.tflite
  pirm-export --model my_model.keras --format saved_model -o exported/
  pirm-export --model dped_resnet_12_64 --checkpoint iphone_iteration_20000.ckpt -o dped.pb
"""

import argparse
import json
import sys

from pirm_enhance.exporters.writers import FORMATS, TFLITE_QUANTIZATIONS


def parser():
    p = argparse.ArgumentParser(prog="pirm-export", description=__doc__.splitlines()[0],
                                epilog="\n".join(__doc__.splitlines()[2:]),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="pretrained name (arch.tag), architecture (with --checkpoint) or .keras file")
    p.add_argument("--checkpoint", help="TF1 checkpoint prefix of the --model architecture")
    p.add_argument("--format", choices=FORMATS, default="pb")
    p.add_argument("--quantization", choices=TFLITE_QUANTIZATIONS, default="float32",
                   help="TFLite only (default float32)")
    p.add_argument("--calibration", nargs="*", default=None,
                   help="images for full-int8 calibration (default: synthetic photos)")
    p.add_argument("--clip", action="store_true", help="append clip(0, 1) to the graph")
    p.add_argument("--allow-rule-violations", action="store_true",
                   help="write and keep the file even if it breaks a submission rule")
    p.add_argument("-o", "--output", help="output path")
    p.add_argument("--list", action="store_true", help="list the pretrained names and exit")
    return p


def run(argv=None):
    args = parser().parse_args(argv)
    from pirm_enhance.cli import quiet_tensorflow

    quiet_tensorflow()
    import pirm_enhance as pe
    from pirm_enhance.cli import fail
    from pirm_enhance.exporters import RuleViolation, export

    if args.list:
        print("\n".join(pe.list_pretrained()))
        return 0
    if not args.model or not args.output:
        fail("--model and -o/--output are required; see pirm-export --help", 2)
    try:
        model = pe.load_model(args.model, checkpoint=args.checkpoint)
        report = export(model, args.output, format=args.format, quantization=args.quantization,
                        calibration_images=args.calibration, clip=args.clip,
                        allow_rule_violations=args.allow_rule_violations)
    except RuleViolation as err:
        fail(f"{err} (rerun with --allow-rule-violations to keep it)", 3)
    except (KeyError, ValueError, FileNotFoundError, RuntimeError, pe.WeightsUnavailable) as err:
        fail(str(err).strip('"'), 2)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(run())
