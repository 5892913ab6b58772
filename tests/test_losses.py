"""Each loss against its formula on hand-checked inputs."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy import signal, stats

from pirm_enhance import losses
from pirm_enhance.data.synthetic import synthetic_photo
from pirm_enhance.metrics import ms_ssim


@pytest.fixture(scope="module")
def pair():
    t = np.stack([synthetic_photo(48, 40, seed=s) for s in (1, 2)])
    e = np.clip(t * 0.8 + 0.05 + np.random.default_rng(0).normal(0, 0.03, t.shape), 0, 1).astype("float32")
    return t, e


def test_gaussian_kernel_is_dpeds():
    k = losses.gaussian_kernel_21()
    assert k.shape == (21, 21) and k.sum() == pytest.approx(1.0, abs=1e-6)
    d = 7.0 / 21
    width = (6 + d) / 21  # 21 bins over [-3 - d/2, 3 + d/2]; the centre one is symmetric
    centre_bin = stats.norm.cdf(width / 2) - stats.norm.cdf(-width / 2)
    x = np.linspace(-3 - d / 2, 3 + d / 2, 22)
    norm = np.sqrt(np.diff(stats.norm.cdf(x))).sum() ** 2
    assert k[10, 10] == pytest.approx(centre_bin / norm, rel=1e-5)


def test_color_loss_formula(pair):
    t, e = pair
    k = losses.gaussian_kernel_21().astype(np.float64)
    blur = lambda img: np.stack([signal.convolve2d(img[..., c], k, mode="same") for c in range(3)], -1)  # noqa: E731
    want = sum(((blur(a) - blur(b)) ** 2).sum() for a, b in zip(t, e)) / (2 * len(t))
    assert float(losses.color_loss(t, e)) == pytest.approx(want, rel=1e-4)
    assert float(losses.color_loss(t, t)) == 0.0


def test_tv_loss_on_a_ramp():
    x = np.zeros((1, 4, 5, 1), np.float32)
    x[..., :] = (np.arange(5) * 0.1).reshape(1, 1, 5, 1)
    # dx = 0.1 on 4*4 elements: l2 = 16 * 0.01 / 2 = 0.08, / 16 = 0.005; dy = 0; 2 * 0.005 / 1
    assert float(losses.tv_loss(x)) == pytest.approx(0.01, rel=1e-5)
    assert float(losses.tv_loss(np.ones((2, 6, 6, 3), np.float32))) == 0.0


def test_l1_normalisations(pair):
    t, e = pair
    assert float(losses.l1_loss(t, e)) == pytest.approx(np.abs(t - e).mean(), rel=1e-5)
    assert float(losses.l1_loss(t, e, "half_batch")) == pytest.approx(np.abs(t - e).sum() / 4, rel=1e-5)


def test_ms_ssim_tf_matches_the_organisers_metric(pair):
    t, e = pair
    got = losses.ms_ssim_tf(t, e).numpy()
    want = [ms_ssim(a[None] * 255.0, b[None] * 255.0) for a, b in zip(t, e)]
    np.testing.assert_allclose(got, want, atol=2e-5)
    assert float(losses.ms_ssim_loss(t, t)) == pytest.approx(0.0, abs=1e-6)
    assert float(losses.ssim_loss(t, t)) == pytest.approx(0.0, abs=1e-6)
    assert 0 < float(losses.ssim_loss(t, e)) < 1


def test_content_loss_with_random_vgg(pair):
    t, e = pair
    vgg = losses.VGG19Features(["relu1_2", "relu3_4"], weights=None)
    assert float(losses.content_loss(t, t, vgg)) == 0.0
    ft, fe = vgg(t), vgg(e)
    want = np.mean([np.mean((fe[n].numpy() - ft[n].numpy()) ** 2) for n in vgg.layers])
    assert float(losses.content_loss(t, e, vgg)) == pytest.approx(want, rel=1e-5)
    x = tf.Variable(e)
    with tf.GradientTape() as tape:
        value = losses.content_loss(t, x, vgg)
    assert np.abs(tape.gradient(value, x).numpy()).sum() > 0
    # frozen: optimisers see no VGG weight (the trainer test checks they stay unchanged)
    assert not vgg.model.trainable_weights


def test_vgg_from_matconvnet_file(tmp_path, pair):
    from scipy import io

    rng = np.random.default_rng(0)
    layers, cin = [], 3
    for block, count, filters in losses.vgg.BLOCKS:
        for i in range(1, count + 1):
            k = rng.normal(0, 0.05, (3, 3, cin, filters)).astype(np.float32)
            b = rng.normal(0, 0.05, (1, filters)).astype(np.float32)
            w = np.empty((1, 2), dtype=object)
            w[0, 0], w[0, 1] = k, b
            layers.append({"name": f"conv{block}_{i}", "type": "conv", "weights": w})
            layers.append({"name": f"relu{block}_{i}", "type": "relu", "weights": np.empty((1, 0), object)})
            cin = filters
    cell = np.empty((1, len(layers)), dtype=object)
    for j, layer in enumerate(layers):
        cell[0, j] = layer
    io.savemat(tmp_path / "vgg.mat", {"layers": cell})
    vgg = losses.VGG19Features(["relu5_4"], weights=tmp_path / "vgg.mat")
    assert vgg.source.startswith("matconvnet")
    kernel = vgg.model.get_layer("conv1_1").kernel.numpy()
    np.testing.assert_allclose(kernel, np.transpose(layers[0]["weights"][0, 0], (1, 0, 2, 3)))
    # a model that stops before conv5_4 (PPCN's contextual loss reads conv4_2) loads from the
    # whole file (it used to ask the file's conv4_3 of a model without one)
    shallow = losses.VGG19Features(["conv4_2"], weights=tmp_path / "vgg.mat")
    assert [l.name for l in shallow.model.layers if isinstance(l, keras.layers.Conv2D)][-1] == "conv4_2"
    both = losses.VGG19Features(["conv4_2", "relu5_4"], weights=tmp_path / "vgg.mat")
    np.testing.assert_allclose(shallow(pair[0])["conv4_2"].numpy(), both(pair[0])["conv4_2"].numpy(),
                               rtol=1e-5, atol=1e-5)


def test_texture_loss_is_the_negative_discriminator_loss(pair):
    t, e = pair
    disc = losses.Discriminator(patch_size=48)
    disc_in = np.concatenate([t[:, :, :48], t[:, :, :8]], axis=2)[:, :, :48]
    assert disc(losses.to_gray(disc_in)).shape == (2, 2)
    te = np.pad(t, ((0, 0), (0, 0), (0, 8), (0, 0)), mode="edge")
    ee = np.pad(e, ((0, 0), (0, 0), (0, 8), (0, 0)), mode="edge")
    swaps = tf.constant([1, 0])
    assert float(losses.discriminator_loss(disc, te, ee, swaps)) > 0
    # DPED's generator step shows the discriminator every image enhanced (adv_ = all_zeros):
    # the texture loss is the negative discriminator loss without swaps, whatever the draw
    d = float(losses.discriminator_loss(disc, te, ee, tf.constant([0, 0])))
    for draw in ([1, 0], [0, 0], [1, 1]):
        assert float(losses.texture_loss(disc, te, ee, tf.constant(draw))) == pytest.approx(-d, rel=1e-5)
    probs = disc(losses.to_gray(ee)).numpy()
    assert -d == pytest.approx(float(np.sum(np.log(probs[:, 1]))), rel=1e-5)


# parameters of each layout at 100x100, counted by hand from the TF1 codes (DPED models.py,
# PPCN train/models.py ``adversarial``): kernels + biases, the norms' shift and scale, the two
# dense layers on 7x7 maps
DISCRIMINATOR_PARAMETERS = {
    "dped": (11 * 11 * 48 + 48) + (5 * 5 * 48 * 128 + 128 + 256) + (9 * 128 * 192 + 192 + 384)
            + (9 * 192 * 192 + 192 + 384) + (9 * 192 * 128 + 128 + 256) + (128 * 49 * 1024 + 1024) + 2050,
    "ppcn": (9 * 9 * 64 + 64) + (5 * 5 * 64 * 128 + 128 + 256) + (9 * 128 * 192 + 192 + 384)
            + (9 * 192 * 192 + 192 + 384) + (9 * 192 * 256 + 256 + 512) + (9 * 256 * 256 + 256 + 512)
            + (256 * 49 * 1024 + 1024) + 2050,
}


@pytest.mark.parametrize("layout", sorted(DISCRIMINATOR_PARAMETERS))
def test_discriminator_layouts_are_the_codes(layout):
    disc = losses.Discriminator(100, layout=layout)
    assert disc.count_params() == DISCRIMINATOR_PARAMETERS[layout]
    assert DISCRIMINATOR_PARAMETERS["dped"] == 7_361_122 and DISCRIMINATOR_PARAMETERS["ppcn"] == 14_646_402
    convs = [layer for layer in disc.layers if isinstance(layer, keras.layers.Conv2D)]
    expected = [(f, k, s) for f, k, s, _ in losses.texture.DISCRIMINATOR_LAYOUTS[layout]]
    assert [(c.filters, c.kernel_size[0], c.strides[0]) for c in convs] == expected
    assert len(convs) == {"dped": 5, "ppcn": 6}[layout]
    assert disc.get_layer("fc1").kernel.shape[0] == convs[-1].filters * 7 * 7
    # both codes start every bias at 0.01 and every kernel as a truncated normal of std 0.01
    for layer in (*convs, disc.get_layer("fc1"), disc.get_layer("fc2")):
        np.testing.assert_array_equal(layer.bias.numpy(), np.float32(0.01))
        kernel = layer.kernel.numpy()
        assert np.abs(kernel).max() <= 0.02 + 1e-6 and 0.007 < kernel.std() < 0.0095, layer.name
    probs = disc(tf.zeros((3, 100, 100, 1)))
    np.testing.assert_allclose(np.sum(probs, axis=1), 1.0, rtol=1e-6)
    restored = losses.Discriminator.from_config(disc.get_config())
    assert restored.layout == layout and restored.count_params() == disc.count_params()


def test_an_unknown_discriminator_layout_is_refused():
    with pytest.raises(ValueError, match="dped"):
        losses.Discriminator(100, layout="dpd")


def test_contextual_loss(pair):
    rng = np.random.default_rng(3)
    f = rng.normal(size=(2, 9, 9, 16)).astype(np.float32)
    assert float(losses.contextual_loss(f, f)) < 1e-3
    g = rng.normal(size=(2, 9, 9, 16)).astype(np.float32)
    assert float(losses.contextual_loss(f, g)) > 0.1
    # a spatial permutation of the same features is (nearly) free: CX ignores alignment
    perm = f.reshape(2, 81, 16)[:, rng.permutation(81)].reshape(2, 9, 9, 16)
    assert float(losses.contextual_loss(f, perm)) < 1e-3
    big = rng.normal(size=(1, 70, 70, 4)).astype(np.float32)
    sampled = float(losses.contextual_loss(big, big * 0.5 + 0.1, seed=[1, 2]))
    assert np.isfinite(sampled)
    assert float(losses.contextual_loss(big, big * 0.5 + 0.1, seed=[1, 2])) == sampled  # seeded
    # the sampling also compiles with XLA (jit_compile=True training), same positions
    jitted = tf.function(lambda a, b: losses.contextual_loss(a, b, seed=[1, 2]), jit_compile=True)
    assert float(jitted(big, big * 0.5 + 0.1)) == pytest.approx(sampled, rel=1e-4)
    dynamic = tf.function(lambda a, b: losses.contextual_loss(a, b, seed=[1, 2]),
                          input_signature=[tf.TensorSpec([None, None, None, 4])] * 2)
    assert float(dynamic(big, big * 0.5 + 0.1)) == pytest.approx(sampled, rel=1e-4)


def test_kd_loss():
    s = np.zeros((1, 1, 2, 8), np.float32)
    s[0, 0, 0] = 1.0
    t = np.zeros((1, 1, 2, 16), np.float32)
    t[0, 0, 1] = 2.0
    assert float(losses.kd_loss(s, t)) == pytest.approx(np.sqrt(2.0), rel=1e-6)
    assert float(losses.kd_loss(s, s * 3.0)) == pytest.approx(0.0, abs=1e-6)


def test_chroma_loss_by_hand():
    """BT.601 chroma: a pure brightness change costs nothing; a red shift costs
    (|Cb| + |Cr|) / 2 of the RGB difference."""
    from pirm_enhance.losses import chroma_loss

    t = np.full((1, 4, 4, 3), 0.4, np.float32)
    assert float(chroma_loss(t, t + 0.2)) < 1e-7
    e = t.copy()
    e[..., 0] += 0.1  # R + 0.1: Cb -0.0168736, Cr +0.05
    np.testing.assert_allclose(float(chroma_loss(t, e)), (0.0168736 + 0.05) / 2, rtol=1e-5)


def test_hue_loss_by_hand():
    """Hue angle only: brightness and saturation changes cost nothing, a dark red turned
    brown costs as much as a bright one, greys count nothing; by hand: a quarter turn of
    the chroma on one of two equally coloured pixels costs |(1, 0) - (0, 1)| / 2 = 0.7071."""
    from pirm_enhance.losses import hue_loss

    red = np.array([0.6, 0.2, 0.2], np.float32)
    grey = np.array([0.5, 0.5, 0.5], np.float32)
    t = np.stack([red, grey])[None, None]  # [1, 1, 2, 3]
    assert float(hue_loss(t, t)) < 1e-5
    # brighter and paler: same chroma direction
    e = t.copy()
    e[0, 0, 0] = grey + 0.5 * (red - grey) + 0.1
    assert float(hue_loss(t, e)) < 1e-4
    # the grey pixel is free to change
    e = t.copy()
    e[0, 0, 1] = (0.7, 0.4, 0.3)
    assert float(hue_loss(t, e)) < 1e-6
    # brown (R, G, B) = (0.6, 0.4, 0.2) against red: the same loss at a third of the brightness
    brown = np.array([0.6, 0.4, 0.2], np.float32)
    bright = float(hue_loss(red[None, None, None], brown[None, None, None]))
    dark = float(hue_loss(red[None, None, None] / 3, brown[None, None, None] / 3))
    assert bright > 0.05 and dark == pytest.approx(bright, rel=1e-3)
    # a quarter turn: chroma (Cb, Cr) rotated by 90 degrees, luma kept
    m = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])
    ycc = m @ red
    turned = np.linalg.solve(m, np.array([ycc[0], -ycc[2], ycc[1]])).astype(np.float32)
    two = np.stack([red, red])[None, None]
    e = two.copy()
    e[0, 0, 1] = turned
    np.testing.assert_allclose(float(hue_loss(two, e)), np.sqrt(2) / 2, rtol=1e-4)
    # the gradient stays finite where the output is grey and at the identity
    import tensorflow as tf

    x = tf.Variable(np.stack([grey, red])[None, None])
    with tf.GradientTape() as tape:
        value = hue_loss(t, x) + hue_loss(two, tf.concat([x[:, :, 1:], x[:, :, 1:]], 2))
    assert np.isfinite(tape.gradient(value, x).numpy()).all()


def test_mse_loss_by_hand():
    target = np.zeros((2, 3, 4, 3), np.float32)
    enhanced = np.zeros((2, 3, 4, 3), np.float32)
    enhanced[0, 0, 0, 0] = 0.6  # one pixel of 72 values off by 0.6: 0.36 / 72
    assert float(losses.mse_loss(target, enhanced)) == pytest.approx(0.36 / 72, rel=1e-6)
