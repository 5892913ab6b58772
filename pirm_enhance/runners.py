"""One interface to run any model on images: ``runner(batch) -> batch``.

Batches are ``[N, H, W, 3]`` float32 NumPy arrays in [0, 1]; results come back
unclipped as float32 (the scorer clips for PSNR only, as the organisers did).
Runners exist for Keras models, frozen TF1 graphs (``.pb``), SavedModels and
TFLite files; the scorer, the exporter's checks and pirm-enhance all use them.
A malformed submission gives one :class:`SubmissionError` line.
"""

import contextlib
import os
import pathlib
import sys

import numpy as np
import tensorflow as tf

from pirm_enhance.errors import ModelFileError, ModelRunError, PirmError, SubmissionError, UnsafeGraph, first_line
from pirm_enhance.formats import format_of, known_suffixes
from pirm_enhance.graph_check import check_ops, check_saved_model


def run_guarded(source, width, height, fn, *args, hint=""):
    """``fn(*args)``, with any failure of a model while running (a CheckNumerics that
    fires, an out-of-memory, a shape error) turned into one :class:`ModelRunError` line
    naming ``source`` and the image size; the library's own errors and Ctrl-C pass."""
    try:
        return fn(*args)
    except (PirmError, KeyboardInterrupt):
        raise
    except MemoryError:
        raise ModelRunError(f"{source}: out of memory at {width}x{height}{hint}") from None
    except Exception as err:  # TensorFlow, LiteRT and onnxruntime raise many types
        raise ModelRunError(f"{source}: the model failed while running on a {width}x{height} image "
                            f"({type(err).__name__}: {first_line(err)})") from None


class Runner:
    """Base of the runners: ``runner(batch) -> batch`` with ``kind``, ``name`` and ``source``.

    File runners implement ``_run_one(image)`` for one ``[1, H, W, 3]`` image;
    the base runs a batch image by image and checks every output: the input's
    shape, float values. ``open(path, name)`` is what the format table
    (:mod:`pirm_enhance.formats`) calls.
    """

    kind = None
    source = None
    name = None

    @classmethod
    def open(cls, path, name=None):
        return cls(path, name=name)

    def _run_one(self, image):
        raise NotImplementedError

    def __call__(self, batch):
        batch = np.asarray(batch, np.float32)
        return np.concatenate([self._checked(self._run_guarded(batch[i:i + 1]), batch[i:i + 1])
                               for i in range(batch.shape[0])])

    def _run_guarded(self, image):
        return run_guarded(self.source, image.shape[2], image.shape[1], self._run_one, image)

    def _checked(self, out, image):
        out = np.asarray(out)
        if out.shape != image.shape:
            raise SubmissionError(
                f"{self.source}: output has shape {list(out.shape)} for an input of shape {list(image.shape)}; "
                "the output must have the input's shape")
        if not np.issubdtype(out.dtype, np.floating):
            raise SubmissionError(f"{self.source}: output is {out.dtype}, expected float values in [0, 1]")
        return out.astype(np.float32, copy=False)


class KerasRunner(Runner):
    """A ``keras.Model`` through one ``tf.function`` with dynamic batch and size."""

    kind = "keras"

    def __init__(self, model, name=None, source=None):
        self.model = model
        self.name = name or model.name
        self.source = source or f"keras model {model.name}"
        self._fn = tf.function(
            lambda x: model(x, training=False),
            input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)],
            reduce_retracing=True)

    @classmethod
    def open(cls, path, name=None):
        from pirm_enhance.zoo import load_keras_file

        return cls(load_keras_file(path), name=name or pathlib.Path(path).stem, source=str(path))

    def _run_one(self, image):
        return self._fn(tf.constant(image)).numpy()

    def __call__(self, batch):
        batch = np.asarray(batch, np.float32)
        return self._checked(self._run_guarded(batch), batch)


class FrozenGraphRunner(Runner):
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
        return self.session.run(self.output, feed_dict={self.input: image})

    def node_stats(self, image):
        """TensorFlow's step statistics of one traced run on ``image`` ``[1, H, W, 3]``: a
        ``NodeExecStats`` per executed node (kernel label, times, output allocations)."""
        options = tf.compat.v1.RunOptions(trace_level=tf.compat.v1.RunOptions.FULL_TRACE)
        metadata = tf.compat.v1.RunMetadata()
        self.session.run(self.output, {self.input: image}, options=options, run_metadata=metadata)
        return [node for device in metadata.step_stats.dev_stats for node in device.node_stats]


class SavedModelRunner(Runner):
    """A SavedModel folder with a ``serving_default`` signature (one image in, one out)."""

    kind = "saved_model"

    def __init__(self, path, name=None, signature="serving_default"):
        self.source = str(path)
        self.name = name or pathlib.Path(path).name
        self.check(path)
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

    @staticmethod
    def check(path):
        """Parse ``saved_model.pb`` and refuse it, in one line, unless it passes
        :func:`pirm_enhance.graph_check.check_saved_model` (nothing is loaded or run)."""
        from tensorflow.core.protobuf import saved_model_pb2

        proto = saved_model_pb2.SavedModel()
        pb = pathlib.Path(path) / "saved_model.pb"
        if not pb.exists():
            raise SubmissionError(f"{path}: not a SavedModel folder (no saved_model.pb)")
        try:
            proto.ParseFromString(pb.read_bytes())
        except Exception as err:
            raise SubmissionError(f"{path}: saved_model.pb does not parse ({_first_line(err)})") from None
        check_saved_model(proto, str(path))  # ops, constants, checkpoint ops on its own folder only
        return proto

    def _run_one(self, image):
        out = self.fn(**{self.input_key: tf.constant(image)})
        if len(out) != 1:
            raise SubmissionError(f"{self.source}: the signature returns {len(out)} outputs, expected one")
        return next(iter(out.values())).numpy()


# XNNPACK delegate flags (tflite/delegates/xnnpack/xnnpack_delegate.h): signed and unsigned
# 8-bit inference (on by default), fp16 inference and the transient indirection buffer
XNNPACK_QS8, XNNPACK_QU8, XNNPACK_FORCE_FP16, XNNPACK_TRANSIENT_INDIRECTION = 0x1, 0x2, 0x4, 0x20
# the TFLite metadata entry in which a file allows reduced-precision inference (the converter
# writes "fp16accfp16" for float16 weights with float16 accumulation: quantization
# "float16_inference")
REDUCED_PRECISION_KEY = "reduced_precision_support"
# above this estimate of XNNPACK's convolution indirection buffers, run with transient ones
INDIRECTION_LIMIT = 256 * 2 ** 20
_CONV_OPS = {"CONV_2D": 1, "DEPTHWISE_CONV_2D": 1, "TRANSPOSE_CONV": 1}
# ops that make a resizable graph compute shapes while running
RUN_TIME_SHAPE_OPS = {"SHAPE", "FLOOR_MOD"}


class _QuietStderr:
    """Send file descriptor 2 to /dev/null (LiteRT's plugin loader prints there)."""

    def __enter__(self):
        try:
            sys.stderr.flush()
        except (OSError, ValueError, AttributeError):  # a closed or missing sys.stderr
            pass
        try:
            self.saved = os.dup(2)
        except OSError:  # no descriptor 2 (a daemon): nothing to quieten
            self.saved = None
            return
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)

    def __exit__(self, *exc):
        if self.saved is not None:
            os.dup2(self.saved, 2)
            os.close(self.saved)


def _probe(path_or_content):
    """``(indirection bytes per input pixel, op names)`` of a ``.tflite`` model (see
    :func:`indirection_bytes_per_pixel`); ``(0.0, set())`` when it cannot be probed."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    kwargs = {"model_content": path_or_content} if isinstance(path_or_content, bytes) else \
        {"model_path": str(path_or_content)}
    try:
        probe = Interpreter(**kwargs, experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        details = probe.get_input_details()  # the image: the 4-D input (the tile runtime adds a 1-D one)
        detail = next((d for d in details if len(d["shape"]) == 4), details[0])
        signature = [int(v) for v in detail.get("shape_signature", detail["shape"])]
        if -1 in signature:
            probe.resize_tensor_input(detail["index"], [1, 128, 128, 3])
            probe.allocate_tensors()
            pixels = 128 * 128
        else:
            pixels = signature[1] * signature[2]
        tensors = {t["index"]: t for t in probe.get_tensor_details()}
        total, names = 0, set()
        for op in probe._get_ops_details():
            names.add(op["op_name"])
            if op["op_name"] not in _CONV_OPS:
                continue
            weights = tensors[op["inputs"][1]]["shape"]
            out = tensors[op["outputs"][0]]["shape"]
            if len(weights) == 4 and len(out) == 4:
                total += 8 * int(out[1]) * int(out[2]) * int(weights[1]) * int(weights[2])
        return total / pixels, names
    except Exception:  # a model LiteRT cannot probe: no estimate
        return 0.0, set()


def reduced_precision(path_or_content):
    """The file's ``reduced_precision_support`` metadata (``"fp16accfp16"`` where it allows
    fp16 inference with fp16 accumulation), or ``None``: without it, or unreadable."""
    try:
        from ai_edge_litert import schema_py_generated as schema

        data = path_or_content if isinstance(path_or_content, bytes) else pathlib.Path(path_or_content).read_bytes()
        model = schema.Model.GetRootAsModel(data, 0)
        for i in range(model.MetadataLength()):
            entry = model.Metadata(i)
            if (entry.Name() or b"").decode(errors="replace") == REDUCED_PRECISION_KEY:
                raw = model.Buffers(entry.Buffer()).DataAsNumpy()
                return bytes(raw).rstrip(b"\0").decode(errors="replace") if not isinstance(raw, int) else None
    except Exception:  # a file without readable metadata allows nothing
        return None
    return None


def indirection_bytes_per_pixel(path_or_content):
    """Bytes of XNNPACK indirection buffers per input pixel of a ``.tflite`` model.

    XNNPACK's convolutions (indirect GEMM) keep one pointer per output pixel and
    kernel tap, for every convolution at once, for as long as the model is loaded:
    ``8 * sum(out_h * out_w * kh * kw)``. A 9x9 convolution at 1280x720 alone holds
    597 MB of pointers, which is why ``dped_resnet_12_64`` took 2.5 GB as TFLite.
    Measured on a delegate-free interpreter (a 128x128 probe for a resizable input;
    the static shapes of a fixed one). 0 when the model cannot be probed."""
    return _probe(path_or_content)[0]


class TFLiteRunner(Runner):
    """A ``.tflite`` file run by LiteRT, its input resized to each image.

    Runs on the XNNPACK delegate with ``num_threads`` (default: every core).
    ``low_memory``: ``None`` (default) switches to XNNPACK's transient indirection
    buffers (LiteRT's CompiledModel API, built each run instead of kept) when the
    kept ones would exceed :data:`INDIRECTION_LIMIT` at the image's size; ``True``
    / ``False`` force one way. The transient buffers cost time (RSGUNet at 720p:
    +35%), so small models keep the kept ones. LiteRT 2.3's CompiledModel crashes
    (a segmentation fault, not an error) on resizable graphs that compute shapes at
    run time (SHAPE ops: RSGUNet, EdS, PPCN), so those keep the interpreter; their
    fixed-size exports (``--input-size``) have no such ops and take the low-memory path.

    ``fp16``: XNNPACK's fp16 inference (activations and arithmetic in half precision, about
    half the activation memory; the file's float32 input and output stay). ``None``
    (default) follows the file: one whose metadata allows it (quantization
    ``float16_inference``: ``reduced_precision_support`` ``fp16accfp16``) runs in fp16 where
    LiteRT can, else in float32 (with the buffers ``low_memory`` gives a float32 file);
    ``True`` requires it (one clear error where it cannot run); ``False`` never. It goes
    through the CompiledModel API, so a resizable graph with run-time shape ops cannot take
    it (export it with ``--input-size``). ``precision`` says what the last run used:
    ``"fp16"`` or ``"fp32"``."""

    kind = "tflite"

    def __init__(self, path, name=None, num_threads=None, low_memory=None, fp16=None):
        from ai_edge_litert.interpreter import Interpreter

        self.source = str(path)
        self.name = name or pathlib.Path(path).stem
        self.num_threads = num_threads or os.cpu_count()
        self.low_memory = low_memory
        self.fp16 = fp16
        try:
            self.interpreter = Interpreter(model_path=self.source, num_threads=self.num_threads)
        except Exception as err:
            raise SubmissionError(f"{path}: LiteRT cannot load it ({_first_line(err)})") from None
        inputs = self.interpreter.get_input_details()
        outputs = self.interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise SubmissionError(f"{path}: expected one input and one output, found {len(inputs)} and {len(outputs)}")
        self.input_detail, self.output_detail = inputs[0], outputs[0]
        for role, detail in (("input", self.input_detail), ("output", self.output_detail)):
            if detail["dtype"] != np.float32:  # a [0, 1] image cast to integers would be scored as garbage
                raise SubmissionError(f"{path}: its {role} is {np.dtype(detail['dtype']).name}; the challenge feeds "
                                      "and reads float32 images in [0, 1]: convert with a float32 input and output "
                                      "(inference_input_type / inference_output_type; pirm-export's int8 files "
                                      "keep them float32)")
        self._shape = None
        self._per_pixel, self._ops = None, None
        self._compiled = None  # (CompiledModel, input buffers, output buffers) while low-memory
        self.mode = None  # "kept" or "transient": the indirection buffers of the last run
        self.precision = None  # "fp32" or "fp16": the arithmetic of the last run
        self._allowed = None  # the file's reduced-precision metadata, read on first use

    @property
    def fixed_shape(self):
        """``[1, H, W, 3]`` for a file exported with a fixed input size, else ``None``."""
        signature = [int(v) for v in self.input_detail.get("shape_signature", self.input_detail["shape"])]
        return None if -1 in signature else signature

    def indirection_bytes(self, height, width):
        """The estimate of XNNPACK's kept indirection buffers at ``height x width``."""
        if self._per_pixel is None:
            self._per_pixel, self._ops = _probe(self.source)
        return self._per_pixel * height * width

    @property
    def allows_fp16(self):
        """Whether the file's metadata allows fp16 inference with fp16 accumulation, as
        XNNPACK's fp16 kernels may accumulate (``"fp16accfp16"``). The converter's plain
        float16 files say ``"fp16accfp32"`` (fp16 arithmetic only with float32 sums), which
        XNNPACK cannot promise, so they run in float32."""
        if self._allowed is None:
            self._allowed = reduced_precision(self.source) or ""
        types, _, accumulation = self._allowed.partition("acc")
        return "fp16" in types and accumulation == "fp16"

    def _compilable(self):
        """Whether LiteRT's CompiledModel API can take this file: not a resizable graph with
        run-time shape ops (it would crash, see the class docstring)."""
        if self._ops is None:
            self._per_pixel, self._ops = _probe(self.source)
        return self.fixed_shape is not None or not self._ops & RUN_TIME_SHAPE_OPS

    def _wants_transient(self, shape):
        if self.low_memory is False:
            return False
        estimate = self.indirection_bytes(shape[1], shape[2])
        if not self._compilable():
            return False
        return bool(self.low_memory) or estimate > INDIRECTION_LIMIT

    def _wants_fp16(self):
        if self.fp16 is False or (self.fp16 is None and not self.allows_fp16):
            return False
        if not self._compilable():
            if self.fp16:
                raise SubmissionError(f"{self.source}: cannot run in fp16 here: fp16 inference goes through "
                                      "LiteRT's CompiledModel API, which cannot take this resizable graph's "
                                      "run-time shape ops; export it with --input-size HxW")
            return False
        return True

    def _compile(self, shape, transient=True, fp16=False):
        """A CompiledModel at ``shape`` with transient indirection buffers (else kept ones)
        and XNNPACK's fp16 inference if asked; ``None`` where this LiteRT has no such API or
        the model's input or output is not float32 (the interpreter is used instead)."""
        if self.input_detail["dtype"] != np.float32 or self.output_detail["dtype"] != np.float32:
            return None
        try:
            from ai_edge_litert.compiled_model import CompiledModel
            from ai_edge_litert.cpu_options import CpuOptions
            from ai_edge_litert.hardware_accelerator import HardwareAccelerator
            from ai_edge_litert.options import Options
        except ImportError:
            return None
        flags = XNNPACK_QS8 | XNNPACK_QU8 | (XNNPACK_TRANSIENT_INDIRECTION if transient else 0) | \
            (XNNPACK_FORCE_FP16 if fp16 else 0)
        try:  # a LiteRT without these options falls back to the interpreter too
            with _QuietStderr():  # LiteRT's environment and accelerator registry log each step there
                options = Options(hardware_accelerators=HardwareAccelerator.CPU,
                                  cpu_options=CpuOptions(num_threads=self.num_threads, xnnpack_flags=flags))
                model = CompiledModel.from_file(self.source, options=options)
                if self.fixed_shape is None:
                    model.resize_input_tensor(0, list(shape))
                return model, model.create_input_buffers(0), model.create_output_buffers(0)
        except Exception:  # a model the CompiledModel API refuses: the interpreter runs it
            return None

    def __del__(self):
        if getattr(self, "_compiled", None) is not None:
            try:
                with _QuietStderr():  # the registry logs the accelerators it destroys
                    self._compiled = None
            except Exception:  # at interpreter shutdown: let it go as it may
                pass

    def _run_one(self, image):
        first = self._shape != image.shape  # a first run at this size: interpreter or compiled model set up
        if first:
            fixed = self.fixed_shape
            if fixed is not None and list(image.shape) != fixed:
                raise SubmissionError(f"{self.source}: takes {fixed[1]}x{fixed[2]} images only (a fixed "
                                      f"input size), not {image.shape[1]}x{image.shape[2]}; export it without "
                                      "--input-size for any size")
            transient, fp16 = self._wants_transient(image.shape), self._wants_fp16()
            self._compiled = self._compile(image.shape, transient, fp16) if transient or fp16 else None
            if self._compiled is None and fp16:
                if self.fp16:
                    raise SubmissionError(f"{self.source}: cannot run in fp16 here: LiteRT's CompiledModel API "
                                          "with XNNPACK's fp16 inference refused it; run it with fp16=False")
                # a file that only allows fp16 runs in float32, on transient buffers where it needs them
                fp16 = False
                self._compiled = self._compile(image.shape, True, False) if transient else None
            if self._compiled is None:
                self.interpreter.resize_tensor_input(self.input_detail["index"], list(image.shape))
                try:
                    self.interpreter.allocate_tensors()
                except Exception as err:
                    raise SubmissionError(
                        f"{self.source}: cannot run at {image.shape[1]}x{image.shape[2]} ({_first_line(err)})") from None
            self.mode = "transient" if self._compiled is not None and transient else "kept"
            self.precision = "fp16" if self._compiled is not None and fp16 else "fp32"
            self._shape = image.shape
        if self._compiled is not None:
            model, inputs, outputs = self._compiled
            # the first buffer write creates LiteRT's environment, which logs to stderr
            with _QuietStderr() if first else contextlib.nullcontext():
                inputs[0].write(np.ascontiguousarray(image, dtype=np.float32))
                model.run_by_index(0, inputs, outputs)
                shape = [int(v) for v in outputs[0].get_tensor_details()["shape"]]
                return outputs[0].read(int(np.prod(shape)), np.float32).reshape(shape)
        self.interpreter.set_tensor(self.input_detail["index"], image.astype(self.input_detail["dtype"]))
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output_detail["index"])


class OnnxRunner(Runner):
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
        return self.session.run(None, {self.input_name: image})[0]


_first_line = first_line


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
    """A runner for any submission: a runner, a ``keras.Model``, a zoo/pretrained name
    (``"default"`` included), or a path to a file of any format in :data:`pirm_enhance.formats.FORMATS`."""
    if isinstance(submission, Runner) or (hasattr(submission, "kind") and callable(submission)):
        return submission
    import keras

    if isinstance(submission, keras.Model):
        return KerasRunner(submission, name=name)
    text = os.fspath(submission)
    path = pathlib.Path(text)
    fmt = format_of(path)
    if fmt is not None:
        if not path.exists():
            raise ModelFileError(f"{path}: no such {'folder' if fmt.folder else 'file'}")
        if fmt.folder != path.is_dir():
            raise SubmissionError(f"{path}: a {fmt.description} is a {'folder' if fmt.folder else 'file'}")
        return fmt.runner_class().open(path, name=name)
    if path.exists():
        raise SubmissionError(f"{path}: unknown model file type {path.suffix or '(no suffix)'}; "
                              f"expected {', '.join(known_suffixes())} or a SavedModel folder")
    from pirm_enhance.zoo import load_model

    return KerasRunner(load_model(text), name=name or text, source=text)


__all__ = ["FrozenGraphRunner", "KerasRunner", "OnnxRunner", "Runner", "SavedModelRunner", "SubmissionError",
           "TFLiteRunner", "UnsafeGraph", "make_runner", "read_graph_def"]
