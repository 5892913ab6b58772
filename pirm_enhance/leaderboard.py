"""Score zoo models in their export variants side by side with submission files, and
re-run the challenge's leaderboards.

This sits above both the exporters and the scorer: a pretrained name or a
``.keras`` file is exported once per requested variant (``pb``, ``tflite``,
``tflite_int8``, ... from :data:`pirm_enhance.formats.VARIANTS`) into a
temporary folder, and every file is then scored in one run by
:func:`pirm_enhance.scoring.score.score`.

:func:`field` is a leaderboard of the challenge report (Track B: Table 2,
:func:`report_track_b`; Track A: Table 1, :func:`report_track`) re-run on this
machine: every team's zoo architecture
timed at 1280x720 with the scorer's runtime protocol, interleaved with the
SRCNN baseline in one process, and scored for fidelity where official weights
exist, next to the report's own numbers (:func:`format_field`,
:func:`plot_field`).
"""

import hashlib
import json
import math
import pathlib
import tempfile

from pirm_enhance.errors import PirmError, UnknownName, UsageError, WeightsUnavailable
from pirm_enhance.formats import FORMATS, VARIANTS, format_of


def available_pretrained(track="B"):
    """``(names, [(name, why), ...])``: the pretrained entries of ``track`` whose files can be
    found (``pretrained.json``'s ``track`` field), and those skipped with the reason."""
    from pirm_enhance import pretrained

    names, skipped = [], []
    for name in pretrained.list_pretrained(track=track):
        try:
            pretrained.resolve(name)
        except WeightsUnavailable as err:
            skipped.append((name, str(err)))
            continue
        names.append(name)
    return names, skipped


def _is_zoo_model(submission):
    fmt = format_of(str(submission))
    return fmt is None or fmt.name == "keras"


def expand(submission, variants, workdir):
    """``[(label, runner or path, export_report)]``: files as they are (paths: the scorer
    loads them in its sandbox); zoo names and .keras files once per requested variant
    (exported into ``workdir``; the exported files are scored as files)."""
    from pirm_enhance.runners import make_runner

    if hasattr(submission, "kind") or not _is_zoo_model(submission):
        return [(str(getattr(submission, "name", submission)), submission, None)]
    from pirm_enhance.exporters import export

    base = make_runner(submission)
    out = []
    for variant in variants:
        fmt_name, quant = VARIANTS[variant]
        if fmt_name == "keras":
            out.append((f"{submission}", base, None))
            continue
        # one folder per submission: two files of the same name (a/m.keras, b/m.keras) must not
        # write each other's variants
        folder = pathlib.Path(workdir) / hashlib.sha256(str(submission).encode()).hexdigest()[:12]
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{pathlib.Path(str(submission)).name.replace('.', '_')}_{variant}{FORMATS[fmt_name].suffix}"
        report = export(base.model, target, format=fmt_name, quantization=quant, allow_rule_violations=True)
        out.append((f"{submission} [{variant}]", target, report))
    return out


def score(submissions, track="B", data_dir=None, mos=None, variants=("keras",), rounds=1, timing=True,
          infinite="exclude", progress=True, measure_ram=True, sandbox=True, memory_limit_gib=None,
          time_limit_s=None):
    """Like :func:`pirm_enhance.scoring.score.score`, with ``variants`` for zoo names and
    ``.keras`` files (``keras``, ``pb``, ``saved_model``, ``tflite``, ``tflite_fp16``,
    ``tflite_dynamic_int8``, ``tflite_int8``, ``onnx``). ``sandbox``, ``memory_limit_gib``
    and ``time_limit_s`` (None: the defaults of :mod:`pirm_enhance.scoring.sandbox`) are
    the limits files are scored under."""
    from pirm_enhance.scoring.sandbox import DEFAULT_MEMORY_LIMIT_GIB, DEFAULT_TIME_LIMIT_S
    from pirm_enhance.scoring.score import score as score_entries
    from pirm_enhance.scoring.validation import data_root

    if isinstance(submissions, (str, pathlib.Path)) or hasattr(submissions, "kind"):
        submissions = [submissions]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise UnknownName(f"unknown variant(s) {unknown}; choose from {', '.join(VARIANTS)}")
    if not variants:
        raise UsageError("name at least one variant")
    data_root(data_dir)  # missing data: say so before exporting anything
    with tempfile.TemporaryDirectory(prefix="pirm_variants_") as workdir:
        entries, failed = [], []
        for sub in submissions:
            try:
                entries += expand(sub, variants, workdir)
            except PirmError as err:  # this submission's variants; the others go on
                failed.append((str(getattr(sub, "name", sub)), err))
        if failed and not entries:
            raise failed[0][1]
        return score_entries(entries, track=track, data_dir=data_dir, mos=mos, rounds=rounds, timing=timing,
                             infinite=infinite, progress=progress, measure_ram=measure_ram, sandbox=sandbox,
                             memory_limit_gib=memory_limit_gib or DEFAULT_MEMORY_LIMIT_GIB,
                             time_limit_s=time_limit_s or DEFAULT_TIME_LIMIT_S, failed=failed)


def _strict(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    return value


def to_json(result):
    """Strict JSON (RFC 8259) of a score result: NaN becomes ``null``, infinities ``"inf"``/``"-inf"``."""
    return json.dumps(_strict(result), indent=1, allow_nan=False)




# ---------------------------------------------------------------------------------------------
# The leaderboards re-run (Track B: Table 2, Track A: Table 1)

REPORT_TRACK_B = pathlib.Path(__file__).resolve().parent / "scoring" / "report_track_b.json"
REPORT_TRACK_A = pathlib.Path(__file__).resolve().parent / "scoring" / "report_track_a.json"
REPORT_TABLES = {"A": "Table 1", "B": "Table 2"}
FIELD_RUNTIMES = ("pb", "keras")
HD_SIZE = (720, 1280)


def report_track_b():
    """The challenge report's Table 2 (Track B final results) as a dict: ``rows`` in the
    report's order (by MOS), each with ``team``, ``arch`` (the zoo architecture),
    ``weights`` (pretrained entries in order of preference), ``psnr``, ``ms_ssim``, ``mos``,
    ``cpu_ms``, ``gpu_ms``, phone times, ``ram_gb`` and the published ``scores``;
    ``baseline_cpu_ms`` is SRCNN's 3274 ms."""
    return report_track("B")


def report_track(track):
    """The report's final results table of ``track`` (``"B"``: :func:`report_track_b`;
    ``"A"``: Table 1, the same fields, ``mos`` null, SRCNN at 3239 ms)."""
    if track not in REPORT_TABLES:
        raise UsageError(f"track {track!r}: choose A (super-resolution) or B (enhancement)")
    path = REPORT_TRACK_A if track == "A" else REPORT_TRACK_B
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        from pirm_enhance.errors import ModelFileError

        raise ModelFileError(f"{path}: missing from this installation (package data); "
                             "reinstall pirm-enhance") from None


def _select(report, models, table="Table 2"):
    """Report rows (and bare rows for zoo architectures the report lacks) for ``models``:
    architecture or team names, case-insensitive; None: every team of the report."""
    from pirm_enhance.registry import list_models

    rows = report["rows"]
    if models is None:
        return [dict(r) for r in rows]
    if isinstance(models, str):
        models = [m.strip() for m in models.split(",") if m.strip()]
    if not models:
        raise UsageError(f"name at least one model (a zoo architecture or a team of {table})")
    by_name = {}
    for r in rows:
        by_name[r["arch"].lower()] = r
        by_name[r["team"].lower()] = r
    zoo = list_models()
    out = []
    for name in models:
        row = by_name.get(str(name).lower())
        if row is None and name in zoo:
            row = {"team": None, "arch": name, "weights": []}
        if row is None:
            raise UnknownName(f"unknown model {name!r}: name a zoo architecture ({', '.join(zoo)}) "
                              f"or a {table} team ({', '.join(r['team'] for r in rows)})")
        if all(row["arch"] != o["arch"] for o in out):
            out.append(dict(row))
    return out


def _weights_for(row, download=True, track="B"):
    """``(pretrained name or None, [(name, why) skipped])``: the first pretrained entry of ``track``
    of the row's architecture that can be found, the report's preference first (the entries
    it names), then any other entry of that architecture and track (e.g. project-trained)."""
    from pirm_enhance import pretrained

    own = pretrained.list_pretrained(arch=row["arch"], track=track)
    order = [w for w in row.get("weights", []) if w in own] + [w for w in own if w not in row.get("weights", [])]
    skipped = []
    for name in order:
        try:
            pretrained.resolve(name, download=download)
        except WeightsUnavailable as err:
            skipped.append((name, str(err).split(";")[0]))
            continue
        return name, skipped
    return None, skipped


def _hd_crops(data_dir, size, track="B"):
    """The scorer's four runtime images of ``track`` (``dped/HD_res`` or ``div2k/HD_res``), centre-cropped to
    ``size`` when it is smaller than 1280x720 (a quick, non-protocol setting)."""
    from pirm_enhance.scoring.score import hd_images

    h, w = size
    images = hd_images(track, data_dir)
    H, W = images[0].shape[1:3]
    if h > H or w > W:
        raise UsageError(f"size {w}x{h} exceeds the runtime images' {W}x{H}")
    top, left = (H - h) // 2, (W - w) // 2
    return [im[:, top:top + h, left:left + w] for im in images]


def _say(progress, text):
    if progress:
        import sys

        print(text, file=sys.stderr, flush=True)


def field(models=None, data_dir=None, rounds=1, size=HD_SIZE, pairs=None, runtime="pb", infinite="exclude",
          fidelity=True, download=True, progress=True, track="B"):
    """A leaderboard of the challenge report re-run here, as a dict: Track B (Table 2) by
    default, ``track="A"`` for Track A (Table 1: DIV2K fidelity with the Track A protocol
    on the first ``pairs`` of the five images, runtime on ``div2k/HD_res``, SRCNN 3239 ms,
    Score A/B/C with MS-SSIM as published, since Table 1 has no MOS).

    One row per team (``models``: architectures or team names; None: all of the table, the
    baselines included): the team's zoo architecture is timed with the scorer's runtime
    protocol (:func:`pirm_enhance.scoring.runtime.hd_runtime`: four ``dped/HD_res``
    images one by one, the mean of images 3 and 4, median over ``rounds``), interleaved
    in one process with the SRCNN baseline graph (:func:`pirm_enhance.scoring.score.baseline_runner`).
    Timing does not depend on the weights' values, so architectures without official weights
    run with random ones, none left at a constant (:func:`pirm_enhance.zoo.timing_model`).
    ``runtime="pb"`` (default) times each model as a frozen graph in a TF1 session, as the
    organisers ran submissions and as the baseline runs; ``"keras"`` times the Keras
    model's ``tf.function``.

    Fidelity (PSNR / MS-SSIM with the organisers' protocol on the first ``pairs`` of the
    400 validation pairs, all when None) is measured only where a pretrained entry of the track
    of the architecture can be found (:func:`_weights_for`); other rows say
    ``"random weights, not scored"``. ``size`` (height, width) other than 720x1280 crops
    the runtime images (quick checks; not the protocol).

    Each row carries the report's columns (``report``: PSNR, MS-SSIM, MOS, CPU ms,
    ``speed_vs_srcnn`` = 3274 / CPU ms, published Score A/B/C) and
    ``scores_our_time``: Score A/B/C from the report's PSNR and MOS (Track A: MS-SSIM) with our time ratio
    (what the table would read with today's CPU times). Note that the report's PSNR is
    on the final test images, ours on the validation pairs.
    """
    from pirm_enhance.graphs import frozen_graph_def
    from pirm_enhance.runners import FrozenGraphRunner, KerasRunner
    from pirm_enhance.scoring.challenge import challenge_scores
    from pirm_enhance.scoring.runtime import hd_runtime
    from pirm_enhance.scoring.score import baseline_runner, track_fidelity, track_items
    from pirm_enhance.scoring.validation import data_root
    from pirm_enhance.zoo import load_model, timing_model

    if runtime not in FIELD_RUNTIMES:
        raise UnknownName(f"unknown runtime {runtime!r}; choose from {', '.join(FIELD_RUNTIMES)}")
    size = tuple(int(v) for v in size)
    if len(size) != 2 or min(size) < 1:
        raise UsageError(f"size must be (height, width) >= 1, got {size}")
    report = report_track(track)
    rows = _select(report, models, REPORT_TABLES[track])
    root = data_root(data_dir)
    images = _hd_crops(root, size, track)  # missing data: said before anything runs
    pairs_all = track_items(track, root) if fidelity else []
    items = pairs_all[:pairs] if pairs is not None else pairs_all
    runners = {}
    for row in rows:
        arch = row["arch"]
        weights, skipped = _weights_for(row, download, track) if fidelity else (None, [])
        if weights is not None:
            model = load_model(weights)
        else:  # random weights, none at a constant (a frozen graph would drop ops)
            model = timing_model(arch)
        runner = (FrozenGraphRunner(frozen_graph_def(model), name=arch) if runtime == "pb"
                  else KerasRunner(model, name=arch))
        runners[arch] = runner
        out = {"team": row.get("team"), "arch": arch, "weights": weights,
               "fidelity": "official weights" if weights else "random weights, not scored",
               "params": int(model.count_params())}
        if skipped:
            out["weights_skipped"] = [f"{n}: {why}" for n, why in skipped]
        if weights is not None:
            _say(progress, f"{arch}: fidelity with {weights} on {len(items)} validation "
                           f"{'pairs' if track == 'B' else 'images'}")
            fid = track_fidelity(runner, track, root, infinite=infinite, progress=progress, label=arch,
                                 items=items)
            out.update(psnr=fid["psnr"], ms_ssim=fid["ms_ssim"], pairs=fid["count"],
                       infinite_note=fid["infinite_note"])
            if fid["nonfinite_images"]:
                out["nonfinite_note"] = fid["nonfinite_note"]
        else:
            out.update(psnr=None, ms_ssim=None)
        if row.get("team") is not None:
            out["report"] = {k: row.get(k) for k in ("psnr", "ms_ssim", "mos", "cpu_ms", "gpu_ms",
                                                     "razer_phone_ms", "huawei_p20_ms", "ram_gb", "scores")}
            out["report"]["speed_vs_srcnn"] = report["baseline_cpu_ms"] / row["cpu_ms"]
        else:
            out["report"] = None
        row.clear()
        row.update(out)
    baseline = baseline_runner(track)
    for runner in [baseline, *runners.values()]:
        runner(images[0])  # build sessions / trace at this size before the protocol's own warm-up
    _say(progress, f"timing {len(runners)} model(s) and the SRCNN baseline at {size[1]}x{size[0]}, "
                   f"{rounds} round(s)")
    times = hd_runtime({"__baseline__": baseline, **runners}, images, rounds=rounds,
                       progress=progress and size == HD_SIZE)  # its progress label names 1280x720
    base = times.pop("__baseline__")
    for row in rows:
        t = times[row["arch"]]
        row.update(time_ms=t["time_ms"], rounds_ms=t["rounds_ms"],
                   speed_vs_srcnn=base["time_ms"] / t["time_ms"])
        rep = row["report"]
        if rep is not None:
            if track == "B":  # the final ranking's form: PSNR and MOS
                row["scores_our_time"] = challenge_scores(rep["psnr"], rep["mos"], t["time_ms"], base["time_ms"],
                                                          perceptual_kind="mos")
                if row["psnr"] is not None:
                    row["scores_our_psnr_and_time"] = challenge_scores(row["psnr"], rep["mos"], t["time_ms"],
                                                                       base["time_ms"], perceptual_kind="mos")
            else:  # Table 1: PSNR and MS-SSIM
                row["scores_our_time"] = challenge_scores(rep["psnr"], rep["ms_ssim"], t["time_ms"],
                                                          base["time_ms"], track="A", perceptual_kind="ms_ssim")
                if row["psnr"] is not None:
                    row["scores_our_psnr_and_time"] = challenge_scores(
                        row["psnr"], row["ms_ssim"], t["time_ms"], base["time_ms"], track="A",
                        perceptual_kind="ms_ssim")
    return {"track": track, "size": list(size), "protocol": size == HD_SIZE, "rounds": rounds,
            "runtime": runtime, "pairs": len(items) if fidelity else 0, "infinite": infinite,
            "baseline": {"name": "srcnn", "weights": baseline.weights, "time_ms": base["time_ms"],
                         "rounds_ms": base["rounds_ms"]},
            "report": {"source": report["source"], "baseline_cpu_ms": report["baseline_cpu_ms"],
                       "notes": report["notes"]},
            "rows": rows}


def format_cell(value, spec, width):
    """``value`` formatted with ``spec``, right-aligned in ``width``; ``-`` for none or non-finite."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return f"{'-':>{width}s}"
    return format(value, spec).rjust(width)


def pyplot():
    """matplotlib's pyplot on the Agg backend; one-line :class:`UsageError` without it."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError("the plot needs matplotlib: pip install 'pirm-enhance[bench]' "
                         "(or pip install matplotlib)") from None
    return plt


def save_figure(fig, path):
    """Write a matplotlib figure as a PNG at ``path`` atomically (tight layout), close it."""
    import io

    from pirm_enhance.data.io import write_atomic

    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    pyplot().close(fig)
    path = pathlib.Path(path)
    write_atomic(path, buffer.getvalue())
    return path


def format_field(result):
    """:func:`field`'s result as a fixed-width table: the report's columns, then ours."""
    h, w = result["size"]
    base = result["baseline"]
    lines = [
        f"Track {result['track']} leaderboard re-run: {w}x{h}{'' if result['protocol'] else ' (cropped; not the protocol)'}, "
        f"{result['runtime']} runtime, median of {result['rounds']} round(s); SRCNN baseline "
        f"{base['time_ms']:.0f} ms here ({base['weights']}), {result['report']['baseline_cpu_ms']} ms in the "
        "report",
        f"report: PSNR / MS-SSIM on the final test images, Score A/B/C as published; ours: PSNR / MS-SSIM "
        f"on {result['pairs']} validation {'pairs' if result['track'] == 'B' else 'DIV2K images'} (pretrained "
        f"weights only), A/B/C = the report's PSNR and {'MOS' if result['track'] == 'B' else 'MS-SSIM'} "
        "with our time ratio",
        f"{'team':17s} {'arch':18s} | {'PSNR':>6s} {'MS-SSIM':>7s} {'MOS':>6s} {'CPU ms':>6s} {'ratio':>5s} "
        f"{'A':>6s} {'B':>6s} {'C':>6s} | {'ms':>8s} {'ratio':>6s} {'PSNR':>7s} {'MS-SSIM':>7s} "
        f"{'A':>6s} {'B':>6s} {'C':>6s}  weights"]
    for r in result["rows"]:
        rep = r["report"] or {}
        s = rep.get("scores") or {}
        o = r.get("scores_our_time") or {}
        c = format_cell
        abc = (lambda d: " ".join(c(d.get(k), ".2f", 6) for k in "ABC"))
        lines.append(
            f"{(r['team'] or '-')[:17]:17s} {r['arch'][:18]:18s} | {c(rep.get('psnr'), '.2f', 6)} "
            f"{c(rep.get('ms_ssim'), '.4f', 7)} {c(rep.get('mos'), '.4f', 6)} "
            f"{c(rep.get('cpu_ms'), 'd', 6)} {c(rep.get('speed_vs_srcnn'), '.2f', 5)} {abc(s)} | "
            f"{c(r['time_ms'], '.1f', 8)} {c(r['speed_vs_srcnn'], '.2f', 6)} "
            f"{c(r['psnr'], '.3f', 7)} {c(r['ms_ssim'], '.4f', 7)} {abc(o)}  "
            f"{r['weights'] or r['fidelity']}")
    notes = sorted({r.get("infinite_note") for r in result["rows"]} - {None, "none"})
    if notes:
        lines.append("PSNR: " + "; ".join(notes))
    for r in result["rows"]:
        if r.get("nonfinite_note"):
            lines.append(f"non-finite output: {r['arch']}: {r['nonfinite_note']}")
    return "\n".join(lines)


def plot_field(result, path):
    """Time ratio SRCNN / model (x, log) versus PSNR (y) as a PNG: the report's points (test
    images, SRCNN's CPU ms / the team's) and ours (validation data, our ratio; only rows with
    weights), each labelled with its team, a line from the report's point to ours."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8.5, 6), dpi=110)
    rep_pts = [(r["report"]["speed_vs_srcnn"], r["report"]["psnr"], r) for r in result["rows"] if r["report"]]
    our_pts = [(r["speed_vs_srcnn"], r["psnr"], r) for r in result["rows"]
               if r["psnr"] is not None and math.isfinite(r["psnr"])]
    if rep_pts:
        ax.scatter([x for x, _, _ in rep_pts], [y for _, y, _ in rep_pts], marker="o", color="tab:blue",
                   s=40, label=f"report ({REPORT_TABLES[result['track']]}: test images, "
                                f"{result['report']['baseline_cpu_ms']} ms / CPU ms)")
    if our_pts:
        ax.scatter([x for x, _, _ in our_pts], [y for _, y, _ in our_pts], marker="s", color="tab:orange",
                   s=40, label="ours (validation data, pretrained weights; our time ratio)")
    for x, y, r in rep_pts:
        ax.annotate(r["team"], (x, y), xytext=(4, 3), textcoords="offset points", fontsize=7, color="tab:blue")
    for x, y, r in our_pts:
        ax.annotate(r["team"] or r["arch"], (x, y), xytext=(4, -9), textcoords="offset points", fontsize=7,
                    color="tab:orange")
        if r["report"]:
            ax.plot([r["report"]["speed_vs_srcnn"], x], [r["report"]["psnr"], y], color="grey", lw=0.6, ls=":")
    ours_no_fidelity = [r for r in result["rows"] if r["psnr"] is None]
    for r in ours_no_fidelity:  # our time ratio without a PSNR: a labelled vertical line
        ax.axvline(r["speed_vs_srcnn"], color="tab:orange", lw=0.6, alpha=0.5)
        ax.annotate(r["team"] or r["arch"], (r["speed_vs_srcnn"], 1.0), xycoords=("data", "axes fraction"),
                    xytext=(2, -4), textcoords="offset points", rotation=90, va="top", fontsize=6,
                    color="tab:orange", alpha=0.8)
    if ours_no_fidelity:
        ax.plot([], [], color="tab:orange", lw=0.6, alpha=0.6, label="our time ratio, random weights (no PSNR)")
    ax.set_xscale("log")
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    xs = [x for x, _, _ in rep_pts] + [r["speed_vs_srcnn"] for r in result["rows"]] + [1.0, 4.0]
    lo, hi = min(xs) / 1.25, max(xs) * 1.25
    ax.set_xlim(lo, hi)
    ax.xaxis.set_major_locator(FixedLocator([2.0 ** k for k in range(-8, 9) if lo <= 2.0 ** k <= hi]))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}x"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.axvline(1.0, color="grey", lw=0.8, ls="--")
    ax.axvline(4.0, color="grey", lw=0.8, ls="-.", label="speed term cap (4x)")
    h, w = result["size"]
    ax.set_xlabel(f"time ratio SRCNN / model at {w}x{h} (log; right is faster)")
    ax.set_ylabel("PSNR (dB)")
    ax.set_title(f"PIRM 2018 Track {result['track']}: the report's leaderboard and this re-run")
    ax.legend(fontsize=7, loc="best")
    ax.grid(True, which="both", alpha=0.3)
    return save_figure(fig, path)


__all__ = ["available_pretrained", "expand", "field", "format_field", "plot_field", "report_track_b", "score",
           "to_json"]
