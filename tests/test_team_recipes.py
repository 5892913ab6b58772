"""The Track B teams' training wiring: each new generator term is the loss function of
:mod:`pirm_enhance.losses` on the same tensors, the recipe's ``gan`` kind picks the
discriminator (built by the loop, saved in checkpoints), the VGG-19 is built with the
style layers, and a recipe's ``init`` is the generator a second phase starts from.
(One update of every recipe: test_recipes.py.) Tiny models, random VGG: cheap."""

import functools

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo_checks
from pirm_enhance import losses
from pirm_enhance.errors import UnknownName, UsageError
from pirm_enhance.training import EnhancerTrainer, recipe
from pirm_enhance.training.loop import build_trainer, make_checkpoint
from pirm_enhance.training.recipes import vgg_layers
from pirm_enhance.training.trainer import build_discriminator

SIZE = 32


@functools.lru_cache(maxsize=None)
def _vgg(layers):
    return losses.VGG19Features(list(layers), weights="random:he_normal")


def _batch(seed=0):
    rng = np.random.default_rng(seed)
    phone = rng.random((2, SIZE, SIZE, 3), dtype=np.float32)
    target = np.clip(phone * 1.2 - 0.05 + rng.normal(0, 0.02, phone.shape), 0, 1).astype(np.float32)
    return tf.constant(phone), tf.constant(target)


def _terms(rec):
    """``(trainer, enhanced, terms)`` of one ``generator_terms`` call of ``rec`` (Geometry, tiny)."""
    keras.utils.set_random_seed(0)
    gen = zoo_checks.tiny_model(rec["arch"])
    layers = vgg_layers(rec)
    trainer = EnhancerTrainer(gen, rec, discriminator=build_discriminator(rec, SIZE),
                              vgg=_vgg(tuple(layers)) if layers else None)
    phone, target = _batch()
    enhanced, terms = trainer.generator_terms(phone, target, trainer._swaps(2))
    return trainer, phone, target, enhanced, terms


def _only(term, **options):
    """A Geometry recipe with weight 1 on ``term`` alone (plus ``options``)."""
    return {"name": f"only_{term}", "arch": "geometry", term: 1.0, **options}


CASES = {
    "lcn": ({}, lambda t, p, y, e: losses.lcn_loss(y, e)),
    "gradient": ({}, lambda t, p, y, e: losses.gradient_loss(y, e)),
    "mse": ({}, lambda t, p, y, e: tf.reduce_mean(tf.square(y - e))),
    "l1": ({"l1_channel_weights": (0.5, 2.0, 1.0)}, lambda t, p, y, e: losses.per_channel_l1(y, e, (0.5, 2.0, 1.0))),
    "ssim_middle": ({}, lambda t, p, y, e: losses.ssim_loss(y, t.generator.two_output_model()(p, training=True)[0])),
    "style": ({"style_layers": ("relu1_2", "relu2_1")},
              lambda t, p, y, e: losses.style_loss(t.vgg(y), t.vgg(e))),
    "texture": ({"gan": "ragan"},
                lambda t, p, y, e: losses.kaist_generator_losses(t.discriminator, y, e)["adversarial"]),
}


@pytest.mark.parametrize("term", sorted(CASES))
def test_a_term_is_its_loss_function(term):
    options, expected = CASES[term]
    trainer, phone, target, enhanced, terms = _terms(_only(term, **options))
    assert set(terms) == {term}
    np.testing.assert_allclose(float(terms[term]), float(expected(trainer, phone, target, enhanced)), rtol=1e-5)


def test_snpr_adversarial_term_is_its_loss_function():
    rec = {"name": "only_snpr_gan", "arch": "geometry", "texture": 1.0, "gan": "snpr", "discriminator_width": 16}
    trainer, phone, target, enhanced, terms = _terms(rec)
    assert isinstance(trainer.discriminator, losses.SNPRDiscriminator)
    np.testing.assert_allclose(float(terms["texture"]),
                               float(losses.snpr_adversarial_loss(trainer.discriminator, enhanced)), rtol=1e-5)


@pytest.mark.parametrize("gan", ["dped", "ppcn"])
def test_the_generators_texture_term_shows_every_image_enhanced(gan):
    """DPED's and PPCN's generator step feeds adv_ = all_zeros: the term is the negative
    discriminator loss with no swaps, whichever swaps the discriminator's step draws."""
    rec = {"name": "only_texture", "arch": "ppcn_student", "texture": 1.0, "gan": gan}
    trainer, phone, target, enhanced, terms = _terms(rec)
    assert trainer.discriminator.layout == gan
    none_swapped = tf.zeros([2], tf.int32)
    want = -float(losses.discriminator_loss(trainer.discriminator, target, enhanced, none_swapped))
    np.testing.assert_allclose(float(terms["texture"]), want, rtol=1e-5)
    for swaps in ([1, 0], [1, 1]):  # the draw the discriminator's step would see
        d = float(losses.discriminator_loss(trainer.discriminator, target, enhanced, tf.constant(swaps)))
        assert abs(-d - want) > 1e-6  # the swapped figure differs; the generator's term does not use it


def test_l1_without_channel_weights_is_the_plain_l1():
    trainer, phone, target, enhanced, terms = _terms(_only("l1"))
    np.testing.assert_allclose(float(terms["l1"]), float(losses.l1_loss(target, enhanced)), rtol=1e-6)


@pytest.mark.parametrize("name, cls", [("kaist_enh", losses.RelativisticDiscriminator),
                                       ("snpr", losses.SNPRDiscriminator),
                                       ("geometry", losses.Discriminator),
                                       ("menet", losses.Discriminator),
                                       ("ppcn_teacher", losses.Discriminator)])
def test_the_loop_builds_the_recipes_discriminator_and_saves_it(name, cls, tmp_path):
    rec = recipe(name)
    gen = zoo_checks.tiny_model(rec["arch"])
    trainer = build_trainer(rec, SIZE, tf.distribute.get_strategy(), vgg_weights="random", generator=gen)
    assert isinstance(trainer.discriminator, cls)
    if cls is losses.Discriminator:  # PPCN trains its own, larger layout (6 convolutions)
        assert trainer.discriminator.layout == ("ppcn" if name.startswith("ppcn") else "dped")
    if vgg_layers(rec):
        assert set(trainer.vgg.layers) == set(vgg_layers(rec))
    ckpt, manager = make_checkpoint(trainer, tmp_path)
    saved = [w.numpy().copy() for w in trainer.discriminator.weights]
    prefix = manager.save(checkpoint_number=1)
    for w in trainer.discriminator.weights:
        w.assign(w + 1.0)
    ckpt.restore(prefix).assert_existing_objects_matched()
    for w, value in zip(trainer.discriminator.weights, saved):
        np.testing.assert_array_equal(w.numpy(), value, err_msg=w.path)


def test_geometry_builds_vgg_with_the_style_layers():
    assert vgg_layers(recipe("geometry")) == sorted(losses.geometry.STYLE_LAYERS)
    assert vgg_layers(recipe("geometry", style_layers=("relu2_2",))) == ["relu2_2"]
    assert vgg_layers(recipe("geometry", style=0.0)) == []


def test_a_wrong_or_unknown_discriminator_is_refused():
    gen = zoo_checks.tiny_model("geometry")
    with pytest.raises(UsageError, match="RelativisticDiscriminator"):
        EnhancerTrainer(gen, _only("texture", gan="ragan"), discriminator=losses.Discriminator(SIZE))
    with pytest.raises(UnknownName, match="ragan"):
        build_discriminator(_only("texture", gan="rgan"), SIZE)


def test_ssim_middle_needs_a_middle_output():
    with pytest.raises(UsageError, match="middle_output"):
        EnhancerTrainer(zoo_checks.tiny_model("menet"), {"arch": "menet", "ssim_middle": 1.0})


def test_every_recipe_accepts_the_options():
    rec = recipe("dped", gan="snpr", style=1.0, style_layers=("relu1_1",), l1_channel_weights=(1, 1, 1))
    assert rec["gan"] == "snpr" and rec["style_layers"] == ("relu1_1",)


def test_finetune_starts_from_init(tmp_path):
    gen = zoo_checks.tiny_model("menet")
    for w in gen.weights:
        w.assign(w + 0.01)
    path = tmp_path / "menet.keras"
    gen.save(path)
    rec = recipe("menet_finetune", init=str(path), texture=0.0, content=0.0)
    assert rec["lr"] == 1e-4
    trainer = build_trainer(rec, SIZE, tf.distribute.get_strategy(), vgg_weights="random")
    for a, b in zip(trainer.generator.weights, gen.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
