"""Training data: pairs listing, streaming pipeline, identical augmentation, degradation model."""

import numpy as np
import pytest
import tensorflow as tf

from pirm_enhance.data import pairs
from pirm_enhance.data.degrade import PhoneDegradation, degrade
from pirm_enhance.data.io import write_png
from pirm_enhance.data.synthetic import synthetic_photo


@pytest.fixture
def dped_tree(tmp_path):
    """A miniature DPED release with aligned pairs (target = phone * 0.5 + 0.25)."""
    for split, sub, count in (("train", "training_data", 12), ("test", "test_data/patches", 3)):
        for i in range(count):
            img = synthetic_photo(100, 100, seed=i + (100 if split == "test" else 0))
            write_png(tmp_path / "dped/iphone" / sub / "iphone" / f"{i}.png", img)
            write_png(tmp_path / "dped/iphone" / sub / "canon" / f"{i}.png", img * 0.5 + 0.25)
    return tmp_path


def test_dped_layout_lists_numeric_order(dped_tree):
    train = pairs.dped_pairs(dped_tree)
    assert len(train) == 12 and train[2][0].endswith("iphone/2.png") and train[10][1].endswith("canon/10.png")
    assert len(pairs.dped_pairs(dped_tree, split="test")) == 3


def test_pipeline_is_streaming_deterministic_and_augments_both_alike(dped_tree):
    items = pairs.dped_pairs(dped_tree)
    ds = pairs.pair_dataset(items, batch_size=4, seed=3, patch_size=64)
    a = [(p.numpy(), t.numpy()) for p, t in ds.take(5)]  # 20 examples from 12 files: repeats epochs
    for phone, target in a:
        assert phone.shape == (4, 64, 64, 3)
        # the same crop, flip and rotation were applied to both images
        np.testing.assert_allclose(target, phone * 0.5 + 0.25, atol=2.5 / 255)
    b = [(p.numpy(), t.numpy()) for p, t in pairs.pair_dataset(items, 4, seed=3, patch_size=64).take(5)]
    np.testing.assert_array_equal(a[3][0], b[3][0])
    resumed = pairs.pair_dataset(items, 4, seed=3, patch_size=64, start=12)
    np.testing.assert_array_equal(next(iter(resumed))[0].numpy(), a[3][0])


def test_synthetic_pairs_from_photos(tmp_path):
    for i in range(3):
        write_png(tmp_path / "photos" / f"p{i}.png", synthetic_photo(120, 160, seed=i))
    photos = pairs.synthetic_sources(tmp_path / "photos")
    ds = pairs.pair_dataset(photos, batch_size=2, seed=0, patch_size=48, synthetic=True)
    phone, target = next(iter(ds))
    assert phone.shape == target.shape == (2, 48, 48, 3)
    assert 0.0 <= float(tf.reduce_min(phone)) and float(tf.reduce_max(phone)) <= 1.0
    assert float(tf.reduce_mean(tf.abs(phone - target))) > 0.01


def test_degradation_is_seeded_and_does_what_it_says():
    img = synthetic_photo(96, 128, seed=5)
    a = degrade(img, [1, 2]).numpy()
    np.testing.assert_array_equal(a, degrade(img, [1, 2]).numpy())
    assert not np.array_equal(a, degrade(img, [1, 3]).numpy())
    gray = np.full((96, 128, 3), 0.5, np.float32)
    quiet = PhoneDegradation(shot_noise=(0, 0), read_noise=(0, 0), vignette=(0.3, 0.3), jpeg_quality=(100, 100),
                             wb_gain=(1, 1), exposure=(1, 1), contrast=(1, 1), gamma=(1, 1))
    v = degrade(gray, [0, 0], quiet).numpy()
    assert v[48, 64].mean() > v[2, 2].mean() + 0.05  # vignetting darkens the corners
    flat = PhoneDegradation(contrast=(0.7, 0.7), shot_noise=(0, 0), read_noise=(0, 0), jpeg_quality=(100, 100),
                            wb_gain=(1, 1), exposure=(1, 1), gamma=(1, 1), vignette=(0, 0))
    assert degrade(img, [0, 0], flat).numpy().std() < img.std()  # flatter tone curve
    dark = np.full((64, 64, 3), 0.1, np.float32)
    bright = np.full((64, 64, 3), 0.8, np.float32)
    noisy = PhoneDegradation(shot_noise=(0.004, 0.004), read_noise=(0.01, 0.01), jpeg_quality=(100, 100),
                             vignette=(0, 0), blur_sigma=(0.4, 0.4), exposure=(1, 1), contrast=(1, 1),
                             gamma=(1, 1), wb_gain=(1, 1))
    # relative noise grows in the dark
    sd = degrade(dark, [0, 1], noisy).numpy()
    sb = degrade(bright, [0, 1], noisy).numpy()
    assert sd.std() / sd.mean() > sb.std() / sb.mean()


def test_holdout_split_is_disjoint_and_deterministic():
    train, held = pairs.split_holdout(list(range(20)), 0.1)
    assert len(held) == 2 and not set(train) & set(held) and len(train) + len(held) == 20
    assert pairs.split_holdout(list(range(20)), 0.1) == (train, held)


def test_camera_pipeline_degradation():
    """The default degradation (Brooks et al. unprocessing + a cheap phone): seeded, any
    size (odd too), flatter on average, exposure both ways, neutral greys stay near neutral
    without an AWB error, and the bilinear demosaic reproduces a flat colour exactly."""
    from pirm_enhance.data.degrade import CameraPipeline, _bayer_masks, _bilinear_demosaic

    img = synthetic_photo(67, 91, seed=3)
    a = degrade(img, [4, 5]).numpy()
    assert a.shape == (67, 91, 3) and 0.0 <= a.min() and a.max() <= 1.0
    np.testing.assert_array_equal(a, degrade(img, [4, 5], CameraPipeline()).numpy())
    assert not np.array_equal(a, degrade(img, [4, 6]).numpy())
    means, stds = [], []
    for k in range(8):
        d = degrade(img, [7, k]).numpy()
        means.append(d.mean())
        stds.append(d.std())
    assert np.mean(stds) < img.std()
    # the phone's exposure goes both ways (darker on average on real photos: 0.83 of the
    # original's mean over 16 ai-benchmark photos, 12% of draws brighter)
    dark = degrade(img, [7, 0], CameraPipeline(exposure=(0.75, 0.75))).numpy().mean()
    bright = degrade(img, [7, 0], CameraPipeline(exposure=(1.15, 1.15))).numpy().mean()
    assert dark < img.mean() < bright
    grey = np.full((48, 48, 3), 0.5, np.float32)
    neutral = CameraPipeline(awb_error=(0, 0), noise_scale=0.0, jpeg_quality=(100, 100))
    for k in range(4):
        g = degrade(grey, [1, k], neutral).numpy()[8:-8, 8:-8].reshape(-1, 3).mean(0)
        assert np.ptp(g) < 0.02, g
    masks = _bayer_masks(5, 7)
    flat = tf.reduce_sum(tf.constant([0.2, 0.5, 0.7]) * masks, axis=-1)
    np.testing.assert_allclose(_bilinear_demosaic(flat, masks).numpy(),
                               np.broadcast_to([0.2, 0.5, 0.7], (5, 7, 3)), atol=1e-6)


def _grey_chroma(params, level, seeds=40):
    """Mean R/G and B/G of the phone pictures of a flat grey, over ``seeds`` draws."""
    grey = np.full((40, 40, 3), level, np.float32)
    rgb = np.stack([degrade(grey, [s, 7], params).numpy()[12:-12, 12:-12].reshape(-1, 3).mean(0)
                    for s in range(seeds)])
    return float((rgb[:, 0] / rgb[:, 1]).mean()), float((rgb[:, 2] / rgb[:, 1]).mean())


def test_noise_floor_keeps_noisy_shadows_neutral():
    """Clipped sensor noise, gained by about 2 in red and 1.7 in blue, turns a neutral
    shadow magenta in the phone picture (the bias the default learnt to remove from every
    shadow, BUILD_NOTES); ``noise_floor`` takes that expected colour out and keeps the
    grain. Measured over 150 draws: grey 0.05 R/G 1.116 -> 1.004, B/G 1.089 -> 0.990."""
    from pirm_enhance.data.degrade import CameraPipeline

    r, b = _grey_chroma(CameraPipeline(), 0.05)
    assert r > 1.07 and b > 1.05, (r, b)
    corrected = CameraPipeline(noise_floor=True)
    for level in (0.05, 0.1, 0.2, 0.5):
        r, b = _grey_chroma(corrected, level)
        assert abs(r - 1) < 0.025 and abs(b - 1) < 0.025, (level, r, b)
    grey = np.full((40, 40, 3), 0.1, np.float32)
    grain = degrade(grey, [3, 7], corrected).numpy()[12:-12, 12:-12].std()
    assert grain > 0.5 * degrade(grey, [3, 7], CameraPipeline()).numpy()[12:-12, 12:-12].std()


def test_full_rgb_share_leaves_sharp_edges_without_false_colour():
    """Bilinear demosaicking colours a sharp neutral edge (the false colour a model trained
    on it alone learns to take out of every edge); ``full_rgb_share=1`` (no mosaic) leaves
    the edge neutral. Measured without noise: chroma high-pass at the edges 9.2 -> 0.2 levels;
    a share of 0 is the Bayer path, unchanged."""
    from pirm_enhance.colour import _chroma_speckle
    from pirm_enhance.data.degrade import CameraPipeline
    from pirm_enhance.training.loop import degradation_for

    edge = np.full((48, 64, 3), 0.15, np.float32)
    edge[:, 31:] = 0.85
    edge[:, 20:22] = 0.85  # a thin bright line too
    speckle = {}
    for share in (0.0, 1.0):
        quiet = CameraPipeline(noise_scale=0.0, full_rgb_share=share, jpeg_quality=(95, 95), blur_sigma=(0.3, 0.3))
        out = np.mean([_chroma_speckle(degrade(edge, [9, k], quiet).numpy())[8:-8, 16:40].mean() for k in range(4)])
        speckle[share] = 255 * out
    assert speckle[1.0] < 0.25 * speckle[0.0], speckle
    img = synthetic_photo(40, 56, seed=2)
    np.testing.assert_array_equal(degrade(img, [1, 2], CameraPipeline(full_rgb_share=0.0)).numpy(),
                                  degrade(img, [1, 2], CameraPipeline()).numpy())
    assert degradation_for({"full_rgb_share": 0.3}) == CameraPipeline(full_rgb_share=0.3)


def test_noise_floor_is_a_recipe_option():
    """``noise_floor: True`` in a recipe (or as a train() override) makes its synthetic pairs
    with the corrected camera pipeline; without it, the default pipeline."""
    from pirm_enhance.data.degrade import CameraPipeline
    from pirm_enhance.training.loop import degradation_for
    from pirm_enhance.training.recipes import OPTION_KEYS, recipe

    assert "noise_floor" in OPTION_KEYS
    assert degradation_for({"noise_floor": True}) == CameraPipeline(noise_floor=True)
    assert degradation_for({}) is None
    assert degradation_for(recipe("default")) == CameraPipeline(noise_floor=True, full_rgb_share=0.3)  # shipped
    assert degradation_for(recipe("default", noise_floor=False, full_rgb_share=0.0)) is None
