"""``build_model`` / ``load_model``: the zoo's public entry points."""

import os
import pathlib
import sys

import keras

from pirm_enhance import archs  # noqa: F401  (registers the architectures)
from pirm_enhance.checkpoints import load_tf1_checkpoint
from pirm_enhance.pretrained import WeightsUnavailable, get_entry, list_pretrained, resolve
from pirm_enhance.registry import build_model, get_builder, list_models


DEFAULT_MODEL_FILE = "default.keras"


def default_model_path():
    """The project's own default model: ``$PIRM_DEFAULT_MODEL``, the repository's
    ``models/default.keras``, or the copy installed under ``<prefix>/share/pirm_enhance/models``."""
    candidates = [os.environ.get("PIRM_DEFAULT_MODEL"),
                  pathlib.Path(__file__).resolve().parents[1] / "models" / DEFAULT_MODEL_FILE,
                  pathlib.Path(sys.prefix) / "share" / "pirm_enhance" / "models" / DEFAULT_MODEL_FILE]
    for candidate in candidates:
        if candidate and pathlib.Path(candidate).is_file():
            return str(candidate)
    raise FileNotFoundError("the default model file models/default.keras is missing; "
                            "retrain it with: python tools/train_default.py")


def load_model(name, checkpoint=None, **kwargs):
    """A ``keras.Model`` with trained weights.

    * ``load_model("ppcn_student.paper")``: a pretrained entry (see
      :func:`list_pretrained`), files resolved by :mod:`pirm_enhance.pretrained`;
    * ``load_model("dped_resnet_12_64", checkpoint="path/to/iphone_iteration_20000.ckpt")``:
      your own TF1 checkpoint of a zoo architecture;
    * ``load_model("model.keras")``: a saved Keras model;
    * ``load_model("default")``: the project's own default model (``models/``).

    ``kwargs`` go to the architecture's constructor (for checkpoints of
    non-default widths). Unknown names raise a KeyError listing close matches.
    """
    name = os.fspath(name)
    if name == "default" and checkpoint is None:
        return keras.saving.load_model(default_model_path())
    if name.endswith(".keras") and checkpoint is None:
        if not os.path.exists(name):
            raise FileNotFoundError(f"no such Keras model file: {name}")
        return keras.saving.load_model(name)
    if checkpoint is not None:
        model = build_model(name, **kwargs)
        return load_tf1_checkpoint(model, checkpoint)
    if "." not in name:
        get_builder(name)  # unknown architecture -> KeyError with close matches
        tags = list_pretrained(name)
        raise KeyError(
            f"{name!r} is an architecture; name a pretrained entry ({', '.join(tags) or 'none exist'}), "
            f"pass checkpoint=..., or use build_model({name!r}) for random weights")
    entry = get_entry(name)
    model = build_model(entry["arch"], **kwargs)
    return load_tf1_checkpoint(model, resolve(name))


__all__ = ["build_model", "list_models", "list_pretrained", "load_model"]


def load_official_or_random(arch, seed=0):
    """The first official checkpoint of ``arch`` whose files can be found, else
    ``arch`` with seeded random weights (benchmarks and tests whose numbers depend
    on realistic image statistics but must also run offline)."""
    for name in list_pretrained(arch):
        try:
            return load_model(name)
        except WeightsUnavailable:
            continue
    keras.utils.set_random_seed(seed)
    return build_model(arch)
