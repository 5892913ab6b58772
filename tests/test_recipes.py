"""Every training recipe runs one update on its architecture at ``tiny_config``.

Random VGG-19, a tiny discriminator and a tiny random teacher of the recipe's
teacher architecture: the loss terms are finite and exactly the recipe's non-zero
terms are logged; every generator weight moves, the discriminator moves iff the
recipe has a texture term, the teacher and VGG-19 stay as they were."""

import pytest

import zoo_checks
from pirm_enhance.training import list_recipes, recipe


@pytest.mark.parametrize("name", [n for n in list_recipes() if not recipe(n).get("routine")])  # routines: own tests
def test_one_update_step(name):
    zoo_checks.check_one_update(recipe(name))


def test_without_a_texture_term_the_discriminator_stays():
    logs = zoo_checks.check_one_update(recipe(list_recipes()[0], texture=0.0))
    assert "texture" not in logs and "discriminator" not in logs


def test_a_content_term_without_content_layers():
    """The loop and the trainer agree on the default content layer (relu5_4)."""
    rec = recipe("ppcn_teacher", content=1.0)
    assert "content_layers" not in rec
    zoo_checks.check_one_update(rec)
