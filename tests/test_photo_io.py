"""Real-photo IO: orientation, odd formats, limits, corrupt files, atomic writes."""

import numpy as np
import pytest
from PIL import Image

from pirm_enhance.data.io import ImageError
from pirm_enhance.data.photo_io import read_photo, write_photo
from pirm_enhance.data.synthetic import synthetic_photo


def _u8(h=60, w=90, seed=0):
    return np.uint8(np.round(synthetic_photo(h, w, seed=seed) * 255))


def test_exif_orientation_is_applied(tmp_path):
    img = _u8(40, 80)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW to display
    Image.fromarray(img).save(tmp_path / "r.jpg", exif=exif, quality=98)
    photo = read_photo(tmp_path / "r.jpg")
    assert photo.rgb.shape == (80, 40, 3)
    upright = np.rot90(img.astype(np.float32) / 255, k=-1)
    assert np.abs(photo.rgb - upright).mean() < 0.02
    assert any("orientation" in n for n in photo.notes)
    write_photo(tmp_path / "out.jpg", photo.rgb, photo)
    with Image.open(tmp_path / "out.jpg") as out:
        assert out.size == (40, 80) and out.getexif().get(0x0112, 1) == 1


def test_grayscale_rgba_and_cmyk(tmp_path):
    Image.fromarray(_u8()[..., 0]).save(tmp_path / "g.png")
    g = read_photo(tmp_path / "g.png")
    assert g.rgb.shape == (60, 90, 3) and np.array_equal(g.rgb[..., 0], g.rgb[..., 2])
    rgba = np.concatenate([_u8(), np.full((60, 90, 1), 77, np.uint8)], axis=-1)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    a = read_photo(tmp_path / "a.png")
    assert a.alpha is not None and np.allclose(a.alpha, 77 / 255)
    write_photo(tmp_path / "a_out.png", a.rgb * 0.9, a)
    with Image.open(tmp_path / "a_out.png") as out:
        assert out.mode == "RGBA" and np.asarray(out)[..., 3].max() == 77
    Image.fromarray(_u8()).convert("CMYK").save(tmp_path / "c.jpg")
    c = read_photo(tmp_path / "c.jpg")
    assert c.rgb.shape == (60, 90, 3) and "CMYK converted to RGB" in c.notes


def test_sixteen_bit_png_round_trip(tmp_path):
    import tensorflow as tf

    arr = np.uint16(np.round(synthetic_photo(30, 50, seed=2) * 65535))
    (tmp_path / "s.png").write_bytes(tf.io.encode_png(arr).numpy())
    photo = read_photo(tmp_path / "s.png")
    assert photo.bits == 16
    np.testing.assert_allclose(photo.rgb, arr / 65535.0, atol=1e-6)
    write_photo(tmp_path / "s_out.png", photo.rgb, photo)
    back = tf.io.decode_png((tmp_path / "s_out.png").read_bytes(), dtype=tf.uint16).numpy()
    assert back.dtype == np.uint16 and np.abs(back.astype(int) - arr).max() <= 1


def test_corrupt_truncated_and_huge_files_get_one_line(tmp_path):
    (tmp_path / "junk.jpg").write_bytes(b"definitely not a jpeg")
    with pytest.raises(ImageError, match="not an image") as info:
        read_photo(tmp_path / "junk.jpg")
    assert "\n" not in str(info.value)
    Image.fromarray(_u8(200, 200)).save(tmp_path / "t.jpg", quality=95)
    data = (tmp_path / "t.jpg").read_bytes()
    (tmp_path / "t.jpg").write_bytes(data[: len(data) // 3])
    with pytest.raises(ImageError, match="corrupt or truncated"):
        read_photo(tmp_path / "t.jpg")
    Image.fromarray(_u8(100, 100)).save(tmp_path / "big.png")
    with pytest.raises(ImageError, match="over the 0 MP limit"):
        read_photo(tmp_path / "big.png", max_pixels=5000)
    with pytest.raises(ImageError, match="no such file"):
        read_photo(tmp_path / "missing.png")


def test_truncated_png_and_non_rgb_profiles(tmp_path):
    """A truncated PNG is the same one line as a truncated JPEG (Pillow reads a PNG's EXIF by
    loading it); a grayscale ICC profile is not copied onto the RGB output."""
    Image.fromarray(_u8(200, 200)).save(tmp_path / "t.png")
    data = (tmp_path / "t.png").read_bytes()
    (tmp_path / "t.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="corrupt or truncated"):
        read_photo(tmp_path / "t.png")
    from PIL import ImageCms

    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    gray = srgb[:16] + b"GRAY" + srgb[20:]  # the colour-space field of a grayscale profile
    Image.fromarray(_u8()[..., 0]).save(tmp_path / "g.jpg", icc_profile=gray)
    Image.fromarray(_u8()).save(tmp_path / "c.jpg", icc_profile=srgb)
    g, c = read_photo(tmp_path / "g.jpg"), read_photo(tmp_path / "c.jpg")
    assert any("GRAY colour profile left out" in n for n in g.notes)
    write_photo(tmp_path / "g_out.jpg", g.rgb, g)
    write_photo(tmp_path / "c_out.jpg", c.rgb, c)
    with Image.open(tmp_path / "g_out.jpg") as out:
        assert out.mode == "RGB" and not out.info.get("icc_profile")
    with Image.open(tmp_path / "c_out.jpg") as out:
        assert out.info.get("icc_profile") == srgb  # an RGB profile is kept


def test_writes_are_atomic(tmp_path, monkeypatch):
    from pirm_enhance.data import io as image_io

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    target = tmp_path / "o.png"
    target.write_bytes(b"previous")
    monkeypatch.setattr(image_io.os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        write_photo(target, synthetic_photo(20, 20))
    assert target.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["o.png"]
