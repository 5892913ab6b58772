"""Test helpers: TF1-style checkpoints and frozen graphs, and a tiny PIRM-layout data folder."""

import numpy as np
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


def frozen_pb(path, body):
    """Write a frozen GraphDef ``input -> body(input) -> output`` (``body`` None: no output node)."""
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [1, None, None, 3], name="input")
        if body is not None:
            tf.identity(body(x), name="output")
    path.write_bytes(graph.as_graph_def().SerializeToString())
    return path


def tiny_pirm_data(root):
    """A PIRM-layout data folder: 3 patch pairs (the target a brighter phone patch) and
    4 small 'HD' images, enough for the scorer's whole protocol in seconds."""
    from PIL import Image

    from pirm_enhance.data.synthetic import synthetic_photo

    for sub, gain in (("iphone", 1.0), ("canon", 1.15)):
        folder = root / "dped" / "patches" / sub
        folder.mkdir(parents=True)
        for i in range(3):
            image = np.uint8(np.round(np.clip(synthetic_photo(100, 100, seed=i) * gain, 0, 1) * 255))
            Image.fromarray(image).save(folder / f"{i}.jpg")
    hd = root / "dped" / "HD_res"
    hd.mkdir(parents=True)
    for i in range(4):
        Image.fromarray(np.uint8(synthetic_photo(72, 128, seed=10 + i) * 255)).save(hd / f"{i}.png")
    return root
