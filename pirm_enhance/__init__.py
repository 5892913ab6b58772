"""pirm_enhance: the PIRM 2018 smartphone photo-enhancement challenge as a library.

    import pirm_enhance as pe
    model = pe.load_model("ppcn_student.paper")
    pe.evaluate(model)                      # PSNR / MS-SSIM on the Track B validation pairs
    pe.export(model, "student.tflite", format="tflite")
    pe.score("student.tflite")              # the organisers' protocol, Score A/B/C

The public names load on first use, so ``import pirm_enhance`` stays cheap
and command-line tools can start TensorFlow quietly.
"""

import importlib
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"

_PUBLIC = {
    "build_model": "pirm_enhance.zoo",
    "list_models": "pirm_enhance.zoo",
    "list_pretrained": "pirm_enhance.zoo",
    "load_model": "pirm_enhance.zoo",
    "load_tf1_checkpoint": "pirm_enhance.checkpoints",
    "list_model_names": "pirm_enhance.zoo",
    "PirmError": "pirm_enhance.errors",
    "CheckpointMismatch": "pirm_enhance.errors",
    "DataMissing": "pirm_enhance.errors",
    "ImageError": "pirm_enhance.errors",
    "ModelFileError": "pirm_enhance.errors",
    "ModelRunError": "pirm_enhance.errors",
    "OutputExists": "pirm_enhance.errors",
    "RuleViolation": "pirm_enhance.errors",
    "SubmissionError": "pirm_enhance.errors",
    "UnknownName": "pirm_enhance.errors",
    "UnsafeGraph": "pirm_enhance.errors",
    "UsageError": "pirm_enhance.errors",
    "WeightsUnavailable": "pirm_enhance.errors",
    "evaluate": "pirm_enhance.scoring.validation",
    "enhance": "pirm_enhance.enhancer",
    "Enhancer": "pirm_enhance.enhancer",
    "export": "pirm_enhance.exporters.writers",
    "score": "pirm_enhance.leaderboard",
}
_SUBPACKAGES = ("archs", "checkpoints", "colour", "data", "errors", "exporters", "formats", "layers", "leaderboard",
                "losses", "metrics", "mpse", "postprocess", "pretrained", "quantize", "registry", "runners", "runtimes", "scoring",
                "segment", "training", "zoo")

__all__ = sorted(_PUBLIC)


def __getattr__(name):
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name]), name)
    elif name in _SUBPACKAGES:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module 'pirm_enhance' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_PUBLIC) | set(_SUBPACKAGES))
