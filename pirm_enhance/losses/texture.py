"""DPED texture (adversarial) loss and its discriminators (DPED's, and PPCN's larger one)."""

import keras
import tensorflow as tf

from pirm_enhance.layers import InstanceNorm


def to_gray(images):
    """ITU-R 601 luma, ``tf.image.rgb_to_grayscale`` as DPED used."""
    return tf.image.rgb_to_grayscale(images)


# (filters, kernel, stride, instance norm) of each convolution, LeakyReLU(0.2) after every one
DISCRIMINATOR_LAYOUTS = {
    # DPED (Ignatov et al., ICCV 2017, models.py ``adversarial``; PIRM2018.md section 5)
    "dped": ((48, 11, 4, False), (128, 5, 2, True), (192, 3, 1, True), (192, 3, 1, True), (128, 3, 2, True)),
    # PPCN (Hui et al., PIRM 2018 workshops, section 3.3 and Fig. 4: "6 convolutional layers with
    # leaky ReLU, 2 fully connected layers"; the layer sizes from its public training code,
    # github.com/Zheng222/PPCN train/models.py ``adversarial``)
    "ppcn": ((64, 9, 4, False), (128, 5, 2, True), (192, 3, 1, True), (192, 3, 1, True), (256, 3, 2, True),
             (256, 3, 1, True)),
}


def _weights():
    return keras.initializers.TruncatedNormal(stddev=0.01)


def _biases():
    return keras.initializers.Constant(0.01)


class Discriminator(keras.Model):
    """The DPED-family discriminator on one grayscale patch: convolutions, each followed by
    LeakyReLU(0.2) and, after the first, the DPED instance norm; flatten; dense 1024
    LeakyReLU(0.2); dense 2 softmax. Every kernel starts as a truncated normal of std 0.01
    and every bias at 0.01, the dense layers' too (both codes). ``layout`` picks the
    convolutions (:data:`DISCRIMINATOR_LAYOUTS`):

    * ``"dped"``: 11x11/4 48; 5x5/2 128; 3x3 192; 3x3 192; 3x3/2 128 (flatten 128x7x7 at
      100x100);
    * ``"ppcn"``: 9x9/4 64; 5x5/2 128; 3x3 192; 3x3 192; 3x3/2 256; 3x3 256 (flatten
      256x7x7 at 100x100).

    PPCN's paper says "a sigmoid function" at the end; its code ends, as DPED's, in a
    2-way softmax read by the cross-entropy below, which is what this class does. The
    flatten size follows the patch size."""

    def __init__(self, patch_size=100, layout="dped", name="discriminator", **kwargs):
        if layout not in DISCRIMINATOR_LAYOUTS:
            raise ValueError(f"discriminator layout must be one of {sorted(DISCRIMINATOR_LAYOUTS)}, "
                             f"got {layout!r}")
        inputs = keras.Input((patch_size, patch_size, 1))
        x = inputs
        for i, (filters, kernel, stride, norm) in enumerate(DISCRIMINATOR_LAYOUTS[layout]):
            x = keras.layers.Conv2D(filters, kernel, stride, padding="same", name=f"conv{i + 1}",
                                    kernel_initializer=_weights(), bias_initializer=_biases())(x)
            x = keras.layers.LeakyReLU(negative_slope=0.2)(x)
            if norm:
                x = InstanceNorm(name=f"norm{i}")(x)
        x = keras.layers.Flatten()(x)
        x = keras.layers.Dense(1024, name="fc1", kernel_initializer=_weights(), bias_initializer=_biases())(x)
        x = keras.layers.LeakyReLU(negative_slope=0.2)(x)
        outputs = keras.layers.Dense(2, activation="softmax", name="fc2", kernel_initializer=_weights(),
                                     bias_initializer=_biases())(x)
        super().__init__(inputs, outputs, name=name, **kwargs)
        self.patch_size = patch_size
        self.layout = layout

    def get_config(self):
        return {"patch_size": self.patch_size, "layout": self.layout, "name": self.name}


def _mixed(target, enhanced, swaps):
    """Per image: the target where ``swaps == 1``, the enhanced image elsewhere (grayscale)."""
    s = tf.reshape(tf.cast(swaps, tf.float32), [-1, 1, 1, 1])
    return to_gray(enhanced) * (1.0 - s) + to_gray(target) * s


def discriminator_loss(discriminator, target, enhanced, swaps):
    """Cross-entropy of the discriminator telling target (label 1) from enhanced (0):
    ``-sum(onehot * log(clip(p, 1e-10, 1)))`` over the batch (DPED ``train_model.py``).
    ``swaps``: ``[B]`` 0/1, which images show the target (DPED draws them per step)."""
    probs = discriminator(_mixed(target, tf.stop_gradient(enhanced), swaps), training=True)
    s = tf.cast(tf.reshape(swaps, [-1, 1]), tf.float32)
    onehot = tf.concat([s, 1.0 - s], axis=1)
    return -tf.reduce_sum(onehot * tf.math.log(tf.clip_by_value(probs, 1e-10, 1.0)))


def texture_loss(discriminator, target, enhanced, swaps=None):
    """Generator texture loss: the negative discriminator loss with every image of the batch
    shown enhanced, ``sum(log(clip(p_enhanced, 1e-10, 1)))`` over the batch. DPED's (and
    PPCN's, EdS's) generator step feeds ``adv_ = all_zeros`` (``train_model.py``); only the
    discriminator's step draws swaps. ``swaps`` is taken for the adversarial-term interface
    and ignored; ``target`` too. Gradients reach the generator through ``enhanced``; no
    update is made to the discriminator here."""
    del target, swaps
    probs = discriminator(to_gray(enhanced), training=False)
    return tf.reduce_sum(tf.math.log(tf.clip_by_value(probs[:, 1], 1e-10, 1.0)))
