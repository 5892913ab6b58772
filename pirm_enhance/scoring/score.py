"""``score``: a submission (or several) through the organisers' whole protocol.

Fidelity on the validation data of the track, CPU runtime and RAM at 1280x720
interleaved with the project's own SRCNN baseline graph in the same process,
and Score A/B/C. Submission files (``.pb``, SavedModel, ``.tflite``,
``.onnx``) are scored in a child process with memory and time limits
(:mod:`pirm_enhance.scoring.sandbox`), their runtime interleaved with the
child's own baseline; runners and Keras models given as Python objects are
scored in this process.
"""

import pathlib
import statistics
import tempfile

from pirm_enhance.data.io import read_float
from pirm_enhance.errors import PirmError, UsageError
from pirm_enhance.runners import FrozenGraphRunner, make_runner
from pirm_enhance.scoring.challenge import challenge_scores
from pirm_enhance.scoring.runtime import hd_runtime
from pirm_enhance.scoring.sandbox import (DEFAULT_MEMORY_LIMIT_GIB, DEFAULT_TIME_LIMIT_S, is_sandboxed,
                                           preflight, score_file)
from pirm_enhance.scoring.validation import DataMissing, data_root, fidelity, track_b_pairs

BASELINE_WEIGHTS = {"A": "srcnn.pirm_div2k", "B": "srcnn.pirm"}


def baseline_runner(track="B"):
    """The SRCNN baseline as a frozen graph, with official weights when they can be had."""
    from pirm_enhance import build_model, load_model
    from pirm_enhance.graphs import frozen_graph_def
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
    from pirm_enhance.memory import in_subprocess

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


def score(submissions, track="B", data_dir=None, mos=None, rounds=1, timing=True, infinite="exclude",
          progress=True, measure_ram=True, sandbox=True, memory_limit_gib=DEFAULT_MEMORY_LIMIT_GIB,
          time_limit_s=DEFAULT_TIME_LIMIT_S, failed=None):
    """Score one or several submissions in one run; returns a dict with one row each.

    A submission that is refused or fails (a :class:`~pirm_enhance.errors.PirmError`: an unsafe
    graph, a broken rule, a model failing while running) does not stop the others: it is
    listed under ``"failed"`` (``submission``, ``error``, ``exit_code``) and the rest are
    scored and timed; where every submission fails, the first error is raised. ``failed``:
    ``[(label, error)]`` the caller already met (a variant that could not be exported).

    ``submissions``: runners, or ``(label, runner or path, export_report)`` triples, or
    anything :func:`pirm_enhance.runners.make_runner` takes (paths of any
    format, pretrained names). To score zoo models in several export variants
    (``pb``, ``tflite_int8``, ...) use :func:`pirm_enhance.leaderboard.score`.
    ``mos``: the mean opinion score of the (single) submission, which switches
    the perceptual term to the final Track B ranking's MOS form. RAM (peak RSS
    growth on one HD image) is measured for each model in a fresh process.

    ``sandbox`` (default): files are loaded and run only in a child process limited
    to ``memory_limit_gib`` GiB of memory (``RLIMIT_DATA``) and ``time_limit_s`` seconds
    (:func:`pirm_enhance.scoring.sandbox.score_file`); each such row's speed is
    against the SRCNN baseline run in its own process (``baseline_time_ms``).
    ``sandbox=False`` loads files here, for files you trust.
    """
    if isinstance(submissions, (str, pathlib.Path)) or hasattr(submissions, "kind"):
        submissions = [submissions]
    if mos is not None and (len(submissions) != 1 or track != "B"):
        raise UsageError("mos applies to one Track B submission")
    root = data_root(data_dir)
    items = track_items(track, root)  # missing data: said before anything runs
    hd = hd_files(track, root) if timing else None
    entries, failed = [], list(failed or [])
    for sub in submissions:
        label, target, report = sub if isinstance(sub, tuple) else (str(getattr(sub, "name", sub)), sub, None)
        boxed = sandbox and is_sandboxed(target)
        try:
            if boxed:
                preflight(target)  # static checks of every file before any long run
            entries.append((label, target if boxed else make_runner(target), report, boxed))
        except PirmError as err:  # this submission; the others go on
            failed.append((label, err))
    with tempfile.TemporaryDirectory(prefix="pirm_score_") as workdir:
        rows, children, scored = [], {}, []
        for label, runner, report, boxed in entries:
            try:
                if boxed:
                    out = score_file(runner, label=label, track=track, data_dir=root, infinite=infinite,
                                     timing=timing, rounds=rounds, measure_ram=measure_ram, progress=progress,
                                     memory_limit_gib=memory_limit_gib, time_limit_s=time_limit_s)
                    kind, fid = out["kind"], out["fidelity"]
                else:
                    kind = runner.kind
                    fid = track_fidelity(runner, track, root, infinite=infinite, progress=progress, label=label,
                                         items=items)
            except PirmError as err:
                failed.append((label, err))
                continue
            if boxed:
                children[len(rows)] = out
            scored.append((label, runner, report, boxed))
            row = {"submission": label, "kind": kind, **fid}
            precision = out.get("precision") if boxed else getattr(runner, "precision", None)
            if precision:  # a TFLite file's arithmetic: fp16 where the file allows it and LiteRT can
                row["precision"] = precision
            if report:
                row["export_max_abs_diff"] = report.get("max_abs_diff")
            if boxed:
                row["sandbox"] = out["sandbox"]
            rows.append(row)
        if failed and not rows:
            raise failed[0][1]  # nothing scored: the one-line error of the first, with its exit code
        entries = scored  # the timing below runs what was scored, row for row
        result = {"track": track, "perceptual": "mos" if mos is not None else "ms_ssim", "rows": rows}
        if failed:
            result["failed"] = [{"submission": label, "error": str(err), "exit_code": int(err.exit_code)}
                                for label, err in failed]
        if timing:
            baseline = baseline_runner(track)
            here = {f"{i}": r for i, (_, r, _, boxed) in enumerate(entries) if not boxed}
            times, runs = {}, []
            if here:
                times = hd_runtime({"__baseline__": baseline, **here}, [read_float(f)[None] for f in hd],
                                   rounds=rounds, progress=progress)
                runs.append(times.pop("__baseline__"))
            runs += [children[i]["baseline"] for i in sorted(children)]
            ram = ram_of({"__baseline__": baseline, **here}, hd[0], workdir) if measure_ram else {}
            result["baseline"] = {"name": "srcnn", "weights": baseline.weights,
                                  "time_ms": statistics.median(run["time_ms"] for run in runs),
                                  "rounds_ms": [ms for run in runs for ms in run["rounds_ms"]],
                                  "processes": len(runs), "ram_bytes": ram.get("__baseline__")}
            for i, row in enumerate(rows):
                if i in children:
                    t, base_ms, ram_i = children[i]["time"], children[i]["baseline"]["time_ms"], children[i]["ram_bytes"]
                else:
                    t, base_ms, ram_i = times[str(i)], runs[0]["time_ms"], ram.get(str(i))
                row.update(time_ms=t["time_ms"], ram_bytes=ram_i, baseline_time_ms=base_ms,
                           speed_vs_srcnn=base_ms / t["time_ms"])
                perceptual, kind = (mos, "mos") if mos is not None else (row["ms_ssim"], "ms_ssim")
                row["scores"] = challenge_scores(row["psnr"], perceptual, t["time_ms"], base_ms,
                                                 track=track, perceptual_kind=kind)
    return result


def track_items(track, root):
    """The validation items of a track: Track B phone/target pairs, Track A DIV2K files."""
    if track == "B":
        return track_b_pairs(root)
    from pirm_enhance.scoring.track_a import track_a_images

    return track_a_images(root)


def track_fidelity(runner, track, root, infinite="exclude", progress=True, label="", items=None):
    """The organisers' fidelity of ``runner`` on the track's validation data under ``root``."""
    items = track_items(track, root) if items is None else items
    if track == "B":
        return fidelity(runner, items, infinite=infinite, progress=progress, label=f"fidelity {label}")
    from pirm_enhance.scoring.track_a import fidelity_a

    return fidelity_a(runner, items, progress=progress)


def format_table(result):
    """A readable fixed-width table of :func:`score`'s result."""
    lines = []
    base = result.get("baseline")
    if base:
        where = (f" (median of {base['processes']} scoring processes; each row's speed is against the "
                 "baseline run in its own process)") if base.get("processes", 1) > 1 else ""
        lines.append(f"Track {result['track']}; runtime baseline: SRCNN frozen graph ({base['weights']}), "
                     f"{base['time_ms']:.0f} ms at 1280x720{where}; perceptual term: {result['perceptual']}")
    head = f"{'submission':42s} {'kind':11s} {'PSNR':>8s} {'MS-SSIM':>8s}"
    if base:
        head += f" {'ms':>8s} {'xSRCNN':>7s} {'RAM MB':>7s} {'A':>7s} {'B':>7s} {'C':>7s}"
    lines.append(head)
    for row in result["rows"]:
        kind = f"{row['kind']} fp16" if row.get("precision") == "fp16" else row["kind"]
        line = f"{row['submission'][:42]:42s} {kind:11s} {row['psnr']:8.4f} {row['ms_ssim']:8.5f}"
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
    for row in result["rows"]:
        if row.get("nonfinite_images"):
            lines.append(f"non-finite output: {row['submission']}: {row['nonfinite_note']}")
    for fail in result.get("failed", []):
        said = fail["error"]  # the runners' errors start with the file's name; the others get it
        if not said.startswith(fail["submission"]):
            said = f"{fail['submission']}: {said}"
        lines.append(f"not scored: {said}")
    return "\n".join(lines)


__all__ = ["baseline_runner", "format_table", "score", "track_fidelity"]
