"""Track A reconstructions (feqe, kaist_sr, carn, fccn): cost against the report's Table 1,
odd sizes, and the custom pieces against hand-computed values. The registry-wide tests
(archs, gradients, export, checkpoints, zoo contract) cover the rest."""

import functools

import numpy as np
import pytest
import tensorflow as tf

import pirm_enhance as pe
from pirm_enhance.archs.carn import AnchoredSum
from pirm_enhance.archs.kaist_sr import GaussianGate

SRCNN_MAC = 3 * 64 * 81 + 64 * 32 * 25 + 32 * 3 * 25  # 69,152 per pixel
SRCNN_MS = 3239  # Table 1 (Track A) CPU ms
REPORT_MS = {"feqe": 701, "kaist_sr": 343, "carn": 773, "fccn": 767}
NAMES = sorted(REPORT_MS)


def _macs_per_pixel(model, h=720, w=1280):
    """Multiply-adds of every convolution (plain, depthwise, transposed) at 1280x720, per
    pixel, from the traced graph's shapes (nothing is run)."""
    graph = tf.function(lambda x: model(x)).get_concrete_function(
        tf.TensorSpec([1, h, w, 3], tf.float32)).graph
    total = 0
    for op in graph.get_operations():
        if op.type in ("Conv2D", "DepthwiseConv2dNative"):
            out, k = op.outputs[0].shape, op.inputs[1].shape
            total += out[1] * out[2] * out[3] * k[0] * k[1] * (k[2] if op.type == "Conv2D" else 1)
        elif op.type == "Conv2DBackpropInput":  # every input pixel meets the whole kernel
            x, k = op.inputs[2].shape, op.inputs[1].shape
            total += x[1] * x[2] * k[0] * k[1] * k[2] * k[3]
    return total / (h * w)


@functools.lru_cache(maxsize=None)
def _cost(name):
    """(MAC per pixel at 1280x720, parameters) of ``name`` at its default configuration."""
    model = pe.build_model(name)
    return _macs_per_pixel(model), model.count_params()


@pytest.mark.parametrize("name", [
    pytest.param("feqe", marks=pytest.mark.xfail(
        strict=True, reason="width 16 is fixed by the FEQE code: MAC ratio 11.5 vs CPU ratio 4.62 "
                            "(2.5x; see pirm_enhance/archs/feqe.py)")),
    "carn", "fccn", "kaist_sr"])
def test_cost_matches_the_report_within_1_6(name):
    ratio = SRCNN_MAC / _cost(name)[0]
    report = SRCNN_MS / REPORT_MS[name]
    assert 1 / 1.6 < ratio / report < 1.6, (name, ratio, report)


def test_documented_costs_and_sizes():
    """The MAC counts and parameter counts the module docstrings state."""
    want = {"feqe": (6028, 96464), "kaist_sr": (6408, 102944), "carn": (17720, 281120),
            "fccn": (17872, 219387)}
    for name, (macs, params) in want.items():
        assert (round(_cost(name)[0]), _cost(name)[1]) == (macs, params), name


@pytest.mark.parametrize("name", NAMES)
def test_tiny_and_odd_sizes(name):
    from zoo_checks import arch_class

    model = pe.build_model(name, **arch_class(name).tiny_config)
    lo, hi = arch_class(name).output_range
    rng = np.random.default_rng(0)
    for h, w in ((1, 3), (5, 7), (6, 9), (13, 4)):
        y = np.asarray(model(rng.random((1, h, w, 3), dtype=np.float32)))
        assert y.shape == (1, h, w, 3) and lo <= y.min() and y.max() <= hi


def test_feqe_is_the_track_b_class_without_norms():
    """Width 16, 20 blocks, no instance norms (so every conv has a bias): the parameter
    count by hand, and the alex_enh class underneath."""
    from pirm_enhance.archs.alex_enh import AlexEnh

    model = pe.build_model("feqe")
    assert isinstance(model, AlexEnh)
    assert not [l for l in model.layers if "norm" in l.name and l.name != "normalize"]
    c, b = 16, 20
    by_hand = ((12 * c // 4 + c // 4) + 2 * b * (9 * c * c + c) + (9 * c * c + c)
               + (c * 4 * c + 4 * c) + (c * 12 + 12))
    assert model.count_params() == by_hand == 96464


def test_anchored_sum_by_hand():
    """sum_r alpha_r * regression_r, regressions laid out anchor-major (r * D + d)."""
    rng = np.random.default_rng(1)
    r, d = 3, 2
    reg = rng.normal(size=(2, 4, 5, r * d)).astype(np.float32)
    alpha = rng.random((2, 4, 5, r)).astype(np.float32)
    want = np.einsum("bhwr,bhwrd->bhwd", alpha, reg.reshape(2, 4, 5, r, d))
    got = np.asarray(AnchoredSum(r)([reg, alpha]))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_carn_similarities_are_a_softmax_over_anchors():
    model = pe.build_model("carn", blocks=2, anchors=4, channels=4, features=8, kernel=3)
    sim = tf.keras.Model(model.input, model.get_layer("block1_similarity").output)
    a = np.asarray(sim(np.random.default_rng(2).random((1, 8, 12, 3), dtype=np.float32)))
    assert a.shape == (1, 2, 3, 4) and (a > 0).all()
    np.testing.assert_allclose(a.sum(-1), 1.0, rtol=1e-5)


def test_xunit_gate_by_hand():
    x = np.array([[[[0.0, 1.0, -2.0]]]], np.float32)
    np.testing.assert_allclose(np.asarray(GaussianGate()(x)), np.exp(-x ** 2), rtol=1e-6)


def test_kaist_sr_error_feedback_wiring():
    """The error is down(H0) - F, and the correction up-projects it: the 8 convolutions,
    and ``error`` fed by the down-projection's xUnit and the last residual unit."""
    model = pe.build_model("kaist_sr", channels=8, xunit_kernel=3)
    convs = [l.name for l in model.layers if l.__class__.__name__ == "Conv2D"]
    assert convs == ["conv1", "conv2", "conv3", "conv4", "conv5", "conv6_up", "conv7_down", "conv8_up"]
    error = model.get_layer("error")
    sources = [t._keras_history.operation.name for t in error.input]
    assert sources == ["xunit4_mul", "unit2_add"]
