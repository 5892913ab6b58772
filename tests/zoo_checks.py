"""Checks every architecture and every recipe must pass, shared by the parametrised
tests (test_archs, test_checkpoints, test_gradients, test_recipes) and by
test_zoo_contract, which registers a throw-away architecture and runs them on it.

Nothing here names an architecture: what differs between architectures is read
from the class attributes of :class:`pirm_enhance.archs.ZooModel` (``output_range``,
``tf1_checkpoint``, ``tiny_config``, ``kd_features``).
"""

import functools

import keras
import numpy as np
import pytest
import tensorflow as tf

import pirm_enhance as pe
from pirm_enhance import checkpoints, pretrained, registry
from pirm_enhance.archs import ZooModel


@functools.lru_cache(maxsize=None)
def _class_built_by(builder):
    return type(builder())


def arch_class(name):
    """The ZooModel subclass of architecture ``name`` (its builder, or the class of what
    a builder function such as ``dped_resnet_12_64``'s builds)."""
    builder = registry.get_builder(name)
    return builder if isinstance(builder, type) else _class_built_by(builder)


def tiny_model(name, **kwargs):
    """Architecture ``name`` at its ``tiny_config`` (random weights)."""
    return pe.build_model(name, **{**arch_class(name).tiny_config, **kwargs})


def check_attributes(name):
    """The class attributes are well-formed, and ``tiny_config`` and ``kd_features`` are usable."""
    cls = arch_class(name)
    assert issubclass(cls, ZooModel), f"{name}: {cls} is not a ZooModel"
    lo, hi = cls.output_range
    assert float(lo) < float(hi), f"{name}: output_range {cls.output_range}"
    assert isinstance(cls.tiny_config, dict) and isinstance(cls.tf1_checkpoint, bool)
    model = tiny_model(name)
    assert type(model) is cls
    if cls.kd_features is not None:
        features = keras.Model(model.input, model.get_layer(cls.kd_features).output)
        shape = tuple(features(np.zeros((1, 24, 32, 3), np.float32)).shape)
        assert shape[:3] == (1, 24, 32), f"{name}: {cls.kd_features} has shape {shape}"


def check_output_in_range(model, x):
    """Output: the input's shape, finite, inside ``output_range``, and depends on the input."""
    y = np.asarray(model(x))
    assert y.shape == x.shape
    assert np.isfinite(y).all()
    lo, hi = model.output_range
    assert y.min() >= lo - 1e-6 and y.max() <= hi + 1e-6, \
        f"{model.name}: outputs span [{y.min()}, {y.max()}], outside output_range {model.output_range}"
    assert not np.allclose(y, np.asarray(model(np.zeros(x.shape, np.float32))))


def check_batch_independence(model, rng):
    """Instance norms and contrast are per image: a batch equals its images run alone."""
    x = rng.random((2, 24, 40, 3), dtype=np.float32)
    both = np.asarray(model(x))
    for i in range(2):
        np.testing.assert_allclose(both[i:i + 1], np.asarray(model(x[i:i + 1])), atol=2e-5)


def check_keras_round_trip(model, tmp_path, rng):
    """``.keras`` save and load give the same class and outputs (weights perturbed first,
    so that the round trip cannot pass on initial values)."""
    for w in model.weights:
        w.assign(w.numpy() + rng.normal(0, 0.01, w.shape).astype("float32"))
    x = rng.random((1, 29, 43, 3), dtype=np.float32)
    path = tmp_path / f"{model.name}.keras"
    model.save(path)
    again = keras.saving.load_model(path)
    assert type(again) is type(model)
    np.testing.assert_array_equal(np.asarray(model(x)), np.asarray(again(x)))
    assert pe.load_model(str(path)).count_params() == model.count_params()


def check_unknown_setting_refused(model, tmp_path):
    """A saved file whose configuration has a setting the class does not take (a newer
    version's, or an edit) is refused in one line that names it, instead of loading the
    layers this version knows and silently dropping the rest."""
    import json
    import zipfile

    from pirm_enhance.errors import ModelFileError

    saved, edited = tmp_path / f"{model.name}.keras", tmp_path / f"{model.name}_edited.keras"
    model.save(saved)
    with zipfile.ZipFile(saved) as source, zipfile.ZipFile(edited, "w") as target:
        for item in source.namelist():
            data = source.read(item)
            if item == "config.json":
                config = json.loads(data)
                config["config"]["from_the_future"] = 1
                data = json.dumps(config)
            target.writestr(item, data)
    with pytest.raises(ModelFileError) as info:
        pe.zoo.load_keras_file(edited)
    message = str(info.value)
    assert "'from_the_future'" in message and type(model).__name__ in message and "\n" not in message
    assert pe.zoo.load_keras_file(saved).count_params() == model.count_params()  # the file as saved loads


def check_gradients(model, shape=(1, 24, 32, 3), seed=0):
    """Every trainable variable gets a gradient that is not None, finite and not all zero
    from ``mean(output * random weights)`` in training mode.

    Known limit: the bias of a convolution whose output goes straight into an instance
    norm has an analytically zero gradient (the norm removes per-channel constants); in
    float32 it gets rounding noise (1e-10 and below) and passes. Those biases exist
    because the official TF1 checkpoints (DPED, EdS, PPCN) have them."""
    rng = np.random.default_rng(seed)
    x = rng.random(shape, dtype=np.float32)
    weights = rng.normal(size=shape).astype(np.float32)
    with tf.GradientTape() as tape:
        y = model(x, training=True)
        loss = tf.reduce_mean(tf.cast(y, tf.float32) * weights)
    variables = model.trainable_variables
    assert variables, f"{model.name} has no trainable variables"
    grads = tape.gradient(loss, variables)
    problems = []
    for var, grad in zip(variables, grads):
        if grad is None:
            problems.append(f"{var.path}: no gradient")
            continue
        g = np.asarray(tf.convert_to_tensor(grad))
        if not np.isfinite(g).all():
            problems.append(f"{var.path}: non-finite gradient")
        elif not np.any(g):
            problems.append(f"{var.path}: gradient is all zero")
    assert not problems, f"{model.name}:\n" + "\n".join(problems)


def random_tf1_values(model, rng):
    return {name: rng.normal(0, 0.05, var.shape).astype("float32")
            for name, var in checkpoints.tf1_layout(model).items()}


def check_tf1_flag(model):
    """``tf1_checkpoint`` tells the truth: True -> ``tf1_layout`` names every weight;
    False -> it refuses the model."""
    if not model.tf1_checkpoint:
        with pytest.raises(checkpoints.CheckpointMismatch, match="no TF1 checkpoint layout"):
            checkpoints.tf1_layout(model)
        return
    layout = checkpoints.tf1_layout(model)
    mapped = {id(v) for v in layout.values()}
    unmapped = [w.path for w in model.weights if id(w) not in mapped]
    assert not unmapped, f"{model.name}: weights without a TF1 name: {unmapped}"


def check_tf1_round_trip(arch, tmp_path, rng, **kwargs):
    """Random values saved by a TF1 Saver under the architecture's layout load exactly."""
    from tf1_util import save_tf1_checkpoint

    model = pe.build_model(arch, **kwargs)
    values = random_tf1_values(model, rng)
    values[f"{model.tf1_scope}/Adam_step_ignored/Adam"] = np.zeros(1, "float32")  # optimizer slots are skipped
    prefix = save_tf1_checkpoint(tmp_path / "model.ckpt", values)
    loaded = pe.load_model(arch, checkpoint=prefix, **kwargs)
    for name, var in checkpoints.tf1_layout(loaded).items():
        np.testing.assert_array_equal(var.numpy(), np.broadcast_to(values[name], var.shape))


# ---- recipes -------------------------------------------------------------------------------

def teacher_arch(spec):
    """The architecture of a recipe's ``teacher``: a pretrained name (``ppcn_teacher.paper``),
    ``arch:checkpoint_prefix`` or an architecture name."""
    spec = str(spec)
    if spec in pe.list_models():
        return spec
    if ":" in spec and not spec.endswith(".keras"):
        return spec.split(":", 1)[0]
    return pretrained.get_entry(spec)["arch"]


def vgg_layers(rec):
    """The VGG-19 layers the training loop builds for ``rec`` (the library's own rule)."""
    from pirm_enhance.training.recipes import vgg_layers as library_vgg_layers

    return tuple(library_vgg_layers(rec))


@functools.lru_cache(maxsize=None)
def _random_vgg(layers):
    from pirm_enhance.losses import VGG19Features

    return VGG19Features(list(layers), weights="random")


def _values(variables):
    return [np.array(v.numpy(), copy=True) for v in variables]


def _changed(before, variables):
    return [not np.array_equal(b, v.numpy()) for b, v in zip(before, variables)]


def check_one_update(rec, size=32, batch=2, seed=0):
    """One ``EnhancerTrainer.update`` of recipe dict ``rec`` on its architecture at
    ``tiny_config`` (random VGG, the discriminator of the recipe's ``gan`` kind, a tiny
    random teacher of the recipe's teacher architecture): finite terms, exactly the
    non-zero terms logged, every generator weight moved, the discriminator moved iff
    there is a texture (adversarial) term, the teacher and VGG untouched. Returns the logs."""
    from pirm_enhance.training import EnhancerTrainer
    from pirm_enhance.training.loop import make_optimizer
    from pirm_enhance.training.recipes import LOSS_KEYS
    from pirm_enhance.training.trainer import build_discriminator

    keras.utils.set_random_seed(seed)
    gen = tiny_model(rec["arch"])
    # the recipe's own kind (DPED's when it has no adversarial term, to check that it stays)
    disc = build_discriminator({**rec, "texture": 1.0}, size)
    layers = vgg_layers(rec)
    vgg = _random_vgg(layers) if layers else None
    teacher = tiny_model(teacher_arch(rec["teacher"])) if rec.get("kd") else None
    texture = bool(rec.get("texture"))
    trainer = EnhancerTrainer(gen, rec, discriminator=disc, teacher=teacher, vgg=vgg, seed=seed)
    trainer.compile(make_optimizer(rec), make_optimizer(rec) if texture else None)

    gen_before = _values(gen.trainable_variables)
    disc_before = _values(disc.weights)
    teacher_before = _values(teacher.weights) if teacher is not None else []
    vgg_before = _values(vgg.model.weights) if vgg is not None else []
    rng = np.random.default_rng(seed)
    phone = rng.random((batch, size, size, 3), dtype=np.float32)
    target = np.clip(phone * 1.2 - 0.05 + rng.normal(0, 0.02, phone.shape), 0, 1).astype(np.float32)

    logs = {k: float(v) for k, v in trainer.update((phone, target)).items()}

    bad = {k: v for k, v in logs.items() if not np.isfinite(v)}
    assert not bad, f"non-finite loss terms {bad}"
    want = {"loss"} | {k for k in LOSS_KEYS if rec.get(k)} | ({"discriminator"} if texture else set())
    assert set(logs) == want, f"logged {sorted(logs)}, recipe terms {sorted(want)}"
    still = [v.path for v, c in zip(gen.trainable_variables, _changed(gen_before, gen.trainable_variables))
             if not c]
    assert not still, f"generator weights not updated: {still}"
    moved = _changed(disc_before, disc.weights)
    if texture:  # every trainable weight (a frozen one, such as RaGAN's last bias, may not move)
        trainable = {id(v) for v in disc.trainable_variables}
        still = [w.path for w, m in zip(disc.weights, moved) if not m and id(w) in trainable]
        assert not still, f"discriminator weights not updated: {still}"
    else:
        assert not any(moved), "the discriminator moved without a texture term"
    if teacher is not None:
        assert not any(_changed(teacher_before, teacher.weights)), "the teacher moved"
    if vgg is not None:
        assert not any(_changed(vgg_before, vgg.model.weights)), "VGG-19 moved"
    return logs
