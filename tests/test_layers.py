"""Shared layers against the TensorFlow ops that the 2018 code used."""

import numpy as np
import pytest
import tensorflow as tf

from pirm_enhance import layers


def test_instance_norm_is_dped_formula(rng):
    x = rng.normal(2, 3, (2, 13, 17, 5)).astype("float32")
    layer = layers.InstanceNorm()
    layer.build(x.shape)
    layer.shift.assign(rng.normal(size=5).astype("float32"))
    layer.scale.assign(rng.normal(size=5).astype("float32"))
    mu, var = tf.nn.moments(tf.constant(x), [1, 2], keepdims=True)
    want = layer.scale.numpy() * (x - mu) / (var + 1e-3) ** 0.5 + layer.shift.numpy()
    np.testing.assert_allclose(np.asarray(layer(x)), want, atol=2e-5)


def test_adjust_contrast_equals_tf_image(rng):
    x = rng.random((2, 11, 9, 3), dtype=np.float32)
    want = tf.image.adjust_contrast(x, 1.2).numpy()
    np.testing.assert_allclose(np.asarray(layers.AdjustContrast(1.2)(x)), want, atol=1e-6)


@pytest.mark.parametrize("kernel", [4, 2])
@pytest.mark.parametrize("size", [(37, 91), (50, 50), (1, 3)])
def test_conv_transpose_like_equals_tf1_output_shape_call(kernel, size, rng):
    h, w = size
    ref = np.zeros((1, h, w, 5), np.float32)
    small = (1, -(-h // 2), -(-w // 2), 6)
    x = rng.normal(size=small).astype("float32")
    layer = layers.ConvTransposeLike(4, kernel, use_bias=True)
    y = np.asarray(layer([x, ref]))
    layer.bias.assign(rng.normal(size=4).astype("float32"))
    y = np.asarray(layer([x, ref]))
    want = tf.nn.conv2d_transpose(x, layer.kernel.numpy(), output_shape=[1, h, w, 4],
                                  strides=2, padding="SAME").numpy() + layer.bias.numpy()
    assert y.shape == want.shape
    np.testing.assert_allclose(y, want, atol=1e-5)


def test_broadcast_to_spatial(rng):
    v = rng.normal(size=(2, 4)).astype("float32")
    ref = np.zeros((2, 5, 7, 1), np.float32)
    y = np.asarray(layers.BroadcastToSpatial()([v, ref]))
    assert y.shape == (2, 5, 7, 4)
    np.testing.assert_array_equal(y[:, 3, 6], v)


@pytest.mark.parametrize("multiple", [2, 4, 8])
@pytest.mark.parametrize("size", [(1, 1), (3, 5), (37, 91), (40, 40)])
def test_pad_to_multiple_is_numpy_symmetric_and_crop_undoes_it(multiple, size, rng):
    h, w = size
    x = rng.random((1, h, w, 3), dtype=np.float32)
    y = np.asarray(layers.PadToMultiple(multiple)(x))
    hh, ww = -(-h // multiple) * multiple, -(-w // multiple) * multiple
    np.testing.assert_array_equal(y, np.pad(x, ((0, 0), (0, hh - h), (0, ww - w), (0, 0)), mode="symmetric"))
    np.testing.assert_array_equal(np.asarray(layers.CropLike(anchor="top_left")([y, x])), x)


def _run_tflite(model, image, **interpreter_kwargs):
    """``(output, interpreter)`` of ``model`` converted to TFLite, run on ``image``."""
    from ai_edge_litert.interpreter import Interpreter

    from pirm_enhance.exporters.writers import tflite_bytes

    interpreter = Interpreter(model_content=tflite_bytes(model), **interpreter_kwargs)
    interpreter.resize_tensor_input(0, image.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], image)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"]), interpreter


def test_pad_to_multiple_runs_in_tflite_with_a_resized_input(rng):
    import keras

    inp = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(4, 3, padding="same")(layers.PadToMultiple(4)(inp))
    x = keras.layers.Conv2D(3, 3, strides=4)(x)
    model = keras.Model(inp, keras.layers.UpSampling2D(4)(x))
    model = keras.Model(inp, layers.CropLike(anchor="top_left")([model.output, inp]))
    image = rng.random((1, 37, 91, 3), dtype=np.float32)
    got, _ = _run_tflite(model, image)
    np.testing.assert_allclose(got, np.asarray(model(image)), atol=1e-5)


def test_image_wide_means_stay_exact_in_tflite_at_720p(rng):
    """One float32 MEAN over 921,600 values is summed sequentially by LiteRT and was
    off by ~1e-3, which the instance norm behind the contrast layer turned into errors
    of 0.087 on PPCN at 720p; the two-step mean (:func:`layers.spatial_mean`) is exact."""
    import keras

    inp = keras.Input((None, None, 3))
    x = layers.AdjustContrast(1.2)(inp)
    model = keras.Model(inp, layers.InstanceNorm()(x + 40.0))  # a large mean, a small variance
    image = rng.random((1, 720, 1280, 3), dtype=np.float32)
    got, _ = _run_tflite(model, image)
    x64 = image.astype(np.float64)
    contrasted = x64 * 1.2 - 0.2 * x64.mean((1, 2), keepdims=True) + 40.0  # float64 reference
    want = (contrasted - contrasted.mean((1, 2), keepdims=True)) / np.sqrt(contrasted.var((1, 2), keepdims=True) + 1e-3)
    np.testing.assert_allclose(got, want, atol=2e-3)
    np.testing.assert_allclose(got, np.asarray(model(image)), atol=2e-3)


def test_dilated_conv_is_one_tflite_conv_and_matches_keras_conv2d(rng):
    import keras
    from ai_edge_litert.interpreter import OpResolverType

    inp = keras.Input((None, None, 3))
    layer = layers.conv(4, (1, 7), "dilated", dilation_rate=2)
    model = keras.Model(inp, layer(inp))
    assert isinstance(layer, layers.DilatedConv2D)
    plain = keras.layers.Conv2D(4, (1, 7), padding="same", dilation_rate=2)
    plain.build((None, None, None, 3))
    plain.set_weights(layer.get_weights())
    image = rng.random((1, 37, 51, 3), dtype=np.float32)
    np.testing.assert_allclose(np.asarray(model(image)), np.asarray(plain(image)), atol=1e-6)
    with layers.direct_dilations():
        np.testing.assert_allclose(np.asarray(model(image)), np.asarray(plain(image)), atol=1e-5)
    # outside the exporters it trains: TensorFlow's CPU Conv2D has no dilated gradient
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model(tf.constant(image)) ** 2)
    grads = tape.gradient(loss, model.trainable_weights)
    assert all(g is not None and np.isfinite(g.numpy()).all() for g in grads)
    got, interpreter = _run_tflite(model, image,
                                   experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    assert [op["op_name"] for op in interpreter._get_ops_details()] == ["CONV_2D"]  # no SPACE_TO_BATCH_ND
    np.testing.assert_allclose(got, np.asarray(model(image)), atol=1e-5)
