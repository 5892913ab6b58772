"""Peak resident-memory growth of a call, measured on the process (Linux)."""

import pathlib


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
