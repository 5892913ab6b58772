"""``train``: a recipe, a data source and a step count in; a trained generator out.

Hygiene: a ``tf.train.CheckpointManager`` checkpoint every ``checkpoint_every``
steps and on Ctrl-C, automatic resume from the newest one (data stream
included: it is a pure function of seed and position); periodic validation
PSNR / MS-SSIM (the organisers' metrics) on held-out pairs with a
before/after PNG of fixed crops; TensorBoard logs; a progress bar with the
live losses. Runs under any ``tf.distribute`` strategy.
"""

import json
import logging
import os
import pathlib
import time

import keras
import numpy as np
import tensorflow as tf

from pirm_enhance.data import pairs as pair_data
from pirm_enhance.data.io import write_png
from pirm_enhance.metrics import ms_ssim, psnr
from pirm_enhance.training.recipes import recipe as get_recipe
from pirm_enhance.training.trainer import EnhancerTrainer

log = logging.getLogger(__name__)


class TrainingInterrupted(RuntimeError):
    """Raised by a step hook to stop a run (tests use it to simulate a crash)."""


def resolve_data(data, holdout=0.1):
    """``(train_items, val_items, synthetic)`` from ``DIR`` (DPED layout or two folders
    ``<phone>``/``canon``) or ``synthetic:DIR`` (a folder of good photos)."""
    text = str(data)
    if text.startswith("synthetic:"):
        photos = pair_data.synthetic_sources(text.split(":", 1)[1])
        train, val = pair_data.split_holdout(photos, holdout)
        return train, val, True
    root = pathlib.Path(text)
    try:
        items = pair_data.dped_pairs(root)
        try:
            val = pair_data.dped_pairs(root, split="test")
            return items, val, False
        except FileNotFoundError:
            pass
    except FileNotFoundError:
        subdirs = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
        if len(subdirs) != 2:
            raise FileNotFoundError(
                f"{data}: expected the DPED layout (dped/<phone>/training_data/...), two folders of "
                "aligned pairs (<phone>/ and canon/), or synthetic:DIR for a folder of good photos") from None
        target = next((p for p in subdirs if p.name in ("canon", "target", "dslr")), subdirs[1])
        phone = subdirs[0] if subdirs[1] == target else subdirs[1]
        items = pair_data.folder_pairs(phone, target)
    train, val = pair_data.split_holdout(items, holdout)
    return train, val, False


def validation_arrays(val_items, synthetic, patch_size, count=16, seed=1234):
    """A fixed set of held-out ``(phone, target)`` arrays (deterministic crops)."""
    ds = pair_data.pair_dataset(val_items, batch_size=1, seed=seed, patch_size=patch_size,
                                augment=False, synthetic=synthetic, repeat=synthetic)
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
    if rec.get("lr_decay_every"):
        lr = keras.optimizers.schedules.ExponentialDecay(lr, rec["lr_decay_every"], rec.get("lr_decay", 0.1),
                                                         staircase=True)
    return keras.optimizers.Adam(lr)


def _load_teacher(spec):
    from pirm_enhance.zoo import load_model

    if isinstance(spec, keras.Model):
        return spec
    spec = str(spec)
    if ":" in spec and not spec.endswith(".keras"):  # arch:checkpoint_prefix
        arch, prefix = spec.split(":", 1)
        return load_model(arch, checkpoint=prefix)
    return load_model(spec)


def _save_atomically(model, path):
    tmp = path.with_name(f".{path.stem}.part.keras")
    model.save(tmp)
    os.replace(tmp, path)


def train(recipe, data, steps=None, workdir="runs/train", batch_size=None, patch_size=None, seed=0,
          strategy=None, checkpoint_every=500, validate_every=500, vgg_weights="imagenet",
          teacher=None, jit_compile=False, precision="float32", arch_kwargs=None, export_to=None,
          progress=True, step_hook=None, generator=None, **overrides):
    """Train a generator; returns ``{"generator", "history", "workdir", "step"}``.

    ``recipe``: a name from :func:`pirm_enhance.training.recipes.list_recipes` or a dict.
    ``data``: a DPED-layout folder, a folder of two aligned-pair folders, or
    ``synthetic:DIR``. ``vgg_weights``: ``"imagenet"``, a MatConvNet ``.mat``
    path, or ``None`` / ``"random"`` / ``"random:he_normal"`` (random, tests
    only). ``precision``: ``float32``, ``mixed_bfloat16`` (CPU) or
    ``mixed_float16`` (GPU). ``workdir`` holds checkpoints (resumed
    automatically), TensorBoard logs, sample PNGs, ``history.json``, the
    final ``generator.keras`` and ``best_generator.keras`` (the generator at
    the validation with the highest held-out PSNR: adversarial recipes
    oscillate, so the last step is not always the best).
    """
    from pirm_enhance.losses import Discriminator, VGG19Features
    from pirm_enhance.registry import build_model

    rec = dict(recipe) if isinstance(recipe, dict) else get_recipe(recipe, **overrides)
    if isinstance(recipe, dict):
        rec.update(overrides)
    steps = int(steps or rec["steps"])
    batch_size = int(batch_size or rec.get("batch_size", 16))
    patch_size = int(patch_size or rec.get("patch_size", 100))
    workdir = pathlib.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    strategy = strategy or tf.distribute.get_strategy()
    if batch_size % strategy.num_replicas_in_sync:
        raise ValueError(f"batch size {batch_size} is not divisible by {strategy.num_replicas_in_sync} replicas")
    keras.utils.set_random_seed(seed)
    if precision != "float32":
        keras.mixed_precision.set_global_policy(precision)

    train_items, val_items, synthetic = resolve_data(data)
    val_phones, val_targets = validation_arrays(val_items, synthetic, patch_size)

    with strategy.scope():
        gen = generator if generator is not None else build_model(rec["arch"], **(arch_kwargs or {}))
        disc = Discriminator(patch_size) if rec.get("texture") else None
        needs_vgg = rec.get("content") or rec.get("contextual")
        layers = set(rec.get("content_layers", ())) if rec.get("content") else set()
        if rec.get("contextual"):
            layers.add(rec.get("contextual_layer", "conv4_2"))
        vgg = VGG19Features(sorted(layers), weights=vgg_weights) if needs_vgg else None
        teacher_model = _load_teacher(teacher or rec["teacher"]) if rec.get("kd") else None
        trainer = EnhancerTrainer(gen, rec, discriminator=disc, teacher=teacher_model, vgg=vgg, seed=seed)
        g_opt = make_optimizer(rec)
        d_opt = make_optimizer(rec) if disc is not None else None
        if precision == "mixed_float16":
            g_opt = keras.optimizers.LossScaleOptimizer(g_opt)
        trainer.compile(g_opt, d_opt)
        g_opt.build(gen.trainable_variables)
        if d_opt is not None:
            d_opt.build(disc.trainable_variables)

    objects = {"generator": gen, "g_optimizer": g_opt, "step": trainer.step_counter}
    if disc is not None:
        objects.update(discriminator=disc, d_optimizer=d_opt)
    ckpt = tf.train.Checkpoint(**objects)
    manager = tf.train.CheckpointManager(ckpt, str(workdir / "checkpoints"), max_to_keep=3)
    if manager.latest_checkpoint:
        ckpt.restore(manager.latest_checkpoint).assert_existing_objects_matched()
        log.info("resumed from %s at step %d", manager.latest_checkpoint, int(trainer.step_counter.numpy()))
    start = int(trainer.step_counter.numpy())
    history_path = workdir / "history.json"
    history = json.loads(history_path.read_text()) if history_path.exists() and start else []
    history = [h for h in history if h["step"] <= start]
    best = max(history, key=lambda h: h["val_psnr"], default=None)
    if not (workdir / "best_generator.keras").exists():
        best = None  # a run from before best_generator.keras was kept: the next validation sets it

    dataset = pair_data.pair_dataset(train_items, batch_size, seed=seed, start=start * batch_size,
                                     patch_size=patch_size, synthetic=synthetic)
    dist = iter(strategy.experimental_distribute_dataset(dataset))

    @tf.function(jit_compile=jit_compile)
    def replica_step(batch):
        return trainer.update(batch)

    @tf.function
    def step_fn(iterator):
        per_replica = strategy.run(replica_step, args=(next(iterator),))
        return {k: strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None) for k, v in per_replica.items()}

    writer = tf.summary.create_file_writer(str(workdir / "logs"))
    bar = keras.utils.Progbar(steps, stateful_metrics=trainer.log_names, verbose=1 if progress else 0)
    if start:
        bar.update(start)
    step = start
    t0 = time.perf_counter()
    try:
        while step < steps:
            logs = {k: float(v) for k, v in step_fn(dist).items()}
            step += 1
            bar.update(step, values=list(logs.items()))
            with writer.as_default(step=step):
                for k, v in logs.items():
                    tf.summary.scalar(f"train/{k}", v)
            if step % validate_every == 0 or step == steps:
                metrics, out = _validate(gen, val_phones, val_targets)
                history.append({"step": step, **logs, **metrics,
                                "seconds": time.perf_counter() - t0})
                with writer.as_default(step=step):
                    for k, v in metrics.items():
                        tf.summary.scalar(f"validation/{k}", v)
                _sample_sheet(val_phones, out, val_targets, workdir / "samples" / f"step_{step:07d}.png")
                if best is None or metrics["val_psnr"] > best["val_psnr"]:
                    best = history[-1]
                    _save_atomically(gen, workdir / "best_generator.keras")
                history_path.write_text(json.dumps(history, indent=1))
            if step % checkpoint_every == 0 or step == steps:
                manager.save(checkpoint_number=step)
            if step_hook is not None:
                step_hook(step, logs)
    except KeyboardInterrupt:
        manager.save(checkpoint_number=int(trainer.step_counter.numpy()))
        log.warning("interrupted: checkpoint saved at step %d; run again to resume", step)
        raise
    writer.flush()
    _save_atomically(gen, workdir / "generator.keras")
    result = {"generator": gen, "history": history, "workdir": str(workdir), "step": step,
              "best": None if best is None else {"step": best["step"], "val_psnr": best["val_psnr"],
                                                 "path": str(workdir / "best_generator.keras")},
              "recipe": rec, "train_items": len(train_items), "val_items": len(val_items),
              "synthetic": synthetic}
    if export_to:
        from pirm_enhance.exporters import export

        fmt = {".pb": "pb", ".tflite": "tflite", ".onnx": "onnx"}.get(pathlib.Path(export_to).suffix, "saved_model")
        result["export"] = export(gen, export_to, format=fmt, allow_rule_violations=True)
    return result
