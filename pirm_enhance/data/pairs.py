"""Training data as streaming ``tf.data`` pipelines of aligned (phone, target) pairs.

* :func:`dped_pairs` lists the full DPED release (``dped/<phone>/training_data/
  {<phone>,canon}/N.jpg``, test patches under ``test_data/patches``);
* :func:`folder_pairs` lists any two folders of equally named aligned images;
* :func:`synthetic_sources` lists a folder of good photos, from which
  :func:`pair_dataset` cuts random crops and degrades them (:mod:`.degrade`).

Only file names are held in memory; images are decoded in parallel as the
stream is read (the 2018 code loaded all 160k DPED patches at once). Order,
crops, augmentation and degradation are pure functions of (seed, element
index), so that ``start`` resumes a stream exactly where a run stopped.
"""

import pathlib

import tensorflow as tf

from pirm_enhance.data.degrade import CameraPipeline, degrade
from pirm_enhance.errors import DataMissing

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


def _numeric_key(path):
    stem = path.stem
    return (0, int(stem), "") if stem.isdigit() else (1, 0, stem)


def _images(folder):
    folder = pathlib.Path(folder)
    if not folder.is_dir():
        raise DataMissing(f"{folder}: {'not a folder' if folder.exists() else 'no such folder'}")
    return sorted((p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), key=_numeric_key)


def folder_pairs(phone_dir, target_dir):
    """``[(phone, target)]`` for the files present under the same name in both folders."""
    targets = {p.name: p for p in _images(target_dir)}
    pairs = [(str(p), str(targets[p.name])) for p in _images(phone_dir) if p.name in targets]
    if not pairs:
        raise DataMissing(f"no equally named images in {phone_dir} and {target_dir}")
    return pairs


def dped_pairs(root, phone="iphone", split="train"):
    """Pairs of the DPED release under ``root`` (the folder holding ``dped/`` or ``dped`` itself).

    ``split``: ``"train"`` (training_data) or ``"test"`` (test_data/patches).
    """
    root = pathlib.Path(root)
    base = root / "dped" / phone if (root / "dped").is_dir() else root / phone
    sub = base / ("training_data" if split == "train" else "test_data/patches")
    return folder_pairs(sub / phone, sub / "canon")


def dped_full_size_test_images(root, phone="iphone"):
    """The full-resolution phone test photos of the DPED release (no targets)."""
    root = pathlib.Path(root)
    base = root / "dped" / phone if (root / "dped").is_dir() else root / phone
    return [str(p) for p in _images(base / "test_data" / "full_size_test_images")]


def synthetic_sources(folder):
    """The good photos of ``folder`` (targets of synthetic pairs)."""
    photos = [str(p) for p in _images(folder)]
    if not photos:
        raise DataMissing(f"{folder}: no photos ({'/'.join(IMAGE_SUFFIXES)}) in this folder")
    return photos


def split_holdout(items, fraction=0.1, minimum=1):
    """Deterministic (train, held-out) split: every k-th item is held out."""
    items = list(items)
    if len(items) < 2:
        raise DataMissing(f"{len(items)} image(s): need at least two, to hold some out for validation")
    count = max(minimum, int(round(len(items) * fraction)))
    step = max(1, len(items) // count)
    held = set(range(step - 1, len(items), step)[:count])
    return [x for i, x in enumerate(items) if i not in held], [x for i, x in enumerate(items) if i in held]


def _decode(path):
    data = tf.io.read_file(path)
    image = tf.io.decode_image(data, channels=3, expand_animations=False)
    return tf.image.convert_image_dtype(image, tf.float32)


def _augment(phone, target, seed):
    """The same random flip and 90-degree rotation for both images."""
    flip = tf.random.stateless_uniform([], seed, 0, 2, dtype=tf.int32)
    turns = tf.random.stateless_uniform([], seed + [0, 1], 0, 4, dtype=tf.int32)
    both = tf.concat([phone, target], axis=-1)
    both = tf.cond(flip > 0, lambda: tf.image.flip_left_right(both), lambda: both)
    both = tf.image.rot90(both, turns)
    return both[..., :3], both[..., 3:]


def _epoch_order(n_items, seed):
    """Element index -> item index: a fresh seeded permutation per epoch."""
    def order(epoch):
        perm = tf.random.experimental.stateless_shuffle(tf.range(n_items, dtype=tf.int64),
                                                        seed=tf.stack([tf.cast(seed, tf.int64), epoch]))
        return tf.data.Dataset.from_tensor_slices(perm)
    return tf.data.Dataset.range(1 << 40).flat_map(order)


def pair_dataset(items, batch_size, seed=0, start=0, patch_size=100, augment=True,
                 synthetic=False, degradation=CameraPipeline(), repeat=True):
    """A batched ``(phone, target)`` stream, ``[B, patch, patch, 3]`` float32 in [0, 1].

    ``items``: pairs of paths, or photo paths when ``synthetic``. Aligned pairs
    are cropped to ``patch_size`` at the same random place (DPED patches are
    already 100x100); synthetic pairs crop the photo and degrade the crop.
    ``start``: number of examples already consumed (resume).
    """
    items = list(items)
    n = len(items)
    if synthetic:
        table = tf.constant([str(p) for p in items])
    else:
        phones = tf.constant([str(p) for p, _ in items])
        targets = tf.constant([str(t) for _, t in items])
    if repeat:
        order = _epoch_order(n, seed)
    else:
        order = tf.data.Dataset.range(n)
    indexed = tf.data.Dataset.zip((tf.data.Dataset.range(1 << 62), order)).skip(start)

    def load(index, item):
        s = tf.stack([tf.cast(seed, tf.int64) + 7919, index])
        if synthetic:
            photo = _decode(table[item])
            shape = tf.shape(photo)
            size = tf.minimum(patch_size, tf.minimum(shape[0], shape[1]))
            y0 = tf.random.stateless_uniform([], s + [0, 2], 0, shape[0] - size + 1, dtype=tf.int32)
            x0 = tf.random.stateless_uniform([], s + [0, 3], 0, shape[1] - size + 1, dtype=tf.int32)
            target = photo[y0:y0 + size, x0:x0 + size]
            phone = degrade(target, s + [0, 4], degradation, position=(y0, x0, shape[0], shape[1]))
        else:
            phone, target = _decode(phones[item]), _decode(targets[item])
            shape = tf.shape(phone)
            size = tf.minimum(patch_size, tf.minimum(shape[0], shape[1]))
            y0 = tf.random.stateless_uniform([], s + [0, 2], 0, shape[0] - size + 1, dtype=tf.int32)
            x0 = tf.random.stateless_uniform([], s + [0, 3], 0, shape[1] - size + 1, dtype=tf.int32)
            phone = phone[y0:y0 + size, x0:x0 + size]
            target = target[y0:y0 + size, x0:x0 + size]
        if augment:
            phone, target = _augment(phone, target, s)
        phone = tf.ensure_shape(phone, [patch_size, patch_size, 3])
        target = tf.ensure_shape(target, [patch_size, patch_size, 3])
        return phone, target

    ds = indexed.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
