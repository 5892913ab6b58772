"""The export-time rewrites of large convolutions (pirm_enhance.lowering): the same
function, every architecture, restored afterwards, and what they change in the files."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import pirm_enhance as pe
from pirm_enhance import lowering
from pirm_enhance.exporters import export
from zoo_checks import tiny_model


@pytest.mark.parametrize("kh,kw,cin,cout", [(9, 9, 16, 3), (5, 5, 32, 3), (3, 7, 20, 1), (9, 9, 3, 16),
                                            (7, 3, 2, 5)])
def test_rewrites_compute_the_same_convolution(kh, kw, cin, cout):
    """Both rewrites equal a SAME convolution to float rounding, borders included
    (odd and even image sides smaller than the kernel's reach)."""
    rng = np.random.default_rng(kh * 100 + cin)
    kernel = tf.constant(rng.normal(size=(kh, kw, cin, cout)).astype(np.float32))
    for shape in [(1, 13, 17, cin), (2, 4, 6, cin)]:
        x = tf.constant(rng.random(shape, np.float32))
        ref = tf.nn.conv2d(x, kernel, 1, "SAME").numpy()
        scale = np.abs(ref).max()
        rewrites = {"output, tf": lambda x, k: lowering.stacked_output_conv(x, k, target="tf"),
                    "output, tflite": lambda x, k: lowering.stacked_output_conv(x, k, target="tflite"),
                    "input": lowering.stacked_input_conv}
        for how, rewrite in rewrites.items():
            out = rewrite(x, kernel).numpy()
            assert out.shape == ref.shape
            assert np.abs(out - ref).max() <= 1e-5 * scale, how


@pytest.mark.parametrize("k,s", [(2, 2), (4, 2), (3, 2), (6, 2), (8, 4), (5, 3), (3, 1)])
def test_phase_convolutions_compute_the_same_transposed_convolution(k, s):
    """One convolution on the input's grid and depth_to_space equals TensorFlow's SAME
    transposed convolution to float rounding, borders included (odd sides, a 1-pixel row)."""
    rng = np.random.default_rng(10 * k + s)
    kernel = tf.constant(rng.normal(size=(k, k, 4, 5)).astype(np.float32))  # [k, k, out, in]
    for shape in [(1, 7, 9, 5), (2, 4, 3, 5), (1, 1, 2, 5)]:
        x = tf.constant(rng.random(shape, np.float32))
        ref = tf.nn.conv2d_transpose(x, kernel, [shape[0], s * shape[1], s * shape[2], 4], s, "SAME").numpy()
        out = lowering.phase_conv_transpose(x, kernel, s).numpy()
        assert out.shape == ref.shape
        assert np.abs(out - ref).max() <= 1e-5 * np.abs(ref).max(), shape
    with pytest.raises(ValueError, match="without taps"):
        lowering.phase_conv_transpose(x, tf.zeros((2, 2, 4, 5)), 3)


def test_plan_takes_the_measured_transposed_convolutions_into_float_tflite_only():
    """Transposed convolutions whose kernel is a multiple of the stride, or with at most 4
    outputs, become phase convolutions in float TFLite files (measured faster there, slower
    in TensorFlow: BUILD_NOTES); a partly empty window with many outputs stays."""
    from pirm_enhance import layers

    inp = keras.Input((None, None, 3))
    h = keras.layers.Conv2D(8, 3, strides=2, padding="same")(inp)
    a = layers.ConvTransposeLike(8, 2, use_bias=False, name="up2")([h, inp])
    b = layers.ConvTransposeLike(8, 4, name="up4")([h, inp])
    c = layers.ConvTransposeLike(8, 3, name="up3_wide")([h, inp])
    d = layers.ConvTransposeLike(3, 3, name="up3_rgb")([h, inp])
    model = keras.Model(inp, [a, b, c, d])
    assert lowering.planned(model, "tflite") == {"up2": "phases", "up4": "phases", "up3_rgb": "phases"}
    # full int8 too (its TRANSPOSE_CONV runs outside XNNPACK), but no other rewrite there
    assert lowering.planned(model, "tflite_int8") == lowering.planned(model, "tflite")
    assert lowering.planned(model, "tf") == {} and lowering.planned(model, "tflite_int16x8") == {}
    x = np.random.default_rng(2).random((1, 11, 13, 3), np.float32)
    ref = [np.asarray(y) for y in model(x)]
    with lowering.split_kernels(model, "tflite"):
        out = [np.asarray(y) for y in model(x)]
    for r, o in zip(ref, out):
        assert r.shape == o.shape and r.shape[:3] == (1, 11, 13) and np.abs(r - o).max() <= 1e-5


@pytest.mark.parametrize("name", pe.list_models())
def test_every_architecture_keeps_its_function_and_is_restored(name):
    keras.utils.set_random_seed(0)
    model = tiny_model(name)
    x = np.random.default_rng(1).random((1, 37, 45, 3), np.float32)
    ref = np.asarray(model(x))
    for target in lowering.TARGETS:
        with lowering.split_kernels(model, target) as done:
            assert done == lowering.planned(model, target)
            out = np.asarray(model(x))
        assert np.abs(out - ref).max() <= 1e-5, (target, done)
        assert not any(key in vars(layer) for key in ("convolution_op", "graph_form", "transpose_op")
                       for layer in lowering._layers(model))
        assert np.array_equal(np.asarray(model(x)), ref)


def test_plan_picks_rgb_heads_and_tflite_rgb_inputs():
    """The rule measured in BUILD_NOTES: few outputs from a wide input (any graph),
    a large kernel on RGB input (TFLite only), nothing else."""
    inp = keras.Input((None, None, 3))
    a = keras.layers.Conv2D(16, 9, padding="same", name="rgb_in")(inp)
    b = keras.layers.Conv2D(16, 3, padding="same", name="small_rgb_in")(inp)
    c = keras.layers.Conv2D(32, 3, padding="same", name="wide")(keras.layers.Add()([a, b]))
    d = keras.layers.Conv2D(3, 9, padding="same", name="head")(c)
    e = keras.layers.Conv2D(3, 3, strides=2, padding="same", name="strided")(c)
    f = keras.layers.Conv2D(3, (7, 1), padding="same", name="column")(c)
    g = keras.layers.Conv2D(3, 3, padding="same", name="narrow_head")(keras.layers.Conv2D(8, 1)(inp))
    model = keras.Model(inp, [d, e, f, g])
    assert lowering.planned(model, "tf") == {"head": "output"}
    assert lowering.planned(model, "tflite") == {"head": "output", "rgb_in": "input"}
    assert lowering.planned(model, None) == {}
    with pytest.raises(ValueError):
        lowering.plan(model.get_layer("head"), "gpu")


def _conv_ops(tflite_path):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(model_path=str(tflite_path),
                              experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    return [op["op_name"] for op in interpreter._get_ops_details() if "CONV" in op["op_name"]]


def test_exports_take_the_rewrites_and_quantized_files_do_not(tmp_path):
    """SRCNN (9x9 3->64, 5x5 64->32, 5x5 32->3 head): the float TFLite file stacks the RGB input
    and the head's rows, the frozen graph only the head's; int8 and ``lowering="none"``
    keep the three layers; each file computes the Keras model's function."""
    from pirm_enhance.runners import indirection_bytes_per_pixel

    keras.utils.set_random_seed(0)
    model = pe.build_model("srcnn")
    plain = tmp_path / "plain.tflite"
    report = export(model, plain, format="tflite", lowering="none", measure_ram=False)
    assert report["lowered"] == {} and _conv_ops(plain) == ["CONV_2D"] * 3
    lowered = tmp_path / "lowered.tflite"
    report = export(model, lowered, format="tflite", measure_ram=False)  # checked against Keras
    assert report["lowered"] == {"conv1": "input", "conv3": "output"}
    # conv1: a depthwise 9x1 that stacks rows, a 1x9; conv2; conv3: a 1x5 to the row partial sums,
    # the depthwise 5x1 that moves them to their rows, the one-hot 1x1 that adds them
    assert sorted(_conv_ops(lowered)) == ["CONV_2D"] * 4 + ["DEPTHWISE_CONV_2D"] * 2
    # XNNPACK's pointers per pixel (9x9, 5x5, 5x5): 81 + 25 + 25 taps before, 9 + 9 + 25 + 5 + 5 + 1
    # after (the adder's 1x1 keeps one)
    assert indirection_bytes_per_pixel(plain) == 8 * (81 + 25 + 25)
    assert indirection_bytes_per_pixel(lowered) == 8 * (9 + 9 + 25 + 5 + 5 + 1)
    report = export(model, tmp_path / "g.pb", format="pb", measure_ram=False)
    assert report["lowered"] == {"conv3": "output"}
    graph = tf.compat.v1.GraphDef.FromString((tmp_path / "g.pb").read_bytes())
    assert sum(node.op == "Conv2D" for node in graph.node) == 4  # the head: partial sums, adder
    report = export(model, tmp_path / "q.tflite", format="tflite", quantization="int8", measure_ram=False,
                    allow_rule_violations=True, calibration_images=None)
    assert report["lowered"] == {}


def test_an_unknown_lowering_is_a_usage_error(tmp_path):
    from pirm_enhance.errors import UsageError

    with pytest.raises(UsageError, match="lowering"):
        export(pe.build_model("srcnn"), tmp_path / "x.pb", lowering="fast")
    assert not (tmp_path / "x.pb").exists()


def test_instance_norms_take_the_batch_norm_form_in_float_graphs_only(tmp_path):
    """The PPCN student's two instance norms in every float export (one FusedBatchNormV3 and
    one SquaredDifference each in the frozen graph), not in int16x8 TFLite nor for a batch; the
    same function as the layer, with statistics of every magnitude (a channel mean far above
    its deviation, as the student's norms see)."""
    from pirm_enhance.layers import InstanceNorm

    keras.utils.set_random_seed(0)
    model = pe.build_model("ppcn_student")
    for target in ("tf", "tflite"):
        assert lowering.planned(model, target) == {"norm0": "batch_norm", "norm1": "batch_norm"}
    norm = InstanceNorm(epsilon=1e-3)
    rng = np.random.default_rng(3)
    offsets = np.array([0.0, 1.0, -40.0, 300.0], np.float32)
    spreads = np.array([1.0, 0.05, 0.002, 3.0], np.float32)
    x = (offsets + spreads * rng.standard_normal((1, 29, 41, 4))).astype(np.float32)
    norm.build(x.shape)
    norm.scale.assign(rng.random(4).astype(np.float32) + 0.5)
    norm.shift.assign(rng.random(4).astype(np.float32))
    ref = np.asarray(norm(x))
    norm.graph_form = "batch_norm"
    out = np.asarray(tf.function(norm)(x))
    batch = np.concatenate([x, x[:, ::-1]])
    assert np.abs(out - ref).max() <= 1e-4
    assert np.abs(np.asarray(norm(batch))[:1] - ref).max() <= 1e-6  # a batch keeps the layer as written
    export(model, tmp_path / "s.pb", format="pb", measure_ram=False)
    ops = [node.op for node in tf.compat.v1.GraphDef.FromString((tmp_path / "s.pb").read_bytes()).node]
    assert ops.count("FusedBatchNormV3") == 2 and ops.count("SquaredDifference") == 2
    for fmt, suffix in (("onnx", "onnx"), ("tflite", "tflite")):  # each checked against Keras by the exporter
        report = export(model, tmp_path / f"s.{suffix}", format=fmt, measure_ram=False)
        assert report["lowered"] == {"norm0": "batch_norm", "norm1": "batch_norm"}
    from pirm_enhance.data.io import write_png

    write_png(tmp_path / "c.png", rng.random((48, 48, 3)).astype(np.float32))
    report = export(model, tmp_path / "q.tflite", format="tflite", quantization="int16x8", measure_ram=False,
                    allow_rule_violations=True, calibration_images=[tmp_path / "c.png"])
    assert report["lowered"] == {"norm0": "float_statistics", "norm1": "float_statistics"}
    assert report["float_ops"] == {"ADD_N": 4, "DIV": 2, "SQRT": 2}  # and nothing else in float
    assert "graph_form" not in vars(model.get_layer("norm0"))


def test_int16x8_instance_norms_divide_in_float_and_keep_the_function(tmp_path):
    """In an int16x8 file each instance norm's standard deviation and the division by it run
    in float (ADD_N, SQRT, DIV; no int16 RSQRT), the convolutions in int16; the float
    form is the layer's function in Keras, and on a crop whose statistics lie far outside
    the calibration's (one flat, one busy channel) the file stays closer to float than the
    layer as written."""
    from pirm_enhance.exporters.writers import op_output_types, tflite_bytes
    from pirm_enhance.layers import InstanceNorm

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(5)
    norm = InstanceNorm(epsilon=1e-3)
    x = (np.array([0.5, -2.0, 30.0], np.float32)
         + np.array([1.0, 0.01, 4.0], np.float32) * rng.standard_normal((1, 23, 31, 3))).astype(np.float32)
    norm.build(x.shape)
    ref = np.asarray(norm(x))
    norm.graph_form = "float_statistics"
    assert np.abs(np.asarray(tf.function(norm)(x)) - ref).max() <= 1e-5
    assert np.abs(np.asarray(tf.function(norm)(np.concatenate([x, x[:, ::-1]])))[:1] - ref).max() <= 1e-5

    inp = keras.Input((None, None, 3))
    h = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inp)
    h = InstanceNorm(name="norm")(h)
    model = keras.Model(inp, keras.layers.Conv2D(3, 3, padding="same", name="head")(h))
    calibration = [rng.random((32, 32, 3)).astype(np.float32) for _ in range(4)]
    data = tflite_bytes(model, "int16x8", calibration)
    ops = [(op, np.dtype(dtype).name) for op, dtype in op_output_types(data)]
    assert ("DIV", "float32") in ops and ("SQRT", "float32") in ops and ("RSQRT", "int16") not in ops
    assert [dtype for op, dtype in ops if op == "CONV_2D"] == ["int16", "int16"]
    # a nearly flat crop: calibrated on busy ones, its inverse deviation is far outside the
    # int16 range of the layer as written
    crop = (0.5 + 0.003 * rng.standard_normal((1, 40, 40, 3))).astype(np.float32)
    float_out = np.asarray(model(crop))
    errors = {}
    for lowering in ("auto", "none"):
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_content=tflite_bytes(model, "int16x8", calibration, lowering=lowering))
        index = interpreter.get_input_details()[0]["index"]
        interpreter.resize_tensor_input(index, crop.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(index, crop)
        interpreter.invoke()
        errors[lowering] = np.abs(interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
                                  - float_out).max() / np.abs(float_out).max()
    assert errors["auto"] < 0.75 * errors["none"], errors  # measured: 0.35 against 0.74


def _op_names(tflite_path):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(model_path=str(tflite_path),
                              experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    return {op["op_name"] for op in interpreter._get_ops_details()}


def test_tflite_files_compute_transposed_convolutions_by_phases_and_graphs_keep_them(tmp_path):
    """EdS (tiny): float and full-int8 TFLite files have no TRANSPOSE_CONV but DEPTH_TO_SPACE,
    the frozen graph keeps the op, ``lowering="none"`` keeps it in TFLite; each file is checked
    against the Keras model by the exporter."""
    keras.utils.set_random_seed(0)
    model = tiny_model("eds")
    phased = {name for name, how in lowering.planned(model, "tflite").items() if how == "phases"}
    assert len(phased) == 2
    for quantization in ("float32", "int8"):
        path = tmp_path / f"{quantization}.tflite"
        report = export(model, path, format="tflite", quantization=quantization, measure_ram=False,
                        allow_rule_violations=True)
        assert phased <= set(report["lowered"]), quantization
        ops = _op_names(path)
        assert "TRANSPOSE_CONV" not in ops and "DEPTH_TO_SPACE" in ops, (quantization, ops)
    export(model, tmp_path / "plain.tflite", format="tflite", lowering="none", measure_ram=False)
    assert "TRANSPOSE_CONV" in _op_names(tmp_path / "plain.tflite")
    export(model, tmp_path / "g.pb", format="pb", measure_ram=False)
    graph = tf.compat.v1.GraphDef.FromString((tmp_path / "g.pb").read_bytes())
    assert sum(node.op == "Conv2DBackpropInput" for node in graph.node) == 2
