"""One interface to run any model on images: ``runner(batch) -> batch``.

Batches are ``[N, H, W, 3]`` float32 NumPy arrays in [0, 1]; results come back
unclipped as float32 (the scorer clips for PSNR only, as the organisers did).
Runners exist for Keras models, frozen TF1 graphs (``.pb``), SavedModels and
TFLite files; the scorer, the exporter's checks and pirm-enhance all use them.
A malformed submission gives one :class:`SubmissionError` line.
"""

import os
import pathlib

import numpy as np
import tensorflow as tf

from pirm_enhance import archs  # noqa: F401  (registers the zoo classes for .keras loading)
from pirm_enhance.graph_check import SAVED_MODEL_OPS, UnsafeGraph, check_ops


class SubmissionError(ValueError):
    """A model file that cannot be run as a PIRM submission, said in one line."""


class KerasRunner:
    """A ``keras.Model`` through one ``tf.function`` with dynamic batch and size."""

    kind = "keras"

    def __init__(self, model, name=None):
        self.model = model
        self.name = name or model.name
        self._fn = tf.function(
            lambda x: model(x, training=False),
            input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)],
            reduce_retracing=True)

    def __call__(self, batch):
        return self._fn(tf.constant(np.asarray(batch, np.float32))).numpy()


def _per_image(run_one, batch):
    batch = np.asarray(batch, np.float32)
    return np.concatenate([run_one(batch[i:i + 1]) for i in range(batch.shape[0])])


def _check_output(out, image, source):
    if out.shape != image.shape:
        raise SubmissionError(
            f"{source}: output has shape {list(out.shape)} for an input of shape {list(image.shape)}; "
            "the output must have the input's shape")
    return out


class FrozenGraphRunner:
    """A frozen GraphDef with ``input:0`` [1, H, W, 3] and ``output:0``, in a TF1 session."""

    kind = "pb"

    def __init__(self, path_or_graph_def, name=None, input_name="input:0", output_name="output:0"):
        if isinstance(path_or_graph_def, tf.compat.v1.GraphDef):
            graph_def, source = path_or_graph_def, name or "graph"
        else:
            source = str(path_or_graph_def)
            graph_def = read_graph_def(source)
        self.name = name or pathlib.Path(source).stem
        self.source = source
        check_ops(graph_def, source)
        self.graph = tf.Graph()
        with self.graph.as_default():
            try:
                tf.compat.v1.import_graph_def(graph_def, name="")
            except Exception as err:
                raise SubmissionError(f"{source}: the graph does not import ({_first_line(err)})") from None
        self.input = self._tensor(input_name, "the input placeholder")
        self.output = self._tensor(output_name, "the output")
        shape = self.input.shape
        if self.input.dtype != tf.float32:
            raise SubmissionError(f"{source}: {input_name} is {self.input.dtype.name}, the rules need float32")
        if shape.rank is not None and (shape.rank != 4 or shape[-1] not in (None, 3)
                                       or shape[0] not in (None, 1)
                                       or shape[1] is not None or shape[2] is not None):
            raise SubmissionError(
                f"{source}: {input_name} has shape {shape.as_list()}; the rules need [1, None, None, 3] "
                "(any resolution)")
        self.session = tf.compat.v1.Session(graph=self.graph)

    def _tensor(self, name, what):
        try:
            return self.graph.get_tensor_by_name(name)
        except (KeyError, ValueError):
            placeholders = [op.name for op in self.graph.get_operations() if op.type == "Placeholder"]
            raise SubmissionError(
                f"{self.source}: the graph has no tensor {name!r} ({what}); placeholders found: "
                f"{placeholders or 'none'}") from None

    def _run_one(self, image):
        out = self.session.run(self.output, feed_dict={self.input: image})
        return _check_output(np.asarray(out, np.float32), image, self.source)

    def __call__(self, batch):
        return _per_image(self._run_one, batch)


class SavedModelRunner:
    """A SavedModel folder with a ``serving_default`` signature (one image in, one out)."""

    kind = "saved_model"

    def __init__(self, path, name=None, signature="serving_default"):
        from tensorflow.core.protobuf import saved_model_pb2

        self.source = str(path)
        self.name = name or pathlib.Path(path).name
        proto = saved_model_pb2.SavedModel()
        pb = pathlib.Path(path) / "saved_model.pb"
        if not pb.exists():
            raise SubmissionError(f"{path}: not a SavedModel folder (no saved_model.pb)")
        try:
            proto.ParseFromString(pb.read_bytes())
        except Exception as err:
            raise SubmissionError(f"{path}: saved_model.pb does not parse ({_first_line(err)})") from None
        for meta in proto.meta_graphs:
            check_ops(meta.graph_def, self.source, SAVED_MODEL_OPS)
        try:
            self.module = tf.saved_model.load(self.source)
        except Exception as err:
            raise SubmissionError(f"{path}: the SavedModel does not load ({_first_line(err)})") from None
        if signature not in self.module.signatures:
            raise SubmissionError(
                f"{path}: no {signature!r} signature (found {list(self.module.signatures) or 'none'})")
        self.fn = self.module.signatures[signature]
        inputs = self.fn.structured_input_signature[1]
        if len(inputs) != 1:
            raise SubmissionError(f"{path}: the signature takes {len(inputs)} inputs, the rules need one image")
        self.input_key = next(iter(inputs))

    def _run_one(self, image):
        out = self.fn(**{self.input_key: tf.constant(image)})
        if len(out) != 1:
            raise SubmissionError(f"{self.source}: the signature returns {len(out)} outputs, expected one")
        return _check_output(next(iter(out.values())).numpy().astype(np.float32), image, self.source)

    def __call__(self, batch):
        return _per_image(self._run_one, batch)


class TFLiteRunner:
    """A ``.tflite`` file run by LiteRT, its input resized to each image."""

    kind = "tflite"

    def __init__(self, path, name=None, num_threads=None):
        from ai_edge_litert.interpreter import Interpreter

        self.source = str(path)
        self.name = name or pathlib.Path(path).stem
        try:
            self.interpreter = Interpreter(model_path=self.source, num_threads=num_threads or os.cpu_count())
        except Exception as err:
            raise SubmissionError(f"{path}: LiteRT cannot load it ({_first_line(err)})") from None
        inputs = self.interpreter.get_input_details()
        outputs = self.interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise SubmissionError(f"{path}: expected one input and one output, found {len(inputs)} and {len(outputs)}")
        self.input_detail, self.output_detail = inputs[0], outputs[0]
        self._shape = None

    def _run_one(self, image):
        if self._shape != image.shape:
            self.interpreter.resize_tensor_input(self.input_detail["index"], list(image.shape))
            try:
                self.interpreter.allocate_tensors()
            except Exception as err:
                raise SubmissionError(
                    f"{self.source}: cannot run at {image.shape[1]}x{image.shape[2]} ({_first_line(err)})") from None
            self._shape = image.shape
        self.interpreter.set_tensor(self.input_detail["index"], image.astype(self.input_detail["dtype"]))
        self.interpreter.invoke()
        out = self.interpreter.get_tensor(self.output_detail["index"])
        return _check_output(np.asarray(out, np.float32), image, self.source)

    def __call__(self, batch):
        return _per_image(self._run_one, batch)


class OnnxRunner:
    """An ``.onnx`` file run by onnxruntime on the CPU (optional extra)."""

    kind = "onnx"

    def __init__(self, path, name=None):
        try:
            import onnxruntime
        except ImportError:
            raise SubmissionError(f"{path}: running ONNX needs onnxruntime (pip install 'pirm-enhance[onnx]')") from None
        self.source = str(path)
        self.name = name or pathlib.Path(path).stem
        try:
            self.session = onnxruntime.InferenceSession(self.source, providers=["CPUExecutionProvider"])
        except Exception as err:
            raise SubmissionError(f"{path}: onnxruntime cannot load it ({_first_line(err)})") from None
        self.input_name = self.session.get_inputs()[0].name

    def _run_one(self, image):
        out = self.session.run(None, {self.input_name: image})[0]
        return _check_output(np.asarray(out, np.float32), image, self.source)

    def __call__(self, batch):
        return _per_image(self._run_one, batch)


def _first_line(err):
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def read_graph_def(path):
    """Parse a binary GraphDef file; one clear line if it is not one."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise SubmissionError(f"{path}: no such file")
    graph_def = tf.compat.v1.GraphDef()
    try:
        graph_def.ParseFromString(path.read_bytes())
    except Exception as err:
        raise SubmissionError(f"{path}: not a TensorFlow frozen graph (GraphDef .pb): {_first_line(err)}") from None
    if not graph_def.node:
        raise SubmissionError(f"{path}: not a TensorFlow frozen graph (GraphDef .pb): it holds no nodes")
    return graph_def


def make_runner(submission, name=None):
    """A runner for any submission: a runner, a ``keras.Model``, a zoo/pretrained name,
    or a path to a ``.pb``, SavedModel folder, ``.tflite``, ``.onnx`` or ``.keras`` file."""
    if hasattr(submission, "kind") and callable(submission):
        return submission
    import keras

    if isinstance(submission, keras.Model):
        return KerasRunner(submission, name=name)
    path = pathlib.Path(os.fspath(submission))
    suffix = path.suffix.lower()
    if path.is_dir():
        return SavedModelRunner(path, name=name)
    if suffix in (".tflite", ".keras") and not path.is_file():
        raise SubmissionError(f"{path}: no such file")
    if suffix == ".pb":
        return FrozenGraphRunner(path, name=name)
    if suffix == ".tflite":
        return TFLiteRunner(path, name=name)
    if suffix == ".onnx":
        return OnnxRunner(path, name=name)
    if suffix == ".keras":
        try:
            model = keras.saving.load_model(path)
        except Exception as err:
            raise SubmissionError(f"{path}: not a loadable Keras model ({_first_line(err)})") from None
        return KerasRunner(model, name=name or path.stem)
    if path.exists():
        raise SubmissionError(f"{path}: unknown submission type {suffix or '(no suffix)'}; "
                              "expected .pb, .tflite, .onnx, .keras or a SavedModel folder")
    from pirm_enhance.models_api import load_model

    return KerasRunner(load_model(str(submission)), name=name or str(submission))


__all__ = ["FrozenGraphRunner", "KerasRunner", "OnnxRunner", "SavedModelRunner", "SubmissionError",
           "TFLiteRunner", "UnsafeGraph", "make_runner", "read_graph_def"]
