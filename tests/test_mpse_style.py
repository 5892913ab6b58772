"""MPSE phase 2 (thesis 3.1.2): the regional Gram style loss, the area-weighted softmax and the
enhancement-factor head's gradient, the content and photorealism terms, the Matting Laplacian
against a loop implementation, the triplet objective, the optimisation routine, the reference
recommendation network and the mpse_style training routine."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy import sparse

from pirm_enhance import errors
from pirm_enhance.data.io import write_png
from pirm_enhance.data.synthetic import synthetic_photo
from pirm_enhance.losses import (VGG19Features, area_indicators, area_softmax, enhancement_factor_head, gram_matrix,
                                 matting_laplacian, mpse_content_loss, photorealism_loss,
                                 recommendation_triplet_loss, regional_gram, regional_style_loss,
                                 regional_style_terms)
from pirm_enhance.losses.mpse import laplacian_to_tf
from pirm_enhance.mpse import ReferenceRecommender, paired_masks, semantic_style_enhance
from pirm_enhance.mpse.recommend import vgg16_fc8
from pirm_enhance.training import mpse_style, train

# ---------------------------------------------------------------- regional Gram style loss

# one image row of two pixels, two channels; region A = left pixel, region B = right pixel
OUT = np.array([[[[1.0, 2.0], [3.0, 0.0]]]], np.float32)     # [1, 1, 2, 2]
STYLE = np.array([[[[0.0, 1.0], [2.0, 2.0]]]], np.float32)
MASKS = np.array([[[1, 1, 0, 0]] * 2, [[0, 0, 1, 1]] * 2], np.float32)  # [2, 2, 4]: twice the feature size


def test_regional_gram_by_hand():
    grams, area = regional_gram(OUT, MASKS)  # G_r = F_r^T F_r / (C area_r), C = 2, area 1 cell each
    np.testing.assert_allclose(area, [1.0, 1.0])
    np.testing.assert_allclose(grams[0], [[0.5, 1.0], [1.0, 2.0]])  # (1, 2)(1, 2)^T / 2
    np.testing.assert_allclose(grams[1], [[4.5, 0.0], [0.0, 0.0]])  # (3, 0)(3, 0)^T / 2
    whole, _ = regional_gram(OUT, np.ones((1, 1, 2), np.float32))  # one region = the whole image
    np.testing.assert_allclose(whole[0], gram_matrix(OUT)[0], rtol=1e-6)


def test_regional_style_loss_by_hand():
    out, style = {"relu1_1": OUT}, {"relu1_1": STYLE}
    # A: G[O] - G[S] = [[.5, 1], [1, 1.5]]: 4.5 / (2 * 2^2) = 0.5625
    # B: [[4.5, 0], [0, 0]] - [[2, 2], [2, 2]]: (6.25 + 4 + 4 + 4) / 8 = 2.28125
    terms = regional_style_terms(out, style, MASKS, MASKS)
    np.testing.assert_allclose(terms, [[0.5625, 2.28125]], rtol=1e-6)
    np.testing.assert_allclose(regional_style_loss(out, style, MASKS, MASKS), 2.84375, rtol=1e-6)
    np.testing.assert_allclose(regional_style_loss(out, style, MASKS, MASKS, factors=[[0.25, 0.75]]),
                               0.25 * 0.5625 + 0.75 * 2.28125, rtol=1e-6)
    # a region absent from the style image has nothing to match: its term is 0
    style_masks = MASKS.copy()
    style_masks[1] = 0.0
    np.testing.assert_allclose(regional_style_terms(out, style, MASKS, style_masks), [[0.5625, 0.0]], rtol=1e-6)
    # precomputed style Grams give the same terms; no gradient reaches the style side
    pre = {"relu1_1": regional_gram(STYLE, MASKS)}
    np.testing.assert_allclose(regional_style_terms(out, pre, MASKS, MASKS), terms, rtol=1e-6)
    o, s = tf.Variable(OUT), tf.Variable(STYLE)
    with tf.GradientTape(persistent=True) as tape:
        loss = regional_style_loss({"relu1_1": o}, {"relu1_1": s}, MASKS, MASKS)
    assert tape.gradient(loss, s) is None and np.abs(tape.gradient(loss, o)).sum() > 0


# ---------------------------------------------------------------- enhancement factors


def test_area_softmax_by_hand():
    # alpha * H = (0.5, 0.5, 0): Lambda = (e^.5, e^.5, 1) / (2 e^.5 + 1) = (0.383652, 0.383652, 0.232697)
    factors = area_softmax([[1.0, 2.0, 0.0]], [[0.5, 0.25, 0.25]])
    np.testing.assert_allclose(factors, [[0.383652, 0.383652, 0.232697]], atol=1e-6)
    # zero area -> logit 0 whatever H is; a larger area sharpens the same H
    np.testing.assert_allclose(area_softmax([[5.0, 0.0]], [[0.0, 1.0]]), [[0.5, 0.5]], atol=1e-7)
    assert float(area_softmax([[2.0, 0.0]], [[1.0, 1.0]])[0, 0]) > float(area_softmax([[2.0, 0.0]], [[0.5, 1.0]])[0, 0])


def test_area_indicators_by_hand():
    # content 4x4: region 0 = the first three columns (3/4 of the image); style: halves (1/2)
    content = np.zeros((2, 4, 4), np.float32)
    content[0, :, :3], content[1, :, 3:] = 1, 1
    style = np.zeros((2, 4, 4), np.float32)
    style[0, :, :2], style[1, :, 2:] = 1, 1
    feats = {"relu1_1": np.zeros((1, 4, 4, 1)), "relu2_1": np.zeros((1, 2, 2, 1))}
    alpha = area_indicators(content, style, feats, feats, ["relu1_1", "relu2_1"])
    np.testing.assert_allclose(alpha, [[0.625, 0.375], [0.625, 0.375]], atol=1e-6)  # (3/4 + 1/2) / 2


def test_factor_head_starts_equal_and_its_gradient_is_the_thesis_formula():
    n_layers, n_regions, channels = 2, 3, 4
    head = enhancement_factor_head(n_layers, n_regions, channels)
    rng = np.random.default_rng(0)
    pooled_o, pooled_r = rng.random((1, channels), np.float32), rng.random((1, channels), np.float32)
    alpha = np.array([[[0.5, 0.3, 0.2], [0.4, 0.4, 0.2]]], np.float32)
    np.testing.assert_allclose(head([pooled_o, pooled_r, alpha]), np.full((1, 2, 3), 1 / 3), atol=1e-7)
    fc = head.get_layer("fc")
    kernel = rng.normal(0, 1, fc.kernel.shape).astype(np.float32)
    fc.kernel.assign(kernel)
    terms = rng.random((n_layers, n_regions)).astype(np.float32)  # the style terms T[l, r]
    with tf.GradientTape() as tape:
        factors = head([pooled_o, pooled_r, alpha])[0]
        loss = tf.reduce_sum(factors * terms)
    grad = tape.gradient(loss, fc.kernel).numpy()
    # thesis 3.1.2: dL/dW[k, (l, j)] = sum_r T[l, r] alpha[l, j] Lambda[l, r] (delta_rj - Lambda[l, j]) x_k
    x = np.concatenate([pooled_o, pooled_r], axis=1)[0]
    x = x / np.linalg.norm(x)
    lam = factors.numpy()
    expected = np.zeros_like(grad)
    for l in range(n_layers):
        for j in range(n_regions):
            s = sum(terms[l, r] * alpha[0, l, j] * lam[l, r] * ((r == j) - lam[l, j]) for r in range(n_regions))
            expected[:, l * n_regions + j] = s * x
    np.testing.assert_allclose(grad, expected, rtol=1e-4, atol=1e-7)


# ---------------------------------------------------------------- content and photorealism


def test_content_loss_by_hand():
    out = {"a": np.array([[[[1.0, 2.0], [3.0, 4.0]]]]), "b": np.ones((1, 2, 1, 1))}
    ref = {"a": np.zeros((1, 1, 2, 2)), "b": np.zeros((1, 2, 1, 1))}
    # a: 30 / (2 * N 2 * D 2) = 3.75;  b: 2 / (2 * 1 * 2) = 0.5
    np.testing.assert_allclose(mpse_content_loss(out, ref), 4.25)
    np.testing.assert_allclose(mpse_content_loss(out, ref, {"a": 2.0, "b": 0.5}), 7.75)


def test_photorealism_loss_by_hand():
    image = np.array([[[1.0, 0.0, 2.0], [3.0, 1.0, 0.0]]], np.float32)  # [1, 2, 3]
    lap = sparse.csr_matrix(np.array([[1.0, -1.0], [-1.0, 1.0]]))
    # sum_c (v_c[0] - v_c[1])^2 = 4 + 1 + 4
    np.testing.assert_allclose(photorealism_loss(image, lap), 9.0)
    np.testing.assert_allclose(photorealism_loss(image[None], laplacian_to_tf(lap)), 9.0)


def _dense_matting_laplacian(image, eps, radius=1):
    """Levin et al. 2008 eq. 12, one window at a time."""
    h, w, c = image.shape
    n = (2 * radius + 1) ** 2
    out = np.zeros((h * w, h * w))
    for y in range(radius, h - radius):
        for x in range(radius, w - radius):
            idx = [(y + i) * w + (x + j) for i in range(-radius, radius + 1) for j in range(-radius, radius + 1)]
            pix = image.reshape(-1, c)[idx]
            mu = pix.mean(0)
            cov = (pix - mu).T @ (pix - mu) / n
            inv = np.linalg.inv(cov + eps / n * np.eye(c))
            for a in range(n):
                for b in range(n):
                    out[idx[a], idx[b]] += (a == b) - (1 + (pix[a] - mu) @ inv @ (pix[b] - mu)) / n
    return out


@pytest.mark.parametrize("eps, radius, shape", [(1e-7, 1, (6, 7, 3)), (1e-3, 1, (6, 7, 3)), (1e-4, 2, (7, 6, 3)),
                                                (1e-5, 1, (4, 3, 3))])
def test_matting_laplacian_matches_the_loops(eps, radius, shape):
    image = np.random.default_rng(1).random(shape)
    lap = matting_laplacian(image, eps=eps, radius=radius)
    assert sparse.issparse(lap) and lap.shape == (shape[0] * shape[1],) * 2
    dense = _dense_matting_laplacian(image, eps, radius)
    np.testing.assert_allclose(lap.toarray(), dense, atol=1e-9 * np.abs(dense).max())


def test_matting_laplacian_properties():
    image = np.random.default_rng(2).random((6, 7, 3))
    dense = matting_laplacian(image, eps=1e-7).toarray()
    np.testing.assert_allclose(dense, dense.T, atol=1e-12)                 # symmetric
    np.testing.assert_allclose(dense.sum(1), 0, atol=1e-10)                # rows sum to 0
    np.testing.assert_allclose(dense @ np.ones(42), 0, atol=1e-10)         # constants: null space
    assert np.linalg.eigvalsh(dense).min() > -1e-8                         # positive semi-definite
    assert dense.diagonal().min() > 0 and (np.abs(dense) > 0).sum(1).max() <= 25  # 5x5 neighbourhood
    # a locally affine function of the colours costs (almost) nothing, anything else does
    affine = image.reshape(-1, 3) @ np.array([0.3, -1.2, 0.7]) + 0.4
    noise = np.random.default_rng(3).random(42)
    assert affine @ dense @ affine < 1e-5 * (noise @ dense @ noise)
    # the loss reads the same numbers, and its gradient is 2 M V
    v = tf.Variable(image.astype(np.float32))
    with tf.GradientTape() as tape:
        loss = photorealism_loss(v, matting_laplacian(image, eps=1e-7))
    flat = image.reshape(-1, 3)
    np.testing.assert_allclose(loss, np.trace(flat.T @ dense @ flat), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(tape.gradient(loss, v).numpy().reshape(-1, 3), 2 * dense @ flat, rtol=1e-3,
                               atol=1e-3)


def test_matting_laplacian_refuses_bad_input():
    with pytest.raises(errors.ImageError):
        matting_laplacian(np.zeros((4, 4)))
    with pytest.raises(errors.UsageError):
        matting_laplacian(np.zeros((4, 4, 3)), radius=0)
    with pytest.raises(errors.UsageError, match="eps > 0"):  # a flat window's covariance is singular
        matting_laplacian(np.full((20, 30, 3), 0.3), eps=0)
    with pytest.raises(errors.ImageError, match="int64"):  # 8-bit values in a wider type: range unknown
        matting_laplacian(np.full((4, 4, 3), 200, np.int64))
    np.testing.assert_allclose(matting_laplacian(np.full((6, 7, 3), 13107, np.uint16)).toarray(),
                               matting_laplacian(np.full((6, 7, 3), 0.2)).toarray(), atol=1e-9)
    assert matting_laplacian(np.zeros((2, 5, 3))).nnz == 0  # no whole window fits


# ---------------------------------------------------------------- triplet objective


def test_triplet_loss_by_hand():
    anchor = [[1.0, 0.0]]
    positives = [[[0.0, 1.0], [1.0, 0.0]]]    # squared distances 2, 0: mean 1, sum 2
    negatives = [[[-1.0, 0.0], [0.0, -1.0]]]  # 4, 2: mean 3, sum 6
    np.testing.assert_allclose(recommendation_triplet_loss(anchor, positives, negatives, margin=2.5), 0.5)
    np.testing.assert_allclose(recommendation_triplet_loss(anchor, positives, negatives, 2.5, "sum"), 0.0)
    np.testing.assert_allclose(recommendation_triplet_loss(anchor, positives, negatives, 4.5, "sum"), 0.5)
    with pytest.raises(errors.UsageError):
        recommendation_triplet_loss(anchor, positives, negatives, reduction="max")


# ---------------------------------------------------------------- regions and the optimisation


def _two_tone(top, bottom, size=32):
    image = np.empty((size, size, 3), np.float32)
    image[: size // 2], image[size // 2:] = top, bottom
    return image


def test_regions_pair_by_appearance_and_by_label():
    # a dark photo (blue sky over green ground) and a bright reference whose regions are numbered the
    # other way round: the sky still finds the sky
    content = _two_tone((0.1, 0.15, 0.35), (0.1, 0.3, 0.1))
    style = _two_tone((0.45, 0.75, 0.4), (0.5, 0.6, 0.95))[::-1]
    cm, sm = paired_masks(content, style, n_regions=2)
    assert cm.shape == (2, 32, 32) and sm.shape == (2, 32, 32)
    for c, s in zip(cm, sm):
        assert (c[:16].mean() > 0.5) == (s[:16].mean() > 0.5)
    # label maps pair by value; a label missing in the style image gives it an empty mask
    labels = np.zeros((32, 32), int)
    labels[16:] = 7
    cm, sm = paired_masks(content, style, labels, np.zeros((32, 32), int))
    assert cm.shape == (2, 32, 32) and sm[0].all() and not sm[1].any()
    cm, sm = paired_masks(content, style, lambda image: (image[..., 2] > 0.3).astype(int))  # one function, both
    assert cm.shape[0] == sm.shape[0] == 2
    with pytest.raises(errors.UsageError, match="masks pair by index"):
        paired_masks(content, style, np.ones((2, 32, 32)), np.ones((3, 32, 32)))
    with pytest.raises(errors.UsageError, match="both images"):
        paired_masks(content, style, labels)
    with pytest.raises(errors.UsageError, match="different sizes"):  # a ragged list, one line
        paired_masks(content, style, [np.ones((32, 32)), np.ones((31, 32))], [np.ones((32, 32))])


def test_semantic_style_enhance_lowers_its_objective():
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:32, 0:32] / 32.0
    content = np.stack([y, x, np.full_like(x, 0.5)], -1).astype(np.float32)
    content[:12] *= 0.4
    style = np.clip(content[::-1] * 1.3 + 0.1 * rng.random(content.shape), 0, 1).astype(np.float32)
    masks = np.stack([np.arange(32)[:, None].repeat(32, 1) < 12, np.arange(32)[:, None].repeat(32, 1) >= 12])
    keras.utils.set_random_seed(0)
    vgg = VGG19Features(["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu4_2", "relu5_1", "relu5_3"],
                        weights="random:he_normal")
    out, info = semantic_style_enhance(content, style, segmentation=masks, style_segmentation=masks[:, ::-1],
                                       steps=6, vgg=vgg, progress=False, return_info=True)
    losses = [h["loss"] for h in info["history"]]
    assert len(losses) == 7 and losses[-1] < 0.8 * losses[0] and all(np.isfinite(losses))
    assert info["history"][0]["content"] == 0 and info["history"][-1]["content"] > 0  # O starts at I
    assert out.shape == (32, 32, 3) and out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1
    assert np.abs(out - content).max() > 0.01
    factors = info["factors"]  # the self-learnt factors moved away from 1/2 and stay a softmax
    assert factors.shape == (5, 2) and np.allclose(factors.sum(1), 1) and np.abs(factors - 0.5).max() > 1e-4
    with pytest.raises(errors.ImageError, match="at least"):
        semantic_style_enhance(content[:8], style, vgg=vgg, steps=1, progress=False)


# ---------------------------------------------------------------- recommendation network and its recipe


@pytest.fixture(scope="module")
def vgg16():
    keras.utils.set_random_seed(0)
    return vgg16_fc8(None)


def test_recommendation_head_learns_toy_triplets(vgg16):
    rec = ReferenceRecommender(backbone=vgg16, embedding_dim=16, seed=0)
    rng = np.random.default_rng(0)
    images = [rng.random((40, 48, 3), dtype=np.float32) * s for s in (0.3, 0.35, 1.0, 0.95, 0.6, 0.65)]
    fc8 = rec.fc8(images)
    assert fc8.shape == (6, 1000) and np.isfinite(fc8).all()
    anchors, positives, negatives = fc8[[0, 2]], fc8[[[1], [3]]], fc8[[[4, 5], [4, 5]]]
    opt = keras.optimizers.Adam(1e-2)

    def loss():
        embed = lambda x: tf.reshape(rec.head(tf.reshape(x, [-1, 1000])), list(x.shape[:-1]) + [16])  # noqa: E731
        return recommendation_triplet_loss(embed(anchors), embed(positives), embed(negatives), margin=1.0)

    first = float(loss())
    for _ in range(5):
        with tf.GradientTape() as tape:
            value = loss()
        opt.apply_gradients(zip(tape.gradient(value, rec.head.trainable_variables), rec.head.trainable_variables))
    assert first > 0 and float(loss()) < 0.9 * first
    assert vgg16.trainable is False
    picks = rec.recommend(fc8[0], fc8[1:], candidates=3, top=2)
    assert len(picks) == 2 and set(picks) <= set(range(5))


def test_mpse_style_recipe_steps_and_learns(vgg16, tmp_path, monkeypatch):
    monkeypatch.setattr(mpse_style, "vgg16_fc8", lambda weights: vgg16)
    folder = tmp_path / "photos"
    for i in range(3):
        write_png(folder / f"p{i}.png", synthetic_photo(96, 128, seed=i))
    settings = dict(batch_size=4, vgg_weights="random", progress=False, validate_every=20, checkpoint_every=1,
                    views=1)
    first = train("mpse_style", f"synthetic:{folder}", steps=1, workdir=tmp_path / "run", **settings)
    before = mpse_style.recommendation_head(128, 0).get_weights()
    after = first["generator"].get_weights()
    assert all(np.abs(a - b).max() > 0 for a, b in zip(after, before))  # one update moved every weight
    assert first["step"] == 1 and first["history"][0]["step"] == 0 and first["history"][-1]["step"] == 1
    # the same work folder resumes at step 1 and goes on; the training triplet loss falls
    result = train("mpse_style", f"synthetic:{folder}", steps=25, workdir=tmp_path / "run", **settings)
    steps = [h["step"] for h in result["history"]]
    assert steps == [0, 1, 20, 25]
    assert result["history"][-1]["train_triplet"] < 0.5 * result["history"][0]["train_triplet"]
    assert keras.saving.load_model(result["generator_path"]).output_shape == (None, 128)
    with pytest.raises(errors.UsageError, match="export"):
        train("mpse_style", f"synthetic:{folder}", steps=1, workdir=tmp_path / "x", export_to=tmp_path / "a.tflite",
              **settings)
