"""Geometry's Track B objective: SSIM on the middle output, adversarial, smooth and style
losses on the final output.

PIRM 2018 challenge report (Ignatov et al., ECCVW 2018), section 5.12: "The
intermediate output (Output OC) is used to compute SSIM loss, while the final one
(Output OE) is used to compute the loss function consisting of adversarial,
smooth, and style losses. During the training all losses are summed". The report
defines none of the terms and gives no weights; the choices made here:

* SSIM: ``1 - SSIM(target, OC)`` (:func:`pirm_enhance.losses.ssim_loss`,
  ``tf.image.ssim``, max_val 1);
* adversarial: DPED's texture loss and discriminator
  (:func:`pirm_enhance.losses.texture_loss`), the challenge baseline's
  adversarial term, on OE;
* smooth: DPED's total-variation loss (:func:`smooth_loss`), the challenge
  baseline's smoothness term, on OE;
* style: the Gram-matrix loss of Gatys et al. / Johnson et al. (:func:`style_loss`)
  between VGG-19 features of OE and of the target, on :data:`STYLE_LAYERS`
  (the VGG-19 counterparts of Johnson et al.'s relu1_2, relu2_2, relu3_3, relu4_3);
* weights: left to the training recipe (the report sums the terms).

Use with :meth:`pirm_enhance.archs.geometry.Geometry.two_output_model`, which
gives ``[OC, OE]``.
"""

import tensorflow as tf

from pirm_enhance.losses.pixel import tv_loss
from pirm_enhance.losses.ssim import ssim_loss
from pirm_enhance.losses.texture import texture_loss

STYLE_LAYERS = ("relu1_2", "relu2_2", "relu3_4", "relu4_4")


def gram_matrix(features):
    """Per-image Gram matrix of ``[B, H, W, C]`` features, normalised by the element count
    (Johnson et al., "Perceptual losses for real-time style transfer and
    super-resolution", ECCV 2016, eq. 3): ``G[b, c, d] = sum_hw F[b,h,w,c] F[b,h,w,d] / (H W C)``."""
    f = tf.convert_to_tensor(features, tf.float32)
    shape = tf.cast(tf.shape(f), tf.float32)
    return tf.einsum("bhwc,bhwd->bcd", f, f) / (shape[1] * shape[2] * shape[3])


def _as_list(features):
    if isinstance(features, dict):
        return [features[k] for k in sorted(features)]
    if isinstance(features, (list, tuple)):
        return list(features)
    return [features]


def style_loss(target_features, enhanced_features):
    """Gram-matrix style loss (Johnson et al. 2016, eq. 4, summed over layers j)::

        L_style = sum_j mean_b || G(F_j(enhanced))_b - G(F_j(target))_b ||_F^2

    with ``G`` of :func:`gram_matrix`. The arguments are feature maps (one tensor, a list, or
    the ``{layer: features}`` dict of :class:`pirm_enhance.losses.VGG19Features`; dicts are
    matched by key), so the loss needs no VGG weights itself. No gradient reaches the
    target's features."""
    if isinstance(target_features, dict) != isinstance(enhanced_features, dict):
        raise TypeError("style_loss: give both feature sets as dicts, or neither")
    if isinstance(target_features, dict) and set(target_features) != set(enhanced_features):
        raise ValueError(f"style_loss: layers differ: {sorted(target_features)} vs {sorted(enhanced_features)}")
    targets, enhanced = _as_list(target_features), _as_list(enhanced_features)
    if len(targets) != len(enhanced):
        raise ValueError(f"style_loss: {len(targets)} target feature maps but {len(enhanced)} enhanced")
    terms = [tf.reduce_mean(tf.reduce_sum(tf.square(gram_matrix(e) - tf.stop_gradient(gram_matrix(t))),
                                          axis=[1, 2]))
             for t, e in zip(targets, enhanced)]
    return tf.add_n(terms)


def smooth_loss(enhanced):
    """The smooth term: DPED's total variation (:func:`pirm_enhance.losses.tv_loss`),
    ``2 * (l2(dy) / |dy| + l2(dx) / |dx|) / batch`` with ``l2(t) = sum(t^2) / 2`` and
    ``|dx| = H (W-1) C``, ``|dy| = (H-1) W C``. The report names a "smooth" loss without
    defining it; this project takes the challenge baseline's."""
    return tv_loss(enhanced)


def geometry_losses(target, output_oc, output_oe, discriminator, swaps, vgg):
    """Geometry's terms, unweighted (the recipe weights and sums them)::

        {"ssim": 1 - SSIM(target, OC),
         "adversarial": texture_loss(discriminator, target, OE, swaps),
         "smooth": smooth_loss(OE),
         "style": style_loss(vgg(target), vgg(OE))}

    ``discriminator``, ``swaps``: DPED's texture discriminator and the per-image 0/1 draw
    (which the generator's term, :func:`pirm_enhance.losses.texture_loss`, ignores, as DPED's
    generator step did); ``vgg``: a callable ``images ->
    {layer: features}`` such as ``VGG19Features(STYLE_LAYERS, weights=...)``."""
    return {
        "ssim": ssim_loss(target, output_oc),
        "adversarial": texture_loss(discriminator, target, output_oe, swaps),
        "smooth": smooth_loss(output_oe),
        "style": style_loss(vgg(target), vgg(output_oe)),
    }
