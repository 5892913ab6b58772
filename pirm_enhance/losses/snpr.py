"""SNPR's discriminator and adversarial losses (PIRM 2018 Track B, team SNPR).

Reconstructed from the PIRM 2018 challenge report (Ignatov et al., ECCVW 2018),
section 5.11: one discriminator network D is shared by the three generators
(``snpr_g1``..``snpr_g3``), drawn in figure 13 with the same notation as the
generators: Conv(f, k, s) (f k x k filters, stride s), ReLU and batch
normalisation. The figure's layer list is not in the report's text, so the
stack below is a choice in that notation, following the SRGAN discriminator
pattern the notation comes from (Ledig et al., CVPR 2017): pairs of 3x3
convolutions, the second of each pair with stride 2, channels doubling; BN
after every convolution but the first.

D on an RGB image in [0, 1], any size (100x100 DPED patches in training):
Conv(64,3,1) ReLU; Conv(64,3,2) BN ReLU; Conv(128,3,1) BN ReLU;
Conv(128,3,2) BN ReLU; Conv(256,3,1) BN ReLU; Conv(256,3,2) BN ReLU;
global average pooling; dense 1 (a logit: "target" when positive).

Choices: ReLU (the report's legend names no leaky variant); global average
pooling instead of SRGAN's flatten + dense 1024, so the patch size is free; the
loss is the standard GAN cross-entropy (Goodfellow et al., NIPS 2014) with the
generator's non-saturating form, since the report names no other; the images
are RGB (DPED's texture discriminator sees grayscale, SNPR's is not said to).
"""

import keras
import tensorflow as tf

_LAYERS = ((64, 1, False), (64, 2, True), (128, 1, True), (128, 2, True), (256, 1, True), (256, 2, True))


class SNPRDiscriminator(keras.Model):
    """SNPR's discriminator D (see the module doc): 6 convolutions, global mean, one logit."""

    def __init__(self, width=64, name="snpr_discriminator", **kwargs):
        inputs = keras.Input((None, None, 3), name="image")
        x = inputs
        for i, (filters, stride, bn) in enumerate(_LAYERS):
            x = keras.layers.Conv2D(filters * width // 64, 3, stride, padding="same", use_bias=not bn,
                                    name=f"conv{i + 1}")(x)
            if bn:
                x = keras.layers.BatchNormalization(name=f"bn{i + 1}")(x)
            x = keras.layers.ReLU()(x)
        x = keras.layers.GlobalAveragePooling2D(name="global_mean")(x)
        outputs = keras.layers.Dense(1, name="logit")(x)
        super().__init__(inputs, outputs, name=name, **kwargs)
        self.width = width

    def get_config(self):
        return {"width": self.width, "name": self.name}


def gan_discriminator_loss(real_logits, fake_logits):
    """``mean(softplus(-real)) + mean(softplus(fake))``: the cross-entropy of D calling the
    targets real (label 1) and the enhanced images fake (label 0), from logits
    (``-log sigmoid(z) = softplus(-z)``, ``-log(1 - sigmoid(z)) = softplus(z)``;
    Goodfellow et al. 2014, eq. 1, as a loss to minimise)."""
    return tf.reduce_mean(tf.nn.softplus(-real_logits)) + tf.reduce_mean(tf.nn.softplus(fake_logits))


def gan_generator_loss(fake_logits):
    """``mean(softplus(-fake))``: the non-saturating generator loss ``-log D(G(x))``
    (Goodfellow et al. 2014, section 3)."""
    return tf.reduce_mean(tf.nn.softplus(-fake_logits))


def snpr_discriminator_loss(discriminator, target, enhanced):
    """D's loss on a batch: :func:`gan_discriminator_loss` of D on the targets and on the
    enhanced images (no gradient reaches the generator)."""
    real = discriminator(target, training=True)
    fake = discriminator(tf.stop_gradient(enhanced), training=True)
    return gan_discriminator_loss(real, fake)


def snpr_adversarial_loss(discriminator, enhanced):
    """The generators' adversarial loss: :func:`gan_generator_loss` of D (inference mode,
    not updated here) on the enhanced images; gradients reach the generator."""
    return gan_generator_loss(discriminator(enhanced, training=False))
