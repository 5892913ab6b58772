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


def test_aligned_residual_rsgunet_tiles_agree_with_the_whole_photo():
    """``align`` (on with ``residual``, the default model's variant) mirrors the image to a
    multiple of 32 first: TensorFlow's "same" padding of a stride-2 convolution pads the
    top only when the length is odd, so a 682-px-high photo (714 after the 16-px mirror
    pad, 357 at half size) was otherwise sampled on a grid one pixel off the grid of its
    32-aligned tiles (and of the 128-px training patches)."""
    from pirm_enhance.data.synthetic import synthetic_photo
    from pirm_enhance.metrics import psnr
    from pirm_enhance.tiling import TiledModel

    image = synthetic_photo(682, 300, seed=4)
    found = {}
    for align in (True, False):
        keras.utils.set_random_seed(0)
        model = pe.build_model("rsgunet", width=4, residual=True, align=align)
        rng = np.random.default_rng(0)
        for w in model.weights:  # a trained-like correction, far from the identity
            w.assign(w.numpy() + rng.normal(0, 0.1, w.shape).astype("float32"))
        whole = np.clip(np.asarray(model(image[None]))[0], 0, 1)
        assert whole.shape == image.shape
        tiled = np.clip(TiledModel(model, tile=256, overlap=64)(image), 0, 1)
        diff = np.abs(tiled - whole).mean(-1) * 255  # levels
        found[align] = (psnr(tiled, whole), diff.mean(), diff.mean(1).max())
        aligned_input = np.asarray(model(image[None, :640, :288]))[0]  # multiples of 32: no padding
        assert aligned_input.shape == (640, 288, 3)
    # measured: 64.8 dB, mean 0.07 levels, worst row 0.29; without align 58.7, 0.17, 0.63
    # (the trained default: worst row 2.98 -> 0.03 levels)
    assert found[True][0] >= 60.0 and found[True][1] < 0.5 * found[False][1], found
    assert found[True][2] < 0.5 * found[False][2], found
    assert pe.build_model("rsgunet", width=4).get_config()["align"] is False  # the published network
