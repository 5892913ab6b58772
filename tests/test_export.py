"""Exporters: every architecture to a frozen graph and TFLite, checked against Keras."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import pirm_enhance as pe
from pirm_enhance import exporters as ex
from pirm_enhance.data.synthetic import synthetic_photo


@pytest.fixture(scope="module", params=pe.list_models())
def model(request):
    keras.utils.set_random_seed(7)
    m = pe.build_model(request.param)
    rng = np.random.default_rng(1)
    for w in m.weights:  # non-trivial weights, so that a lost weight shows
        w.assign(w.numpy() + rng.normal(0, 0.02, w.shape).astype("float32"))
    return m


def test_frozen_graph_loads_in_a_plain_tf1_session(model, tmp_path):
    path = tmp_path / "m.pb"
    report = ex.export(model, path, format="pb", allow_rule_violations=True,
                       measure_ram=False)
    assert report["max_abs_diff"] < 1e-4
    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(path.read_bytes())
    ops = {n.op for n in graph_def.node}
    assert not ops & {"VarHandleOp", "VariableV2", "ReadVariableOp", "Variable"}
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(graph_def, name="")
    x_t = graph.get_tensor_by_name("input:0")
    assert x_t.shape.as_list() == [1, None, None, 3] and x_t.dtype == tf.float32
    x = synthetic_photo(37, 91, seed=3)[None]
    with tf.compat.v1.Session(graph=graph) as sess:
        y = sess.run("output:0", {x_t: x})
    np.testing.assert_allclose(y, np.asarray(model(x)), atol=1e-4)


def test_tflite_float32_runs_at_any_size(model, tmp_path):
    report = ex.export(model, tmp_path / "m.tflite", format="tflite", allow_rule_violations=True,
                       measure_ram=False)
    assert report["max_abs_diff"] < 1e-4
    from pirm_enhance.runners import TFLiteRunner

    runner = TFLiteRunner(tmp_path / "m.tflite")
    for h, w in ((100, 100), (37, 91)):
        x = synthetic_photo(h, w, seed=h)[None]
        np.testing.assert_allclose(runner(x), np.asarray(model(x)), atol=1e-4)


@pytest.mark.parametrize("quantization", ["float16", "dynamic_int8", "int16x8", "int8"])
def test_tflite_quantized_variants(quantization, tmp_path):
    keras.utils.set_random_seed(2)
    model = pe.build_model("dped_resnet_6_16")
    report = ex.export(model, tmp_path / "m.tflite", format="tflite", quantization=quantization,
                       allow_rule_violations=True, measure_ram=False)
    assert report["quantization"] == quantization
    assert np.isfinite(report["max_abs_diff"]) and report["max_abs_diff"] < 0.5
    if quantization == "float16":
        assert report["max_abs_diff"] < 2e-2
    if quantization == "int16x8":  # 16-bit activations: far closer to float than int8
        assert report["max_abs_diff"] < 0.05
        # only the instance norms' deviations and divisions stay float
        assert set(report["float_ops"]) == {"ADD_N", "SQRT", "DIV"}
    elif quantization == "int8":
        assert report["float_ops"] == {}
    else:
        assert "float_ops" not in report


def test_int8_with_fake_quant_ranges_converts_every_architecture(model):
    """Every architecture's full-int8 file is converted from the simulated-int8 pass (a
    FakeQuant op at every layer output, several for a layer that returns several, and
    inside the norms): it converts, runs at two sizes and stays near the float model."""
    from pirm_enhance.runners import TFLiteRunner

    from pirm_enhance.errors import ModelRunError

    calibration = [synthetic_photo(48, 64, seed=s) for s in (1, 2)]
    if not model.full_int8:  # LiteRT's converter refuses the graph: one line that says what to do instead
        with pytest.raises(ModelRunError, match="cannot quantize.*float16"):
            ex.writers.tflite_bytes(model, "int8", calibration=calibration, int8_ranges="minmax")
        return
    data = ex.writers.tflite_bytes(model, "int8", calibration=calibration, int8_ranges="minmax")
    _file_weights_are_rounded_as_simulated(data, model)
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".tflite") as f:
        f.write(data)
        f.flush()
        runner = TFLiteRunner(f.name)
        for h, w in ((48, 64), (40, 36)):
            x = synthetic_photo(h, w, seed=h)[None]
            y = runner(x)
            assert y.shape == np.asarray(model(x)).shape and np.isfinite(y).all()
            assert np.abs(y - np.asarray(model(x))).max() < 0.5


def _file_weights_are_rounded_as_simulated(data, model):
    """Each weight that :func:`pirm_enhance.quantize.weight_rounding` rounds is in the int8
    file as rounded there: a kernel's 8-bit levels (compared as sorted magnitudes, which a
    folded batch norm's per-channel factor does not change; a phase convolution's layout
    neither), a norm's scale and shift as values. Vectors of one repeated value (an
    untrained norm) have nothing to round and may be folded away."""
    from ai_edge_litert.interpreter import Interpreter

    from pirm_enhance.quantize import round_weight, weight_rounding

    interpreter = Interpreter(model_content=data)
    interpreter.resize_tensor_input(interpreter.get_input_details()[0]["index"], [1, 48, 64, 3])
    interpreter.allocate_tensors()
    stored = []
    for d in interpreter.get_tensor_details():
        scales = d["quantization_parameters"]["scales"]
        if d["dtype"] != np.int8 or not len(scales):
            continue
        try:
            q = interpreter.get_tensor(d["index"]).astype(np.float64)
        except ValueError:  # a tensor without data (not a constant)
            continue
        stored.append((q, (q - d["quantization_parameters"]["zero_points"][0]) * scales[0]
                       if len(scales) == 1 else None))
    plan = weight_rounding(model)
    assert plan, "every zoo architecture has a convolution"
    for variable, axes in plan:
        value = variable.numpy()
        if np.ptp(value) == 0:
            continue
        rounded = np.asarray(round_weight(tf.constant(value), axes), np.float64)
        if axes is None:  # int8 constants of their own range
            want = np.sort(rounded.ravel())
            found = [np.abs(np.sort(v.ravel()) - want).max() for q, v in stored
                     if v is not None and v.size == want.size]
            assert found and min(found) <= 1e-5 * np.abs(want).max(), (model.name, variable.path, found)
            continue
        scale = np.abs(value).max(axis=axes, keepdims=True) if axes[0] != "phases" else None
        if scale is None:  # the levels: rounded / (its per-slice scale), read back from the values
            levels = np.abs(rounded)
            s = axes[1]
            for a in range(s):
                for b in range(s):
                    block = levels[a::s, b::s]
                    top = block.max(axis=(0, 1, 3), keepdims=True)
                    levels[a::s, b::s] = block / np.where(top > 0, top, 1) * 127
        else:
            levels = np.abs(rounded) / np.where(scale > 0, scale, 1) * 127
        want = np.sort(np.round(levels).ravel())
        want = want[want > 0]
        matches = []
        for q, _ in stored:
            got = np.sort(np.abs(q).ravel())
            got = got[got > 0]
            if got.size == want.size:
                matches.append(np.mean(got != want))
        assert matches and min(matches) <= 0.01, (model.name, variable.path, axes, matches)


def test_int8_calibrates_on_named_images(tmp_path):
    from pirm_enhance.data.io import write_png

    paths = []
    for i in range(3):
        paths.append(tmp_path / f"{i}.png")
        write_png(paths[-1], synthetic_photo(80, 120, seed=i))
    images = ex.writers.representative_images(paths, size=64)
    assert len(images) == 3 and images[0].shape == (64, 64, 3)
    report = ex.export(pe.build_model("ppcn_student"), tmp_path / "q.tflite", format="tflite",
                       quantization="int8", calibration_images=paths, allow_rule_violations=True)
    assert report["bytes"] > 0


def test_calibration_size_takes_whole_photos_and_refuses_bad_sides(tmp_path, capfd):
    """``calibration_size=None`` (``--calibration-size full``) calibrates on the whole photos,
    a number on crops of that side; the report says which; a side under 16 or a word other
    than full is refused in one line before any work."""
    from pirm_enhance.cli.export import main as export_main
    from pirm_enhance.data.io import write_png
    from pirm_enhance.errors import UsageError

    paths = []
    for i in range(2):
        paths.append(tmp_path / f"{i}.png")
        write_png(paths[-1], synthetic_photo(40, 56, seed=i))
    whole = ex.writers.representative_images(paths, size=None)
    assert [img.shape for img in whole] == [(40, 56, 3)] * 2
    model = pe.build_model("srcnn")
    report = ex.export(model, tmp_path / "q.tflite", format="tflite", quantization="int8", calibration_images=paths,
                       calibration_size=None, allow_rule_violations=True, measure_ram=False)
    assert report["calibration_size"] is None
    for bad in (8, 0, "64", True):
        with pytest.raises(UsageError, match="calibration_size"):
            ex.export(model, tmp_path / "bad.tflite", format="tflite", quantization="int8", calibration_size=bad)
    assert not (tmp_path / "bad.tflite").exists()
    for bad in ("8", "half"):
        assert export_main(["--model", "srcnn", "--quantization", "int8", "--calibration-size", bad,
                            "-o", str(tmp_path / "c.tflite")]) == 2
        assert "--calibration-size takes a crop side" in capfd.readouterr().err
    assert export_main(["--model", "srcnn", "--calibration-size", "full", "-o", str(tmp_path / "c.pb")]) == 2
    assert "--calibration-size is for" in capfd.readouterr().err
    assert not (tmp_path / "c.tflite").exists() and not (tmp_path / "c.pb").exists()


def test_onnx_runs_in_onnx_runtime(model, tmp_path):
    """Every architecture as ONNX: ONNX Runtime runs it at two sizes (odd 67x101, even
    48x36) and matches Keras. Caught: dilated convolutions with auto_pad SAME (PPCN),
    a negative FloorMod and an empty mirror slice in PadToMultiple (Track A nets)."""
    pytest.importorskip("tf2onnx")
    pytest.importorskip("onnxruntime")
    report = ex.export(model, tmp_path / "m.onnx", format="onnx", allow_rule_violations=True, measure_ram=False)
    assert report["max_abs_diff"] <= 1e-5


def test_saved_model_and_onnx(tmp_path):
    pytest.importorskip("tf2onnx")
    model = pe.build_model("eds")
    report = ex.export(model, tmp_path / "sm", format="saved_model", allow_rule_violations=True)
    assert report["max_abs_diff"] < 1e-4
    assert 0 < report["ram_1280x720_bytes"] < 3.5 * 2**30  # measured in a fresh process
    again = ex.export(model, tmp_path / "sm", format="saved_model", allow_rule_violations=True)
    assert again["max_abs_diff"] < 1e-4  # overwriting an existing folder works
    report = ex.export(model, tmp_path / "m.onnx", format="onnx", allow_rule_violations=True)
    assert report["max_abs_diff"] < 1e-4


def _out_of_range_model():
    inputs = keras.Input((None, None, 3))
    return keras.Model(inputs, keras.layers.Rescaling(255.0)(inputs))


def test_rule_violation_is_an_error_and_leaves_no_file(tmp_path):
    path = tmp_path / "bad.pb"
    with pytest.raises(ex.RuleViolation, match=r"output spans \[.*\] \(rule: \[0, 1\]"):
        ex.export(_out_of_range_model(), path, format="pb")
    assert not path.exists()
    report = ex.export(_out_of_range_model(), path, format="pb", allow_rule_violations=True)
    assert path.exists() and report["rule_violations"]
    report = ex.export(_out_of_range_model(), tmp_path / "ok.pb", format="pb", clip=True)
    assert report["output_max"] <= 1.0 and not report["rule_violations"]


def test_overwrite_replaces_an_output_only_with_one_that_passed_its_checks(tmp_path):
    """With overwrite, a new export that fails its checks leaves the existing file or SavedModel
    folder as it was (it was deleted with the failed one); one that passes replaces it; no
    staged copy is left behind either way."""
    for fmt, name in (("pb", "keep.pb"), ("saved_model", "keep_sm")):
        path = tmp_path / name
        ex.export(_out_of_range_model(), path, format=fmt, clip=True, measure_ram=False)
        before = sorted((p.relative_to(tmp_path), p.read_bytes()) for p in [path, *path.rglob("*")] if p.is_file())
        with pytest.raises(ex.RuleViolation, match=rf"^{path}: output spans"):  # the final name, not the staged
            ex.export(_out_of_range_model(), path, format=fmt, overwrite=True, measure_ram=False)
        after = sorted((p.relative_to(tmp_path), p.read_bytes()) for p in [path, *path.rglob("*")] if p.is_file())
        assert after == before
        report = ex.export(_out_of_range_model(), path, format=fmt, overwrite=True, allow_rule_violations=True,
                           measure_ram=False)
        assert report["path"] == str(path) and report["rule_violations"]
        assert not any(p.name.startswith(".") for p in tmp_path.iterdir())
    from pirm_enhance.runners import make_runner

    assert make_runner(tmp_path / "keep.pb")(np.full((1, 8, 8, 3), 0.5, np.float32)).max() > 1  # replaced


def test_a_conversion_that_loses_weights_is_caught(tmp_path, monkeypatch):
    """The check compares with Keras: a writer that drops weights must fail it."""
    model = pe.build_model("srcnn")
    fresh = pe.build_model("srcnn")
    real_frozen = ex.writers.frozen_graph_def
    monkeypatch.setattr(ex.writers, "frozen_graph_def", lambda m, clip=False, input_size=None, lowering=None:
                        real_frozen(fresh, clip, input_size, lowering))
    with pytest.raises(ex.RuleViolation, match="differs from the Keras model"):
        ex.export(model, tmp_path / "lost.pb", format="pb")
    assert not (tmp_path / "lost.pb").exists()


def test_fixed_input_size_tflite_runs_at_that_size_only(tmp_path):
    from pirm_enhance.cli import export as cli
    from pirm_enhance.errors import SubmissionError
    from pirm_enhance.runners import TFLiteRunner

    keras.utils.set_random_seed(3)
    model = pe.build_model("rsgunet", width=4)
    report = ex.export(model, tmp_path / "fixed.tflite", format="tflite", input_size=(40, 56),
                       allow_rule_violations=True, measure_ram=False)
    assert report["input_size"] == [40, 56] and report["max_abs_diff"] < 1e-4
    runner = TFLiteRunner(tmp_path / "fixed.tflite")
    assert list(runner.input_detail["shape_signature"]) == [1, 40, 56, 3]
    x = synthetic_photo(40, 56, seed=4)[None]
    np.testing.assert_allclose(runner(x), np.asarray(model(x)), atol=1e-4)
    with pytest.raises(SubmissionError, match="takes 40x56 images only"):
        runner(synthetic_photo(41, 56, seed=4)[None])
    assert cli.main(["--model", "srcnn.pirm", "--input-size", "720by1280", "-o", str(tmp_path / "x.tflite")]) == 2


def _single_conv_tflite(tmp_path, kernel, input_size=None):
    keras.utils.set_random_seed(5)
    inp = keras.Input((None, None, 3))
    model = keras.Model(inp, keras.layers.Conv2D(3, kernel, padding="same")(inp))
    path = tmp_path / f"conv{kernel}_{'fixed' if input_size else 'any'}.tflite"
    ex.export(model, path, format="tflite", input_size=input_size, allow_rule_violations=True, measure_ram=False,
              lowering="none")
    return model, path


def test_indirection_estimate_counts_pointers_per_output_pixel_and_tap(tmp_path):
    from pirm_enhance.runners import TFLiteRunner, indirection_bytes_per_pixel

    _, path = _single_conv_tflite(tmp_path, 9)
    assert indirection_bytes_per_pixel(path) == 8 * 81  # one 8-byte pointer per output pixel and tap
    assert TFLiteRunner(path).indirection_bytes(720, 1280) == 8 * 81 * 720 * 1280  # 597 MB at 720p
    _, fixed = _single_conv_tflite(tmp_path, 3, input_size=(24, 40))
    assert indirection_bytes_per_pixel(fixed) == 8 * 9
    assert indirection_bytes_per_pixel(b"not a model") == 0.0


@pytest.mark.parametrize("input_size", [None, (36, 52)])
def test_tflite_transient_indirection_gives_the_same_output(tmp_path, monkeypatch, input_size):
    from pirm_enhance import runners
    from pirm_enhance.runners import TFLiteRunner

    model, path = _single_conv_tflite(tmp_path, 9, input_size)
    x = synthetic_photo(36, 52, seed=6)[None]
    kept = TFLiteRunner(path, low_memory=False)
    transient = TFLiteRunner(path, low_memory=True)
    np.testing.assert_allclose(transient(x), kept(x), atol=1e-5)
    np.testing.assert_allclose(transient(x), np.asarray(model(x)), atol=1e-4)
    assert (kept.mode, transient.mode) == ("kept", "transient")
    # automatic: transient only above the limit
    auto = TFLiteRunner(path)
    auto(x)
    assert auto.mode == "kept"
    monkeypatch.setattr(runners, "INDIRECTION_LIMIT", 8 * 81 * 36 * 52 - 1)
    auto = TFLiteRunner(path)
    np.testing.assert_allclose(auto(x), kept(x), atol=1e-5)
    assert auto.mode == "transient"
    if input_size is None:  # a resized input rebuilds the compiled model at the new size
        y = synthetic_photo(20, 28, seed=7)[None]
        np.testing.assert_allclose(auto(y), kept(y), atol=1e-5)


def test_run_time_shape_graphs_keep_the_interpreter(tmp_path):
    """LiteRT 2.3's CompiledModel segfaults on resizable graphs with SHAPE ops: those
    must never take the transient path; their fixed-size export does."""
    from pirm_enhance.runners import TFLiteRunner

    keras.utils.set_random_seed(8)
    model = pe.build_model("rsgunet", width=4)
    ex.export(model, tmp_path / "any.tflite", format="tflite", allow_rule_violations=True, measure_ram=False)
    ex.export(model, tmp_path / "fixed.tflite", format="tflite", input_size=(32, 48), allow_rule_violations=True,
              measure_ram=False)
    x = synthetic_photo(32, 48, seed=9)[None]
    resizable = TFLiteRunner(tmp_path / "any.tflite", low_memory=True)
    fixed = TFLiteRunner(tmp_path / "fixed.tflite", low_memory=True)
    np.testing.assert_allclose(fixed(x), resizable(x), atol=1e-5)
    assert (resizable.mode, fixed.mode) == ("kept", "transient")


# ---- fp16 inference: files that allow it, the runner that follows them ------------------------

def test_float16_inference_files_run_in_fp16_and_plain_float16_files_do_not(tmp_path):
    """``float16_inference`` writes the converter's ``reduced_precision_support`` metadata
    (fp16 arithmetic allowed); the runner follows it and runs XNNPACK in fp16: its output
    then differs from the same file run in float32 by fp16 rounding, not more. A plain
    ``float16`` file (fp16 weights only) runs in float32."""
    from pirm_enhance.runners import TFLiteRunner, reduced_precision

    keras.utils.set_random_seed(3)
    model = pe.build_model("dped_resnet_6_16")
    x = synthetic_photo(40, 56, seed=3)[None]
    ref = np.asarray(model(x))
    report = ex.export(model, tmp_path / "half.tflite", format="tflite", quantization="float16_inference",
                       measure_ram=False, allow_rule_violations=True)
    ex.export(model, tmp_path / "weights.tflite", format="tflite", quantization="float16", measure_ram=False,
              allow_rule_violations=True)
    assert reduced_precision(tmp_path / "half.tflite") == "fp16accfp16"
    assert reduced_precision(tmp_path / "weights.tflite") == "fp16accfp32"  # fp16 only with float32 sums
    assert reduced_precision(b"not a model") is None
    assert report["precision"] == "fp16" and report["max_abs_diff"] < 2e-2
    half, forced_off = TFLiteRunner(tmp_path / "half.tflite"), TFLiteRunner(tmp_path / "half.tflite", fp16=False)
    weights = TFLiteRunner(tmp_path / "weights.tflite")
    y_half, y_off, y_weights = half(x), forced_off(x), weights(x)
    assert (half.precision, forced_off.precision, weights.precision) == ("fp16", "fp32", "fp32")
    np.testing.assert_allclose(y_off, y_weights, atol=1e-6)  # the same fp16 weights, both in float32
    step = np.abs(y_half - y_off).max()
    assert 0 < step < 2e-2  # fp16 arithmetic moved it, by fp16 rounding
    assert np.abs(y_off - ref).max() < 2e-3
    # a float32 file can be forced into fp16 too
    ex.export(model, tmp_path / "f32.tflite", format="tflite", measure_ram=False, allow_rule_violations=True)
    forced = TFLiteRunner(tmp_path / "f32.tflite", fp16=True)
    assert 0 < np.abs(forced(x) - ref).max() < 2e-2 and forced.precision == "fp16"
    default = TFLiteRunner(tmp_path / "f32.tflite")
    np.testing.assert_allclose(default(x), ref, atol=1e-4)
    assert default.precision == "fp32"  # and by default it is not
    # a resized input rebuilds it at the new size, still in fp16
    z = synthetic_photo(24, 32, seed=4)[None]
    assert np.abs(half(z) - np.asarray(model(z))).max() < 2e-2 and half.precision == "fp16"


def test_fp16_inference_on_a_graph_the_compiled_api_cannot_take(tmp_path):
    """A resizable graph with run-time shape ops cannot go through LiteRT's CompiledModel
    (it crashes on them): forced fp16 is refused in one line that names --input-size; a
    file that only allows fp16 runs in float32; its fixed-size export runs in fp16."""
    from pirm_enhance.errors import SubmissionError
    from pirm_enhance.runners import TFLiteRunner

    keras.utils.set_random_seed(8)
    model = pe.build_model("rsgunet", width=4)
    for name, size in (("any", None), ("fixed", (32, 48))):
        ex.export(model, tmp_path / f"{name}.tflite", format="tflite", quantization="float16_inference",
                  input_size=size, allow_rule_violations=True, measure_ram=False)
    x = synthetic_photo(32, 48, seed=9)[None]
    with pytest.raises(SubmissionError, match="cannot run in fp16 here.*--input-size"):
        TFLiteRunner(tmp_path / "any.tflite", fp16=True)(x)
    allowed, fixed = TFLiteRunner(tmp_path / "any.tflite"), TFLiteRunner(tmp_path / "fixed.tflite")
    np.testing.assert_allclose(fixed(x), allowed(x), atol=2e-2)
    assert (allowed.precision, fixed.precision) == ("fp32", "fp16")


def test_a_file_that_allows_fp16_falls_back_to_float32_on_transient_buffers(tmp_path, monkeypatch):
    """Where XNNPACK refuses fp16 for a file that only allows it (no fp16 kernel for an op, a
    CPU without fp16), the runner runs it in float32 and keeps the low-memory path it would
    take for a float32 file, instead of dropping to kept indirection buffers; forced fp16 is
    refused in one line."""
    from pirm_enhance.errors import SubmissionError
    from pirm_enhance.runners import TFLiteRunner

    keras.utils.set_random_seed(3)
    model = pe.build_model("dped_resnet_6_16")
    ex.export(model, tmp_path / "half.tflite", format="tflite", quantization="float16_inference",
              measure_ram=False, allow_rule_violations=True)
    x = synthetic_photo(40, 56, seed=3)[None]
    calls = []
    compile_ = TFLiteRunner._compile

    def no_fp16(self, shape, transient=True, fp16=False):
        calls.append((transient, fp16))
        return None if fp16 else compile_(self, shape, transient, fp16)

    monkeypatch.setattr(TFLiteRunner, "_compile", no_fp16)
    low = TFLiteRunner(tmp_path / "half.tflite", low_memory=True)
    y = low(x)
    assert (low.mode, low.precision) == ("transient", "fp32") and calls == [(True, True), (True, False)]
    np.testing.assert_allclose(y, TFLiteRunner(tmp_path / "half.tflite", fp16=False)(x), atol=1e-6)
    calls.clear()
    kept = TFLiteRunner(tmp_path / "half.tflite", low_memory=False)
    kept(x)
    assert (kept.mode, kept.precision) == ("kept", "fp32") and calls == [(False, True)]
    with pytest.raises(SubmissionError, match="cannot run in fp16 here.*fp16=False"):
        TFLiteRunner(tmp_path / "half.tflite", fp16=True)(x)


def test_quiet_stderr_in_a_process_without_descriptor_2():
    """The runner's stderr quieting (around LiteRT's CompiledModel) is a no-op where descriptor
    2 is closed (a daemon), instead of an OSError that would stop fp16 runs or a first run."""
    import subprocess
    import sys

    code = ("import os\nos.close(2)\nfrom pirm_enhance.runners import _QuietStderr\n"
            "with _QuietStderr():\n    pass\nprint('quiet ok')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("quiet ok"), proc.stdout


def test_float16_inference_export_drops_the_biases_a_norm_cancels(tmp_path, weights_dir):
    """In fp16 arithmetic the PPCN student's norms lose their inputs' small spreads beside the
    levels its conv2 and conv3 biases set; the export zeroes those biases (the same function)
    and stays within the float16 tolerance. With the biases kept, the file is refused by the
    check, in one line that says to export float16 instead."""
    from pirm_enhance.errors import RuleViolation
    from pirm_enhance.exporters.checks import check_export
    from pirm_enhance.runners import TFLiteRunner
    from pirm_enhance.zoo import load_model

    model = load_model("ppcn_student.paper")
    report = ex.export(model, tmp_path / "st.tflite", format="tflite", quantization="float16_inference",
                       measure_ram=False)
    assert report["norm_biases_dropped"] == ["conv2", "conv3"]
    assert report["precision"] == "fp16" and report["max_abs_diff"] < 2e-2
    path = ex.writers.write(model, tmp_path / "kept.tflite", "tflite", "float16_inference", None, False)
    runner = TFLiteRunner(path)
    with pytest.raises(RuleViolation, match="fp16 arithmetic moves the output.*--quantization float16 instead"):
        check_export(model, runner, path, "float16_inference", measure_ram=False)
    assert runner.precision == "fp16"
