"""Import TF1 checkpoints (the 2018 ``tf.train.Saver`` files) into zoo models.

Named variables map by name (``<scope>/W3`` -> layer ``conv3`` kernel); the
unnamed instance-norm variables ``<scope>/Variable_k`` map by construction
order (norm K owns ``Variable_2K`` = shift and ``Variable_2K+1`` = scale). Any
missing, extra or mis-shaped variable is an error: a partial import would give
a model that runs and quietly produces wrong pictures.

Code built with ``tf.layers`` named its variables by layer path
(``generator/res1/0/conv1/kernel``), not by a layer number: such an
architecture sets ``tf1_conv_names`` (a tuple; ``conv<N>`` is the TF1 layer
``tf1_conv_names[N]``) and formats with ``%s`` (``tf1_kernel = "%s/kernel"``).

A checkpoint in TF1's older V1 format is a single file ``<stem>.ckpt`` (no
``.index``); it is read from that file's path or from ``<stem>``.
"""

import os
import re

import numpy as np
import tensorflow as tf

from pirm_enhance import layers as zoo_layers


from pirm_enhance.errors import CheckpointMismatch  # noqa: E402  (re-exported)


def _unnamed(scope, index):
    return f"{scope}/Variable" if index == 0 else f"{scope}/Variable_{index}"


def _conv_name(model, fmt, n):
    """TF1 name of a variable of layer ``conv<n>`` (``fmt``: ``tf1_kernel`` or ``tf1_bias``)."""
    names = getattr(model, "tf1_conv_names", None)
    return f"{model.tf1_scope}/{fmt % (names[n] if names else n)}"


def tf1_layout(model):
    """``{tf1 name: keras variable}`` expected for ``model`` (a ZooModel)."""
    scope = model.tf1_scope
    layout = {}
    for layer in model.layers:
        conv = re.fullmatch(r"conv(\d+)", layer.name)
        norm = re.fullmatch(r"norm(\d+)", layer.name)
        if conv:
            n = int(conv.group(1))
            layout[_conv_name(model, model.tf1_kernel, n)] = layer.kernel
            if layer.bias is not None:
                layout[_conv_name(model, model.tf1_bias, n)] = layer.bias
        elif norm and isinstance(layer, zoo_layers.InstanceNorm):
            k = int(norm.group(1))
            layout[_unnamed(scope, 2 * k)] = layer.shift
            layout[_unnamed(scope, 2 * k + 1)] = layer.scale
        elif layer.weights:
            raise CheckpointMismatch(
                f"layer {layer.name!r} of {model.name} has weights but no TF1 name; "
                "this architecture has no TF1 checkpoint layout")
    return layout


def _bias_broadcast(model, name):
    for n, shape in getattr(model, "tf1_broadcast_bias", {}).items():
        if name == _conv_name(model, model.tf1_bias, n):
            return tuple(shape)
    return None


def load_tf1_checkpoint(model, prefix):
    """Assign the variables of TF1 checkpoint ``prefix`` to ``model``; returns ``model``.

    ``prefix`` is what ``tf.train.Saver.save`` returned (``.../name.ckpt``), or a
    path to its ``.index`` file. Optimizer slots (``.../Adam``) and the global
    step are ignored; every other variable must match the architecture.
    """
    prefix = re.sub(r"\.(index|data-\d+-of-\d+)$", "", str(prefix))
    if not os.path.exists(prefix + ".index") and os.path.isfile(prefix + ".ckpt"):
        prefix += ".ckpt"  # V1 format: one file, which TF reads by its full name
    try:
        reader = tf.train.load_checkpoint(prefix)
    except Exception as err:  # tf raises several types for unreadable files
        raise CheckpointMismatch(f"cannot read TF1 checkpoint {prefix!r}: {err}".splitlines()[0]) from None
    shapes = {k: tuple(v) for k, v in reader.get_variable_to_shape_map().items()
              if not re.search(r"(/Adam(_\d+)?$|beta[12]_power|global_step)", k)}
    layout = tf1_layout(model)
    in_scope = {k for k in shapes if k.startswith(model.tf1_scope + "/")}
    missing = sorted(set(layout) - in_scope)
    extra = sorted(in_scope - set(layout))
    if not in_scope:
        scopes = sorted({k.split("/")[0] for k in shapes})
        raise CheckpointMismatch(
            f"{prefix}: no variables under {model.tf1_scope!r} (found scopes {scopes}); "
            f"is this a checkpoint of {model.name}?")
    if missing or extra:
        raise CheckpointMismatch(
            f"{prefix} does not match {model.name}: missing {missing or 'none'}, "
            f"unexpected {extra or 'none'}")
    values = {}
    for name, variable in layout.items():
        value = reader.get_tensor(name)
        want = tuple(variable.shape)
        if value.shape != want:
            if _bias_broadcast(model, name) == value.shape:
                value = np.broadcast_to(value, want)
            else:
                raise CheckpointMismatch(
                    f"{prefix}: {name} has shape {list(value.shape)}, {model.name} needs {list(want)}")
        values[name] = value
    for name, variable in layout.items():
        variable.assign(values[name].astype(np.float32))
    return model
