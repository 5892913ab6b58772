"""``score``: a submission (or several) through the organisers' whole protocol.

Fidelity on the validation data of the track, CPU runtime and RAM at 1280x720
interleaved with the project's own SRCNN baseline graph in the same process,
and Score A/B/C.
"""

import pathlib
import tempfile

from pirm_enhance.data.io import read_float
from pirm_enhance.runners import FrozenGraphRunner, make_runner
from pirm_enhance.scoring.challenge import challenge_scores
from pirm_enhance.scoring.runtime import hd_runtime
from pirm_enhance.scoring.validation import DataMissing, data_root, fidelity, track_b_pairs

# ways to run a zoo model or .keras file: (format, quantization, suffix)
VARIANTS = {
    "keras": None,
    "pb": ("pb", "float32", ".pb"),
    "saved_model": ("saved_model", "float32", ""),
    "tflite": ("tflite", "float32", ".tflite"),
    "tflite_fp16": ("tflite", "float16", ".tflite"),
    "tflite_dynamic_int8": ("tflite", "dynamic_int8", ".tflite"),
    "tflite_int8": ("tflite", "int8", ".tflite"),
    "onnx": ("onnx", "float32", ".onnx"),
}
BASELINE_WEIGHTS = {"A": "srcnn.pirm_div2k", "B": "srcnn.pirm"}


def baseline_runner(track="B"):
    """The SRCNN baseline as a frozen graph, with official weights when they can be had."""
    from pirm_enhance import build_model, load_model
    from pirm_enhance.exporters import frozen_graph_def
    from pirm_enhance.pretrained import WeightsUnavailable

    try:
        model, weights = load_model(BASELINE_WEIGHTS[track]), "official weights"
    except WeightsUnavailable:
        model, weights = build_model("srcnn"), "random weights (timing does not depend on them)"
    runner = FrozenGraphRunner(frozen_graph_def(model), name="srcnn baseline")
    runner.weights = weights
    return runner


def hd_files(track="B", data_dir=None):
    folder = data_root(data_dir) / ("dped" if track == "B" else "div2k") / "HD_res"
    files = [folder / f"{i}.png" for i in range(4)]
    missing = [str(f) for f in files if not f.exists()]
    if missing:
        raise DataMissing(f"the runtime protocol needs {folder}/0..3.png; missing {missing}")
    return files


def hd_images(track="B", data_dir=None):
    return [read_float(f)[None] for f in hd_files(track, data_dir)]


def ram_of(runners, image_path, workdir):
    """Peak RSS growth of each runner on one HD image, each in a fresh process."""
    from pirm_enhance.scoring.ram_probe import in_subprocess

    out = {}
    for key, runner in runners.items():
        path = getattr(runner, "source", None)
        if path is None or not pathlib.Path(path).exists():
            path = None
            if hasattr(runner, "model"):
                path = pathlib.Path(workdir) / f"ram_{key.strip('_')}.keras"
                runner.model.save(path)
            elif isinstance(runner, FrozenGraphRunner):
                path = pathlib.Path(workdir) / f"ram_{key.strip('_')}.pb"
                path.write_bytes(runner.graph.as_graph_def().SerializeToString())
        out[key] = in_subprocess(path, image_path) if path is not None else None
    return out


def expand(submission, variants, workdir):
    """``[(label, runner, export_report)]``: files run as they are; zoo names and .keras
    files once per requested variant (exported into ``workdir``)."""
    path = pathlib.Path(str(submission))
    is_file = path.exists() and not str(submission).endswith(".keras")
    if is_file:
        return [(str(submission), make_runner(submission), None)]
    from pirm_enhance.exporters import export
    base = make_runner(submission)
    out = []
    for variant in variants:
        if variant == "keras":
            out.append((f"{submission}", base, None))
            continue
        fmt, quant, suffix = VARIANTS[variant]
        target = pathlib.Path(workdir) / f"{path.name.replace('.', '_')}_{variant}{suffix}"
        report = export(base.model, target, format=fmt, quantization=quant,
                        allow_rule_violations=True)
        out.append((f"{submission} [{variant}]", make_runner(target), report))
    return out


def score(submissions, track="B", data_dir=None, mos=None, variants=("keras",), rounds=1,
          timing=True, infinite="exclude", progress=True, measure_ram=True):
    """Score one or several submissions in one run; returns a dict with one row each.

    ``submissions``: paths (``.pb``, SavedModel folder, ``.tflite``, ``.onnx``,
    ``.keras``), pretrained names or runners. ``variants`` applies to zoo names
    and ``.keras`` files (``keras``, ``pb``, ``tflite``, ``tflite_int8``, ...).
    ``mos``: the mean opinion score of the (single) submission, which switches
    the perceptual term to the final Track B ranking's MOS form. RAM (peak RSS
    growth on one HD image) is measured for each model in a fresh process.
    """
    if isinstance(submissions, (str, pathlib.Path)) or hasattr(submissions, "kind"):
        submissions = [submissions]
    if mos is not None and (len(submissions) != 1 or track != "B"):
        raise ValueError("mos applies to one Track B submission")
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        raise ValueError(f"unknown variant(s) {unknown}; choose from {sorted(VARIANTS)}")
    root = data_root(data_dir)
    if track == "B":
        pairs = track_b_pairs(root)
    else:
        from pirm_enhance.scoring.track_a import track_a_images

        files = track_a_images(root)
    images = hd_images(track, root) if timing else None
    with tempfile.TemporaryDirectory(prefix="pirm_score_") as workdir:
        entries = []
        for sub in submissions:
            entries.extend(expand(sub, variants, workdir))
        rows = []
        for label, runner, report in entries:
            if track == "B":
                fid = fidelity(runner, pairs, infinite=infinite, progress=progress, label=f"fidelity {label}")
            else:
                from pirm_enhance.scoring.track_a import fidelity_a

                fid = fidelity_a(runner, files, progress=progress)
            row = {"submission": label, "kind": runner.kind, **fid}
            if report:
                row["export_max_abs_diff"] = report.get("max_abs_diff")
            rows.append(row)
        result = {"track": track, "perceptual": "mos" if mos is not None else "ms_ssim", "rows": rows}
        if timing:
            baseline = baseline_runner(track)
            runners = {"__baseline__": baseline}
            runners.update({f"{i}": r for i, (_, r, _) in enumerate(entries)})
            times = hd_runtime(runners, images, rounds=rounds, progress=progress)
            ram = ram_of(runners, hd_files(track, root)[0], workdir) if measure_ram else {}
            base = times.pop("__baseline__")
            result["baseline"] = {"name": "srcnn", "weights": baseline.weights, **base,
                                  "ram_bytes": ram.get("__baseline__")}
            for i, row in enumerate(rows):
                t = times[str(i)]
                row.update(time_ms=t["time_ms"], ram_bytes=ram.get(str(i)),
                           speed_vs_srcnn=base["time_ms"] / t["time_ms"])
                perceptual, kind = (mos, "mos") if mos is not None else (row["ms_ssim"], "ms_ssim")
                row["scores"] = challenge_scores(row["psnr"], perceptual, t["time_ms"], base["time_ms"],
                                                 track=track, perceptual_kind=kind)
    return result


def format_table(result):
    """A readable fixed-width table of :func:`score`'s result."""
    lines = []
    base = result.get("baseline")
    if base:
        lines.append(f"Track {result['track']}; runtime baseline: SRCNN frozen graph ({base['weights']}), "
                     f"{base['time_ms']:.0f} ms at 1280x720; perceptual term: {result['perceptual']}")
    head = f"{'submission':42s} {'kind':11s} {'PSNR':>8s} {'MS-SSIM':>8s}"
    if base:
        head += f" {'ms':>8s} {'xSRCNN':>7s} {'RAM MB':>7s} {'A':>7s} {'B':>7s} {'C':>7s}"
    lines.append(head)
    for row in result["rows"]:
        line = f"{row['submission'][:42]:42s} {row['kind']:11s} {row['psnr']:8.4f} {row['ms_ssim']:8.5f}"
        if base:
            ram = row["ram_bytes"]
            s = row["scores"]
            line += (f" {row['time_ms']:8.0f} {row['speed_vs_srcnn']:7.2f} "
                     f"{(ram / 2**20 if ram is not None else float('nan')):7.0f} "
                     f"{s['A']:7.2f} {s['B']:7.2f} {s['C']:7.2f}")
        lines.append(line)
    notes = sorted({row.get("infinite_note") for row in result["rows"]} - {None, "none"})
    if notes:
        lines.append("PSNR: " + "; ".join(notes))
    return "\n".join(lines)


__all__ = ["VARIANTS", "baseline_runner", "format_table", "score"]
