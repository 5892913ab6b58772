"""Writing a Keras model as a frozen graph, SavedModel, TFLite, ONNX or ``.keras`` file.

One ``write_<format>(model, path, quantization, calibration, clip)`` function
per format; :data:`pirm_enhance.formats.FORMATS` names them, and
:func:`write` dispatches through that table.
"""

import numbers
import os
import pathlib
import shutil
import sys
import tempfile

import numpy as np
import tensorflow as tf

from pirm_enhance.data.io import write_atomic
from pirm_enhance.data.photos import representative_images  # noqa: F401 (exported here too)
from pirm_enhance.errors import ModelFileError, ModelRunError, UsageError
from pirm_enhance.graphs import INPUT_SPEC, frozen_function, frozen_graph_def, input_spec  # noqa: F401
from pirm_enhance.formats import EXPORT_FORMATS, FORMATS as FORMAT_TABLE, get_format

FORMATS = EXPORT_FORMATS
TFLITE_QUANTIZATIONS = FORMAT_TABLE["tflite"].quantizations
LOWERINGS = ("auto", "none")
# bundled photos calibrated on when no calibration images are given (one 256-px crop each).
# int8: 16, the budget of its per-tensor range search. int16x8: 32. A static int16 range
# that a held-out photo exceeds clips its instance-norm means, and everything after them;
# on 160 held-out crops (bundled photos 60-99; never the PIRM pairs) the PPCN teacher's
# 16x8 file came 41.9 / 43.3 / 45.7 / 46.2 / 45.2 dB from float with 16 / 24 / 32 / 40 /
# 48 photos, the student's 42.9 / 43.1 / 45.7 / 45.5 / 45.6 (BUILD_NOTES, the phone path)
CALIBRATION_PHOTOS = {"int8": 16, "int16x8": 32}
# the side of the calibration crops (``None``: whole photos; BUILD_NOTES "Transposed
# convolutions as phase convolutions" has what each gives EdS at 100 px and at 720p)
CALIBRATION_SIZE = 256


def graph_lowering(format, quantization="float32", lowering="auto"):
    """The :mod:`pirm_enhance.lowering` target an export traces with: ``None`` for
    ``lowering="none"`` (the layers as written); ``"tflite_int8"`` for int8 TFLite (the
    transposed convolutions' phase form only: the convolution rewrites' partial sums would
    be one more rounded tensor); ``"tflite_int16x8"`` for int16x8 TFLite (the instance
    norms' float statistics only); ``"tflite"`` for the other TFLite files, ``"tf"`` for
    pb, SavedModel and ONNX."""
    if lowering not in LOWERINGS:
        raise UsageError(f"lowering must be one of {LOWERINGS}, got {lowering!r}")
    if lowering == "none" or format == "keras":
        return None
    if format == "tflite":
        return {"int8": "tflite_int8", "int16x8": "tflite_int16x8"}.get(quantization, "tflite")
    return "tf"


def tflite_bytes(model, quantization="float32", calibration=None, clip=False, input_size=None,
                 lowering="auto", int8_ranges="search"):
    """Convert through the frozen graph (the route that keeps Keras 3 weights) to builtin ops only;
    ``input_size`` ``(height, width)`` fixes the input (default: any size); ``lowering``
    see :func:`graph_lowering`. Full int8 rounds where :mod:`pirm_enhance.quantize`
    simulates, with FakeQuant ranges calibrated on ``calibration`` by the rule
    ``int8_ranges`` (``"search"``, ``"minmax"``, per-point percentiles or learnt
    ``[low, high]`` pairs: :func:`pirm_enhance.quantize.int8_quantizer`)."""
    if quantization not in TFLITE_QUANTIZATIONS:
        raise UsageError(f"quantization must be one of {TFLITE_QUANTIZATIONS}, got {quantization!r}")
    if quantization == "int8":
        from pirm_enhance.quantize import _check_ranges

        _check_ranges(int8_ranges)  # "learn" is a fine-tuning's rule, not a calibration's
    if quantization not in CALIBRATION_PHOTOS:
        return _convert(model, quantization, None, clip, input_size, lowering, None)
    images = calibration or representative_images(count=CALIBRATION_PHOTOS[quantization])
    if input_size is not None:  # a fixed input takes calibration images of its own size only
        images = [tf.image.resize(img, input_size).numpy() if img.shape[:2] != tuple(input_size) else img
                  for img in images]
    simulated = reason = None
    if quantization == "int8":  # 8-bit rounding where the simulation rounds, with its ranges
        from pirm_enhance.quantize import int8_forward

        forward = int8_forward(model, images, int8_ranges, progress=int8_ranges == "search")
        try:
            simulated = _convert(model, quantization, images, clip, input_size, lowering, forward)
        except Exception as e:  # e.g. a concatenation of a rounded and an unrounded tensor
            reason = _converter_reason(e)
            print(f"int8: the converter refused the simulated ranges ({reason[:160]}); "
                  "calibrating with its own rule instead", file=sys.stderr)
    try:
        own = _convert(model, quantization, images, clip, input_size, lowering, None)
    except Exception as e:  # LiteRT raises ConverterError, or a bare RuntimeError
        if simulated is not None:
            return simulated
        reason = _converter_reason(e, reason)
        raise ModelRunError(f"{quantization}: LiteRT's converter cannot quantize {model.name} ({reason[:160]}); "
                            "export float32, float16 or dynamic_int8 instead") from None
    if simulated is None:
        return own
    # the converter does not always compute what the FakeQuant ops say (a Track A net came
    # out 0.6 from float against 0.03): keep the file closer to float on the calibration images;
    # with learnt ranges, closer to the simulation they were learnt in (the fine-tuned weights
    # serve those ranges, and their float output is no longer the model's target)
    from pirm_enhance.quantize import _explicit

    learnt = _explicit(int8_ranges)
    reference = forward if learnt else (lambda x: model(x, training=False))
    scores = [_calibration_psnr(data, reference, images) for data in (simulated, own)]
    print(f"int8: {scores[0]:.2f} dB from {'the simulation' if learnt else 'float'} on the calibration images "
          f"with the simulated ranges, "
          f"{scores[1]:.2f} with the converter's own; keeping the "
          f"{'simulated' if scores[0] >= scores[1] else 'converter'}'s", file=sys.stderr)
    return simulated if scores[0] >= scores[1] else own


def op_output_types(data):
    """``[(op name, dtype of its first output)]`` of a TFLite file, in execution order."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=data)
    dtypes = {t["index"]: t["dtype"] for t in interpreter.get_tensor_details()}
    return [(op["op_name"], dtypes.get(op["outputs"][0]) if len(op["outputs"]) else None)
            for op in interpreter._get_ops_details()]


def float_ops(data):
    """``{op name: count}`` of the ops of a TFLite file that compute in float, quantize and
    dequantize ops left out: in an int16x8 file the instance norms' ``ADD_N``, ``SQRT`` and
    ``DIV`` (:meth:`pirm_enhance.layers.InstanceNorm._float_deviation`), and any op
    the converter could not quantize; an int8 file has none."""
    found = {}
    for name, dtype in op_output_types(data):
        if name not in ("QUANTIZE", "DEQUANTIZE") and dtype == np.float32:
            found[name] = found.get(name, 0) + 1
    return dict(sorted(found.items()))


def _calibration_psnr(data, reference, images):
    """Mean PSNR (:func:`pirm_enhance.metrics.psnr`, both clipped to [0, 1]) of a TFLite
    file's outputs against ``reference(x)`` (a model, or the int8 simulation) on ``images``."""
    from ai_edge_litert.interpreter import Interpreter

    from pirm_enhance.metrics import psnr

    interpreter = Interpreter(model_content=data)
    index = interpreter.get_input_details()[0]["index"]
    values = []
    for img in images:
        x = np.asarray(img, np.float32)[None]
        if tuple(interpreter.get_input_details()[0]["shape"]) != x.shape:
            interpreter.resize_tensor_input(index, x.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(index, x)
        interpreter.invoke()
        values.append(psnr(interpreter.get_tensor(interpreter.get_output_details()[0]["index"]),
                           reference(tf.constant(x))))
    return float(np.mean(values))


def _converter_reason(error, default=None):
    """The first ``error:`` line of a LiteRT conversion error, without its location."""
    lines = [line.split("error:")[-1].strip() for line in str(error).splitlines() if "error:" in line]
    return lines[0] if lines else default or type(error).__name__


def _convert(model, quantization, images, clip, input_size, lowering, forward):
    func = frozen_function(model, clip, input_size, graph_lowering("tflite", quantization, lowering), forward=forward)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([func])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantization in ("float16", "float16_inference"):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
        if quantization == "float16_inference":
            # the file's metadata then allows fp16 inference with fp16 accumulation
            # (reduced_precision_support "fp16accfp16"), which TFLiteRunner follows
            converter.target_spec._experimental_supported_accumulation_type = tf.float16
    elif quantization == "dynamic_int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif quantization in ("int8", "int16x8"):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([img[None].astype(np.float32)] for img in images)
        # int8: int8 activations and weights; int16x8 (LiteRT's "16x8" mode): int16
        # activations with int8 weights, for layers whose activations need more than 8 bits
        # int16x8 also takes float builtins: ops without an int16 kernel stay float (the
        # instance norms' ADD_N, SQRT and DIV in their int16x8 form, pirm_enhance.layers)
        converter.target_spec.supported_ops = (
            [tf.lite.OpsSet.TFLITE_BUILTINS_INT8] if quantization == "int8"
            else [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8,
                  tf.lite.OpsSet.TFLITE_BUILTINS])
        # float in, float out: the file runs wherever a float32 one does
        converter.inference_input_type = tf.float32
        converter.inference_output_type = tf.float32
    return converter.convert()


def onnx_bytes(model, clip=False, opset=13, input_size=None, lowering="auto"):
    """ONNX through tf2onnx from the frozen graph (names ``input:0`` / ``output:0`` kept)."""
    try:
        import tf2onnx
    except ImportError:
        raise UsageError("ONNX export needs tf2onnx: pip install 'pirm-enhance[onnx]'") from None
    # explicit SAME padding: ONNX Runtime refuses a dilated Conv with auto_pad SAME (PPCN)
    graph_def = frozen_graph_def(model, clip, input_size, graph_lowering("onnx", lowering=lowering),
                                 explicit_padding=True)
    proto, _ = tf2onnx.convert.from_graph_def(
        graph_def, input_names=["input:0"], output_names=["output:0"], opset=opset)
    return proto.SerializeToString()


def _write_saved_model(model, path, clip=False, input_size=None, lowering="auto"):
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = pathlib.Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part"))
    try:
        module = tf.Module()
        module.model = model

        @tf.function(input_signature=[input_spec(input_size)])
        def serve(x):
            y = model(x, training=False)
            return {"output": tf.clip_by_value(y, 0.0, 1.0) if clip else y}

        module.serve = serve
        from pirm_enhance.lowering import split_kernels

        with split_kernels(model, graph_lowering("saved_model", lowering=lowering)):  # traced while saving
            tf.saved_model.save(module, str(tmp), signatures={"serving_default": serve})
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_pb(model, path, quantization="float32", calibration=None, clip=False, input_size=None,
             lowering="auto", int8_ranges="search"):
    graph_def = frozen_graph_def(model, clip, input_size, graph_lowering("pb", lowering=lowering))
    write_atomic(path, graph_def.SerializeToString())


def write_saved_model(model, path, quantization="float32", calibration=None, clip=False, input_size=None,
                      lowering="auto", int8_ranges="search"):
    _write_saved_model(model, path, clip, input_size, lowering)


def write_tflite(model, path, quantization="float32", calibration=None, clip=False, input_size=None,
                 lowering="auto", int8_ranges="search"):
    write_atomic(path, tflite_bytes(model, quantization, calibration, clip, input_size, lowering, int8_ranges))


def write_onnx(model, path, quantization="float32", calibration=None, clip=False, input_size=None,
               lowering="auto", int8_ranges="search"):
    write_atomic(path, onnx_bytes(model, clip, input_size=input_size, lowering=lowering))


def write_keras(model, path, quantization="float32", calibration=None, clip=False, input_size=None,
                lowering="auto", int8_ranges="search"):
    """A ``.keras`` file (``clip`` and ``input_size`` are not applied: the model is saved as it is)."""
    from pirm_enhance.zoo import save_keras_file

    save_keras_file(model, path)


def _check_output(path, fmt, overwrite):
    """One :class:`ModelFileError` line for an output ``path`` that the export of format
    ``fmt`` may not take: it exists without ``overwrite``, or it is a file where the format
    writes a folder (or the other way round)."""
    if path.exists() and not overwrite:
        raise ModelFileError(f"{path}: already exists; choose another output or pass --overwrite (overwrite=True)")
    if path.exists() and fmt.folder != path.is_dir():
        raise ModelFileError(f"{path}: exists and is a {'file' if path.is_file() else 'folder'}; a {fmt.name} "
                             f"export is a {'folder' if fmt.folder else 'file'}")


def write(model, path, format, quantization="float32", calibration=None, clip=False, overwrite=True,
          input_size=None, lowering="auto", int8_ranges="search"):
    """Write ``model`` to ``path`` in ``format`` (atomically); returns the path.

    ``overwrite=False`` refuses an existing ``path`` before anything is written.
    ``input_size`` ``(height, width)``: a graph that takes that size only.
    ``lowering``: ``"auto"`` rewrites large convolutions with few output channels (and,
    for float TFLite, 9x9 RGB-input ones) into an equivalent faster, leaner form
    (:mod:`pirm_enhance.lowering`); ``"none"`` keeps the layers as written.
    """
    graph_lowering(format, quantization, lowering)  # an unknown value is refused before any work
    if input_size is not None:
        input_size = tuple(int(v) for v in input_size)
        if len(input_size) != 2 or min(input_size) < 1:
            raise UsageError(f"input_size must be (height, width) of positive integers, got {input_size}")
        if format == "keras":
            raise UsageError("a fixed input size applies to graph formats (pb, saved_model, tflite, onnx), "
                             "not to .keras")
    fmt = get_format(format)
    if fmt.writer is None or format not in EXPORT_FORMATS:
        raise UsageError(f"format must be one of {', '.join(EXPORT_FORMATS)}, got {format!r}")
    if quantization not in fmt.quantizations:
        raise UsageError(f"quantization {quantization} does not apply to {format} "
                         f"(it takes {', '.join(fmt.quantizations)}; TFLite takes {', '.join(TFLITE_QUANTIZATIONS)})")
    path = pathlib.Path(path)
    _check_output(path, fmt, overwrite)
    fmt.write_function()(model, path, quantization, calibration, clip, input_size=input_size,
                         lowering=lowering, int8_ranges=int8_ranges)
    return path


def export(model, path, format="pb", quantization="float32", calibration_images=None,
           clip=False, check=True, allow_rule_violations=False, measure_ram=True, overwrite=True,
           input_size=None, qat_steps=0, qat_photos=None, lowering="auto", qat_decay="cosine",
           int8_ranges="search", qat_lr=1e-4, equalize=False, qat_phone_like=False, qat_seeds=1,
           qat_average=None, calibration_size=CALIBRATION_SIZE, qat_objective=None):
    """Export ``model`` (a ``keras.Model`` or a zoo name) to ``path`` and check the result.

    ``format``: ``pb`` (frozen TF1 GraphDef, the challenge format), ``saved_model``,
    ``tflite`` (``quantization`` float32 / float16 / float16_inference / dynamic_int8 /
    int16x8 / int8; ``float16_inference`` is float16 weights in a file that allows fp16
    inference, which :class:`~pirm_enhance.runners.TFLiteRunner` then runs; int8
    and int16x8 are calibrated on ``calibration_images``, else on the first 16 (int8) or
    32 (int16x8) bundled photos, :data:`CALIBRATION_PHOTOS`, else on synthetic photos; one
    ``calibration_size`` crop of each, default 256, ``None`` for the whole photos) or
    ``onnx``.
    ``clip`` appends ``clip_by_value(0, 1)`` to the graph. Returns the check
    report (see :func:`pirm_enhance.exporters.checks.check_export`); a broken rule
    raises :class:`RuleViolation` unless ``allow_rule_violations``. ``measure_ram``
    runs the file on a 1280x720 image in a fresh process (a few seconds).
    ``overwrite=False`` refuses an existing ``path`` (the CLI's default).
    ``input_size`` ``(height, width)`` fixes the graph's input (what a phone app feeds
    a camera frame through; LiteRT then plans the graph once, see BUILD_NOTES Export);
    the default takes any size, as the challenge required of a submission.
    ``qat_steps`` (int8 / int16x8 TFLite): first fine-tune a copy of the model for that
    many steps with 8-bit rounding simulated, the float model as teacher, on
    ``qat_photos`` (default: the bundled photos; :mod:`pirm_enhance.quantize`); the
    report then carries the fine-tuning's held-out figures under ``"qat"``; ``qat_decay``
    (``"cosine"`` or ``None``) is its learning-rate schedule, ``qat_lr`` its peak rate;
    ``qat_phone_like`` adds a phone-like version of each photo and chooses the kept step on
    phone-like held-out photos (``phone_like`` of
    :func:`~pirm_enhance.quantize.finetune_for_int8`); ``qat_seeds`` runs the fine-tuning
    that many times, with crop seeds 0, 1, ..., and keeps the run whose best step came
    closest to float on the held-out photos (the report names its ``"seed"`` and lists every
    run's figure under ``"held_out_by_seed"``); ``qat_average`` (a decay in (0, 1)) has the
    held-out checks judge, and the file take, a moving average of the fine-tuned weights
    (``average`` of :func:`~pirm_enhance.quantize.finetune_for_int8`); ``qat_objective``
    (``"mse"`` or ``"psnr"``; ``None``: :data:`pirm_enhance.quantize.OBJECTIVE`) is what the
    fine-tuning minimises (``objective`` there).
    ``int8_ranges`` (full int8):
    ``"search"`` (the default: per tensor, min/max or a percentile range, whichever
    brings the simulated output closest to float on the calibration images) or
    ``"minmax"`` (the converter's rule); after fine-tuning, the rule it trained with;
    ``"learn"`` (with ``qat_steps``): the ranges start at min/max and are learnt with the
    weights, and the file takes the kept step's ranges.
    ``lowering`` (``"auto"`` / ``"none"``): see :func:`write`; the report names the
    convolutions rewritten under ``"lowered"``, and for int8 / int16x8 TFLite the ops left
    in float under ``"float_ops"`` (:func:`float_ops`). ``equalize`` (full int8): first
    zero the biases that an instance norm cancels (:func:`pirm_enhance.quantize.drop_norm_biases`),
    then rescale the channels that share a tensor's 8-bit step towards equal spread on the
    calibration images (:func:`pirm_enhance.quantize.equalize`), both the same function in
    float, before any fine-tuning; ``True`` goes as far as
    :data:`pirm_enhance.quantize.EQUALIZE_ALPHA`, a number in ``(0, 1]`` is the ``alpha``
    of :func:`~pirm_enhance.quantize.equalize` (1: every channel to the widest one's
    spread); ``float16_inference`` drops those biases too (the same function; in fp16 a level
    beside a small spread loses the spread's precision); the report names the convolutions
    under ``"norm_biases_dropped"``, lists the
    groups and factors under ``"equalized"`` and the ``alpha`` under ``"equalize_alpha"``.
    """
    from pirm_enhance.exporters.checks import check_export
    from pirm_enhance.runners import make_runner

    if int8_ranges == "learn" and not (qat_steps and format == "tflite" and quantization == "int8"):
        raise UsageError("int8_ranges='learn' applies to full-int8 TFLite exports with quantization-aware "
                         "fine-tuning (--quantization int8 --qat-steps N)")
    if qat_phone_like and not qat_steps:
        raise UsageError("qat_phone_like applies to quantization-aware fine-tuning (--qat-steps N)")
    if not (isinstance(qat_seeds, int) and qat_seeds >= 1) or (qat_seeds > 1 and not qat_steps):
        raise UsageError(f"qat_seeds takes a count >= 1 and applies to quantization-aware fine-tuning "
                         f"(--qat-steps N), got {qat_seeds!r}")
    from pirm_enhance.quantize import OBJECTIVE, OBJECTIVES, _decay

    if qat_objective is not None and (qat_objective not in OBJECTIVES or not qat_steps):
        raise UsageError(f"qat_objective takes one of {', '.join(OBJECTIVES)} and applies to "
                         f"quantization-aware fine-tuning (--qat-steps N), got {qat_objective!r}")
    if qat_average is not None and not (qat_steps and _decay(qat_average)):
        raise UsageError(f"qat_average takes a moving-average decay between 0 and 1 and applies to "
                         f"quantization-aware fine-tuning (--qat-steps N), got {qat_average!r}")
    if calibration_size is not None and (isinstance(calibration_size, bool)
                                         or not isinstance(calibration_size, numbers.Integral) or calibration_size < 16):
        raise UsageError(f"calibration_size must be a crop side of at least 16 pixels, or None for whole photos, "
                         f"got {calibration_size!r}")
    if format in EXPORT_FORMATS:  # an existing output: said before minutes of calibration or fine-tuning
        _check_output(pathlib.Path(path), get_format(format), overwrite)
    if not hasattr(model, "weights"):
        from pirm_enhance.zoo import load_model

        model = load_model(str(model))
    if format == "keras":
        check = False  # the file is the model itself
    calibration = (representative_images(calibration_images, count=CALIBRATION_PHOTOS[quantization],
                                         size=calibration_size)
                   if format == "tflite" and quantization in CALIBRATION_PHOTOS else None)
    equalized = dropped = None
    if equalize is not False and equalize is not None:
        from pirm_enhance.quantize import EQUALIZE_ALPHA, drop_norm_biases
        from pirm_enhance.quantize import equalize as equalize_channels

        if format != "tflite" or quantization != "int8":
            raise UsageError("equalize applies to full-int8 TFLite exports only (--quantization int8)")
        alpha = EQUALIZE_ALPHA if equalize is True else equalize  # equalize_channels checks it
        model, dropped = drop_norm_biases(model)
        model, equalized = equalize_channels(model, calibration, alpha=alpha)
    if format == "tflite" and quantization == "float16_inference":
        from pirm_enhance.quantize import drop_norm_biases

        # in fp16 arithmetic a channel's level (a bias) beside its small spread before an
        # instance norm costs the spread its precision: the PPCN student's file came out 38.6 dB
        # from float at 720p with them, 65.0 without (BUILD_NOTES "fp16 inference")
        model, dropped = drop_norm_biases(model)
    qat = None
    if qat_steps:
        if calibration is None:
            raise UsageError("qat_steps applies to TFLite int8 / int16x8 exports only")
        from pirm_enhance.quantize import finetune_for_int8

        if input_size is not None:
            calibration = [tf.image.resize(img, input_size).numpy() for img in calibration]
        # one call for every seed: the photos and the range rule are prepared once
        model, qat = finetune_for_int8(model, photos=qat_photos, calibration=calibration, steps=qat_steps,
                                       decay=qat_decay, ranges=int8_ranges, learning_rate=qat_lr,
                                       phone_like=qat_phone_like, seed=tuple(range(qat_seeds)),
                                       average=qat_average, objective=qat_objective or OBJECTIVE)
        int8_ranges = qat["int8_ranges"]
    final = pathlib.Path(path)
    # an existing output (overwrite) is replaced only by a file that passed its checks: the new
    # one is written and checked beside it under a hidden name first
    staged = check and os.path.lexists(final)  # of the right kind: _check_output above
    target = final.with_name(f".{final.stem}.staged-{os.getpid()}{final.suffix}") if staged else final
    path = write(model, target, format, quantization, calibration, clip, overwrite=True if staged else overwrite,
                 input_size=input_size, lowering=lowering, int8_ranges=int8_ranges)
    from pirm_enhance.lowering import planned

    report = {"path": str(final), "format": format,
              "quantization": quantization if format == "tflite" else "float32",
              "input_size": list(input_size) if input_size is not None else None,
              "lowered": planned(model, graph_lowering(format, quantization, lowering))}
    if calibration is not None:
        report["calibration_size"] = calibration_size
    if format == "tflite" and quantization in ("int8", "int16x8"):
        report["float_ops"] = float_ops(pathlib.Path(path).read_bytes())
    if dropped is not None:
        report["norm_biases_dropped"] = dropped
    if equalized is not None:
        report["equalized"] = equalized
        report["equalize_alpha"] = float(alpha)
    if qat is not None:
        report["qat"] = {k: v for k, v in qat.items() if k != "history"}
    if check:
        try:
            runner = make_runner(path)
            report.update(check_export(model, runner, path, report["quantization"],
                                       clip=clip, allow_rule_violations=allow_rule_violations,
                                       measure_ram=measure_ram, input_size=input_size, display=final))
            if format == "tflite":  # what the check ran: fp16 where the file allows it and LiteRT can
                report["precision"] = runner.precision
            del runner
        except BaseException:
            # a file that failed its checks is not left where a submission is expected, and an
            # existing output it was to replace stays as it was
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
            raise
        if staged:
            _replace(path, final)
    return report


def _replace(staged, final):
    """Put the checked ``staged`` export at ``final`` (a file: one rename; a SavedModel folder:
    the old one is renamed aside first and removed after)."""
    if not staged.is_dir():
        os.replace(staged, final)
        return
    aside = final.with_name(f".{final.name}.old-{os.getpid()}")
    os.replace(final, aside)
    try:
        os.replace(staged, final)
    except BaseException:
        os.replace(aside, final)
        raise
    shutil.rmtree(aside, ignore_errors=True)
