"""The embedded default model (issue 11): hues stay put, and its pictures have none of
the faults the first default had (orange greens, blotches, clipped skies, new
texture, a border frame, tile seams), each checked by a measurement
(:mod:`pirm_enhance.colour`) against clean photos it never trained on."""

import pathlib

import numpy as np
import pytest

import pirm_enhance as pe
from pirm_enhance import colour
from pirm_enhance.data.io import read_float
from pirm_enhance.data.photos import ai_benchmark_photos
from pirm_enhance.enhancer import Enhancer

ROOT = pathlib.Path(__file__).resolve().parents[1]
SAMPLES = sorted((ROOT / "samples").glob("phone_*.jpg"))
needs_photos = pytest.mark.skipif(not ai_benchmark_photos(),
                                  reason="the ai-benchmark photos are not installed "
                                         "(pip install --no-deps ai-benchmark==0.1.2)")


@pytest.fixture(scope="module")
def model():
    return pe.load_model("default")


@pytest.fixture(scope="module")
def clean_photos():
    return {p.stem: p for p in ai_benchmark_photos()}


def test_the_measures_see_what_an_eye_sees(rng):
    """Each measure flags the fault it is for (so the checks below can fail)."""
    h, w = 96, 128
    clean = np.zeros((h, w, 3), np.float32)
    clean[:, : w // 2] = (0.25, 0.55, 0.2)  # foliage
    clean[:, w // 2:] = (0.6, 0.6, 0.62)  # grey wall / overcast sky
    same = colour.measure(clean, clean)
    assert colour.measure(clean[:, w // 2:], clean[:, w // 2:])["hue_green"] is None  # no green region
    assert same["hue"] == same["hue_green"] == same["border"] == 0 and same["clip"] == same["blotch"] == 0
    orange = np.clip(clean * (1.5, 0.85, 0.6), 0, 1)
    assert colour.measure(clean, orange)["hue_green"] > 20
    blotchy = clean.copy()
    blotchy[20:40, 80:100] = (0.8, 0.5, 0.3)
    assert colour.measure(clean, blotchy)["blotch"] > 0.05
    speckled = clean + 0.04 * rng.standard_normal((h, w, 3)).astype(np.float32)  # colour noise
    assert colour.measure(clean, speckled)["chroma_noise"] > 5 * max(same["chroma_noise"], 0.5)
    assert colour.measure(clean, speckled)["blotch"] < 0.01  # speckle is not a blotch
    blown = clean.copy()
    blown[:30, w // 2:] = 1.0
    assert colour.measure(clean, blown)["clip"] > 0.1
    crumpled = clean + 0.03 * rng.standard_normal((h, w, 1)).astype(np.float32)
    assert colour.measure(clean, crumpled)["texture"] > 5 * colour.measure(clean, clean)["texture"] + 0.02
    framed = clean.copy()
    framed[:, 0] *= 0.7
    assert colour.measure(clean, framed)["border"] > 20
    # a cast-free phone-like version keeps hues (the test input below is fair)
    assert colour.measure(clean, colour.castfree_phone(clean))["hue"] < 1.0


# Where the default stands against issue 11's bars (all met): worst cast-free hue error
# 6.8 degrees (39.jpg; bar 8; mean over the ten photos 4.3), worst green region 10.9
# (bar 20), smallest PSNR gain +7.1 dB, PIRM 19.33 dB (bar 19.3).
HUE_BAR = 8.0


@pytest.fixture(scope="module")
def castfree_report(model):
    return colour.fidelity_report(model)


@needs_photos
def test_castfree_held_out_photos_keep_their_hues(castfree_report):
    """On every held-out photo made phone-like without a cast (issue 11's bars): mean hue
    error <= 8 degrees, green regions <= 20 degrees, output closer to the clean photo than
    the input."""
    report = castfree_report
    assert report["worst"]["photos"] == 10 and report["worst"]["photos_with_green"] >= 2
    for row in report["photos"]:
        out, inp = row["output"], row["input"]
        assert out["hue"] <= HUE_BAR, (row["name"], out)
        assert out["hue_green"] is None or out["hue_green"] <= 20.0, (row["name"], out)
        assert out["psnr"] > inp["psnr"], (row["name"], out["psnr"], inp["psnr"])


def _sample_run(model, clean_photos, sample):
    clean = read_float(clean_photos[sample.stem.split("_", 1)[1]])
    phone = read_float(sample)
    out = Enhancer(model)(phone)
    return phone, out, (colour.measure(clean, x) for x in (clean, phone, out))


@needs_photos
@pytest.mark.parametrize("sample", SAMPLES, ids=[p.stem for p in SAMPLES])
def test_demo_pictures_have_no_faults(model, clean_photos, sample):
    """The demo's pictures (the bundled samples through the tiled enhancer, as
    ``make demo`` runs them) against their clean originals."""
    phone, out, (m_clean, m_in, m_out) = _sample_run(model, clean_photos, sample)
    # closer to the clean photo on every sample: +6.8 / +0.07 / +7.3 dB (phone_19 / 29 / 9); the
    # hazy, cast phone_29 (the first hand-ranged degradation's) gained +1.9 with the previous
    # default, which clipped its sky (1.3% of the pixels at 250+), where this one clips none
    assert m_out["psnr"] > m_in["psnr"], (m_in["psnr"], m_out["psnr"])
    assert m_out["clip"] <= max(m_in["clip"], m_clean["clip"]) + 0.005, m_out["clip"]  # no clipped skies
    assert m_out["hue_green"] is None or m_out["hue_green"] <= 20.0, m_out  # greens green
    assert m_out["hue"] <= max(m_in["hue"], 8.0), (m_in["hue"], m_out["hue"])
    assert m_out["blotch"] <= max(m_in["blotch"], 0.01), (m_in["blotch"], m_out["blotch"])  # no blotches
    # colour speckle on greys: the default adds some (0.33 -> 0.83 levels on phone_9); bounded
    speckle = max(m_in["chroma_noise"], m_clean["chroma_noise"])
    assert m_out["chroma_noise"] <= 3.0 * speckle, (speckle, m_out["chroma_noise"])
    texture = max(m_in["texture"], m_clean["texture"])
    assert m_out["texture"] <= 1.2 * texture, (texture, m_out["texture"])  # no new texture
    assert m_out["border"] <= 8.0, m_out["border"]  # no border frame
    # no tile seams: tiles of 256 (overlap 64) against one whole-image run
    whole = np.clip(np.asarray(model(phone[None], training=False))[0], 0, 1)
    tiled = Enhancer(model, tile=256, overlap=64)(phone)
    diff = np.abs(tiled - whole).mean(-1)
    # measured 0.05-0.08 levels, worst row or column 0.26-0.41 (before RSGUNet's align:
    # up to 2.98 for a model trained this long)
    assert diff.mean() < 0.25 / 255, diff.mean()
    assert max(diff.mean(0).max(), diff.mean(1).max()) < 1.0 / 255  # no column or row stands out
