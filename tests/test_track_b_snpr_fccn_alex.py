"""SNPR G1-G3, IV SR+'s FCCN and TEAM ALEX's FEQE (Track B reconstructions) and SNPR's
GAN losses, against hand-computed values. The registry-wide tests cover the rest."""

import math

import numpy as np
import pytest
import tensorflow as tf

import pirm_enhance as pe
from pirm_enhance.archs.alex_enh import Desubpixel, Subpixel
from pirm_enhance.losses import snpr

SRCNN_MAC = 3 * 64 * 81 + 64 * 32 * 25 + 32 * 3 * 25  # 69,152 per pixel
# Table 2 (Track B) CPU ms; SRCNN 3274 ms. snpr_g1 is the submitted SNPR entry.
REPORT_MS = {"snpr_g1": 1448, "fccn_enh": 1375, "alex_enh": 781}


def _stub_discriminator(images, training=False):
    """A logit per image: 4 * mean(image) - 2 (hand-computable)."""
    return 4.0 * tf.reduce_mean(images, axis=[1, 2, 3])[:, None] - 2.0


def _bce(logit, label):
    p = 1.0 / (1.0 + math.exp(-logit))
    return -math.log(p) if label else -math.log(1.0 - p)


def test_gan_losses_by_hand():
    real, fake = np.array([[2.0], [-1.0]], np.float32), np.array([[0.5], [-3.0]], np.float32)
    want_d = (_bce(2.0, 1) + _bce(-1.0, 1)) / 2 + (_bce(0.5, 0) + _bce(-3.0, 0)) / 2
    want_g = (_bce(0.5, 1) + _bce(-3.0, 1)) / 2
    assert float(snpr.gan_discriminator_loss(real, fake)) == pytest.approx(want_d, rel=1e-6)
    assert float(snpr.gan_generator_loss(fake)) == pytest.approx(want_g, rel=1e-6)
    # a perfectly confused D (all logits 0) costs 2 log 2 and the generator log 2
    zeros = np.zeros((3, 1), np.float32)
    assert float(snpr.gan_discriminator_loss(zeros, zeros)) == pytest.approx(2 * math.log(2), rel=1e-6)
    assert float(snpr.gan_generator_loss(zeros)) == pytest.approx(math.log(2), rel=1e-6)


def test_image_level_losses_and_where_gradients_go():
    target = np.full((2, 4, 4, 3), 0.75, np.float32)          # logit 1
    enhanced = tf.constant(np.full((2, 4, 4, 3), 0.25, np.float32))  # logit -1
    want_d = _bce(1.0, 1) + _bce(-1.0, 0)
    assert float(snpr.snpr_discriminator_loss(_stub_discriminator, target, enhanced)) == pytest.approx(
        want_d, rel=1e-6)
    assert float(snpr.snpr_adversarial_loss(_stub_discriminator, enhanced)) == pytest.approx(
        _bce(-1.0, 1), rel=1e-6)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(enhanced)
        d_loss = snpr.snpr_discriminator_loss(_stub_discriminator, target, enhanced)
        g_loss = snpr.snpr_adversarial_loss(_stub_discriminator, enhanced)
    assert tape.gradient(d_loss, enhanced) is None  # D's loss does not train the generator
    g = np.asarray(tape.gradient(g_loss, enhanced))
    # d/dx softplus(-(4 mean(x) - 2)) = -sigmoid(-z) * 4 / (batch * pixels * channels), z = -1
    want = -(1.0 / (1.0 + math.exp(-1.0))) * 4 / 48 / 2
    np.testing.assert_allclose(g, want, rtol=1e-5)


def test_discriminator_takes_any_patch_size():
    d = snpr.SNPRDiscriminator(width=16)
    for size in ((100, 100), (37, 53)):
        assert tuple(d(np.zeros((2, *size, 3), np.float32)).shape) == (2, 1)
    assert snpr.SNPRDiscriminator.from_config(d.get_config()).count_params() == d.count_params()


def test_desubpixel_and_subpixel_invert_each_other():
    x = np.arange(2 * 4 * 6 * 3, dtype=np.float32).reshape(2, 4, 6, 3)
    down = Desubpixel(2)(x)
    assert tuple(down.shape) == (2, 2, 3, 12)
    # space_to_depth: the 2x2 block's pixels in row-major order, channels innermost
    np.testing.assert_array_equal(np.asarray(down)[0, 0, 0], np.concatenate([x[0, 0, 0], x[0, 0, 1],
                                                                               x[0, 1, 0], x[0, 1, 1]]))
    np.testing.assert_array_equal(np.asarray(Subpixel(2)(down)), x)


@pytest.mark.parametrize("name", ["alex_enh", "snpr_g1", "snpr_g2", "fccn_enh"])
def test_tiny_and_odd_sizes(name):
    from zoo_checks import arch_class

    model = pe.build_model(name, **arch_class(name).tiny_config)
    lo, hi = arch_class(name).output_range
    for h, w in ((1, 3), (5, 7), (6, 9)):
        y = np.asarray(model(np.random.default_rng(0).random((1, h, w, 3), dtype=np.float32)))
        assert y.shape == (1, h, w, 3) and lo <= y.min() and y.max() <= hi


def test_alex_enh_starts_near_the_identity():
    """The global residual is divided by 255 (FEQE's normalise/restore), so an untrained
    network returns about its input."""
    model = pe.build_model("alex_enh", blocks=1, channels=8)
    x = np.random.default_rng(1).uniform(0.2, 0.8, (1, 12, 20, 3)).astype(np.float32)
    assert np.abs(np.asarray(model(x)) - x).max() < 0.2


def test_fast_clique_block_shares_its_weights():
    """Stage II reuses Stage I's weights: one FCB of growth g on f features has a 3x3 input
    conv, 16 pointwise clique weights (4 from X0, 12 between layers), 4 depthwise 3x3 and a
    1x1 fusion, whatever the number of stages."""
    g, f = 4, 6
    model = pe.build_model("fccn_enh", blocks=1, growth=g, features=(8, f))
    fcb = (f * 9 * g + g) + 16 * g * g + 4 * (9 * g + g) + (4 * g * f + f)
    rest = (3 * 9 * 8 + 8) + (8 * 9 * f + f) + (f * 9 * f + f) + (f * 9 * 3 + 3)
    assert model.count_params() == fcb + rest


def _macs_per_pixel(model, h=720, w=1280):
    """Multiply-adds of every convolution at 1280x720, per input pixel (graph shapes, no run)."""
    graph = tf.function(lambda x: model(x)).get_concrete_function(
        tf.TensorSpec([1, h, w, 3], tf.float32)).graph
    total = 0
    for op in graph.get_operations():
        if op.type in ("Conv2D", "DepthwiseConv2dNative"):
            out, k = op.outputs[0].shape, op.inputs[1].shape
            per_out = k[0] * k[1] * (k[2] if op.type == "Conv2D" else 1)
            total += out[1] * out[2] * out[3] * per_out
    return total / (h * w)


@pytest.mark.parametrize("name", sorted(REPORT_MS))
def test_cost_matches_the_report_within_1_6(name):
    ratio = SRCNN_MAC / _macs_per_pixel(pe.build_model(name))
    report = 3274 / REPORT_MS[name]
    assert 1 / 1.6 < ratio / report < 1.6, (name, ratio, report)


def test_snpr_operating_points_get_faster():
    macs = [_macs_per_pixel(pe.build_model(f"snpr_g{i}")) for i in (1, 2, 3)]
    assert macs[0] > macs[1] > macs[2]
    assert [round(m) for m in macs] == [31248, 17424, 9144]
