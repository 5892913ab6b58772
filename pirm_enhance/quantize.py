"""Quantization-aware fine-tuning for full-int8 TFLite (int8 activations and weights).

Post-training int8 loses 3-5 dB on the instance-normalised networks of the zoo
(PPCN, EdS, DPED): an instance norm divides a feature by its own standard
deviation, which is small next to the feature's range (its per-image offset and
the other channels), so the 8-bit rounding of the layers before it, and of the
squared deviations inside it, comes out amplified (BUILD_NOTES "The phone
path"). Fine-tuning with that rounding simulated lets the weights adapt to it.

The procedure (Jacob et al., "Quantization and Training of Neural Networks for
Efficient Integer-Arithmetic-Only Inference", CVPR 2018, simulated quantization
with a straight-through gradient; the MAI 2021 mobile challenges used the same
for their int8 restoration models):

* every tensor that LiteRT's full-int8 graph keeps in 8 bits (the input, every
  layer output, and the intermediate ops of the instance norm, the contrast
  layer, the image-wide means and the output head, see
  :func:`pirm_enhance.layers.quant_point`) goes through
  ``fake_quant_with_min_max_vars`` (8 bits, range nudged to hold zero, as the
  converter does);
* the ranges are the converter's own rule, the minimum and maximum of the float
  model's tensor over the calibration images, measured again every
  ``range_every`` steps (the weights move);
* the student starts from the float model and minimises the mean squared
  difference between its simulated-int8 output and the float model's output
  (the teacher) on random crops of unlabelled photos: no labels, no PIRM data;
* the step whose simulated-int8 output is closest to the teacher on held-out
  photos is kept, and the result is converted by the ordinary post-training
  path (:func:`pirm_enhance.exporters.writers.tflite_bytes`) with the same
  calibration images.

Weights are not fake-quantized: the converter quantizes them per output
channel, whose rounding error (about 0.2% of a channel's largest weight) is far
below the activations'.
"""

import math
import sys

import numpy as np

from pirm_enhance import layers
from pirm_enhance.errors import DataMissing, UsageError


class FakeQuantizer:
    """The hook of :func:`pirm_enhance.layers.quant_point`: records ranges
    (``collect``), or rounds to 8 bits with them (``simulate``). Quantization points
    are numbered in the order the forward pass reaches them, the same in every trace."""

    def __init__(self):
        self.mode = "collect"
        self.index = 0
        self.low, self.high = [], []  # collected, python floats
        self.variables = None  # (min, max) tf.Variables while simulating

    def __call__(self, x, fixed_range=None):
        import tensorflow as tf

        i = self.index
        self.index += 1
        if self.mode == "collect":
            low, high = (fixed_range if fixed_range is not None
                         else (float(tf.reduce_min(x)), float(tf.reduce_max(x))))
            if i == len(self.low):
                self.low.append(min(low, 0.0))
                self.high.append(max(high, 0.0))
            else:
                self.low[i] = min(self.low[i], low)
                self.high[i] = max(self.high[i], high)
            return x
        low, high = self.variables[i]
        return tf.quantization.fake_quant_with_min_max_vars(x, low, high, num_bits=8)


def _forward(model, x, quantizer):
    """``model(x)`` with every layer output (and the model input) through ``quantizer``."""
    def wrap(op):
        def call(*args, **kwargs):
            return quantizer(op(*args, **kwargs))
        return call

    previous = layers._QUANT_HOOK[0]
    layers._QUANT_HOOK[0] = quantizer
    quantizer.index = 0
    try:
        return model._run_through_graph(quantizer(x), operation_fn=wrap)
    finally:
        layers._QUANT_HOOK[0] = previous


def collect_ranges(model, images, quantizer=None):
    """The converter's calibration rule on ``model``: min/max (with zero) of every
    quantization point over ``images`` (HxWx3 float arrays), one image at a time."""
    import tensorflow as tf

    quantizer = quantizer or FakeQuantizer()
    quantizer.mode = "collect"
    quantizer.low, quantizer.high = [], []
    for image in images:
        _forward(model, tf.constant(image[None], tf.float32), quantizer)
    return quantizer


def _set_simulation(quantizer):
    import tensorflow as tf

    if quantizer.variables is None or len(quantizer.variables) != len(quantizer.low):
        quantizer.variables = [(tf.Variable(lo, trainable=False, dtype=tf.float32),
                                tf.Variable(hi, trainable=False, dtype=tf.float32))
                               for lo, hi in zip(quantizer.low, quantizer.high)]
    else:
        for (vlo, vhi), lo, hi in zip(quantizer.variables, quantizer.low, quantizer.high):
            vlo.assign(lo)
            vhi.assign(hi)
    quantizer.mode = "simulate"


def copy_model(model):
    """A new instance of ``model``'s architecture with a copy of its weights."""
    clone = type(model).from_config(model.get_config())
    clone.set_weights(model.get_weights())
    return clone


def _load_photos(paths):
    from pirm_enhance.data.io import read_float

    return [read_float(p).astype(np.float32) for p in paths]


def _crops(photos, rng, count, size):
    out = []
    for _ in range(count):
        img = photos[rng.integers(len(photos))]
        h, w = img.shape[:2]
        ch, cw = min(size, h), min(size, w)
        y, x = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
        crop = img[y:y + ch, x:x + cw]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        out.append(crop)
    return np.stack(out)


def finetune_for_int8(model, photos=None, calibration=None, steps=600, batch=8, size=128,
                      learning_rate=1e-4, range_every=50, check_every=50, held_out=8, seed=0,
                      progress=True, decay="cosine"):
    """A copy of ``model`` fine-tuned for full-int8 TFLite (see the module docstring).

    ``photos``: paths of unlabelled training photos (default: the bundled ai-benchmark
    photos); the last ``held_out`` of them choose the kept step. ``calibration``: the
    HxWx3 images the export will calibrate on (default: the exporter's crops of the
    first 16 photos), used for the ranges here too: pass the export's own. ``decay``:
    ``"cosine"`` (the default: the learning rate falls to 0 at the last step) or ``None``
    (constant; BUILD_NOTES "The phone path" has both on EdS). Returns
    ``(model, report)``; ``report`` has the held-out PSNR of the simulated-int8 output against the float
    model before and after, per check."""
    import keras
    import tensorflow as tf

    from pirm_enhance.data.photos import ai_benchmark_photos, representative_images

    if steps < 1:
        raise UsageError(f"steps must be at least 1, got {steps}")
    if decay not in (None, "cosine"):
        raise UsageError(f"decay must be None or 'cosine', got {decay!r}")
    paths = list(photos) if photos is not None else ai_benchmark_photos()
    if len(paths) < held_out + 2:
        raise DataMissing("quantization-aware fine-tuning needs photos: install the bundled ones "
                          "(pip install --no-deps ai-benchmark==0.1.2) or pass photos=[...]")
    train_photos = _load_photos(paths[:-held_out])
    check_images = [img[:size * 2, :size * 2] for img in _load_photos(paths[-held_out:])]
    if calibration is None:  # what the exporter calibrates on for these photos
        calibration = representative_images(paths[:16])
    teacher = copy_model(model)
    student = copy_model(model)
    targets = [teacher(img[None], training=False) for img in check_images]
    quantizer = FakeQuantizer()
    rate = keras.optimizers.schedules.CosineDecay(learning_rate, steps) if decay == "cosine" else learning_rate
    optimizer = keras.optimizers.Adam(rate)
    variables = student.trainable_variables

    @tf.function(reduce_retracing=True)
    def train_step(x):
        target = teacher(x, training=False)
        with tf.GradientTape() as tape:
            y = _forward(student, x, quantizer)
            loss = tf.reduce_mean(tf.square(y - target))
        optimizer.apply(tape.gradient(loss, variables), variables)
        return loss

    @tf.function(reduce_retracing=True)
    def simulate(x):
        return _forward(student, x, quantizer)

    def held_out_psnr():
        values = []
        for img, target in zip(check_images, targets):
            mse = float(tf.reduce_mean(tf.square(simulate(tf.constant(img[None])) - target)))
            values.append(10 * math.log10(1.0 / max(mse, 1e-12)))
        return float(np.mean(values))

    rng = np.random.default_rng(seed)
    collect_ranges(student, calibration, quantizer)
    _set_simulation(quantizer)
    best = held_out_psnr()
    history = [(0, best)]
    best_weights = student.get_weights()
    for step in range(1, steps + 1):
        loss = float(train_step(tf.constant(_crops(train_photos, rng, batch, size))))
        if step % range_every == 0 or step == steps:
            collect_ranges(student, calibration, quantizer)
            _set_simulation(quantizer)
        if step % check_every == 0 or step == steps:
            value = held_out_psnr()
            history.append((step, value))
            if value > best:
                best, best_weights = value, student.get_weights()
            if progress:
                print(f"int8 fine-tuning {step}/{steps}: loss {loss:.3g}, held-out int8 vs float "
                      f"{value:.2f} dB (best {best:.2f})", file=sys.stderr, flush=True)
    student.set_weights(best_weights)
    return student, {"steps": steps, "batch": batch, "size": size, "learning_rate": learning_rate, "decay": decay,
                     "held_out_psnr_before": history[0][1], "held_out_psnr_best": best,
                     "history": history}
