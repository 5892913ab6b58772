"""Track A zoo models (vgg19_vdsr, ppcn_sr): the pieces that the registry-wide tests do not
see (TF1 names of the official checkpoints, the V1 single-file format, PPCN's colour
sub-pixel order, VDSR's luminance residual), and the heavy Track A reproduction of every
verified Track A entry of ``pretrained.json``."""

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import saver_pb2

import pirm_enhance as pe
from pirm_enhance import checkpoints, pretrained
from pirm_enhance.archs.ppcn_sr import ColourSubpixel
from pirm_enhance.archs.vgg19_vdsr import Grayscale

TRACK_A_VERIFIED = [n for n in pe.list_pretrained(track="A") if pretrained.get_entry(n)["metrics"]]


def test_vdsr_layout_is_the_organisers_names():
    names = set(checkpoints.tf1_layout(pe.build_model("vgg19_vdsr")))
    want = {f"shared_model/conv_{i:02d}_{v}" for i in (*range(19), 20) for v in "wb"}
    assert names == want  # 20 convolutions; the TF1 code has no conv_19


def test_ppcn_sr_layout_is_the_tf_layers_names():
    layout = checkpoints.tf1_layout(pe.build_model("ppcn_sr"))
    assert len(layout) == 32
    assert tuple(layout["generator/downsample/2/kernel"].shape) == (3, 3, 32, 64)
    assert tuple(layout["generator/res2/1/conv1/kernel"].shape) == (3, 3, 32, 64)
    assert tuple(layout["generator/conv2d_1/bias"].shape) == (48,)


def test_colour_subpixel_is_ppcn_per_colour_depth_to_space(rng):
    x = rng.random((1, 5, 7, 48), dtype=np.float32)
    # PPCN's PS(x, 4, color=True): each colour's 16 channels shuffled on their own
    want = tf.concat([tf.nn.depth_to_space(c, 4) for c in tf.split(x, 3, 3)], 3)
    np.testing.assert_array_equal(np.asarray(ColourSubpixel(4)(x)), want.numpy())


def test_vdsr_changes_luminance_only(rng):
    x = rng.random((1, 20, 28, 3), dtype=np.float32)
    np.testing.assert_allclose(np.asarray(Grayscale()(x)), tf.image.rgb_to_grayscale(x).numpy(), atol=1e-6)
    model = pe.build_model("vgg19_vdsr", channels=8, depth=4)
    delta = np.asarray(model(x)) - x  # the same luminance residual added to R, G and B
    np.testing.assert_allclose(delta[..., 0], delta[..., 1], atol=1e-5)
    np.testing.assert_allclose(delta[..., 0], delta[..., 2], atol=1e-5)


def test_a_v1_single_file_checkpoint_loads_by_file_or_stem(tmp_path, rng):
    """TF1's V1 format (the organisers' div2k_vgg19_vdsr.ckpt) is one file ``<stem>.ckpt``;
    pretrained entries give its stem."""
    model = pe.build_model("vgg19_vdsr", channels=4, depth=3)
    values = {n: rng.normal(0, 0.05, v.shape).astype("float32")
              for n, v in checkpoints.tf1_layout(model).items()}
    with tf.Graph().as_default():
        tf_vars = [tf.compat.v1.Variable(v, name=k) for k, v in values.items()]
        saver = tf.compat.v1.train.Saver(tf_vars, write_version=saver_pb2.SaverDef.V1)
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            path = saver.save(sess, str(tmp_path / "model.ckpt"), write_meta_graph=False)
    assert not (tmp_path / "model.ckpt.index").exists()
    for given in (path, str(tmp_path / "model")):
        loaded = pe.load_model("vgg19_vdsr", checkpoint=given, channels=4, depth=3)
        for name, var in checkpoints.tf1_layout(loaded).items():
            np.testing.assert_array_equal(var.numpy(), values[name])


@pytest.mark.heavy
@pytest.mark.parametrize("name", TRACK_A_VERIFIED)
def test_track_a_checkpoint_reproduces_the_original_graph(name, weights_dir):
    """The port scores what the original TF1 graph scored on the organisers' Track A
    protocol (five DIV2K images; metrics in pretrained.json)."""
    from pirm_enhance.runners import make_runner
    from pirm_enhance.scoring.score import track_fidelity
    from pirm_enhance.scoring.validation import DataMissing, data_root

    entry = pretrained.get_entry(name)
    if not all(pretrained._find_local(s) for s in entry["files"]):
        pytest.skip(f"{name}: files not under PIRM_WEIGHTS_DIR")
    try:
        root = data_root(None)
        result = track_fidelity(make_runner(name), "A", root, progress=False)
    except DataMissing as err:
        pytest.skip(str(err))
    m = entry["metrics"]
    assert result["count"] == m["count"]
    assert result["psnr"] == pytest.approx(m["psnr"], abs=m["tolerance"]["psnr"])
    assert result["ms_ssim"] == pytest.approx(m["ms_ssim"], abs=m["tolerance"]["ms_ssim"])
