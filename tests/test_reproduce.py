"""Heavy: the official checkpoints reproduce the published scores on the 400 pairs."""

import numpy as np
import pytest

import pirm_enhance as pe
from pirm_enhance import pretrained
from pirm_enhance.scoring import validation as ev

# Track B entries on the 400 pairs; the Track A ones are reproduced in tests/test_track_a_zoo.py
VERIFIED = [n for n in pe.list_pretrained(track="B") if pretrained.get_entry(n)["metrics"]]


@pytest.mark.heavy
@pytest.mark.parametrize("name", VERIFIED)
def test_official_checkpoint_reproduces_published_numbers(name, data_dir, weights_dir):
    entry = pretrained.get_entry(name)
    if not all(pretrained._find_local(s) for s in entry["files"]):
        pytest.skip(f"{name}: files not under PIRM_WEIGHTS_DIR")
    result = pe.evaluate(name, data_dir=data_dir, progress=False)
    m = entry["metrics"]
    assert result["count"] == 400
    assert result["psnr"] == pytest.approx(m["psnr"], abs=m["tolerance"]["psnr"])
    assert result["ms_ssim"] == pytest.approx(m["ms_ssim"], abs=m["tolerance"]["ms_ssim"])


class Identity:
    kind = "identity"
    name = "identity"

    def __call__(self, batch):
        return np.asarray(batch)


@pytest.mark.heavy
def test_doing_nothing_scores_the_published_floor(data_dir):
    result = pe.evaluate(Identity(), data_dir=data_dir, progress=False)
    assert result["infinite_psnr"] == 4 and result["count"] == 400
    assert result["psnr"] == pytest.approx(17.29, abs=0.005)
    assert result["ms_ssim"] == pytest.approx(0.8455, abs=0.00005)
    capped = pe.evaluate(Identity(), data_dir=data_dir, progress=False, infinite="cap")
    assert capped["psnr"] == pytest.approx((17.29 * 396 + 4 * 100) / 400, abs=0.01)
    assert "4 infinite" in capped["infinite_note"]


def test_missing_data_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("PIRM_DATA_DIR", raising=False)
    with pytest.raises(ev.DataMissing, match="PIRM_DATA_DIR"):
        ev.track_b_pairs()
    with pytest.raises(ev.DataMissing, match="no dped/"):
        ev.track_b_pairs(tmp_path)
