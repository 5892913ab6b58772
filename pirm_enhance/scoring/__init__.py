"""Scoring as the PIRM 2018 organisers did: metrics, evaluation, challenge scores."""

from pirm_enhance.scoring.validation import DataMissing, evaluate, fidelity, track_b_pairs
from pirm_enhance.metrics import ms_ssim, psnr

__all__ = ["DataMissing", "evaluate", "fidelity", "ms_ssim", "psnr", "track_b_pairs"]
from pirm_enhance.scoring.challenge import challenge_scores  # noqa: E402
from pirm_enhance.scoring.score import format_table, score  # noqa: E402

__all__ += ["challenge_scores", "format_table", "score"]
