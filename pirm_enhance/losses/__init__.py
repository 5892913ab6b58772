"""The papers' losses as plain functions of batch-first tensors in [0, 1].

Each docstring gives the formula and its source. Loss weights live in the
training recipes (:mod:`pirm_enhance.training.recipes`), not here.
"""

from pirm_enhance.losses.contextual import contextual_loss
from pirm_enhance.losses.kd import kd_loss
from pirm_enhance.losses.pixel import chroma_loss, color_loss, gaussian_kernel_21, l1_loss, tv_loss
from pirm_enhance.losses.ssim import ms_ssim_loss, ms_ssim_tf, ssim_loss
from pirm_enhance.losses.texture import Discriminator, discriminator_loss, texture_loss, to_gray
from pirm_enhance.losses.vgg import VGG19Features, content_loss

__all__ = ["Discriminator", "VGG19Features", "chroma_loss", "color_loss", "content_loss", "contextual_loss",
           "discriminator_loss", "gaussian_kernel_21", "kd_loss", "l1_loss", "ms_ssim_loss",
           "ms_ssim_tf", "ssim_loss", "texture_loss", "to_gray", "tv_loss"]
