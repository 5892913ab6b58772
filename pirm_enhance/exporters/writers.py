"""Writing a Keras model as a frozen graph, SavedModel, TFLite file or ONNX file."""

import os
import pathlib
import shutil
import tempfile

import numpy as np
import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

from pirm_enhance.data.io import read_float, write_atomic
from pirm_enhance.data.synthetic import synthetic_photo

FORMATS = ("pb", "saved_model", "tflite", "onnx")
TFLITE_QUANTIZATIONS = ("float32", "float16", "dynamic_int8", "int8")
INPUT_SPEC = tf.TensorSpec([1, None, None, 3], tf.float32, name="input")


def frozen_function(model, clip=False):
    """The model as a constants-only concrete function ``input -> output``."""

    @tf.function(input_signature=[INPUT_SPEC])
    def serve(x):
        y = model(x, training=False)
        if clip:
            y = tf.clip_by_value(y, 0.0, 1.0)
        return tf.identity(y, name="output")

    return convert_variables_to_constants_v2(serve.get_concrete_function())


def frozen_graph_def(model, clip=False):
    """A TF1 GraphDef with placeholder ``input`` ([1, None, None, 3] float32) and
    ``output``, constants only: what the organisers loaded with ``import_graph_def``."""
    graph_def = frozen_function(model, clip).graph.as_graph_def()
    names = {node.name for node in graph_def.node}
    if "input" not in names or "output" not in names:
        raise RuntimeError(f"frozen graph lacks input/output nodes (has {sorted(names)[:10]} ...)")
    return graph_def


def representative_images(paths=None, count=16, size=256, seed=0):
    """Calibration images for full-int8 TFLite: crops of the user's images, or synthetic photos."""
    images = []
    for path in paths or ():
        img = read_float(path)
        rng = np.random.default_rng(seed + len(images))
        h, w = img.shape[:2]
        ch, cw = min(size, h), min(size, w)
        y, x = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
        images.append(img[y:y + ch, x:x + cw])
    while len(images) < count and not paths:
        images.append(synthetic_photo(size, size, seed=seed + len(images)))
    return images


def tflite_bytes(model, quantization="float32", calibration=None, clip=False):
    """Convert through the frozen graph (the route that keeps Keras 3 weights) to builtin ops only."""
    if quantization not in TFLITE_QUANTIZATIONS:
        raise ValueError(f"quantization must be one of {TFLITE_QUANTIZATIONS}, got {quantization!r}")
    func = frozen_function(model, clip)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([func])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantization == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantization == "dynamic_int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif quantization == "int8":
        images = calibration or representative_images()
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([img[None].astype(np.float32)] for img in images)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        # float in, float out: the file runs wherever a float32 one does
        converter.inference_input_type = tf.float32
        converter.inference_output_type = tf.float32
    return converter.convert()


def onnx_bytes(model, clip=False, opset=13):
    """ONNX through tf2onnx from the frozen graph (names ``input:0`` / ``output:0`` kept)."""
    try:
        import tf2onnx
    except ImportError:
        raise RuntimeError("ONNX export needs tf2onnx: pip install 'pirm-enhance[onnx]'") from None
    graph_def = frozen_graph_def(model, clip)
    proto, _ = tf2onnx.convert.from_graph_def(
        graph_def, input_names=["input:0"], output_names=["output:0"], opset=opset)
    return proto.SerializeToString()


def _write_saved_model(model, path, clip=False):
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = pathlib.Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part"))
    try:
        module = tf.Module()
        module.model = model

        @tf.function(input_signature=[INPUT_SPEC])
        def serve(x):
            y = model(x, training=False)
            return {"output": tf.clip_by_value(y, 0.0, 1.0) if clip else y}

        module.serve = serve
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


def write(model, path, format, quantization="float32", calibration=None, clip=False):
    """Write ``model`` to ``path`` in ``format`` (atomically); returns the path."""
    if format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {format!r}")
    if format == "pb":
        write_atomic(path, frozen_graph_def(model, clip).SerializeToString())
    elif format == "saved_model":
        _write_saved_model(model, path, clip)
    elif format == "tflite":
        write_atomic(path, tflite_bytes(model, quantization, calibration, clip))
    else:
        write_atomic(path, onnx_bytes(model, clip))
    return pathlib.Path(path)


def export(model, path, format="pb", quantization="float32", calibration_images=None,
           clip=False, check=True, allow_rule_violations=False, measure_ram=True):
    """Export ``model`` (a ``keras.Model`` or a zoo name) to ``path`` and check the result.

    ``format``: ``pb`` (frozen TF1 GraphDef, the challenge format), ``saved_model``,
    ``tflite`` (``quantization`` float32 / float16 / dynamic_int8 / int8; int8 is
    calibrated on ``calibration_images`` or on synthetic photos) or ``onnx``.
    ``clip`` appends ``clip_by_value(0, 1)`` to the graph. Returns the check
    report (see :func:`pirm_enhance.exporters.checks.check_export`); a broken rule
    raises :class:`RuleViolation` unless ``allow_rule_violations``. ``measure_ram``
    runs the file on a 1280x720 image in a fresh process (a few seconds).
    """
    from pirm_enhance.exporters.checks import check_export
    from pirm_enhance.runners import make_runner

    if not hasattr(model, "weights"):
        from pirm_enhance.models_api import load_model

        model = load_model(str(model))
    calibration = (representative_images(calibration_images)
                   if format == "tflite" and quantization == "int8" else None)
    path = write(model, path, format, quantization, calibration, clip)
    report = {"path": str(path), "format": format,
              "quantization": quantization if format == "tflite" else "float32"}
    if check:
        try:
            report.update(check_export(model, make_runner(path), path, report["quantization"],
                                       clip=clip, allow_rule_violations=allow_rule_violations,
                                       measure_ram=measure_ram))
        except Exception:
            # a file that failed its checks is not left where a submission is expected
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
            raise
    return report
