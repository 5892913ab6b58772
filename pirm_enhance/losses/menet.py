"""MENet's two extra texture losses (PIRM 2018 challenge report, Ignatov et al.,
ECCVW 2018, section 5.9).

The report: MENet trained "using the same setup as in [DPED]" (content, texture
(adversarial), colour and TV losses, Adam) with two differences: 1) two additional
texture loss functions, "local contrast normalization and gradient", and 2) after
pre-training, fine-tuning on the same dataset with the Adam optimiser at a
learning rate of 1e-4 (a second phase of a recipe, not a loss). The report does
not define the two losses and the team's paper or code was not found, so both
follow the standard definitions named below; every choice is listed.

* LCN loss, :func:`lcn_loss`: ``mean |LCN(t) - LCN(e)|`` on grayscale
  (ITU-R 601 luma, as DPED's texture loss), where LCN is the mean-subtracted
  contrast-normalised map of Mittal, Moorthy and Bovik ("No-reference image
  quality assessment in the spatial domain", IEEE TIP 2012, BRISQUE's MSCN):
  ``(I - mu) / (sigma + C)``, ``mu = w * I``, ``sigma = sqrt(w * I^2 - mu^2)``,
  ``w`` a 7x7 Gaussian of standard deviation 7/6 normalised to sum 1, ``C = 1``
  on the 0..255 scale (1/255 here, images in [0, 1]). Only positions whose whole
  window lies inside the image count ('valid'), so borders are not biased by
  padding; images must be at least ``size`` pixels high and wide.
  Choices: BRISQUE's window and constant, grayscale, L1 distance.
* Gradient loss, :func:`gradient_loss`: the gradient difference loss of
  Mathieu, Couprie and LeCun ("Deep multi-scale video prediction beyond mean
  square error", ICLR 2016), ``mean ||dx t| - |dx e||^alpha + mean ||dy t| -
  |dy e||^alpha`` with forward differences on grayscale, alpha = 1. Choices:
  grayscale, means instead of the paper's sums (independent of patch size),
  alpha 1.

Weights of the two terms: not in the report (a recipe's numbers).
"""

import numpy as np
import tensorflow as tf

from pirm_enhance.losses.texture import to_gray


def gaussian_window(size=7, sigma=7.0 / 6.0):
    """``size x size`` Gaussian of standard deviation ``sigma`` (in pixels), sum 1."""
    r = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(r ** 2) / (2.0 * sigma ** 2))
    w = np.outer(g, g)
    return (w / w.sum()).astype(np.float32)


def local_contrast_normalise(images, size=7, sigma=7.0 / 6.0, c=1.0 / 255.0):
    """MSCN map of the grayscale image: ``(I - mu) / (sigma_local + c)`` at every
    position whose ``size x size`` window lies inside the image; ``[B, H-size+1,
    W-size+1, 1]``. See the module docstring."""
    gray = to_gray(tf.convert_to_tensor(images, tf.float32))
    window = tf.constant(gaussian_window(size, sigma)[:, :, None, None])
    mu = tf.nn.conv2d(gray, window, 1, "VALID")
    var = tf.nn.conv2d(tf.square(gray), window, 1, "VALID") - tf.square(mu)
    # float rounding can take the variance of a flat window a hair below zero
    sd = tf.sqrt(tf.maximum(var, 0.0) + 1e-12)
    r = (size - 1) // 2
    centre = gray[:, r:tf.shape(gray)[1] - r, r:tf.shape(gray)[2] - r, :]
    return (centre - mu) / (sd + c)


def lcn_loss(target, enhanced, size=7, sigma=7.0 / 6.0, c=1.0 / 255.0):
    """``mean |LCN(target) - LCN(enhanced)|`` (MENet's local-contrast-normalisation
    texture loss as reconstructed here; see the module docstring)."""
    return tf.reduce_mean(tf.abs(local_contrast_normalise(target, size, sigma, c)
                                 - local_contrast_normalise(enhanced, size, sigma, c)))


def gradient_loss(target, enhanced, alpha=1.0):
    """Gradient difference loss on grayscale: ``mean(||dx t| - |dx e||^alpha) +
    mean(||dy t| - |dy e||^alpha)`` with forward differences (Mathieu et al. 2016)."""
    t = to_gray(tf.convert_to_tensor(target, tf.float32))
    e = to_gray(tf.convert_to_tensor(enhanced, tf.float32))

    def term(axis):
        if axis == 1:
            dt, de = t[:, 1:] - t[:, :-1], e[:, 1:] - e[:, :-1]
        else:
            dt, de = t[:, :, 1:] - t[:, :, :-1], e[:, :, 1:] - e[:, :, :-1]
        return tf.reduce_mean(tf.pow(tf.abs(tf.abs(dt) - tf.abs(de)), alpha))

    return term(1) + term(2)
