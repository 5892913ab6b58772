"""Peak resident memory of a call (Linux), and the RAM of one HD image in a fresh process.

``python -m pirm_enhance.memory MODEL IMAGE [true|false]`` prints the peak resident-memory
growth (bytes) while the model processes the image once, measured after the
model is loaded, in a process that has run nothing else: the organisers' "RAM
for one 1280x720 image". Measuring inside the caller's own process would see
buffers other models freed and left to the allocator. Used by the exporter's
rule check and by the scorer; it sits below both.
"""

import pathlib
import sys


def _status_kb(field):
    for line in pathlib.Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def peak_rss_growth(fn, *args):
    """``(result, bytes)``: how far the process's peak RSS rose above its RSS before ``fn``.

    The kernel's high-water mark is reset first (``/proc/self/clear_refs``,
    value 5), so earlier peaks do not hide this one. Returns ``None`` bytes
    where the kernel does not allow that (then nothing can be said).
    """
    try:
        pathlib.Path("/proc/self/clear_refs").write_text("5")
        before = _status_kb("VmRSS")
    except OSError:
        return fn(*args), None
    result = fn(*args)
    return result, max(0, _status_kb("VmHWM") - before) * 1024


def measure(model_path, image_path, low_memory=None):
    """Peak RSS growth (bytes) of ``model_path`` on ``image_path``, in this process
    (``low_memory``: a ``.tflite`` file's XNNPACK buffers, as in :class:`TFLiteRunner`)."""
    from pirm_enhance.quiet import quiet_tensorflow

    quiet_tensorflow()
    from pirm_enhance.data.io import read_float
    from pirm_enhance.runners import make_runner

    runner = make_runner(model_path)
    if low_memory is not None and runner.kind == "tflite":
        runner.low_memory = low_memory  # read when the runner first compiles
    return runner_ram(runner, read_float(image_path)[None])


def runner_ram(runner, image):
    """Peak RSS growth (bytes) of ``runner`` on one ``[1, H, W, 3]`` image, after a run on a
    32x32 crop has created whatever the runner creates lazily (sessions, interpreters).
    A file with a fixed input size (TFLite ``--input-size``) takes no crop: its first run
    at that size is the one measured, as on a phone."""
    if getattr(runner, "fixed_shape", None) is None:
        runner(image[:, :32, :32])
    return peak_rss_growth(runner, image)[1]


def in_subprocess(model_path, image_path, timeout=600, low_memory=None):
    """Bytes, or ``None`` if the probe could not run (``low_memory`` as in :func:`measure`)."""
    import os
    import subprocess

    extra = [] if low_memory is None else [str(bool(low_memory)).lower()]
    try:
        proc = subprocess.run([sys.executable, "-m", "pirm_enhance.memory", str(model_path), str(image_path), *extra],
                              capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)})
    except subprocess.TimeoutExpired:
        return None
    try:
        return int(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None


if __name__ == "__main__":
    value = measure(sys.argv[1], sys.argv[2], None if len(sys.argv) < 4 else sys.argv[3] == "true")
    print(-1 if value is None else value)
