"""One trainer for every recipe: generator, optional discriminator, optional frozen teacher.

``EnhancerTrainer`` is a ``keras.Model`` whose ``train_step`` updates the
generator on the recipe's weighted loss terms and, when the recipe has a
texture (adversarial) term, the discriminator on the same batch (DPED
alternated the two updates every iteration). The adversarial term's kind (the
recipe's ``gan``) is one entry of :data:`GANS`: its discriminator and its two
losses. Distillation is composition: a teacher is one more frozen model the
step reads features from.
"""

import dataclasses
from typing import Callable

import keras
import tensorflow as tf

from pirm_enhance import losses
from pirm_enhance.training.recipes import (VGG_TERMS, content_layers, contextual_layer, gan_kind, style_layers,
                                           vgg_layers)
from pirm_enhance.errors import UsageError


@dataclasses.dataclass(frozen=True)
class GAN:
    """One kind of adversarial term: ``build(recipe, patch_size)`` makes its discriminator
    (an instance of ``cls``); ``generator_loss`` and ``discriminator_loss`` take
    ``(discriminator, target, enhanced, swaps)`` (``swaps``: DPED's per-image draw, which
    the other kinds ignore) and return a scalar."""

    cls: type
    build: Callable
    generator_loss: Callable
    discriminator_loss: Callable


GANS = {
    # DPED's texture loss: a grayscale patch discriminator; its own step draws random
    # target/enhanced swaps, the generator's shows it every image enhanced
    "dped": GAN(losses.Discriminator, lambda rec, patch: losses.Discriminator(patch),
                losses.texture_loss, losses.discriminator_loss),
    # PPCN: DPED's texture loss and swaps with PPCN's larger discriminator (6 convolutions)
    "ppcn": GAN(losses.Discriminator, lambda rec, patch: losses.Discriminator(patch, layout="ppcn"),
                losses.texture_loss, losses.discriminator_loss),
    # KAIST-VICLAB: relativistic average GAN on grayscale
    "ragan": GAN(losses.RelativisticDiscriminator, lambda rec, patch: _ragan_critic(rec),
                 lambda d, target, enhanced, swaps: losses.kaist_generator_losses(d, target, enhanced)["adversarial"],
                 lambda d, target, enhanced, swaps: losses.kaist_discriminator_loss(d, target, enhanced)),
    # SNPR: standard (non-saturating) GAN with SNPR's RGB discriminator D
    "snpr": GAN(losses.SNPRDiscriminator,
                lambda rec, patch: losses.SNPRDiscriminator(width=int(rec.get("discriminator_width", 64))),
                lambda d, target, enhanced, swaps: losses.snpr_adversarial_loss(d, enhanced),
                lambda d, target, enhanced, swaps: losses.snpr_discriminator_loss(d, target, enhanced)),
}


def _ragan_critic(rec):
    """KAIST-VICLAB's critic (its logit layer has no bias: RaGAN reads only logit differences)."""
    return losses.RelativisticDiscriminator(width=int(rec.get("discriminator_width", 12)))


def build_discriminator(rec, patch_size):
    """The discriminator of recipe ``rec``'s adversarial term (``None`` without one)."""
    if not rec.get("texture"):
        return None
    return GANS[gan_kind(rec)].build(rec, patch_size)


def _num_replicas():
    return tf.distribute.get_strategy().num_replicas_in_sync


class _Float32Outputs:
    """A model whose outputs are cast to float32 (under a mixed policy they are bfloat16/float16,
    and the losses' arithmetic is float32)."""

    def __init__(self, model):
        self.model = model

    def __call__(self, x, **kwargs):
        return tf.nest.map_structure(lambda t: tf.cast(t, tf.float32), self.model(x, **kwargs))

    def __getattr__(self, name):
        # the losses read attributes of the model (the RaGAN critic its ``channels``)
        if name == "model":
            raise AttributeError(name)
        return getattr(self.model, name)


class _KnownFeatures:
    """What :func:`pirm_enhance.losses.content_loss` needs of a VGG (``layers`` and a call),
    restricted to ``layers`` and answering with features already computed for the same
    images (the contextual term reads the same VGG pass)."""

    def __init__(self, vgg, layers, known):
        self.vgg, self.layers, self._known = vgg, tuple(layers), known

    def __call__(self, images):
        for seen, features in self._known:
            if seen is images:
                return features
        return _Float32Outputs(self.vgg)(images)


class EnhancerTrainer(keras.Model):
    def __init__(self, generator, recipe, discriminator=None, teacher=None, vgg=None, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.recipe = dict(recipe)
        self.weights_ = {k: float(recipe.get(k, 0.0)) for k in losses_keys()}
        self.discriminator = discriminator
        self.teacher = teacher
        self.vgg = vgg
        self.seed = int(seed)
        self.step_counter = tf.Variable(0, dtype=tf.int64, trainable=False, name="step",
                                        aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        self.gan = None
        if self.weights_["texture"]:
            kind = gan_kind(self.recipe)
            self.gan = GANS[kind]
            if discriminator is None:
                raise UsageError("the recipe has a texture (adversarial) term: pass a discriminator")
            if not isinstance(discriminator, self.gan.cls):
                raise UsageError(f"the recipe's adversarial term is of kind {kind!r}, which needs a "
                                 f"{self.gan.cls.__name__}, not a {type(discriminator).__name__}")
        # the generator's extra outputs some terms read: distillation features, the middle output
        extra = {}
        if self.weights_["kd"]:
            if teacher is None:
                raise UsageError("the recipe has a KD term: pass a teacher")
            extra["kd"] = _kd_layer(generator)
            self._teacher = keras.Model(teacher.input, teacher.get_layer(_kd_layer(teacher)).output)
            self._teacher.trainable = False
        if self.weights_["ssim_middle"]:
            extra["ssim_middle"] = _middle_layer(generator)
        self._extra_names = tuple(extra)
        self._outputs = keras.Model(generator.input, [generator.output, *[generator.get_layer(name).output
                                                                          for name in extra.values()]]) \
            if extra else None
        if any(self.weights_[k] for k in VGG_TERMS):
            if vgg is None:
                raise UsageError("the recipe has a VGG term: pass vgg=VGG19Features(...)")
            missing = sorted(set(vgg_layers(self.recipe)) - set(vgg.layers))
            if missing:
                raise UsageError(f"the VGG-19 passed lacks the recipe's layer(s) {missing}: build it with "
                                 "recipes.vgg_layers(recipe)")
        channel_weights = self.recipe.get("l1_channel_weights")
        if channel_weights is not None:
            if len(channel_weights) != 3:
                raise UsageError(f"l1_channel_weights: one weight per RGB channel, got {channel_weights!r}")
            if self.recipe.get("l1_normalisation", "mean") != "mean":
                raise UsageError("l1_channel_weights and l1_normalisation exclude each other")
        self.content_layers = content_layers(self.recipe)
        self._disc32 = _Float32Outputs(discriminator) if discriminator is not None else None
        self.log_names = ["loss", *[k for k in losses_keys() if self.weights_[k]]]
        if self.weights_["texture"]:
            self.log_names.append("discriminator")
        self.trackers = {name: keras.metrics.Mean(name=name) for name in self.log_names}

    def compile(self, g_optimizer, d_optimizer=None, **kwargs):
        super().compile(**kwargs)
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer
        if self.weights_["texture"] and d_optimizer is None:
            raise UsageError("the recipe has a texture term: pass d_optimizer")

    def call(self, phone, training=False):
        return self.generator(phone, training=training)

    def _swaps(self, batch):
        """Per image 0/1: does the discriminator see the target (DPED's random swap)?"""
        ctx = tf.distribute.get_replica_context()
        replica = tf.cast(ctx.replica_id_in_sync_group if ctx else 0, tf.int64)
        seed = tf.stack([tf.cast(self.seed, tf.int64) * 1000 + replica, self.step_counter])
        return tf.random.stateless_uniform([batch], seed, 0, 2, dtype=tf.int32, alg="philox")

    def generator_terms(self, phone, target, swaps):
        """``(enhanced, {term: unweighted value})`` for the recipe's non-zero terms."""
        w = self.weights_
        if self._outputs is not None:
            enhanced, *extra = self._outputs(phone, training=True)
            extra = {k: tf.cast(v, tf.float32) for k, v in zip(self._extra_names, extra)}
        else:
            enhanced, extra = self.generator(phone, training=True), {}
        enhanced = tf.cast(enhanced, tf.float32)
        terms = {}
        if w["color"]:
            terms["color"] = losses.color_loss(target, enhanced)
        if w["tv"]:
            terms["tv"] = losses.tv_loss(enhanced)
        if w["chroma"]:
            terms["chroma"] = losses.chroma_loss(target, enhanced)
        if w["hue"]:
            terms["hue"] = losses.hue_loss(target, enhanced)
        if w["l1"]:
            channel_weights = self.recipe.get("l1_channel_weights")
            terms["l1"] = losses.l1_loss(target, enhanced, self.recipe.get("l1_normalisation", "mean")) \
                if channel_weights is None else losses.per_channel_l1(target, enhanced, tuple(channel_weights))
        if w["mse"]:
            terms["mse"] = losses.mse_loss(target, enhanced)
        if w["ms_ssim"]:
            terms["ms_ssim"] = losses.ms_ssim_loss(target, enhanced)
        if w["ssim"]:
            terms["ssim"] = losses.ssim_loss(target, enhanced)
        if w["ssim_middle"]:
            terms["ssim_middle"] = losses.ssim_loss(target, extra["ssim_middle"])
        if w["lcn"]:
            terms["lcn"] = losses.lcn_loss(target, enhanced)
        if w["gradient"]:
            terms["gradient"] = losses.gradient_loss(target, enhanced)
        if any(w[k] for k in VGG_TERMS):
            ft, fe = _Float32Outputs(self.vgg)(target), _Float32Outputs(self.vgg)(enhanced)
            if w["content"]:
                vgg = _KnownFeatures(self.vgg, self.content_layers, [(target, ft), (enhanced, fe)])
                terms["content"] = losses.content_loss(target, enhanced, vgg)
            if w["contextual"]:
                name = contextual_layer(self.recipe)
                seed = tf.stack([tf.cast(self.seed, tf.int64) + 17, self.step_counter])
                terms["contextual"] = losses.contextual_loss(tf.stop_gradient(ft[name]), fe[name], seed=seed)
            if w["style"]:
                layers = style_layers(self.recipe)
                terms["style"] = losses.style_loss({k: ft[k] for k in layers}, {k: fe[k] for k in layers})
        if w["texture"]:
            terms["texture"] = self.gan.generator_loss(self._disc32, target, enhanced, swaps)
        if w["kd"]:
            teacher = tf.cast(self._teacher(phone, training=False), tf.float32)
            terms["kd"] = losses.kd_loss(extra["kd"], teacher)
        return enhanced, {k: tf.cast(v, tf.float32) for k, v in terms.items()}

    def train_step(self, data):
        """One generator (and discriminator) update; returns the running means (keras ``fit``)."""
        logs = self.update(data)
        for name, value in logs.items():
            self.trackers[name].update_state(value)
        return {name: self.trackers[name].result() for name in logs}

    def update(self, data):
        """One update on ``(phone, target)``; returns this batch's unweighted loss terms."""
        phone, target = data
        phone = tf.cast(phone, tf.float32)
        target = tf.cast(target, tf.float32)
        swaps = self._swaps(tf.shape(phone)[0])
        scale = 1.0 / _num_replicas()  # gradients are summed over replicas
        with tf.GradientTape() as tape:
            enhanced, terms = self.generator_terms(phone, target, swaps)
            total = tf.add_n([self.weights_[k] * v for k, v in terms.items()])
            scaled = self.g_optimizer.scale_loss(total * scale) if hasattr(self.g_optimizer, "scale_loss") \
                else total * scale
        grads = tape.gradient(scaled, self.generator.trainable_variables)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_variables))
        logs = {"loss": total, **terms}
        if self.weights_["texture"]:
            with tf.GradientTape() as tape:
                d_loss = self.gan.discriminator_loss(self._disc32, target, enhanced, swaps)
                d_scaled = d_loss * scale
            d_grads = tape.gradient(d_scaled, self.discriminator.trainable_variables)
            self.d_optimizer.apply_gradients(zip(d_grads, self.discriminator.trainable_variables))
            logs["discriminator"] = d_loss
        self.step_counter.assign_add(1)
        return logs

    @property
    def metrics(self):
        return list(self.trackers.values())


def losses_keys():
    from pirm_enhance.training.recipes import LOSS_KEYS

    return LOSS_KEYS


def _middle_layer(model):
    """The layer of the architecture's middle output (``middle_output``), for ``ssim_middle``."""
    name = getattr(type(model), "middle_output", None) or getattr(model, "middle_output", None)
    if not name:
        raise UsageError(f"{model.name}: its architecture names no middle output (middle_output); "
                         "the ssim_middle term needs one")
    return name


def _kd_layer(model):
    """The layer whose output distillation compares: the architecture's ``kd_features``."""
    name = getattr(type(model), "kd_features", None) or getattr(model, "kd_features", None)
    if not name:
        raise UsageError(f"{model.name}: its architecture names no distillation features (kd_features); "
                         "a KD recipe needs a student and a teacher that do")
    return name

