"""Recipe ``mpse_style``: train MPSE's reference recommendation head (thesis "DPED+, MPSE and
MDIE", section 3.1.2) on synthetic triplets.

What it trains, and why that: MPSE phase 2 has two learnt parts. The
enhancement-factor head is "self-learning": the thesis updates it during each
image's own optimisation (:func:`pirm_enhance.mpse.semantic_style_enhance`
does that), so there is nothing to train beforehand. The reference
recommendation network is the one part trained on a data set (4000 labelled
night-view photographs, not available); this routine trains it, only the
fully connected layer after VGG-16's FC8 as the thesis says, with its triplet
objective, on triplets built from a folder of good photos the way the thesis
labels its references:

* views: each photo gives ``views`` "clean" views (random square crops of
  60-100% of the shorter side, random flip) and ``views`` "phone" views (the
  same crops through the degradation model, ``data.degrade.CameraPipeline``
  by default; with aligned pairs, the phone image's crops);
* anchors: the phone views (the thesis's anchor is the photo to enhance);
* candidates: the ``candidates`` (60) views nearest to the anchor by ``D_sem``
  (VGG-16 FC8 distance), the anchor excluded;
* positives (10): references of the right content and the right style: the
  clean views of the anchor's own photo, then the clean candidates nearest by
  ``D_sem``; negatives: the other candidates (phone-styled views, among them
  the anchor's own photo's, and less similar clean ones), as the thesis
  labels "the rest" of its 60 candidates negative. Short lists are filled by
  repetition (tiny data sets).

Validation on the held-out photos, built the same way: ``val_triplet`` (the
mean objective) and ``val_top1``, the share of held-out anchors whose first
recommendation (:meth:`pirm_enhance.mpse.ReferenceRecommender.recommend`) is a
clean view of their own photo; ``val_top1_dsem`` ranks by ``D_sem`` alone
(what the head adds). The result's ``generator`` is the trained head
(``recommendation_head.keras``: FC8 in, unit-length features out); VGG-16
itself is keras.applications' (``vgg_weights``: ``"imagenet"``, a path to
Keras's VGG-16 ``.h5`` weights, or ``"random"`` for tests). ``patch_size``,
``strategy`` and ``degradation`` for aligned pairs are not used (VGG-16 sees
whole 224x224 views); ``export_to`` is refused (not an image model).
"""

import json
import logging
import pathlib

import keras
import numpy as np
import tensorflow as tf

from pirm_enhance.data.degrade import degrade
from pirm_enhance.data.io import read_float, write_atomic
from pirm_enhance.errors import UsageError
from pirm_enhance.losses.mpse import recommendation_triplet_loss
from pirm_enhance.mpse.recommend import ReferenceRecommender, recommendation_head, vgg16_fc8
from pirm_enhance.progress import Progress
from pirm_enhance.training.loop import resolve_data, restore_newest
from pirm_enhance.zoo import save_keras_file

log = logging.getLogger(__name__)
DEFAULTS = {"views": 4, "candidates": 60, "positives": 10, "margin": 0.2, "embedding": 128,
            "triplet_reduction": "mean", "lr": 1e-3}


def _crop_box(shape, rng):
    h, w = shape[:2]
    side = max(1, int(round(min(h, w) * rng.uniform(0.6, 1.0))))
    return int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1)), side, bool(rng.random() < 0.5)


def make_views(items, synthetic, n_views, seed, degradation=None):
    """``(images, photo index, is_clean)``: ``n_views`` clean and ``n_views`` phone views per item
    (module docstring), in item order, clean views first."""
    images, photo, clean = [], [], []
    for index, item in enumerate(items):
        if synthetic:
            target, phone = read_float(item), None
        else:
            phone, target = read_float(item[0]), read_float(item[1])
            if phone.shape != target.shape:
                phone = tf.image.resize(phone, target.shape[:2]).numpy()
        boxes = [_crop_box(target.shape, np.random.default_rng([seed, index, v])) for v in range(n_views)]
        crops = []
        for y, x, side, flip in boxes:
            crop = target[y:y + side, x:x + side]
            crops.append(crop[:, ::-1] if flip else crop)
        for v, ((y, x, side, flip), crop) in enumerate(zip(boxes, crops)):
            if synthetic:
                d = degrade(np.ascontiguousarray(crop), np.array([seed * 100_003 + index, v]), degradation,
                            position=(y, x, target.shape[0], target.shape[1])).numpy()
            else:
                d = phone[y:y + side, x:x + side]
                d = d[:, ::-1] if flip else d
            crops.append(d)
        images.extend(crops)
        photo.extend([index] * 2 * n_views)
        clean.extend([True] * n_views + [False] * n_views)
    return images, np.array(photo), np.array(clean)


def triplet_sets(fc8, photo, clean, n_candidates, n_positives):
    """``(anchors [A], positives [A, P], negatives [A, K])`` view indices (module docstring)."""
    anchors = np.flatnonzero(~clean)
    n_candidates = min(n_candidates, len(fc8) - 1)
    n_positives = max(1, min(n_positives, n_candidates - 1))
    n_negatives = max(1, n_candidates - n_positives)
    pos_out, neg_out = [], []
    for a in anchors:
        others = np.delete(np.arange(len(fc8)), a)
        order = others[np.argsort(np.linalg.norm(fc8[others] - fc8[a], axis=1), kind="stable")]
        candidates = order[:n_candidates]
        own = order[clean[order] & (photo[order] == photo[a])]
        near_clean = candidates[clean[candidates] & (photo[candidates] != photo[a])]
        positives = np.concatenate([own, near_clean])[:n_positives]
        negatives = candidates[~np.isin(candidates, positives)]
        if not len(negatives):
            negatives = order[~np.isin(order, positives)]
        pos_out.append(np.resize(positives, n_positives))
        neg_out.append(np.resize(negatives, n_negatives))
    return anchors, np.array(pos_out), np.array(neg_out)


def top1_accuracy(recommender, fc8, photo, clean, n_candidates, by_dsem=False):
    """Share of phone views whose first recommendation among the other views is a clean view of
    their own photo (by the head, or by ``D_sem`` alone)."""
    hits = []
    for a in np.flatnonzero(~clean):
        others = np.delete(np.arange(len(fc8)), a)
        if by_dsem:
            best = others[np.argmin(np.linalg.norm(fc8[others] - fc8[a], axis=1))]
        else:
            best = others[recommender.recommend(fc8[a], fc8[others], candidates=n_candidates, top=1)[0]]
        hits.append(bool(clean[best] and photo[best] == photo[a]))
    return float(np.mean(hits))


def _backbone_weights(vgg_weights):
    if vgg_weights is None or str(vgg_weights).startswith("random"):
        return None
    if str(vgg_weights).endswith(".mat"):
        raise UsageError(f"{vgg_weights}: the recommendation network uses VGG-16 (Keras .h5 weights, or imagenet), "
                         "not MatConvNet's VGG-19")
    return vgg_weights


class _Split:
    """One split's views as FC8 features, with its triplets."""

    def __init__(self, recommender, items, synthetic, settings, seed, degradation, label, progress):
        images, self.photo, self.clean = make_views(items, synthetic, settings["views"], seed, degradation)
        chunks = [images[i:i + 8] for i in range(0, len(images), 8)]
        self.fc8 = np.concatenate([recommender.fc8(c) for c in Progress(chunks, f"VGG-16 FC8 of {label} views",
                                                                          enabled=progress)])
        self.anchors, self.positives, self.negatives = triplet_sets(
            self.fc8, self.photo, self.clean, settings["candidates"], settings["positives"])


def run(rec, data, *, steps, workdir, batch_size, patch_size, seed, strategy, checkpoint_every, validate_every,
        vgg_weights, progress, export_to, arch_kwargs, degradation):
    """The routine contract of :func:`pirm_enhance.training.loop.run_routine`; see the module docstring."""
    del patch_size, strategy  # module docstring: not used
    if export_to:
        raise UsageError("mpse_style trains the recommendation head (FC8 features in, not an image): "
                         "there is no image model to export")
    settings = {**DEFAULTS, **{k: rec[k] for k in DEFAULTS if k in rec}}
    extra = set(arch_kwargs or {}) - {"embedding"}
    if extra:
        raise UsageError(f"mpse_style: unknown arch_kwargs {sorted(extra)}; it takes embedding")
    settings.update(arch_kwargs or {})
    train_items, val_items, synthetic = resolve_data(data)
    workdir = pathlib.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(seed)
    recommender = ReferenceRecommender(backbone=vgg16_fc8(_backbone_weights(vgg_weights)),
                                       head=recommendation_head(int(settings["embedding"]), seed))
    train_split = _Split(recommender, train_items, synthetic, settings, seed, degradation, "training", progress)
    val_split = _Split(recommender, val_items, synthetic, settings, seed + 1, degradation, "held-out", progress)
    head = recommender.head
    optimizer = keras.optimizers.Adam(float(settings["lr"]))
    step_counter = tf.Variable(0, dtype=tf.int64, trainable=False)
    ckpt = tf.train.Checkpoint(head=head, optimizer=optimizer, step=step_counter)
    manager = tf.train.CheckpointManager(ckpt, str(workdir / "checkpoints"), max_to_keep=3)
    if restore_newest(ckpt, manager):
        log.info("resumed at step %d", int(step_counter.numpy()))
    start = int(step_counter.numpy())
    history_path = workdir / "history.json"
    history = [h for h in json.loads(history_path.read_text()) if h["step"] <= start] \
        if start and history_path.exists() else []

    table = tf.constant(train_split.fc8)
    margin, reduction = float(settings["margin"]), settings["triplet_reduction"]

    @tf.function
    def update(a, p, n):
        with tf.GradientTape() as tape:
            f = head(table)  # every view's features: a few thousand rows at most
            loss = recommendation_triplet_loss(tf.gather(f, a), tf.gather(f, p), tf.gather(f, n), margin, reduction)
        optimizer.apply_gradients(zip(tape.gradient(loss, head.trainable_variables), head.trainable_variables))
        return loss

    def val_loss(split):
        f = head(tf.constant(split.fc8))
        return float(recommendation_triplet_loss(tf.gather(f, split.anchors), tf.gather(f, split.positives),
                                                 tf.gather(f, split.negatives), margin, reduction))

    def validate(step, train_loss):
        entry = {"step": step, "loss": train_loss, "train_triplet": val_loss(train_split),
                 "val_triplet": val_loss(val_split),
                 "val_top1": top1_accuracy(recommender, val_split.fc8, val_split.photo, val_split.clean,
                                           settings["candidates"]),
                 "val_top1_dsem": top1_accuracy(recommender, val_split.fc8, val_split.photo, val_split.clean,
                                                settings["candidates"], by_dsem=True)}
        history.append(entry)
        write_atomic(history_path, json.dumps(history, indent=1).encode())
        return entry

    def rank(h):
        return h["val_top1"], -h["val_triplet"]

    best_path = workdir / "best_recommendation_head.keras"
    if not history:
        validate(0, None)
        save_keras_file(head, best_path)
    best = max(history, key=rank)
    bar = keras.utils.Progbar(steps, stateful_metrics=["triplet"], verbose=1 if progress else 0)
    bar.update(start)
    losses = []
    n_anchors = len(train_split.anchors)
    for step in range(start + 1, steps + 1):
        pick = np.random.default_rng([seed, step]).integers(0, n_anchors, int(batch_size))
        loss = float(update(train_split.anchors[pick], train_split.positives[pick], train_split.negatives[pick]))
        losses.append(loss)
        step_counter.assign(step)
        bar.update(step, values=[("triplet", loss)])
        if step % validate_every == 0 or step == steps:
            entry = validate(step, float(np.mean(losses)))
            losses = []
            if rank(entry) > rank(best):
                best = entry
                save_keras_file(head, best_path)
        if step % checkpoint_every == 0 or step == steps:
            manager.save(checkpoint_number=step)
    path = save_keras_file(head, workdir / "recommendation_head.keras")
    return {"generator": head, "generator_path": str(path), "history": history, "workdir": str(workdir),
            "step": max(start, steps),
            "best": {"step": best["step"], "val_top1": best["val_top1"], "val_triplet": best["val_triplet"],
                     "path": str(best_path)},
            "recipe": rec, "train_items": len(train_items), "val_items": len(val_items), "synthetic": synthetic,
            "recommender": recommender}
