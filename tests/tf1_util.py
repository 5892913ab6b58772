"""Write TF1-style checkpoints (tf.compat.v1 variables + Saver) for tests."""

import tensorflow as tf


def save_tf1_checkpoint(prefix, variables):
    """Save ``{name: ndarray}`` the way 2018 code did (graph mode, tf.compat.v1.train.Saver)."""
    graph = tf.Graph()
    with graph.as_default():
        tf_vars = [tf.compat.v1.Variable(v, name=k) for k, v in variables.items()]
        saver = tf.compat.v1.train.Saver(tf_vars)
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            return saver.save(sess, str(prefix))
