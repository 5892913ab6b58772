"""pirm-enhance: enhance photos (any size) with a zoo model or the project's default.

Examples:
  pirm-enhance photo.jpg -o enhanced/
  pirm-enhance ~/DCIM/*.JPG --model dped_resnet_12_64.pirm -o out/ --compare
  pirm-enhance folder/ --model student.tflite -o out/ --format png
Exits 1 if any file could not be enhanced (the others are still written).
"""

import argparse
import sys


def parser():
    p = argparse.ArgumentParser(prog="pirm-enhance", description=__doc__.splitlines()[0],
                                epilog="\n".join(__doc__.splitlines()[2:]),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="image files, folders or glob patterns")
    p.add_argument("-o", "--output", default="enhanced", help="output folder (default: enhanced/)")
    p.add_argument("--model", default="default",
                   help="pretrained name, .keras, .pb or .tflite file (default: the project's default model)")
    p.add_argument("--format", choices=("jpg", "png", "webp"), help="output format (default: as input)")
    p.add_argument("--quality", type=int, default=95, help="JPEG/WebP quality (default 95)")
    p.add_argument("--strip-metadata", action="store_true", help="do not copy EXIF/ICC to the output")
    p.add_argument("--compare", action="store_true", help="also write side-by-side PNGs")
    p.add_argument("--tile", type=int, default=512, help="tile size in pixels (multiple of 32)")
    p.add_argument("--overlap", type=int, default=64, help="tile overlap in pixels (multiple of 32)")
    p.add_argument("--max-pixels", type=float, default=100e6, help="refuse larger images (default 100e6)")
    p.add_argument("--suffix", default="", help="appended to output file names")
    p.add_argument("--list", action="store_true", help="list the pretrained names and exit")
    return p


def run(argv=None):
    args = parser().parse_args(argv)
    from pirm_enhance.cli import fail, quiet_tensorflow

    quiet_tensorflow()
    import pirm_enhance as pe
    from pirm_enhance.enhancer import Enhancer, enhance_files

    if args.list:
        print("\n".join(["default", *pe.list_pretrained()]))
        return 0
    if not args.inputs:
        fail("name at least one INPUT; see pirm-enhance --help", 2)
    try:
        enhancer = Enhancer(args.model, tile=args.tile, overlap=args.overlap)
    except (KeyError, ValueError, FileNotFoundError, pe.WeightsUnavailable) as err:
        fail(str(err).strip('"'), 2)
    result = enhance_files(args.inputs, args.output, enhancer, output_format=args.format,
                           quality=args.quality, keep_metadata=not args.strip_metadata,
                           compare=args.compare, max_pixels=int(args.max_pixels), suffix=args.suffix)
    print(f"{len(result['written'])} written to {args.output}, {len(result['failed'])} failed", file=sys.stderr)
    return 1 if result["failed"] or not result["written"] else 0


if __name__ == "__main__":
    sys.exit(run())
