"""``train``: a recipe, a data source and a step count in; a trained generator out.

Hygiene: a ``tf.train.CheckpointManager`` checkpoint every ``checkpoint_every``
steps and on Ctrl-C, automatic resume from the newest checkpoint that
restores (data stream included: it is a pure function of seed and position);
periodic validation PSNR / MS-SSIM (the organisers' metrics) on held-out
pairs with a before/after PNG of fixed crops; TensorBoard logs; a progress
bar with the live losses. Runs under any ``tf.distribute`` strategy.

Damaged work folders (a killed run, a full disk):

* a checkpoint that does not restore (a corrupt or truncated ``.index`` /
  ``.data`` file, deleted files, another model's variables) is skipped with
  one warning line and the next older one is tried; if checkpoints exist and
  none restores, :class:`~pirm_enhance.errors.ModelFileError` stops the run
  (starting afresh would let the checkpoint manager delete them);
* ``history.json`` is written atomically; one that does not parse is rebuilt
  from the TensorBoard logs of the work folder, with a warning.
"""

import contextlib
import dataclasses
import json
import logging
import pathlib
import re
import time

import keras
import numpy as np
import tensorflow as tf

from pirm_enhance.data import pairs as pair_data
from pirm_enhance.data.degrade import BicubicDownUp, CameraPipeline
from pirm_enhance.data.io import write_atomic, write_png
from pirm_enhance.errors import DataMissing, ModelFileError, UsageError, first_line
from pirm_enhance.metrics import ms_ssim, psnr
from pirm_enhance.training.recipes import recipe as get_recipe, vgg_layers
from pirm_enhance.training.trainer import EnhancerTrainer, build_discriminator
from pirm_enhance.zoo import save_keras_file

log = logging.getLogger(__name__)
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")


class TrainingInterrupted(RuntimeError):
    """Raised by a step hook to stop a run (tests use it to simulate a crash)."""


def resolve_data(data, holdout=0.1):
    """``(train_items, val_items, synthetic)`` from ``DIR`` (DPED layout or two folders
    ``<phone>``/``canon``) or ``synthetic:DIR`` (a folder of good photos)."""
    text = str(data)
    if text.startswith("synthetic:"):
        photos = pair_data.synthetic_sources(pathlib.Path(text.split(":", 1)[1]).expanduser())
        train, val = pair_data.split_holdout(photos, holdout)
        return train, val, True
    root = pathlib.Path(text).expanduser()
    if not root.is_dir():
        raise DataMissing(f"{data}: {'not a folder' if root.exists() else 'no such folder'}")
    try:
        items = pair_data.dped_pairs(root)
        try:
            val = pair_data.dped_pairs(root, split="test")
            return items, val, False
        except FileNotFoundError:
            pass
    except FileNotFoundError:
        subdirs = sorted(p for p in root.iterdir() if p.is_dir())
        if len(subdirs) != 2:
            raise DataMissing(
                f"{data}: expected the DPED layout (dped/<phone>/training_data/...), two folders of "
                "aligned pairs (<phone>/ and canon/), or synthetic:DIR for a folder of good photos") from None
        target = next((p for p in subdirs if p.name in ("canon", "target", "dslr")), subdirs[1])
        phone = subdirs[0] if subdirs[1] == target else subdirs[1]
        items = pair_data.folder_pairs(phone, target)
    train, val = pair_data.split_holdout(items, holdout)
    return train, val, False


def validation_arrays(val_items, synthetic, patch_size, count=16, seed=1234, degradation=None):
    """A fixed set of held-out ``(phone, target)`` arrays (deterministic crops)."""
    extra = {} if degradation is None else {"degradation": degradation}
    ds = pair_data.pair_dataset(val_items, batch_size=1, seed=seed, patch_size=patch_size,
                                augment=False, synthetic=synthetic, repeat=synthetic, **extra)
    phones, targets = [], []
    for phone, target in ds.take(count):
        phones.append(phone.numpy()[0])
        targets.append(target.numpy()[0])
    return np.stack(phones), np.stack(targets)


def _validate(generator, phones, targets):
    out = np.concatenate([np.asarray(generator(phones[i:i + 8], training=False), np.float32)
                          for i in range(0, len(phones), 8)])
    p = np.array([psnr(o, t) for o, t in zip(out, targets)])
    s = np.array([ms_ssim(t[None] * 255.0, o[None] * 255.0) for o, t in zip(out, targets)])
    base = np.array([psnr(ph, t) for ph, t in zip(phones, targets)])
    return {"val_psnr": float(p[np.isfinite(p)].mean()), "val_ms_ssim": float(np.nanmean(s)),
            "val_input_psnr": float(base[np.isfinite(base)].mean())}, out


def _sample_sheet(phones, out, targets, path, rows=4):
    """PNG grid: one row per crop, [phone | enhanced | target]."""
    r = min(rows, len(phones))
    sheet = np.concatenate([np.concatenate([phones[i], np.clip(out[i], 0, 1), targets[i]], axis=1)
                            for i in range(r)], axis=0)
    write_png(path, sheet)


def make_optimizer(rec):
    lr = rec.get("lr", 5e-4)
    if rec.get("lr_inverse_decay"):
        lr = keras.optimizers.schedules.InverseTimeDecay(lr, 1, rec["lr_inverse_decay"])
    elif rec.get("lr_decay_every"):
        lr = keras.optimizers.schedules.ExponentialDecay(lr, rec["lr_decay_every"], rec.get("lr_decay", 0.1),
                                                         staircase=True)
    return keras.optimizers.Adam(lr)


def _load_model_spec(spec):
    """A model from a pretrained name, a ``.keras`` file or ``arch:checkpoint_prefix`` (a
    distillation teacher, a recipe's ``init``)."""
    from pirm_enhance.zoo import load_model

    if isinstance(spec, keras.Model):
        return spec
    spec = str(spec)
    if ":" in spec and not spec.endswith(".keras"):  # arch:checkpoint_prefix
        arch, prefix = spec.split(":", 1)
        return load_model(arch, checkpoint=prefix)
    return load_model(spec)


# ---------------------------------------------------------------- building

def build_trainer(rec, patch_size, strategy, vgg_weights="imagenet", teacher=None, precision="float32",
                  arch_kwargs=None, generator=None, seed=0):
    """A compiled :class:`EnhancerTrainer` (optimizers built) under ``strategy``'s scope.

    The generator: ``generator``, else the recipe's ``init`` (a generator to start from:
    pretrained name, ``.keras`` file or ``arch:checkpoint_prefix``; a second training
    phase such as ``menet_finetune``), else a new ``rec["arch"]``. The discriminator:
    the recipe's ``gan`` kind (:data:`pirm_enhance.training.trainer.GANS`)."""
    from pirm_enhance.losses import VGG19Features
    from pirm_enhance.registry import build_model

    with strategy.scope():
        if generator is not None:
            gen = generator
        elif rec.get("init"):
            gen = _load_model_spec(rec["init"])
        else:
            gen = build_model(rec["arch"], **{**rec.get("arch_config", {}), **(arch_kwargs or {})})
        disc = build_discriminator(rec, patch_size)
        layers = vgg_layers(rec)
        vgg = VGG19Features(layers, weights=vgg_weights) if layers else None
        if rec.get("kd") and not (teacher or rec.get("teacher")):
            raise UsageError("the recipe has a distillation (kd) term: name a teacher (--teacher)")
        teacher_model = _load_model_spec(teacher or rec["teacher"]) if rec.get("kd") else None
        trainer = EnhancerTrainer(gen, rec, discriminator=disc, teacher=teacher_model, vgg=vgg, seed=seed)
        g_opt = make_optimizer(rec)
        d_opt = make_optimizer(rec) if disc is not None else None
        if precision == "mixed_float16":
            g_opt = keras.optimizers.LossScaleOptimizer(g_opt)
        trainer.compile(g_opt, d_opt)
        g_opt.build(gen.trainable_variables)
        if d_opt is not None:
            d_opt.build(disc.trainable_variables)
    return trainer


def make_checkpoint(trainer, directory, max_to_keep=3):
    """``(tf.train.Checkpoint, tf.train.CheckpointManager)`` of the trainer's state."""
    objects = {"generator": trainer.generator, "g_optimizer": trainer.g_optimizer, "step": trainer.step_counter}
    if trainer.discriminator is not None:
        objects.update(discriminator=trainer.discriminator, d_optimizer=trainer.d_optimizer)
    ckpt = tf.train.Checkpoint(**objects)
    # a damaged ``checkpoint`` state file is ignored by TensorFlow (with a warning): the
    # checkpoints are then found in the folder (checkpoint_candidates)
    manager = tf.train.CheckpointManager(ckpt, str(directory), max_to_keep=max_to_keep)
    return ckpt, manager


def _checkpoint_number(prefix):
    match = re.search(r"-(\d+)$", str(prefix))
    return int(match.group(1)) if match else -1


def checkpoint_candidates(manager):
    """Checkpoint prefixes, newest first: those the manager's state file lists and
    any ``ckpt-N.index`` of its folder (the state file may lag or be lost)."""
    found = set(manager.checkpoints)
    found.update(str(p.with_suffix("")) for p in pathlib.Path(manager.directory).glob("ckpt-*.index"))
    return sorted(found, key=_checkpoint_number, reverse=True)


def _read_all(prefix):
    """Read every tensor of a checkpoint (its checksums are verified): raises if any is damaged."""
    reader = tf.train.load_checkpoint(prefix)
    for name in reader.get_variable_to_shape_map():
        reader.get_tensor(name)


def restore_newest(ckpt, manager):
    """Restore the newest checkpoint that restores; returns its prefix, or ``None`` when
    there is none. One warning line per checkpoint skipped; :class:`ModelFileError`
    when there are checkpoints and none restores."""
    candidates = checkpoint_candidates(manager)
    reasons = []
    for prefix in candidates:
        try:
            _read_all(prefix)
            ckpt.restore(prefix).assert_existing_objects_matched()
            return prefix
        except KeyboardInterrupt:
            raise
        except Exception as err:  # noqa: BLE001  (DataLoss, NotFound, OutOfRange, AssertionError, ...)
            reasons.append(f"{pathlib.Path(prefix).name}: {type(err).__name__}: {first_line(err)}")
            log.warning("checkpoint %s does not restore (%s: %s); trying the one before", prefix,
                        type(err).__name__, first_line(err))
    if candidates:
        raise ModelFileError(
            f"{manager.directory}: none of the checkpoints restores ({'; '.join(reasons)}); move the folder "
            "away to start afresh, or use another --workdir")
    return None


# ---------------------------------------------------------------- history

def _valid_history(history):
    return isinstance(history, list) and all(
        isinstance(h, dict) and isinstance(h.get("step"), int) and isinstance(h.get("val_psnr"), (int, float))
        for h in history)


def history_from_logs(logdir, last_step):
    """Validation entries rebuilt from TensorBoard event files (``train/*`` and
    ``validation/*`` scalars of each validated step up to ``last_step``; the
    newest value of a step wins, as a resumed run repeats steps)."""
    values = {}  # step -> {key: (wall_time, value)}
    for path in sorted(pathlib.Path(logdir).glob("events.out.tfevents.*")):
        try:
            for event in tf.compat.v1.train.summary_iterator(str(path)):
                for value in event.summary.value:
                    kind, _, key = value.tag.partition("/")
                    if kind not in ("train", "validation") or not key:
                        continue
                    number = (float(tf.make_ndarray(value.tensor)) if value.HasField("tensor")
                              else float(value.simple_value))
                    slot = values.setdefault(int(event.step), {})
                    if key not in slot or slot[key][0] <= event.wall_time:
                        slot[key] = (event.wall_time, number)
        except Exception as err:  # noqa: BLE001  (a truncated event file: keep what was read)
            log.debug("%s: read up to %s", path, first_line(err))
    return [{"step": step, **{k: v for k, (_, v) in sorted(slot.items())}}
            for step, slot in sorted(values.items()) if "val_psnr" in slot and step <= last_step]


def load_history(workdir, start):
    """The validation history of a run resumed at step ``start`` (``[]`` for a new run)."""
    if not start:
        return []
    path = pathlib.Path(workdir) / "history.json"
    if path.exists():
        try:
            history = json.loads(path.read_text())
            problem = None if _valid_history(history) else "not a list of validations"
        except (ValueError, OSError) as err:
            problem = first_line(err)
        if problem is None:
            return [h for h in history if h["step"] <= start]
        history = history_from_logs(pathlib.Path(workdir) / "logs", start)
        log.warning("%s is unreadable (%s); rebuilt %d validation(s) from the TensorBoard logs",
                    path, problem, len(history))
        return history
    return history_from_logs(pathlib.Path(workdir) / "logs", start)


def save_history(workdir, history):
    write_atomic(pathlib.Path(workdir) / "history.json", json.dumps(history, indent=1).encode())


# ---------------------------------------------------------------- the run

@contextlib.contextmanager
def _policy(precision):
    """Keras's global dtype policy set to ``precision`` inside, the previous one restored after."""
    previous = keras.mixed_precision.global_policy()
    try:
        if precision != "float32":
            keras.mixed_precision.set_global_policy(precision)
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def _onednn_enabled():
    try:
        from tensorflow.python.util import _pywrap_util_port

        return bool(_pywrap_util_port.IsMklEnabled())
    except (ImportError, AttributeError):  # a private module: assume x86 builds' default
        return True


def _leaky_relu_in(model):
    layers = list(getattr(model, "layers", ()))
    return any(isinstance(layer, keras.layers.LeakyReLU) or _leaky_relu_in(layer) for layer in layers)


def remapper_fails(trainer):
    """Whether TensorFlow's grappler remapper refuses the training step and says so on stderr.

    With oneDNN CPU ops on (TensorFlow's default on x86 CPUs with AVX-512), the
    remapper fuses ``Conv2D + BiasAdd + LeakyRelu`` into one ``_FusedConv2D``
    and drops the ``BiasAdd`` node, but the gradient's ``LeakyReluGrad`` reads
    that node's output: the rewrite is undone with ``remapper failed:
    INVALID_ARGUMENT: Mutation::Apply error: fanout '.../LeakyReluGrad' exist
    for missing node '.../BiasAdd'`` and the step runs unfused. Every
    LeakyReLU that gets a gradient does it: the DPED discriminator's (all
    recipes with a texture term), PPCN's and RSGUNet's generators.
    """
    models = [trainer.generator, trainer.discriminator]
    return _onednn_enabled() and any(m is not None and _leaky_relu_in(m) for m in models)


@contextlib.contextmanager
def _remapper_off(off=True):
    """The grappler remapper off inside (where it fails anyway: :func:`remapper_fails`),
    so that no false error line is printed; other optimisers and real errors are untouched."""
    if not off:
        yield
        return
    previous = tf.config.optimizer.get_experimental_options().get("remapping")
    tf.config.optimizer.set_experimental_options({"remapping": False})
    try:
        yield
    finally:  # True is the default (ON); a previous explicit value is put back
        tf.config.optimizer.set_experimental_options({"remapping": True if previous is None else previous})


@dataclasses.dataclass
class _Run:
    """The state of one training run shared by the loop's steps."""

    trainer: EnhancerTrainer
    manager: tf.train.CheckpointManager
    workdir: pathlib.Path
    val_phones: np.ndarray
    val_targets: np.ndarray
    history: list
    start: int = 0
    best: dict = None
    writer: object = None
    started: float = dataclasses.field(default_factory=time.perf_counter)

    @property
    def best_path(self):
        return self.workdir / "best_generator.keras"

    def log_scalars(self, prefix, values, step):
        with self.writer.as_default(step=step):
            for k, v in values.items():
                tf.summary.scalar(f"{prefix}/{k}", v)

    def validate(self, step, logs):
        """Validation metrics, the sample sheet, ``best_generator.keras`` and ``history.json``."""
        gen = self.trainer.generator
        metrics, out = _validate(gen, self.val_phones, self.val_targets)
        self.history.append({"step": step, **logs, **metrics, "seconds": time.perf_counter() - self.started})
        self.log_scalars("validation", metrics, step)
        _sample_sheet(self.val_phones, out, self.val_targets, self.workdir / "samples" / f"step_{step:07d}.png")
        if self.best is None or metrics["val_psnr"] > self.best["val_psnr"]:
            self.best = self.history[-1]
            save_keras_file(gen, self.best_path)
        save_history(self.workdir, self.history)

    def save_checkpoint(self, step):
        self.manager.save(checkpoint_number=step)


def _step_function(trainer, strategy, jit_compile):
    @tf.function(jit_compile=jit_compile)
    def replica_step(batch):
        return trainer.update(batch)

    @tf.function
    def step_fn(iterator):
        per_replica = strategy.run(replica_step, args=(next(iterator),))
        return {k: strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None) for k, v in per_replica.items()}

    return step_fn


def _loop(run, step_fn, batches, steps, checkpoint_every, validate_every, progress, step_hook):
    """Steps ``run.start + 1 .. steps``; returns the last step. Ctrl-C saves a checkpoint first."""
    bar = keras.utils.Progbar(steps, stateful_metrics=run.trainer.log_names, verbose=1 if progress else 0)
    if run.start:
        bar.update(run.start)
    step = run.start
    try:
        while step < steps:
            logs = {k: float(v) for k, v in step_fn(batches).items()}
            step += 1
            bar.update(step, values=list(logs.items()))
            run.log_scalars("train", logs, step)
            if step % validate_every == 0 or step == steps:
                run.validate(step, logs)
            if step % checkpoint_every == 0 or step == steps:
                run.save_checkpoint(step)
            if step_hook is not None:
                step_hook(step, logs)
    except KeyboardInterrupt:
        run.save_checkpoint(int(run.trainer.step_counter.numpy()))
        log.warning("interrupted: checkpoint saved at step %d; run again to resume", step)
        raise
    return step


def _export_format(export_to):
    from pirm_enhance.formats import format_of, known_suffixes

    fmt = format_of(export_to, writing=True)
    if fmt is None:
        raise UsageError(f"export to {export_to}: unknown suffix; use {', '.join(known_suffixes())} "
                         "or a folder name")
    return fmt.name


def train(recipe, data, steps=None, workdir="runs/train", batch_size=None, patch_size=None, seed=0,
          strategy=None, checkpoint_every=500, validate_every=500, vgg_weights="imagenet",
          teacher=None, jit_compile=False, precision="float32", arch_kwargs=None, export_to=None,
          progress=True, step_hook=None, generator=None, degradation=None, **overrides):
    """Train a generator; returns ``{"generator", "generator_path", "history", "workdir", "step", "best",
    ...}`` and ``"export"`` with ``export_to``.

    ``recipe``: a name from :func:`pirm_enhance.training.recipes.list_recipes` or a dict.
    ``data``: a DPED-layout folder, a folder of two aligned-pair folders, or
    ``synthetic:DIR``. ``vgg_weights``: ``"imagenet"``, a MatConvNet ``.mat``
    path, or ``None`` / ``"random"`` / ``"random:he_normal"`` (random, tests
    only). ``precision``: ``float32``, ``mixed_bfloat16`` (CPU) or
    ``mixed_float16`` (GPU); Keras's global dtype policy is restored when
    ``train`` returns or raises. ``workdir`` holds checkpoints (resumed
    automatically, see the module docstring for damaged ones), TensorBoard
    logs, sample PNGs, ``history.json``, the final ``generator.keras`` and
    ``best_generator.keras`` (the generator at the validation with the highest
    held-out PSNR: adversarial recipes oscillate, so the last step is not
    always the best). ``export_to``: a model file or folder; its format
    follows :func:`pirm_enhance.formats.format_of`. ``degradation``: the
    phone model of ``synthetic:`` pairs (default ``data.degrade.CameraPipeline()``).
    """
    rec, steps, batch_size, patch_size = _settings(recipe, overrides, steps, batch_size, patch_size,
                                                   checkpoint_every, validate_every, precision)
    if rec.get("routine"):
        return run_routine(rec, data, steps=steps, workdir=workdir, batch_size=batch_size, patch_size=patch_size,
                           seed=seed, strategy=strategy, checkpoint_every=checkpoint_every,
                           validate_every=validate_every, vgg_weights=vgg_weights, progress=progress,
                           export_to=export_to, arch_kwargs=arch_kwargs, degradation=degradation)
    export_format = _export_format(export_to) if export_to else None
    degradation = degradation or degradation_for(rec)
    strategy = strategy or tf.distribute.get_strategy()
    if batch_size % strategy.num_replicas_in_sync:
        raise UsageError(f"batch size {batch_size} is not divisible by {strategy.num_replicas_in_sync} replicas")
    if rec.get("pairs") == "track_a" and not str(data).startswith("synthetic:"):
        data = f"synthetic:{data}"  # Track A pairs are cut from any folder of photos
    train_items, val_items, synthetic = resolve_data(data)
    workdir = pathlib.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    with _policy(precision):
        keras.utils.set_random_seed(seed)
        val_phones, val_targets = validation_arrays(val_items, synthetic, patch_size, degradation=degradation)
        trainer = build_trainer(rec, patch_size, strategy, vgg_weights, teacher, precision, arch_kwargs,
                                generator, seed)
        run = _resume(trainer, workdir, val_phones, val_targets)
        dataset = pair_data.pair_dataset(train_items, batch_size, seed=seed, start=run.start * batch_size,
                                         patch_size=patch_size, synthetic=synthetic,
                                         augment=bool(rec.get("augment", True)),
                                         **({} if degradation is None else {"degradation": degradation}))
        batches = iter(strategy.experimental_distribute_dataset(dataset))
        with _remapper_off(remapper_fails(trainer)):
            step = _loop(run, _step_function(trainer, strategy, jit_compile), batches, steps, checkpoint_every,
                         validate_every, progress, step_hook)
        result = _finish(run, step)
        result.update(recipe=rec, train_items=len(train_items), val_items=len(val_items), synthetic=synthetic)
        if export_to:
            from pirm_enhance.exporters import export

            result["export"] = export(trainer.generator, export_to, format=export_format,
                                      allow_rule_violations=True)
        return result


def degradation_for(rec):
    """The degradation that makes a recipe's ``synthetic:`` pairs: ``pairs: "track_a"``
    gives Track A's bicubic x4 down/up input (with ``lr_blur``, KAIST's blurred
    low-resolution variant); ``noise_floor: True`` the camera pipeline with its noise-floor
    correction, ``full_rgb_share`` with that share of mosaic-free sensors; otherwise ``None`` (the default camera pipeline)."""
    kind = rec.get("pairs") or "enhancement"
    if kind == "track_a":
        return BicubicDownUp(factor=int(rec.get("sr_factor", 4)), lr_blur=tuple(rec.get("lr_blur") or (0.0, 0.0)))
    if kind != "enhancement":
        raise UsageError(f"pairs {kind!r}: choose enhancement (phone-like photos) or track_a (bicubic x4 down/up)")
    if rec.get("noise_floor") or rec.get("full_rgb_share"):
        return CameraPipeline(noise_floor=bool(rec.get("noise_floor")),
                              full_rgb_share=float(rec.get("full_rgb_share") or 0.0))
    return None


def run_routine(rec, data, **kwargs):
    """Run a recipe whose ``routine`` names its own training procedure (not the GAN trainer).

    ``routine: "NAME"`` is the module ``pirm_enhance.training.NAME``; its
    ``run(rec, data, *, steps, workdir, batch_size, patch_size, seed, strategy,
    checkpoint_every, validate_every, vgg_weights, progress, export_to,
    arch_kwargs, degradation)`` returns the dict :func:`train` returns (at least
    ``generator``, ``generator_path``, ``history``, ``workdir``, ``step``,
    ``best``). Used by procedures the generic trainer cannot express (the
    thesis's intrinsic and multi-domain training, for example).
    """
    import importlib

    name = str(rec["routine"])
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise UsageError(f"routine {name!r}: not a module name")
    try:
        module = importlib.import_module(f"pirm_enhance.training.{name}")
    except ModuleNotFoundError:
        raise UsageError(f"routine {name!r}: no module pirm_enhance.training.{name}") from None
    if not hasattr(module, "run"):
        raise UsageError(f"routine {name!r}: pirm_enhance.training.{name} has no run()")
    return module.run(rec, data, **kwargs)


def _settings(recipe, overrides, steps, batch_size, patch_size, checkpoint_every, validate_every, precision):
    """``(recipe dict, steps, batch size, patch size)``, checked (:class:`UsageError`)."""
    rec = dict(recipe) if isinstance(recipe, dict) else get_recipe(recipe, **overrides)
    if isinstance(recipe, dict):
        rec.update(overrides)
    if not (steps or rec.get("steps")):
        raise UsageError("how many steps? the recipe has no 'steps': pass steps")
    steps = int(steps or rec["steps"])
    batch_size = int(batch_size or rec.get("batch_size", 16))
    patch_size = int(patch_size or rec.get("patch_size", 100))
    if min(steps, batch_size, patch_size, checkpoint_every, validate_every) < 1:
        raise UsageError("steps, batch size, patch size, checkpoint_every and validate_every must be >= 1")
    if precision not in PRECISIONS:
        raise UsageError(f"precision {precision!r}: choose from {', '.join(PRECISIONS)}")
    return rec, steps, batch_size, patch_size


def _resume(trainer, workdir, val_phones, val_targets):
    """A :class:`_Run` at the newest checkpoint that restores (step 0 without one), its history loaded."""
    ckpt, manager = make_checkpoint(trainer, workdir / "checkpoints")
    restored = restore_newest(ckpt, manager)
    start = int(trainer.step_counter.numpy())
    if restored:
        log.info("resumed from %s at step %d", restored, start)
    run = _Run(trainer, manager, workdir, val_phones, val_targets, load_history(workdir, start), start=start,
               writer=tf.summary.create_file_writer(str(workdir / "logs")))
    if run.best_path.exists():  # else a run from before best_generator.keras was kept: the next validation sets it
        run.best = max(run.history, key=lambda h: h["val_psnr"], default=None)
    return run


def _finish(run, step):
    """Save ``generator.keras``; the result without the recipe and data counts."""
    run.writer.flush()
    generator_path = run.workdir / "generator.keras"
    save_keras_file(run.trainer.generator, generator_path)
    best = None if run.best is None else {"step": run.best["step"], "val_psnr": run.best["val_psnr"],
                                          "path": str(run.best_path)}
    return {"generator": run.trainer.generator, "generator_path": str(generator_path), "history": run.history,
            "workdir": str(run.workdir), "step": step, "best": best}
