"""Seeded fuzzing of the four console tools, in-process: malformed graphs, malformed
images and malformed flags must each end in one line and a non-zero exit code,
never a traceback (the promise of :func:`pirm_enhance.cli.main`)."""

import random
import re
import zipfile

import numpy as np
import pytest
import tensorflow as tf
from tf1_util import frozen_pb, tiny_pirm_data
from PIL import Image

from pirm_enhance.cli import enhance as enhance_cli
from pirm_enhance.cli import export as export_cli
from pirm_enhance.cli import score as score_cli
from pirm_enhance.cli import train as train_cli
from pirm_enhance.data.synthetic import synthetic_photo

TOOLS = {"pirm-enhance": enhance_cli.main, "pirm-export": export_cli.main, "pirm-score": score_cli.main,
         "pirm-train": train_cli.main}
# what a tool may print on stderr besides its one error line: enhance's per-file
# "skipped" lines, its summary, and its progress line
ALLOWED = re.compile(r"^(error: |skipped |\d+ written to |enhance \()")


def malformed_models(folder, rng):
    """``{label: path}``: files that are not usable models, each broken differently."""
    folder.mkdir(parents=True, exist_ok=True)
    good = frozen_pb(folder / "good.pb", lambda x: x * 0.9)
    data = good.read_bytes()
    flipped = bytearray(data)
    for i in rng.sample(range(len(flipped)), 12):
        flipped[i] ^= 0xFF
    cases = {
        "random bytes .pb": rng.randbytes(300),
        "empty .pb": b"",
        "truncated .pb": data[: len(data) // 2],
        "bit-flipped .pb": bytes(flipped),
    }
    out = {}
    for label, content in cases.items():
        path = folder / f"{label.replace(' ', '_').replace('.', '')}.pb"
        path.write_bytes(content)
        out[label] = path
    out["no output node"] = frozen_pb(folder / "no_output.pb", None)
    out["output of another size"] = frozen_pb(folder / "half.pb", lambda x: x[:, ::2, ::2, :])
    out["NaN check fires"] = frozen_pb(folder / "checknumerics.pb",
                                    lambda x: tf.debugging.check_numerics(tf.math.log(x - 2.0), "boom"))
    out["reads a file"] = frozen_pb(folder / "readfile.pb", lambda x: x + 0.0 * tf.cast(
        tf.strings.length(tf.io.read_file("/etc/hostname")), tf.float32))
    for suffix in (".tflite", ".onnx", ".keras"):
        path = folder / f"garbage{suffix}"
        path.write_bytes(rng.randbytes(500))
        out[f"random bytes {suffix}"] = path
    with zipfile.ZipFile(folder / "nonsense_zip.keras", "w") as zf:
        zf.writestr("config.json", "{not json")
    out["zip .keras with a broken config"] = folder / "nonsense_zip.keras"
    (folder / "saved").mkdir()
    (folder / "saved" / "saved_model.pb").write_bytes(rng.randbytes(200))
    out["SavedModel with garbage"] = folder / "saved"
    (folder / "weird.xyz").write_bytes(b"abc")
    out["unknown suffix"] = folder / "weird.xyz"
    out["missing .tflite"] = folder / "absent.tflite"
    return out


def malformed_images(folder, rng):
    folder.mkdir(parents=True, exist_ok=True)
    good = folder / "good_source.jpg"
    Image.fromarray(np.uint8(synthetic_photo(40, 48, seed=1) * 255)).save(good)
    jpg = good.read_bytes()
    png_header = bytearray(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + (60000).to_bytes(4, "big") * 2
                           + b"\x08\x02\x00\x00\x00" + b"\x00" * 4)
    cases = {"random.jpg": rng.randbytes(400), "empty.png": b"", "truncated.jpg": jpg[: len(jpg) // 3],
             "text.png": b"this is not an image\n", "bomb.png": bytes(png_header),
             "flipped.jpg": bytes(b ^ 0x55 if i % 7 == 3 else b for i, b in enumerate(jpg))}
    out = []
    for name, content in cases.items():
        (folder / name).write_bytes(content)
        out.append(folder / name)
    good.unlink()
    return out


def _run(tool, argv, capfd):
    code = TOOLS[tool](argv)
    err = capfd.readouterr().err
    return code, [line for line in err.splitlines() if line.strip()]


def _assert_one_line(tool, argv, code, lines):
    where = f"{tool} {' '.join(map(str, argv))}"
    assert isinstance(code, int) and code != 0, f"{where}: exit {code}"
    text = "\n".join(lines)
    assert "Traceback" not in text, f"{where}:\n{text}"
    assert sum(line.startswith(("error: ", "skipped ")) for line in lines) == 1, f"{where}:\n{text}"
    assert all(ALLOWED.match(line) for line in lines), f"{where}:\n{text}"


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    rng = random.Random(2018)
    return {"models": malformed_models(root / "models", rng), "images": malformed_images(root / "images", rng),
            "data": tiny_pirm_data(root / "data"), "root": root}


def test_malformed_models_in_score_and_enhance(fuzz_dir, capfd, tmp_path):
    photo = tmp_path / "photo.png"
    Image.fromarray(np.uint8(synthetic_photo(48, 64, seed=5) * 255)).save(photo)
    for label, path in fuzz_dir["models"].items():
        argv = [str(path), "--data", str(fuzz_dir["data"]), "--no-timing"]
        code, lines = _run("pirm-score", argv, capfd)
        _assert_one_line("pirm-score", argv, code, lines)
        argv = [str(photo), "--model", str(path), "-o", str(tmp_path / "out")]
        code, lines = _run("pirm-enhance", argv, capfd)
        _assert_one_line("pirm-enhance", argv, code, lines)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_malformed_images_in_enhance(fuzz_dir, capfd, tmp_path):
    model = frozen_pb(tmp_path / "identity.pb", lambda x: x * 1.0)
    for image in fuzz_dir["images"]:
        argv = [str(image), "--model", str(model), "-o", str(tmp_path / "out")]
        code, lines = _run("pirm-enhance", argv, capfd)
        _assert_one_line("pirm-enhance", argv, code, lines)
        assert any(image.name in line for line in lines)


def test_malformed_keras_files_in_export(fuzz_dir, capfd, tmp_path):
    for label, path in fuzz_dir["models"].items():
        if path.suffix != ".keras":
            continue
        argv = ["--model", str(path), "-o", str(tmp_path / "x.pb")]
        code, lines = _run("pirm-export", argv, capfd)
        _assert_one_line("pirm-export", argv, code, lines)
        assert code == 2 and str(path) in lines[0]


# Each case breaks at least one thing, so no combination starts real work.
BAD_FLAGS = {
    "pirm-enhance": [["--tile", "0"], ["--tile", "33"], ["--overlap", "-5"], ["--quality", "1000"],
                     ["--format", "gif"], ["--max-pixels", "nan"], ["--model", "nope"],
                     ["--model", "absent.onnx"], ["--nonsense"], []],
    "pirm-export": [["--format", "zip"], ["--quantization", "int4"], ["--model", "nope.tag"],
                    ["--model", "srcnn"], ["--format", "pb", "--quantization", "int8"],
                    ["--calibration", "x.jpg"], ["--model"], ["-o"], ["--frobnicate"]],
    "pirm-score": [["--rounds", "0"], ["--rounds", "x"], ["--track", "C"], ["--as", "nope"], ["--as", ","],
                   ["--mos", "-1"], ["--mos", "nan"], ["--data", "/nonexistent/pirm"], ["--infinite", "both"],
                   ["nope.tag"]],
    "pirm-train": [["--steps", "0"], ["--batch-size", "0"], ["--checkpoint-every", "0"],
                   ["--validate-every", "0"], ["--set", "lr"], ["--set", "=3"], ["--set", "nosuchkey=1"],
                   ["--recipe", "nope"], ["--arch-arg", "x"], ["--data", "/nonexistent/photos"],
                   ["--export", "out.zip"], ["--strategy", "tpu"], ["--precision", "int8"]],
}
VALID_PARTS = {
    "pirm-enhance": [["IMAGE"], ["-o", "OUT"], ["--compare"], ["--suffix", "_x"]],
    "pirm-export": [["--model", "srcnn.pirm"], ["-o", "OUT/x.pb"], ["--clip"], ["--format", "tflite"]],
    "pirm-score": [["SUB"], ["--no-timing"], ["--json"], ["--data", "DATA"]],
    "pirm-train": [["--recipe", "dped"], ["--data", "synthetic:PHOTOS"], ["--vgg", "random"],
                   ["--workdir", "OUT/run"], ["--steps", "2"]],
}


@pytest.mark.parametrize("tool", sorted(BAD_FLAGS))
def test_malformed_flags(tool, fuzz_dir, capfd, tmp_path):
    rng = random.Random(f"{tool}-flags")
    photo = tmp_path / "photo.png"
    Image.fromarray(np.uint8(synthetic_photo(40, 40, seed=6) * 255)).save(photo)
    subs = {"IMAGE": str(photo), "OUT": str(tmp_path / "out"), "DATA": str(fuzz_dir["data"]),
            "SUB": str(fuzz_dir["models"]["empty .pb"]), "PHOTOS": str(tmp_path)}
    cases = [list(bad) for bad in BAD_FLAGS[tool]]
    bad_parts = [bad for bad in BAD_FLAGS[tool] if bad]
    for _ in range(12):  # random mixes: shuffled valid parts, then one or two bad ones (last wins)
        parts = rng.sample(VALID_PARTS[tool], rng.randint(1, len(VALID_PARTS[tool])))
        rng.shuffle(parts)
        parts += rng.sample(bad_parts, rng.randint(1, 2))
        cases.append([token for part in parts for token in part])
    for argv in cases:
        argv = [subs.get(t, t).replace("OUT", subs["OUT"]) if "OUT/" in t else subs.get(t, t) for t in argv]
        code, lines = _run(tool, argv, capfd)
        _assert_one_line(tool, argv, code, lines)
