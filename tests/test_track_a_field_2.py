"""Mt.Phoenix's, SuperSR's and BOE-SBG's Track A networks (reconstructions): cost against
the report's Table 1, the numbers written in their docstrings, the global residual and
BOE's shared weights. The registry-wide tests cover export, round trips and gradients."""

import numpy as np
import pytest
import tensorflow as tf

import pirm_enhance as pe

SRCNN_MAC = 3 * 64 * 81 + 64 * 32 * 25 + 32 * 3 * 25  # 69,152 per pixel
# Table 1 (Track A) CPU ms; SRCNN 3239 ms.
REPORT_MS = {"mtphoenix_sr": 793, "supersr": 969, "boe_sr": 1231}
# What the module docstrings state: MAC/pixel at 1280x720 and parameters.
DOCSTRING = {"mtphoenix_sr": (16972, 256819), "supersr": (18624, 298755), "boe_sr": (26588, 79955)}
# The layer whose zero weights leave only the global residual: output = input.
LAST = {"mtphoenix_sr": "last", "supersr": "deconv", "boe_sr": "synthesis"}


def _macs_per_pixel(model, h=720, w=1280):
    """Multiply-adds of every convolution and transposed convolution at 1280x720, per
    pixel (graph shapes, no run). A transposed convolution costs its input pixels times
    its kernel size times input and output channels."""
    graph = tf.function(model, autograph=False).get_concrete_function(
        tf.TensorSpec([1, h, w, 3], tf.float32)).graph
    total = 0
    for op in graph.get_operations():
        if op.type == "Conv2D":
            out, k = op.outputs[0].shape, op.inputs[1].shape
            total += out[1] * out[2] * out[3] * k[0] * k[1] * k[2]
        elif op.type == "Conv2DBackpropInput":  # inputs: output size, kernel [kh, kw, out, in], input
            x, k = op.inputs[2].shape, op.inputs[1].shape
            total += x[1] * x[2] * k[0] * k[1] * k[2] * k[3]
        elif op.type == "DepthwiseConv2dNative":
            out, k = op.outputs[0].shape, op.inputs[1].shape
            total += out[1] * out[2] * out[3] * k[0] * k[1]
    return total / (h * w)


@pytest.fixture(scope="module")
def costs():
    out = {}
    for name in REPORT_MS:
        model = pe.build_model(name)
        out[name] = (_macs_per_pixel(model), model.count_params())
    return out


@pytest.mark.parametrize("name", sorted(REPORT_MS))
def test_cost_matches_the_report_within_1_6(name, costs):
    ratio = SRCNN_MAC / costs[name][0]
    report = 3239 / REPORT_MS[name]
    assert 1 / 1.6 < ratio / report < 1.6, (name, ratio, report)


@pytest.mark.parametrize("name", sorted(REPORT_MS))
def test_docstring_numbers(name, costs):
    macs, params = costs[name]
    assert (round(macs), params) == DOCSTRING[name]


def test_counter_counts_transposed_convolutions():
    """SRCNN by the counter is the hand count; BOE's transposed convolutions are counted
    (a count without them would be 5,760 lower)."""
    assert _macs_per_pixel(pe.build_model("srcnn")) == SRCNN_MAC
    graph = tf.function(pe.build_model("boe_sr"), autograph=False).get_concrete_function(
        tf.TensorSpec([1, 64, 64, 3], tf.float32)).graph
    assert sum(op.type == "Conv2DBackpropInput" for op in graph.get_operations()) == 2


@pytest.mark.parametrize("name", sorted(REPORT_MS))
def test_tiny_odd_sizes_and_the_global_residual(name):
    """Any size, odd ones too; with the last layer at zero the output is the input
    (``clip(input + tanh(0), 0, 1)``)."""
    from zoo_checks import arch_class

    model = pe.build_model(name, **arch_class(name).tiny_config)
    rng = np.random.default_rng(0)
    for h, w in ((1, 3), (5, 7), (6, 9), (17, 30)):
        x = rng.random((1, h, w, 3), dtype=np.float32)
        y = np.asarray(model(x))
        assert y.shape == x.shape and 0.0 <= y.min() and y.max() <= 1.0
    for weight in model.get_layer(LAST[name]).weights:
        weight.assign(np.zeros(weight.shape, np.float32))
    x = rng.random((1, 13, 22, 3), dtype=np.float32)
    np.testing.assert_allclose(np.asarray(model(x)), x, atol=1e-6)


def test_boe_sr_shares_its_modules_across_levels():
    """Analysis runs at 3 levels, down at 2, the up block at 2, synthesis at 3, with one
    set of weights each: the parameter count is that of one copy of every module, and the
    graph has more convolutions than the model has convolution layers."""
    f, g, n = 4, 4, 2
    model = pe.build_model("boe_sr", features=f, growth=g, block_layers=n)
    conv = lambda cin, cout, k: k * k * cin * cout + cout  # noqa: E731
    dense = sum(conv(2 * f + i * g, 4 * g, 1) + conv(4 * g, g, 3) for i in range(n))
    want = (conv(3, f, 3) + conv(f, f, 3) + dense + conv(2 * f + n * g, 2 * f, 1)
            + conv(2 * f, f, 3) + conv(f, 3, 3))
    assert model.count_params() == want
    for name, calls in (("analysis", 3), ("down", 2), ("up_deconv", 2), ("synthesis", 3),
                        ("up_block_layer1_3x3", 2), ("up_block_transition", 2)):
        assert len(model.get_layer(name)._inbound_nodes) == calls, name
