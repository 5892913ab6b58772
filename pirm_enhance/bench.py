"""pirm-bench: every zoo model in every runtime, timed side by side with the organisers' SRCNN.

For each model (a zoo architecture with random weights, a pretrained name, or
a ``.keras`` file) and each runtime (:data:`RUNTIMES`: Keras ``tf.function``,
frozen ``.pb``, SavedModel, TFLite fp32 / fp16 / fp16 inference / 16x8 / int8, ONNX
Runtime),
the model is exported once into a work folder and then every file is timed at
1280x720 in one process, interleaved with the SRCNN baseline graph (the
organisers' weights when they can be found; timing does not depend on them):
every runner once per round, the order rotated, the median of the rounds kept,
so that machine noise hits all alike (the protocol of ``pirm-score``).

Reported per row: median ms, ratio to SRCNN in the same run, the model's
GFLOPs at that size (TensorFlow's profiler on the frozen graph: 2 x multiply-
adds), achieved GFLOP/s, and the PSNR change of the variant against the Keras
float model on the first ``pairs`` PIRM validation pairs (evaluation only; on
synthetic photos against the float output when the data is not there).
``rss=True`` adds the peak resident memory of one 1280x720 image in a fresh
process (:func:`pirm_enhance.memory.in_subprocess`); ``photo_12mp=True`` adds
``pe.enhance`` on a 4000x3000 photo (tiled) and its overhead over 13.0x the
720p time of the same runtime.
"""

import math
import pathlib
import statistics
import sys
import tempfile
import time

import numpy as np

from pirm_enhance.errors import UnknownName

# runtime name -> (format, quantization); "keras" runs the model itself
RUNTIMES = {
    "keras": ("keras", "float32"),
    "pb": ("pb", "float32"),
    "saved_model": ("saved_model", "float32"),
    "tflite": ("tflite", "float32"),
    "tflite_fixed": ("tflite", "float32"),
    "tflite_fixed_kept": ("tflite", "float32"),
    "tflite_fp16": ("tflite", "float16"),
    "tflite_fp16_inference": ("tflite", "float16_inference"),
    "tflite_fixed_fp16_inference": ("tflite", "float16_inference"),
    "tflite_16x8": ("tflite", "int16x8"),
    "tflite_int8": ("tflite", "int8"),
    "onnx": ("onnx", "float32"),
}
# exported with the timing size fixed (``--input-size``): what a phone app ships
FIXED_SIZE_RUNTIMES = ("tflite_fixed", "tflite_fixed_kept", "tflite_fixed_fp16_inference")
# run with XNNPACK's indirection buffers kept however large (``TFLiteRunner(low_memory=False)``):
# faster than the transient ones that the runner's default takes above its limit, for more memory
KEPT_BUFFER_RUNTIMES = ("tflite_fixed_kept",)
DEFAULT_RUNTIMES = ("keras", "pb", "tflite", "tflite_fixed")
PHOTO_12MP = (3000, 4000)  # height, width of the photo of ``photo_12mp``
PROFILE_ROWS = 12  # nodes of each per-op profile that the table shows


def gflops(model, height=720, width=1280):
    """Floating-point operations (GFLOP, 2 per multiply-add) of one ``height x width``
    forward pass, counted by TensorFlow's profiler on the frozen graph."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    spec = tf.TensorSpec([1, height, width, 3], tf.float32)
    func = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)
    graph = convert_variables_to_constants_v2(func).graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    profile = tf.compat.v1.profiler.profile(graph=graph, options=options)
    return profile.total_float_ops / 1e9


# graph ops whose multiply-adds are pixels x kernel elements (output pixels; input pixels
# for the transposed convolution)
_CONV_OPS = ("Conv2D", "DepthwiseConv2dNative", "Conv2DBackpropInput")


def _fused_convolution(op, kernel):
    """The convolution behind graph node ``op``: itself, or for a kernel that fused one
    (oneDNN names a fused node after its last op: ``.../Relu``, ``.../BiasAdd``) the
    convolution its first inputs lead back to; ``None`` for anything else."""
    if op is None or "Conv" not in kernel:
        return None
    for _ in range(4):  # convolution -> bias add -> (add) -> activation
        if op.type in _CONV_OPS:
            return op
        if not op.inputs:
            return None
        op = op.inputs[0].op
    return None


def op_profile(runner, image, runs=3):
    """Where a frozen graph's time goes: ``{"total_ms", "by_type", "nodes"}`` from
    TensorFlow's step statistics of ``runs`` traced runs of ``runner`` (a
    :class:`~pirm_enhance.runners.FrozenGraphRunner`, the ``pb`` runtime) on ``image``.

    ``nodes``: one row per graph node, largest median time first, with ``op`` the kernel
    it ran as after TensorFlow's rewrites (``_MklNativeFusedConv2D`` for a convolution
    that took its bias and activation along, ``LeakyRelu`` for one left apart), its first
    output's shape and, for convolutions (transposed and depthwise included), ``gflop``
    (2 x multiply-adds: output pixels x kernel elements) and ``gflop_per_s``.
    ``by_type``: milliseconds per kernel, summed. Tracing adds a little per node, so the
    total can exceed an untraced run."""
    if not hasattr(runner, "node_stats"):
        raise TypeError(f"op_profile needs a frozen-graph runner, got {type(runner).__name__}")
    runner.session.run(runner.output, {runner.input: image})  # warm-up: grappler and oneDNN set up at this size
    times, kernels, shapes = {}, {}, {}
    for _ in range(runs):
        for node in runner.node_stats(image):
            label = node.timeline_label
            if " = " not in label:
                continue
            kernels[node.node_name] = label.split(" = ", 1)[1].split("(", 1)[0].strip()
            times.setdefault(node.node_name, []).append(node.all_end_rel_micros / 1000)
            if node.output and node.node_name not in shapes:
                dims = node.output[0].tensor_description.shape.dim
                shapes[node.node_name] = [int(d.size) for d in dims]
    ops = {op.name: op for op in runner.graph.get_operations()}
    rows = []
    for name, values in times.items():
        ms = statistics.median(values)
        row = {"node": name, "op": kernels[name], "ms": ms, "shape": shapes.get(name)}
        op = _fused_convolution(ops.get(name), row["op"])
        if op is not None and row["shape"] and len(row["shape"]) == 4:
            kernel = op.inputs[1].shape
            if kernel.is_fully_defined():
                pixels = row["shape"][1] * row["shape"][2]
                if op.type == "Conv2DBackpropInput":  # a transposed convolution: per input pixel
                    strides = op.get_attr("strides")
                    pixels /= strides[1] * strides[2]
                macs = pixels * int(np.prod(kernel.as_list()))
                row["gflop"] = 2 * macs / 1e9
                row["gflop_per_s"] = row["gflop"] / (ms / 1000) if ms > 0 else None
        rows.append(row)
    rows.sort(key=lambda r: -r["ms"])
    by_type = {}
    for row in rows:
        by_type[row["op"]] = by_type.get(row["op"], 0.0) + row["ms"]
    return {"total_ms": sum(r["ms"] for r in rows),
            "by_type": dict(sorted(by_type.items(), key=lambda kv: -kv[1])), "nodes": rows}


def _eval_images(pairs, data_dir, height=100, width=100):
    """``([(phone, target or None)], kind)``: PIRM validation pairs when found, else
    synthetic photos (the PSNR change is then measured against the float output)."""
    from pirm_enhance.data.io import read_float
    from pirm_enhance.data.synthetic import synthetic_photo
    from pirm_enhance.errors import DataMissing
    from pirm_enhance.scoring.score import track_items
    from pirm_enhance.scoring.validation import data_root

    if pairs <= 0:
        return [], None
    try:
        items = track_items("B", data_root(data_dir))[:pairs]
    except (DataMissing, OSError):
        items = []
    if items:
        return [(read_float(a)[None], read_float(b)[None]) for a, b in items], "pirm_pairs"
    return [(synthetic_photo(height, width, seed=i)[None], None) for i in range(pairs)], "synthetic"


def _psnr(a, b):
    mse = float(np.mean((np.clip(a, 0, 1) - np.clip(b, 0, 1)) ** 2))
    return float("inf") if mse == 0 else 10 * math.log10(1.0 / mse)


def _mean_psnr(outputs, references):
    """Mean PSNR of ``outputs`` against ``references`` (infinite values left out)."""
    finite = [v for v in (_psnr(o, r) for o, r in zip(outputs, references)) if math.isfinite(v)]
    return statistics.mean(finite) if finite else float("inf")


def _make_variant(model, name, runtime, workdir, size=None):
    """A runner for ``runtime`` of ``model`` (exported into ``workdir``; at the fixed
    input ``size`` for :data:`FIXED_SIZE_RUNTIMES`) and its path."""
    from pirm_enhance.exporters import export
    from pirm_enhance.formats import FORMATS
    from pirm_enhance.runners import KerasRunner, make_runner

    fmt, quant = RUNTIMES[runtime]
    if fmt == "keras":
        return KerasRunner(model, name=name), None
    target = pathlib.Path(workdir) / f"{name.replace('.', '_').replace('/', '_')}_{runtime}{FORMATS[fmt].suffix}"
    export(model, target, format=fmt, quantization=quant, allow_rule_violations=True, measure_ram=False,
           check=False, input_size=size if runtime in FIXED_SIZE_RUNTIMES else None)
    runner = make_runner(target, name=f"{name} [{runtime}]")
    if runtime in KEPT_BUFFER_RUNTIMES:
        runner.low_memory = False  # read when the runner first compiles
    return runner, target


def _base_runner(name):
    """Keras runner of an architecture (random weights, none left at a constant:
    :func:`pirm_enhance.zoo.timing_model`), a pretrained name or a ``.keras`` file."""
    from pirm_enhance.registry import list_models
    from pirm_enhance.runners import KerasRunner, make_runner

    if str(name) in list_models():
        from pirm_enhance.zoo import timing_model

        return KerasRunner(timing_model(str(name)), name=f"{name} (random weights)")
    return make_runner(name)


def _say(progress, text):
    if progress:
        print(text, file=sys.stderr, flush=True)


def bench(models, runtimes=DEFAULT_RUNTIMES, height=720, width=1280, rounds=5, pairs=20, data_dir=None,
          rss=False, photo_12mp=False, workdir=None, progress=True, profile=False):
    """The benchmark as a dict: ``{"size", "rounds", "baseline", "rows": [...]}``.

    ``models``: zoo architectures, pretrained names or ``.keras`` files. ``runtimes``:
    names from :data:`RUNTIMES`. A variant that cannot be made or run (an op a
    runtime lacks) becomes a row with ``error`` and the rest goes on. ``profile``: each
    ``pb`` row also gets ``"profile"``, :func:`op_profile` at the timing size (after the
    timing, so it does not disturb it).
    """
    from pirm_enhance.scoring.score import baseline_runner

    bad = [r for r in runtimes if r not in RUNTIMES]
    if bad:
        raise UnknownName(f"unknown runtime(s) {bad}; choose from {', '.join(RUNTIMES)}")
    own = workdir is None
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="pirm_bench_") if own else workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    x = np.random.default_rng(0).random((1, height, width, 3), dtype=np.float32)
    images, quality_kind = _eval_images(pairs, data_dir)
    baseline = baseline_runner("B")
    rows, runners = [], {}
    for name in models:
        base = _base_runner(name)
        model = base.model
        try:
            flops = gflops(model, height, width)
        except Exception as err:  # the profiler is a convenience; the timing goes on without it
            _say(progress, f"{name}: FLOPs not counted ({type(err).__name__})")
            flops = None
        # the float model's outputs, once per model: every variant is compared with them
        float_outputs = [np.asarray(base(phone)) for phone, _ in images]
        targets = [t for _, t in images]
        float_psnr = _mean_psnr(float_outputs, targets) if quality_kind == "pirm_pairs" else None
        for runtime in runtimes:
            row = {"model": str(name), "runtime": runtime, "params": int(model.count_params()),
                   "gflops": flops, "path": None}
            _say(progress, f"{name} [{runtime}]: exporting and checking")
            try:
                runner, path = _make_variant(model, str(name), runtime, workdir, (height, width))
                row["path"] = str(path) if path else None
                out = runner(x)  # builds interpreters/sessions and traces at this size
                if getattr(runner, "precision", None):  # TFLite: fp16 where the file allows it and LiteRT can
                    row["precision"] = runner.precision
                if runtime in FIXED_SIZE_RUNTIMES:  # runs at the timing size only: compared there
                    row["psnr_vs_float"] = _psnr(np.asarray(out), np.asarray(base(x)))
                    row["psnr"] = row["psnr_change"] = None
                elif images:
                    outputs = [np.asarray(runner(phone)) for phone, _ in images]  # each image once
                    row["psnr_vs_float"] = _mean_psnr(outputs, float_outputs)
                    if quality_kind == "pirm_pairs":
                        row["psnr"] = _mean_psnr(outputs, targets)
                        row["psnr_change"] = row["psnr"] - float_psnr
                    else:
                        row["psnr"], row["psnr_change"] = row["psnr_vs_float"], None
            except Exception as err:  # one broken variant (a runtime lacking an op) must not stop the table
                row["error"] = f"{type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''}"
                rows.append(row)
                continue
            runners[(str(name), runtime)] = runner
            rows.append(row)
    baseline(x)
    baseline(x)
    keys = [None, *runners]
    times = {k: [] for k in keys}
    for r in range(rounds):
        order = keys[r % len(keys):] + keys[:r % len(keys)]
        for key in order:
            run = baseline if key is None else runners[key]
            start = time.perf_counter()
            run(x)
            times[key].append(time.perf_counter() - start)
        _say(progress, f"round {r + 1}/{rounds}")
    base_ms = 1000 * statistics.median(times[None])
    for row in rows:
        key = (row["model"], row["runtime"])
        if key not in runners:
            continue
        ms = 1000 * statistics.median(times[key])
        row["ms"] = ms
        row["vs_srcnn"] = ms / base_ms
        row["gflop_per_s"] = row["gflops"] / (ms / 1000) if row["gflops"] else None
    if profile:
        for row in rows:
            if row["runtime"] == "pb" and (row["model"], "pb") in runners:
                _say(progress, f"{row['model']} [pb]: per-op profile")
                row["profile"] = op_profile(runners[(row["model"], "pb")], x)
    if rss:
        _rss(rows, runners, workdir, x, progress)
    if photo_12mp:
        _photo_12mp(rows, runners, progress, height, width)
    return {"size": [height, width], "rounds": rounds, "quality": quality_kind, "pairs": len(images),
            "baseline": {"name": "srcnn (organisers' graph)", "weights": getattr(baseline, "weights", None),
                         "ms": base_ms},
            "rows": rows}


def _rss(rows, runners, workdir, x, progress):
    from pirm_enhance.data.io import write_png
    from pirm_enhance.memory import in_subprocess

    image = pathlib.Path(workdir) / "rss_input.png"
    write_png(image, x[0])
    for row in rows:
        runner = runners.get((row["model"], row["runtime"]))
        if runner is None:
            continue
        path = row["path"]
        if path is None:
            path = pathlib.Path(workdir) / f"{row['model'].replace('.', '_').replace('/', '_')}_rss.keras"
            runner.model.save(path)
        _say(progress, f"{row['model']} [{row['runtime']}]: peak RSS in a fresh process")
        value = in_subprocess(path, image, low_memory=False if row["runtime"] in KEPT_BUFFER_RUNTIMES else None)
        row["peak_rss_mb"] = None if value is None or value < 0 else value / 2 ** 20


def _photo_12mp(rows, runners, progress, height, width):
    from pirm_enhance.data.synthetic import synthetic_photo
    from pirm_enhance.enhancer import Enhancer

    from pirm_enhance.runtimes import TILE_RUNTIMES

    photo = synthetic_photo(*PHOTO_12MP, seed=5)
    pixels = PHOTO_12MP[0] * PHOTO_12MP[1]

    def timed(enhancer):
        enhancer(photo)  # warm-up: traces, converts and plans every tile size of the photo
        start = time.perf_counter()
        enhancer(photo)
        return 1000 * (time.perf_counter() - start)

    for row in rows:
        runner = runners.get((row["model"], row["runtime"]))
        if runner is None or "ms" not in row or row["runtime"] in FIXED_SIZE_RUNTIMES:
            continue  # a fixed-size file cannot take the tiles
        _say(progress, f"{row['model']} [{row['runtime']}]: a 12 MP photo through pe.enhance")
        if row["runtime"] != "keras":
            row["ms_12mp"] = timed(Enhancer(runner))
            row["tiling_overhead"] = row["ms_12mp"] / (row["ms"] * pixels / (height * width))
            continue
        # a Keras model's tiles can run in each tile runtime (pirm_enhance.runtimes): each
        # forced, then "auto" (its first photo measures and caches the choice; the second is timed)
        by_runtime = {}
        for name in TILE_RUNTIMES:
            try:
                by_runtime[name] = timed(Enhancer(runner, runtime=name))
            except Exception as err:  # a tile runtime that cannot take the model
                by_runtime[name] = None
                _say(progress, f"{row['model']}: tile runtime {name} failed ({type(err).__name__})")
        auto = Enhancer(runner, runtime="auto")
        row["ms_12mp_auto"] = timed(auto)
        row["tile_runtime_auto"] = auto.last_runtime[0]
        row["ms_12mp_tile_runtimes"] = by_runtime
        row["ms_12mp"] = by_runtime["keras"]
        row["tiling_overhead"] = row["ms_12mp"] / (row["ms"] * pixels / (height * width))


def format_table(result):
    """The result as a plain-text table."""
    from pirm_enhance.leaderboard import format_cell as _fmt

    h, w = result["size"]
    base = result["baseline"]
    lines = [f"{w}x{h}, median of {result['rounds']} interleaved rounds; SRCNN baseline "
             f"{base['ms']:.1f} ms ({base['weights']}); PSNR change: "
             + ("against the Keras float model on the first "
                f"{result['pairs']} PIRM validation pairs" if result["quality"] == "pirm_pairs"
                else "PSNR of each variant against the float output on synthetic photos"),
             f"{'model':24s} {'runtime':27s} {'ms':>8s} {'x srcnn':>8s} {'GFLOP':>7s} {'GFLOP/s':>8s} "
             f"{'dPSNR':>7s} {'vs float':>8s} {'RSS MB':>7s} {'12MP s':>7s} {'tiling':>6s}"]
    for r in result["rows"]:
        if "error" in r:
            lines.append(f"{r['model']:24s} {r['runtime']:27s} failed: {r['error']}")
            continue
        lines.append(f"{r['model']:24s} {r['runtime']:27s} {_fmt(r.get('ms'), '.1f', 8)} "
                     f"{_fmt(r.get('vs_srcnn'), '.3f', 8)} {_fmt(r.get('gflops'), '.1f', 7)} "
                     f"{_fmt(r.get('gflop_per_s'), '.1f', 8)} {_fmt(r.get('psnr_change'), '+.3f', 7)} "
                     f"{_fmt(r.get('psnr_vs_float'), '.1f', 8)} {_fmt(r.get('peak_rss_mb'), '.0f', 7)} "
                     f"{_fmt(r.get('ms_12mp') and r['ms_12mp'] / 1000, '.2f', 7)} "
                     f"{_fmt(r.get('tiling_overhead'), '.2f', 6)}")
    for r in result["rows"]:
        if r["runtime"].endswith("fp16_inference") and r.get("precision") == "fp32":
            lines.append(f"{r['model']} [{r['runtime']}] ran in float32: LiteRT could not run it in fp16 here")
    for r in result["rows"]:
        prof = r.get("profile")
        if not prof:
            continue
        kinds = ", ".join(f"{k} {v:.1f}" for k, v in list(prof["by_type"].items())[:6])
        lines.append(f"per-op profile of {r['model']} [pb], {prof['total_ms']:.1f} ms traced: {kinds}")
        for node in prof["nodes"][:PROFILE_ROWS]:
            rate = (f"{node['gflop']:.3f} GFLOP at {node['gflop_per_s']:.0f} GFLOP/s"
                    if node.get("gflop_per_s") else "")
            lines.append(f"  {node['ms']:8.2f} ms  {node['op'][:30]:30s} {node['node'][-44:]:44s} "
                         f"{'x'.join(str(v) for v in node['shape'] or [])[:20]:20s} {rate}")
    tiles = [r for r in result["rows"] if r.get("ms_12mp_tile_runtimes")]
    if tiles:
        lines.append("12 MP photo through pe.enhance, a Keras model's tiles in each tile runtime "
                     "(seconds; auto = the measured choice, cached):")
        for r in tiles:
            each = ", ".join(f"{k} {_fmt(v and v / 1000, '.2f', 0).strip()}"
                             for k, v in r["ms_12mp_tile_runtimes"].items())
            lines.append(f"  {r['model']:22s} {each}; auto -> {r['tile_runtime_auto']} "
                         f"{r['ms_12mp_auto'] / 1000:.2f}")
    return "\n".join(lines)


def plot(result, path):
    """Speed versus quality, one point per model and runtime, as a PNG (matplotlib)."""
    from pirm_enhance.leaderboard import pyplot, save_figure

    plt = pyplot()
    rows = [r for r in result["rows"] if "ms" in r]
    quality = "psnr_change" if result["quality"] == "pirm_pairs" else "psnr_vs_float"
    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=110)
    markers = dict(zip(RUNTIMES, "os^vDPX*"))
    models = sorted({r["model"] for r in rows})
    colours = {m: plt.cm.tab10(i % 10) for i, m in enumerate(models)}
    unmeasured = False
    for r in rows:
        y = r.get(quality)
        hollow = y is None  # not measured (a fixed-size file cannot run the 100-px pairs): hollow, at 0
        unmeasured |= hollow
        if y is None or not math.isfinite(y):
            y = 0.0 if quality == "psnr_change" else 60.0
        colour = colours[r["model"]]
        ax.scatter(r["vs_srcnn"], y, marker=markers.get(r["runtime"], "o"), s=50,
                   facecolors="none" if hollow else colour, edgecolors=colour)
    for m in models:
        ax.scatter([], [], color=colours[m], marker="o", label=m)
    for runtime in dict.fromkeys(r["runtime"] for r in rows):
        ax.scatter([], [], color="grey", marker=markers.get(runtime, "o"), label=runtime)
    if unmeasured:
        ax.scatter([], [], facecolors="none", edgecolors="grey", marker="o",
                   label="hollow: quality not measured (fixed size)")
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(plt.NullFormatter())  # minor labels of a log axis overlap
    ratios = [r["vs_srcnn"] for r in rows if r.get("vs_srcnn")]
    if ratios:
        ticks = [t for t in (0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50)
                 if min(ratios) / 1.5 <= t <= max(ratios) * 1.5]
        ax.set_xticks(ticks)
        ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.axvline(1.0, color="grey", lw=0.8, ls="--")
    ax.set_xlabel(f"time relative to SRCNN at {result['size'][1]}x{result['size'][0]} (log; lower is faster)")
    ax.set_ylabel("PSNR change against the float model (dB)" if quality == "psnr_change"
                  else "PSNR against the float output (dB; inf drawn at 60)")
    ax.set_title("pirm-bench: speed versus quality, one point per model and runtime")
    ax.legend(fontsize=7, ncol=2, loc="best")
    ax.grid(True, which="both", alpha=0.3)
    return save_figure(fig, path)


__all__ = ["DEFAULT_RUNTIMES", "FIXED_SIZE_RUNTIMES", "KEPT_BUFFER_RUNTIMES", "RUNTIMES", "bench", "format_table", "gflops", "plot"]
