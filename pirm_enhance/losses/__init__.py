"""The papers' losses as plain functions of batch-first tensors in [0, 1].

Each docstring gives the formula and its source. Loss weights live in the
training recipes (:mod:`pirm_enhance.training.recipes`), not here.
"""

from pirm_enhance.losses.boe import boe_sbg_loss, per_channel_l1
from pirm_enhance.losses.contextual import contextual_loss
from pirm_enhance.losses.geometry import geometry_losses, gram_matrix, smooth_loss, style_loss
from pirm_enhance.losses.kaist import (RelativisticDiscriminator, kaist_discriminator_loss, kaist_generator_losses,
                                       ragan_discriminator_loss, ragan_generator_loss)
from pirm_enhance.losses.menet import gradient_loss, lcn_loss, local_contrast_normalise
from pirm_enhance.losses.snpr import (SNPRDiscriminator, gan_discriminator_loss, gan_generator_loss,
                                      snpr_adversarial_loss, snpr_discriminator_loss)
from pirm_enhance.losses.kd import kd_loss
from pirm_enhance.losses.matting import matting_laplacian
from pirm_enhance.losses.mpse import (area_indicators, area_softmax, enhancement_factor_head, mpse_content_loss,
                                      photorealism_loss, recommendation_triplet_loss, regional_gram,
                                      regional_style_loss, regional_style_terms)
from pirm_enhance.losses.mdie import (adversarial_discriminator_loss, adversarial_generator_loss, cycle_loss,
                                      domain_classification_loss, intrinsic_prior_loss,
                                      intrinsic_reconstruction_loss, mdie_discriminator_objective,
                                      mdie_generator_objective, mdie_reconstruction_loss,
                                      product_reconstruction_loss, pseudo_intrinsics)
from pirm_enhance.losses.pixel import chroma_loss, color_loss, gaussian_kernel_21, hue_loss, l1_loss, mse_loss, tv_loss
from pirm_enhance.losses.ssim import ms_ssim_loss, ms_ssim_tf, ssim_loss
from pirm_enhance.losses.texture import Discriminator, discriminator_loss, texture_loss, to_gray
from pirm_enhance.losses.vgg import VGG19Features, content_loss

__all__ = ["Discriminator", "RelativisticDiscriminator", "SNPRDiscriminator", "VGG19Features",
           "adversarial_discriminator_loss", "adversarial_generator_loss", "cycle_loss",
           "domain_classification_loss", "intrinsic_prior_loss", "intrinsic_reconstruction_loss",
           "mdie_discriminator_objective", "mdie_generator_objective", "mdie_reconstruction_loss",
           "product_reconstruction_loss", "pseudo_intrinsics", "boe_sbg_loss",
           "chroma_loss", "color_loss", "hue_loss", "content_loss", "contextual_loss", "discriminator_loss",
           "gan_discriminator_loss", "gan_generator_loss", "gaussian_kernel_21", "geometry_losses",
           "gradient_loss", "gram_matrix", "kaist_discriminator_loss", "kaist_generator_losses", "kd_loss",
           "l1_loss", "lcn_loss", "local_contrast_normalise", "ms_ssim_loss", "ms_ssim_tf", "mse_loss", "per_channel_l1",
           "area_indicators", "area_softmax", "enhancement_factor_head", "matting_laplacian", "mpse_content_loss",
           "photorealism_loss", "recommendation_triplet_loss", "regional_gram", "regional_style_loss",
           "regional_style_terms",
           "ragan_discriminator_loss", "ragan_generator_loss", "smooth_loss", "snpr_adversarial_loss",
           "snpr_discriminator_loss", "ssim_loss", "style_loss", "texture_loss", "to_gray", "tv_loss"]
