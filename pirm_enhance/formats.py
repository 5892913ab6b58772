"""The model-file formats, in one table: suffix, runner, writer, quantizations.

Everything that needs to know a format (``make_runner``, ``export``, the
scorer's variants, ``pirm-train --export``, the CLI choices) reads it from
:data:`FORMATS`. Adding a format is one entry here and one runner class (and a
writer function if the library can write it). Runners and writers are named
as ``"module:attribute"`` and imported on use, so this module stays free of
TensorFlow (``--help`` of a tool prints no TensorFlow start-up lines).
"""

import dataclasses
import importlib
import os
import pathlib

from pirm_enhance.errors import UnknownName


@dataclasses.dataclass(frozen=True)
class Format:
    name: str
    description: str
    suffixes: tuple  # lower-case; empty for a folder format
    runner: str  # "module:Class"; the class's ``open(path, name=None)`` makes the runner
    # "module:function"(model, path, quantization, calibration, clip, input_size=, lowering=);
    # None: not written
    writer: str = None
    variants: dict = dataclasses.field(default_factory=dict)  # scorer variant name -> quantization
    folder: bool = False

    @property
    def suffix(self):
        """The suffix a written file gets ("" for a folder)."""
        return self.suffixes[0] if self.suffixes else ""

    @property
    def quantizations(self):
        return tuple(self.variants.values()) or ("float32",)

    def runner_class(self):
        return _load(self.runner)

    def write_function(self):
        if self.writer is None:
            raise UnknownName(f"the library does not write {self.name} files; choose from {', '.join(EXPORT_FORMATS)}")
        return _load(self.writer)


def _load(spec):
    module, attr = spec.split(":")
    value = importlib.import_module(module)
    for part in attr.split("."):
        value = getattr(value, part)
    return value


_W = "pirm_enhance.exporters.writers"
_R = "pirm_enhance.runners"

FORMATS = {f.name: f for f in (
    Format("keras", "Keras 3 model file", (".keras",), f"{_R}:KerasRunner", f"{_W}:write_keras",
           {"keras": "float32"}),
    Format("pb", "frozen TF1 GraphDef (the PIRM submission format)", (".pb",), f"{_R}:FrozenGraphRunner",
           f"{_W}:write_pb", {"pb": "float32"}),
    Format("saved_model", "TensorFlow SavedModel folder", (), f"{_R}:SavedModelRunner",
           f"{_W}:write_saved_model", {"saved_model": "float32"}, folder=True),
    Format("tflite", "TFLite flat buffer, run by LiteRT", (".tflite",), f"{_R}:TFLiteRunner",
           f"{_W}:write_tflite",
           {"tflite": "float32", "tflite_fp16": "float16", "tflite_fp16_inference": "float16_inference",
            "tflite_dynamic_int8": "dynamic_int8",
            "tflite_16x8": "int16x8", "tflite_int8": "int8"}),
    Format("onnx", "ONNX, run by onnxruntime (optional extra)", (".onnx",), f"{_R}:OnnxRunner",
           f"{_W}:write_onnx", {"onnx": "float32"}),
)}

# formats ``export`` writes, in the order the CLI lists them
EXPORT_FORMATS = ("pb", "saved_model", "tflite", "onnx", "keras")
# every quantization any format takes
QUANTIZATIONS = tuple(dict.fromkeys(q for f in FORMATS.values() for q in f.quantizations))
# scorer variants: ``{"tflite_int8": ("tflite", "int8"), ...}``
VARIANTS = {v: (f.name, q) for f in FORMATS.values() for v, q in f.variants.items()}


def get_format(name):
    """The :class:`Format` called ``name``; :class:`UnknownName` otherwise."""
    try:
        return FORMATS[name]
    except KeyError:
        raise UnknownName(f"unknown format {name!r}; choose from {', '.join(FORMATS)}") from None


def format_of(path, writing=False):
    """The :class:`Format` of a path by its suffix; a folder is a SavedModel, and so is a
    path without suffix that is to be written (``writing``). ``None`` if unknown."""
    path = pathlib.Path(os.fspath(path))
    suffix = path.suffix.lower()
    for fmt in FORMATS.values():
        if suffix in fmt.suffixes:
            return fmt
    if path.is_dir() or (writing and not suffix):
        return FORMATS["saved_model"]
    return None


def known_suffixes():
    return sorted(s for f in FORMATS.values() for s in f.suffixes)


__all__ = ["EXPORT_FORMATS", "FORMATS", "Format", "QUANTIZATIONS", "VARIANTS", "format_of", "get_format",
           "known_suffixes"]
