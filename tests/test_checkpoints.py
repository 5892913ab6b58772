"""TF1 checkpoint import: exact mapping, loud failures, every official file present."""

import numpy as np
import pytest

import pirm_enhance as pe
from pirm_enhance import checkpoints, pretrained
import zoo_checks
from tf1_util import save_tf1_checkpoint

_random_tf1_values = zoo_checks.random_tf1_values


@pytest.mark.parametrize("arch", [n for n in pe.list_models() if zoo_checks.arch_class(n).tf1_checkpoint])
def test_round_trip_through_a_tf1_saver_checkpoint(arch, tmp_path, rng):
    zoo_checks.check_tf1_round_trip(arch, tmp_path, rng)


@pytest.mark.parametrize("arch", pe.list_models())
def test_tf1_checkpoint_attribute_matches_the_layout(arch):
    """``tf1_checkpoint`` True: every weight has a TF1 name; False: the import refuses."""
    zoo_checks.check_tf1_flag(zoo_checks.tiny_model(arch))


def test_norm_variables_follow_construction_order():
    layout = checkpoints.tf1_layout(pe.build_model("eds"))
    # EdS: 8 norms; the first (after the first stride-2 conv) has 32 channels, the last 16
    assert layout["generator/Variable"].path.endswith("norm0/shift")
    assert layout["generator/Variable_1"].path.endswith("norm0/scale")
    assert tuple(layout["generator/Variable_15"].shape) == (16,)
    assert tuple(layout["generator/W8"].shape) == (4, 4, 32, 64)


def test_missing_extra_and_misshaped_variables_fail(tmp_path, rng):
    model = pe.build_model("ppcn_student")
    values = _random_tf1_values(model, rng)
    missing = dict(values)
    del missing["generator_little/W3"]
    with pytest.raises(checkpoints.CheckpointMismatch, match="missing.*W3"):
        pe.load_model("ppcn_student", checkpoint=save_tf1_checkpoint(tmp_path / "a", missing))
    extra = {**values, "generator_little/W9": np.zeros((3, 3, 3, 3), "float32")}
    with pytest.raises(checkpoints.CheckpointMismatch, match="unexpected.*W9"):
        pe.load_model("ppcn_student", checkpoint=save_tf1_checkpoint(tmp_path / "b", extra))
    bad = {**values, "generator_little/b4": np.zeros(5, "float32")}
    with pytest.raises(checkpoints.CheckpointMismatch, match=r"b4 has shape \[5\]"):
        pe.load_model("ppcn_student", checkpoint=save_tf1_checkpoint(tmp_path / "c", bad))
    with pytest.raises(checkpoints.CheckpointMismatch, match="no variables under 'generator'"):
        pe.load_model("srcnn", checkpoint=save_tf1_checkpoint(tmp_path / "d", values))
    with pytest.raises(checkpoints.CheckpointMismatch, match="cannot read"):
        pe.load_model("srcnn", checkpoint=tmp_path / "nothing_here")


def test_a_failed_import_leaves_weights_untouched(tmp_path, rng):
    model = pe.build_model("ppcn_student")
    before = [w.numpy().copy() for w in model.weights]
    values = _random_tf1_values(model, rng)
    values["generator_little/b4"] = np.zeros(5, "float32")
    with pytest.raises(checkpoints.CheckpointMismatch):
        checkpoints.load_tf1_checkpoint(model, save_tf1_checkpoint(tmp_path / "x", values))
    for b, w in zip(before, model.weights):
        np.testing.assert_array_equal(b, w.numpy())


def _present(entry):
    return all(pretrained._find_local(spec) for spec in entry["files"])


@pytest.mark.parametrize("name", pe.list_pretrained())
def test_every_official_checkpoint_present_imports(name, weights_dir, rng):
    entry = pretrained.get_entry(name)
    if not _present(entry):
        pytest.skip(f"{name}: its files are not under PIRM_WEIGHTS_DIR (upstream only)")
    model = pe.load_model(name)
    x = rng.random((1, 32, 48, 3), dtype=np.float32)
    y = np.asarray(model(x))
    assert y.shape == x.shape and np.isfinite(y).all()
    assert not np.allclose(y, np.asarray(pe.build_model(entry["arch"])(x)), atol=1e-3)
