"""CPU runtime and RAM at 1280x720 with the organisers' warm-up rule.

Four HD images are processed one by one; images 1 and 2 are warm-up, the
reported time is the mean of images 3 and 4. The solution and the SRCNN
baseline run interleaved (image i of one, then image i of the other) so that
noise on a busy machine hits both; with ``rounds > 1`` the protocol repeats
and the median of the per-round times is reported.
"""

import statistics
import time

from pirm_enhance.progress import Progress


def _timed(runner, image):
    start = time.perf_counter()
    runner(image)
    return time.perf_counter() - start


def hd_runtime(runners, images, rounds=1, progress=True):
    """``{name: {"time_ms", "rounds_ms"}}`` for each runner in ``runners`` (a dict).

    ``images``: four ``[1, H, W, 3]`` arrays. (RAM is measured apart, in a
    fresh process: :mod:`pirm_enhance.memory`.)
    """
    if len(images) < 4:
        raise ValueError(f"the protocol needs 4 HD images, got {len(images)}")
    per_round = {name: [] for name in runners}
    steps = [(r, i) for r in range(rounds) for i in range(4)]
    for r, i in Progress(steps, "timing at 1280x720", enabled=progress):
        if i == 0:
            times = {name: [] for name in runners}
        for name, runner in runners.items():
            times[name].append(_timed(runner, images[i]))
        if i == 3:
            for name in runners:
                per_round[name].append(1000 * (times[name][2] + times[name][3]) / 2)
    return {name: {"time_ms": statistics.median(ms), "rounds_ms": ms} for name, ms in per_round.items()}
