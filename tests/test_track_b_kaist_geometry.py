"""KAIST-VICLAB and Geometry (PIRM 2018 Track B): their losses against hand-computed
values, the relativistic discriminator's size, space-to-batch, Geometry's two outputs."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import pirm_enhance as pe
from pirm_enhance.archs.geometry import MIDDLE_OUTPUT
from pirm_enhance.archs.kaist_enh import BatchToSpace, SpaceToBatch
from pirm_enhance.losses import Discriminator, color_loss, ssim_loss, texture_loss, tv_loss
from pirm_enhance.losses import geometry as geo
from pirm_enhance.losses import kaist


def _log_sigmoid(z):
    return np.log(1.0 / (1.0 + np.exp(-z)))


# ---- KAIST-VICLAB: relativistic average GAN --------------------------------------------

def test_ragan_losses_by_hand():
    real, fake = np.array([1.0, -0.5]), np.array([0.2, 0.8])
    # D(xr) = sigmoid(C(xr) - mean C(xf)) = sigmoid([0.5, -1.0]); D(xf) = sigmoid(C(xf) - 0.25)
    d_real, d_fake = real - 0.5, fake - 0.25
    want_d = -np.mean(_log_sigmoid(d_real)) - np.mean(np.log(1 - 1 / (1 + np.exp(-d_fake))))
    want_g = -np.mean(_log_sigmoid(d_fake)) - np.mean(np.log(1 - 1 / (1 + np.exp(-d_real))))
    assert float(kaist.ragan_discriminator_loss(real, fake)) == pytest.approx(want_d, rel=1e-6)
    assert float(kaist.ragan_generator_loss(real, fake)) == pytest.approx(want_g, rel=1e-6)
    # indistinguishable logits: every D is 1/2, both losses 2 log 2
    same = np.array([0.3, 0.3, 0.3])
    assert float(kaist.ragan_discriminator_loss(same, same)) == pytest.approx(2 * np.log(2), rel=1e-6)
    assert float(kaist.ragan_generator_loss(same, same)) == pytest.approx(2 * np.log(2), rel=1e-6)
    # large margins stay finite (softplus form)
    assert np.isfinite(float(kaist.ragan_generator_loss([200.0], [-200.0])))


def test_relativistic_discriminator_has_twice_the_generators_parameters():
    generator = pe.build_model("kaist_enh")
    disc = kaist.RelativisticDiscriminator()
    assert disc.count_params() / generator.count_params() == pytest.approx(2.0, abs=0.1)
    logits = disc(np.zeros((3, 37, 45, 1), np.float32))
    assert tuple(logits.shape) == (3,)
    again = kaist.RelativisticDiscriminator.from_config(disc.get_config())
    assert again.count_params() == disc.count_params()


def test_kaist_losses_use_the_critic_on_grayscale(rng):
    keras.utils.set_random_seed(3)
    disc = kaist.RelativisticDiscriminator(width=2)
    t = rng.random((2, 24, 24, 3), dtype=np.float32)
    e = rng.random((2, 24, 24, 3), dtype=np.float32)
    gray = lambda x: x @ np.array([0.2989, 0.587, 0.114], np.float32)[:, None]  # noqa: E731
    real, fake = np.asarray(disc(gray(t))), np.asarray(disc(gray(e)))
    assert float(kaist.kaist_discriminator_loss(disc, t, e)) == pytest.approx(
        float(kaist.ragan_discriminator_loss(real, fake)), rel=1e-4)
    terms = kaist.kaist_generator_losses(disc, t, e)
    assert set(terms) == {"color", "adversarial"}
    assert float(terms["color"]) == pytest.approx(float(color_loss(t, e)), rel=1e-6)
    assert float(terms["adversarial"]) == pytest.approx(float(kaist.ragan_generator_loss(real, fake)), rel=1e-4)
    # the discriminator's loss sends no gradient to the enhanced image
    e_var = tf.Variable(e)
    with tf.GradientTape() as tape:
        loss = kaist.kaist_discriminator_loss(disc, t, e_var)
    assert tape.gradient(loss, e_var) is None


def test_space_to_batch_is_the_polyphase_split_and_its_inverse(rng):
    x = rng.random((3, 8, 12, 5), dtype=np.float32)
    s = np.asarray(SpaceToBatch()(x))
    assert s.shape == (12, 4, 6, 5)
    for i in range(2):
        for j in range(2):
            for b in range(3):
                np.testing.assert_array_equal(s[(2 * i + j) * 3 + b], x[b, i::2, j::2])
    np.testing.assert_array_equal(np.asarray(BatchToSpace()(s)), x)


# ---- Geometry ---------------------------------------------------------------------------

def test_gram_matrix_and_style_loss_by_hand():
    # one image, 2x2 positions, 2 channels: rows (1,2), (3,4), (0,1), (2,0)
    f = np.array([[[[1, 2], [3, 4]], [[0, 1], [2, 0]]]], np.float32)
    want = np.array([[14, 14], [14, 21]]) / 8.0  # sum over positions of f_c f_d / (H W C)
    np.testing.assert_allclose(np.asarray(geo.gram_matrix(f))[0], want, rtol=1e-6)
    zero = np.zeros_like(f)
    assert float(geo.style_loss(zero, f)) == pytest.approx((want ** 2).sum(), rel=1e-6)  # 16.078125
    assert float(geo.style_loss(f, f)) == 0.0


def test_style_loss_sums_layers_and_averages_images(rng):
    def gram(a):  # loops, no einsum
        b, h, w, c = a.shape
        g = np.zeros((b, c, c))
        for n in range(b):
            for y in range(h):
                for x in range(w):
                    g[n] += np.outer(a[n, y, x], a[n, y, x])
        return g / (h * w * c)

    t = {"a": rng.random((2, 3, 4, 2)), "b": rng.random((2, 2, 2, 3))}
    e = {"a": rng.random((2, 3, 4, 2)), "b": rng.random((2, 2, 2, 3))}
    want = sum(((gram(e[k]) - gram(t[k])) ** 2).sum() / 2 for k in ("a", "b"))
    got = geo.style_loss({k: v.astype(np.float32) for k, v in t.items()},
                         {k: v.astype(np.float32) for k, v in e.items()})
    assert float(got) == pytest.approx(want, rel=1e-5)
    with pytest.raises(ValueError):
        geo.style_loss({"a": t["a"]}, {"b": e["b"]})


def test_smooth_loss_on_a_ramp():
    # horizontal ramp 0,1,2 in a 3x3 one-channel image: dx = 1 (6 values), dy = 0
    x = np.tile(np.arange(3, dtype=np.float32), (3, 1))[None, :, :, None]
    # 2 * (l2(dy)/|dy| + l2(dx)/|dx|) / batch = 2 * (0 + (6 / 2) / (3 * 2 * 1)) / 1 = 1
    assert float(geo.smooth_loss(x)) == pytest.approx(1.0, rel=1e-6)
    assert float(geo.smooth_loss(np.concatenate([x, 0 * x]))) == pytest.approx(0.5, rel=1e-6)


def test_geometry_two_outputs_share_the_weights(tmp_path, rng):
    keras.utils.set_random_seed(5)
    model = pe.build_model("geometry", channels=4)
    two = model.two_output_model()
    assert [id(w) for w in two.weights] == [id(w) for w in model.weights]
    x = rng.random((1, 20, 27, 3), dtype=np.float32)
    oc, oe = (np.asarray(y) for y in two(x))
    assert oc.shape == oe.shape == x.shape
    np.testing.assert_array_equal(oe, np.asarray(model(x)))
    np.testing.assert_array_equal(oc, np.asarray(keras.Model(model.input, model.get_layer(MIDDLE_OUTPUT).output)(x)))
    path = tmp_path / "g.keras"
    model.save(path)
    again = keras.saving.load_model(path)
    np.testing.assert_array_equal(np.asarray(again.two_output_model()(x)[0]), oc)


def test_geometry_losses_are_the_named_terms_and_train_every_weight(rng):
    keras.utils.set_random_seed(6)
    two = pe.build_model("geometry", channels=4).two_output_model()
    disc = Discriminator(patch_size=32)
    t = rng.random((2, 32, 32, 3), dtype=np.float32)
    x = rng.random((2, 32, 32, 3), dtype=np.float32)
    swaps = np.array([1, 0])
    vgg = lambda img: {"full": img, "half": tf.nn.avg_pool2d(img, 2, 2, "VALID")}  # noqa: E731  (no weights)
    with tf.GradientTape() as tape:
        oc, oe = two(x, training=True)
        terms = geo.geometry_losses(t, oc, oe, disc, swaps, vgg)
        total = tf.add_n(list(terms.values()))
    assert set(terms) == {"ssim", "adversarial", "smooth", "style"}
    assert float(terms["ssim"]) == pytest.approx(float(ssim_loss(t, oc)), rel=1e-5)
    assert float(terms["smooth"]) == pytest.approx(float(tv_loss(oe)), rel=1e-6)
    assert float(terms["adversarial"]) == pytest.approx(float(texture_loss(disc, t, oe, swaps)), rel=1e-5)
    assert float(terms["style"]) == pytest.approx(float(geo.style_loss(vgg(t), vgg(oe))), rel=1e-5)
    grads = tape.gradient(total, two.trainable_variables)
    assert all(g is not None and np.isfinite(np.asarray(g)).all() and np.any(np.asarray(g)) for g in grads)
