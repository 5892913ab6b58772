"""Reproductions of the tracebacks the hardening issue found in the tools (item 9 and 15):
each is now one line and an exit code, and no file is lost."""

import json

import keras
import numpy as np
import pytest

import pirm_enhance as pe
from pirm_enhance import errors
from pirm_enhance.cli import enhance as enhance_cli
from pirm_enhance.cli import export as export_cli
from pirm_enhance.cli import train as train_cli
from pirm_enhance.runners import make_runner


@pytest.fixture(scope="module")
def tiny_keras(tmp_path_factory):
    keras.utils.set_random_seed(0)
    path = tmp_path_factory.mktemp("m") / "srcnn.keras"
    pe.build_model("srcnn").save(path)
    return path


def _one_line(capfd):
    lines = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in lines[0], lines
    return lines[0]


def test_export_never_replaces_an_existing_file_without_overwrite(tiny_keras, tmp_path, capfd):
    target = tmp_path / "submission.pb"
    target.write_bytes(b"precious")
    assert export_cli.main(["--model", str(tiny_keras), "-o", str(target)]) == 2
    assert "already exists" in _one_line(capfd) and target.read_bytes() == b"precious"
    folder = tmp_path / "exported"
    folder.mkdir()
    (folder / "keep.txt").write_text("mine")
    assert export_cli.main(["--model", str(tiny_keras), "--format", "saved_model", "-o", str(folder)]) == 2
    assert "already exists" in _one_line(capfd) and (folder / "keep.txt").read_text() == "mine"


def test_export_refuses_an_existing_file_before_fine_tuning(tiny_keras, tmp_path, capfd, monkeypatch):
    """The refusal comes before the minutes of int8 calibration and fine-tuning, not after."""
    from pirm_enhance import quantize

    def never(*args, **kwargs):
        raise AssertionError("fine-tuning ran for an output that cannot be written")

    monkeypatch.setattr(quantize, "finetune_for_int8", never)
    target = tmp_path / "st_int8.tflite"
    target.write_bytes(b"precious")
    assert export_cli.main(["--model", str(tiny_keras), "--format", "tflite", "--quantization", "int8",
                            "--qat-steps", "2400", "-o", str(target)]) == 2
    assert "already exists" in _one_line(capfd) and target.read_bytes() == b"precious"


def test_export_to_an_unwritable_place_is_one_line(tiny_keras, capfd):
    assert export_cli.main(["--model", str(tiny_keras), "-o", "/proc/pirm_enhance_test/x.pb"]) == 1
    assert "/proc/pirm_enhance_test" in _one_line(capfd)


def test_quantization_that_does_not_apply_is_refused(tiny_keras, tmp_path, capfd):
    assert export_cli.main(["--model", str(tiny_keras), "--format", "pb", "--quantization", "int8",
                            "-o", str(tmp_path / "x.pb")]) == 2
    assert "TFLite only" in _one_line(capfd) and not (tmp_path / "x.pb").exists()


def test_export_format_follows_the_suffix_and_keras_is_a_format(tiny_keras, tmp_path, capsys):
    assert export_cli.main(["--model", str(tiny_keras), "-o", str(tmp_path / "again.keras")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["format"] == "keras"
    again = keras.saving.load_model(tmp_path / "again.keras")
    x = np.random.default_rng(0).random((1, 20, 24, 3), np.float32)
    np.testing.assert_array_equal(np.asarray(again(x)), np.asarray(keras.saving.load_model(tiny_keras)(x)))


def test_keras_model_with_the_wrong_output_size_is_one_line(tmp_path):
    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, keras.layers.MaxPooling2D(2)(inputs))
    model.save(tmp_path / "half.keras")
    runner = make_runner(tmp_path / "half.keras")
    with pytest.raises(errors.SubmissionError, match=r"output has shape \[1, 8, 8, 3\].*\[1, 16, 16, 3\]"):
        runner(np.zeros((1, 16, 16, 3), np.float32))


def test_garbage_keras_file_is_not_called_missing(tmp_path):
    path = tmp_path / "garbage.keras"
    path.write_bytes(b"\x00garbage" * 50)
    with pytest.raises(errors.ModelFileError) as info:
        pe.load_model(str(path))
    assert "not a Keras 3 model file" in str(info.value) and "not found" not in str(info.value).lower()


def test_missing_model_file_is_not_an_unknown_name(tmp_path, capfd):
    photo = tmp_path / "p.png"
    from pirm_enhance.data.io import write_png

    write_png(photo, np.zeros((8, 8, 3), np.float32))
    assert enhance_cli.main([str(photo), "--model", str(tmp_path / "nope.tflite"), "-o", str(tmp_path / "o")]) == 2
    line = _one_line(capfd)
    assert "no such file" in line and "unknown" not in line


def test_ctrl_c_in_enhance_is_one_line(tmp_path, capfd, monkeypatch):
    import pirm_enhance.enhancer as enhancer

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(enhancer, "enhance_files", interrupted)
    photo = tmp_path / "p.png"
    photo.write_bytes(b"")
    assert enhance_cli.main([str(photo), "-o", str(tmp_path / "o")]) == 130
    assert "interrupted" in _one_line(capfd)


@pytest.mark.parametrize("argv, words", [
    (["--checkpoint-every", "0"], "--checkpoint-every"), (["--validate-every", "0"], "--validate-every"),
    (["--set", "lr"], "KEY=VALUE"), (["--steps", "0"], "--steps"), (["--batch-size", "0"], "--batch-size"),
    (["--set", "lr_typo=1"], "unknown recipe key"),
])
def test_train_flags_that_used_to_traceback_or_mean_default(argv, words, tmp_path, capfd):
    code = train_cli.main(["--recipe", "dped", "--data", str(tmp_path), "--vgg", "random", *argv])
    assert code == 2
    assert words in _one_line(capfd)
