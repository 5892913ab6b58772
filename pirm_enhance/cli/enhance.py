"""pirm-enhance: enhance photos (any size) with a zoo model or the project's default.

Examples:
  pirm-enhance photo.jpg -o enhanced/
  pirm-enhance ~/DCIM/*.JPG --model dped_resnet_12_64.pirm -o out/ --compare
  pirm-enhance folder/ --model student.tflite -o out/ --format png
  pirm-enhance night.jpg --post mpse -o out/
  pirm-enhance big.jpg --runtime tflite -o out/      # force LiteRT (default: the fastest, measured)
Exits 1 if any file could not be enhanced (the others are still written).
"""

import sys

from pirm_enhance.cli import ArgumentParser, entry, fail, positive_float, positive_int
from pirm_enhance.postprocess import POSTS
from pirm_enhance.runtimes import CHOICES


def _overlap(text):
    return "auto" if text == "auto" else positive_int(text)


def parser():
    p = ArgumentParser("pirm-enhance", __doc__)
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="image files, folders or glob patterns")
    p.add_argument("-o", "--output", default="enhanced", help="output folder")
    p.add_argument("--model", default="default",
                   help="pretrained name, .keras, .pb, .tflite or .onnx file, or a SavedModel folder "
                        "(default: the project's default model)")
    p.add_argument("--format", choices=("jpg", "png", "webp"), help="output format (default: as input)")
    p.add_argument("--quality", type=positive_int, default=95, help="JPEG/WebP quality, 1-100")
    p.add_argument("--strip-metadata", action="store_true", help="do not copy EXIF/ICC to the output")
    p.add_argument("--compare", action="store_true", help="also write side-by-side PNGs")
    p.add_argument("--tile", type=_overlap, default="auto",
                   help="largest tile size in pixels (multiple of 32), or auto (default: up to 1152, less for "
                        "models with large activations; .pb files by their measured activations, 768 for other "
                        "model files)")
    p.add_argument("--overlap", type=_overlap, default="auto",
                   help="tile overlap in pixels (multiple of 32), or auto (default: 32 where the model's "
                        "receptive radius is at most 16 px, 48 up to 24, else 64; .pb files by the radius read "
                        "from their ops, 64 for other model files)")
    p.add_argument("--max-pixels", type=positive_float, default=100e6, help="refuse larger images")
    p.add_argument("--post", choices=sorted(POSTS),
                   help="post-processing of the model's output: mpse = MPSE phase 3 (thesis 3.1.3): "
                        "per-region histogram equalisation, then gamma 1/2.2 (default: none)")
    p.add_argument("--runtime", choices=CHOICES, default="auto",
                   help="what runs a Keras model's tiles: keras (tf.function), graph (frozen), tflite "
                        "(XNNPACK), or auto: the fastest here, measured once per machine, model "
                        "architecture and tile size on a photo of 2 MP or more, and remembered "
                        "in $PIRM_HOME/runtimes.json (default: auto)")
    p.add_argument("--suffix", default="", help="appended to output file names")
    p.add_argument("--overwrite", action="store_true",
                   help="replace existing outputs and allow -o to be an input folder (an input file is never replaced)")
    p.add_argument("--list", action="store_true", help="list the model names and exit")
    return p


def run(argv=None):
    args = parser().parse_args(argv)
    if args.quality > 100:
        fail("--quality must be between 1 and 100")
    if args.list:
        from pirm_enhance.zoo import list_model_names

        print("\n".join(list_model_names()))
        return 0
    if not args.inputs:
        fail("name at least one INPUT; see pirm-enhance --help")
    from pirm_enhance.quiet import quiet_tensorflow

    quiet_tensorflow()
    from pirm_enhance.enhancer import Enhancer, enhance_files

    enhancer = Enhancer(args.model, tile=args.tile, overlap=args.overlap, post=args.post, runtime=args.runtime)
    result = enhance_files(args.inputs, args.output, enhancer, output_format=args.format,
                           quality=args.quality, keep_metadata=not args.strip_metadata,
                           compare=args.compare, max_pixels=int(args.max_pixels), suffix=args.suffix,
                           overwrite=args.overwrite)
    if enhancer.last_runtime is not None and enhancer.last_runtime[1] is not None:
        from pirm_enhance.runtimes import describe

        print(f"{enhancer.name}: {describe(enhancer.last_runtime[1])}", file=sys.stderr)
    print(f"{len(result['written'])} written to {args.output}, {len(result['failed'])} failed", file=sys.stderr)
    return 1 if result["failed"] or not result["written"] else 0


main = entry(run)

if __name__ == "__main__":
    sys.exit(main())
