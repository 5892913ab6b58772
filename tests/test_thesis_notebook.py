"""notebooks/thesis.ipynb runs top to bottom with tiny settings: DPED+ trained for two
steps, MPSE phases 2 and 3 on a 64x96 crop with a random VGG, MDIE (the shipped model)."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_thesis_notebook_runs_with_tiny_settings(tmp_path):
    from pirm_enhance.data.photos import ai_benchmark_photos
    from test_field import field_notebook_script

    if len(ai_benchmark_photos()) < 20:
        pytest.skip("the bundled ai-benchmark photos are not installed (pip install --no-deps ai-benchmark==0.1.2)")
    notebook = ROOT / "notebooks" / "thesis.ipynb"
    code = [c for c in json.loads(notebook.read_text())["cells"] if c["cell_type"] == "code"]
    assert "parameters" in code[0]["metadata"].get("tags", [])
    out = tmp_path / "out"
    script = tmp_path / "thesis.py"
    script.write_text(field_notebook_script(notebook, {
        "CROP": (64, 96), "DPED_PLUS_STEPS": 2, "STYLE_STEPS": 2, "VGG_WEIGHTS": None, "OUT": str(out)}))
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2"}
    run = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-5000:]
    assert "dped_plus" in run.stdout and "DPED+ after 2 steps" in run.stdout
    assert "phase 2 objective" in run.stdout
    for name in ("dped_plus", "mpse"):
        assert (out / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if (ROOT / "models" / "mdie" / "mdie.keras").exists():
        assert "MDIE:" in run.stdout and (out / "mdie.png").exists() and (out / "mdie_intrinsics.png").exists()
