"""Every registered architecture, at its ``tiny_config``: every trainable weight gets a
finite, non-zero gradient (a weight cut off from the output would never train)."""

import keras
import pytest

import pirm_enhance as pe
import zoo_checks


@pytest.mark.parametrize("name", pe.list_models())
def test_every_trainable_weight_gets_a_gradient(name):
    keras.utils.set_random_seed(0)
    zoo_checks.check_gradients(zoo_checks.tiny_model(name))
