"""MPSE's reference recommendation network (thesis "DPED+, MPSE and MDIE", section 3.1.2,
"Reference Recommendation Network").

The thesis retrieves a style reference for an input photo from 4000 night-view
photographs: first the 60 semantically nearest by ``D_sem``, the Euclidean
distance of the FC8 features of a pre-trained VGG-16; then, among them, by the
distance of the features ``f`` of a recommendation network: one
fully connected layer added after VGG-16's FC8, the only trained parameters,
trained with a triplet objective (:func:`pirm_enhance.losses.mpse.recommendation_triplet_loss`)
on 10 positive and 50 negative references labelled among each photo's 60
candidates. Its dataset cannot be had; :mod:`pirm_enhance.training.mpse_style`
trains the head on synthetic triplets instead.

Chosen where the thesis says nothing: FC8 = the 1000 class logits (before the
softmax); images resized whole to VGG-16's 224x224 input (bilinear,
antialiased) and preprocessed as keras.applications' VGG-16 expects; the added
layer has 128 outputs (FaceNet's embedding size) and its output is scaled to
unit length (FaceNet: distances then lie in [0, 4] and the margin has a fixed
meaning).
"""

import logging
import pathlib

import keras
import numpy as np
import tensorflow as tf

from pirm_enhance.errors import ModelFileError, UsageError, WeightsUnavailable, first_line

INPUT_SIZE = 224
FC8 = 1000
log = logging.getLogger(__name__)


def vgg16_fc8(weights="imagenet"):
    """Frozen ``keras.applications.VGG16`` returning FC8 (the class logits), ``[B, 224, 224, 3]``
    (VGG-16 preprocessed) -> ``[B, 1000]``. ``weights``: ``"imagenet"`` (downloads), a path to
    Keras's ``vgg16_weights_tf_dim_ordering_tf_kernels.h5`` (offline), or ``None`` / ``"random"``
    (tests)."""
    if weights in (None, "random"):
        log.warning("VGG-16 has RANDOM weights: the recommendation network is then only useful for tests")
        model = keras.applications.VGG16(weights=None, classifier_activation=None)
    elif weights == "imagenet":
        try:
            model = keras.applications.VGG16(weights="imagenet", classifier_activation=None)
        except Exception as err:  # offline: urllib/HTTP errors of many types
            raise WeightsUnavailable(
                f"the ImageNet VGG-16 weights could not be downloaded ({first_line(err)}); offline, pass a path "
                "to vgg16_weights_tf_dim_ordering_tf_kernels.h5 or 'random' (tests only)") from None
    else:
        if not pathlib.Path(weights).is_file():
            raise ModelFileError(f"{weights}: no such file; VGG-16 weights are imagenet, a path to "
                                 "vgg16_weights_tf_dim_ordering_tf_kernels.h5, or random")
        model = keras.applications.VGG16(weights=None, classifier_activation=None)
        try:
            model.load_weights(str(weights))
        except Exception as err:  # h5py / keras raise several types for a wrong file
            raise ModelFileError(f"{weights}: not Keras VGG-16 weights with the classifier "
                                 f"({first_line(err)})") from None
    model.trainable = False
    return model


def recommendation_head(embedding_dim=128, seed=0, name="recommendation_head"):
    """The trained part: FC8 ``[B, 1000]`` -> one fully connected layer -> unit-length ``f`` ``[B, D]``."""
    inputs = keras.Input((FC8,), name="fc8")
    x = keras.layers.Dense(embedding_dim, kernel_initializer=keras.initializers.GlorotUniform(seed), name="fc9")(inputs)
    return keras.Model(inputs, keras.layers.UnitNormalization(name="unit_length")(x), name=name)


def preprocess(images):
    """Images (``[B, H, W, 3]`` or a list of ``[H, W, 3]`` of any sizes; float in [0, 1] or uint8)
    -> VGG-16's input ``[B, 224, 224, 3]``."""
    batch = []
    for image in images:
        x = tf.convert_to_tensor(image)
        x = tf.cast(x, tf.float32) / 255.0 if x.dtype == tf.uint8 else tf.cast(x, tf.float32)
        if x.shape.rank != 3 or x.shape[-1] != 3:
            raise UsageError(f"recommendation: images must be [H, W, 3]; got {tuple(x.shape)}")
        batch.append(tf.image.resize(x, (INPUT_SIZE, INPUT_SIZE), antialias=True))
    return keras.applications.vgg16.preprocess_input(tf.stack(batch) * 255.0)


class ReferenceRecommender:
    """VGG-16 FC8 (frozen) + :func:`recommendation_head`; :meth:`recommend` ranks references."""

    def __init__(self, weights="imagenet", embedding_dim=128, seed=0, head=None, backbone=None):
        self.backbone = backbone if backbone is not None else vgg16_fc8(weights)
        self.head = head if head is not None else recommendation_head(embedding_dim, seed)

    def fc8(self, images, batch_size=8):
        """FC8 features ``float32 [B, 1000]`` of images (any sizes, see :func:`preprocess`)."""
        images = list(images)
        out = [self.backbone(preprocess(images[i:i + batch_size]), training=False).numpy()
               for i in range(0, len(images), batch_size)]
        return np.concatenate(out) if out else np.zeros((0, FC8), np.float32)

    def embed_fc8(self, fc8):
        """The recommendation features ``f`` of FC8 features."""
        return self.head(tf.convert_to_tensor(fc8, tf.float32), training=False).numpy()

    def recommend(self, image_fc8, reference_fc8, candidates=60, top=1):
        """Indices of the ``top`` recommended references for one image, best first: the
        ``candidates`` nearest by ``D_sem = ||fc8(I_1) - fc8(I_2)||_2`` (thesis 3.1.2), then
        ranked by the distance of the recommendation features. Features from :meth:`fc8`."""
        image_fc8 = np.asarray(image_fc8, np.float32).reshape(1, FC8)
        reference_fc8 = np.asarray(reference_fc8, np.float32)
        d_sem = np.linalg.norm(reference_fc8 - image_fc8, axis=1)
        near = np.argsort(d_sem, kind="stable")[:candidates]
        f = self.embed_fc8(np.concatenate([image_fc8, reference_fc8[near]]))
        order = np.argsort(((f[1:] - f[:1]) ** 2).sum(1), kind="stable")
        return near[order[:top]]


__all__ = ["ReferenceRecommender", "preprocess", "recommendation_head", "vgg16_fc8"]
