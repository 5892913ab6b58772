"""pirm_enhance: the PIRM 2018 smartphone photo-enhancement challenge as a library.

    import pirm_enhance as pe
    model = pe.load_model("ppcn_student.paper")
    pe.evaluate(model)            # PSNR / MS-SSIM on the Track B validation pairs
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pirm_enhance.checkpoints import CheckpointMismatch, load_tf1_checkpoint  # noqa: E402
from pirm_enhance.models_api import build_model, list_models, list_pretrained, load_model  # noqa: E402
from pirm_enhance.pretrained import WeightsUnavailable  # noqa: E402
from pirm_enhance.scoring import evaluate  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "CheckpointMismatch", "WeightsUnavailable", "build_model", "evaluate", "list_models",
    "list_pretrained", "load_model", "load_tf1_checkpoint",
]
