"""Contextual loss (Mechrez, Talmi and Zelnik-Manor, "The Contextual Loss for
Image Transformation with Non-Aligned Data", ECCV 2018), as PPCN used it on
VGG-19 conv4_2 features."""

import tensorflow as tf


def contextual_loss(target_features, enhanced_features, h=0.5, max_positions=65 * 65,
                    eps=1e-5, seed=None):
    """``-log(CX(X, Y))`` per image, batch mean.

    Features ``[B, H, W, C]``; when ``H*W > max_positions`` the same random
    ``max_positions`` positions are sampled from both (PPCN: at most 65x65).
    Both sets are centred on the target's mean feature, L2-normalised per
    position; ``d_ij = 1 - cos(x_i, y_j)``; relative distances
    ``d~_ij = d_ij / (min_k d_ik + eps)``; ``w_ij = exp((1 - d~_ij) / h)``;
    ``cx_ij = w_ij / sum_k w_ik``; ``CX = mean_j max_i cx_ij``.
    """
    y = tf.convert_to_tensor(target_features, tf.float32)
    x = tf.convert_to_tensor(enhanced_features, tf.float32)
    height, width = x.shape[1], x.shape[2]
    static_n = height * width if height is not None and width is not None else None
    channels = tf.shape(x)[-1]
    y = tf.reshape(y, [tf.shape(y)[0], -1, channels])
    x = tf.reshape(x, [tf.shape(x)[0], -1, channels])
    if static_n is None or static_n > max_positions:
        # a random subset, the same for both sets; argsort of random keys instead of
        # tf.random.shuffle so that the loss also compiles with XLA (jit_compile).
        # Permuting both sets alike leaves CX unchanged, so small maps need no branch.
        n = tf.shape(x)[1]
        if seed is None:
            keys = tf.random.uniform([n])
        else:
            keys = tf.random.stateless_uniform([n], seed=seed, alg="philox")
        idx = tf.argsort(keys)[:max_positions]
        x = tf.gather(x, idx, axis=1)
        y = tf.gather(y, idx, axis=1)
    mu = tf.reduce_mean(y, axis=1, keepdims=True)
    x = tf.math.l2_normalize(x - mu, axis=-1)
    y = tf.math.l2_normalize(y - mu, axis=-1)
    d = 1.0 - tf.matmul(x, y, transpose_b=True)  # [B, Nx, Ny]
    d_rel = d / (tf.reduce_min(d, axis=2, keepdims=True) + eps)
    w = tf.exp((1.0 - d_rel) / h)
    cx = w / tf.reduce_sum(w, axis=2, keepdims=True)
    cx_score = tf.reduce_mean(tf.reduce_max(cx, axis=1), axis=1)
    return tf.reduce_mean(-tf.math.log(cx_score + eps))
