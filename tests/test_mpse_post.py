"""MPSE phase 3 (thesis 3.1.3) and the pluggable segmentation: hand-computed equalisation
tables, the recursive sub-image scheme, gamma, per-region independence, blending, the
segmentation's guarantees, masks_from's three forms, and pirm-enhance --post."""

import time

import imageio.v3 as iio
import keras
import numpy as np
import pytest

import pirm_enhance as pe
from pirm_enhance import errors
from pirm_enhance.cli import enhance as enhance_cli
from pirm_enhance.colour import hue_diff, rgb_to_hsv
from pirm_enhance.data.synthetic import synthetic_photo
from pirm_enhance.postprocess import (equalization_table, equalize, gamma_correction, mpse_post, post_function,
                                      recursive_table, regional_equalization)
from pirm_enhance.segment import masks_from, segment


def _gray(levels):
    """A uint8 grey image (R = G = B) from a 2-D array of levels."""
    return np.repeat(np.asarray(levels, np.uint8)[..., None], 3, -1)


FOUR = np.array([[50, 100, 150, 200]] * 4).T  # 4x4: each of the four levels on 4 pixels


def _levels(out):
    return np.rint(out[..., 0] * 255).astype(int)


def test_equalisation_of_a_4x4_image_matches_the_hand_computed_cdf():
    # T(k) = floor(255 * cdf(k)): cdf = 1/4, 2/4, 3/4, 1 -> 63, 127, 191, 255
    out = _levels(equalize(_gray(FOUR), depth=0))
    assert sorted(np.unique(out, return_counts=True)[0]) == [63, 127, 191, 255]
    assert np.array_equal(out, np.array([[63, 127, 191, 255]] * 4).T)
    assert np.array_equal(np.bincount(out.ravel(), minlength=256)[[63, 127, 191, 255]], [4, 4, 4, 4])
    # unequal counts: 2 x 10, 6 x 20, 8 x 30 -> cdf 2/16, 8/16, 1 -> floor(31.875)=31, floor(127.5)=127, 255
    img = np.array([10] * 2 + [20] * 6 + [30] * 8).reshape(4, 4)
    out = _levels(equalize(_gray(img), depth=0))
    assert np.array_equal(out, np.where(img == 10, 31, np.where(img == 20, 127, 255)))
    hist = np.bincount(img.ravel(), minlength=256)
    table = equalization_table(hist)
    assert (table[10], table[20], table[30], table[0], table[255]) == (31, 127, 255, 0, 255)


def test_recursive_sub_images_by_hand():
    # depth 1: mean 125 splits [0,125] {50,100} and [126,255] {150,200}:
    # 50 -> floor(125 * 1/2) = 62, 100 -> 125, 150 -> 126 + floor(129 * 1/2) = 190, 200 -> 255
    assert np.array_equal(_levels(equalize(_gray(FOUR), depth=1))[:, 0], [62, 125, 190, 255])
    # depth 2: [0,125] splits at 75 -> 50 -> 75, 100 -> 125; [126,255] at 175 -> 150 -> 175, 200 -> 255
    assert np.array_equal(_levels(equalize(_gray(FOUR), depth=2))[:, 0], [75, 125, 175, 255])
    # a mean that is not a level: 2 x 10, 6 x 20, 8 x 30 has mean 23.75 -> floor 23 splits [0,23] {10,20}
    # and [24,255] {30}: 10 -> floor(23 * 2/8) = 5, 20 -> 23, 30 -> 24 + 231 = 255
    img = np.array([10] * 2 + [20] * 6 + [30] * 8).reshape(4, 4)
    out = _levels(equalize(_gray(img), depth=1))
    assert np.array_equal(out, np.where(img == 10, 5, np.where(img == 20, 23, 255)))
    hist = np.bincount(FOUR.ravel(), minlength=256)
    assert np.array_equal(recursive_table(hist, 0), equalization_table(hist))
    # contrast limit: one full bin of 4 levels, limit 1 x mean = 2, excess 6 spread -> 1.5, 1.5, 3.5, 1.5
    # cdf 3/16, 6/16, 13/16, 1 -> floor(3 cdf) = 0, 1, 2, 3 (no stretch) instead of 0, 0, 3, 3
    assert list(equalization_table([0, 0, 8, 0])) == [0, 0, 3, 3]
    assert list(equalization_table([0, 0, 8, 0], clip_limit=1)) == [0, 1, 2, 3]


def test_gamma_exact_values():
    out = gamma_correction(np.array([[[0.0, 0.25, 0.5], [1.0, 1.0, 1.0]]], np.float32))
    assert np.allclose(out[0, 0], [0.0, 0.53252, 0.72974], atol=1e-5)  # 0.5 ** (1/2.2) = exp(-ln 2 / 2.2)
    assert np.allclose(out[0, 1], 1.0)
    assert np.allclose(gamma_correction(np.full((1, 1, 3), 128, np.uint8)), (128 / 255) ** (1 / 2.2), atol=1e-6)


def test_equalisation_keeps_hue_and_saturation():
    img = synthetic_photo(40, 50, seed=2) * 0.5
    out = equalize(img)
    h0, s0, v0 = rgb_to_hsv(img)
    h1, s1, v1 = rgb_to_hsv(out)
    coloured = (s0 > 0.05) & (v0 > 0.02) & (v1 > 0.02)  # pixels sent to black (T = 0) have no hue left
    assert coloured.mean() > 0.5
    assert hue_diff(h0, h1)[coloured].max() < 0.5 and np.abs(s0 - s1)[coloured].max() < 1e-3
    assert np.abs(v1 - v0).mean() > 0.05  # it did change the brightness


def test_pixels_outside_a_region_are_untouched_by_its_equalisation():
    img = synthetic_photo(40, 60, seed=4)
    mask = np.zeros((40, 60), np.float32)
    mask[:, :30] = 1
    out = regional_equalization(img, mask[None], blend=0, depth=0)
    assert np.array_equal(out[:, 30:], img[:, 30:])
    # inside, the region's own histogram decides (independent numpy: floor(255 cdf) of the left half)
    v = img[:, :30].max(-1) * 255
    hist = np.bincount(np.rint(v).astype(int).ravel(), minlength=256)
    table = np.floor(255 * np.cumsum(hist) / hist.sum() + 1e-9)
    assert np.allclose(out[:, :30].max(-1) * 255, np.interp(v, np.arange(256), table), atol=1e-3)
    # blended: only pixels within the smoothing's reach (3 boxes of 9 px: 12 px) may change
    out = regional_equalization(img, mask[None], blend=4, depth=0)
    assert np.array_equal(out[:, 30 + 12:], img[:, 30 + 12:]) and not np.array_equal(out[:, 30:42], img[:, 30:42])
    # a region under min_fraction of the image gets the whole image's table
    tiny = np.zeros((40, 60), np.float32)
    tiny[:4, :4] = 1
    out = regional_equalization(img, np.stack([tiny, 1 - tiny]), blend=0, min_fraction=0.05)
    assert np.allclose(out[:4, :4], equalize(img)[:4, :4], atol=1e-6)


def test_blending_removes_the_seam_between_two_regions():
    # left: checkerboard of 0.2/0.4, right: 0.4/0.8; 0.4 is the top level on the left (-> 255) and the
    # bottom one on the right (-> 127): with hard borders its output jumps by half the range
    yy, xx = np.mgrid[0:40, 0:80]
    check = (yy + xx) % 2 == 0
    img = np.where(xx < 40, np.where(check, 0.2, 0.4), np.where(check, 0.4, 0.8))
    img = np.repeat(img[..., None], 3, -1).astype(np.float32)
    labels = (xx >= 40).astype(int)

    def worst_step(out):
        row = out[20, :, 0][img[20, :, 0] == np.float32(0.4)]
        return np.abs(np.diff(row)).max()

    assert worst_step(regional_equalization(img, labels, blend=0, depth=0)) > 0.45
    assert worst_step(regional_equalization(img, labels, blend=10, depth=0)) < 0.1


def test_segmentation_is_deterministic_covers_every_pixel_and_splits_two_flat_halves():
    rng = np.random.default_rng(0)
    img = np.zeros((60, 80, 3), np.float32)
    img[:, :37] = (0.8, 0.2, 0.1)
    img[:, 37:] = (0.1, 0.3, 0.7)
    img = np.clip(img + rng.normal(0, 0.01, img.shape), 0, 1).astype(np.float32)
    labels = segment(img)
    assert labels.shape == (60, 80) and labels.dtype == np.int32
    assert len(np.unique(labels[:, :37])) == 1 and len(np.unique(labels[:, 37:])) == 1
    assert labels[0, 0] != labels[0, -1]
    photo = synthetic_photo(1000, 1000, seed=5)  # 1 MP: a few seconds at most on one core
    start = time.process_time()
    a = segment(photo)
    assert time.process_time() - start < 10
    assert np.array_equal(a, segment(photo)) and np.array_equal(a, segment(photo, seed=0))
    assert a.min() == 0 and set(np.unique(a)) == set(range(a.max() + 1)) and 2 <= a.max() + 1 <= 8


def test_masks_from_takes_masks_label_maps_and_functions_and_refuses_wrong_shapes():
    img = synthetic_photo(20, 30, seed=1)
    labels = np.zeros((20, 30), int)
    labels[:, 10:] = 7
    labels[15:, :] = 3
    onehot = masks_from(labels, img)
    assert onehot.shape == (3, 20, 30) and onehot.dtype == np.float32
    assert np.array_equal(onehot.argmax(0), np.searchsorted([0, 3, 7], labels)) and np.all(onehot.sum(0) == 1)
    assert np.array_equal(masks_from(onehot, img), onehot)
    assert np.array_equal(masks_from(list(onehot.astype(bool)), img), onehot)
    assert np.array_equal(masks_from(lambda image: labels, img), onehot)
    auto = masks_from(None, img)
    assert np.all(auto.sum(0) == 1) and np.array_equal(auto.argmax(0), segment(img))
    bad = [labels[:, :29], onehot[:, :, :29], onehot[None], np.ones((0, 20, 30)), onehot * 2,
           lambda image: labels.T, [onehot[0], onehot[1][:19]], labels + 0.5]
    for seg in bad:
        with pytest.raises(errors.UsageError) as info:
            masks_from(seg, img)
        assert isinstance(info.value, errors.PirmError) and "\n" not in str(info.value)
    with pytest.raises(errors.UsageError, match=r"\[R, 20, 30\]"):
        masks_from(onehot[:, :, :29], img)
    with pytest.raises(errors.ImageError):
        segment(np.zeros((4, 4)))
    # integers other than uint8 and uint16 have no known range: refused, not clipped to white
    with pytest.raises(errors.ImageError, match="int64"):
        segment(np.full((20, 30, 3), 200, np.int64))
    from pirm_enhance.segment import as_float_image

    np.testing.assert_allclose(as_float_image(np.full((2, 3, 3), 13107, np.uint16)), 0.2, atol=1e-7)


def test_mpse_post_takes_uint8_and_float_and_any_segmentation():
    img = synthetic_photo(30, 40, seed=3) * 0.4
    u8 = np.rint(img * 255).astype(np.uint8)
    out = mpse_post(u8)
    assert out.shape == (30, 40, 3) and out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1
    assert np.allclose(out, mpse_post(u8.astype(np.float32) / 255), atol=1e-6)
    half = np.zeros((30, 40), int)
    half[:, 20:] = 1
    assert np.allclose(mpse_post(img, half), mpse_post(img, lambda image: half))
    # the thesis's order: equalise, then gamma 1/2.2 last
    assert np.allclose(mpse_post(img, half), regional_equalization(img, half) ** (1 / 2.2), atol=1e-6)
    assert out.mean() > img.mean() + 0.2  # a dark photo comes out brighter


@pytest.fixture(scope="module")
def tiny_model():
    keras.utils.set_random_seed(0)
    return pe.build_model("srcnn")


def test_enhancer_post_is_mpse_of_the_model_output(tiny_model):
    from pirm_enhance.enhancer import Enhancer

    img = synthetic_photo(36, 44, seed=6) * 0.5
    plain = Enhancer(tiny_model)(img)
    assert np.allclose(Enhancer(tiny_model, post="mpse")(img), mpse_post(plain), atol=1e-6)
    assert post_function(None) is None
    with pytest.raises(errors.UnknownName, match="mpse"):
        Enhancer("no_such_model", post="bogus")  # refused before the model is looked up


def test_cli_post_mpse_writes_a_different_image_and_bogus_is_one_line(tiny_model, tmp_path, capfd):
    model = tmp_path / "m.keras"
    tiny_model.save(model)
    photo = tmp_path / "in" / "p.png"
    photo.parent.mkdir()
    iio.imwrite(photo, np.rint(synthetic_photo(48, 64, seed=7) * 0.5 * 255).astype(np.uint8))
    args = [str(photo), "--model", str(model)]
    assert enhance_cli.main(args + ["-o", str(tmp_path / "plain")]) == 0
    assert enhance_cli.main(args + ["-o", str(tmp_path / "post"), "--post", "mpse"]) == 0
    plain = iio.imread(tmp_path / "plain" / "p.png").astype(float)
    post = iio.imread(tmp_path / "post" / "p.png").astype(float)
    assert plain.shape == post.shape == (48, 64, 3) and np.abs(plain - post).mean() > 10
    capfd.readouterr()
    assert enhance_cli.main(args + ["-o", str(tmp_path / "bogus"), "--post", "bogus"]) == 2
    lines = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "mpse" in lines[0], lines
    assert not (tmp_path / "bogus").exists()
