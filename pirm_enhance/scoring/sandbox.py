"""Score one submission file in a child process with a memory and a time limit.

A ``.pb``, SavedModel, ``.tflite`` or ``.onnx`` file is someone else's
program. The scorer first checks it statically in its own process
(:func:`preflight`: parsing, the op allow-list, declared constant sizes;
nothing is loaded or run), then a fresh Python process loads it and does all
the work that runs it: RAM on one HD image (the first thing run after a tiny
warm-up, as :mod:`pirm_enhance.memory` measures it), fidelity on the
validation pairs, and the runtime protocol interleaved with its own SRCNN
baseline graph. The child runs under ``RLIMIT_DATA`` (default
:data:`DEFAULT_MEMORY_LIMIT_GIB`), on the CPU, in its own session, killed
after :data:`DEFAULT_TIME_LIMIT_S` seconds of wall clock, when the scorer is
interrupted, or when the scorer dies. A graph that asks for 40 GB, loops for
an hour or crashes TensorFlow costs one line (:class:`SubmissionError` or
:class:`ModelRunError`), never the scorer.

``RLIMIT_DATA`` (Linux >= 4.7) bounds the private writable memory: heap,
anonymous mappings (TensorFlow's tensors), thread stacks. ``RLIMIT_AS`` was
tried first: it also counts address space reserved and never used, which
TensorFlow and XNNPACK take plenty of (7.5 GB of address space for a model
using 3.7 GB), so a limit tight enough to matter refused honest models.
VmData also keeps memory freed back to glibc's arenas, so it runs above the
resident peak: 5.9 GB for that 3.7 GB model.

``python -m pirm_enhance.scoring.sandbox`` is not meant to be run by hand:
:func:`score_file` starts it with a request file.
"""

import json
import os
import pathlib
import signal
import subprocess
import sys
import tempfile

from pirm_enhance import errors
from pirm_enhance.errors import ModelFileError, ModelRunError, PirmError, SubmissionError, first_line
from pirm_enhance.formats import format_of

# Measured in the child through the whole protocol (BUILD_NOTES, Scoring): the hungriest
# pretrained model, dped_resnet_12_64 as TFLite (2.6 GB of RAM growth on one HD image;
# the rules allow 3.5 GB), peaks at 5.9 GB of VmData (3.7 GB resident); as a .pb, 3.6 GB.
DEFAULT_MEMORY_LIMIT_GIB = 12.0
# 400 pairs, RAM, and the 4-image runtime protocol with --rounds 3 take ~4 minutes for
# the slowest pretrained model on an idle 2-core machine; half an hour leaves room for
# a busy one.
DEFAULT_TIME_LIMIT_S = 1800.0
SANDBOXED_FORMATS = ("pb", "saved_model", "tflite", "onnx")

# Run in the child before anything is imported: the limits hold for TensorFlow's own start.
# A start that runs out of memory (TensorFlow's import needs ~0.4 GiB) fails as MemoryError,
# or as SystemError ("error return without exception set": a C extension whose malloc
# returned NULL); either is reported with a line built before the limit applies, since
# by then even reading a file can fail.
OOM_AT_START = "pirm-sandbox: out of memory while starting under the memory limit"
_BOOT = """
import ctypes, os, resource, sys
limit = int(sys.argv[1])
oom = b"%s\\n"
resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
try:
    ctypes.CDLL(None).prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL: die with the scorer
except Exception:
    pass
try:
    from pirm_enhance.scoring.sandbox import child_main
except (MemoryError, SystemError):
    os.write(2, oom)
    os._exit(1)
code = child_main(sys.argv[2])
os._exit(code)  # no interpreter teardown: TensorFlow's threads can make it slow
""" % OOM_AT_START

_OOM_WORDS = ("out of memory", "OOM when allocating", "ResourceExhausted", "bad_alloc", "Cannot allocate memory",
              "MemoryError", "failed to allocate",
              "failed to map segment",  # dlopen under the limit
              "error return without exception set")  # SystemError: a C extension whose malloc failed


def is_sandboxed(submission):
    """True for a path (str or PathLike) of a format that :func:`score_file` runs in a child."""
    if not isinstance(submission, (str, os.PathLike)):
        return False
    fmt = format_of(os.fspath(submission))
    return fmt is not None and fmt.name in SANDBOXED_FORMATS


def preflight(path):
    """The static checks, in this process: the file exists and parses, a graph passes the
    op allow-list and the constant-size limit (:mod:`pirm_enhance.graph_check`)."""
    from pirm_enhance.runners import SavedModelRunner, read_graph_def
    from pirm_enhance.graph_check import check_ops

    path = pathlib.Path(os.fspath(path))
    fmt = format_of(path)
    if not path.exists():
        raise ModelFileError(f"{path}: no such {'folder' if fmt.folder else 'file'}")
    if fmt.folder != path.is_dir():
        raise SubmissionError(f"{path}: a {fmt.description} is a {'folder' if fmt.folder else 'file'}")
    if fmt.name == "pb":
        check_ops(read_graph_def(path), str(path))
    elif fmt.name == "saved_model":
        SavedModelRunner.check(path)
    return fmt


def _gib(limit_bytes):
    return f"{limit_bytes / 2**30:g} GiB"


def score_file(path, label=None, track="B", data_dir=None, infinite="exclude", timing=True, rounds=1,
               measure_ram=True, progress=True, memory_limit_gib=DEFAULT_MEMORY_LIMIT_GIB,
               time_limit_s=DEFAULT_TIME_LIMIT_S):
    """Score the file ``path`` in a child process; returns ``{"kind", "fidelity", "time",
    "baseline", "ram_bytes", "sandbox"}`` (``time``, ``baseline``: ``hd_runtime`` entries of
    the file and of the child's own SRCNN baseline, None without ``timing``).

    Raises the child's own error (one line), or :class:`SubmissionError` for a file
    over ``memory_limit_gib`` GiB of memory (``RLIMIT_DATA``) or ``time_limit_s`` seconds.
    """
    path = pathlib.Path(os.fspath(path))
    preflight(path)
    limit = int(memory_limit_gib * 2**30)
    with tempfile.TemporaryDirectory(prefix="pirm_sandbox_") as work:
        work = pathlib.Path(work)
        request = {"path": str(path), "label": label or str(path), "track": track,
                   "data_dir": None if data_dir is None else str(data_dir), "infinite": infinite,
                   "timing": timing, "rounds": rounds, "measure_ram": measure_ram,
                   "result": str(work / "result.json"), "memory_limit_bytes": limit, "progress_fd": None}
        pass_fds = ()
        if progress:
            try:
                request["progress_fd"] = os.dup(sys.stderr.fileno())
                pass_fds = (request["progress_fd"],)
            except (AttributeError, OSError, ValueError):  # no real stderr (a notebook): no progress
                pass
        (work / "request.json").write_text(json.dumps(request))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
               "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "", "PYTHONUNBUFFERED": "1"}
        log_path = work / "child.log"
        try:
            with open(log_path, "wb") as log:
                proc = subprocess.Popen([sys.executable, "-c", _BOOT, str(limit), str(work / "request.json")],
                                        stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env,
                                        pass_fds=pass_fds, start_new_session=True)
        finally:
            for fd in pass_fds:
                os.close(fd)
        try:
            proc.wait(timeout=time_limit_s)
        except subprocess.TimeoutExpired:
            _kill(proc)
            raise SubmissionError(f"{path}: timed out after {time_limit_s:g} s (the scorer's time limit for one "
                                  "submission; see --time-limit)") from None
        except BaseException:  # Ctrl-C, or the caller's own error: the child goes with it
            _kill(proc)
            raise
        result = work / "result.json"
        payload = json.loads(result.read_text()) if result.exists() else None
        if payload is None:
            raise _died(path, proc.returncode, log_path, limit)
    if payload["ok"]:
        return payload
    message = payload["message"]
    if payload.get("oom"):
        detail = message.split(": ", 1)[1] if message.startswith(f"{path}: ") else message
        raise SubmissionError(f"{path}: refused, over the {_gib(limit)} memory limit ({detail}); "
                              "see --memory-limit")
    cls = getattr(errors, payload.get("error", ""), None)
    if not (isinstance(cls, type) and issubclass(cls, PirmError)):
        cls = ModelRunError
    raise cls(message)


def _kill(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _died(path, code, log_path, limit):
    """The error for a child that ended without writing its result."""
    lines = [line.strip() for line in log_path.read_text(errors="replace").splitlines() if line.strip()]
    last = lines[-1] if lines else "no output"
    if code is not None and code < 0:
        name = signal.Signals(-code).name if -code in signal.valid_signals() else f"signal {-code}"
        text = " ".join(lines[-20:])
        if -code in (signal.SIGKILL, signal.SIGABRT, signal.SIGSEGV, signal.SIGBUS) and (
                -code == signal.SIGKILL or any(w in text for w in _OOM_WORDS) or not lines):
            return SubmissionError(f"{path}: killed: over the {_gib(limit)} memory limit ({name}); "
                                   "see --memory-limit")
        return ModelRunError(f"{path}: the scoring process crashed ({name}): {last[:300]}")
    if any(word in " ".join(lines[-20:]) for word in _OOM_WORDS):  # e.g. TensorFlow's own start
        return SubmissionError(f"{path}: the scoring process ran out of memory under the {_gib(limit)} "
                               f"memory limit ({last[:200]}); see --memory-limit")
    return ModelRunError(f"{path}: the scoring process exited with code {code} without a result: {last[:300]}")


# ---- the child ----------------------------------------------------------------------

def _status_bytes(field):
    for line in pathlib.Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return None


class _DataWatch:
    """Samples ``VmData`` (what ``RLIMIT_DATA`` limits) every 20 ms; the kernel keeps no peak of it."""

    def __init__(self):
        import threading

        self.peak = _status_bytes("VmData") or 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.done.wait(0.02):
            self.peak = max(self.peak, _status_bytes("VmData") or 0)

    def stop(self):
        self.done.set()
        self.thread.join()
        return max(self.peak, _status_bytes("VmData") or 0)


class _ProgressTo:
    """Points ``sys.stderr`` at the scorer's stderr while the progress bars run."""

    def __init__(self, stream):
        self.stream = stream

    def __enter__(self):
        self.saved = sys.stderr
        if self.stream is not None:
            sys.stderr = self.stream

    def __exit__(self, *exc):
        sys.stderr = self.saved


def _work(request):
    from pirm_enhance.quiet import quiet_tensorflow

    quiet_tensorflow()
    import warnings

    warnings.simplefilter("ignore")
    from pirm_enhance.data.io import read_float
    from pirm_enhance.memory import runner_ram
    from pirm_enhance.runners import make_runner
    from pirm_enhance.scoring.runtime import hd_runtime
    from pirm_enhance.scoring.score import baseline_runner, hd_files, track_fidelity

    watch = _DataWatch()
    fd = request["progress_fd"]
    stream = os.fdopen(fd, "w", buffering=1) if fd is not None else None
    show = stream is not None
    track, root, label = request["track"], request["data_dir"], request["label"]
    runner = make_runner(request["path"], name=label)
    out = {"kind": runner.kind, "ram_bytes": None, "time": None, "baseline": None}
    images = [read_float(f)[None] for f in hd_files(track, root)] if request["timing"] else None
    if images and request["measure_ram"]:
        out["ram_bytes"] = runner_ram(runner, images[0])
    with _ProgressTo(stream):
        out["fidelity"] = track_fidelity(runner, track, root, infinite=request["infinite"], progress=show,
                                         label=label)
        out["precision"] = getattr(runner, "precision", None)  # TFLite: "fp16" where the file allows it
        if images:
            baseline = baseline_runner(track)
            times = hd_runtime({"__baseline__": baseline, "submission": runner}, images, rounds=request["rounds"],
                               progress=show)
            out["time"], out["baseline"] = times["submission"], times["__baseline__"]
            out["baseline"]["weights"] = baseline.weights
    out["sandbox"] = {"memory_limit_bytes": request["memory_limit_bytes"], "data_peak_bytes": watch.stop(),
                      "vm_peak_bytes": _status_bytes("VmPeak"), "rss_peak_bytes": _status_bytes("VmHWM")}
    return out


def _error_payload(err, source):
    text = str(err) if isinstance(err, PirmError) else f"{source}: {type(err).__name__}: {first_line(err)}"
    oom = isinstance(err, MemoryError) or any(word in text for word in _OOM_WORDS)
    if isinstance(err, PirmError):
        return {"ok": False, "error": type(err).__name__, "message": text, "oom": oom}
    return {"ok": False, "error": "ModelRunError", "message": text, "oom": oom}


def child_main(request_path):
    """The child's entry point (see ``_BOOT``): does the work, writes ``result.json``."""
    request = json.loads(pathlib.Path(request_path).read_text())
    try:
        payload = {"ok": True, **_work(request)}
    except BaseException as err:  # noqa: BLE001  (everything goes back to the scorer as one line)
        payload = _error_payload(err, request["path"])
    result = pathlib.Path(request["result"])
    tmp = result.with_suffix(".part")
    tmp.write_text(json.dumps(payload))
    os.replace(tmp, result)
    return 0


__all__ = ["DEFAULT_MEMORY_LIMIT_GIB", "DEFAULT_TIME_LIMIT_S", "SANDBOXED_FORMATS", "is_sandboxed", "preflight",
           "score_file"]
