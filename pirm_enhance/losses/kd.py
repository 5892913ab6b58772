"""PPCN knowledge-distillation loss (Hui et al., ECCV 2018 workshops)."""

import tensorflow as tf


def kd_loss(student_features, teacher_features):
    """Distance between the channel-mean feature maps of student and teacher:
    ``|| a_s / ||a_s|| - a_t / ||a_t|| ||_2`` per image with ``a = mean_c(F)``
    flattened over H, W; batch mean. Channel counts may differ (8 vs 16); the
    teacher side carries no gradient."""
    s = tf.reduce_mean(tf.convert_to_tensor(student_features, tf.float32), axis=-1)
    t = tf.stop_gradient(tf.reduce_mean(tf.convert_to_tensor(teacher_features, tf.float32), axis=-1))
    s = tf.math.l2_normalize(tf.reshape(s, [tf.shape(s)[0], -1]), axis=1)
    t = tf.math.l2_normalize(tf.reshape(t, [tf.shape(t)[0], -1]), axis=1)
    return tf.reduce_mean(tf.norm(s - t, axis=1))
