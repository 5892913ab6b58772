"""Track B fidelity evaluation on the PIRM validation pairs (organisers' protocol)."""

import os
import pathlib

import numpy as np

from pirm_enhance.data.io import read_float
from pirm_enhance.progress import Progress
from pirm_enhance.metrics import ms_ssim, psnr

INFINITE_POLICIES = ("exclude", "cap")
PSNR_CAP_DB = 100.0


from pirm_enhance.errors import DataMissing, UsageError  # noqa: E402  (DataMissing re-exported)


def data_root(data_dir=None):
    """Folder holding ``dped/`` (and ``div2k/``): ``data_dir`` or ``$PIRM_DATA_DIR``."""
    root = data_dir or os.environ.get("PIRM_DATA_DIR")
    how = ("Download the PIRM 2018 validation data (dped/patches/{iphone,canon}, dped/HD_res, "
           "div2k/) and pass --data DIR or set PIRM_DATA_DIR to the folder holding dped/")
    if not root:
        raise DataMissing(f"no PIRM validation data: PIRM_DATA_DIR is unset. {how}")
    root = pathlib.Path(root)
    if not (root / "dped").is_dir():
        raise DataMissing(f"no dped/ folder in {root}. {how}")
    return root


def track_b_pairs(data_dir=None):
    """Sorted ``[(phone.jpg, canon.jpg)]`` of ``dped/patches`` (numeric order)."""
    root = data_root(data_dir) / "dped" / "patches"
    phone_dir, canon_dir = root / "iphone", root / "canon"
    if not phone_dir.is_dir() or not canon_dir.is_dir():
        raise DataMissing(f"{root} must hold iphone/ and canon/ folders of N.jpg patches")
    names = sorted((p.name for p in phone_dir.glob("*.jpg")),
                   key=lambda n: (int(n[:-4]) if n[:-4].isdigit() else 1 << 60, n))
    pairs = [(phone_dir / n, canon_dir / n) for n in names if (canon_dir / n).exists()]
    if not pairs:
        raise DataMissing(f"no N.jpg pairs in {phone_dir} and {canon_dir}")
    return pairs


def fidelity(runner, pairs, batch_size=50, infinite="exclude", progress=True, label="evaluate"):
    """PSNR / MS-SSIM of ``runner`` on ``pairs``, the organisers' way.

    Phone and target are read as uint8 / 255; the output is clipped for PSNR
    only; MS-SSIM takes ``target * 255`` and ``output * 255``. Per-image PSNR
    is infinite when the clipped output equals the target (pure white pairs):
    ``infinite="exclude"`` leaves those images out of the PSNR mean,
    ``"cap"`` counts them as ``PSNR_CAP_DB``. Either way the result says how many.

    An output image holding any NaN or infinity counts as 0 dB PSNR and 0
    MS-SSIM (:func:`image_scores`), whatever ``infinite`` says: leaving it out
    would reward a graph for failing on the images it does worst on.
    ``nonfinite_images`` and ``nonfinite_note`` report how many.
    """
    if infinite not in INFINITE_POLICIES:
        raise ValueError(f"infinite must be one of {INFINITE_POLICIES}, got {infinite!r}")
    psnrs, ssims, nonfinite = [], [], 0
    chunks = [pairs[i:i + batch_size] for i in range(0, len(pairs), batch_size)]
    for chunk in Progress(chunks, label, enabled=progress):
        groups = {}
        for phone_path, target_path in chunk:
            phone, target = read_float(phone_path), read_float(target_path)
            if phone.shape != target.shape:  # the data, not the model: one line naming the pair
                raise DataMissing(f"validation pair {phone_path} ({phone.shape[1]}x{phone.shape[0]}) and "
                                  f"{target_path} ({target.shape[1]}x{target.shape[0]}) differ in size; the "
                                  "pairs must be aligned patches of one size: restore the validation data")
            groups.setdefault(phone.shape, []).append((phone, target))
        for items in groups.values():
            phones = np.stack([p for p, _ in items])
            outputs = runner(phones)
            for out, (_, target) in zip(outputs, items):
                p, s, ok = image_scores(out, target)
                psnrs.append(p)
                ssims.append(s)
                nonfinite += not ok
    psnrs = np.array(psnrs)
    finite = np.isfinite(psnrs)
    n_inf = int((~finite).sum())
    if infinite == "exclude":
        mean_psnr = float(psnrs[finite].mean()) if finite.any() else float("inf")
        what = f"{n_inf} infinite-PSNR image(s) left out of the PSNR mean" if n_inf else "none"
    else:
        mean_psnr = float(np.where(finite, psnrs, PSNR_CAP_DB).mean())
        what = f"{n_inf} infinite-PSNR image(s) counted as {PSNR_CAP_DB:g} dB" if n_inf else "none"
    ssims = np.array(ssims)
    n_nan = int(np.isnan(ssims).sum())
    if n_nan:  # negative contrast-structure terms: the organisers' formula gives NaN too
        what = (what if n_inf else "") + f"{'; ' if n_inf else ''}{n_nan} image(s) with NaN MS-SSIM"
    return {"psnr": mean_psnr, "ms_ssim": float(np.mean(ssims)), "count": len(psnrs), "ms_ssim_nan": n_nan,
            "infinite_psnr": n_inf, "infinite_policy": infinite, "infinite_note": what,
            "nonfinite_images": nonfinite, "nonfinite_note": nonfinite_note(nonfinite, len(psnrs))}


def image_scores(output, target):
    """``(psnr, ms_ssim, finite)`` of one ``[H, W, 3]`` output against its target.

    The rule for broken outputs: an output holding any NaN or infinity scores
    0 dB PSNR (the floor of a clipped output) and 0 MS-SSIM, and ``finite`` is
    False. Only a finite output can reach infinite PSNR (an exact match).
    """
    output = np.asarray(output)
    if not np.isfinite(output).all():
        return 0.0, 0.0, False
    return psnr(output, target), ms_ssim(target[None] * 255.0, output[None] * 255.0), True


def nonfinite_note(count, total):
    if not count:
        return "none"
    return f"{count} of {total} output image(s) held NaN or inf, counted as 0 dB PSNR and 0 MS-SSIM"


def evaluate(model_or_name, data_dir=None, batch_size=50, infinite="exclude", progress=True, track="B"):
    """Mean PSNR and MS-SSIM of a model on the 400 Track B validation pairs
    (``track="A"``: on the DIV2K images under the Track A protocol, see
    :mod:`pirm_enhance.scoring.track_a`).

    ``model_or_name``: a ``keras.Model``, a pretrained name (``"ppcn_student.paper"``),
    a ``.keras`` file, or a runner. ``data_dir`` (or ``$PIRM_DATA_DIR``) holds
    ``dped/patches/{iphone,canon}``. Returns ``{"psnr", "ms_ssim", "count",
    "infinite_psnr", "infinite_policy", "infinite_note", "nonfinite_images", ...}``.
    """
    from pirm_enhance.runners import make_runner

    runner = make_runner(model_or_name)
    if track == "A":
        from pirm_enhance.scoring.track_a import fidelity_a, track_a_images

        return fidelity_a(runner, track_a_images(data_dir), progress=progress)
    if track != "B":
        raise UsageError(f"track {track!r}: choose A (super-resolution) or B (enhancement)")
    return fidelity(runner, track_b_pairs(data_dir), batch_size=batch_size, infinite=infinite,
                    progress=progress, label=f"evaluate {getattr(runner, 'name', '')}".strip())
