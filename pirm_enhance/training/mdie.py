"""Recipe ``mdie``: train the whole MDIE pipeline, decompose -> multi-domain GAN -> recompose
(thesis "DPED+, MPSE and MDIE", sections 3.2.2, 3.2.3 and 5.2; networks in
:mod:`pirm_enhance.archs.mdie`, losses in :mod:`pirm_enhance.losses.mdie`).

Starts from the recipe's ``init``, the ``generator.keras`` of a
``mdie_intrinsic`` run (the thesis's pre-trained intrinsic networks; ``init``
empty: a new model), and trains G (and, with ``intrinsic_lr_scale`` above 0, F
and F' with it, "in a combined fashion", 5.2) against a discriminator D with an
auxiliary classifier.

Data: the three attribute datasets of :mod:`pirm_enhance.data.domains`, made
from the training photos: each step draws one attribute (colour, noise,
texture in turn: "for one time we only train the network with a specific
enhancement factor with a mask vector") and ``batch_size`` crops, each as a
low-quality (label 0) and a high-quality (label 1) image: ``x``, ``2 x
batch_size`` real images with their labels ``c'`` (:func:`batch_labels`: the
attribute's label, the other labels 0, the mask one-hot). Each is translated to
the other quality, ``c = 1 - c'`` on the same attribute (StarGAN draws target
labels at random; with one binary label per dataset the flip is the only
change).

One step, on intrinsics ``X = F(x)`` (training mode), ``Y = G(X, c)``:

* D: ``L_D = -L_adv + domain_cls x L_cls^r`` (D_src on X real, on Y fake; D_cls on X
  with ``c'``);
* F, G, F': ``L_G = adversarial x L_adv + domain_cls x L_cls^f(Y, c) + cycle x
  ||X - G(Y, c')||_1`` (thesis 3.2.2; lambda_cls = 1, lambda_cyc = 10) ``+
  rec_lq x mean|x_LQ - F'(X_LQ)| + rec_hq x mean((x_HQ - F'(X_HQ))^2)`` (the
  MDIE reconstruction, 3.2.3; alpha and beta not given: 1 and 1 chosen) ``+
  paired x (mean|P(x_LQ, c_HQ) - x_HQ| + mean|P(x_LQ, 1) - x_HQ|) / 2 + identity x
  mean|P(x_HQ, 1) - x_HQ|``, with ``P(x, c)`` the pipeline's output for target ``c``
  (:func:`pirm_enhance.archs.mdie.transfer_edit`: ``F'(G(F(x), c))``, or in the
  residual form ``x + F'(G(F(x), c)) - F'(F(x))``) and ``1`` the exported target
  (every attribute high quality, every dataset named).

The exported target never occurs in StarGAN's training (one dataset at a time).
It is trained here because a photo degraded in one attribute is high quality in
the other two, so its original is also the answer to "every attribute high
quality"; and the identity term asks the same of an original, which must come
back as it is. Without them (first trials, residual form, 600 steps) the model at
the exported target worked on three-attribute pairs and harmed noise-only ones
(-3.7 dB against doing nothing).

F and F' run with their batch norms in inference mode (phase 1's moving
statistics; their scales and offsets train when ``intrinsic_lr_scale`` is above
0), the usual way to fine-tune a pre-trained network with batch norm. In training
mode, the norms of F' normalised each call's batch on its own: the recomposition of
G's output then cancelled any change G made to a whole batch (an exposure or colour
shift), and the moving statistics drifted towards phase 2's batches (held-out
reconstruction 27.4 -> 24.3 dB with the first shipped model).
``intrinsic_lr_scale`` multiplies the learning rate of F and F' (1: trained
together, the thesis's "combined fashion"; 0, the default: frozen).

Measured with the direct form (600 steps from one phase-1 pair, held-out photos):
with every setting tried (scale 1, 0.1, 0; cycle weight 10, 1, 0) G changed its
intrinsics by 0.0001-0.004 on average (it stayed near the identity) and
``val_psnr_without_g`` (F'(F(x)), G left out) tracked ``val_psnr`` to within 0.1
dB: with F and F' trained together the paired term is met by F and F' instead of G.
The discriminator stays at chance (its loss at 3 ln 2) in every run: the
single-attribute degradations of 64-px crops are too mild for it to classify
(noise-only and texture-only pairs are 33.6 and 31.8 dB apart), so neither the
classification nor the adversarial term gives G a direction.
With the residual form (F'(F(x)) cancels, so only G can lower the paired term),
trained together at 5e-4 the composition network collapsed (its reconstruction
loss rose from 0.03 to 0.35, G's edits vanished): hence F and F' frozen by default;
frozen, G was unstable at 5e-4 (three-attribute held-out pairs at 9.2 dB by step
600, doing nothing 19.5) and at 2e-4 without the GAN terms (18.2 dB); at 5e-5 it
learnt, swinging from one validation to the next (``ema`` below): hence ``lr`` 3e-5.

``paired`` is not in the thesis, whose datasets are unpaired: here the
low-quality image is made from the high-quality one, so the pair is known; the
term is what lets a few CPU minutes of training beat doing nothing
(``--set paired=0 identity=0`` gives the thesis's objective). D and the generator side are
updated from the same forward pass (simultaneous updates, one D step per G
step; StarGAN alternates, with five D steps per G step for its WGAN-GP loss).
Adam with ``lr`` and ``beta1`` 0.5 (StarGAN's).

``ema`` (default 0.99; 0: off): G's weights are averaged over the steps
(``average <- ema x average + (1 - ema) x weights`` after each update), and the
average is what is validated, kept and returned. Not in the thesis; the usual
remedy for a GAN generator that moves with each batch: without it (residual form,
lr 3e-5) the held-out figures swung with the attribute of the last step, between
-2.9 and -0.3 dB worst gain from one validation to the next; with it they
converged (-0.03 to -0.05 dB over the last 500 steps of 1,000).

Validation (16 held-out crops degraded in all three attributes,
:func:`pirm_enhance.data.domains.degrade_all`, and 8 per single attribute): the
whole ``mdie`` zoo model (target label all high quality), ``val_psnr``,
``val_ms_ssim`` and ``val_input_psnr`` (doing nothing) on the three-attribute
pairs, ``val_psnr_without_g`` (the pipeline without G) on them, ``val_psnr_<attribute>``
and ``val_input_psnr_<attribute>`` on the single-attribute ones, and
``val_worst_gain``, the smallest of the four gains over doing nothing: the best
model (``best_generator.keras``) is the one with the largest worst gain, so that
a model that harms one kind of photo is not kept for its gains on another.
Workdir as in :mod:`pirm_enhance.training.mdie_intrinsic` (samples: low quality |
MDIE | high quality), plus the discriminator and G's average in the checkpoints.
``degradation`` is not used; ``strategy``: one device only.
"""

import contextlib

import keras
import numpy as np
import tensorflow as tf

from pirm_enhance.archs.mdie import ATTRIBUTES, N_ATTRIBUTES, MDIEDiscriminator, transfer_edit
from pirm_enhance.data.domains import domain_dataset
from pirm_enhance.errors import UsageError
from pirm_enhance.losses.mdie import (adversarial_generator_loss, cycle_loss, domain_classification_loss,
                                      mdie_discriminator_objective, mdie_reconstruction_loss)
from pirm_enhance.metrics import ms_ssim
from pirm_enhance.training.loop import _sample_sheet
from pirm_enhance.training.mdie_intrinsic import (RoutineRun, build_model, check_settings, good_photos, make_adam,
                                                  mean_psnr, validation_batch)

WEIGHTS = ("adversarial", "domain_cls", "cycle", "rec_lq", "rec_hq", "paired", "identity")
DOMAINS = ("cycle", "cycle+all")  # data.domains.domain_dataset's attribute streams
SELECT = {"worst_gain": "val_worst_gain", "psnr": "val_psnr"}  # the validation metric the kept model maximises


def batch_labels(attribute, quality, n=N_ATTRIBUTES):
    """Labels ``c~ = [c, m]`` ``[B, 2n]`` of a batch of dataset ``attribute`` (scalar int) with
    per-image ``quality`` ``[B]`` (0 low, 1 high): the tensor form of
    :func:`pirm_enhance.archs.mdie.domain_label`; ``attribute`` -1: a batch degraded in every
    attribute, every label ``quality`` and the mask all ones."""
    attribute = tf.cast(attribute, tf.int32)
    # a negative attribute: a batch degraded in every attribute (data.domains, "cycle+all")
    onehot = tf.where(attribute < 0, tf.ones([n]), tf.one_hot(attribute, n))[None, :]
    quality = tf.cast(quality, tf.float32)[:, None]
    return tf.concat([onehot * quality, onehot * tf.ones_like(quality)], axis=-1)


def _predict(model, images):
    return np.concatenate([np.asarray(model(images[i:i + 8], training=False)) for i in range(0, len(images), 8)])


def run(rec, data, *, steps, workdir, batch_size, patch_size, seed, strategy, checkpoint_every, validate_every,
        vgg_weights, progress, export_to, arch_kwargs, degradation):
    """The routine contract of :func:`pirm_enhance.training.loop.run_routine`; see the module docstring."""
    del vgg_weights, degradation  # not used (module docstring)
    train_photos, val_photos, synthetic = good_photos(data)
    keras.utils.set_random_seed(seed)
    model = build_model(rec, arch_kwargs)
    check_settings(model, patch_size, strategy, batch_size)
    recompose = model.get_config()["recompose"]
    nets = model.networks()
    decompose, generator, compose = nets["decompose"], nets["generator"], nets["compose"]
    discriminator = MDIEDiscriminator(width=int(rec.get("discriminator_width", 32)))
    g_vars = generator.trainable_variables
    f_vars = decompose.trainable_variables + compose.trainable_variables
    d_vars = discriminator.trainable_variables
    scale = float(rec.get("intrinsic_lr_scale", 0.0))  # the recipe's default
    if scale < 0:
        raise UsageError(f"intrinsic_lr_scale must be >= 0 (0 freezes F and F'), got {scale}")
    g_opt, d_opt = make_adam(rec, beta_1=0.5), make_adam(rec, beta_1=0.5)
    f_opt = make_adam({**rec, "lr": float(rec.get("lr", 1e-3)) * scale}, beta_1=0.5) if scale else None
    g_opt.build(g_vars)
    d_opt.build(d_vars)
    objects = {"discriminator": discriminator, "g_optimizer": g_opt, "d_optimizer": d_opt}
    if f_opt is not None:
        f_opt.build(f_vars)
        objects["f_optimizer"] = f_opt
    decay = float(rec.get("ema", 0.99))  # the recipe's default
    if not 0 <= decay < 1:
        raise UsageError(f"ema must be in [0, 1) (0: no average), got {decay}")
    # G's exponential moving average (Polyak averaging): what is validated and kept
    averages = [tf.Variable(v, trainable=False, name=f"ema_{i}") for i, v in enumerate(g_vars)] if decay else []
    if averages:
        objects["generator_ema"] = averages
    domains = str(rec.get("domains", "cycle"))  # the recipe's default
    if domains not in DOMAINS:
        raise UsageError(f"domains must be one of {', '.join(DOMAINS)}, not {domains!r}")
    select = str(rec.get("select", "worst_gain"))  # the recipe's default
    if select not in SELECT:
        raise UsageError(f"select must be one of {', '.join(SELECT)}, not {select!r}")
    run_ = RoutineRun(workdir, model, objects, steps, progress, select=SELECT[select])
    w = {k: float(rec.get(k, 0.0)) for k in WEIGHTS}

    @tf.function
    def update(low, high, attribute):
        b = tf.shape(low)[0]
        x = tf.concat([low, high], axis=0)
        quality = tf.concat([tf.zeros([b]), tf.ones([b])], axis=0)
        original = batch_labels(attribute[0], quality)
        target = batch_labels(attribute[0], 1.0 - quality)
        with tf.GradientTape(persistent=True) as tape:
            # F and F' run with their batch norms in inference mode (phase 1's moving
            # statistics; module docstring), G and D in training mode
            intrinsics = decompose(x, training=False)
            fake = generator([intrinsics, target], training=True)
            cycled = generator([fake, original], training=True)
            real_src, real_cls = discriminator(intrinsics, training=True)
            fake_src_d, _ = discriminator(tf.stop_gradient(fake), training=True)
            fake_src, fake_cls = discriminator(fake, training=True)
            d_loss = mdie_discriminator_objective(real_src, fake_src_d, real_cls, original, w["domain_cls"])
            recon = compose(intrinsics, training=False)
            # the pipeline's output for the low-quality half (archs.mdie.transfer_edit: the
            # recomposition itself, or the input plus G's edit of it)
            enhanced = transfer_edit(low, compose(fake[:b], training=False), recon[:b], recompose)
            # the exported target (every attribute high quality) on the same pairs: a photo degraded
            # in one attribute is high quality in the others, so its original is that target's answer
            everything = tf.ones_like(original[:b])
            enhanced_all = transfer_edit(low, compose(generator([intrinsics[:b], everything], training=True),
                                                      training=False), recon[:b], recompose)
            # identity: the high-quality half, asked for every attribute high quality, stays as it is
            kept = generator([intrinsics[b:], everything], training=True)
            unchanged = transfer_edit(high, compose(kept, training=False), recon[b:], recompose)
            terms = {"adversarial": adversarial_generator_loss(fake_src),
                     "domain_cls": domain_classification_loss(fake_cls, target),
                     "cycle": cycle_loss(intrinsics, cycled),
                     "reconstruction": mdie_reconstruction_loss(low, recon[:b], high, recon[b:],
                                                                w["rec_lq"], w["rec_hq"]),
                     "paired": 0.5 * (tf.reduce_mean(tf.abs(enhanced - high))
                                      + tf.reduce_mean(tf.abs(enhanced_all - high))),
                     "identity": tf.reduce_mean(tf.abs(unchanged - high))}
            g_loss = (w["adversarial"] * terms["adversarial"] + w["domain_cls"] * terms["domain_cls"]
                      + w["cycle"] * terms["cycle"] + terms["reconstruction"] + w["paired"] * terms["paired"]
                      + w["identity"] * terms["identity"])
        d_opt.apply_gradients(zip(tape.gradient(d_loss, d_vars), d_vars))
        g_opt.apply_gradients(zip(tape.gradient(g_loss, g_vars), g_vars))
        for average, v in zip(averages, g_vars):
            average.assign(decay * average + (1.0 - decay) * v)
        if f_opt is not None:
            f_opt.apply_gradients(zip(tape.gradient(g_loss, f_vars), f_vars))
        del tape
        return {"loss": g_loss, **terms, "discriminator": d_loss}

    lows, highs = validation_batch(val_photos, "all", patch_size)
    # a batch-1 "cycle" stream: example k is degraded in attribute k mod 3
    single_low, single_high = validation_batch(val_photos, "cycle", patch_size, seed=4321, count=8 * N_ATTRIBUTES)
    single = {name: (single_low[a::N_ATTRIBUTES], single_high[a::N_ATTRIBUTES]) for a, name in enumerate(ATTRIBUTES)}

    @contextlib.contextmanager
    def averaged_generator():
        """G's weights replaced by their moving average while the block runs."""
        current = [v.numpy() for v in g_vars]
        for v, average in zip(g_vars, averages):
            v.assign(average)
        try:
            yield
        finally:
            for v, value in zip(g_vars, current):
                v.assign(value)

    def validate(step, logs):
        with averaged_generator():
            _validate(step, logs)

    def _validate(step, logs):
        out = _predict(model, lows)
        def without_g_model(x, training):
            recon = compose(decompose(x, training=training), training=training)
            return transfer_edit(x, recon, recon, recompose)

        without_g = _predict(without_g_model, lows)
        metrics = {"val_psnr": mean_psnr(out, highs), "val_input_psnr": mean_psnr(lows, highs),
                   "val_psnr_without_g": mean_psnr(without_g, highs),
                   "val_ms_ssim": float(np.nanmean([ms_ssim(t[None] * 255.0, np.clip(o, 0, 1)[None] * 255.0)
                                                    for o, t in zip(out, highs)]))}
        for name, (low, high) in single.items():
            metrics[f"val_psnr_{name}"] = mean_psnr(_predict(model, low), high)
            metrics[f"val_input_psnr_{name}"] = mean_psnr(low, high)
        # the best model is the one whose worst gain over doing nothing (all three attributes, or
        # any one) is largest: a model must not harm a photo degraded in one attribute only
        metrics["val_worst_gain"] = min(metrics[f"val_psnr{kind}"] - metrics[f"val_input_psnr{kind}"]
                                        for kind in ("", *(f"_{name}" for name in ATTRIBUTES)))
        _sample_sheet(lows, out, highs, run_.workdir / "samples" / f"step_{step:07d}.png")
        run_.record(step, logs, metrics)

    batches = iter(domain_dataset(train_photos, batch_size, seed=seed, start=run_.start * batch_size,
                                  patch_size=patch_size, attributes=domains))
    step = run_.loop(update, batches, validate, checkpoint_every, validate_every,
                     ["loss", *WEIGHTS[:3], "reconstruction", "paired", "identity", "discriminator"])
    for v, average in zip(g_vars, averages):  # the model returned and saved is the average
        v.assign(average)
    result = run_.finish(step, rec, len(train_photos), len(val_photos), synthetic, export_to)
    result["discriminator"] = discriminator
    return result
