"""MDIE's losses (thesis "DPED+, MPSE and MDIE", section 3.2; the networks are in
:mod:`pirm_enhance.archs.mdie`).

Notation: ``I`` an image, ``F(I) = (A, S)`` its albedo and shading, ``F'`` the
composition network, ``G(x, c~)`` the multi-domain generator on intrinsics
``x`` with label ``c~ = [c_1..c_n, m_1..m_n]`` (labels, then the one-hot mask),
``D_src`` / ``D_cls`` the discriminator's source and class logits. Means run
over every element (batch, pixels, channels), so that the weights of the
recipes do not depend on the patch size; the thesis writes norms.

Choices where the thesis is silent or garbled, besides means for norms:

* probabilities are sigmoids of logits: ``log D = -softplus(-z)``,
  ``log(1 - D) = -softplus(z)``;
* the generator's adversarial term is the non-saturating ``-log D_src(G(x, c))``
  (Goodfellow et al. 2014, section 3); the thesis's minimax form, G minimising
  ``log(1 - D_src(G(x, c)))``, is ``saturating=True``;
* each attribute has two values (low / high quality), so ``D_cls`` gives one
  logit per attribute and ``-log D_cls(c|x)`` is the binary cross-entropy of the
  attribute the mask names (StarGAN's masked classification loss);
* the MDIE reconstruction ``alpha ||I_LQ - F'(A_LQ, S_LQ)|| + beta ||I_HQ -
  F'(A_HQ, S_HQ)||^2`` (section 3.2.3): the first norm is taken as L1 (mean
  absolute error), the second as written (mean squared error);
* :func:`pseudo_intrinsics` and :func:`intrinsic_prior_loss` stand in for the
  thesis's pre-training on MPI Sintel's ground-truth albedo and shading
  (section 5.2), which is not available here: see their docstrings.
"""

import tensorflow as tf


def _f32(x):
    return tf.convert_to_tensor(x, tf.float32)


def intrinsic_reconstruction_loss(image, recomposed):
    """``mean((I - F'(A, S))^2)``: the self-supervised reconstruction loss through the
    composition network (thesis 3.2.1, ``L_rec = ||I - F'(A, S)||_2^2``)."""
    return tf.reduce_mean(tf.square(_f32(image) - _f32(recomposed)))


def product_reconstruction_loss(image, albedo, shading):
    """``mean((I - A . S)^2)``: the product reconstruction the thesis rejects (3.2.1):
    ``A = I, S = 1`` makes it zero for every image, so it cannot train F alone."""
    return tf.reduce_mean(tf.square(_f32(image) - _f32(albedo) * _f32(shading)))


def pseudo_intrinsics(image, epsilon=1e-3):
    """``(A*, S*)``: a decomposition computed from the image itself, ``S* = max_c I``
    (the HSV value, on all three shading channels) and ``A* = I / max(S*, eps)``, so
    that ``A* . S* = I`` wherever ``max_c I >= eps``. Colour (hue and saturation)
    goes to the albedo, brightness, noise and texture to the shading, the split the
    thesis observes in figure 10. Not in the thesis: a stand-in for the ground truth
    of its pre-training phase (MPI Sintel, section 5.2)."""
    image = _f32(image)
    value = tf.reduce_max(image, axis=-1, keepdims=True)
    shading = tf.tile(value, [1, 1, 1, 3])
    return image / tf.maximum(value, epsilon), shading


def intrinsic_prior_loss(image, albedo, shading):
    """``(mean((A - A*)^2), mean((S - S*)^2))`` against :func:`pseudo_intrinsics`: the
    albedo and shading terms of the pre-training phase ("the loss in albedo, shading
    and reconstruction will be rebalanced", thesis 5.2), with pseudo ground truth."""
    a_star, s_star = pseudo_intrinsics(image)
    return (tf.reduce_mean(tf.square(_f32(albedo) - a_star)),
            tf.reduce_mean(tf.square(_f32(shading) - s_star)))


def adversarial_discriminator_loss(real_logits, fake_logits):
    """``-L_adv = -E[log D_src(x)] - E[log(1 - D_src(G(x, c)))]``
    ``= mean(softplus(-real)) + mean(softplus(fake))``: D maximises ``L_adv``
    (thesis 3.2.2, "Adversarial Loss"), written as a loss to minimise."""
    return tf.reduce_mean(tf.nn.softplus(-_f32(real_logits))) + tf.reduce_mean(tf.nn.softplus(_f32(fake_logits)))


def adversarial_generator_loss(fake_logits, saturating=False):
    """G's adversarial term: ``mean(softplus(-fake)) = -E[log D_src(G(x, c))]``
    (non-saturating), or with ``saturating=True`` the thesis's minimax term
    ``E[log(1 - D_src(G(x, c)))] = -mean(softplus(fake))``."""
    fake_logits = _f32(fake_logits)
    if saturating:
        return -tf.reduce_mean(tf.nn.softplus(fake_logits))
    return tf.reduce_mean(tf.nn.softplus(-fake_logits))


def split_label(label, n=3):
    """``(c, m)``: the attribute labels and the mask of ``c~ = [c_1..c_n, m_1..m_n]``."""
    label = _f32(label)
    return label[..., :n], label[..., n:]


def domain_classification_loss(cls_logits, label):
    """``E[-log D_cls(c|x)]`` over the attributes the mask names: with ``c, m`` from
    ``label`` (:func:`split_label`, n = number of logits) and ``z`` the logits,
    ``mean_batch(sum_i m_i (softplus(z_i) - c_i z_i))``, the binary cross-entropy
    ``-(c_i log sigmoid(z_i) + (1 - c_i) log(1 - sigmoid(z_i)))`` of each named
    attribute (thesis 3.2.2: ``L_cls^r`` on real images with their labels trains D,
    ``L_cls^f`` on ``G(x, c)`` with the target labels trains G)."""
    cls_logits = _f32(cls_logits)
    c, m = split_label(label, cls_logits.shape[-1])
    per_attribute = tf.nn.softplus(cls_logits) - c * cls_logits
    return tf.reduce_mean(tf.reduce_sum(m * per_attribute, axis=-1))


def cycle_loss(x, cycled):
    """``L_cyc = E[||x - G(G(x, c), c')||_1]`` as a mean absolute error (thesis 3.2.2,
    "Cycle Reconstruction Loss"; ``c'`` the original label)."""
    return tf.reduce_mean(tf.abs(_f32(x) - _f32(cycled)))


def mdie_reconstruction_loss(low, low_recomposed, high, high_recomposed, alpha=1.0, beta=1.0):
    """``alpha mean|I_LQ - F'(A_LQ, S_LQ)| + beta mean((I_HQ - F'(A_HQ, S_HQ))^2)``: the
    intrinsic reconstruction kept while MDIE trains as a whole (thesis 3.2.3)."""
    return (alpha * tf.reduce_mean(tf.abs(_f32(low) - _f32(low_recomposed)))
            + beta * tf.reduce_mean(tf.square(_f32(high) - _f32(high_recomposed))))


def mdie_discriminator_objective(real_src, fake_src, real_cls, real_label, cls_weight=1.0):
    """``L_D = -L_adv + lambda_cls L_cls^r`` (thesis 3.2.2, "Full Objective"; lambda_cls = 1)."""
    return adversarial_discriminator_loss(real_src, fake_src) + cls_weight * domain_classification_loss(
        real_cls, real_label)


def mdie_generator_objective(fake_src, fake_cls, target_label, x, cycled, cls_weight=1.0, cycle_weight=10.0,
                             saturating=False):
    """``L_G = L_adv + lambda_cls L_cls^f + lambda_cyc L_cyc`` (thesis 3.2.2; lambda_cls = 1,
    lambda_cyc = 10); returns ``(total, {"adversarial", "domain_cls", "cycle"})``."""
    terms = {"adversarial": adversarial_generator_loss(fake_src, saturating),
             "domain_cls": domain_classification_loss(fake_cls, target_label),
             "cycle": cycle_loss(x, cycled)}
    total = terms["adversarial"] + cls_weight * terms["domain_cls"] + cycle_weight * terms["cycle"]
    return total, terms
