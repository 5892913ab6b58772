"""RAM of one HD image in a fresh process: ``python -m pirm_enhance.scoring.ram_probe MODEL IMAGE``.

Prints the peak resident-memory growth (bytes) while the model processes the
image once, measured after the model is loaded, in a process that has run
nothing else: the organisers' "RAM for one 1280x720 image". Measuring inside
the scorer's own process would see buffers other models freed and left to
the allocator.
"""

import sys


def measure(model_path, image_path):
    from pirm_enhance.cli import quiet_tensorflow

    quiet_tensorflow()
    from pirm_enhance.data.io import read_float
    from pirm_enhance.runners import make_runner
    from pirm_enhance.scoring.resources import peak_rss_growth

    runner = make_runner(model_path)
    image = read_float(image_path)[None]
    runner(image[:, :32, :32])  # load lazily created state on a tiny image first
    _, grown = peak_rss_growth(runner, image)
    return grown


def in_subprocess(model_path, image_path, timeout=600):
    """Bytes, or ``None`` if the probe could not run."""
    import os
    import subprocess

    proc = subprocess.run([sys.executable, "-m", "pirm_enhance.scoring.ram_probe", str(model_path),
                           str(image_path)], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)})
    try:
        return int(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None


if __name__ == "__main__":
    value = measure(sys.argv[1], sys.argv[2])
    print(-1 if value is None else value)
