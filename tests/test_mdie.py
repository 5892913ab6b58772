"""MDIE (thesis 3.2): losses against hand-computed values, the label and mask-vector
conditioning, the intrinsic networks, the attribute domains, and the two recipes
(one update step, learning over 20 steps, resume).

The registry-wide tests (test_archs, test_export, test_gradients, ...) cover the zoo
model ``mdie`` itself."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

import pirm_enhance as pe
from pirm_enhance.archs.mdie import ALL_HIGH_QUALITY, MDIE, MDIEDiscriminator, domain_label
from pirm_enhance.data import domains
from pirm_enhance.data.io import write_png
from pirm_enhance.data.synthetic import synthetic_photo
from pirm_enhance.errors import UsageError
from pirm_enhance.losses import mdie as L
from pirm_enhance.training import recipe, train

LN2, LN3 = math.log(2.0), math.log(3.0)


def _close(value, expected, tol=1e-6):
    np.testing.assert_allclose(float(value), expected, rtol=tol, atol=tol)


# ---------------------------------------------------------------- losses

def test_reconstruction_losses_by_hand():
    image = np.array([[[[0.2, 0.4, 0.8], [1.0, 0.0, 0.5]]]], np.float32)  # [1, 1, 2, 3]
    recomposed = image + np.array([0.1, -0.2, 0.0], np.float32)
    _close(L.intrinsic_reconstruction_loss(image, recomposed), (0.01 + 0.04 + 0) * 2 / 6)
    # the trivial decomposition A = I, S = 1 zeroes the product loss (thesis 3.2.1)
    _close(L.product_reconstruction_loss(image, image, np.ones_like(image)), 0.0)
    _close(L.product_reconstruction_loss(image, image, np.full_like(image, 0.5)),
           float(np.mean((image * 0.5) ** 2)))
    # alpha * mean|.| + beta * mean(.^2)
    low, high = np.zeros((1, 1, 2, 3), np.float32), np.ones((1, 1, 2, 3), np.float32)
    _close(L.mdie_reconstruction_loss(low, low + 0.3, high, high - 0.2, alpha=2.0, beta=3.0),
           2.0 * 0.3 + 3.0 * 0.04)


def test_pseudo_intrinsics_by_hand():
    image = np.array([[[[0.2, 0.4, 0.8], [0.0, 0.0, 0.0]]]], np.float32)
    albedo, shading = (np.asarray(t) for t in L.pseudo_intrinsics(image))
    np.testing.assert_allclose(albedo[0, 0, 0], [0.25, 0.5, 1.0], rtol=1e-6)
    np.testing.assert_allclose(shading[0, 0, 0], [0.8, 0.8, 0.8])
    np.testing.assert_allclose(albedo * shading, image, atol=1e-7)
    a_term, s_term = L.intrinsic_prior_loss(image, np.zeros_like(image), np.zeros_like(image))
    _close(a_term, (0.0625 + 0.25 + 1.0) / 6)
    _close(s_term, 3 * 0.64 / 6)


def test_adversarial_losses_by_hand():
    # sigmoid(ln 3) = 0.75, sigmoid(0) = 0.5
    real, fake = np.array([0.0, LN3]), np.array([0.0, LN3])
    expected_d = -(math.log(0.5) + math.log(0.75)) / 2 - (math.log(1 - 0.5) + math.log(1 - 0.75)) / 2
    _close(L.adversarial_discriminator_loss(real, fake), expected_d)
    _close(L.adversarial_generator_loss(np.array([LN3])), -math.log(0.75))
    _close(L.adversarial_generator_loss(np.array([LN3]), saturating=True), math.log(1 - 0.75))


def test_domain_classification_reads_only_the_masked_attribute():
    logits = np.array([[LN3, 5.0, -7.0], [2.0, 0.0, 9.0]], np.float32)
    labels = np.stack([domain_label(0, 1), domain_label(1, 0)])  # colour high; noise low
    # -log sigmoid(ln 3) and -log(1 - sigmoid(0)); the other logits are masked out
    _close(L.domain_classification_loss(logits, labels), (-math.log(0.75) + LN2) / 2)
    c, m = L.split_label(labels)
    np.testing.assert_array_equal(np.asarray(c), [[1, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(np.asarray(m), [[1, 0, 0], [0, 1, 0]])


def test_full_objectives_by_hand():
    x = np.zeros((1, 2, 2, 6), np.float32)
    cycled = x + 0.1
    labels = domain_label(2, 1)[None]
    total, terms = L.mdie_generator_objective(np.array([LN3]), np.array([[0.0, 0.0, LN3]]), labels, x, cycled)
    _close(terms["adversarial"], -math.log(0.75))
    _close(terms["domain_cls"], -math.log(0.75))
    _close(terms["cycle"], 0.1)
    _close(total, -2 * math.log(0.75) + 10 * 0.1, tol=1e-5)  # lambda_cls 1, lambda_cyc 10
    d = L.mdie_discriminator_objective(np.array([0.0]), np.array([0.0]), np.array([[0.0, 0.0, 0.0]]), labels,
                                       cls_weight=2.0)
    _close(d, LN2 + LN2 + 2.0 * LN2)
    _close(L.cycle_loss(np.array([0.0, 1.0]), np.array([0.5, 0.0])), 0.75)


# ---------------------------------------------------------------- label, mask vector, networks

def test_domain_label_is_label_then_one_hot_mask():
    np.testing.assert_array_equal(domain_label(0, 1), [1, 0, 0, 1, 0, 0])
    np.testing.assert_array_equal(domain_label(1, 1), [0, 1, 0, 0, 1, 0])
    np.testing.assert_array_equal(domain_label(2, 0), [0, 0, 0, 0, 0, 1])
    with pytest.raises(ValueError):
        domain_label(3, 1)
    from pirm_enhance.training.mdie import batch_labels

    np.testing.assert_array_equal(np.asarray(batch_labels(1, [0.0, 1.0])),
                                  np.stack([domain_label(1, 0), domain_label(1, 1)]))
    # attribute -1: a batch degraded in every attribute, every label its quality, the mask all ones
    np.testing.assert_array_equal(np.asarray(batch_labels(-1, [0.0, 1.0])),
                                  [[0, 0, 0, 1, 1, 1], [1, 1, 1, 1, 1, 1]])


@pytest.fixture(scope="module")
def tiny():
    keras.utils.set_random_seed(0)
    return pe.build_model("mdie", **MDIE.tiny_config)


def test_generator_conditioning_input_is_the_label_broadcast(tiny, rng):
    """G's first convolution reads [intrinsics, c~ at every pixel], exactly."""
    nets = tiny.networks()
    x = rng.random((2, 16, 32, 6), dtype=np.float32)
    labels = np.stack([domain_label(2, 1), domain_label(0, 0)])
    cond = np.asarray(nets["condition"]([x, labels]))
    assert cond.shape == (2, 16, 32, 12)
    np.testing.assert_array_equal(cond[..., :6], x)
    np.testing.assert_array_equal(cond[..., 6:], np.broadcast_to(labels[:, None, None, :], (2, 16, 32, 6)))
    # the label reaches G's output
    a = np.asarray(nets["generator"]([x[:1], labels[:1]]))
    b = np.asarray(nets["generator"]([x[:1], labels[1:]]))
    assert np.abs(a - b).max() > 1e-6


def test_exported_graph_fixes_the_target_label(rng):
    image = rng.random((1, 37, 53, 3), dtype=np.float32)
    for target in (ALL_HIGH_QUALITY, domain_label(1, 1)):
        model = pe.build_model("mdie", target=target, **MDIE.tiny_config)
        probe = keras.Model(model.input, model.get_layer("generator_condition").output)
        cond = np.asarray(probe(image))
        assert cond.shape == (1, 48, 64, 12)  # padded to a multiple of 2^levels = 16
        np.testing.assert_array_equal(cond[..., 6:], np.broadcast_to(np.float32(target), cond[..., 6:].shape))
    with pytest.raises(ValueError, match="target"):
        pe.build_model("mdie", target=(1, 1, 1), **MDIE.tiny_config)


def test_intrinsic_networks_have_six_and_three_channels(tiny, rng):
    nets = tiny.networks()
    image = rng.random((2, 32, 48, 3), dtype=np.float32)
    intrinsics = np.asarray(nets["decompose"](image))
    assert intrinsics.shape == (2, 32, 48, 6) and 0 < intrinsics.min() and intrinsics.max() < 1
    assert np.asarray(nets["compose"](intrinsics)).shape == (2, 32, 48, 3)
    # the zoo model takes odd sizes (padded to 2^levels, cropped back) and is I + F'(G(F(I))) - F'(F(I))
    # (the residual form, the default) or F'(G(F(I))) (the direct form)
    for shape in ((1, 37, 53, 3), (1, 5, 7, 3)):
        assert np.asarray(tiny(rng.random(shape, dtype=np.float32))).shape == shape
    x = rng.random((1, 32, 32, 3), dtype=np.float32)
    label = tf.constant(np.float32(ALL_HIGH_QUALITY)[None])
    code = nets["decompose"](x)
    edited = np.asarray(nets["compose"](nets["generator"]([code, label])))
    recomposed = np.asarray(nets["compose"](code))
    assert np.abs(edited - recomposed).max() > 1e-4  # G is not exactly the identity at initialisation
    np.testing.assert_allclose(np.asarray(tiny(x)), np.clip(x + edited - recomposed, 0, 1), atol=1e-5)
    direct = pe.build_model("mdie", recompose="direct", **MDIE.tiny_config)
    direct.set_weights(tiny.get_weights())
    np.testing.assert_allclose(np.asarray(direct(x)), edited, atol=1e-5)
    with pytest.raises(UsageError, match="recompose"):
        pe.build_model("mdie", recompose="sum", **MDIE.tiny_config)
    with pytest.raises(UsageError, match="levels 1 at least 2"):  # G downsamples by 4
        pe.build_model("mdie", **{**MDIE.tiny_config, "levels": 1})
    src, cls = MDIEDiscriminator(width=4)(intrinsics)
    assert tuple(src.shape) == (2, 4, 6, 1) and tuple(cls.shape) == (2, 3)


# ---------------------------------------------------------------- attribute domains

def test_each_domain_degrades_its_own_attribute():
    seed = tf.constant([3, 4], tf.int64)
    flat = np.full((24, 24, 3), 0.5, np.float32)
    colour = np.asarray(domains.degrade_colour(flat, seed))
    assert np.ptp(colour.reshape(-1, 3), axis=0).max() < 1e-6  # no spatial change
    assert np.abs(colour - flat).max() > 0.01
    np.testing.assert_allclose(np.asarray(domains.degrade_texture(flat, seed)), flat, atol=1e-6)  # flat stays
    noisy = np.asarray(domains.degrade_noise(flat, seed))
    assert noisy.std() > 1e-3 and abs(noisy.mean() - 0.5) < 0.05
    photo = synthetic_photo(40, 40, seed=1)
    textured = np.asarray(domains.degrade_texture(photo, seed))
    assert np.abs(textured - photo).max() > 0.02 and abs(textured.mean() - photo.mean()) < 0.01
    for a in range(3):  # a tensor attribute picks the same function; same seed, same image
        np.testing.assert_array_equal(np.asarray(domains.degrade_attribute(photo, seed, tf.constant(a))),
                                      np.asarray(domains.degrade_attribute(photo, seed, a)))


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mdie_photos")
    for i in range(6):
        write_png(folder / f"p{i}.png", synthetic_photo(64, 80, seed=i))
    return folder


def test_domain_batches_cycle_through_the_attributes(photo_dir):
    photos = sorted(photo_dir.glob("*.png"))
    batches = list(domains.domain_dataset(photos, 2, seed=1, patch_size=32).take(4))
    assert [int(a[0]) for _, _, a in batches] == [0, 1, 2, 0]
    assert all(len(set(np.asarray(a).tolist())) == 1 for _, _, a in batches)
    low, high, _ = batches[0]
    assert low.shape == high.shape == (2, 32, 32, 3)
    again = list(domains.domain_dataset(photos, 2, seed=1, patch_size=32, start=6).take(1))[0]
    np.testing.assert_array_equal(np.asarray(again[0]), np.asarray(batches[3][0]))  # resumable


def test_cycle_plus_all_adds_a_batch_degraded_in_every_attribute(photo_dir):
    photos = sorted(photo_dir.glob("*.png"))
    batches = list(domains.domain_dataset(photos, 2, seed=1, patch_size=32, attributes="cycle+all").take(5))
    assert [int(a[0]) for _, _, a in batches] == [0, 1, 2, -1, 0]
    plain = list(domains.domain_dataset(photos, 2, seed=1, patch_size=32).take(3))
    for (low, high, _), (low0, high0, _) in zip(batches[:3], plain):  # the first three as in "cycle"
        np.testing.assert_array_equal(np.asarray(high), np.asarray(high0))
        np.testing.assert_array_equal(np.asarray(low), np.asarray(low0))
    # the fourth: exactly degrade_all of its originals (the same crop seeds as every stream)
    low, high, _ = batches[3]
    every = list(domains.domain_dataset(photos, 2, seed=1, patch_size=32, attributes="all").take(4))[3]
    np.testing.assert_array_equal(np.asarray(high), np.asarray(every[1]))
    np.testing.assert_allclose(np.asarray(low), np.asarray(every[0]), atol=1e-6)
    with pytest.raises(UsageError, match=r"cycle\+all"):
        domains.domain_dataset(photos, 2, attributes="each")


def test_domain_dataset_refuses_small_or_unreadable_photos_before_the_first_batch(photo_dir, tmp_path):
    from pirm_enhance.data.io import write_png
    from pirm_enhance.errors import ImageError

    photos = sorted(photo_dir.glob("*.png"))
    small = tmp_path / "small.png"
    write_png(small, np.full((20, 50, 3), 0.5, np.float32))
    with pytest.raises(ImageError, match=r"small\.png: 50x20 is smaller than the 32x32 training crops"):
        domains.domain_dataset([*photos, small], 2, patch_size=32)
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"not a photo")
    with pytest.raises(ImageError, match="junk.jpg: cannot be read"):
        domains.domain_dataset([*photos, junk], 2, patch_size=32)


# ---------------------------------------------------------------- recipes

def _run(name, photo_dir, workdir, steps, **overrides):
    rec = recipe(name, **overrides)
    return train(rec, f"synthetic:{photo_dir}", steps=steps, workdir=workdir, batch_size=2, patch_size=32,
                 seed=0, checkpoint_every=steps, validate_every=steps, vgg_weights=None, progress=False,
                 arch_kwargs=dict(MDIE.tiny_config))


def _assert_learnt(train_logs, ratio=0.9):  # measured: 0.79 (mdie_intrinsic), 0.86 (mdie)
    """The mean loss of the last 6 steps is below ``ratio`` x that of the first 6 (the steps of a
    resumed 2..20 run; 6 steps = two rounds of the three attributes)."""
    assert [t["step"] for t in train_logs] == list(range(2, 21))
    first = np.mean([t["loss"] for t in train_logs[:6]])
    last = np.mean([t["loss"] for t in train_logs[-6:]])
    assert last < ratio * first, (first, last)


def _weights(variables):
    return [np.array(v.numpy(), copy=True) for v in variables]


def _moved(before, variables):
    return [not np.array_equal(b, v.numpy()) for b, v in zip(before, variables)]


def test_mdie_intrinsic_one_step_then_learns(photo_dir, tmp_path):
    workdir = tmp_path / "intrinsic"
    keras.utils.set_random_seed(0)
    fresh = pe.build_model("mdie", **MDIE.tiny_config).networks()
    first = _run("mdie_intrinsic", photo_dir, workdir, 1)
    model = first["generator"]
    nets = model.networks()
    assert first["step"] == 1 and len(first["history"]) == 1
    assert {"reconstruction", "albedo_prior", "shading_prior", "val_psnr", "val_trivial_psnr",
            "val_product_psnr"} <= set(first["history"][0])
    # one update moved every trainable weight of F and F', and none of G
    for part in ("decompose", "compose"):
        stuck = [v.path for v, m in zip(nets[part].trainable_variables,
                                        _moved(_weights(fresh[part].trainable_variables),
                                               nets[part].trainable_variables)) if not m]
        assert not stuck, f"{part}: not updated: {stuck}"
    assert not any(_moved(_weights(fresh["generator"].weights), nets["generator"].weights))
    loaded = pe.load_model(first["generator_path"])
    assert isinstance(loaded, MDIE)
    # resumed to step 20: the training loss fell (steps 2-7 against 15-20, two attribute cycles each)
    later = _run("mdie_intrinsic", photo_dir, workdir, 20)
    assert later["step"] == 20 and [h["step"] for h in later["history"]] == [1, 20]
    _assert_learnt(later["train_logs"])

def test_mdie_one_step_then_learns(photo_dir, tmp_path):
    workdir = tmp_path / "mdie"
    keras.utils.set_random_seed(0)
    fresh = pe.build_model("mdie", **MDIE.tiny_config)
    before = _weights(fresh.trainable_variables)
    first = _run("mdie", photo_dir, workdir, 1, init=None, lr=3e-3)
    h = first["history"][0]
    assert {"adversarial", "domain_cls", "cycle", "reconstruction", "paired", "identity", "discriminator", "val_psnr",
            "val_input_psnr", "val_psnr_colour", "val_psnr_noise", "val_psnr_texture"} <= set(h)
    assert all(np.isfinite(v) for v in h.values())
    model = first["generator"]
    # the recipe's default (intrinsic_lr_scale 0) updates every weight of G and none of F and F'
    g_paths = {v.path for v in model.networks()["generator"].trainable_variables}
    moved = dict(zip([v.path for v in model.trainable_variables], _moved(before, model.trainable_variables)))
    assert g_paths and all(moved[path] for path in g_paths), [p for p in g_paths if not moved[p]]
    assert not any(m for path, m in moved.items() if path not in g_paths)
    # trained together (intrinsic_lr_scale 1, the thesis's "combined fashion"): every weight moves
    keras.utils.set_random_seed(0)
    together = _run("mdie", photo_dir, tmp_path / "together", 1, init=None, lr=3e-4, intrinsic_lr_scale=1.0,
                    ema=0.0)
    stuck = [v.path for v, m in zip(together["generator"].trainable_variables,
                                    _moved(before, together["generator"].trainable_variables)) if not m]
    assert not stuck, f"not updated: {stuck}"
    # ema: the model kept holds G's moving average (here 0.5 x initial + 0.5 x updated), F and F' as updated
    keras.utils.set_random_seed(0)
    averaged = _run("mdie", photo_dir, tmp_path / "averaged", 1, init=None, lr=3e-4, intrinsic_lr_scale=1.0,
                    ema=0.5)["generator"]
    for v0, v1, va in zip(before, together["generator"].trainable_variables, averaged.trainable_variables):
        want = 0.5 * v0 + 0.5 * v1.numpy() if va.path in g_paths else v1.numpy()
        np.testing.assert_allclose(va.numpy(), want, atol=1e-5, err_msg=va.path)
    disc = first["discriminator"]
    assert disc.trainable_variables and all(np.any(v.numpy()) for v in disc.trainable_variables)
    # resumed to step 20 (discriminator and optimizers restored): the training loss fell (trained
    # together: from a random init, F' must learn to recompose before G's edits can mean anything)
    later = _run("mdie", photo_dir, tmp_path / "together", 20, init=None, lr=3e-4, intrinsic_lr_scale=1.0, ema=0.0)
    assert [h["step"] for h in later["history"]] == [1, 20]
    _assert_learnt(later["train_logs"])
    # init: an mdie_intrinsic result; a missing file says what to run
    from pirm_enhance.errors import DataMissing

    with pytest.raises(DataMissing, match="mdie_intrinsic"):
        _run("mdie", photo_dir, tmp_path / "x", 1, init=str(tmp_path / "missing.keras"))
    for bad in ({"domains": "every"}, {"select": "best"}, {"ema": 1.0}, {"intrinsic_lr_scale": -1.0}):
        with pytest.raises(UsageError, match=next(iter(bad))):  # one line, not "a bug"
            _run("mdie", photo_dir, tmp_path / "x", 1, init=None, **bad)
    # the fourth domain's step (every attribute degraded) trains, and select=psnr keeps the best val_psnr
    mixed = train(recipe("mdie", init=None, lr=3e-4, domains="cycle+all", select="psnr"), f"synthetic:{photo_dir}",
                  steps=4, workdir=tmp_path / "mixed", batch_size=2, patch_size=32, seed=0, checkpoint_every=4,
                  validate_every=1, vgg_weights=None, progress=False, arch_kwargs=dict(MDIE.tiny_config))
    assert [t["step"] for t in mixed["train_logs"]] == [1, 2, 3, 4]
    assert len(mixed["history"]) == 4
    assert all(np.isfinite(t["loss"]) for t in mixed["train_logs"])
    assert mixed["best"]["val_psnr"] == max(h["val_psnr"] for h in mixed["history"])
