"""Recipe ``mdie_intrinsic``: train MDIE's intrinsic pair, decomposition F and composition
F' (thesis "DPED+, MPSE and MDIE", sections 3.2.1 and 5.2; networks in
:mod:`pirm_enhance.archs.mdie`).

The loss is the thesis's self-supervised reconstruction through F',
``intrinsic_rec x mean((I - F'(F(I)))^2)``, plus two pre-training terms,
``albedo_prior x mean((A - A*)^2) + shading_prior x mean((S - S*)^2)``, against
the pseudo ground truth of :func:`pirm_enhance.losses.mdie.pseudo_intrinsics`
(``S*`` the per-pixel maximum over colours, ``A* = I / S*``). The thesis
pre-trains on MPI Sintel's ground-truth albedo and shading, which this project
does not have; the pseudo ground truth (computed from each image itself, no
labels) keeps the decomposition from being an arbitrary code that only F'
can read. Set both prior weights to 0 for reconstruction alone.

Images: random crops of the training photos and, in the same batch, the
crops degraded in one attribute (:func:`pirm_enhance.data.domains.domain_dataset`:
colour, noise or texture, in turn), so that F and F' see the low-quality
images MDIE will decompose. ``batch_size`` photos give ``2 x batch_size``
images per step. ``data``: ``synthetic:DIR`` (a folder of good photos) or aligned
pairs, whose targets are used as the good photos; ``degradation`` is not used.

Validation (every ``validate_every`` steps, 16 held-out crops and their
degraded versions, inference mode): ``val_psnr`` = PSNR of ``F'(F(I))`` against
``I`` (the reconstruction), ``val_trivial_psnr`` = PSNR of ``F'(I, 1)``, the
thesis's trivial decomposition ``A = I, S = 1`` fed to the same F'
(``tools/train_mdie.py`` reports both), ``val_product_psnr`` = PSNR of ``A . S``.
The workdir holds checkpoints (resumed automatically), ``history.json``,
``samples/step_N.png`` (rows: image, reconstruction, albedo, shading),
``generator.keras`` and ``best_generator.keras`` (best ``val_psnr``): the whole
``mdie`` zoo model with the trained F and F' and G as initialised (near the
identity), the starting point of recipe ``mdie``. ``strategy``: one device only.
"""

import logging
import pathlib
import time

import keras
import numpy as np
import tensorflow as tf

from pirm_enhance.archs.mdie import MDIE
from pirm_enhance.data.domains import domain_dataset
from pirm_enhance.data.io import write_png
from pirm_enhance.errors import DataMissing, UsageError
from pirm_enhance.losses.mdie import intrinsic_prior_loss, intrinsic_reconstruction_loss
from pirm_enhance.metrics import psnr
from pirm_enhance.training.loop import load_history, restore_newest, save_history
from pirm_enhance.zoo import load_keras_file, save_keras_file

log = logging.getLogger(__name__)
VALIDATION_CROPS = 16


# ---------------------------------------------------------------- shared by the two MDIE routines

def good_photos(data):
    """``(train photos, held-out photos, synthetic)`` of ``data`` (see the module doc)."""
    from pirm_enhance.training.loop import resolve_data

    train, val, synthetic = resolve_data(data)
    if not synthetic:
        train, val = [t for _, t in train], [t for _, t in val]
    return train, val, synthetic


def build_model(rec, arch_kwargs=None):
    """The ``mdie`` model to train: the recipe's ``init`` (a ``.keras`` file of an ``mdie``
    model) when it names one, else a new one (``arch_config`` and ``arch_kwargs``)."""
    from pirm_enhance.registry import build_model as build

    if rec.get("init"):
        path = pathlib.Path(str(rec["init"])).expanduser()
        if not path.is_file():
            raise DataMissing(f"init {path}: no such file; train recipe mdie_intrinsic first (pirm-train "
                              "--recipe mdie_intrinsic --workdir runs/mdie_intrinsic) or --set init=PATH "
                              "(--set init= for a new model)")
        model = load_keras_file(path)
        if not isinstance(model, MDIE):
            raise UsageError(f"init {path}: a {type(model).__name__}, not an mdie model")
        if arch_kwargs:
            raise UsageError("arch_kwargs with init: the architecture comes from the init file")
        return model
    return build("mdie", **{**rec.get("arch_config", {}), **(arch_kwargs or {})})


def check_settings(model, patch_size, strategy, batch_size):
    if patch_size % model.multiple:
        raise UsageError(f"patch size {patch_size}: must be a multiple of {model.multiple} "
                         f"(2^levels; the training networks do not pad)")
    if strategy is not None and strategy.num_replicas_in_sync > 1:
        raise UsageError("the MDIE routines run on one device: use the default strategy")
    if batch_size < 1:
        raise UsageError("batch size must be >= 1")


def validation_batch(photos, attributes, patch_size, seed=1234, count=VALIDATION_CROPS):
    """``(low quality, high quality)`` arrays of ``count`` fixed held-out crops."""
    ds = domain_dataset(photos, 1, seed=seed, patch_size=patch_size, augment=False, attributes=attributes)
    lows, highs = [], []
    for low, high, _ in ds.take(count):
        lows.append(low.numpy()[0])
        highs.append(high.numpy()[0])
    return np.stack(lows), np.stack(highs)


def mean_psnr(outputs, targets):
    values = np.array([psnr(np.clip(o, 0, 1), t) for o, t in zip(np.asarray(outputs), np.asarray(targets))])
    return float(values[np.isfinite(values)].mean()) if np.isfinite(values).any() else float("inf")


def make_adam(rec, beta_1=0.9):
    """Adam with the recipe's ``lr`` (times ``lr_decay`` every ``lr_decay_every`` steps when set)
    and ``beta1`` (default ``beta_1``)."""
    lr = float(rec.get("lr", 1e-3))
    if rec.get("lr_decay_every"):
        lr = keras.optimizers.schedules.ExponentialDecay(lr, int(rec["lr_decay_every"]),
                                                         float(rec.get("lr_decay", 0.5)), staircase=True)
    return keras.optimizers.Adam(lr, beta_1=float(rec.get("beta1", beta_1)))


class RoutineRun:
    """Checkpoints (resume), history, best model, progress bar and the step loop of a routine."""

    def __init__(self, workdir, model, objects, steps, progress, select="val_psnr"):
        self.select = select  # the validation metric the best model maximises
        self.workdir = pathlib.Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.model, self.steps, self.progress = model, steps, progress
        self.step_counter = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.ckpt = tf.train.Checkpoint(model=model, step=self.step_counter, **objects)
        self.manager = tf.train.CheckpointManager(self.ckpt, str(self.workdir / "checkpoints"), max_to_keep=3)
        if restore_newest(self.ckpt, self.manager):
            log.info("resumed at step %d", int(self.step_counter.numpy()))
        self.start = int(self.step_counter.numpy())
        self.history = load_history(self.workdir, self.start)
        self.best = max(self.history, key=lambda h: h[select], default=None) \
            if self.best_path.exists() else None
        self.started = time.perf_counter()
        self.train_logs = []  # every step's losses of this call (the history keeps validations only)

    @property
    def best_path(self):
        return self.workdir / "best_generator.keras"

    def record(self, step, logs, metrics):
        """Append a validation to the history; keep the model if it has the best ``select``
        metric (``val_psnr`` unless the routine says otherwise)."""
        self.history.append({"step": step, **logs, **metrics, "seconds": time.perf_counter() - self.started})
        if self.best is None or metrics[self.select] > self.best[self.select]:
            self.best = self.history[-1]
            save_keras_file(self.model, self.best_path)
        save_history(self.workdir, self.history)

    def loop(self, update, batches, validate, checkpoint_every, validate_every, log_names):
        """Steps ``start + 1 .. steps``: ``logs = update(*next(batches))``, then
        ``validate(step, logs)`` and checkpoints on their schedules; Ctrl-C saves first."""
        bar = keras.utils.Progbar(self.steps, stateful_metrics=log_names, verbose=1 if self.progress else 0)
        if self.start:
            bar.update(self.start)
        step = self.start
        try:
            while step < self.steps:
                logs = {k: float(v) for k, v in update(*next(batches)).items()}
                step += 1
                self.step_counter.assign(step)
                bar.update(step, values=list(logs.items()))
                self.train_logs.append({"step": step, **logs})
                if step % validate_every == 0 or step == self.steps:
                    validate(step, logs)
                if step % checkpoint_every == 0 or step == self.steps:
                    self.manager.save(checkpoint_number=step)
        except KeyboardInterrupt:
            self.manager.save(checkpoint_number=step)
            log.warning("interrupted: checkpoint saved at step %d; run again to resume", step)
            raise
        return step

    def finish(self, step, rec, n_train, n_val, synthetic, export_to):
        path = save_keras_file(self.model, self.workdir / "generator.keras")
        best = None if self.best is None else {"step": self.best["step"], "val_psnr": self.best["val_psnr"],
                                               self.select: self.best[self.select], "path": str(self.best_path)}
        result = {"generator": self.model, "generator_path": str(path), "history": self.history,
                  "workdir": str(self.workdir), "step": step, "best": best, "recipe": rec,
                  "train_items": n_train, "val_items": n_val, "synthetic": synthetic, "train_logs": self.train_logs}
        if export_to:
            from pirm_enhance.exporters import export

            result["export"] = export(self.model, export_to, allow_rule_violations=True)
        return result


# ---------------------------------------------------------------- the intrinsic routine

def intrinsic_metrics(nets, images):
    """``{"val_psnr", "val_trivial_psnr", "val_product_psnr"}`` of the intrinsic pair on
    ``images`` (inference mode) and the arrays ``(reconstruction, albedo, shading)``."""
    decompose, compose = nets["decompose"], nets["compose"]
    intrinsics = np.concatenate([np.asarray(decompose(images[i:i + 8], training=False))
                                 for i in range(0, len(images), 8)])
    recon = np.concatenate([np.asarray(compose(intrinsics[i:i + 8], training=False))
                            for i in range(0, len(images), 8)])
    trivial_in = np.concatenate([images, np.ones_like(images)], axis=-1)
    trivial = np.concatenate([np.asarray(compose(trivial_in[i:i + 8], training=False))
                              for i in range(0, len(images), 8)])
    albedo, shading = intrinsics[..., :3], intrinsics[..., 3:]
    metrics = {"val_psnr": mean_psnr(recon, images), "val_trivial_psnr": mean_psnr(trivial, images),
               "val_product_psnr": mean_psnr(albedo * shading, images)}
    return metrics, (recon, albedo, shading)


def _sheet(images, recon, albedo, shading, path, rows=4):
    r = min(rows, len(images))
    write_png(path, np.concatenate([np.concatenate([images[i], np.clip(recon[i], 0, 1), albedo[i], shading[i]],
                                                   axis=1) for i in range(r)], axis=0))


def run(rec, data, *, steps, workdir, batch_size, patch_size, seed, strategy, checkpoint_every, validate_every,
        vgg_weights, progress, export_to, arch_kwargs, degradation):
    """The routine contract of :func:`pirm_enhance.training.loop.run_routine`; see the module docstring."""
    del vgg_weights, degradation  # not used (module docstring)
    train_photos, val_photos, synthetic = good_photos(data)
    keras.utils.set_random_seed(seed)
    model = build_model(rec, arch_kwargs)
    check_settings(model, patch_size, strategy, batch_size)
    nets = model.networks()
    decompose, compose = nets["decompose"], nets["compose"]
    variables = decompose.trainable_variables + compose.trainable_variables
    optimizer = make_adam(rec)
    optimizer.build(variables)
    run_ = RoutineRun(workdir, model, {"optimizer": optimizer}, steps, progress)
    weights = {k: float(rec.get(k, 0.0)) for k in ("intrinsic_rec", "albedo_prior", "shading_prior")}

    @tf.function
    def update(low, high, attribute):
        del attribute
        images = tf.concat([high, low], axis=0)
        with tf.GradientTape() as tape:
            intrinsics = decompose(images, training=True)
            recon = compose(intrinsics, training=True)
            terms = {"reconstruction": intrinsic_reconstruction_loss(images, recon)}
            terms["albedo_prior"], terms["shading_prior"] = intrinsic_prior_loss(
                images, intrinsics[..., :3], intrinsics[..., 3:])
            loss = (weights["intrinsic_rec"] * terms["reconstruction"] + weights["albedo_prior"]
                    * terms["albedo_prior"] + weights["shading_prior"] * terms["shading_prior"])
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return {"loss": loss, **terms}

    lows, highs = validation_batch(val_photos, "cycle", patch_size)
    val_images = np.concatenate([highs, lows])

    def validate(step, logs):
        metrics, (recon, albedo, shading) = intrinsic_metrics(nets, val_images)
        _sheet(val_images, recon, albedo, shading, run_.workdir / "samples" / f"step_{step:07d}.png")
        run_.record(step, logs, metrics)

    batches = iter(domain_dataset(train_photos, batch_size, seed=seed, start=run_.start * batch_size,
                                  patch_size=patch_size))
    step = run_.loop(update, batches, validate, checkpoint_every, validate_every,
                     ["loss", "reconstruction", "albedo_prior", "shading_prior"])
    return run_.finish(step, rec, len(train_photos), len(val_photos), synthetic, export_to)

