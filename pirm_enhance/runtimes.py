"""Which runtime runs the enhancer's tiles: measured on this machine, remembered.

:class:`pirm_enhance.tiling.TiledModel` runs a fixed-statistics twin of a Keras
model on every tile. Three runtimes can run that twin, with the same output to
float rounding (checked before one is used):

* ``keras``: the twin under ``tf.function``, its statistics in its weights;
* ``graph``: the twin frozen into a constant graph (weights folded in, so
  TensorFlow's graph optimiser and oneDNN fuse what they can), the image-wide
  statistics fed as a second input;
* ``tflite``: that frozen graph converted to float32 TFLite at the tile's size
  (fixed, as a phone app ships it: LiteRT plans it once) and run by XNNPACK.

Which one is fastest depends on the CPU, not on the model alone (BUILD_NOTES
"The phone path": on an AVX-512 Xeon the frozen graph beat XNNPACK 1.5-2.3x,
on an AVX2 EPYC XNNPACK beat it), so :func:`choose` times them on the photo's
first tile, interleaved, median of ``rounds``, and keeps the answer in
``$PIRM_HOME/runtimes.json`` under the machine (CPU model, cores, TensorFlow
and LiteRT versions), the model's architecture (its layers' configurations and
weight shapes; the weights' values do not change the time) and the tile size.
The next photo with that tile size, in any process, uses the cached choice.
"""

import datetime
import functools
import hashlib
import json
import logging
import os
import pathlib
import platform
import statistics
import tempfile
import time

import numpy as np

from pirm_enhance.errors import UsageError, first_line
from pirm_enhance.registry import architecture_key

log = logging.getLogger(__name__)

TILE_RUNTIMES = ("keras", "graph", "tflite")
CHOICES = ("auto",) + TILE_RUNTIMES
# a runtime whose tile output differs from the Keras twin's by more than this is not used
AGREEMENT = 2e-3
CACHE_FILE = "runtimes.json"
# what the tile graphs are built from; a new value retires measurements of older graphs
# (2: the large-convolution rewrites of pirm_enhance.lowering; 3: fixed-statistics instance
# norms as one FusedBatchNormV3; 4: TFLite tiles add the RGB heads' row partial sums with a
# depthwise and a 1x1 convolution, lowering.row_adder; 5: TFLite tiles compute transposed
# convolutions as phase convolutions, lowering.phase_conv_transpose)
TILE_GRAPHS = 5


class KerasTiles:
    """The twin under ``tf.function`` (statistics in its weights)."""

    name = "keras"

    def __init__(self, tiled):
        self.tiled = tiled

    def __call__(self, crop, statistics):
        return self.tiled.run_tile(crop)


def _frozen(tiled, height=None, width=None):
    """The twin as a constant-folded concrete function of ``(image [1, h, w, 3],
    statistics [n])``; ``None`` sizes take any tile."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    specs = [tf.TensorSpec([1, height, width, 3], tf.float32), tf.TensorSpec([tiled.statistics_size], tf.float32)]
    concrete = tf.function(tiled.function_of_statistics()).get_concrete_function(*specs)
    return convert_variables_to_constants_v2(concrete)


class GraphTiles:
    """The twin frozen to constants, any tile size, statistics as an input."""

    name = "graph"

    def __init__(self, tiled):
        self.frozen = _frozen(tiled)

    def __call__(self, crop, statistics):
        import tensorflow as tf

        out = self.frozen(tf.constant(crop[None]), tf.constant(statistics))
        return (out[0] if isinstance(out, (list, tuple)) else out).numpy()[0]


class TFLiteTiles:
    """The frozen twin as float32 TFLite, one file per tile size (converted when first
    met, kept for the next tiles), run by LiteRT with XNNPACK on every core."""

    name = "tflite"

    def __init__(self, tiled, num_threads=None):
        self.tiled = tiled
        self.num_threads = num_threads or os.cpu_count()
        self.interpreters = {}  # (h, w) -> (interpreter, image input index, statistics index, output index)
        self._bytes = {}  # (h, w) -> converted file, until its interpreter is made

    def convert(self, height, width):
        """Float32 TFLite bytes of the twin at ``height x width``."""
        if (height, width) not in self._bytes:
            self._bytes[height, width] = self._convert(height, width)
        return self._bytes[height, width]

    def _convert(self, height, width):
        import tensorflow as tf

        from pirm_enhance.lowering import split_kernels

        with split_kernels(self.tiled.twin, "tflite"):
            frozen = _frozen(self.tiled, height, width)
        converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        return converter.convert()

    def indirection_bytes(self, height, width):
        """XNNPACK's kept indirection buffers at this tile size (see :mod:`pirm_enhance.runners`)."""
        from pirm_enhance.runners import indirection_bytes_per_pixel

        return indirection_bytes_per_pixel(self.convert(height, width)) * height * width

    def _interpreter(self, height, width):
        key = (height, width)
        if key not in self.interpreters:
            from ai_edge_litert.interpreter import Interpreter

            interpreter = Interpreter(model_content=self.convert(height, width), num_threads=self.num_threads)
            del self._bytes[key]
            interpreter.allocate_tensors()
            inputs = interpreter.get_input_details()
            image = next(d["index"] for d in inputs if len(d["shape"]) == 4)
            stats = next((d["index"] for d in inputs if len(d["shape"]) == 1), None)
            self.interpreters[key] = (interpreter, image, stats, interpreter.get_output_details()[0]["index"])
        return self.interpreters[key]

    def __call__(self, crop, statistics):
        interpreter, image, stats, output = self._interpreter(*crop.shape[:2])
        interpreter.set_tensor(image, np.ascontiguousarray(crop[None], dtype=np.float32))
        if stats is not None:
            interpreter.set_tensor(stats, np.ascontiguousarray(statistics, dtype=np.float32))
        interpreter.invoke()
        return interpreter.get_tensor(output)[0]


_CLASSES = {cls.name: cls for cls in (KerasTiles, GraphTiles, TFLiteTiles)}


def make(name, tiled):
    """The tile runtime ``name`` (one of :data:`TILE_RUNTIMES`) for a :class:`TiledModel`."""
    if name not in _CLASSES:
        raise UsageError(f"unknown runtime {name!r}: choose one of {', '.join(CHOICES)}")
    return _CLASSES[name](tiled)


@functools.lru_cache(maxsize=1)
def machine():
    """What the timing depends on besides the model: CPU model, cores, library versions
    (read once per process)."""
    from importlib import metadata

    import tensorflow as tf

    cpu = platform.processor() or platform.machine()
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        litert = metadata.version("ai-edge-litert")
    except metadata.PackageNotFoundError:
        litert = "none"
    return f"{cpu}; {os.cpu_count()} cores; tensorflow {tf.__version__}; ai-edge-litert {litert}"


def cache_path():
    from pirm_enhance.pretrained import home

    return home() / CACHE_FILE


def _read_cache(path):
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        log.warning("%s is unreadable: the runtimes are measured again and the file rewritten", path)
        return {}


def _write_cache(path, data):
    """Atomically (a temporary file renamed over it); a cache that cannot be written is
    only a warning."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except OSError as err:
        log.warning("cannot write %s (%s): the measured runtime is not remembered", path, err)


def cache_key(model, height, width):
    machine_hash = hashlib.sha256(machine().encode()).hexdigest()[:12]
    return f"{machine_hash}/g{TILE_GRAPHS}/{architecture_key(model)}/{height}x{width}"


def _valid(entry):
    """True for a cache entry as :func:`measure` writes it (an edited or older file may hold
    something else: measured again instead of failing later)."""
    import numbers

    return (isinstance(entry, dict) and entry.get("choice") in TILE_RUNTIMES and "tile" in entry
            and isinstance(entry.get("ms"), dict) and entry["choice"] in entry["ms"]
            and all(isinstance(v, numbers.Real) for v in entry["ms"].values()))


def cached(model, height, width):
    """The cached measurement for this machine, model architecture and tile size, or ``None``."""
    entry = _read_cache(cache_path()).get(cache_key(model, height, width))
    return entry if _valid(entry) else None


def measure(tiled, crop, rounds=3, candidates=TILE_RUNTIMES):
    """Time each runtime on ``crop`` with ``tiled``'s current statistics.

    Returns ``(runtimes, entry)``: the built runtimes by name, and the entry the cache
    keeps: ``choice``, per-runtime median ``ms``, ``setup_s`` (building, converting,
    the first call), ``excluded`` (name -> why: a failure, an output that differs from
    the Keras twin's by more than :data:`AGREEMENT`, XNNPACK buffers over the
    runner's memory limit), ``machine`` and ``measured`` (UTC date)."""
    from pirm_enhance.runners import INDIRECTION_LIMIT

    h, w = crop.shape[:2]
    stats = tiled.statistics
    built, setup, excluded, reference = {}, {}, {}, None
    for name in candidates:
        start = time.perf_counter()
        try:
            runtime = make(name, tiled)
            if name == "tflite":
                need = runtime.indirection_bytes(h, w)
                if need > INDIRECTION_LIMIT:
                    excluded[name] = f"XNNPACK would keep {need / 2**20:.0f} MB of indirection buffers per tile"
                    continue
            out = np.asarray(runtime(crop, stats))
        except Exception as err:  # a runtime that cannot take this model is left out, not fatal
            excluded[name] = f"failed: {first_line(err)[:200]}"
            continue
        setup[name] = round(time.perf_counter() - start, 3)
        if reference is None:
            reference = out
        elif out.shape != reference.shape or not np.isfinite(out).all() or \
                float(np.abs(out - reference).max()) > AGREEMENT:
            diff = float(np.abs(out - reference).max()) if out.shape == reference.shape else float("nan")
            excluded[name] = f"output differs from {next(iter(built))}'s by {diff:.2g} (> {AGREEMENT})"
            continue
        built[name] = runtime
    if not built:
        raise UsageError(f"no tile runtime could run the model: {excluded}")
    times = {name: [] for name in built}
    order = list(built)
    for r in range(rounds):
        for name in order[r % len(order):] + order[:r % len(order)]:  # rotated, as pirm-bench does
            start = time.perf_counter()
            built[name](crop, stats)
            times[name].append(time.perf_counter() - start)
    ms = {name: round(1000 * statistics.median(t), 2) for name, t in times.items()}
    entry = {"choice": min(ms, key=ms.get), "ms": ms, "setup_s": setup, "excluded": excluded,
             "tile": f"{h}x{w}", "rounds": rounds, "machine": machine(),
             "measured": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")}
    return built, entry


def choose(tiled, crop, rounds=3):
    """``(runtime, entry)``: the cached choice for this tile size, or a fresh measurement
    (:func:`measure`), recorded in the cache."""
    h, w = crop.shape[:2]
    path, key = cache_path(), cache_key(tiled.model, h, w)
    data = _read_cache(path)
    entry = data.get(key)
    if _valid(entry):
        try:
            return make(entry["choice"], tiled), entry
        except Exception as err:  # e.g. LiteRT uninstalled since: measure again
            log.warning("cached runtime %s cannot be built (%s): measuring again", entry["choice"], err)
    built, entry = measure(tiled, crop, rounds=rounds)
    data = _read_cache(path)  # another process may have written meanwhile
    data[key] = entry
    _write_cache(path, data)
    return built[entry["choice"]], entry


def describe(entry):
    """One line: the choice and the measured times."""
    times = ", ".join(f"{name} {ms:.0f} ms" for name, ms in sorted(entry["ms"].items(), key=lambda kv: kv[1]))
    left = f"; left out: {', '.join(entry['excluded'])}" if entry.get("excluded") else ""
    return f"runtime {entry['choice']} (per {entry['tile']} tile on this machine: {times}{left})"


__all__ = ["CHOICES", "GraphTiles", "KerasTiles", "TFLiteTiles", "TILE_RUNTIMES", "cached", "choose", "describe",
           "machine", "make", "measure"]
