"""BOE-SBG and MENet (PIRM 2018 Track B): their losses against numpy by hand, the
Mux/Demux layers against the team's definition, and the documented sizes."""

import itertools

import numpy as np
import pytest
import tensorflow as tf

import pirm_enhance as pe
from pirm_enhance.archs.boe_enh import Demux, Mux
from pirm_enhance.losses import Discriminator, VGG19Features, color_loss, content_loss, contextual_loss, \
    texture_loss, tv_loss
from pirm_enhance.losses.boe import boe_sbg_loss, per_channel_l1
from pirm_enhance.losses.menet import gradient_loss, lcn_loss, local_contrast_normalise

LUMA = np.array([0.2989, 0.5870, 0.1140])  # tf.image.rgb_to_grayscale


@pytest.fixture(scope="module")
def pair():
    rng = np.random.default_rng(5)
    t = rng.random((2, 11, 12, 3)).astype(np.float32)
    e = np.clip(t * 0.7 + 0.1 + rng.normal(0, 0.05, t.shape), 0, 1).astype(np.float32)
    return t, e


# --- BOE-SBG -------------------------------------------------------------------------------

def test_per_channel_l1_by_hand():
    t = np.zeros((1, 1, 2, 3), np.float32)
    e = np.array([[[[0.1, 0.2, 0.4], [0.3, 0.0, 0.0]]]], np.float32)
    # channel means |t - e|: R (0.1 + 0.3) / 2 = 0.2, G 0.1, B 0.2
    assert float(per_channel_l1(t, e)) == pytest.approx(0.5, rel=1e-6)
    assert float(per_channel_l1(t, e, (1.0, 2.0, 0.5))) == pytest.approx(0.2 + 0.2 + 0.1, rel=1e-6)


def test_per_channel_l1_matches_numpy(pair):
    t, e = pair
    w = (0.5, 1.0, 3.0)
    want = sum(w[c] * np.abs(t[..., c] - e[..., c]).mean() for c in range(3))
    assert float(per_channel_l1(t, e, w)) == pytest.approx(want, rel=1e-5)


def test_boe_sbg_pixel_terms_add_with_their_weights(pair):
    t, e = pair
    total, terms = boe_sbg_loss(t, e, {"l1": [1.0, 2.0, 3.0], "color": 0.5, "tv": 10.0, "content": 0})
    assert set(terms) == {"l1", "color", "tv"}  # a zero weight needs no VGG
    want = per_channel_l1(t, e, (1.0, 2.0, 3.0)) + 0.5 * color_loss(t, e) + 10.0 * tv_loss(e)
    assert float(total) == pytest.approx(float(want), rel=1e-5)
    total, _ = boe_sbg_loss(t, e, {"l1": 2.0})
    assert float(total) == pytest.approx(2.0 * float(per_channel_l1(t, e)), rel=1e-6)


def test_boe_sbg_model_terms_add_with_their_weights():
    rng = np.random.default_rng(0)
    t = rng.random((2, 32, 32, 3)).astype(np.float32)
    e = rng.random((2, 32, 32, 3)).astype(np.float32)
    content = VGG19Features(("relu2_2",), weights="random")
    contextual = VGG19Features(("conv2_1",), weights="random")
    disc = Discriminator(patch_size=32)
    swaps = np.array([1, 0])
    total, terms = boe_sbg_loss(t, e, {"contextual": 2.0, "content": 3.0, "texture": 0.5}, content_vgg=content,
                                contextual_vgg=contextual, discriminator=disc, swaps=swaps, seed=(1, 2))
    cx = contextual_loss(contextual(t)["conv2_1"], contextual(e)["conv2_1"], seed=(1, 2))
    want = 2.0 * cx + 3.0 * content_loss(t, e, content) + 0.5 * texture_loss(disc, t, e, swaps)
    assert set(terms) == {"contextual", "content", "texture"}
    assert float(total) == pytest.approx(float(want), rel=1e-5)


def test_boe_sbg_refuses_unknown_terms_and_missing_models(pair):
    t, e = pair
    with pytest.raises(ValueError, match="unknown"):
        boe_sbg_loss(t, e, {"ssim": 1.0})
    with pytest.raises(ValueError, match="no model"):
        boe_sbg_loss(t, e, {"content": 1.0})


def _team_mux(x):
    """The team's Muxout (all permutations, 2x2), written from its definition in NCHW
    terms with loops: out[p Ng + g][2h + a, 2w + b] = in[4g + 2 pv[a] + ph[b]][h, w]."""
    b, h, w, c = x.shape
    ng = c // 4
    perms = [(0, 1), (1, 0)]
    out = np.zeros((b, 2 * h, 2 * w, c), x.dtype)
    for (i, pv), (j, ph) in itertools.product(enumerate(perms), enumerate(perms)):
        for g, a, bb in itertools.product(range(ng), range(2), range(2)):
            out[:, a::2, bb::2, (2 * i + j) * ng + g] = x[..., 4 * g + 2 * pv[a] + ph[bb]]
    return out


def test_mux_is_the_teams_muxout():
    x = np.random.default_rng(1).random((2, 3, 5, 8)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(Mux()(x)), _team_mux(x))


def test_demux_is_lossless_and_inverts_the_plain_mux():
    x = np.random.default_rng(2).random((1, 6, 4, 3)).astype(np.float32)
    d = np.asarray(Demux()(x))
    assert d.shape == (1, 3, 2, 12)
    for g, i, j in itertools.product(range(3), range(2), range(2)):
        np.testing.assert_array_equal(d[..., 4 * g + 2 * i + j], x[:, i::2, j::2, g])
    back = np.asarray(Mux()(d))  # the first quarter of the Mux output is the plain sub-pixel shuffle
    np.testing.assert_array_equal(back[..., :3], x)


def test_documented_sizes():
    """The parameter counts written in the module docstrings (the MAC estimates there
    were counted from the same layer lists)."""
    assert pe.build_model("boe_enh").count_params() == 219_555
    assert pe.build_model("menet").count_params() == 252_323


# --- MENet ---------------------------------------------------------------------------------

def _lcn_by_hand(img, size=7, sigma=7.0 / 6.0, c=1.0 / 255.0):
    gray = img @ LUMA
    k = np.array([[np.exp(-((i - 3) ** 2 + (j - 3) ** 2) / (2 * sigma ** 2)) for j in range(size)]
                  for i in range(size)])
    k /= k.sum()
    h, w = gray.shape
    out = np.zeros((h - size + 1, w - size + 1))
    for y in range(out.shape[0]):
        for x in range(out.shape[1]):
            patch = gray[y:y + size, x:x + size]
            mu = (k * patch).sum()
            sd = np.sqrt(max((k * patch ** 2).sum() - mu ** 2, 0.0))
            out[y, x] = (gray[y + 3, x + 3] - mu) / (sd + c)
    return out


def test_lcn_by_hand(pair):
    t, e = pair
    got = np.asarray(local_contrast_normalise(t))
    assert got.shape == (2, 5, 6, 1)
    for i in range(2):
        np.testing.assert_allclose(got[i, ..., 0], _lcn_by_hand(t[i].astype(np.float64)), atol=2e-3, rtol=1e-3)
    want = np.mean([np.abs(_lcn_by_hand(a.astype(np.float64)) - _lcn_by_hand(b.astype(np.float64))).mean()
                    for a, b in zip(t, e)])
    assert float(lcn_loss(t, e)) == pytest.approx(want, rel=1e-3)
    assert float(lcn_loss(t, t)) == 0.0


def test_lcn_of_a_flat_image_is_zero_with_finite_gradients():
    flat = np.full((1, 9, 9, 3), 0.4, np.float32)
    np.testing.assert_allclose(np.asarray(local_contrast_normalise(flat)), 0.0, atol=1e-3)
    x = tf.Variable(flat)
    with tf.GradientTape() as tape:
        loss = lcn_loss(np.random.default_rng(3).random(flat.shape).astype(np.float32), x)
    assert np.isfinite(tape.gradient(loss, x).numpy()).all()


def test_gradient_loss_by_hand():
    t = np.zeros((1, 2, 3, 3), np.float32)
    t[0, :, :, :] = np.array([[0.0, 0.2, 0.6], [0.1, 0.1, 0.1]])[..., None]
    e = np.zeros_like(t)
    e[0, :, :, :] = np.array([[0.0, 0.0, 0.3], [0.0, 0.4, 0.4]])[..., None]
    s = LUMA.sum()  # gray of (v, v, v)
    # |dx|: t [[0.2, 0.4], [0, 0]], e [[0, 0.3], [0.4, 0]] -> differences 0.2, 0.1, 0.4, 0 -> mean 0.175
    # |dy|: t [0.1, 0.1, 0.5], e [0, 0.4, 0.1] -> differences 0.1, 0.3, 0.4 -> mean 0.8 / 3
    assert float(gradient_loss(t, e)) == pytest.approx(s * (0.175 + 0.8 / 3), rel=1e-5)
    assert float(gradient_loss(t, e, alpha=2.0)) == pytest.approx(
        s ** 2 * ((0.04 + 0.01 + 0.16) / 4 + (0.01 + 0.09 + 0.16) / 3), rel=1e-4)
    assert float(gradient_loss(t, t)) == 0.0
