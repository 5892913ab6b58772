"""The zoo's public entry points: ``build_model``, ``load_model``, ``list_models``,
``list_pretrained``, ``list_model_names``.

Keras is imported on first use, so ``pirm-* --list`` answers without starting
TensorFlow.
"""

import os
import pathlib

from pirm_enhance.errors import ModelFileError, UnknownName, WeightsUnavailable, first_line
from pirm_enhance.pretrained import DEFAULT_NAME, get_entry, list_pretrained, resolve
from pirm_enhance.registry import build_model, get_builder, list_models, unknown

DEFAULT_MODEL_FILE = "default.keras"


def list_model_names():
    """Every name ``load_model`` takes by name: ``default`` and the pretrained entries."""
    return [DEFAULT_NAME, *list_pretrained()]


def default_model_path():
    """The project's own default model: ``$PIRM_DEFAULT_MODEL``, the copy shipped inside the
    package (``pirm_enhance/models/``: a wheel, copied from ``models/`` at build time), or the
    repository's ``models/`` (a clone or an editable install)."""
    here = pathlib.Path(__file__).resolve().parent
    candidates = [os.environ.get("PIRM_DEFAULT_MODEL"),
                  here / "models" / DEFAULT_MODEL_FILE,
                  here.parent / "models" / DEFAULT_MODEL_FILE]
    for candidate in candidates:
        if candidate and pathlib.Path(candidate).is_file():
            return str(candidate)
    raise ModelFileError("the default model file default.keras is missing from this installation; "
                         "reinstall pirm-enhance or retrain it with: python tools/train_default.py")


def load_keras_file(path):
    """A ``.keras`` file loaded in safe mode; :class:`ModelFileError` with one line otherwise."""
    import keras

    from pirm_enhance import archs  # noqa: F401  (registers the zoo classes for deserialisation)

    path = pathlib.Path(os.fspath(path))
    if not path.is_file():
        raise ModelFileError(f"{path}: no such file")
    import zipfile

    if not zipfile.is_zipfile(path):
        raise ModelFileError(f"{path}: not a Keras 3 model file (a .keras file is a zip archive; this is not)")
    try:
        return keras.saving.load_model(path)
    except Exception as err:  # keras raises many types for a bad file
        reason = first_line(err)
        if len(reason) > 400:  # Keras quotes whole weight arrays in some messages
            reason = reason[:400] + " ..."
        raise ModelFileError(f"{path}: not a loadable Keras model file ({reason})") from None


def save_keras_file(model, path):
    """Save ``model`` as a ``.keras`` file atomically: through ``.<stem>.part.keras`` (Keras
    needs the suffix) and a rename; a save killed half-way leaves that part file, which
    the next save of the same path replaces."""
    path = pathlib.Path(os.fspath(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.part.keras")
    try:
        model.save(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def load_model(name, checkpoint=None, **kwargs):
    """A ``keras.Model`` with trained weights.

    * ``load_model("ppcn_student.paper")``: a pretrained entry (see
      :func:`list_pretrained`), files resolved by :mod:`pirm_enhance.pretrained`;
    * ``load_model("dped_resnet_12_64", checkpoint="path/to/iphone_iteration_20000.ckpt")``:
      your own TF1 checkpoint of a zoo architecture;
    * ``load_model("model.keras")``: a saved Keras model;
    * ``load_model("default")``: the project's own default model.

    ``kwargs`` go to the architecture's constructor (for checkpoints of
    non-default widths). Unknown names raise :class:`UnknownName` (a KeyError)
    listing close matches.
    """
    from pirm_enhance.checkpoints import load_tf1_checkpoint

    name = os.fspath(name)
    if name == DEFAULT_NAME and checkpoint is None:
        return load_keras_file(default_model_path())
    if name.lower().endswith(".keras") and checkpoint is None:
        return load_keras_file(name)
    if checkpoint is not None:
        model = build_model(name, **kwargs)
        return load_tf1_checkpoint(model, checkpoint)
    if "." not in name:
        get_builder(name)  # unknown architecture -> UnknownName with close matches
        tags = list_pretrained(name)
        raise UnknownName(
            f"{name!r} is an architecture; name a pretrained entry ({', '.join(tags) or 'none exist'}), "
            f"pass checkpoint=... (--checkpoint), or use build_model({name!r}) for random weights")
    if os.path.exists(name) or pathlib.Path(name).suffix.lower() in _model_file_suffixes():
        raise UnknownName(f"{name}: {'a model file' if os.path.exists(name) else 'no such file'}; "
                          "load_model takes names and .keras files (run other files with make_runner)")
    try:
        entry = get_entry(name)
    except KeyError:
        raise unknown("model name", name, list_model_names()) from None
    model = build_model(entry["arch"], **kwargs)
    return load_tf1_checkpoint(model, resolve(name))


def _model_file_suffixes():
    from pirm_enhance.formats import known_suffixes

    return known_suffixes()


def load_official_or_random(arch, seed=0):
    """The first official checkpoint of ``arch`` whose files can be found, else
    ``arch`` with seeded random weights (benchmarks and tests whose numbers depend
    on realistic image statistics but must also run offline)."""
    import keras

    for name in list_pretrained(arch):
        try:
            return load_model(name)
        except WeightsUnavailable:
            continue
    keras.utils.set_random_seed(seed)
    return build_model(arch)


def timing_model(arch, seed=0, scale=0.01, **kwargs):
    """``arch`` with seeded random weights fit for timing its exported graphs: Keras's
    initial weights, and every trainable weight that starts as one repeated value (zero
    biases and norm offsets, unit norm scales, a residual head's zero kernel) moved off it
    by ``N(0, scale^2)`` noise, as training moves it.

    A frozen graph holds the weights as constants, and TensorFlow's graph optimiser
    removes an addition of zeros or a product with ones. With the bias addition gone, it
    no longer fuses a convolution with the activation after it (oneDNN's fused kernel
    takes bias and activation together): random ``rsgunet`` with zero biases ran 2.5%
    slower as a ``.pb`` at 720p than with these weights (BUILD_NOTES "The phone path").
    Time does not depend on the values otherwise."""
    import keras
    import numpy as np

    keras.utils.set_random_seed(seed)
    model = build_model(arch, **kwargs)
    rng = np.random.default_rng(seed)
    for weight in model.trainable_weights:
        value = keras.ops.convert_to_numpy(weight)
        if value.size and np.all(value == value.flat[0]):
            weight.assign((value + rng.normal(0.0, scale, value.shape)).astype(value.dtype))
    return model


__all__ = ["build_model", "default_model_path", "list_model_names", "list_models", "list_pretrained",
           "load_keras_file", "load_model", "load_official_or_random", "save_keras_file",
           "timing_model"]
