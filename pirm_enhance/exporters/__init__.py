"""Exporters: the challenge's frozen ``.pb``, SavedModel, TFLite and ONNX.

``export(model, path, format=...)`` writes atomically, reloads what it wrote,
compares it with the Keras model on a random-size image and checks the
submission rules; see :mod:`pirm_enhance.exporters.checks`.
"""

from pirm_enhance.exporters.checks import RuleViolation, check_export
from pirm_enhance.exporters.writers import FORMATS, TFLITE_QUANTIZATIONS, export, frozen_graph_def

__all__ = ["FORMATS", "RuleViolation", "TFLITE_QUANTIZATIONS", "check_export", "export", "frozen_graph_def"]
