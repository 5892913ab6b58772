"""A Keras model as a constants-only TF graph: the frozen ``input -> output`` function.

Below both the exporters (which write it as ``.pb``, TFLite or ONNX) and the
scorer (which runs the SRCNN baseline as a frozen graph, as the organisers did).
"""

import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

INPUT_SPEC = tf.TensorSpec([1, None, None, 3], tf.float32, name="input")


def input_spec(input_size=None):
    """The graph input: any size (``None``, the challenge's ``[1, None, None, 3]``) or a
    fixed ``(height, width)`` (what a phone app feeds; LiteRT plans such a graph once)."""
    if input_size is None:
        return INPUT_SPEC
    height, width = (int(v) for v in input_size)
    return tf.TensorSpec([1, height, width, 3], tf.float32, name="input")


def frozen_function(model, clip=False, input_size=None, lowering=None, explicit_padding=False, forward=None):
    """The model as a constants-only concrete function ``input -> output``.

    ``lowering``: ``None`` (the layers as written), ``"tf"`` or ``"tflite"``: the large
    convolutions rewritten for that runtime (:mod:`pirm_enhance.lowering`; same function
    to float rounding). ``explicit_padding``: dilated convolutions with their SAME padding
    written out (for ONNX Runtime; :func:`pirm_enhance.layers.direct_dilations`).
    ``forward``: a callable ``x -> y`` traced in place of ``model(x, training=False)``
    (the full-int8 export's fake-quantized pass, :func:`pirm_enhance.quantize.int8_forward`)."""

    @tf.function(input_signature=[input_spec(input_size)])
    def serve(x):
        y = forward(x) if forward is not None else model(x, training=False)
        if clip:
            y = tf.clip_by_value(y, 0.0, 1.0)
        return tf.identity(y, name="output")

    from pirm_enhance.layers import direct_dilations
    from pirm_enhance.lowering import split_kernels

    # one CONV_2D per dilated convolution in every exported graph
    with direct_dilations(explicit_padding), split_kernels(model, lowering):
        concrete = serve.get_concrete_function()
    return convert_variables_to_constants_v2(concrete)


def frozen_graph_def(model, clip=False, input_size=None, lowering=None, explicit_padding=False):
    """A TF1 GraphDef with placeholder ``input`` ([1, None, None, 3] float32, or a fixed
    ``input_size``) and ``output``, constants only: what the organisers loaded with
    ``import_graph_def``. ``lowering`` as in :func:`frozen_function` (the default, the
    layers as written, is what the SRCNN baseline and the field's timings use)."""
    graph_def = frozen_function(model, clip, input_size, lowering, explicit_padding).graph.as_graph_def()
    names = {node.name for node in graph_def.node}
    if "input" not in names or "output" not in names:
        raise RuntimeError(f"frozen graph lacks input/output nodes (has {sorted(names)[:10]} ...)")
    return graph_def
