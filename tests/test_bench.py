"""pirm-bench smoke test (the heavy benchmark runs are not part of the suite)."""

import json

import pytest

from pirm_enhance import bench
from pirm_enhance.cli import bench as cli


def test_help_shows_an_example(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert "Examples:" in out and "pirm-bench rsgunet" in out


def test_tiny_bench_table_json_and_png(tmp_path, capsys, monkeypatch):
    real = bench._make_variant

    def flaky(model, name, runtime, workdir, size=None):  # a runtime that cannot take the model
        if runtime == "onnx":
            raise RuntimeError("op not supported")
        return real(model, name, runtime, workdir, size)

    monkeypatch.setattr(bench, "_make_variant", flaky)
    png = tmp_path / "bench.png"
    code = cli.main(["srcnn", "--runtimes", "keras,tflite,tflite_fixed,onnx", "--size", "24x40", "--rounds", "2",
                     "--pairs", "1", "--png", str(png), "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    rows = {r["runtime"]: r for r in result["rows"]}
    assert set(rows) == {"keras", "tflite", "tflite_fixed", "onnx"}
    assert rows["onnx"]["error"].startswith("RuntimeError: op not supported")
    for runtime in ("keras", "tflite", "tflite_fixed"):
        r = rows[runtime]
        assert r["ms"] > 0 and r["vs_srcnn"] == pytest.approx(r["ms"] / result["baseline"]["ms"])
        assert r["gflops"] == pytest.approx(2 * 24 * 40 * (9 * 9 * 3 * 64 + 5 * 5 * 64 * 32 + 5 * 5 * 32 * 3) / 1e9,
                                            rel=0.02)
    assert abs(rows["tflite"]["psnr_vs_float"]) > 60  # fp32 TFLite matches the float model
    assert rows["tflite_fixed"]["psnr_vs_float"] > 60 and rows["tflite_fixed"]["psnr_change"] is None
    from pirm_enhance.runners import TFLiteRunner

    assert TFLiteRunner(rows["tflite_fixed"]["path"]).fixed_shape == [1, 24, 40, 3]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "failed: RuntimeError" in bench.format_table(result)


def test_photo_through_pe_enhance_in_each_tile_runtime(monkeypatch):
    """The 12 MP row (here a 200x330 photo in tiles): a Keras model is timed with its tiles
    in every tile runtime and in auto, which measures once and caches its choice."""
    from pirm_enhance import runtimes

    monkeypatch.setattr(bench, "PHOTO_12MP", (200, 330))
    monkeypatch.setattr(bench, "_eval_images", lambda pairs, data_dir: ([], None))
    import pirm_enhance.enhancer as enhancer_module

    real = enhancer_module.Enhancer.__init__
    monkeypatch.setattr(enhancer_module.Enhancer, "__init__",
                        lambda self, model, **k: real(self, model, tile=128, overlap=32, measure_pixels=1, **k))
    result = bench.bench(["srcnn"], runtimes=("keras", "pb"), height=48, width=64, rounds=1, photo_12mp=True,
                         progress=False)
    rows = {r["runtime"]: r for r in result["rows"]}
    keras_row = rows["keras"]
    assert set(keras_row["ms_12mp_tile_runtimes"]) == set(runtimes.TILE_RUNTIMES)
    assert all(v > 0 for v in keras_row["ms_12mp_tile_runtimes"].values())
    assert keras_row["tile_runtime_auto"] in runtimes.TILE_RUNTIMES and keras_row["ms_12mp_auto"] > 0
    assert keras_row["tiling_overhead"] > 0 and rows["pb"]["ms_12mp"] > 0
    assert len(json.loads(runtimes.cache_path().read_text())) == 1
    assert "auto -> " in bench.format_table(result)


def test_unknown_runtime_is_one_line(capsys):
    assert cli.main(["srcnn", "--runtimes", "keras,tpu"]) == 2
    assert "unknown runtime(s) tpu" in capsys.readouterr().err
