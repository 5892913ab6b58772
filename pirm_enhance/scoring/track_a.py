"""Track A (x4 super-resolution) fidelity, the organisers' protocol.

Each DIV2K image is downscaled x0.25 and upscaled back to its size with
PIL's bicubic filter (the organisers used ``scipy.misc.imresize``, a PIL
wrapper); the network restores it; 16 pixels are cropped from every border of
output and target, both are clipped to [0, 1] and compared with
``tf.image.psnr`` and ``tf.image.ssim_multiscale`` (TensorFlow's own, max_val 1).
"""

import numpy as np
import tensorflow as tf

from pirm_enhance.data.degrade import bicubic_down_up
from pirm_enhance.data.io import read_rgb
from pirm_enhance.progress import Progress
from pirm_enhance.scoring.validation import DataMissing, data_root, nonfinite_note

BORDER = 16


def track_a_images(data_dir=None):
    folder = data_root(data_dir) / "div2k" / "original"
    files = sorted(folder.glob("*.png"), key=lambda p: (len(p.stem), p.stem))
    if not files:
        raise DataMissing(f"no DIV2K validation images in {folder}")
    return files


def fidelity_a(runner, files, progress=True):
    psnrs, ssims, nonfinite = [], [], 0
    for path in Progress(files, "track A", enabled=progress):
        target = read_rgb(path)
        phone = np.float32(bicubic_down_up(target)) / 255.0
        out = runner(phone[None])[0]
        if not np.isfinite(out).all():  # the rule of validation.image_scores: 0 dB, MS-SSIM 0
            psnrs.append(0.0)
            ssims.append(0.0)
            nonfinite += 1
            continue
        crop = (slice(BORDER, -BORDER), slice(BORDER, -BORDER))
        out_c = np.clip(out[crop], 0, 1)
        tgt_c = np.float32(target[crop]) / 255.0
        psnrs.append(float(tf.image.psnr(out_c, tgt_c, max_val=1.0)))
        ssims.append(float(tf.image.ssim_multiscale(out_c, tgt_c, max_val=1.0)))
    return {"psnr": float(np.mean(psnrs)), "ms_ssim": float(np.mean(ssims)), "count": len(psnrs),
            "infinite_psnr": int(np.sum(~np.isfinite(psnrs))), "infinite_note": "none",
            "nonfinite_images": nonfinite, "nonfinite_note": nonfinite_note(nonfinite, len(psnrs))}
