"""KAIST-VICLAB's Track B objective: a relativistic average GAN plus DPED's colour loss.

PIRM 2018 challenge report (Ignatov et al., ECCVW 2018), section 5.2: "for the
discriminator they proposed relativistic RGAN [Jolicoeur-Martineau 2018] with twice
as many parameters as in the generator"; trained "with a combination of color and
adversarial losses defined in [DPED]". The report gives neither the
discriminator's layers nor the loss weights; the choices made here:

* the relativistic *average* form (RaGAN), the variant Jolicoeur-Martineau's
  experiments favoured and the one ESRGAN used the same year (the report says
  only "relativistic RGAN");
* the discriminator sees grayscale images, as DPED's adversarial (texture) loss
  does ("adversarial losses defined in [13]"): the colour loss handles colour;
* the discriminator is DCGAN-like, the architecture of the RaGAN paper's
  experiments: four 4x4 stride-2 convolutions of ``w, 2w, 4w, 8w`` filters with
  LeakyReLU(0.2), a 4x4 convolution to one channel, and the mean over the
  spatial positions as the image's logit ``C(x)`` (so it takes any patch size).
  No batch normalisation (the relativistic average already couples the batch; a
  norm would make ``C(x)`` of one image depend on the others). At ``w = 12`` it
  has 98,676 parameters, 2.06x the 48,003 of ``kaist_enh`` at its default width;
* the loss weights are left to the training recipe (DPED's code defaults: colour
  0.5, adversarial 1; its paper: colour 0.1, adversarial 0.4).
"""

import keras
import tensorflow as tf

from pirm_enhance.losses.pixel import color_loss
from pirm_enhance.losses.texture import to_gray


@keras.saving.register_keras_serializable(package="pirm_enhance")
class RelativisticDiscriminator(keras.Model):
    """The critic ``C(x)`` of a relativistic GAN: images ``[B, H, W, channels]`` -> raw
    logits ``[B]`` (no sigmoid). Conv 4x4/2 ``w``, ``2w``, ``4w``, ``8w`` (LeakyReLU 0.2),
    conv 4x4 to 1, mean over height and width. ``width=12``: 98,676 parameters on
    grayscale input, about twice ``kaist_enh`` (48,003)."""

    def __init__(self, width=12, channels=1, name="relativistic_discriminator", **kwargs):
        inputs = keras.Input((None, None, channels))
        x = inputs
        for i, mult in enumerate((1, 2, 4, 8)):
            x = keras.layers.Conv2D(width * mult, 4, 2, padding="same", name=f"conv{i + 1}")(x)
            x = keras.layers.LeakyReLU(negative_slope=0.2)(x)
        # no bias: RaGAN's losses read only differences C(x_r) - mean C(x_f), so a constant
        # added to every logit would get a zero gradient and never move
        x = keras.layers.Conv2D(1, 4, padding="same", use_bias=False, name="logit_map")(x)
        x = keras.layers.GlobalAveragePooling2D(name="mean")(x)
        outputs = keras.layers.Reshape((), name="logit")(x)
        super().__init__(inputs, outputs, name=name, **kwargs)
        self.width = width
        self.channels = channels

    def get_config(self):
        return {"width": self.width, "channels": self.channels, "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _relative(real_logits, fake_logits):
    real = tf.reshape(tf.cast(real_logits, tf.float32), [-1])
    fake = tf.reshape(tf.cast(fake_logits, tf.float32), [-1])
    return real - tf.reduce_mean(fake), fake - tf.reduce_mean(real)


def ragan_discriminator_loss(real_logits, fake_logits):
    """Relativistic average GAN, discriminator (Jolicoeur-Martineau, "The relativistic
    discriminator: a key element missing from standard GAN", 2018, arXiv:1807.00734)::

        D(xr) = sigmoid(C(xr) - mean_f C(xf)),   D(xf) = sigmoid(C(xf) - mean_r C(xr))
        L_D = -mean_r log D(xr) - mean_f log(1 - D(xf))

    computed stably as ``mean softplus(-(C(xr) - mean C(xf))) + mean softplus(C(xf) - mean C(xr))``.
    ``real_logits``, ``fake_logits``: ``C`` of the targets and of the enhanced images, ``[B]``."""
    real_rel, fake_rel = _relative(real_logits, fake_logits)
    return tf.reduce_mean(tf.nn.softplus(-real_rel)) + tf.reduce_mean(tf.nn.softplus(fake_rel))


def ragan_generator_loss(real_logits, fake_logits):
    """Relativistic average GAN, generator (Jolicoeur-Martineau 2018), the symmetric form::

        L_G = -mean_f log D(xf) - mean_r log(1 - D(xr))
            = mean softplus(-(C(xf) - mean C(xr))) + mean softplus(C(xr) - mean C(xf))

    with ``D`` as in :func:`ragan_discriminator_loss`; both the real and the fake logits
    carry gradient to the generator (through the batch means)."""
    real_rel, fake_rel = _relative(real_logits, fake_logits)
    return tf.reduce_mean(tf.nn.softplus(-fake_rel)) + tf.reduce_mean(tf.nn.softplus(real_rel))


def _critic(discriminator, images, training):
    images = tf.convert_to_tensor(images, tf.float32)
    if getattr(discriminator, "channels", 3) == 1:
        images = to_gray(images)
    return discriminator(images, training=training)


def kaist_discriminator_loss(discriminator, target, enhanced):
    """The discriminator's step: :func:`ragan_discriminator_loss` of ``C(target)`` and
    ``C(enhanced)`` (grayscale when the discriminator has one channel); no gradient
    reaches the generator."""
    real = _critic(discriminator, target, True)
    fake = _critic(discriminator, tf.stop_gradient(enhanced), True)
    return ragan_discriminator_loss(real, fake)


def kaist_generator_losses(discriminator, target, enhanced):
    """The generator's terms, unweighted (the recipe weights and sums them):
    ``{"color": color_loss(target, enhanced), "adversarial": ragan_generator_loss(C(target),
    C(enhanced))}`` with DPED's colour loss (:func:`pirm_enhance.losses.color_loss`).
    No update is made to the discriminator here."""
    real = _critic(discriminator, target, False)
    fake = _critic(discriminator, enhanced, False)
    return {"color": color_loss(target, enhanced), "adversarial": ragan_generator_loss(real, fake)}
