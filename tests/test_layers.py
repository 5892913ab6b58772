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
