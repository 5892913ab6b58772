"""Scorer: challenge scores, TF1-era graphs, refusal of unsafe or malformed files."""

import json
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from tf1_util import frozen_pb, tiny_pirm_data

import pirm_enhance as pe
from pirm_enhance.errors import ModelFileError
from pirm_enhance.runners import FrozenGraphRunner, SubmissionError, make_runner
from pirm_enhance.scoring import challenge_scores
from pirm_enhance.graph_check import UnsafeGraph


@pytest.mark.parametrize("row", [
    # PIRM2018.md section 3: published rows (PSNR, perceptual, ms, SRCNN ms, track, kind -> A, B, C)
    (21.99, 2.6804, 682, 3274, "B", "mos", (14.72, 20.06, 19.11)),  # Mt.Phoenix, final table
    (21.38, 2.4411, 20462, 3274, "B", "mos", (2.89, 4.90, 3.32)),   # DPED baseline, final table
    (28.21, 0.9636, 701, 3239, "A", "ms_ssim", (13.21, 15.15, 14.14)),  # TEAM ALEX, Track A
])
def test_challenge_scores_reproduce_published_rows(row):
    psnr, p, t, tb, track, kind, want = row
    got = challenge_scores(psnr, p, t, tb, track=track, perceptual_kind=kind)
    for key, value in zip("ABC", want):
        assert got[key] == pytest.approx(value, abs=0.05)


def test_speed_term_is_capped_at_4x():
    slow = challenge_scores(21.0, 0.9, 100, 1000)
    fast = challenge_scores(21.0, 0.9, 1, 1000)
    assert slow == fast == {"A": 8.0, "B": 8.0, "C": pytest.approx(11.6)}


def tf1_style_pb(path, extra_op=None):
    """A graph built as 2018 code did: placeholders, variables, a Saver, and
    graph_util.convert_variables_to_constants (the organisers' own recipe)."""
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [1, None, None, 3], name="input")
        identity = np.zeros([3, 3, 3, 3], np.float32)
        identity[1, 1] = np.eye(3) * 1.1  # a slightly brighter copy of the phone image
        w = tf.compat.v1.Variable(identity, name="W1")
        b = tf.compat.v1.Variable(tf.constant(0.01, shape=[3]), name="b1")
        y = tf.nn.conv2d(x, w, strides=[1, 1, 1, 1], padding="SAME") + b
        if extra_op == "ReadFile":
            y = y + 0.0 * tf.cast(tf.strings.length(tf.io.read_file("/etc/hostname")), tf.float32)
        tf.identity(y, name="output")
        saver = tf.compat.v1.train.Saver()
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            saver.save(sess, str(path.with_suffix(".ckpt")))
            frozen = tf.compat.v1.graph_util.convert_variables_to_constants(
                sess, graph.as_graph_def(), ["output"])
    path.write_bytes(frozen.SerializeToString())
    return path


def test_tf1_era_frozen_graph_runs(tmp_path):
    runner = make_runner(tf1_style_pb(tmp_path / "old.pb"))
    assert isinstance(runner, FrozenGraphRunner)
    y = runner(np.full((2, 17, 23, 3), 0.5, np.float32))
    assert y.shape == (2, 17, 23, 3) and np.isfinite(y).all()


def test_read_file_op_is_refused_by_name(tmp_path):
    with pytest.raises(UnsafeGraph, match="ReadFile"):
        make_runner(tf1_style_pb(tmp_path / "evil.pb", extra_op="ReadFile"))


def test_malformed_and_wrong_signature_files_get_one_line(tmp_path):
    junk = tmp_path / "junk.pb"
    junk.write_bytes(b"\x00\xffnot a graph at all" * 10)
    with pytest.raises(SubmissionError, match="not a TensorFlow frozen graph") as info:
        make_runner(junk)
    assert "\n" not in str(info.value)
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [1, None, None, 3], name="image")
        tf.identity(x * 2.0, name="output")
    wrong = tmp_path / "wrong.pb"
    wrong.write_bytes(graph.as_graph_def().SerializeToString())
    with pytest.raises(SubmissionError, match=r"no tensor 'input:0'.*placeholders found: \['image'\]"):
        make_runner(wrong)
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [1, 100, 100, 3], name="input")
        tf.identity(x, name="output")
    fixed = tmp_path / "fixed.pb"
    fixed.write_bytes(graph.as_graph_def().SerializeToString())
    with pytest.raises(SubmissionError, match=r"shape \[1, 100, 100, 3\].*any resolution"):
        make_runner(fixed)
    with pytest.raises(ModelFileError, match="no such file"):
        make_runner(tmp_path / "absent.pb")


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "pirm_enhance.cli.score", *args],
                          capture_output=True, text=True, env=env, timeout=900)


def test_cli_refuses_unsafe_graph_with_exit_code(tmp_path):
    proc = _cli(str(tf1_style_pb(tmp_path / "evil.pb", extra_op="ReadFile")), "--data", str(tmp_path))
    assert proc.returncode in (3, 4)  # refused, or no data: never a traceback
    assert "Traceback" not in proc.stderr


def test_cli_missing_data_is_a_clear_error(tmp_path, monkeypatch):
    import os

    env = {k: v for k, v in os.environ.items() if k != "PIRM_DATA_DIR"}
    proc = _cli(str(tf1_style_pb(tmp_path / "old.pb")), env=env)
    assert proc.returncode == 4
    assert "PIRM_DATA_DIR" in proc.stderr and "Traceback" not in proc.stderr


def test_cli_scores_a_tf1_graph_as_json(tmp_path, data_dir):
    proc = _cli(str(tf1_style_pb(tmp_path / "old.pb")), "--data", str(data_dir), "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)  # stdout holds only the JSON document
    row = result["rows"][0]
    assert row["count"] == 400 and row["kind"] == "pb"
    assert 15 < row["psnr"] < 20 and 0.8 < row["ms_ssim"] < 0.9  # near doing nothing
    assert set(row["scores"]) == {"A", "B", "C"} and row["time_ms"] > 0
    assert result["baseline"]["time_ms"] > 0


def test_cli_refused_graph_exit_code_with_data(tmp_path, data_dir):
    proc = _cli(str(tf1_style_pb(tmp_path / "evil.pb", extra_op="ReadFile")), "--data", str(data_dir))
    assert proc.returncode == 3
    assert "ReadFile" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.heavy
def test_round_trip_export_then_score(tmp_path, data_dir, weights_dir):
    from pirm_enhance.cli.export import run as export_cli

    for fmt, quant in (("pb", "float32"), ("tflite", "float32"), ("tflite", "float16"), ("tflite", "int8")):
        out = tmp_path / f"student_{quant}.{fmt}"
        assert export_cli(["--model", "ppcn_student.paper", "--format", fmt, "--quantization", quant,
                           "-o", str(out)]) == 0
    result = pe.scoring.score([str(tmp_path / "student_float32.pb"), "ppcn_student.paper",
                               str(tmp_path / "student_float32.tflite"), str(tmp_path / "student_float16.tflite"),
                               str(tmp_path / "student_int8.tflite")],
                              data_dir=data_dir, progress=False, timing=False, measure_ram=False)
    pb, keras_row, fp32, fp16, int8 = result["rows"]
    assert pb["psnr"] == pytest.approx(keras_row["psnr"], abs=1e-3)
    assert pb["ms_ssim"] == pytest.approx(keras_row["ms_ssim"], abs=1e-5)
    assert keras_row["psnr"] == pytest.approx(22.5617, abs=0.005)
    for row in (fp32, fp16):
        assert row["psnr"] == pytest.approx(keras_row["psnr"], abs=0.01)
    print(f"full-int8 TFLite PSNR {int8['psnr']:.4f} dB, MS-SSIM {int8['ms_ssim']:.5f}")
    assert 15 < int8["psnr"] < 30


# ---- strict JSON, one line for a failing model, Ctrl-C, flags -----------------------------

def _strict_json(text):
    def refuse(constant):
        raise ValueError(f"not strict JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_json_output_is_strict(monkeypatch, capsys):
    from pirm_enhance import leaderboard
    from pirm_enhance.cli import score as score_cli

    nan, inf = float("nan"), float("inf")
    result = {"track": "B", "perceptual": "ms_ssim",
              "rows": [{"submission": "x.pb", "kind": "pb", "psnr": inf, "ms_ssim": nan,
                        "scores": {"A": -inf, "B": nan, "C": 1.5}, "rounds_ms": [nan, 2.0]}]}
    with pytest.raises(ValueError, match="not strict JSON"):
        _strict_json(json.dumps(result))  # what plain json.dumps would have printed
    doc = _strict_json(leaderboard.to_json(result))
    row = doc["rows"][0]
    assert row["psnr"] == "inf" and row["ms_ssim"] is None and row["rounds_ms"] == [None, 2.0]
    assert row["scores"] == {"A": "-inf", "B": None, "C": 1.5}
    monkeypatch.setattr(leaderboard, "score", lambda *args, **kwargs: result)
    assert score_cli.main(["x.pb", "--json"]) == 0
    assert _strict_json(capsys.readouterr().out) == doc


def _error_lines(stderr):
    return [line for line in stderr.splitlines() if line.strip()]


def test_cli_model_failing_while_running_is_one_line(tmp_path):
    boom = frozen_pb(tmp_path / "boom.pb", lambda x: tf.debugging.check_numerics(tf.math.log(x - 2.0), "boom"))
    proc = _cli(str(boom), "--data", str(tiny_pirm_data(tmp_path / "data")), "--no-timing")
    assert proc.returncode == 1, proc.stderr[-2000:]
    lines = _error_lines(proc.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in proc.stderr
    assert "boom" in lines[0] and "failed while running" in lines[0]


def _sandbox_child(pid):
    """The pid of ``pid``'s sandbox child process, or None."""
    import pathlib

    for proc in pathlib.Path("/proc").iterdir():
        try:
            if not proc.name.isdigit():
                continue
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if ppid == pid and b"pirm_sandbox_" in (proc / "cmdline").read_bytes():
                return int(proc.name)
        except (OSError, ValueError, IndexError):
            pass
    return None


def _alive(pid):
    import pathlib

    try:
        return (pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]) != "Z"
    except OSError:
        return False


def test_ctrl_c_while_scoring_is_one_line_and_stops_the_sandbox(tmp_path):
    import signal
    import time

    def slow(x):
        # seconds of work per image, so that the Ctrl-C lands while the sandbox is busy
        # (with a plain x * 0.9 the 7 tiny images could be done before the signal arrived)
        y = tf.image.resize(x, [1000, 1000])
        for _ in range(10):
            y = tf.nn.conv2d(y, tf.ones([9, 9, 3, 3]) / 243.0, 1, "SAME")
        return x * 0.9 + 0.0 * tf.reduce_mean(y)

    pb = frozen_pb(tmp_path / "dim.pb", slow)
    proc = subprocess.Popen([sys.executable, "-m", "pirm_enhance.cli.score", str(pb), "--data",
                             str(tiny_pirm_data(tmp_path / "data")), "--no-timing"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            # a job started in the background (`cmd &`) inherits SIGINT ignored, and
                            # Python then installs no Ctrl-C handler: give the scorer a real terminal's
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    child, deadline = None, time.time() + 300
    while child is None and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
        child = _sandbox_child(proc.pid)
    assert child is not None, "the scorer never started its sandbox process"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert _error_lines(err) == ["error: interrupted (Ctrl-C)"]
    for _ in range(100):
        if not _alive(child):
            break
        time.sleep(0.05)
    assert not _alive(child), "the sandbox process outlived the interrupted scorer"


def test_ctrl_c_in_pirm_score_main(monkeypatch, capsys):
    from pirm_enhance import leaderboard
    from pirm_enhance.cli import score as score_cli

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(leaderboard, "score", interrupted)
    assert score_cli.main(["x.pb", "--no-timing"]) == 130
    assert capsys.readouterr().err == "error: interrupted (Ctrl-C)\n"


def test_rounds_zero_is_refused_at_parse_time(capsys, monkeypatch):
    from pirm_enhance import leaderboard
    from pirm_enhance.cli import score as score_cli

    monkeypatch.setattr(leaderboard, "score", lambda *a, **k: pytest.fail("scoring started"))
    assert score_cli.main(["x.pb", "--rounds", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: argument --rounds: '0' is not a whole number >= 1")
    assert score_cli.main(["x.pb", "--memory-limit", "0"]) == 2
    assert "--memory-limit" in capsys.readouterr().err


def test_cli_limits_default_to_the_sandbox_defaults():
    from pirm_enhance.cli import score as score_cli
    from pirm_enhance.scoring.sandbox import DEFAULT_MEMORY_LIMIT_GIB, DEFAULT_TIME_LIMIT_S

    args = score_cli.parser().parse_args(["x.pb"])
    assert (args.memory_limit, args.time_limit) == (DEFAULT_MEMORY_LIMIT_GIB, DEFAULT_TIME_LIMIT_S)


def test_scored_tflite_rows_say_when_they_ran_in_fp16(tmp_path):
    """A file that allows fp16 arithmetic (``float16_inference``) is scored in fp16, in the
    sandbox and without it, and its row and table line say so; a float32 file's say fp32."""
    import keras

    from pirm_enhance.exporters import export
    from pirm_enhance.scoring.score import format_table, score

    data = tiny_pirm_data(tmp_path / "data")
    keras.utils.set_random_seed(0)
    model = pe.build_model("srcnn")
    for quant in ("float32", "float16_inference"):
        export(model, tmp_path / f"{quant}.tflite", format="tflite", quantization=quant, measure_ram=False,
               allow_rule_violations=True)
    files = [str(tmp_path / "float32.tflite"), str(tmp_path / "float16_inference.tflite")]
    for sandbox in (True, False):
        result = score(files, data_dir=data, timing=False, measure_ram=False, progress=False, sandbox=sandbox)
        assert [row["precision"] for row in result["rows"]] == ["fp32", "fp16"]
        lines = format_table(result).splitlines()
        assert "tflite fp16" in lines[-1] and "fp16" not in lines[-2]


def test_a_tflite_file_with_an_integer_input_is_refused(tmp_path):
    """A file whose input is uint8 would see a [0, 1] image cast to zeros and be scored on it:
    refused in one line instead."""
    from pirm_enhance.graphs import frozen_function

    frozen = frozen_function(pe.build_model("srcnn", filters=(4, 2)), input_size=(16, 16))
    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([np.random.default_rng(i).random((1, 16, 16, 3), np.float32)]
                                                for i in range(4))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.uint8
    path = tmp_path / "uint8.tflite"
    path.write_bytes(converter.convert())
    with pytest.raises(SubmissionError, match="its input is uint8; the challenge feeds and reads float32") as info:
        make_runner(path)
    assert "\n" not in str(info.value)


def test_same_named_models_keep_their_own_variants(tmp_path):
    """a/m.keras and b/m.keras scored --as keras,pb: each exported .pb row is its own model's
    (they used to share one exported file name, and the second overwrote the first)."""
    import keras

    data = tiny_pirm_data(tmp_path / "data")
    for folder, seed in (("a", 0), ("b", 1)):
        keras.utils.set_random_seed(seed)
        (tmp_path / folder).mkdir()
        pe.build_model("srcnn", filters=(4, 2)).save(tmp_path / folder / "m.keras")
    files = [str(tmp_path / "a" / "m.keras"), str(tmp_path / "b" / "m.keras")]
    result = pe.score(files, data_dir=data, variants=("keras", "pb"), timing=False, measure_ram=False,
                      progress=False, sandbox=False)
    psnr = {row["submission"]: row["psnr"] for row in result["rows"]}
    for f in files:
        assert abs(psnr[f"{f} [pb]"] - psnr[f]) < 1e-3, psnr
    assert abs(psnr[files[0]] - psnr[files[1]]) > 1e-3  # two different models


def test_a_validation_pair_of_two_sizes_is_a_data_error(tmp_path):
    from PIL import Image

    from pirm_enhance.scoring.validation import DataMissing, fidelity, track_b_pairs

    data = tiny_pirm_data(tmp_path / "data")
    canon = data / "dped" / "patches" / "canon" / "1.jpg"
    Image.fromarray(np.zeros((90, 100, 3), np.uint8)).save(canon)
    runner = make_runner(pe.build_model("srcnn", filters=(4, 2)))
    with pytest.raises(DataMissing, match=r"1\.jpg \(100x100\) and .*1\.jpg \(100x90\) differ in size"):
        fidelity(runner, track_b_pairs(data), progress=False)


def test_one_bad_file_does_not_stop_the_others(tmp_path, capsys, monkeypatch):
    """pirm-score a.pb junk.pb: the good file is scored and printed, the bad one is named
    under the table and on stderr, and the exit code is the bad one's; with only bad files,
    the first one's error as before."""
    import keras

    from pirm_enhance.cli import score as cli
    from pirm_enhance.exporters import export

    data = tiny_pirm_data(tmp_path / "data")
    keras.utils.set_random_seed(0)
    export(pe.build_model("srcnn", filters=(4, 2)), tmp_path / "good.pb", format="pb", measure_ram=False)
    (tmp_path / "junk.pb").write_bytes(b"\x00\xffnot a graph" * 10)
    for sandbox in (True, False):
        result = pe.score([str(tmp_path / "good.pb"), str(tmp_path / "junk.pb")], data_dir=data, timing=False,
                          measure_ram=False, progress=False, sandbox=sandbox)
        assert [row["submission"] for row in result["rows"]] == [str(tmp_path / "good.pb")]
        assert [(f["submission"], f["exit_code"]) for f in result["failed"]] == [(str(tmp_path / "junk.pb"), 3)]
        assert "not a TensorFlow frozen graph" in result["failed"][0]["error"]
    monkeypatch.chdir(tmp_path)  # short names in the table (it shows 42 characters)
    code = cli.run(["good.pb", "junk.pb", "--data", str(data), "--no-timing"])
    out, err = capsys.readouterr()
    assert code == 3 and "good.pb" in out and "not scored: " in out and "junk.pb" in err
    with pytest.raises(SubmissionError, match="not a TensorFlow frozen graph"):
        pe.score([str(tmp_path / "junk.pb")], data_dir=data, timing=False, measure_ram=False, progress=False)
