"""MPSE phase 2, semantic style enhancement: the losses of thesis "DPED+, MPSE and MDIE"
(/work/shared/papers/thesis_dped_plus_mpse_mdie.txt), section 3.1.2.

The output ``O`` (initialised from the phase-1 image ``I``) is optimised towards
the style of a reference ``R`` (:func:`pirm_enhance.mpse.semantic_style_enhance`)
under::

    L(O, Lambda) = L_c(O) + Gamma L_s(O, Lambda) + lambda L_m(O)          (3.1.2, "Final Objective")

* :func:`regional_style_loss` ``L_s`` (3.1.2, "Semantically Adaptive
  Enhancement"): Gram-matrix distances per VGG-19 layer ``l`` and semantic
  region ``r``, each weighted by an enhancement factor ``Lambda_r^l``;
* :func:`area_softmax` and :func:`enhancement_factor_head`: the factors
  ``Lambda_r^l``, a softmax over regions of the area indicator ``alpha_r^l``
  (:func:`area_indicators`) times the output ``H_r^l`` of one fully connected
  layer on the globally pooled conv5_3 features of ``O`` and ``R`` (3.1.2,
  "Self-learning Enhancement Factor");
* :func:`mpse_content_loss` ``L_c`` and :func:`photorealism_loss` ``L_m``, the
  Matting Laplacian term (3.1.2, "Photorealistics Transfer"; the matrix is
  :func:`pirm_enhance.losses.matting.matting_laplacian`);
* :func:`recommendation_triplet_loss`, the objective of the reference
  recommendation network (3.1.2, "Reference Recommendation Network").

The thesis takes ``L_c``, ``L_m`` and the form of ``L_s`` from Luan et al.,
"Deep photo style transfer" (CVPR 2017), equations 2-4. What it leaves open and
what is chosen here is said at each function; loss weights are arguments of the
caller, not of the losses.
"""

import keras
import numpy as np
import tensorflow as tf
from scipy import sparse

from pirm_enhance.errors import UsageError

POOLED_LAYER = "relu5_3"  # "the global pooling layer after conv5_3" (VGG-19); its ReLU output


def _as_batch(x):
    x = tf.convert_to_tensor(x, tf.float32)
    return x[None] if x.shape.rank == 3 else x


def resize_masks(masks, size):
    """Region masks ``[R, H, W]`` resized to ``size = (h, w)`` by area averaging: each cell of a
    VGG layer gets the fraction of its footprint inside the region (Luan et al. resize the masks
    to every layer too; the method is not given in either source)."""
    masks = tf.convert_to_tensor(masks, tf.float32)
    return tf.image.resize(masks[..., None], size, method="area")[..., 0]


def regional_gram(features, masks):
    """Gram matrices of one image's ``features`` (``[1, h, w, C]`` or ``[h, w, C]``) inside each
    region, and each region's area in feature cells: ``(G [R, C, C], area [R])``::

        F_r = F * M_r,     G_r = F_r^T F_r / (C * area_r),     area_r = sum_p M_r(p)

    with ``M_r`` the mask resized to the feature map (:func:`resize_masks`). The thesis
    (3.1.2, after Luan et al. eq. 4) defines ``G_r^l`` as the Gram matrix of the masked
    features without a normalisation; dividing by the region's area makes a region's Gram
    its mean over the region (independent of the region's and the image's size) and by
    ``C`` matches :func:`pirm_enhance.losses.gram_matrix` (``H W C``) for a mask of ones.
    An empty region (area 0) gives a zero Gram matrix."""
    f = _as_batch(features)
    if f.shape[0] != 1:
        raise UsageError(f"regional_gram takes the features of one image; got a batch of {f.shape[0]}")
    f = f[0]
    m = resize_masks(masks, tf.shape(f)[:2])
    area = tf.reduce_sum(m, axis=[1, 2])
    channels = tf.cast(tf.shape(f)[-1], tf.float32)
    gram = tf.einsum("rhw,hwc,hwd->rcd", tf.square(m), f, f)
    return gram / (channels * tf.maximum(area, 1e-12))[:, None, None], area


def _grams(features, masks, layers):
    out = {}
    for name in layers:
        value = features[name]
        out[name] = tuple(value) if isinstance(value, (tuple, list)) else regional_gram(value, masks)
    return out


def regional_style_terms(output_features, style_features, output_masks, style_masks, layers=None):
    """The unweighted terms ``T[l, r] = || G_r^l[O] - G_r^l[R] ||_F^2 / (2 N_l^2)`` of the thesis's
    style loss (3.1.2, the ``L_s`` equation), ``[L, R]``, layers in the order of ``layers``
    (default: sorted keys of ``output_features``).

    ``*_features``: ``{layer: [1, h, w, C]}`` (:class:`pirm_enhance.losses.VGG19Features`);
    a style entry may also be a precomputed ``(grams, areas)`` of :func:`regional_gram`.
    ``*_masks``: ``[R, H, W]`` region masks of each image, region ``r`` of the output
    paired with region ``r`` of the style image. ``N_l`` is the layer's channel count.
    A region empty in either image contributes 0 (it has nothing to match). No gradient
    reaches the style side."""
    layers = list(layers or sorted(output_features))
    out = _grams(output_features, output_masks, layers)
    ref = _grams(style_features, style_masks, layers)
    rows = []
    for name in layers:
        (g_o, a_o), (g_s, a_s) = out[name], ref[name]
        n = tf.cast(tf.shape(g_o)[-1], tf.float32)
        term = tf.reduce_sum(tf.square(g_o - tf.stop_gradient(g_s)), axis=[1, 2]) / (2.0 * n * n)
        present = tf.cast((a_o > 0) & (a_s > 0), tf.float32)
        rows.append(term * present)
    return tf.stack(rows)


def regional_style_loss(output_features, style_features, output_masks, style_masks, factors=None, layers=None):
    """MPSE's semantically adaptive style loss (thesis 3.1.2, the ``L_s`` equation)::

        L_s(O, Lambda) = sum_{r, l} Lambda_r^l / (2 N_l^2) || G_r^l[O] - G_r^l[R] ||_2^2

    = ``sum(factors * T)`` with ``T`` of :func:`regional_style_terms` (see there for ``G``).
    ``factors``: ``Lambda``, ``[L, R]`` (or ``[1, L, R]``); default all ones (Luan et al.'s
    augmented style loss)."""
    terms = regional_style_terms(output_features, style_features, output_masks, style_masks, layers)
    if factors is None:
        return tf.reduce_sum(terms)
    factors = tf.reshape(tf.convert_to_tensor(factors, tf.float32), tf.shape(terms))
    return tf.reduce_sum(factors * terms)


def area_indicators(output_masks, style_masks, output_features, style_features, layers=None):
    """The regional area indicators ``alpha_r^l`` (``[L, R]``), "proportional to the area of
    semantic regions ... calculated from the segmented content image Seg(O) and reference image
    Seg(R)" (thesis 3.1.2). The thesis gives no formula; chosen: the mean of the region's area
    fractions in the two images at layer ``l``::

        alpha_r^l = ( mean_p M_r^l[O](p) + mean_p M_r^l[R](p) ) / 2

    (masks resized to the layer by :func:`resize_masks`), so that ``sum_r alpha_r^l = 1`` for
    masks that partition each image. Paired regions need not partition the reference: where
    one reference region is paired with several content regions (the default pairing of
    unsupervised regions, :func:`pirm_enhance.mpse.style.pair_by_appearance`), its fraction counts
    once per pairing and the sum exceeds 1. The softmax then weighs those regions a little
    more; the thesis's semantic classes do not pair that way."""
    layers = list(layers or sorted(output_features))
    rows = []
    for name in layers:
        fractions = []
        for masks, feats in ((output_masks, output_features[name]), (style_masks, style_features[name])):
            size = tf.shape(_as_batch(feats))[1:3]
            fractions.append(tf.reduce_mean(resize_masks(masks, size), axis=[1, 2]))
        rows.append((fractions[0] + fractions[1]) / 2.0)
    return tf.stack(rows)


def area_softmax(logits, alpha):
    """The enhancement factors (thesis 3.1.2, the ``Lambda_r^l`` equation), a softmax over the
    regions ``r`` (last axis) of the area-weighted head outputs::

        Lambda_r^l = exp(alpha_r^l H_r^l) / sum_r' exp(alpha_r'^l H_r'^l)

    ``logits`` ``H`` and ``alpha`` broadcast against each other (``[..., L, R]``)."""
    logits, alpha = (x if isinstance(x, keras.KerasTensor) else tf.convert_to_tensor(x, tf.float32)
                     for x in (logits, alpha))
    return keras.ops.softmax(alpha * logits, axis=-1)


def enhancement_factor_head(n_layers, n_regions, channels=512, name="enhancement_factor_head"):
    """The self-learning enhancement factor (thesis 3.1.2 and figure 7): a Keras model
    ``[pooled(O) [B, C], pooled(R) [B, C], alpha [B, L, R]] -> Lambda [B, L, R]``.

    The two globally pooled conv5_3 feature vectors (:func:`global_pool` of VGG-19's
    ``relu5_3``) are concatenated into "the input of a fully-connected layer" with
    ``L x M`` outputs ``H_r^l`` (``L`` style layers, ``M`` regions), then
    :func:`area_softmax`. Chosen where the thesis says nothing: the concatenated vector is
    scaled to unit length first (VGG's feature scale would otherwise set the step size of
    the factors' updates), and the layer starts at zero, so the factors start equal
    (``1 / M``) whatever the area indicators are."""
    pooled_o = keras.Input((channels,), name="pooled_output")
    pooled_r = keras.Input((channels,), name="pooled_reference")
    alpha = keras.Input((n_layers, n_regions), name="alpha")
    x = keras.layers.Concatenate(name="concat")([pooled_o, pooled_r])
    x = keras.layers.UnitNormalization(name="unit_length")(x)
    h = keras.layers.Dense(n_layers * n_regions, kernel_initializer="zeros", name="fc")(x)
    h = keras.layers.Reshape((n_layers, n_regions), name="H")(h)
    factors = keras.layers.Activation("linear", name="factors")(area_softmax(h, alpha))
    return keras.Model([pooled_o, pooled_r, alpha], factors, name=name)


def global_pool(features):
    """Global average pooling ``[B, h, w, C] -> [B, C]`` ("global pooling layer after conv5_3";
    the thesis does not say average or max: average chosen)."""
    return tf.reduce_mean(_as_batch(features), axis=[1, 2])


def mpse_content_loss(output_features, content_features, layer_weights=None):
    """MPSE's content loss (thesis 3.1.2, the ``L_c`` equation; Luan et al. eq. 1)::

        L_c(O) = sum_l alpha_l / (2 N_l D_l) || F^l[O] - F^l[I] ||_2^2

    ``N_l`` feature maps of ``D_l = h w`` elements each in layer ``l`` of VGG-19, ``alpha_l``
    the layer's weight (``layer_weights``: ``{layer: weight}``, default 1 for every layer of
    ``output_features``). No gradient reaches the content side."""
    layers = sorted(layer_weights or output_features)
    total = 0.0
    for name in layers:
        weight = 1.0 if layer_weights is None else float(layer_weights[name])
        f_o = _as_batch(output_features[name])
        f_i = tf.stop_gradient(_as_batch(content_features[name]))
        count = tf.cast(tf.reduce_prod(tf.shape(f_o)[1:]), tf.float32)  # N_l D_l
        total += weight * tf.reduce_sum(tf.square(f_o - f_i)) / (2.0 * count)
    return total


def laplacian_to_tf(laplacian):
    """A ``scipy.sparse`` matrix as an ordered float32 ``tf.sparse.SparseTensor``."""
    coo = sparse.coo_matrix(laplacian)
    indices = np.stack([coo.row, coo.col], axis=1).astype(np.int64)
    tensor = tf.sparse.SparseTensor(indices, coo.data.astype(np.float32), coo.shape)
    return tf.sparse.reorder(tensor)


def photorealism_loss(image, laplacian):
    """MPSE's photorealism regularisation (thesis 3.1.2, the ``L_m`` equation; Luan et al. eq. 2)::

        L_m(O) = sum_{c in r, g, b} V_c[O]^T M_I V_c[O]

    ``V_c`` the channel ``c`` of ``image`` (``[H, W, 3]`` or ``[1, H, W, 3]``) as a row-major
    vector, ``M_I`` the Matting Laplacian of the input image ``I``
    (:func:`pirm_enhance.losses.matting.matting_laplacian`; a ``scipy.sparse`` matrix or a
    ``tf.sparse.SparseTensor`` of :func:`laplacian_to_tf`). Its gradient is ``2 M_I V_c``."""
    x = _as_batch(image)
    if x.shape[0] != 1:
        raise UsageError(f"photorealism_loss takes one image; got a batch of {x.shape[0]}")
    if not isinstance(laplacian, tf.sparse.SparseTensor):
        laplacian = laplacian_to_tf(laplacian)
    v = tf.reshape(x[0], [-1, tf.shape(x)[-1]])
    return tf.reduce_sum(v * tf.sparse.sparse_dense_matmul(laplacian, v))


def recommendation_triplet_loss(anchor, positives, negatives, margin=0.2, reduction="mean"):
    """The reference recommendation network's objective (thesis 3.1.2, the ``L_ref`` equation)::

        L = [ sum_j || f(x) - f(x_j^p) ||^2 - sum_k || f(x) - f(x_k^n) ||^2 + margin ]_+

    for an anchor embedding ``f(x)`` (``[B, D]``), its positives ``[B, P, D]`` (the thesis: 10)
    and negatives ``[B, K, D]`` (50); ``[.]_+`` = ReLU; mean over the batch.

    Chosen where the thesis is silent or unreadable: squared Euclidean distances (FaceNet,
    Schroff et al. 2015; the extracted text loses exponents); ``reduction="mean"`` replaces
    the two sums by means over the positives and over the negatives, because with 10
    positives against 50 negatives the literal sums are already ordered by random
    embeddings (50 distances outweigh 10) and the loss would be 0 from the start;
    ``reduction="sum"`` is the literal formula. ``margin`` 0.2 (FaceNet's, for unit-length
    embeddings; the thesis gives none)."""
    a = tf.convert_to_tensor(anchor, tf.float32)[:, None, :]
    d_pos = tf.reduce_sum(tf.square(a - tf.convert_to_tensor(positives, tf.float32)), axis=-1)
    d_neg = tf.reduce_sum(tf.square(a - tf.convert_to_tensor(negatives, tf.float32)), axis=-1)
    if reduction == "mean":
        pos, neg = tf.reduce_mean(d_pos, axis=1), tf.reduce_mean(d_neg, axis=1)
    elif reduction == "sum":
        pos, neg = tf.reduce_sum(d_pos, axis=1), tf.reduce_sum(d_neg, axis=1)
    else:
        raise UsageError(f"reduction {reduction!r}: choose mean or sum")
    return tf.reduce_mean(tf.nn.relu(pos - neg + margin))


__all__ = ["POOLED_LAYER", "area_indicators", "area_softmax", "enhancement_factor_head", "global_pool",
           "laplacian_to_tf", "mpse_content_loss", "photorealism_loss", "recommendation_triplet_loss",
           "regional_gram", "regional_style_loss", "regional_style_terms", "resize_masks"]
