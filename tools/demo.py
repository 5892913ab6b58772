"""The main job: score every official checkpoint that can be found, offline.

Uses PIRM_WEIGHTS_DIR / PIRM_DATA_DIR (default ../shared beside the repo).
"""

import os
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
os.environ.setdefault("PIRM_WEIGHTS_DIR", str(SHARED / "pretrained"))
os.environ.setdefault("PIRM_DATA_DIR", str(SHARED / "data" / "pirm2018"))

from pirm_enhance.cli import score  # noqa: E402

if __name__ == "__main__":
    sys.exit(score.run(["--all-pretrained", *sys.argv[1:]]))
