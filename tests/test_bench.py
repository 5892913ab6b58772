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


@pytest.mark.parametrize("arch", ["srcnn", "rsgunet"])
def test_op_profile_counts_every_convolution(arch):
    """The per-op profile of a frozen graph: every node once, largest time first, the
    kernel it ran as, and the convolutions' multiply-adds (the transposed ones per input
    pixel) adding up to TensorFlow's own count of the graph (which also counts the
    elementwise ops, a few percent here)."""
    import keras
    import numpy as np

    from pirm_enhance.graphs import frozen_graph_def
    from pirm_enhance.registry import build_model
    from pirm_enhance.runners import FrozenGraphRunner, KerasRunner

    keras.utils.set_random_seed(0)
    model = build_model(arch, **({"filters": (8, 8)} if arch == "srcnn" else {"width": 4}))
    runner = FrozenGraphRunner(frozen_graph_def(model), name=arch)
    x = np.random.default_rng(0).random((1, 64, 96, 3), dtype=np.float32)
    prof = bench.op_profile(runner, x, runs=2)
    nodes = prof["nodes"]
    assert [n["ms"] for n in nodes] == sorted((n["ms"] for n in nodes), reverse=True)
    assert len({n["node"] for n in nodes}) == len(nodes)
    assert prof["total_ms"] == pytest.approx(sum(prof["by_type"].values()))
    convs = [n for n in nodes if "gflop" in n]
    expected = {"srcnn": 3, "rsgunet": 23 + 4}[arch]  # rsgunet: 23 convolutions, 4 transposed
    assert len(convs) == expected
    assert any("Conv2D" in n["op"] for n in convs)
    assert sum(n["gflop"] for n in convs) == pytest.approx(bench.gflops(model, 64, 96), rel=0.08)
    if arch == "srcnn":
        largest = max(convs, key=lambda n: n["gflop"])  # the 9x9 3->8 layer, fused with its ReLU
        assert largest["gflop"] == pytest.approx(2 * 64 * 96 * 9 * 9 * 3 * 8 / 1e9)
        assert largest["node"].endswith("Relu") and "Fused" in largest["op"]
    with pytest.raises(TypeError, match="frozen-graph runner"):
        bench.op_profile(KerasRunner(model), x)


def test_timing_model_leaves_no_weight_at_a_constant_so_the_graph_keeps_its_fusions():
    """Random weights for timing: Keras starts biases at zero, and a frozen graph's
    optimiser drops a zero bias and with it the fusion of each convolution with its
    LeakyReLU (a separate pass over every activation). ``timing_model`` moves every
    constant-valued trainable weight off its constant, as training does."""
    import keras
    import numpy as np

    from pirm_enhance.graphs import frozen_graph_def
    from pirm_enhance.registry import build_model
    from pirm_enhance.runners import FrozenGraphRunner
    from pirm_enhance.zoo import timing_model

    keras.utils.set_random_seed(0)
    zero = build_model("rsgunet", width=4)
    noisy = timing_model("rsgunet", width=4)
    assert any(np.all(keras.ops.convert_to_numpy(w) == 0) for w in zero.trainable_weights)
    for w in noisy.trainable_weights:
        v = keras.ops.convert_to_numpy(w)
        assert v.size == 1 or np.unique(v).size > 1, w.path
        assert np.abs(v).max() < 10
    again = timing_model("rsgunet", width=4)  # seeded
    assert all(np.array_equal(a, b) for a, b in zip(noisy.get_weights(), again.get_weights()))
    x = np.random.default_rng(0).random((1, 64, 96, 3), dtype=np.float32)
    kinds = {}
    for name, model in (("zero", zero), ("timing", noisy)):
        prof = bench.op_profile(FrozenGraphRunner(frozen_graph_def(model), name=name), x, runs=1)
        kinds[name] = prof["by_type"]
    assert "LeakyRelu" in kinds["zero"]  # left apart from its convolution
    assert "LeakyRelu" not in kinds["timing"]  # every one fused


def test_profile_option_prints_the_top_ops(capsys):
    assert cli.main(["srcnn", "--runtimes", "keras", "--profile"]) == 2
    assert "add pb to --runtimes" in capsys.readouterr().err
    code = cli.main(["srcnn", "--runtimes", "pb", "--profile", "--size", "24x40", "--rounds", "1", "--pairs", "0"])
    assert code == 0
    out = capsys.readouterr().out
    assert "per-op profile of srcnn [pb]" in out and "GFLOP/s" in out


def test_fixed_kept_runtime_keeps_the_indirection_buffers_that_tflite_fixed_builds_per_run(monkeypatch, tmp_path):
    """With the runner's limit at 0 bytes, ``tflite_fixed`` runs on transient buffers and
    ``tflite_fixed_kept`` (the same file) on kept ones; both compute the model; the fresh-process
    RAM probe takes the same choice."""
    import keras

    import numpy as np

    from pirm_enhance import memory, runners
    from pirm_enhance.data.io import write_png
    from pirm_enhance.registry import build_model

    monkeypatch.setattr(runners, "INDIRECTION_LIMIT", 0)
    keras.utils.set_random_seed(0)
    model = build_model("srcnn")
    x = np.random.default_rng(0).random((1, 24, 40, 3), dtype=np.float32)
    ref = np.asarray(model(x))
    modes = {}
    for runtime in ("tflite_fixed", "tflite_fixed_kept"):
        runner, path = bench._make_variant(model, "srcnn", runtime, tmp_path, (24, 40))
        assert np.abs(np.asarray(runner(x)) - ref).max() < 1e-5
        modes[runtime] = runner.mode
    assert modes == {"tflite_fixed": "transient", "tflite_fixed_kept": "kept"}
    write_png(tmp_path / "x.png", x[0])
    for low_memory in (None, False, True):
        assert memory.in_subprocess(path, tmp_path / "x.png", low_memory=low_memory) > 0


def test_fp16_inference_runtimes_run_in_fp16_and_say_so(tmp_path):
    """The fp16-inference runtimes export files that allow fp16 arithmetic and run them in
    fp16 (close to the float model, not equal); the table says where one ran in float32."""
    import keras
    import numpy as np

    from pirm_enhance import memory
    from pirm_enhance.data.io import write_png
    from pirm_enhance.registry import build_model

    keras.utils.set_random_seed(0)
    model = build_model("srcnn")
    x = np.random.default_rng(0).random((1, 24, 40, 3), dtype=np.float32)
    ref = np.asarray(model(x))
    for runtime in ("tflite_fp16_inference", "tflite_fixed_fp16_inference"):
        runner, path = bench._make_variant(model, "srcnn", runtime, tmp_path, (24, 40))
        assert 0 < np.abs(np.asarray(runner(x)) - ref).max() < 2e-2
        assert runner.precision == "fp16"
    write_png(tmp_path / "x.png", x[0])
    assert memory.in_subprocess(path, tmp_path / "x.png") > 0
    row = {"model": "srcnn", "runtime": "tflite_fp16_inference", "ms": 1.0, "precision": "fp32"}
    table = bench.format_table({"size": [24, 40], "rounds": 1, "quality": None, "pairs": 0,
                                "baseline": {"ms": 1.0, "weights": None}, "rows": [row]})
    assert "ran in float32" in table
