"""RSGUNet has no official weights: checked structurally against the paper."""

import keras
import numpy as np

import pirm_enhance as pe


def test_parameter_count_of_published_layer_list():
    model = pe.build_model("rsgunet")
    assert model.count_params() == 1_451_268
    ups = [l for l in model.layers if l.name.startswith("up")]
    assert len(ups) == 4 and all(l.bias is None for l in ups)


def test_range_scaling_multiplies_with_s0(rng):
    model = pe.build_model("rsgunet", width=4)
    x = rng.random((1, 45, 67, 3), dtype=np.float32)
    assert np.ptp(np.asarray(model(x))) > 0
    s0 = model.get_layer("conv1")
    s0.kernel.assign(np.zeros(s0.kernel.shape, "float32"))
    s0.bias.assign(np.zeros(s0.bias.shape, "float32"))
    # s0 == 0 zeroes the product: the output no longer depends on the image
    y = np.asarray(model(x))
    np.testing.assert_allclose(y, y.flat[0], atol=1e-6)


def test_global_feature_reaches_far_away_pixels(rng):
    keras.utils.set_random_seed(3)
    model = pe.build_model("rsgunet", width=4)
    dense = model.get_layer("global_dense")
    # a strong global path, so that its effect is far above float32 rounding
    dense.kernel.assign(rng.normal(0, 30, dense.kernel.shape).astype("float32"))
    x = rng.random((1, 768, 768, 3), dtype=np.float32)
    x2 = x.copy()
    x2[:, -320:, -320:, :] = 1.0  # changes only the bottom-right region
    corner = (slice(None), slice(0, 32), slice(0, 32))
    changed = np.abs(np.asarray(model(x))[corner] - np.asarray(model(x2))[corner]).max()
    # without the global path the same change does not reach the far corner
    dense.kernel.assign(np.zeros(dense.kernel.shape, "float32"))
    local_only = np.abs(np.asarray(model(x))[corner] - np.asarray(model(x2))[corner]).max()
    assert local_only == 0.0
    assert changed > 1e-6
