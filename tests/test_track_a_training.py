"""Track A training and leaderboard: the pair pipeline (PIL bicubic x4 down/up, as the
organisers' protocol), the team recipes, the report's Table 1 as data, ``pirm-score
--track A --all-models`` on a tiny setting, and the two reconstructions trained here
(``models/track_a``) against bicubic on the five DIV2K images."""

import json
import os
import pathlib

import numpy as np
import pytest

import pirm_enhance as pe
from pirm_enhance.data.degrade import BicubicDownUp, bicubic_down_up, degrade
from pirm_enhance.data.pairs import pair_dataset
from pirm_enhance.errors import UsageError
from pirm_enhance.leaderboard import field, format_field, report_track
from pirm_enhance.scoring import challenge_scores
from pirm_enhance.training.loop import degradation_for, make_optimizer
from pirm_enhance.training.recipes import RECIPES, recipe

ROOT = pathlib.Path(__file__).resolve().parents[1]
TRACK_A_RECIPES = [n for n, r in RECIPES.items() if r.get("pairs") == "track_a"]
TRAINED = ["feqe", "kaist_sr"]


def _photo(rng, h=61, w=83):
    """A smooth-ish uint8 photo stand-in (odd size: the protocol floors w/4 and h/4)."""
    x = rng.random((h // 4 + 2, w // 4 + 2, 3))
    from PIL import Image

    big = Image.fromarray(np.uint8(x * 255)).resize((w, h), Image.BILINEAR)
    return np.asarray(big)


def test_degrade_reproduces_the_protocol_input_exactly(rng):
    img = _photo(rng)
    got = degrade(np.float32(img) / 255.0, [3, 4], BicubicDownUp()).numpy()
    assert got.shape == img.shape
    np.testing.assert_array_equal(np.uint8(np.round(got * 255)), bicubic_down_up(img))
    # the scorer's Track A input is this same function
    from pirm_enhance.scoring import track_a

    assert track_a.bicubic_down_up is bicubic_down_up


def test_blurred_low_resolution_variant_is_softer_and_seeded(rng):
    img = np.float32(_photo(rng, 96, 96)) / 255.0
    plain = degrade(img, [1, 2], BicubicDownUp()).numpy()
    blurred = degrade(img, [1, 2], BicubicDownUp(lr_blur=(0.8, 0.8))).numpy()
    again = degrade(img, [1, 2], BicubicDownUp(lr_blur=(0.8, 0.8))).numpy()
    np.testing.assert_array_equal(blurred, again)

    def detail(x):
        return float(np.abs(np.diff(x, axis=0)).mean() + np.abs(np.diff(x, axis=1)).mean())

    assert detail(blurred) < 0.9 * detail(plain)


def test_pair_stream_cuts_track_a_pairs_from_photos(tmp_path, rng):
    from PIL import Image

    for i in range(2):
        Image.fromarray(_photo(rng, 80, 120)).save(tmp_path / f"{i}.png")
    items = sorted(tmp_path.glob("*.png"))
    ds = pair_dataset(items, batch_size=2, patch_size=48, synthetic=True, augment=False,
                      degradation=BicubicDownUp())
    phone, target = (np.asarray(t) for t in next(iter(ds)))
    assert phone.shape == target.shape == (2, 48, 48, 3)
    for p, t in zip(phone, target):
        t8 = np.uint8(np.round(t * 255))
        np.testing.assert_array_equal(np.uint8(np.round(p * 255)), bicubic_down_up(t8))


@pytest.mark.parametrize("name", TRACK_A_RECIPES)
def test_track_a_recipes_make_track_a_pairs(name):
    rec = recipe(name)
    deg = degradation_for(rec)
    assert isinstance(deg, BicubicDownUp) and deg.factor == 4
    assert rec["patch_size"] % 4 == 0 and "report 5." in rec["source"]


def test_the_report_losses_are_the_recipes_terms():
    assert set(TRACK_A_RECIPES) >= {"feqe", "kaist_sr", "mtphoenix_sr", "ppcn_sr"}
    terms = {n: {k for k in ("l1", "mse", "ssim", "content") if RECIPES[n].get(k)} for n in TRACK_A_RECIPES}
    assert terms["feqe"] == {"mse", "content"}  # MSE + VGG
    assert terms["kaist_sr"] == {"l1"} and RECIPES["kaist_sr"]["lr_blur"][1] > 0  # L1, blurred LR
    assert terms["mtphoenix_sr"] == {"l1"} and RECIPES["mtphoenix_sr"]["augment"] is False
    assert terms["ppcn_sr"] == {"l1", "ssim"}  # L1 + SSIM
    assert degradation_for(recipe("dped")) is None
    with pytest.raises(UsageError, match="track_a"):
        degradation_for({"pairs": "track_c"})


def test_inverse_time_decay_of_the_learning_rate():
    """Mt.Phoenix: lr 5e-4 with a decay of 5e-5, Keras's legacy lr / (1 + decay * step)."""
    opt = make_optimizer(recipe("mtphoenix_sr"))
    schedule = opt.learning_rate if callable(opt.learning_rate) else opt._learning_rate
    for step, want in [(0, 5e-4), (20000, 5e-4 / 2.0), (100000, 5e-4 / 6.0)]:
        assert float(schedule(step)) == pytest.approx(want, rel=1e-6)


def test_a_routine_must_name_a_training_module():
    from pirm_enhance.training import train

    with pytest.raises(UsageError, match="no module"):
        train({"routine": "no_such_routine", "steps": 1, "arch": "srcnn"}, "synthetic:/nonexistent")
    with pytest.raises(UsageError, match="not a module name"):
        train({"routine": "../x", "steps": 1, "arch": "srcnn"}, "synthetic:/nonexistent")


# ---------------------------------------------------------------- Table 1 and the re-run

def test_report_table_1_is_complete_and_its_scores_reproduce():
    report = report_track("A")
    rows = report["rows"]
    assert report["baseline_cpu_ms"] == 3239 and len(rows) == 9
    assert {r["arch"] for r in rows} <= set(pe.list_models())
    for r in rows:
        assert set(r["weights"]) <= set(pe.list_pretrained(arch=r["arch"], track="A")), r["team"]
        got = challenge_scores(r["psnr"], r["ms_ssim"], r["cpu_ms"], 3239, track="A", perceptual_kind="ms_ssim")
        for key in "ABC":
            assert got[key] == pytest.approx(r["scores"][key], abs=0.035), (r["team"], key, got[key])
    alex = rows[0]  # PIRM2018.md's Track A example
    assert (alex["team"], alex["psnr"], alex["ms_ssim"], alex["cpu_ms"]) == ("TEAM ALEX", 28.21, 0.9636, 701)


def test_track_a_field_on_a_tiny_setting():
    if not os.environ.get("PIRM_DATA_DIR"):
        pytest.skip("PIRM_DATA_DIR is unset: the re-run needs div2k/HD_res and div2k/original")
    result = field(models=["SRCNN (Baseline)", "feqe"], size=(64, 96), rounds=1, pairs=1, track="A",
                   progress=False)
    assert result["track"] == "A" and [r["arch"] for r in result["rows"]] == ["srcnn", "feqe"]
    srcnn, feqe = result["rows"]
    assert feqe["team"] == "TEAM ALEX" and feqe["psnr"] is None
    assert feqe["report"]["speed_vs_srcnn"] == pytest.approx(3239 / 701)
    if srcnn["weights"] is not None:
        assert srcnn["weights"] == "srcnn.pirm_div2k" and 20 < srcnn["psnr"] < 40
    rep = feqe["report"]
    assert feqe["scores_our_time"] == pytest.approx(challenge_scores(
        rep["psnr"], rep["ms_ssim"], feqe["time_ms"], result["baseline"]["time_ms"], track="A",
        perceptual_kind="ms_ssim"))
    table = format_field(result)
    assert table.startswith("Track A leaderboard") and "3239" in table and "TEAM ALEX" in table


# ---------------------------------------------------------------- the trained reconstructions

@pytest.mark.parametrize("arch", TRAINED)
def test_trained_reconstruction_card(arch):
    card = json.loads((ROOT / "models" / "track_a" / f"{arch}.json").read_text())
    assert card["architecture"] == arch and card["track"] == "A"
    held = card["metrics"]["synthetic_held_out"]
    assert held["psnr"] > held["bicubic_psnr"]
    div2k = card["metrics"]["track_a_div2k_5"]
    assert div2k["psnr"] > div2k["reference"]["bicubic"]["psnr"]


@pytest.mark.parametrize("arch", TRAINED)
def test_trained_reconstruction_beats_bicubic_on_div2k(arch):
    if not os.environ.get("PIRM_DATA_DIR"):
        pytest.skip("PIRM_DATA_DIR is unset: the Track A check needs div2k/original")
    card = json.loads((ROOT / "models" / "track_a" / f"{arch}.json").read_text())
    model = pe.load_model(str(ROOT / "models" / "track_a" / f"{arch}.keras"))
    got = pe.evaluate(model, track="A", progress=False)
    assert got["count"] == 5
    assert got["psnr"] == pytest.approx(card["metrics"]["track_a_div2k_5"]["psnr"], abs=0.005)
    assert got["psnr"] > card["metrics"]["track_a_div2k_5"]["reference"]["bicubic"]["psnr"] + 0.05


def test_track_a_notebook_runs_with_tiny_settings(tmp_path, rng):
    if not os.environ.get("PIRM_DATA_DIR"):
        pytest.skip("PIRM_DATA_DIR is unset")
    pytest.importorskip("matplotlib")
    import subprocess
    import sys

    from PIL import Image
    from test_field import field_notebook_script

    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(3):
        Image.fromarray(_photo(rng, 72, 96)).save(photos / f"{i}.png")
    png = tmp_path / "track_a.png"
    script = tmp_path / "track_a.py"
    script.write_text(field_notebook_script(ROOT / "notebooks" / "track_a.ipynb", {
        "SIZE": (64, 96), "ROUNDS": 1, "MODELS": ["srcnn", "feqe"], "IMAGES": 1,
        "CHECKPOINTS": ["srcnn.pirm_div2k"], "TRAIN_STEPS": 2, "PATCH": 32, "PHOTOS": str(photos),
        "PNG": str(png)}))
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2"}
    run = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-5000:]
    assert "bicubic" in run.stdout and "Track A leaderboard" in run.stdout and "TEAM ALEX" in run.stdout
    assert "FEQE trained here (2 steps)" in run.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
