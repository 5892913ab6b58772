"""Run as a script: one training update on two logical CPU devices (MirroredStrategy)
against the same update on one device. Prints a JSON line with the differences."""

import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
import tensorflow as tf  # noqa: E402

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402

import pirm_enhance as pe  # noqa: E402
from pirm_enhance.data.synthetic import synthetic_photo  # noqa: E402
from pirm_enhance.losses import VGG19Features  # noqa: E402
from pirm_enhance.training import EnhancerTrainer, recipe  # noqa: E402


def build(strategy, weights):
    with strategy.scope():
        keras.utils.set_random_seed(0)
        gen = pe.build_model("dped_resnet_12_64", blocks=1, channels=8)
        gen.set_weights(weights)
        keras.utils.set_random_seed(1)
        vgg = VGG19Features(["relu2_2"], weights=None)
        # texture draws per-replica swaps, so it is left out of this comparison
        rec = recipe("dped", texture=0.0, content_layers=("relu2_2",))
        trainer = EnhancerTrainer(gen, rec, vgg=vgg)
        trainer.compile(keras.optimizers.SGD(0.001))  # SGD: the update is proportional to the gradient
    return trainer


def main():
    keras.utils.set_random_seed(0)
    weights = pe.build_model("dped_resnet_12_64", blocks=1, channels=8).get_weights()
    phones = np.stack([synthetic_photo(32, 32, seed=i) for i in range(8)])
    targets = np.clip(phones * 1.2 - 0.05, 0, 1).astype("float32")
    batch = (tf.constant(phones), tf.constant(targets))

    single = build(tf.distribute.get_strategy(), weights)
    loss_single = {k: float(v) for k, v in tf.function(single.update)(batch).items()}

    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    multi = build(mirrored, weights)
    dist = iter(mirrored.experimental_distribute_dataset(tf.data.Dataset.from_tensors(batch)))

    @tf.function
    def step(iterator):
        out = mirrored.run(multi.update, args=(next(iterator),))
        return {k: mirrored.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None) for k, v in out.items()}

    loss_multi = {k: float(v) for k, v in step(dist).items()}
    w_diff = max(float(np.max(np.abs(a - b))) for a, b in
                 zip(single.generator.get_weights(), multi.generator.get_weights()))
    moved = max(float(np.max(np.abs(a - b))) for a, b in zip(weights, single.generator.get_weights()))
    print(json.dumps({"replicas": mirrored.num_replicas_in_sync, "loss_single": loss_single,
                      "loss_multi": loss_multi, "weight_diff": w_diff, "weight_moved": moved}))


if __name__ == "__main__":
    sys.exit(main())
