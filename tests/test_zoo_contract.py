"""A new architecture is tested by the generic checks without editing any test.

A throw-away ZooModel subclass is registered for the duration of one test (its own
output offset, TF1 scope, tiny_config and distillation layer, all given as class
attributes) and put through the same check functions as every registered
architecture: attributes, output range, batch independence, .keras round trip,
gradients, TF1 layout and checkpoint import, and one update of a recipe that uses
every loss term (distilled from itself).
"""

import keras
import numpy as np
import pytest

import pirm_enhance as pe
import zoo_checks
from pirm_enhance import layers, registry
from pirm_enhance.archs.base import ZooModel, image_input

NAME = "throwaway_test_arch"


class Throwaway(ZooModel):
    """conv 3x3 c ReLU; IN; ReLU (the distillation layer); conv 3x3 3; ``tanh * 0.58 + 0.45``."""

    tf1_scope = "throwaway"
    output_range = (0.45 - 0.58, 0.45 + 0.58)
    tiny_config = {"channels": 4}
    kd_features = "kd_features"

    def __init__(self, channels=8, name=NAME, **kwargs):
        inputs = image_input()
        x = layers.conv(channels, 3, "conv1", activation="relu")(inputs)
        x = layers.InstanceNorm(name="norm0")(x)
        x = keras.layers.ReLU(name=self.kd_features)(x)
        x = layers.conv(3, 3, "conv2")(x)
        outputs = layers.OutputHead(offset=0.45, name="head")(x)
        self._finish(inputs, outputs, name, {"channels": channels}, **kwargs)


@pytest.fixture
def throwaway():
    """Registered with the zoo and with Keras (as an architecture module does) for one test."""
    key = f"pirm_enhance_tests>{Throwaway.__name__}"
    keras.saving.register_keras_serializable(package="pirm_enhance_tests")(Throwaway)
    registry.register_arch(NAME)(Throwaway)
    try:
        yield NAME
    finally:
        registry._ARCHS.pop(NAME, None)
        keras.saving.get_custom_objects().pop(key, None)
    assert NAME not in pe.list_models()


def test_a_new_architecture_passes_the_generic_checks(throwaway, tmp_path, rng):
    assert throwaway in pe.list_models()
    zoo_checks.check_attributes(throwaway)
    keras.utils.set_random_seed(1)
    model = pe.build_model(throwaway)
    zoo_checks.check_output_in_range(model, rng.random((1, 37, 91, 3), dtype=np.float32))
    zoo_checks.check_batch_independence(model, rng)
    zoo_checks.check_keras_round_trip(model, tmp_path, rng)
    zoo_checks.check_gradients(zoo_checks.tiny_model(throwaway))
    zoo_checks.check_tf1_flag(model)
    zoo_checks.check_tf1_round_trip(throwaway, tmp_path, rng)
    rec = {"arch": throwaway, "teacher": throwaway, "lr": 1e-3, "content": 1.0, "content_layers": ("relu1_2",),
           "contextual": 1.0, "contextual_layer": "conv2_1", "texture": 1.0, "color": 1.0, "tv": 1.0,
           "l1": 1.0, "chroma": 1.0, "hue": 1.0, "ms_ssim": 1.0, "ssim": 1.0, "kd": 1.0, "lcn": 1.0, "gradient": 1.0,
           "mse": 1.0, "style": 1.0, "style_layers": ("relu1_2",)}
    from pirm_enhance.training.recipes import LOSS_KEYS

    # every loss term of the trainer, once; ssim_middle needs an architecture with a middle
    # output (Geometry's), which this one does not have (tests/test_team_recipes.py)
    generic = set(LOSS_KEYS) - {"ssim_middle"}
    assert generic <= set(rec)
    logs = zoo_checks.check_one_update(rec)
    assert generic <= set(logs)


def test_the_range_check_reads_output_range(throwaway, rng, monkeypatch):
    """The output check takes its bounds from the class: outputs near 0.45 - 0.58 pass with
    the class's range and fail with the DPED default (so the check is not vacuous)."""
    model = zoo_checks.tiny_model(throwaway)
    conv = model.get_layer("conv2")
    conv.bias.assign(np.full(conv.bias.shape, -3.0, np.float32))  # tanh near -1: output near -0.13
    x = rng.random((1, 16, 16, 3), dtype=np.float32)
    zoo_checks.check_output_in_range(model, x)
    monkeypatch.setattr(Throwaway, "output_range", (0.5 - 0.58, 0.5 + 0.58))
    with pytest.raises(AssertionError, match="outside output_range"):
        zoo_checks.check_output_in_range(model, x)
