"""pirm-export: turn a model into a PIRM submission (.pb), a SavedModel, TFLite, ONNX or .keras file.

Examples:
  pirm-export --model ppcn_student.paper --format pb -o submission.pb
  pirm-export --model ppcn_student.paper --format tflite --quantization int8 \\
      --calibration photos/*.jpg -o student_int8.tflite
  pirm-export --model my_model.keras --format saved_model -o exported/
  pirm-export --model dped_resnet_12_64 --checkpoint iphone_iteration_20000.ckpt -o dped.pb
  pirm-export --model rsgunet --format tflite --input-size 720x1280 -o rsgunet_720p.tflite
  pirm-export --model dped_resnet_12_64.pirm --quantization float16_inference --input-size 720x1280 \
      -o dped_fp16.tflite                     # runs in fp16 arithmetic: about half the memory
  pirm-export --model eds.iphone --quantization int8 --calibration photos/*.jpg -o eds_int8.tflite
  pirm-export --model ppcn_student.paper --quantization int8 --qat-steps 2400 --qat-lr 3e-4 -o st.tflite
  pirm-export --model ppcn_student.paper --quantization int8 --equalize --qat-steps 2400 --qat-lr 3e-4 \\
      --int8-ranges learn --qat-phone-like --qat-seeds 2 -o st.tflite
An existing output is replaced only with --overwrite. Exit 3: the file breaks a submission rule.
"""

import json
import sys

from pirm_enhance.cli import ArgumentParser, entry, fail
from pirm_enhance.formats import EXPORT_FORMATS, QUANTIZATIONS, format_of, get_format


def parser():
    p = ArgumentParser("pirm-export", __doc__)
    p.add_argument("--model", help="pretrained name (arch.tag), architecture (with --checkpoint), "
                                   "'default' or a .keras file")
    p.add_argument("--checkpoint", help="TF1 checkpoint prefix of the --model architecture")
    p.add_argument("--format", choices=EXPORT_FORMATS,
                   help="output format (default: from the suffix of -o, else pb)")
    p.add_argument("--quantization", choices=QUANTIZATIONS, default="float32",
                   help="TFLite only: weights/activations precision (float16: fp16 weights, float32 "
                        "arithmetic; float16_inference: fp16 weights in a file that allows fp16 arithmetic, "
                        "which pirm-score, pirm-enhance and pirm-bench then run)")
    p.add_argument("--calibration", nargs="*", default=None,
                   help="images for int8 / int16x8 calibration (default: the first 16 (int8) or "
                        "32 (int16x8) bundled photos, else synthetic ones)")
    p.add_argument("--calibration-size", default=None, metavar="N|full",
                   help="int8 / int16x8: the side of the calibration crops (default 256), or full for "
                        "the whole photos (ranges that hold a whole 720p photo's statistics; BUILD_NOTES)")
    p.add_argument("--qat-steps", type=int, default=0, metavar="N",
                   help="int8/int16x8: quantization-aware fine-tuning for N steps first (the float "
                        "model as teacher, on the bundled photos, each step on the weights rounded as "
                        "the int8 file stores them; 0: none)")
    p.add_argument("--qat-decay", choices=("cosine", "none"), default="cosine",
                   help="learning-rate schedule of --qat-steps: cosine (to 0 at the last step) or none")
    p.add_argument("--qat-lr", type=float, default=1e-4, metavar="LR",
                   help="peak learning rate of --qat-steps")
    p.add_argument("--qat-phone-like", action="store_true",
                   help="--qat-steps: also fine-tune on a phone-like version of each photo (darker, "
                        "noisier, flatter, JPEG) and keep the step closest to float on phone-like "
                        "held-out photos")
    p.add_argument("--qat-seeds", type=int, default=1, metavar="N",
                   help="--qat-steps: fine-tune N times (crop seeds 0..N-1) and keep the run closest "
                        "to float on the held-out photos")
    p.add_argument("--qat-average", type=float, default=None, metavar="DECAY",
                   help="--qat-steps: judge and keep a moving average of the fine-tuned weights "
                        "(decay in (0, 1), e.g. 0.995) instead of each step's own")
    p.add_argument("--qat-objective", choices=("mse", "psnr"), default=None,
                   help="--qat-steps: minimise minus the mean per-crop PSNR against float (psnr, the "
                        "default: the held-out checks' and the scorer's average) or the squared "
                        "difference from float over each batch (mse)")
    p.add_argument("--int8-ranges", choices=("search", "minmax", "learn"), default="search",
                   help="int8: each tensor's 8-bit range: min/max over the calibration images, "
                        "(search) min/max or a percentile range, whichever brings the output "
                        "closest to float on them, or (learn, with --qat-steps) learnt with the "
                        "weights from min/max")
    p.add_argument("--equalize", nargs="?", const="default", metavar="ALPHA",
                   help="int8: first zero the biases an instance norm cancels, then rescale the "
                        "channels that share a tensor's 8-bit step towards equal spread on the "
                        "calibration images (both the same function in float); helps fine-tuning "
                        "(--qat-steps) most. ALPHA in (0, 1]: 1 gives every channel the widest one's "
                        "spread; default 0.5, half way in ratio, which leaves the kernels that read "
                        "the channels easier to hold in 8 bits")
    p.add_argument("--clip", action="store_true", help="append clip(0, 1) to the graph")
    p.add_argument("--input-size", metavar="HxW",
                   help="fix the graph's input to this size, e.g. 720x1280, as a phone app would "
                        "(default: any size, as the challenge required)")
    p.add_argument("--lowering", choices=("auto", "none"), default="auto",
                   help="auto: rewrite large convolutions with few outputs (and, in float TFLite, "
                        "9x9 ones on RGB input) into an equivalent faster, leaner form; none: keep "
                        "the layers as written (BUILD_NOTES, The phone path)")
    p.add_argument("--allow-rule-violations", action="store_true",
                   help="write and keep the file even if it breaks a submission rule")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.add_argument("-o", "--output", help="output path")
    p.add_argument("--list", action="store_true", help="list the model names and exit")
    return p


def run(argv=None):
    args = parser().parse_args(argv)
    if args.list:
        from pirm_enhance.zoo import list_model_names

        print("\n".join(list_model_names()))
        return 0
    if not args.model or not args.output:
        fail("--model and -o/--output are required; see pirm-export --help")
    fmt = get_format(args.format) if args.format else (format_of(args.output, writing=True) or get_format("pb"))
    if args.quantization not in fmt.quantizations:
        fail(f"--quantization {args.quantization} applies to TFLite only; {fmt.name} is written as "
             f"{'/'.join(fmt.quantizations)} (use --format tflite)")
    if args.calibration is not None and args.quantization not in ("int8", "int16x8"):
        fail("--calibration is for --format tflite --quantization int8 or int16x8")
    calibration = {}  # the library's default crop side unless --calibration-size is given
    if args.calibration_size is not None:
        if args.quantization not in ("int8", "int16x8"):
            fail("--calibration-size is for --format tflite --quantization int8 or int16x8")
        full = args.calibration_size.lower() == "full"
        calibration_size = None if full else int(args.calibration_size) if args.calibration_size.isdigit() else 0
        if not full and calibration_size < 16:
            fail(f"--calibration-size takes a crop side of at least 16 pixels or full, not {args.calibration_size!r}")
        calibration["calibration_size"] = calibration_size
    if args.qat_steps < 0 or (args.qat_steps and args.quantization not in ("int8", "int16x8")):
        fail("--qat-steps takes a count >= 0 and applies to --quantization int8 or int16x8")
    equalize = False
    if args.equalize is not None:
        if fmt.name != "tflite" or args.quantization != "int8":
            fail("--equalize applies to --format tflite --quantization int8")
        try:
            equalize = True if args.equalize == "default" else float(args.equalize)
        except ValueError:
            equalize = -1.0
        if equalize is not True and not 0 < equalize <= 1:
            fail(f"--equalize takes an ALPHA in (0, 1] (or none, for 0.5), not {args.equalize!r}")
    if args.int8_ranges == "learn" and not (args.qat_steps and fmt.name == "tflite" and args.quantization == "int8"):
        fail("--int8-ranges learn applies to --format tflite --quantization int8 with --qat-steps N")
    if args.qat_phone_like and not args.qat_steps:
        fail("--qat-phone-like applies to --qat-steps N")
    if args.qat_seeds < 1 or (args.qat_seeds > 1 and not args.qat_steps):
        fail("--qat-seeds takes a count >= 1 and applies to --qat-steps N")
    if args.qat_objective is not None and not args.qat_steps:
        fail("--qat-objective applies to --qat-steps N")
    if args.qat_average is not None and not (0 < args.qat_average < 1 and args.qat_steps):
        fail("--qat-average takes a decay between 0 and 1 and applies to --qat-steps N")
    if not args.qat_lr > 0:
        fail(f"--qat-lr must be a positive learning rate, not {args.qat_lr}")
    input_size = None
    if args.input_size is not None:
        try:
            input_size = tuple(int(v) for v in args.input_size.lower().split("x"))
        except ValueError:
            input_size = ()
        if len(input_size) != 2 or min(input_size) < 1:
            fail(f"--input-size must be HxW, e.g. 720x1280, not {args.input_size!r}")
        if fmt.name == "keras":
            fail("--input-size applies to pb, saved_model, tflite and onnx, not to .keras")
    from pirm_enhance.quiet import quiet_tensorflow

    quiet_tensorflow()
    from pirm_enhance.exporters import export
    from pirm_enhance.zoo import load_model

    model = load_model(args.model, checkpoint=args.checkpoint)
    report = export(model, args.output, format=fmt.name, quantization=args.quantization,
                    calibration_images=args.calibration, clip=args.clip,
                    allow_rule_violations=args.allow_rule_violations, overwrite=args.overwrite,
                    input_size=input_size, qat_steps=args.qat_steps, lowering=args.lowering,
                    qat_decay=None if args.qat_decay == "none" else args.qat_decay, qat_lr=args.qat_lr,
                    int8_ranges=args.int8_ranges, equalize=equalize, qat_phone_like=args.qat_phone_like,
                    qat_seeds=args.qat_seeds, qat_average=args.qat_average, qat_objective=args.qat_objective,
                    **calibration)
    print(json.dumps(report, indent=1))
    return 0


main = entry(run)

if __name__ == "__main__":
    sys.exit(main())
