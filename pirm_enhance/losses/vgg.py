"""VGG-19 features for the content and contextual losses.

Layers are named as in the 2018 code (``conv1_1``, ``relu1_1``, ... ``relu5_4``)
and inputs are preprocessed as there: ``RGB * 255 - [123.68, 116.779, 103.939]``.
Weights come from

* ``weights="imagenet"``: ``keras.applications.VGG19`` (downloads when online;
  its first kernel is flipped from BGR to RGB input),
* a path to MatConvNet's ``imagenet-vgg-verydeep-19.mat`` (the file every 2018
  repository asked for; layers mapped by name, kernels transposed (1, 0, 2, 3)
  as the DPED code did),
* ``weights=None`` or ``"random"``: random weights (Keras' default Glorot
  init), for tests; a warning says so. ``"random:he_normal"`` (any Keras
  initializer name) draws them otherwise: Glorot features shrink by about 2x
  per layer, so with ``relu5_4`` the content term is nearly zero, while He
  init keeps the feature scale of the input.
"""

import logging
import pathlib

import keras
import numpy as np
import tensorflow as tf

from pirm_enhance.errors import ModelFileError, UnknownName, WeightsUnavailable, first_line

MEAN_RGB = np.array([123.68, 116.779, 103.939], np.float32)
BLOCKS = ((1, 2, 64), (2, 2, 128), (3, 4, 256), (4, 4, 512), (5, 4, 512))
log = logging.getLogger(__name__)


def _conv_names():
    return [f"conv{b}_{i}" for b, n, _ in BLOCKS for i in range(1, n + 1)]


class VGG19Features:
    """Callable ``images [B, H, W, 3] in [0, 1] -> {layer: features}`` for the named layers."""

    def __init__(self, layers=("relu5_4",), weights=None):
        self.layers = tuple(layers)
        init = "glorot_uniform"
        if isinstance(weights, str) and weights.startswith("random"):
            init = weights.partition(":")[2] or init
            weights = None
        x = inputs = keras.Input((None, None, 3))
        outputs = {}
        for block, count, filters in BLOCKS:
            for i in range(1, count + 1):
                x = keras.layers.Conv2D(filters, 3, padding="same", kernel_initializer=init,
                                        name=f"conv{block}_{i}")(x)
                outputs[f"conv{block}_{i}"] = x
                x = keras.layers.ReLU(name=f"relu{block}_{i}")(x)
                outputs[f"relu{block}_{i}"] = x
            if block < 5:
                x = keras.layers.MaxPooling2D(2, name=f"pool{block}")(x)
            outputs[f"pool{block}"] = x
        unknown = [name for name in self.layers if name not in outputs]
        if unknown:
            raise UnknownName(f"unknown VGG-19 layer(s) {unknown}; choose from {sorted(outputs)}")
        self.model = keras.Model(inputs, {name: outputs[name] for name in self.layers}, name="vgg19_features")
        self.model.trainable = False
        self.source = self._load(weights)

    def _built_convs(self):
        """The convolutions the model holds, in order: those up to the deepest layer asked for
        (PPCN's contextual loss reads conv4_2, so the model stops there, while a weights file
        holds all sixteen)."""
        built = {layer.name for layer in self.model.layers}
        return [name for name in _conv_names() if name in built]

    def _load(self, weights):
        if weights is None:
            log.warning("VGG-19 has RANDOM weights (%s init): content/contextual losses "
                        "are then only useful for tests", self.model.get_layer("conv1_1").kernel_initializer
                        .__class__.__name__)
            return "random"
        if weights == "imagenet":
            try:
                reference = keras.applications.VGG19(include_top=False, weights="imagenet")
            except Exception as err:  # offline: urllib/HTTP errors of many types
                raise WeightsUnavailable(
                    f"the ImageNet VGG-19 weights could not be downloaded ({first_line(err)}); offline, pass "
                    "--vgg PATH to imagenet-vgg-verydeep-19.mat (MatConvNet, as DPED used) or --vgg random "
                    "(tests only)") from None
            convs = [l for l in reference.layers if isinstance(l, keras.layers.Conv2D)]
            for name, layer in zip(self._built_convs(), convs):
                kernel, bias = layer.get_weights()
                if name == "conv1_1":
                    kernel = kernel[:, :, ::-1, :]  # keras weights expect BGR input
                self.model.get_layer(name).set_weights([kernel, bias])
            return "imagenet (keras.applications)"
        return self._load_matconvnet(weights)

    def _load_matconvnet(self, path):
        from scipy import io

        if not pathlib.Path(path).is_file():
            raise ModelFileError(f"{path}: no such file; --vgg takes imagenet, a path to "
                                 "imagenet-vgg-verydeep-19.mat, or random")
        try:
            data = io.loadmat(str(path))
        except Exception as err:  # scipy raises several types for a file that is not a .mat
            raise ModelFileError(f"{path}: not a MatConvNet .mat file ({first_line(err)})") from None
        found = {}
        if "layers" not in data:
            raise ModelFileError(f"{path}: not the MatConvNet VGG-19 file (no 'layers' entry)")
        for entry in data["layers"][0]:
            layer = entry[0, 0]
            name = str(np.squeeze(layer["name"]))
            if name.startswith("conv"):
                kernel, bias = np.squeeze(layer["weights"])[0], np.squeeze(layer["weights"])[1]
                found[name] = (np.transpose(kernel, (1, 0, 2, 3)).astype(np.float32),
                               np.reshape(bias, -1).astype(np.float32))
        missing = [n for n in _conv_names() if n not in found]
        if missing:
            raise ModelFileError(f"{path}: not the MatConvNet VGG-19 file (missing {missing})")
        for name in self._built_convs():
            self.model.get_layer(name).set_weights(list(found[name]))
        return f"matconvnet ({path})"

    def __call__(self, images):
        x = tf.convert_to_tensor(images, tf.float32) * 255.0 - MEAN_RGB
        return self.model(x, training=False)


def content_loss(target, enhanced, vgg):
    """DPED content loss on VGG-19 features, averaged over ``vgg.layers``:
    ``2 * l2_loss(f(e) - f(t)) / (elements per image * batch)`` = mean squared
    feature difference (DPED: relu5_4; RSGUNet: mean of relu5_4, relu3_4, relu1_2).
    No gradient reaches the VGG weights (they are frozen)."""
    ft, fe = vgg(target), vgg(enhanced)
    terms = [tf.reduce_mean(tf.square(fe[name] - tf.stop_gradient(ft[name]))) for name in vgg.layers]
    return tf.add_n(terms) / len(terms)
