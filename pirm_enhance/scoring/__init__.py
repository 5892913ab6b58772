"""Scoring as the PIRM 2018 organisers did: metrics, evaluation, challenge scores."""

from pirm_enhance.scoring.validation import DataMissing, evaluate, fidelity, track_b_pairs
from pirm_enhance.scoring.metrics import ms_ssim, psnr

__all__ = ["DataMissing", "evaluate", "fidelity", "ms_ssim", "psnr", "track_b_pairs"]
