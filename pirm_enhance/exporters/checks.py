"""After-export checks: agreement with the Keras model and the PIRM submission rules.

Rules (PIRM2018.md section 1): any resolution; at most 100 MB on disk; output
in [0, 1]; at most 3.5 GB of RAM for one 1280x720 image. The DPED-family head
``tanh * 0.58 + 0.5`` spans [-0.08, 1.08], and the organisers' own baselines
output such values (their scorer clips for PSNR); the range rule therefore
allows a margin of ``RANGE_MARGIN`` and reports the values found, and
``clip=True`` at export makes the range exact.
"""

import os
import pathlib

import numpy as np

from pirm_enhance.data.synthetic import synthetic_photo

MAX_BYTES = 100 * 1000 * 1000
MAX_RAM_BYTES = int(3.5 * 1024 ** 3)
RANGE_MARGIN = 0.1
# max |export - keras| allowed per quantization; int8 is reported, not judged
TOLERANCE = {"float32": 1e-4, "float16": 2e-2, "float16_inference": 2e-2, "dynamic_int8": None, "int16x8": None,
             "int8": None}


from pirm_enhance.errors import RuleViolation  # noqa: E402  (re-exported)


def _size_on_disk(path):
    path = pathlib.Path(path)
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def check_export(model, runner, path, quantization="float32", clip=False,
                 allow_rule_violations=False, check_size=(67, 101), seed=0, measure_ram=True, input_size=None,
                 display=None):
    """Compare ``runner`` with ``model`` and check the rules; returns a report dict.

    The comparison image has an odd size (default 67x101) so that resolution
    handling is exercised; a second size checks that any resolution runs. A file
    with a fixed ``input_size`` is checked at that size (twice, two images), and its
    RAM measured at that size. ``display``: the name the messages give the file (the
    exporter checks a staged copy before it replaces an existing output).
    """
    h, w = check_size if input_size is None else input_size
    image = synthetic_photo(h, w, seed=seed)[None]
    want = np.asarray(model(image, training=False))
    if clip:
        want = np.clip(want, 0, 1)
    got = runner(image)
    precision = getattr(runner, "precision", None)  # of this run: the second size may compile differently
    diff = float(np.max(np.abs(got - want)))
    oh, ow = (48, 36) if input_size is None else input_size
    other = runner(synthetic_photo(oh, ow, seed=seed + 1)[None])
    report = {"max_abs_diff": diff, "check_size": [h, w], "bytes": _size_on_disk(path),
              "output_min": float(min(got.min(), other.min())),
              "output_max": float(max(got.max(), other.max()))}
    problems = []
    tolerance = TOLERANCE[quantization]
    if tolerance is not None and not diff <= tolerance:
        if quantization == "float16_inference" and precision == "fp16":
            problems.append(f"fp16 arithmetic moves the output by {diff:.3g} from the Keras model (allowed "
                            f"{tolerance:g}); export --quantization float16 instead (fp16 weights, float32 "
                            "arithmetic)")
        else:
            problems.append(f"export differs from the Keras model by {diff:.3g} (allowed {tolerance:g} "
                            f"for {quantization}); the conversion lost or changed weights")
    if report["bytes"] > MAX_BYTES:
        problems.append(f"{report['bytes'] / 1e6:.1f} MB on disk (rule: at most 100 MB)")
    if report["output_min"] < -RANGE_MARGIN or report["output_max"] > 1 + RANGE_MARGIN:
        problems.append(f"output spans [{report['output_min']:.3f}, {report['output_max']:.3f}] "
                        "(rule: [0, 1]; export with clip=True / --clip)")
    if measure_ram:
        import tempfile

        from pirm_enhance.data.io import write_png
        from pirm_enhance.memory import in_subprocess

        with tempfile.TemporaryDirectory() as tmp:
            hd = pathlib.Path(tmp) / "hd.png"
            rh, rw = (720, 1280) if input_size is None else input_size
            write_png(hd, synthetic_photo(rh, rw, seed=seed + 2))
            ram = in_subprocess(path, hd)  # a fresh process: nothing else in its heap
        report["ram_1280x720_bytes"] = ram
        if ram is not None and ram > MAX_RAM_BYTES:
            problems.append(f"{ram / 1024 ** 3:.2f} GB of RAM at 1280x720 (rule: at most 3.5 GB)")
    report["rule_violations"] = problems
    if problems and not allow_rule_violations:
        raise RuleViolation(f"{os.fspath(display or path)}: " + "; ".join(problems)
                            + " (allow_rule_violations=True / --allow-rule-violations keeps the file)")
    return report
