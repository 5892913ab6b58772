"""Quantization-aware fine-tuning for full-int8 TFLite (pirm_enhance.quantize)."""

import math

import numpy as np
import pytest

from pirm_enhance import layers
from pirm_enhance.data.photos import ai_benchmark_photos

needs_photos = pytest.mark.skipif(not ai_benchmark_photos(),
                                  reason="the ai-benchmark photos are not installed "
                                         "(pip install --no-deps ai-benchmark==0.1.2)")


def _psnr(a, b):
    return 10 * math.log10(1.0 / float(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))


def _tflite_outputs(data, images):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=data)
    outputs = []
    for image in images:
        index = interpreter.get_input_details()[0]["index"]
        interpreter.resize_tensor_input(index, image[None].shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(index, image[None].astype(np.float32))
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(interpreter.get_output_details()[0]["index"])[0])
    return outputs


def _photo_crops(paths, count, size, seed):
    """``count`` random ``size`` crops, cycling through ``paths``."""
    from pirm_enhance.data.io import read_float

    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        img = read_float(paths[i % len(paths)])
        y, x = rng.integers(0, img.shape[0] - size), rng.integers(0, img.shape[1] - size)
        out.append(img[y:y + size, x:x + size].astype(np.float32))
    return out


def test_quant_points_are_identity_without_a_quantizer(rng):
    """No quantizer: a quant point is the tensor itself. A collecting quantizer runs the
    int8 graph's op sequence (rsqrt-then-multiply in the norm) without rounding: the
    same output as the model, to float32 rounding."""
    import tensorflow as tf

    from pirm_enhance.archs.ppcn import PPCNStudent
    from pirm_enhance.quantize import FakeQuantizer, _forward

    model = PPCNStudent(channels=4)
    x = rng.uniform(0, 1, (1, 24, 20, 3)).astype(np.float32)
    assert layers._QUANT_HOOK[0] is None
    assert layers.quant_point(x) is x
    collected = _forward(model, tf.constant(x), FakeQuantizer()).numpy()
    assert layers._QUANT_HOOK[0] is None  # restored after the pass
    np.testing.assert_allclose(collected, model(x).numpy(), atol=1e-5)


def test_fake_quantizer_rounds_to_256_levels_holding_zero(rng):
    import tensorflow as tf

    from pirm_enhance.quantize import FakeQuantizer, _set_simulation

    q = FakeQuantizer()
    x = tf.constant(rng.uniform(0.2, 1.0, 5000).astype(np.float32))
    q(x)
    assert q.low == [0.0] and q.high[0] == pytest.approx(float(tf.reduce_max(x)))  # range holds zero
    _set_simulation(q)
    q.index = 0
    y = q(x).numpy()
    step = q.high[0] / 255
    assert len(np.unique(y)) <= 256
    assert np.abs(y - x.numpy()).max() <= step / 2 + 1e-6
    fixed = FakeQuantizer()
    fixed(x, fixed_range=(-1.0, 1.0))
    assert (fixed.low, fixed.high) == ([-1.0], [1.0])


@needs_photos
def test_simulation_predicts_the_int8_error_of_the_converter():
    """The simulated int8 output is as far from the float output as the converted
    full-int8 file's is (within a factor 2 of the RMS error), on an instance-normalised
    network whose int8 error is large."""
    import tensorflow as tf

    from pirm_enhance.archs.ppcn import PPCNStudent
    from pirm_enhance.exporters.writers import tflite_bytes
    from pirm_enhance.quantize import _forward, _set_simulation, collect_ranges

    keras_seed = 3
    tf.keras.utils.set_random_seed(keras_seed)
    model = PPCNStudent()
    photos = ai_benchmark_photos()
    calibration = _photo_crops(photos[::12], 8, 96, seed=1)
    images = _photo_crops(photos[5::15], 6, 80, seed=2)
    real = _tflite_outputs(tflite_bytes(model, "int8", calibration=calibration, int8_ranges="minmax"), images)
    quantizer = collect_ranges(model, calibration)
    _set_simulation(quantizer)
    floats = [model(img[None]).numpy()[0] for img in images]
    simulated = [_forward(model, tf.constant(img[None]), quantizer).numpy()[0] for img in images]
    real_err = np.sqrt(np.mean([(a - b) ** 2 for a, b in zip(real, floats)]))
    sim_err = np.sqrt(np.mean([(a - b) ** 2 for a, b in zip(simulated, floats)]))
    assert real_err > 1e-3, "the test network must have a visible int8 error"
    assert 0.5 < sim_err / real_err < 2.0, (sim_err, real_err)


@needs_photos
def test_int8_file_follows_the_simulation_with_fake_quant_ranges(monkeypatch, weights_dir):
    """Official PPCN student, min/max ranges: the int8 file converted through the
    simulation's FakeQuant ops is far closer to the simulation on unseen photo crops than
    the file the converter calibrates on its own points (measured 28.5 dB against 21),
    and closer to float (22.15 against 20.03 dB): fine-tuning against the simulation
    now optimises what the file computes."""
    import tensorflow as tf

    import pirm_enhance.quantize as quantize
    from pirm_enhance.exporters.writers import representative_images, tflite_bytes
    from pirm_enhance.zoo import load_model

    model = load_model("ppcn_student.paper")
    photos = ai_benchmark_photos()
    calibration = representative_images(photos[:16])
    images = _photo_crops(photos[60:], 24, 100, seed=7)
    floats = [model(img[None]).numpy()[0] for img in images]
    forward = quantize.int8_forward(model, calibration, "minmax")
    simulated = [forward(tf.constant(img[None])).numpy()[0] for img in images]
    with_ranges = _tflite_outputs(tflite_bytes(model, "int8", calibration=calibration, int8_ranges="minmax"), images)
    monkeypatch.setattr(quantize, "int8_forward", lambda *args, **kwargs: None)
    alone = _tflite_outputs(tflite_bytes(model, "int8", calibration=calibration), images)

    def psnr(outs, refs):
        return np.mean([_psnr(a, b) for a, b in zip(outs, refs)])
    assert psnr(with_ranges, simulated) > psnr(alone, simulated) + 5.0, (psnr(with_ranges, simulated),
                                                                          psnr(alone, simulated))
    assert psnr(with_ranges, floats) > psnr(alone, floats) + 1.0, (psnr(with_ranges, floats), psnr(alone, floats))


def test_percentile_ranges_cut_outliers_and_keep_zero():
    """``FakeQuantizer(percentiles)``: a point below 100 % takes the sampled percentiles
    (the range still holding zero), a point at 100 % its min/max, a fixed range (TANH)
    stays fixed."""
    import tensorflow as tf

    from pirm_enhance.quantize import FakeQuantizer

    values = np.concatenate([np.linspace(0.5, 1.5, 9999), [40.0]]).astype(np.float32)
    q = FakeQuantizer(percentiles=[99.0, 100.0, 50.0])
    q.keep_samples = True
    q(tf.constant(values))
    q(tf.constant(values))
    q(tf.constant(values), fixed_range=(-1.0, 1.0))
    low, high = q.cut(q.percentiles)
    assert low[0] == 0.0 and high[0] == pytest.approx(np.percentile(values, 99.0), rel=1e-3)  # not 40
    assert (low[1], high[1]) == (0.0, 40.0)
    assert (low[2], high[2]) == (-1.0, 1.0)


@needs_photos
def test_searched_ranges_bring_int8_closer_to_float(weights_dir):
    """Official PPCN student, no fine-tuning: ranges searched on the calibration images
    (min/max or a percentile, per tensor) give an int8 file closer to float on unseen
    photo crops than the min/max rule (measured 25.5 against 22.2 dB; the converter's own
    calibration points 20.0), and the search cut the second norm's output, whose min/max
    range a few outlying values set."""
    from pirm_enhance.exporters.writers import representative_images, tflite_bytes
    from pirm_enhance.quantize import search_ranges
    from pirm_enhance.zoo import load_model

    model = load_model("ppcn_student.paper")
    photos = ai_benchmark_photos()
    calibration = representative_images(photos[:16])
    percentiles = search_ranges(model, calibration)
    assert min(percentiles) < 100 and sum(p < 100 for p in percentiles) < len(percentiles) / 2
    images = _photo_crops(photos[60:], 24, 100, seed=7)
    floats = [model(img[None]).numpy()[0] for img in images]
    psnr = {}
    for name, rule in (("minmax", "minmax"), ("search", percentiles)):
        outputs = _tflite_outputs(tflite_bytes(model, "int8", calibration=calibration, int8_ranges=rule), images)
        psnr[name] = np.mean([_psnr(a, b) for a, b in zip(outputs, floats)])
    assert psnr["search"] > psnr["minmax"] + 2.0, psnr


@needs_photos
def test_finetuning_brings_int8_closer_to_float(weights_dir):
    """Official EdS, min/max ranges: the full-int8 file of the fine-tuned copy is closer
    to the float model than post-training int8 of the original, on photo crops that the
    fine-tuning never saw (by at least 3 dB after 100 steps). With the searched ranges
    (the default) EdS needs no fine-tuning: -0.030 dB against float on the 400 pairs
    after calibration alone, and 100 steps there bring nothing on these crops (30.95 ->
    29.38 dB; BUILD_NOTES)."""
    from pirm_enhance.exporters.writers import representative_images, tflite_bytes
    from pirm_enhance.quantize import finetune_for_int8
    from pirm_enhance.zoo import load_model

    model = load_model("eds.iphone")
    photos = ai_benchmark_photos()
    calibration = representative_images(photos[:16])
    tuned, report = finetune_for_int8(model, photos=photos[:60], calibration=calibration, steps=100,
                                      learning_rate=1e-4, progress=False, ranges="minmax")
    assert report["int8_ranges"] == "minmax"
    assert report["held_out_psnr_best"] > report["held_out_psnr_before"]  # a later step was kept
    # unseen: photos 60.. are neither training nor held-out photos of the fine-tuning
    images = _photo_crops(photos[60:], 24, 100, seed=7)
    floats = [model(img[None]).numpy()[0] for img in images]
    before = _tflite_outputs(tflite_bytes(model, "int8", calibration=calibration, int8_ranges="minmax"), images)
    after = _tflite_outputs(tflite_bytes(tuned, "int8", calibration=calibration, int8_ranges="minmax"), images)
    psnr_before = np.mean([_psnr(a, b) for a, b in zip(before, floats)])
    psnr_after = np.mean([_psnr(a, b) for a, b in zip(after, floats)])
    assert psnr_after > psnr_before + 3.0, (psnr_before, psnr_after)


@needs_photos
def test_finetuning_schedule_is_a_choice(capsys):
    """``decay``: cosine (the default) or constant, both run and are reported; anything
    else is a usage error; the CLI offers the same two."""
    import keras

    from pirm_enhance.archs.srcnn import SRCNN
    from pirm_enhance.cli import export as cli
    from pirm_enhance.errors import UsageError
    from pirm_enhance.quantize import finetune_for_int8

    keras.utils.set_random_seed(0)
    model = SRCNN()
    photos = ai_benchmark_photos()[:12]
    calibration = [np.full((32, 32, 3), 0.5, np.float32)]
    for decay in ("cosine", None):
        _, report = finetune_for_int8(model, photos=photos, calibration=calibration, steps=2, batch=1, size=32,
                                      check_every=1, held_out=2, progress=False, decay=decay)
        assert report["decay"] == decay and len(report["history"]) == 3
    with pytest.raises(UsageError, match="decay"):
        finetune_for_int8(model, photos=photos, calibration=calibration, steps=2, progress=False, decay="linear")
    assert "--qat-decay" in cli.parser().format_help()


def test_int8_objective_is_the_batch_mse_or_minus_the_mean_crop_psnr():
    """Hand-computed: two 1x1x1 crops off by 0.1 and 0.01 (squared errors 1e-2 and 1e-4)."""
    import tensorflow as tf

    from pirm_enhance.quantize import PSNR_EPS, int8_objective

    y = tf.constant([[[[0.6]]], [[[0.51]]]])
    target = tf.constant([[[[0.5]]], [[[0.5]]]])
    assert float(int8_objective(y, target, "mse")) == pytest.approx((1e-2 + 1e-4) / 2, rel=1e-5)
    want = (10 * math.log10(1e-2 + PSNR_EPS) + 10 * math.log10(1e-4 + PSNR_EPS)) / 2  # -(20 + 40) / 2 dB
    assert float(int8_objective(y, target, "psnr")) == pytest.approx(want, rel=1e-5)
    assert want == pytest.approx(-30.0, abs=0.05)  # PSNR_EPS moves the 40 dB crop by 0.04 dB
    # the psnr objective weighs each crop by the inverse of its own error: the close crop's
    # gradient is 100x the far one's per unit of error, where mse weighs them alike
    y = tf.Variable(y)
    for objective, ratio in (("mse", 1.0), ("psnr", 100.0)):
        with tf.GradientTape() as tape:
            loss = int8_objective(y, target, objective)
        g = tape.gradient(loss, y).numpy().ravel()
        assert (g[1] / 0.01) / (g[0] / 0.1) == pytest.approx(ratio, rel=0.02)


@needs_photos
def test_finetuning_objective_is_a_choice(tmp_path):
    """``objective``: "psnr" (the default) or "mse" both train and are reported, and from the
    same start take different steps; anything else is refused in one line by the fine-tuning, the
    exporter and the CLI (which also refuse it without fine-tuning), with no file written."""
    import keras

    from pirm_enhance.archs.srcnn import SRCNN
    from pirm_enhance.cli.export import main
    from pirm_enhance.errors import UsageError
    from pirm_enhance.exporters import export
    from pirm_enhance.quantize import finetune_for_int8

    keras.utils.set_random_seed(0)
    model = SRCNN()
    photos = ai_benchmark_photos()[:12]
    calibration = [np.full((32, 32, 3), 0.5, np.float32)]
    checks = {}
    for objective in ("mse", None):
        chosen = {} if objective is None else {"objective": objective}
        _, report = finetune_for_int8(model, photos=photos, calibration=calibration, steps=3, batch=2, size=32,
                                      check_every=1, held_out=2, progress=False, **chosen)
        assert report["objective"] == (objective or "psnr")
        checks[report["objective"]] = [value for _, value in report["history"]]
    assert checks["mse"][0] == checks["psnr"][0] and checks["mse"][1:] != checks["psnr"][1:]  # same start
    with pytest.raises(UsageError, match="objective"):
        finetune_for_int8(model, photos=photos, calibration=calibration, steps=2, progress=False, objective="l1")
    with pytest.raises(UsageError, match="qat_objective"):
        export(model, tmp_path / "q.tflite", format="tflite", quantization="int8", qat_objective="psnr", check=False)
    with pytest.raises(UsageError, match="qat_objective"):
        export(model, tmp_path / "q.tflite", format="tflite", quantization="int8", qat_steps=2, qat_objective="l1",
               check=False)
    assert not (tmp_path / "q.tflite").exists()
    assert main(["--model", "srcnn", "--quantization", "int8", "--qat-objective", "psnr", "-o",
                 str(tmp_path / "x.tflite")]) != 0
    assert not (tmp_path / "x.tflite").exists()


@needs_photos
def test_finetuning_steps_on_the_weights_the_file_stores():
    """``round_weights`` (the default): the fine-tuned model comes back with its weights
    rounded as the converter stores them (each one on its 8-bit grid, so rounding again
    changes nothing), and the steps move what the checks see; ``False`` leaves them float
    (off the grid)."""
    import keras
    import tensorflow as tf

    from pirm_enhance.archs.ppcn import PPCNStudent
    from pirm_enhance.quantize import finetune_for_int8, round_weight, weight_rounding

    keras.utils.set_random_seed(0)
    model = PPCNStudent(**PPCNStudent.tiny_config)
    photos = ai_benchmark_photos()[:12]
    calibration = _photo_crops(photos[:4], 4, 48, seed=1)
    small = dict(photos=photos, calibration=calibration, steps=4, batch=2, size=48, check_every=2, held_out=2,
                 progress=False, ranges="learn", learning_rate=1e-2)
    for flag in (True, False):
        tuned, report = finetune_for_int8(model, round_weights=flag, **small)
        assert report["round_weights"] is flag
        plan = weight_rounding(tuned)
        assert len(plan) == 9 and any(axes is None for _, axes in plan)  # 5 kernels, 2 norms x (scale, shift)
        off_grid = [float(np.abs(np.asarray(round_weight(tf.constant(v.numpy()), axes)) - v.numpy()).max())
                    for v, axes in plan]
        if flag:
            assert max(off_grid) < 1e-6, off_grid
        else:
            assert max(off_grid) > 1e-4, off_grid
        checks = [value for _, value in report["history"]]
        assert len(checks) == 3 and max(checks) - min(checks) > 1e-3, checks  # the steps train


@needs_photos
@pytest.mark.parametrize("ranges", ["learn", "minmax"])
def test_finetune_checks_the_averaged_weights(ranges):
    """``average``: the checks judge the moving average of the weights (and learnt ranges),
    not the step's weights, and leave the training alone: a decay near 1 keeps the start's
    figure at every check and returns the start's weights (rounded); a decay near 0 is the step's own
    weights (the same history as no averaging with learnt ranges; with measured ranges the
    checks measure ranges for the weights they judge, and the last check, where both measure
    them, agrees). A decay outside (0, 1) is refused in one line."""
    import keras

    from pirm_enhance.archs.srcnn import SRCNN
    from pirm_enhance.errors import UsageError
    from pirm_enhance.quantize import apply_weight_rounding, copy_model, finetune_for_int8

    keras.utils.set_random_seed(0)
    model = SRCNN()
    photos = ai_benchmark_photos()[:6]
    calibration = [np.asarray(c) for c in _photo_crops(photos[:2], 2, 32, 0)]
    # objective pinned: the psnr default moves the weights so that one start weight at a rounding
    # boundary flips a level under a decay of 1 - 1e-7, which says nothing about the averaging
    small = dict(photos=photos, calibration=calibration, steps=4, batch=2, size=32, check_every=2, held_out=2,
                 progress=False, ranges=ranges, learning_rate=1e-3, range_every=4, objective="mse")

    def run(average):
        tuned, report = finetune_for_int8(model, average=average, **small)
        return tuned, [v for _, v in report["history"]]

    _, plain = run(None)
    assert len(set(np.round(plain, 3))) > 1  # the steps' weights move the figure
    near_zero = run(1e-9)[1]
    if ranges == "learn":
        np.testing.assert_allclose(near_zero, plain, atol=1e-4)
    else:
        assert near_zero[-1] == pytest.approx(plain[-1], abs=1e-4)
    tuned, still = run(1 - 1e-7)
    np.testing.assert_allclose(still, plain[0], atol=1e-3)
    start = apply_weight_rounding(copy_model(model))  # the start's weights, as the file stores them
    for a, b in zip(tuned.get_weights(), start.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-6)
    for bad in (0, 1, -0.5, "0.9"):
        with pytest.raises(UsageError, match="average"):
            finetune_for_int8(model, average=bad, **small)


def test_export_qat_average_is_passed_on_and_checked(tmp_path, capsys, monkeypatch):
    """``qat_average`` reaches the fine-tuning and its report; without fine-tuning, or outside
    (0, 1), the exporter and the CLI refuse it before any work."""
    import imageio.v3 as iio

    from pirm_enhance import quantize
    from pirm_enhance.archs.ppcn import PPCNStudent
    from pirm_enhance.cli.export import main
    from pirm_enhance.errors import UsageError
    from pirm_enhance.exporters import export

    finetune, calls = quantize.finetune_for_int8, []

    def recorded(model, **kwargs):
        calls.append(kwargs["average"])
        return finetune(model, **{**kwargs, "batch": 2, "size": 32, "held_out": 2, "progress": False})

    monkeypatch.setattr(quantize, "finetune_for_int8", recorded)
    model = PPCNStudent(**PPCNStudent.tiny_config)
    images = [str(tmp_path / f"p{i}.png") for i in range(4)]
    rng = np.random.default_rng(0)
    for name in images:
        iio.imwrite(name, (rng.random((48, 48, 3)) * 255).astype(np.uint8))
    report = export(model, tmp_path / "q.tflite", format="tflite", quantization="int8", qat_steps=2,
                    qat_average=0.9, qat_photos=images, calibration_images=images[:1], check=False,
                    int8_ranges="minmax")
    assert calls == [0.9] and report["qat"]["average"] == 0.9
    for kwargs in ({"qat_average": 0.9}, {"qat_average": 1.0, "qat_steps": 2}):
        with pytest.raises(UsageError, match="qat_average"):
            export(model, tmp_path / "r.tflite", format="tflite", quantization="int8", check=False, **kwargs)
    assert calls == [0.9] and not (tmp_path / "r.tflite").exists()
    for extra in ([], ["--qat-steps", "2", "--qat-average", "1.5"]):
        code = main(["--model", "srcnn", "--quantization", "int8", "--qat-average", "0.99", *extra,
                     "-o", str(tmp_path / "x.tflite")])
        assert code != 0 and "--qat-average" in capsys.readouterr().err
    assert not (tmp_path / "x.tflite").exists()


def test_export_refuses_qat_outside_int8(tmp_path):
    from pirm_enhance.archs.srcnn import SRCNN
    from pirm_enhance.errors import UsageError
    from pirm_enhance.exporters import export

    with pytest.raises(UsageError, match="qat_steps"):
        export(SRCNN(), tmp_path / "m.tflite", format="tflite", quantization="float32", qat_steps=5,
               check=False)


def test_cli_refuses_qat_without_int8(capsys):
    from pirm_enhance.cli.export import main

    code = main(["--model", "srcnn", "--format", "tflite", "--qat-steps", "10", "-o", "x.tflite"])
    assert code != 0
    assert "--qat-steps" in capsys.readouterr().err


def test_range_search_work_cap_drops_passes_then_points(capsys):
    """``_within_work``: both passes when they fit the cap, one when only that fits, else
    one pass over the most outlying points (kept in forward order), said on stderr."""
    from pirm_enhance.archs.srcnn import SRCNN
    from pirm_enhance.quantize import _within_work
    from pirm_enhance.tiling import activation_volume

    model = SRCNN()
    images = [np.zeros((10, 10, 3), np.float32)] * 2
    per_trial = activation_volume(model) * 200
    eligible, ratios = [3, 5, 8], {3: 2.0, 5: 9.0, 8: 4.0}
    assert _within_work(model, images, eligible, ratios, 2, 4, 24 * per_trial) == ([3, 5, 8], 2)
    assert _within_work(model, images, eligible, ratios, 2, 4, 23 * per_trial) == ([3, 5, 8], 1)
    assert capsys.readouterr().err == ""
    assert _within_work(model, images, eligible, ratios, 2, 4, 8 * per_trial) == ([5, 8], 1)
    assert "2 of 3 outlying tensors" in capsys.readouterr().err


@needs_photos
def test_default_calibration_is_the_first_16_bundled_photos():
    """No calibration images given: the exporter calibrates on crops of the first 16
    bundled photos (the route of the 400-pair int8 figures), not on synthetic ones."""
    from pirm_enhance.data.photos import representative_images

    default = representative_images()
    named = representative_images(ai_benchmark_photos()[:16])
    assert len(default) == 16
    for a, b in zip(default, named):
        np.testing.assert_array_equal(a, b)


def test_int16x8_calibrates_on_32_photos_int8_on_16(monkeypatch):
    """No calibration images given: 16x8 calibrates on the first 32 bundled photos, int8
    (whose range search scales with the calibration pixels) on 16, in the writer and in
    :func:`export` alike; named photos give one crop each."""
    from pirm_enhance.archs.srcnn import SRCNN
    from pirm_enhance.exporters import writers

    class Stop(Exception):
        pass

    seen = []

    def fake(paths=None, count=16, size=256, seed=0):
        seen.append((paths, count))
        raise Stop

    monkeypatch.setattr(writers, "representative_images", fake)
    model = SRCNN(**SRCNN.tiny_config)
    for quantization in ("int16x8", "int8"):
        with pytest.raises(Stop):
            writers.tflite_bytes(model, quantization)
        with pytest.raises(Stop):
            writers.export(model, "unused.tflite", "tflite", quantization)
    assert seen == [(None, 32), (None, 32), (None, 16), (None, 16)]
    paths = ai_benchmark_photos()[:3]
    if paths:  # named photos: one crop each, whatever the count
        monkeypatch.undo()
        assert len(writers.representative_images(paths, count=32)) == 3


@needs_photos
def test_int16x8_default_calibration_keeps_the_teacher_close_to_float(weights_dir):
    """Official PPCN teacher, 16x8: a static int16 range that an unseen photo exceeds
    clips the instance norms' means. Calibrated on 32 bundled photos (the default) the
    file is closer to float on held-out crops (photos 60-99) than on 16 (measured on 160
    crops: 45.7 against 41.9 dB; p10 40.0 against 32.3)."""
    from pirm_enhance.exporters.writers import representative_images, tflite_bytes
    from pirm_enhance.zoo import load_model

    model = load_model("ppcn_teacher.paper")
    photos = ai_benchmark_photos()
    images = _photo_crops(photos[60:100], 40, 100, seed=11)
    floats = [np.clip(model(img[None]).numpy()[0], 0, 1) for img in images]

    def fidelity(data):
        return [_psnr(np.clip(a, 0, 1), b) for a, b in zip(_tflite_outputs(data, images), floats)]
    default = fidelity(tflite_bytes(model, "int16x8"))
    sixteen = fidelity(tflite_bytes(model, "int16x8", calibration=representative_images(photos[:16])))
    assert np.mean(default) > np.mean(sixteen) + 1.5, (np.mean(default), np.mean(sixteen))
    assert np.mean(default) > 44.0 and np.percentile(default, 10) > 35.0, (np.mean(default),
                                                                           np.percentile(default, 10))


def _zoo_names():
    from pirm_enhance.registry import list_models

    return list_models()


@pytest.mark.parametrize("arch", _zoo_names())
def test_equalize_keeps_the_function_and_balances_each_group(arch):
    """Cross-layer equalisation over the registry: the float output is unchanged (to
    rounding), every factor is in [MIN_EQUALIZE_FACTOR, 1], and each group's exit tensors
    come out with their channels' spreads equal to the widest (or at the floor)."""
    import keras

    from pirm_enhance.quantize import EQUALIZE_PERCENTILES, MIN_EQUALIZE_FACTOR, equalize, equalization_groups
    from pirm_enhance.zoo import timing_model
    from zoo_checks import arch_class

    model = timing_model(arch, **arch_class(arch).tiny_config)  # no channel left at a constant
    rng = np.random.default_rng(0)
    images = [rng.random((48, 64, 3), dtype=np.float32) for _ in range(2)]
    clone, report = equalize(model, images, alpha=1.0)
    x = images[0][None]
    y, z = np.asarray(model(x, training=False)), np.asarray(clone(x, training=False))
    assert np.abs(y - z).max() <= 1e-4 * (1 + np.abs(y).max()), arch
    assert len(report) == len(equalization_groups(model))
    for group, entry in zip(equalization_groups(clone), report):
        s = np.asarray(entry["factors"])
        assert ((s >= MIN_EQUALIZE_FACTOR - 1e-4) & (s <= 1 + 1e-6)).all() and s.max() == 1.0  # rounded to 4 places
        probe = keras.Model(clone.inputs[0], [op.output for op in group["exits"]])
        outs = probe(np.stack(images), training=False)
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        lo, hi = EQUALIZE_PERCENTILES
        spread = np.max([np.percentile(np.asarray(o).reshape(-1, o.shape[-1]), hi, axis=0)
                         - np.percentile(np.asarray(o).reshape(-1, o.shape[-1]), lo, axis=0) for o in outs], axis=0)
        balanced = spread >= 0.9 * spread.max()
        floored = np.isclose(s, MIN_EQUALIZE_FACTOR, atol=1e-4)
        assert (balanced | floored).all(), (arch, entry["producers"], spread, s)


@pytest.mark.parametrize("arch", _zoo_names())
def test_drop_norm_biases_keeps_the_function(arch):
    """Over the registry: the biases an instance norm cancels are zeroed, nothing else moves,
    and the float output is unchanged (to rounding)."""
    from pirm_enhance.layers import InstanceNorm
    from pirm_enhance.quantize import drop_norm_biases, norm_cancelled_biases
    from pirm_enhance.zoo import timing_model
    from zoo_checks import arch_class

    model = timing_model(arch, **arch_class(arch).tiny_config)  # no bias at zero already
    clone, names = drop_norm_biases(model)
    assert names == [op.name for op in norm_cancelled_biases(model)]
    x = np.random.default_rng(0).random((1, 48, 64, 3), dtype=np.float32)
    y, z = np.asarray(model(x, training=False)), np.asarray(clone(x, training=False))
    assert np.abs(y - z).max() <= 1e-4 * (1 + np.abs(y).max()), arch
    has_norm = any(isinstance(op, InstanceNorm) for op in model.operations)
    assert has_norm or not names
    for a, b in zip(model.layers, clone.layers):
        for v, w in zip(a.weights, b.weights):
            if a.name in names and v is a.bias:
                assert not np.asarray(w).any() and np.asarray(v).any()
            else:
                np.testing.assert_array_equal(np.asarray(v), np.asarray(w))


def test_norm_cancelled_biases_by_hand():
    """Only a convolution without activation read by instance norms alone: the student's
    two convolutions before its norms; not one that something else also reads, not one with
    an activation, not a model output."""
    import keras

    import pirm_enhance as pe
    from pirm_enhance.layers import InstanceNorm
    from pirm_enhance.quantize import norm_cancelled_biases

    assert [op.name for op in norm_cancelled_biases(pe.build_model("ppcn_student"))] == ["conv2", "conv3"]
    x = keras.Input((None, None, 3))
    a = keras.layers.Conv2D(4, 3, padding="same", name="a")(x)  # read by a norm and an add
    b = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="b")(x)  # activation
    c = keras.layers.Conv2D(4, 3, padding="same", name="c")(x)  # norms only: dropped
    d = keras.layers.Conv2D(4, 3, padding="same", name="d")(x)  # an output
    s = keras.layers.Add()([InstanceNorm()(a), a, InstanceNorm()(b), InstanceNorm()(c), InstanceNorm()(c)])
    model = keras.Model(x, [s, d])
    assert [op.name for op in norm_cancelled_biases(model)] == ["c"]


@needs_photos
def test_dropped_norm_biases_narrow_the_student_norm_input(weights_dir):
    """Official student: without its bias, conv3's output (the second norm's input) fits a
    range under 60% as wide, so a crop's channel spreads over about twice as many 8-bit
    steps (measured 1.81 -> 3.38 median; the levels its biases set, -0.17 to 1.58, had
    widened the range)."""
    import keras

    from pirm_enhance.exporters.writers import representative_images
    from pirm_enhance.quantize import drop_norm_biases
    from pirm_enhance.zoo import load_model

    model = load_model("ppcn_student.paper")
    clone, names = drop_norm_biases(model)
    assert names == ["conv2", "conv3"]
    images = representative_images(ai_benchmark_photos()[:16])
    figures = []
    for m in (model, clone):
        outs = [np.asarray(keras.Model(m.inputs[0], m.get_layer("conv3").output)(np.asarray(i)[None]))
                for i in images]
        values = np.concatenate([o.ravel() for o in outs])
        width = max(values.max(), 0) - min(values.min(), 0)  # an 8-bit range holds zero
        figures.append((width, np.median([o.std(axis=(1, 2)) for o in outs]) / (width / 255)))
    (before, spread_before), (after, spread_after) = figures
    assert after < 0.6 * before and spread_after > 1.6 * spread_before, figures


def test_equalization_groups_of_the_ppcn_student():
    """The student's three groups by hand: the first LeakyReLU's channels (read by conv1);
    conv1's and the second norm's, tied by LeakyReLUs and the kd_features add (read by
    conv2 and conv4); the first norm's (read by conv3). The convolutions before the norms
    and the head stay as they are (a norm or the head reads them)."""
    import pirm_enhance as pe
    from pirm_enhance.quantize import equalization_groups

    groups = equalization_groups(pe.build_model("ppcn_student"))
    got = sorted((sorted(l.name for l in g["producers"]), sorted(l.name for l in g["consumers"])) for g in groups)
    assert got == [(["conv0"], ["conv1"]), (["conv1", "norm1"], ["conv2", "conv4"]), (["norm0"], ["conv3"])]


def test_equalization_leaves_a_group_that_the_model_input_feeds():
    """An Add of the model's input and a convolution ties the convolution's channels to the
    input's, which no weight can rescale: no group there, and the function stays."""
    import keras

    from pirm_enhance.quantize import equalization_groups, equalize

    keras.utils.set_random_seed(0)
    x = keras.Input((None, None, 3))
    c = keras.layers.Conv2D(3, 3, padding="same", name="c")(x)
    a = keras.layers.Add()([x, c])
    a = keras.layers.LeakyReLU(negative_slope=0.1)(a)
    y = keras.layers.Conv2D(3, 3, padding="same", name="head")(a)
    model = keras.Model(x, y)
    assert equalization_groups(model) == []
    images = [np.random.default_rng(i).random((16, 16, 3)).astype(np.float32) for i in range(2)]
    same, report = equalize(model, images, alpha=1.0)
    assert report == []
    np.testing.assert_allclose(same(images[0][None]), model(images[0][None]), atol=1e-6)


def test_finetuning_refuses_too_few_or_too_small_photos_before_training(tmp_path):
    """Bad photo sets and counts are one UsageError line before any step: too few photos for
    the held-out ones, a photo smaller than the crops, zero or fractional intervals."""
    from pirm_enhance.archs.srcnn import SRCNN
    from pirm_enhance.data.io import write_png
    from pirm_enhance.errors import UsageError
    from pirm_enhance.quantize import finetune_for_int8

    model = SRCNN(filters=(4, 2))
    photos = ai_benchmark_photos()[:6]
    calibration = [np.full((32, 32, 3), 0.5, np.float32)]
    small = tmp_path / "small.png"
    write_png(small, np.full((40, 90, 3), 0.5, np.float32))
    cases = [(dict(photos=photos[:3]), "at least 4 photos"),
             (dict(photos=[*photos[:4], small]), r"small\.png: 90x40 is smaller than the fine-tuning's 48x48"),
             (dict(photos=photos, held_out=0), "held_out"),
             (dict(photos=photos, check_every=0), "check_every"),
             (dict(photos=photos, range_every=1.5), "range_every")]
    for kwargs, match in cases:
        with pytest.raises(UsageError, match=match):
            finetune_for_int8(model, calibration=calibration, steps=2, batch=1, size=48, progress=False,
                              **{"held_out": 2, **kwargs})


def test_export_equalize_is_for_int8_and_reported(tmp_path):
    from pirm_enhance.archs.ppcn import PPCNStudent
    from pirm_enhance.errors import UsageError
    from pirm_enhance.exporters import export
    from pirm_enhance.quantize import EQUALIZE_ALPHA

    import imageio.v3 as iio

    model = PPCNStudent(**PPCNStudent.tiny_config)
    rng = np.random.default_rng(1)
    images = []
    for i in range(2):
        images.append(str(tmp_path / f"cal{i}.png"))
        iio.imwrite(images[-1], (rng.random((40, 48, 3)) * 255).astype(np.uint8))
    with pytest.raises(UsageError, match="equalize"):
        export(model, tmp_path / "f.tflite", format="tflite", quantization="float32", equalize=True, check=False)
    report = export(model, tmp_path / "q.tflite", format="tflite", quantization="int8", calibration_images=images,
                    equalize=True, check=False, int8_ranges="minmax")
    assert sorted(sorted(g["producers"]) for g in report["equalized"]) == [["conv0"], ["conv1", "norm1"], ["norm0"]]
    assert report["norm_biases_dropped"] == ["conv2", "conv3"]
    assert report["equalize_alpha"] == EQUALIZE_ALPHA
    assert (tmp_path / "q.tflite").stat().st_size > 0
    full = export(model, tmp_path / "q1.tflite", format="tflite", quantization="int8", calibration_images=images,
                  equalize=1.0, check=False, int8_ranges="minmax")
    assert full["equalize_alpha"] == 1.0
    # further equalisation pushes the factors further from 1
    assert min(min(g["factors"]) for g in full["equalized"]) < min(min(g["factors"]) for g in report["equalized"])
    for bad in (0, 1.5, -0.5, "half"):
        with pytest.raises(UsageError, match="equalize"):
            export(model, tmp_path / "b.tflite", format="tflite", quantization="int8", calibration_images=images,
                   equalize=bad, check=False, int8_ranges="minmax")
    assert not (tmp_path / "b.tflite").exists()


def test_partial_equalisation_takes_the_power_alpha_of_each_spread_ratio():
    """``equalize(alpha=a)`` scales channel ``k`` by ``(r_k / max r) ** a``: the factors at
    ``a = 0.5`` are the square roots of those at 1 (above the floor), and the function is
    kept; ``alpha`` outside ``(0, 1]`` is refused."""
    from pirm_enhance.archs.ppcn import PPCNStudent
    from pirm_enhance.errors import UsageError
    from pirm_enhance.quantize import MIN_EQUALIZE_FACTOR, equalize

    model = PPCNStudent(**PPCNStudent.tiny_config)
    rng = np.random.default_rng(3)
    images = [rng.random((40, 48, 3), dtype=np.float32) for _ in range(2)]
    half, half_report = equalize(model, images, alpha=0.5)
    _, full_report = equalize(model, images, alpha=1.0)
    for h, f in zip(half_report, full_report):
        h, f = np.asarray(h["factors"]), np.asarray(f["factors"])
        above = f > MIN_EQUALIZE_FACTOR + 1e-3
        assert np.allclose(h[above], np.sqrt(f[above]), atol=2e-4), (h, f)
        assert (h[~above] >= MIN_EQUALIZE_FACTOR - 1e-4).all() and (h <= 1 + 1e-6).all()
    y, z = (np.asarray(m(images[0][None], training=False)) for m in (model, half))
    assert np.abs(y - z).max() <= 1e-4 * (1 + np.abs(y).max())
    for bad in (0.0, 1.01, True):
        with pytest.raises(UsageError, match="alpha"):
            equalize(model, images, alpha=bad)


def test_cli_refuses_equalize_without_int8(capsys, tmp_path):
    from pirm_enhance.cli.export import main

    code = main(["--model", "srcnn", "--format", "tflite", "--equalize", "-o", str(tmp_path / "x.tflite")])
    assert code != 0
    assert "equalize" in capsys.readouterr().err
    assert not (tmp_path / "x.tflite").exists()
    for bad in ("0", "2", "half"):
        code = main(["--model", "srcnn", "--format", "tflite", "--quantization", "int8", "--equalize", bad,
                     "-o", str(tmp_path / "x.tflite")])
        assert code != 0
        assert "ALPHA" in capsys.readouterr().err
        assert not (tmp_path / "x.tflite").exists()


def test_learned_round_rounds_as_fake_quant_and_trains_the_range(rng):
    """``learned_round`` gives the converter's rounding (TensorFlow's fake quant, range
    nudged to hold zero) and, unlike that op, a gradient for the range from the values
    inside it: their rounding error (learned step size quantization)."""
    import tensorflow as tf

    from pirm_enhance.quantize import learned_round

    x = tf.constant(rng.normal(0, 1, 4000).astype(np.float32))
    for low, high in ((-2.3, 1.7), (0.0, 3.1), (-0.37, 0.0), (-1.0, 5.0)):
        ours = learned_round(x, tf.constant(low), tf.constant(high)).numpy()
        theirs = tf.quantization.fake_quant_with_min_max_vars(x, low, high, num_bits=8).numpy()
        step = (high - low) / 255
        close = np.abs(ours - theirs) <= 1e-6 * max(1.0, abs(low), high)  # float rounding of the level
        assert np.mean(close) > 0.999 and np.abs(ours - theirs).max() <= step * 1.001  # or a tie
    inside = tf.constant(rng.uniform(-1.0, 1.0, 4000).astype(np.float32))
    low, high = tf.Variable(-1.5), tf.Variable(1.5)
    with tf.GradientTape(persistent=True) as tape:
        ours = tf.reduce_sum(tf.square(learned_round(inside, low, high) - inside))
        theirs = tf.reduce_sum(tf.square(tf.quantization.fake_quant_with_min_max_vars(inside, low, high) - inside))
    assert abs(float(tape.gradient(ours, high))) > 0  # the rounding error moves the range
    assert float(tape.gradient(theirs, high)) == 0  # TensorFlow's op: clipping only


@needs_photos
def test_finetuning_learns_ranges_that_the_export_takes(tmp_path):
    """``ranges="learn"``: the ranges come back as explicit pairs, one per quantization
    point, each holding zero, that the int8 export rounds with; the int8 error's gradient
    reaches most of the trainable range ends; the exporter and the CLI refuse the rule
    without fine-tuning, and explicit pairs of the wrong count."""
    import keras
    import tensorflow as tf

    from pirm_enhance.archs.ppcn import PPCNStudent
    from pirm_enhance.cli.export import main
    from pirm_enhance.errors import UsageError
    from pirm_enhance.exporters import export
    from pirm_enhance.exporters.writers import tflite_bytes
    from pirm_enhance.quantize import _forward, collect_ranges, finetune_for_int8, int8_quantizer

    keras.utils.set_random_seed(0)
    model = PPCNStudent(**PPCNStudent.tiny_config)
    photos = ai_benchmark_photos()[:12]
    calibration = _photo_crops(photos[:4], 4, 48, seed=1)
    tuned, report = finetune_for_int8(model, photos=photos, calibration=calibration, steps=6, batch=2, size=48,
                                      check_every=3, held_out=2, progress=False, ranges="learn", range_lr=0.05)
    learnt = report["int8_ranges"]
    assert len(learnt) == len(collect_ranges(model, calibration).low) and report["range_lr"] == 0.05
    assert all(lo <= 0.0 <= hi and lo < hi for lo, hi in learnt)
    learner = collect_ranges(tuned, calibration)
    learner.make_learnable()
    trainable = learner.range_variables()
    assert len(trainable) >= len(learner.low)  # every point's nonzero ends, bar the fixed TANH range
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(_forward(tuned, tf.constant(calibration[0][None]), learner)
                                        - tuned(calibration[0][None])))
    grads = tape.gradient(loss, trainable)
    assert sum(float(tf.abs(g)) > 0 for g in grads) > len(trainable) // 2  # the int8 error reaches the ranges
    quantizer = int8_quantizer(tuned, calibration, learnt)
    assert quantizer.low == [lo for lo, _ in learnt] and quantizer.high == [hi for _, hi in learnt]
    assert len(tflite_bytes(tuned, "int8", calibration=calibration, int8_ranges=learnt)) > 0
    with pytest.raises(UsageError, match="ranges given"):
        int8_quantizer(tuned, calibration, learnt[:-1])
    with pytest.raises(UsageError, match="hold zero"):
        int8_quantizer(tuned, calibration, [[0.1, 1.0]] + learnt[1:])
    with pytest.raises(UsageError, match="learn"):
        tflite_bytes(model, "int8", calibration=calibration, int8_ranges="learn")
    with pytest.raises(UsageError, match="learn"):
        export(model, tmp_path / "q.tflite", format="tflite", quantization="int8", int8_ranges="learn", check=False)
    code = main(["--model", "srcnn", "--quantization", "int8", "--int8-ranges", "learn", "-o",
                 str(tmp_path / "x.tflite")])
    assert code != 0 and not (tmp_path / "x.tflite").exists()


@needs_photos
def test_learnt_ranges_bring_the_student_closer_to_float_than_minmax(weights_dir):
    """Official PPCN student, equalised, 150 fine-tuning steps (96-px crops, batch 4, lr
    3e-4) each way: the int8 file with learnt ranges is closer to the float model than the
    one whose ranges follow min/max, on crops the fine-tuning never saw (here 28.8 against
    26.8 dB; at 2,400 full steps 35.4 against 29.9 on held-out crops, and -0.69 against
    -1.06 dB on the 400 pairs: BUILD_NOTES "Learnt int8 ranges")."""
    from pirm_enhance.exporters.writers import representative_images, tflite_bytes
    from pirm_enhance.quantize import equalize, finetune_for_int8
    from pirm_enhance.zoo import load_model

    official = load_model("ppcn_student.paper")
    photos = ai_benchmark_photos()
    calibration = representative_images(photos[:16], size=128)
    model = equalize(official, calibration, alpha=1.0)[0]  # full equalisation, as these figures were measured
    images = _photo_crops(photos[60:], 24, 100, seed=7)
    floats = [official(img[None]).numpy()[0] for img in images]
    psnr = {}
    for rule in ("minmax", "learn"):
        tuned, report = finetune_for_int8(model, photos=photos[:60], calibration=calibration, steps=150, batch=4,
                                          size=96, learning_rate=3e-4, progress=False, ranges=rule)
        outputs = _tflite_outputs(tflite_bytes(tuned, "int8", calibration=calibration,
                                               int8_ranges=report["int8_ranges"]), images)
        psnr[rule] = np.mean([_psnr(a, b) for a, b in zip(outputs, floats)])
    assert psnr["learn"] > psnr["minmax"] + 1.0, psnr


@needs_photos
def test_phone_like_finetuning_adds_a_phone_version_of_each_photo(monkeypatch, tmp_path, capsys):
    """``phone_like=True``: the crops are drawn from the training photos and a seeded
    phone-like version of each (the same version whatever the list), and the kept step is
    chosen on the phone-like versions of the held-out photos; the exporter and the CLI
    refuse the option without fine-tuning."""
    from pirm_enhance import quantize
    from pirm_enhance.archs.ppcn import PPCNStudent
    from pirm_enhance.cli.export import main
    from pirm_enhance.data.io import read_float
    from pirm_enhance.errors import UsageError
    from pirm_enhance.exporters import export

    photos = ai_benchmark_photos()[:6]
    plain = [read_float(p).astype(np.float32) for p in photos]
    phone = quantize._phone_like(plain[:2], 0)
    assert all(a.shape == b.shape and a.dtype == np.float32 for a, b in zip(phone, plain[:2]))
    assert all(float(np.abs(a - b).mean()) > 0.01 for a, b in zip(phone, plain[:2]))
    assert 0.0 <= min(float(a.min()) for a in phone) and max(float(a.max()) for a in phone) <= 1.0
    np.testing.assert_array_equal(quantize._phone_like(plain[1:2], 1)[0], phone[1])  # keyed by position

    seen, developed = [], []
    crops, develop = quantize._crops, quantize._phone_like
    monkeypatch.setattr(quantize, "_crops", lambda p, *a: seen.append(p) or crops(p, *a))
    monkeypatch.setattr(quantize, "_phone_like", lambda p, first: developed.append(first) or develop(p, first))
    model = PPCNStudent(**PPCNStudent.tiny_config)
    calibration = _photo_crops(photos[:2], 2, 32, seed=1)
    _, report = quantize.finetune_for_int8(model, photos=photos, calibration=calibration, steps=2, batch=2,
                                           size=32, check_every=1, held_out=2, progress=False,
                                           ranges="minmax", phone_like=True)
    assert report["phone_like"] and developed == [0, 4]  # the 4 training photos, then the 2 held out
    assert len(seen[0]) == 8
    np.testing.assert_array_equal(seen[0][4], phone[0])
    np.testing.assert_array_equal(seen[0][0], plain[0])

    with pytest.raises(UsageError, match="qat_phone_like"):
        export(model, tmp_path / "q.tflite", format="tflite", quantization="int8", qat_phone_like=True,
               check=False)
    code = main(["--model", "srcnn", "--quantization", "int8", "--qat-phone-like", "-o", str(tmp_path / "x.tflite")])
    assert code != 0 and "--qat-phone-like" in capsys.readouterr().err
    assert not (tmp_path / "x.tflite").exists()


@needs_photos
def test_export_keeps_the_fine_tuning_seed_closest_to_float(tmp_path, capsys, monkeypatch):
    """``qat_seeds=3``: three fine-tunings with crop seeds 0, 1, 2 from one preparation (the
    photos are read and developed once); the export takes the run whose held-out figure is
    best, and says which; each run is the one its seed gives alone; counts below 1, or seeds
    without fine-tuning, are refused by the exporter and the CLI."""
    from pirm_enhance import quantize
    from pirm_enhance.archs.ppcn import PPCNStudent
    from pirm_enhance.cli.export import main
    from pirm_enhance.errors import UsageError
    from pirm_enhance.exporters import export
    from pirm_enhance.exporters.writers import representative_images

    seeds, loaded = [], []
    finetune, load = quantize.finetune_for_int8, quantize._load_photos
    small = {"batch": 2, "size": 32, "held_out": 2, "progress": False}

    def recorded(model, **kwargs):
        seeds.append(kwargs["seed"])
        return finetune(model, **{**kwargs, **small})

    monkeypatch.setattr(quantize, "finetune_for_int8", recorded)
    monkeypatch.setattr(quantize, "_load_photos", lambda paths: loaded.append(len(paths)) or load(paths))
    model = PPCNStudent(**PPCNStudent.tiny_config)
    photos = ai_benchmark_photos()[:6]
    report = export(model, tmp_path / "q.tflite", format="tflite", quantization="int8", qat_steps=2, qat_seeds=3,
                    qat_photos=photos, calibration_images=photos[:2], check=False, int8_ranges="minmax",
                    qat_phone_like=True)
    figures = report["qat"]["held_out_by_seed"]
    assert seeds == [(0, 1, 2)] and len(figures) == 3 and len(set(figures)) > 1  # the seeds give other runs
    assert loaded == [4, 2]  # the training and held-out photos, read once for the three runs
    assert report["qat"]["seed"] == int(np.argmax(figures))
    assert report["qat"]["held_out_psnr_best"] == max(figures)
    # the export's calibration images: the first 2 photos' crops, 16 of them as for any int8 export
    alone = finetune(model, photos=photos, calibration=representative_images(photos[:2], count=16), steps=2,
                     ranges="minmax", phone_like=True, seed=1, **small)[1]
    assert "seed" not in alone and alone["held_out_psnr_best"] == pytest.approx(figures[1], abs=1e-4)
    for bad in ([], "12", [1.5]):
        with pytest.raises(UsageError, match="seed"):
            finetune(model, photos=photos, steps=2, ranges="minmax", seed=bad, **small)
    for bad in (0, 1.5):
        with pytest.raises(UsageError, match="qat_seeds"):
            export(model, tmp_path / "r.tflite", format="tflite", quantization="int8", qat_steps=2, qat_seeds=bad,
                   check=False)
    with pytest.raises(UsageError, match="qat_seeds"):
        export(model, tmp_path / "r.tflite", format="tflite", quantization="int8", qat_seeds=2, check=False)
    code = main(["--model", "srcnn", "--quantization", "int8", "--qat-seeds", "2", "-o", str(tmp_path / "x.tflite")])
    assert code != 0 and "--qat-seeds" in capsys.readouterr().err
    assert not (tmp_path / "x.tflite").exists()
