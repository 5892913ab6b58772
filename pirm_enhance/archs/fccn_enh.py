"""IV SR+'s Fast Clique Convolutional Network (FCCN) applied to enhancement.

Reconstructed from the PIRM 2018 challenge report (Ignatov et al., ECCVW 2018),
section 5.6 "IV SR+" and figure 8, and from the clique block of Yang, Zhong,
Shen, Lin, "Convolutional Neural Networks with Alternately Updated Clique"
(CliqueNet, CVPR 2018), github.com/iboing/CliqueNet at commit
3404cd1aa6ab48501a26320d1957113a1c181f5b (``imagenet_pytorch/utils.py``,
``clique_block``). Facts used, not code. No paper or code of FCCN itself was
found.

What the report fixes: feature extraction by two convolutions with 32 and 20
kernels; fast clique blocks (FCB), each one input convolution and four
bidirectionally, densely connected layers built from depthwise and pointwise
convolutions; two deconvolution layers at the end (which up-sample in the
super-resolution version; here, at scale 1, they keep the size).

What is taken from CliqueNet's clique block: layers X1..X4 are updated in two
stages with one set of weights. Stage I (dense, forward only):
``X_i = f(sum_{l<i} W_li * X_l)`` with X0 the block input layer. Stage II (the
alternate update, each layer from the latest values of all the others):
``X_i' = f(sum_{l<i} W_li * X_l' + sum_{m>i} W_mi * X_m)``; ``W_li`` is the same
weight in both stages (CliqueNet's ``conv_param[l * (L + 1) + i]``), as is each
layer's 3x3 convolution (``conv_param_bottle``); X0 feeds Stage I only, and the
Stage-II features are the block's output.

Layer list (growth g per clique layer, ``blocks`` FCBs, 20 features):

* conv 3x3 3 -> 32, ReLU; conv 3x3 32 -> 20, ReLU (feature extraction);
* ``blocks`` x FCB: input conv 3x3 20 -> g, ReLU (X0); four clique layers, each
  ``ReLU(depthwise3x3_i(sum_l pointwise_li(X_l)))`` (the pointwise convolutions
  are the clique weights W_li, shared by the two stages; the depthwise one is
  layer i's, shared too), Stage I then Stage II; concat(X1'..X4') -> conv 1x1
  4g -> 20; + the block input;
* "deconvolution" 3x3 20 -> 20, ReLU; "deconvolution" 3x3 20 -> 3: at scale 1 a
  stride-1 transposed convolution with 'same' padding is a convolution with the
  kernel flipped, so both are ordinary 3x3 convolutions here;
* output ``clip(x + residual, 0, 1)``.

Choices the report leaves open, and what this port does:

* number of FCBs and growth: 2 blocks of g = 16, chosen for the cost: 32,652
  MAC/pixel at 1280x720, a MAC ratio of 2.12 to SRCNN's 69,152 against the
  report's Track B CPU-time ratio 3274 / 1375 = 2.38 (0.89x); 28,703 parameters;
* the order inside a fast clique layer: pointwise (the shared clique weights)
  then depthwise 3x3 (CliqueNet's per-layer 3x3 made depthwise, as in
  MobileNet's separable convolution, the report's second inspiration); one ReLU
  after the depthwise convolution; no batch normalisation (CliqueNet's BNs are
  left out, as super-resolution networks usually do);
* the FCB output: 1x1 fusion of the Stage-II features back to 20 channels plus a
  residual connection (CliqueNet uses a transition instead, for classification);
* the deconvolution widths (20 and 3) and kernel size 3;
* the output: a global residual, clipped to [0, 1] (``output_range = (0, 1)``);
* initialisation: Keras defaults (Glorot uniform, zero biases).

Measured cost (pirm-bench, frozen .pb, 1280x720, median of 3 rounds interleaved with the
organisers' SRCNN graph at 1269 ms; 2-core CPU, TF 2.21): 3294 ms, SRCNN / fccn_enh =
0.39 against the report's 3274 / 1375 = 2.38: off by a factor 6.18, explained as
follows. The network's floating-point work, 61.0 GFLOP (TensorFlow's profiler), puts it
at 2.09x cheaper than SRCNN's 127.6, near the report's ratio, as chosen above; but this
CPU runs its layers at 19 GFLOP/s against 101 for SRCNN's 64-channel 9x9/5x5
convolutions (thin layers, 1x1 and depthwise convolutions and memory-bound
concatenations get less out of oneDNN than wide ones). The 2018 times came from another
CPU and TensorFlow 1.x, whose per-layer efficiency cannot be measured here, so the
widths stay at the cost the report implies by work rather than being tuned to this
machine.
"""

import keras

from pirm_enhance import layers
from pirm_enhance.archs.base import ZooModel, image_input
from pirm_enhance.registry import register_arch

CLIQUE_LAYERS = 4


def fast_clique_block(x, growth, features, prefix, layers_per_block=CLIQUE_LAYERS):
    """One FCB on ``x``; returns a tensor with ``features`` channels (see the module doc)."""
    n = layers_per_block
    x0 = layers.conv(growth, 3, f"{prefix}_input", activation="relu", init="keras")(x)
    # clique weights W_li (pointwise, no bias), l in 0..n, i in 1..n, l != i; shared by both stages
    pointwise = {(l, i): keras.layers.Conv2D(growth, 1, use_bias=False, name=f"{prefix}_w{l}{i}")
                 for i in range(1, n + 1) for l in range(n + 1) if l != i}
    depthwise = {i: keras.layers.DepthwiseConv2D(3, padding="same", name=f"{prefix}_dw{i}")
                 for i in range(1, n + 1)}

    def update(i, sources):
        terms = [pointwise[(l, i)](t) for l, t in sources]
        s = terms[0] if len(terms) == 1 else keras.layers.Add()(terms)
        return keras.layers.ReLU()(depthwise[i](s))

    stage = {0: x0}
    for i in range(1, n + 1):  # Stage I: from X0 and the layers before
        stage[i] = update(i, [(l, stage[l]) for l in range(i)])
    for i in range(1, n + 1):  # Stage II: the latest value of every other layer (not X0)
        stage[i] = update(i, [(l, stage[l]) for l in range(1, n + 1) if l != i])
    y = keras.layers.Concatenate()([stage[i] for i in range(1, n + 1)])
    y = layers.conv(features, 1, f"{prefix}_fuse", init="keras")(y)
    return keras.layers.Add()([x, y])


@register_arch("fccn_enh")
@keras.saving.register_keras_serializable(package="pirm_enhance")
class FCCNEnh(ZooModel):
    """Feature extraction (32, 20), fast clique blocks, two stride-1 'deconvolutions'."""

    tf1_checkpoint = False
    output_range = (0.0, 1.0)
    tiny_config = {"blocks": 1, "growth": 4, "features": (8, 6)}
    kd_features = None

    def __init__(self, blocks=2, growth=16, features=(32, 20), name="fccn_enh", **kwargs):
        f1, f2 = features
        inputs = image_input()
        x = layers.conv(f1, 3, "extract1", activation="relu", init="keras")(inputs)
        x = layers.conv(f2, 3, "extract2", activation="relu", init="keras")(x)
        for b in range(blocks):
            x = fast_clique_block(x, growth, f2, f"fcb{b + 1}")
        x = layers.conv(f2, 3, "deconv1", activation="relu", init="keras")(x)
        x = layers.conv(3, 3, "deconv2", init="keras")(x)
        x = keras.layers.Add(name="global_residual")([inputs, x])
        outputs = keras.layers.ReLU(max_value=1.0, name="clip")(x)
        self._finish(inputs, outputs, name,
                     {"blocks": blocks, "growth": growth, "features": list(features)}, **kwargs)
