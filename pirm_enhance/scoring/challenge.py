"""PIRM 2018 Score A / B / C (PIRM2018.md section 3).

    score = alpha * (PSNR - PSNR_base) + beta * (P - P_base) + gamma * min(4, T_base / T)

P is MS-SSIM in the validation phase. The final Track B ranking replaced it by
the user study's mean opinion score; fitting the published final table gives
the term ``beta * 0.0719 * (MOS - 2.2955)`` (MOS relative to SRCNN's MOS).
"""

TRACKS = {
    "A": {"psnr_base": 26.5, "ms_ssim_base": 0.94,
          "weights": {"A": (4, 100, 1), "B": (1, 400, 1), "C": (2, 200, 1.5)}},
    "B": {"psnr_base": 21.0, "ms_ssim_base": 0.90,
          "weights": {"A": (4, 100, 2), "B": (1, 400, 2), "C": (2, 200, 2.9)}},
}
MOS_BASE = 2.2955  # SRCNN baseline's mean opinion score in the Track B user study
MOS_SCALE = 0.0719  # MS-SSIM-equivalent units per MOS point
SPEED_CAP = 4.0


def challenge_scores(psnr, perceptual, time_ms, baseline_time_ms, track="B", perceptual_kind="ms_ssim"):
    """``{"A": ..., "B": ..., "C": ...}`` for one solution.

    ``perceptual`` is MS-SSIM (``perceptual_kind="ms_ssim"``) or the mean
    opinion score (``"mos"``, Track B final ranking). ``time_ms`` and
    ``baseline_time_ms`` are CPU times at 1280x720 of the solution and of SRCNN,
    measured the same way; the speed term is capped at 4x.
    """
    if track not in TRACKS:
        raise ValueError(f"track must be 'A' or 'B', got {track!r}")
    if perceptual_kind not in ("ms_ssim", "mos"):
        raise ValueError(f"perceptual_kind must be 'ms_ssim' or 'mos', got {perceptual_kind!r}")
    if not time_ms > 0 or not baseline_time_ms > 0:
        raise ValueError("times must be positive")
    spec = TRACKS[track]
    if perceptual_kind == "mos":
        p_term = MOS_SCALE * (perceptual - MOS_BASE)
    else:
        p_term = perceptual - spec["ms_ssim_base"]
    speed = min(SPEED_CAP, baseline_time_ms / time_ms)
    return {name: alpha * (psnr - spec["psnr_base"]) + beta * p_term + gamma * speed
            for name, (alpha, beta, gamma) in spec["weights"].items()}
