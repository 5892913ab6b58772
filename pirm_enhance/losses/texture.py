"""DPED texture (adversarial) loss and its discriminator."""

import keras
import tensorflow as tf

from pirm_enhance.layers import InstanceNorm


def to_gray(images):
    """ITU-R 601 luma, ``tf.image.rgb_to_grayscale`` as DPED used."""
    return tf.image.rgb_to_grayscale(images)


class Discriminator(keras.Model):
    """DPED discriminator on one grayscale patch (PIRM2018.md section 5):
    conv 11x11/4 48; conv 5x5/2 128 IN; conv 3x3 192 IN; conv 3x3 192 IN;
    conv 3x3/2 128 IN (LeakyReLU 0.2 before each IN); dense 1024; dense 2 softmax.
    The flatten size follows the patch size (128x7x7 at 100x100)."""

    def __init__(self, patch_size=100, name="discriminator", **kwargs):
        inputs = keras.Input((patch_size, patch_size, 1))
        x = inputs
        for i, (filters, kernel, stride, norm) in enumerate(
                [(48, 11, 4, False), (128, 5, 2, True), (192, 3, 1, True), (192, 3, 1, True),
                 (128, 3, 2, True)]):
            x = keras.layers.Conv2D(filters, kernel, stride, padding="same", name=f"conv{i + 1}",
                                    kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.01),
                                    bias_initializer=keras.initializers.Constant(0.01))(x)
            x = keras.layers.LeakyReLU(negative_slope=0.2)(x)
            if norm:
                x = InstanceNorm(name=f"norm{i}")(x)
        x = keras.layers.Flatten()(x)
        x = keras.layers.Dense(1024, name="fc1")(x)
        x = keras.layers.LeakyReLU(negative_slope=0.2)(x)
        outputs = keras.layers.Dense(2, activation="softmax", name="fc2")(x)
        super().__init__(inputs, outputs, name=name, **kwargs)
        self.patch_size = patch_size

    def get_config(self):
        return {"patch_size": self.patch_size, "name": self.name}


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


def texture_loss(discriminator, target, enhanced, swaps):
    """Generator texture loss: the negative discriminator loss (DPED); gradients reach
    the generator through ``enhanced``, and no update is made to the discriminator here."""
    probs = discriminator(_mixed(target, enhanced, swaps), training=False)
    s = tf.cast(tf.reshape(swaps, [-1, 1]), tf.float32)
    onehot = tf.concat([s, 1.0 - s], axis=1)
    return tf.reduce_sum(onehot * tf.math.log(tf.clip_by_value(probs, 1e-10, 1.0)))
