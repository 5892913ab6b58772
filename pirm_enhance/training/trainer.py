"""One trainer for every recipe: generator, optional discriminator, optional frozen teacher.

``EnhancerTrainer`` is a ``keras.Model`` whose ``train_step`` updates the
generator on the recipe's weighted loss terms and, when the recipe has a
texture term, the discriminator on the same batch (DPED alternated the two
updates every iteration). Distillation is composition: a teacher is one more
frozen model the step reads features from.
"""

import keras
import tensorflow as tf

from pirm_enhance import losses
from pirm_enhance.training.recipes import content_layers, contextual_layer
from pirm_enhance.errors import UsageError


def _num_replicas():
    return tf.distribute.get_strategy().num_replicas_in_sync


class _Float32Outputs:
    """A model whose outputs are cast to float32 (under a mixed policy they are bfloat16/float16,
    and the losses' arithmetic is float32)."""

    def __init__(self, model):
        self.model = model

    def __call__(self, x, **kwargs):
        return tf.nest.map_structure(lambda t: tf.cast(t, tf.float32), self.model(x, **kwargs))


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
        if self.weights_["texture"] and discriminator is None:
            raise UsageError("the recipe has a texture term: pass a discriminator")
        if self.weights_["kd"]:
            if teacher is None:
                raise UsageError("the recipe has a KD term: pass a teacher")
            self._student = keras.Model(generator.input,
                                        [generator.output, generator.get_layer(_kd_layer(generator)).output])
            self._teacher = keras.Model(teacher.input, teacher.get_layer(_kd_layer(teacher)).output)
            self._teacher.trainable = False
        if (self.weights_["content"] or self.weights_["contextual"]) and vgg is None:
            raise UsageError("the recipe has a VGG term: pass vgg=VGG19Features(...)")
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
        if w["kd"]:
            enhanced, features = self._student(phone, training=True)
        else:
            enhanced = self.generator(phone, training=True)
        enhanced = tf.cast(enhanced, tf.float32)
        terms = {}
        if w["color"]:
            terms["color"] = losses.color_loss(target, enhanced)
        if w["tv"]:
            terms["tv"] = losses.tv_loss(enhanced)
        if w["chroma"]:
            terms["chroma"] = losses.chroma_loss(target, enhanced)
        if w["l1"]:
            terms["l1"] = losses.l1_loss(target, enhanced, self.recipe.get("l1_normalisation", "mean"))
        if w["ms_ssim"]:
            terms["ms_ssim"] = losses.ms_ssim_loss(target, enhanced)
        if w["ssim"]:
            terms["ssim"] = losses.ssim_loss(target, enhanced)
        if w["content"] or w["contextual"]:
            ft, fe = _Float32Outputs(self.vgg)(target), _Float32Outputs(self.vgg)(enhanced)
            if w["content"]:
                vgg = _KnownFeatures(self.vgg, self.content_layers, [(target, ft), (enhanced, fe)])
                terms["content"] = losses.content_loss(target, enhanced, vgg)
            if w["contextual"]:
                name = contextual_layer(self.recipe)
                seed = tf.stack([tf.cast(self.seed, tf.int64) + 17, self.step_counter])
                terms["contextual"] = losses.contextual_loss(tf.stop_gradient(ft[name]), fe[name], seed=seed)
        if w["texture"]:
            terms["texture"] = losses.texture_loss(self._disc32, target, enhanced, swaps)
        if w["kd"]:
            teacher = tf.cast(self._teacher(phone, training=False), tf.float32)
            terms["kd"] = losses.kd_loss(tf.cast(features, tf.float32), teacher)
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
                d_loss = losses.discriminator_loss(self._disc32, target, enhanced, swaps)
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


def _kd_layer(model):
    """The layer whose output distillation compares: the architecture's ``kd_features``."""
    name = getattr(type(model), "kd_features", None) or getattr(model, "kd_features", None)
    if not name:
        raise UsageError(f"{model.name}: its architecture names no distillation features (kd_features); "
                         "a KD recipe needs a student and a teacher that do")
    return name

