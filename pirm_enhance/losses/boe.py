"""BOE-SBG's Track B losses (PIRM 2018 challenge report, Ignatov et al., ECCVW
2018, section 5.7).

The report lists the terms and nothing more: "L1 loss for each image color
channel, contextual, VGG, color, total variation and adversarial losses". It
gives no weights, no VGG layers and no normalisations, and the team's paper
(Liu, Navarrete Michelini and Zhu, "Deep networks for image-to-image translation
with Mux and Demux layers", ECCV workshops 2018) was not found. So:

* per-channel L1 (new here, :func:`per_channel_l1`): one mean absolute error
  per RGB channel, each with its own weight;
* contextual: :func:`pirm_enhance.losses.contextual_loss` on VGG-19 features
  (PPCN and Mechrez et al. used conv4_2; the layer is the caller's VGG);
* VGG: :func:`pirm_enhance.losses.content_loss` (DPED: relu5_4);
* colour and TV: DPED's :func:`color_loss`, :func:`tv_loss`;
* adversarial: DPED's :func:`texture_loss` (grayscale discriminator).

:func:`boe_sbg_loss` adds the terms with weights the caller passes (a recipe's
numbers: the report has none to give).
"""

import tensorflow as tf

from pirm_enhance.losses.contextual import contextual_loss
from pirm_enhance.losses.pixel import color_loss, tv_loss
from pirm_enhance.losses.texture import texture_loss
from pirm_enhance.losses.vgg import content_loss

TERMS = ("l1", "contextual", "content", "color", "tv", "texture")


def per_channel_l1(target, enhanced, weights=(1.0, 1.0, 1.0)):
    """``sum_c w_c * mean_{b,h,w} |t_c - e_c|``: an L1 loss for each colour channel
    (RGB), weighted per channel. With equal weights 1 it is 3x the plain mean L1."""
    diff = tf.abs(tf.convert_to_tensor(target, tf.float32) - tf.convert_to_tensor(enhanced, tf.float32))
    per_channel = tf.reduce_mean(diff, axis=(0, 1, 2))
    return tf.reduce_sum(per_channel * tf.constant(weights, tf.float32))


def _contextual(target, enhanced, vgg, seed):
    ft, fe = vgg(target), vgg(enhanced)
    terms = [contextual_loss(tf.stop_gradient(ft[name]), fe[name], seed=seed) for name in vgg.layers]
    return tf.add_n(terms) / len(terms)


def boe_sbg_loss(target, enhanced, weights, *, content_vgg=None, contextual_vgg=None,
                 discriminator=None, swaps=None, seed=None):
    """BOE-SBG's combination: ``sum_k weights[k] * term_k``; returns ``(total, terms)``.

    ``weights``: a dict over :data:`TERMS`; ``"l1"`` may be one number or a list or
    tuple of one per RGB channel (the per-channel L1's weights); a missing or zero weight skips the
    term, so its model is not needed. ``content_vgg`` / ``contextual_vgg``:
    :class:`~pirm_enhance.losses.VGG19Features` whose layers each term averages
    over; ``discriminator`` and ``swaps``: as :func:`texture_loss`; ``seed``: the
    contextual loss's sampling seed. ``terms`` holds each unweighted term
    (``"l1"`` with its per-channel weights applied)."""
    unknown = set(weights) - set(TERMS)
    if unknown:
        raise ValueError(f"unknown BOE-SBG loss term(s) {sorted(unknown)}; known: {', '.join(TERMS)}")
    needs = {"content": content_vgg, "contextual": contextual_vgg, "texture": discriminator}
    terms, coefficients = {}, {}
    for name in TERMS:
        weight = weights.get(name, 0.0)
        if name == "l1" and isinstance(weight, (list, tuple)):
            # one weight per channel: applied inside the term
            terms[name], coefficients[name] = per_channel_l1(target, enhanced, tuple(weight)), 1.0
            continue
        if not weight:
            continue
        if name in needs and needs[name] is None:
            raise ValueError(f"the {name!r} term has weight {weight} but no model was given for it")
        if name == "l1":
            terms[name] = per_channel_l1(target, enhanced)
        elif name == "contextual":
            terms[name] = _contextual(target, enhanced, contextual_vgg, seed)
        elif name == "content":
            terms[name] = content_loss(target, enhanced, content_vgg)
        elif name == "color":
            terms[name] = color_loss(target, enhanced)
        elif name == "tv":
            terms[name] = tv_loss(enhanced)
        else:
            terms[name] = texture_loss(discriminator, target, enhanced, swaps)
        coefficients[name] = float(weight)
    total = tf.add_n([coefficients[name] * value for name, value in terms.items()]) if terms \
        else tf.constant(0.0)
    return total, terms
