"""MPSE phase 2: semantic style enhancement of one image towards a reference, by optimisation.

Thesis "DPED+, MPSE and MDIE" (/work/shared/papers/thesis_dped_plus_mpse_mdie.txt),
section 3.1.2: the phase-1 output ``I`` (DPED+) and a reference ``R`` in; an
output ``O``, initialised from ``I`` as in photorealistic style transfer (Luan
et al., "Deep photo style transfer", CVPR 2017), optimised under::

    L(O, Lambda) = L_c(O) + Gamma L_s(O, Lambda) + lambda L_m(O)

(:mod:`pirm_enhance.losses.mpse`) with the "alternate updating scheme": each
step updates ``O`` with the enhancement factors ``Lambda`` fixed, then the
factor head's fully connected layer with ``O`` fixed (from the same forward
pass), both by gradient descent on ``L``.

Regions: the thesis pairs semantic classes of ``Seg(O)`` and ``Seg(R)`` (sky
with sky). :func:`paired_masks` takes any segmentation
(:func:`pirm_enhance.segment.masks_from` forms); with none, the unsupervised
:func:`pirm_enhance.segment.segment` labels each image, and since its labels
mean nothing across images, each region of ``I`` is paired with the region of
``R`` nearest in appearance (mean Lab colour, lightness taken relative to the
image's mean so a dark photo still finds the reference's sky, plus centroid).

Chosen where the thesis gives nothing (its loss is Luan et al.'s, so their
choices are taken where they exist):

* layers: content ``relu4_2`` (Luan's conv4_2) with weight 1; style
  ``relu1_1, relu2_1, relu3_1, relu4_1, relu5_1`` (Luan's);
* weights ``Gamma = 100`` and ``lambda = 1e4`` (Luan's, whose loss this is);
  not tuned here (no ImageNet VGG-19 offline on the build machine);
* optimiser: Adam on the image in [0, 1] (lr 0.005, clipped to [0, 1] after
  each step; with 0.01 the stiff Matting term kept the objective from falling
  on a real photo pair) and Adam on the factor head (lr 1e-3): the thesis
  says "stochastic gradient descent", whose step would follow the style
  loss's scale (orders of magnitude per layer); 500 steps;
* ``n_regions`` 5 (the thesis's five classes: sky, building, river, road,
  vehicle); Matting Laplacian ``eps`` 1e-7, 3x3 windows (Levin et al.'s).

Minimising ``L_s`` over ``Lambda`` alone moves weight to the regions whose
style already matches (the softmax's minimum); the thesis's update does exactly
this and gives no counterweight, so ``factor_lr`` is kept small.
"""

import logging

import keras
import numpy as np
import tensorflow as tf

from pirm_enhance.errors import ImageError, UsageError
from pirm_enhance.losses import mpse as L
from pirm_enhance.losses.matting import matting_laplacian
from pirm_enhance.losses.vgg import VGG19Features
from pirm_enhance.progress import Progress
from pirm_enhance.segment import as_float_image, masks_from, rgb_to_lab, segment

CONTENT_LAYERS = ("relu4_2",)
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
POSITION_WEIGHT = 25.0  # Lab units across the whole image, as segment()'s default
MIN_SIDE = 16  # VGG-19's relu5_x is 1/16 of the image
log = logging.getLogger(__name__)


def _labels_or_masks(segmentation, image):
    """``("labels", [H, W] ints)`` or ``("masks", [R, H, W])`` from any masks_from form but None."""
    result = segmentation(image) if callable(segmentation) else segmentation
    masks = masks_from(result, image)  # validates shape and values (UsageError), ragged lists included
    if not callable(result) and np.ndim(result) == 2:
        return "labels", np.asarray(result).astype(np.int64)
    return "masks", masks


def _descriptors(image, masks):
    """Per region: mean Lab (L* relative to the image's mean L*) and centroid (y, x) / max(H, W)."""
    lab = rgb_to_lab(image).astype(np.float64)
    lab[..., 0] -= lab[..., 0].mean()
    h, w = image.shape[:2]
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    weights = masks / np.maximum(masks.sum(axis=(1, 2), keepdims=True), 1e-12)
    colour = np.einsum("rhw,hwc->rc", weights, lab)
    centre = np.stack([np.einsum("rhw,hw->r", weights, y), np.einsum("rhw,hw->r", weights, x)], axis=1)
    return colour, centre


def pair_by_appearance(content, content_masks, style, style_masks):
    """For each region of ``content``, the index of the region of ``style`` nearest in appearance:
    ``||Lab_i - Lab_j|| + 25 ||centroid_i - centroid_j||`` (lightness relative to each image's mean,
    centroids in units of the longer side). Several content regions may share a style region."""
    c_col, c_pos = _descriptors(content, content_masks)
    s_col, s_pos = _descriptors(style, style_masks)
    cost = (np.linalg.norm(c_col[:, None] - s_col[None], axis=-1)
            + POSITION_WEIGHT * np.linalg.norm(c_pos[:, None] - s_pos[None], axis=-1))
    return np.argmin(cost, axis=1)


def paired_masks(content, style, segmentation=None, style_segmentation=None, n_regions=5, seed=0):
    """``(content masks [R, H, W], style masks [R, Hs, Ws])``, region ``r`` of one paired with
    region ``r`` of the other.

    * both ``None``: :func:`pirm_enhance.segment.segment` (``n_regions``, ``seed``) of each
      image, regions paired by :func:`pair_by_appearance`;
    * ``segmentation`` a function ``image -> label map or masks``: applied to both images
      (``style_segmentation`` may give another one, or the style image's own);
    * ``segmentation`` a label map or masks of the content image: ``style_segmentation`` must
      give the style image's.

    Label maps pair regions by label value (a semantic segmenter's class ids): one region
    per label of the content image, empty in the style image where that label is absent
    (the style loss then skips it). Masks pair by index and must be as many.
    """
    content, style = as_float_image(content, "content image"), as_float_image(style, "style image")
    if segmentation is None and style_segmentation is None:
        cm = masks_from(segment(content, n_regions, seed), content)
        sm = masks_from(segment(style, n_regions, seed), style)
        return cm, sm[pair_by_appearance(content, cm, style, sm)]
    if segmentation is None or (style_segmentation is None and not callable(segmentation)):
        raise UsageError("give the segmentation of both images (or a function for both), or neither "
                         "(then the built-in unsupervised segmentation is used)")
    kind_c, seg_c = _labels_or_masks(segmentation, content)
    kind_s, seg_s = _labels_or_masks(segmentation if style_segmentation is None else style_segmentation, style)
    if kind_c != kind_s:
        raise UsageError("the content and style segmentations must both be label maps or both be masks")
    if kind_c == "labels":
        labels = np.unique(seg_c)
        return ((seg_c[None] == labels[:, None, None]).astype(np.float32),
                (seg_s[None] == labels[:, None, None]).astype(np.float32))
    if len(seg_c) != len(seg_s):
        raise UsageError(f"{len(seg_c)} content masks but {len(seg_s)} style masks: masks pair by index, "
                         "give as many of each")
    return seg_c, seg_s


class _Problem:
    """The fixed parts of one enhancement: VGG features of I and R, masks, Grams of R, M_I."""

    def __init__(self, content, style, masks, vgg, content_layers, style_layers, matting_eps, with_matting):
        self.content_layers, self.style_layers = tuple(content_layers), tuple(style_layers)
        self.vgg = vgg
        self.content_masks = tf.constant(masks[0], tf.float32)
        self.style_masks = tf.constant(masks[1], tf.float32)
        f_i = vgg(content[None])
        f_r = vgg(style[None])
        self.content_features = {k: f_i[k] for k in self.content_layers}
        self.style_grams = {k: L.regional_gram(f_r[k], self.style_masks) for k in self.style_layers}
        self.style_pooled = L.global_pool(f_r[L.POOLED_LAYER])
        self.alpha = L.area_indicators(self.content_masks, self.style_masks, f_i, f_r, self.style_layers)
        self.laplacian = L.laplacian_to_tf(matting_laplacian(content, matting_eps)) if with_matting else None

    def terms(self, image):
        """``(content, style terms [L, R], photorealism, pooled conv5_3 of the image)``."""
        feats = self.vgg(image)
        content = L.mpse_content_loss({k: feats[k] for k in self.content_layers}, self.content_features)
        style = L.regional_style_terms(feats, self.style_grams, self.content_masks, self.style_masks,
                                       self.style_layers)
        photo = L.photorealism_loss(image, self.laplacian) if self.laplacian is not None else tf.constant(0.0)
        return content, style, photo, L.global_pool(feats[L.POOLED_LAYER])


def semantic_style_enhance(content, style, *, segmentation=None, style_segmentation=None, n_regions=5, seed=0,
                           steps=500, lr=0.005, factor_lr=1e-3, content_weight=1.0, style_weight=100.0,
                           photorealism_weight=1e4, content_layers=CONTENT_LAYERS, style_layers=STYLE_LAYERS,
                           vgg=None, vgg_weights="imagenet", matting_eps=1e-7, progress=True, return_info=False):
    """MPSE phase 2 (thesis 3.1.2): ``content`` (the phase-1 image ``I``, ``[H, W, 3]`` uint8 or
    float in [0, 1]) enhanced towards the style of ``style`` (the reference ``R``); returns
    ``O`` as float32 ``[H, W, 3]`` in [0, 1], and with ``return_info`` also a dict:
    ``history`` (per step: ``step``, ``loss``, ``content``, ``style``, ``photorealism``,
    weighted as in the objective, the last entry the returned image's), ``factors``
    (``Lambda`` ``[L, R]``), ``alpha``, ``content_masks``, ``style_masks``.

    ``segmentation`` / ``style_segmentation``: see :func:`paired_masks` (masks, label maps
    or a function; default the built-in unsupervised segmentation, ``n_regions``, ``seed``).
    Weights: ``content_weight`` (``alpha_l`` of every content layer), ``style_weight``
    ``Gamma``, ``photorealism_weight`` ``lambda`` (0 skips the Matting Laplacian).
    ``vgg``: a :class:`pirm_enhance.losses.VGG19Features` holding the content, style and
    ``relu5_3`` layers, or ``None`` to build one with ``vgg_weights`` (``"imagenet"``, a
    MatConvNet ``.mat`` path for offline use, or ``"random"`` for tests). The module
    docstring lists every choice made where the thesis gives none.
    """
    content = as_float_image(content, "content image")
    style = as_float_image(style, "style image")
    for what, image in (("content", content), ("style", style)):
        if min(image.shape[:2]) < MIN_SIDE:
            raise ImageError(f"the {what} image is {image.shape[0]}x{image.shape[1]}; VGG-19 needs at least "
                             f"{MIN_SIDE}x{MIN_SIDE}")
    if int(steps) < 0 or lr <= 0 or factor_lr < 0:
        raise UsageError(f"steps must be >= 0, lr > 0 and factor_lr >= 0; got {steps}, {lr}, {factor_lr}")
    layers = sorted(set(content_layers) | set(style_layers) | {L.POOLED_LAYER})
    if vgg is None:
        vgg = VGG19Features(layers, weights=vgg_weights)
    missing = [k for k in layers if k not in vgg.layers]
    if missing:
        raise UsageError(f"the VGG-19 given lacks the layer(s) {missing}; build it with {layers}")
    masks = paired_masks(content, style, segmentation, style_segmentation, n_regions, seed)
    problem = _Problem(content, style, masks, vgg, content_layers, style_layers, matting_eps,
                       photorealism_weight != 0)
    head = L.enhancement_factor_head(len(problem.style_layers), masks[0].shape[0],
                                     channels=int(problem.style_pooled.shape[-1]))
    output = tf.Variable(content[None], name="output")
    image_opt = keras.optimizers.Adam(lr)
    head_opt = keras.optimizers.Adam(factor_lr)
    image_opt.build([output])
    head_opt.build(head.trainable_variables)
    weights = tf.constant([content_weight, style_weight, photorealism_weight], tf.float32)

    def objective(image):
        content_term, style_terms, photo, pooled = problem.terms(image)
        factors = head([tf.stop_gradient(pooled), problem.style_pooled, problem.alpha[None]])[0]
        parts = weights * tf.stack([content_term, tf.reduce_sum(tf.stop_gradient(factors) * style_terms), photo])
        head_loss = tf.reduce_sum(factors * tf.stop_gradient(style_terms))
        return parts, head_loss

    @tf.function
    def step():
        with tf.GradientTape(persistent=True) as tape:
            parts, head_loss = objective(output)
            total = tf.reduce_sum(parts)
        image_opt.apply_gradients([(tape.gradient(total, output), output)])
        output.assign(tf.clip_by_value(output, 0.0, 1.0))
        if factor_lr > 0:
            head_opt.apply_gradients(zip(tape.gradient(head_loss, head.trainable_variables),
                                         head.trainable_variables))
        return parts

    def record(step_index, parts):
        parts = [float(p) for p in parts]
        history.append({"step": step_index, "loss": sum(parts), "content": parts[0], "style": parts[1],
                        "photorealism": parts[2]})

    history = []
    for i in Progress(range(int(steps)), "semantic style enhancement", enabled=progress):
        record(i, step())
    record(int(steps), objective(output)[0])
    result = output.numpy()[0]
    if not return_info:
        return result
    factors = head([problem.terms(output)[3], problem.style_pooled, problem.alpha[None]])[0].numpy()
    return result, {"history": history, "factors": factors, "alpha": problem.alpha.numpy(),
                    "content_masks": masks[0], "style_masks": masks[1], "style_layers": problem.style_layers}


__all__ = ["CONTENT_LAYERS", "STYLE_LAYERS", "pair_by_appearance", "paired_masks", "semantic_style_enhance"]
