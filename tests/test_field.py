"""The Track B leaderboard re-run: the report's Table 2 as data (its scores recomputed),
``pirm-score --all-models`` on a tiny setting (table, JSON, PNG) and the notebook.

Tiny on purpose: two models, 96x64 runtime crops, one round, four validation pairs.
The full run (12 models at 1280x720) is a manual job: ``pirm-score --all-models --rounds 3``.
"""

import json
import os
import pathlib
import subprocess
import sys

import pytest

import pirm_enhance as pe
from pirm_enhance.errors import UnknownName
from pirm_enhance.leaderboard import field, format_field, plot_field, report_track_b, to_json
from pirm_enhance.scoring import challenge_scores

ROOT = pathlib.Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TINY = dict(models=["srcnn", "geometry"], size=(64, 96), rounds=1, pairs=4)


def test_report_table_has_every_team_with_a_zoo_architecture():
    report = report_track_b()
    rows = report["rows"]
    assert report["baseline_cpu_ms"] == 3274
    assert len(rows) == 12 and len({r["team"] for r in rows}) == 12
    assert {r["arch"] for r in rows} <= set(pe.list_models())
    assert [r["mos"] for r in rows] == sorted((r["mos"] for r in rows), reverse=True)  # sorted by MOS
    for r in rows:
        assert set(r["weights"]) <= set(pe.list_pretrained(arch=r["arch"], track="B")), r["team"]
    by_team = {r["team"]: r for r in rows}
    # the two examples of PIRM2018.md section 3
    phoenix, dped = by_team["Mt.Phoenix"], by_team["DPED (Baseline)"]
    assert (phoenix["psnr"], phoenix["mos"], phoenix["cpu_ms"]) == (21.99, 2.6804, 682)
    assert phoenix["scores"] == {"A": 14.72, "B": 20.06, "C": 19.11}
    assert (dped["psnr"], dped["mos"], dped["cpu_ms"]) == (21.38, 2.4411, 20462)
    assert dped["scores"] == {"A": 2.89, "B": 4.90, "C": 3.32}


@pytest.mark.parametrize("row", report_track_b()["rows"], ids=lambda r: r["team"])
def test_table_2_scores_reproduce_from_psnr_mos_and_cpu_time(row):
    got = challenge_scores(row["psnr"], row["mos"], row["cpu_ms"], 3274, track="B", perceptual_kind="mos")
    for key in "ABC":
        assert got[key] == pytest.approx(row["scores"][key], abs=0.03), (row["team"], key, got[key])


def test_unknown_model_is_refused_before_anything_runs():
    with pytest.raises(UnknownName, match="Mt.Phoenix"):
        field(models=["nope"], data_dir="/nonexistent")


def srcnn_weights_found():
    from pirm_enhance.errors import WeightsUnavailable
    from pirm_enhance.pretrained import resolve

    try:
        resolve("srcnn.pirm", download=False)
    except WeightsUnavailable:
        return False
    return True


@pytest.fixture(scope="module")
def tiny_field(tmp_path_factory):
    if not os.environ.get("PIRM_DATA_DIR"):
        pytest.skip("PIRM_DATA_DIR is unset: the leaderboard re-run needs dped/HD_res and dped/patches")
    with pytest.MonkeyPatch.context() as mp:  # module scope: conftest's private cache is per test
        mp.setenv("PIRM_HOME", str(tmp_path_factory.mktemp("pirm_home")))
        return field(progress=False, **TINY)


def test_field_rows(tiny_field):
    result = tiny_field
    assert result["size"] == [64, 96] and result["protocol"] is False and result["rounds"] == 1
    assert [r["arch"] for r in result["rows"]] == ["srcnn", "geometry"]
    srcnn, geometry = result["rows"]
    assert srcnn["team"] == "SRCNN (Baseline)" and geometry["team"] == "Geometry"
    assert geometry["weights"] is None and geometry["fidelity"] == "random weights, not scored"
    assert geometry["psnr"] is None and "scores_our_psnr_and_time" not in geometry
    if srcnn_weights_found():
        assert srcnn["weights"] == "srcnn.pirm" and srcnn["fidelity"] == "official weights"
    if srcnn["weights"] == "srcnn.pirm":
        assert srcnn["pairs"] == 4 and 15 < srcnn["psnr"] < 30 and 0.5 < srcnn["ms_ssim"] <= 1
    for r in result["rows"]:
        assert r["time_ms"] > 0 and len(r["rounds_ms"]) == 1
        assert r["speed_vs_srcnn"] == pytest.approx(result["baseline"]["time_ms"] / r["time_ms"])
        assert r["report"]["speed_vs_srcnn"] == pytest.approx(3274 / r["report"]["cpu_ms"])
        rep = r["report"]
        assert r["scores_our_time"] == pytest.approx(challenge_scores(
            rep["psnr"], rep["mos"], r["time_ms"], result["baseline"]["time_ms"], perceptual_kind="mos"))
    table = format_field(result)
    assert "SRCNN (Baseline)" in table and "Geometry" in table and "random weights, not scored" in table
    assert "3274" in table and "21.79" in table  # the report's columns beside ours
    doc = json.loads(to_json(result))
    assert [r["team"] for r in doc["rows"]] == ["SRCNN (Baseline)", "Geometry"]


def test_field_png(tiny_field, tmp_path):
    pytest.importorskip("matplotlib")
    path = plot_field(tiny_field, tmp_path / "plots" / "field.png")
    assert path.read_bytes()[:8] == PNG_MAGIC
    assert not [p for p in path.parent.iterdir() if p.name != "field.png"]  # no part file left


def test_cli_all_models_json_and_png(tmp_path, capsys):
    if not os.environ.get("PIRM_DATA_DIR"):
        pytest.skip("PIRM_DATA_DIR is unset")
    pytest.importorskip("matplotlib")
    from pirm_enhance.cli.score import main

    png = tmp_path / "field.png"
    code = main(["--all-models", "--models", "SRCNN (Baseline),geometry", "--size", "96x64", "--pairs", "4",
                 "--rounds", "1", "--json", "--png", str(png)])
    out = capsys.readouterr().out
    assert code == 0
    doc = json.loads(out)
    assert doc["size"] == [64, 96] and [r["arch"] for r in doc["rows"]] == ["srcnn", "geometry"]
    assert doc["png"] == str(png) and png.read_bytes()[:8] == PNG_MAGIC


@pytest.mark.parametrize("argv", [
    ["--all-models", "model.pb"],
    ["--all-models", "--all-pretrained"],
    ["--all-models", "--mos", "2.5"],
    ["--png", "x.png", "srcnn.pirm"],
    ["--models", "srcnn", "srcnn.pirm"],
    ["--all-models", "--size", "96"],
])
def test_cli_all_models_usage_errors(argv, capsys):
    from pirm_enhance.cli.score import main

    assert main(argv) == 2
    assert capsys.readouterr().err.startswith("error:")


def field_notebook_script(notebook, overrides):
    """The notebook's code cells as one script, ``overrides`` assigned right after the cell
    tagged ``parameters`` (papermill's convention); shell and magic lines become ``pass``."""
    cells = []
    for i, cell in enumerate(c for c in json.loads(notebook.read_text())["cells"] if c["cell_type"] == "code"):
        lines = [l[: len(l) - len(l.lstrip())] + "pass" if l.lstrip().startswith(("%", "!")) else l
                 for l in "".join(cell["source"]).splitlines()]
        cells.append(f"# --- cell {i}\n" + "\n".join(lines))
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            cells.append("# --- injected parameters\n" + "\n".join(f"{k} = {v!r}" for k, v in overrides.items()))
    return "\n\n".join(cells) + "\n"


def test_track_b_field_notebook_runs_with_tiny_settings(tmp_path):
    if not os.environ.get("PIRM_DATA_DIR"):
        pytest.skip("PIRM_DATA_DIR is unset")
    pytest.importorskip("matplotlib")
    notebook = ROOT / "notebooks" / "track_b_field.ipynb"
    cells = json.loads(notebook.read_text())["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    assert "parameters" in code[0]["metadata"].get("tags", [])  # the parameter cell comes first
    png = tmp_path / "field.png"
    script = tmp_path / "track_b_field.py"
    script.write_text(field_notebook_script(notebook, {
        "SIZE": (64, 96), "ROUNDS": 1, "MODELS": ["srcnn", "geometry"], "PAIRS": 4, "PNG": str(png)}))
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2"}
    run = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=240)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-5000:]
    assert "Mt.Phoenix" in run.stdout  # the published table
    assert "Geometry" in run.stdout and "random weights, not scored" in run.stdout  # the re-run
    assert png.read_bytes()[:8] == PNG_MAGIC
