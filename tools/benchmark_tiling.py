"""Tiling per zoo model: tiled vs whole-image PSNR at 1280x720, and peak RSS / time at 4000x3000.

Each 12 MP measurement runs in a fresh process (peak RSS of that process).
Official weights are used where PIRM_WEIGHTS_DIR has them, random otherwise.

    PIRM_WEIGHTS_DIR=../shared/pretrained python tools/benchmark_tiling.py [--hd ../shared/data/pirm2018/dped/HD_res/0.png]
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHILD = r"""
import json, sys, time
import numpy as np
sys.path.insert(0, sys.argv[2])
from pirm_enhance.zoo import load_official_or_random
from pirm_enhance.tiling import TiledModel
from pirm_enhance.data.synthetic import synthetic_photo
model = load_official_or_random(sys.argv[1])
image = np.tile(synthetic_photo(500, 500, seed=0), (6, 8, 1))
start = time.time()
TiledModel(model)(image)
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0].split()[1]  # own peak
print(json.dumps({"peak_rss_gib": int(hwm) / 2**20, "seconds": time.time() - start}))
"""


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hd", help="a 1280x720 photo (default: a synthetic one)")
    p.add_argument("--models", nargs="*")
    p.add_argument("--skip-12mp", action="store_true")
    args = p.parse_args(argv)
    import numpy as np

    import pirm_enhance as pe
    from pirm_enhance.data.io import read_float
    from pirm_enhance.data.synthetic import synthetic_photo
    from pirm_enhance.zoo import load_official_or_random
    from pirm_enhance.metrics import psnr
    from pirm_enhance.tiling import TiledModel

    image = read_float(args.hd) if args.hd else synthetic_photo(720, 1280, seed=11)
    print(f"{'model':20s} {'tiled vs whole dB':>17s} {'12MP peak GiB':>13s} {'12MP s':>7s}")
    for arch in args.models or pe.list_models():
        model = load_official_or_random(arch)
        whole = np.asarray(model(image[None]))[0]
        tiled = TiledModel(model)(image)
        db = psnr(np.clip(tiled, 0, 1), np.clip(whole, 0, 1))
        big = {"peak_rss_gib": float("nan"), "seconds": float("nan")}
        if not args.skip_12mp:
            env = {**os.environ, "PYTHONPATH": str(ROOT)}
            proc = subprocess.run([sys.executable, "-c", CHILD, arch, str(ROOT)],
                                  capture_output=True, text=True, env=env, timeout=1800)
            if proc.returncode == 0:
                big = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"{arch:20s} {db:17.2f} {big['peak_rss_gib']:13.2f} {big['seconds']:7.0f}", flush=True)


if __name__ == "__main__":
    main()
