"""Every registered architecture: class attributes, any size, range, .keras round trip.

The checks live in zoo_checks (shared with test_zoo_contract); what differs between
architectures comes from their class attributes, never from their names."""

import keras
import numpy as np
import pytest

import pirm_enhance as pe
import zoo_checks


@pytest.fixture(scope="module", params=pe.list_models())
def model(request):
    keras.utils.set_random_seed(1)
    return pe.build_model(request.param)


@pytest.mark.parametrize("name", pe.list_models())
def test_class_attributes_are_usable(name):
    zoo_checks.check_attributes(name)


@pytest.mark.parametrize("shape", [(1, 37, 91, 3), (1, 100, 100, 3)])
def test_runs_at_any_size_and_stays_in_range(model, shape, rng):
    zoo_checks.check_output_in_range(model, rng.random(shape, dtype=np.float32))


def test_keras_round_trip(model, tmp_path, rng):
    zoo_checks.check_keras_round_trip(model, tmp_path, rng)


def test_unknown_setting_in_a_saved_file_is_refused(model, tmp_path):
    zoo_checks.check_unknown_setting_refused(model, tmp_path)


def test_batch_and_image_independence(model, rng):
    """Instance norms and contrast are per image: a batch equals its images run alone."""
    zoo_checks.check_batch_independence(model, rng)


def test_unknown_architecture_lists_close_matches():
    with pytest.raises(KeyError, match="dped_resnet_12_64"):
        pe.build_model("dped_resnet_12_46")


def test_architecture_name_without_tag_explains_itself():
    with pytest.raises(KeyError, match="ppcn_student.paper"):
        pe.load_model("ppcn_student")


def test_residual_rsgunet_starts_as_the_identity_and_round_trips(tmp_path, rng):
    """``residual=True`` (the default model's variant): the zero last convolution makes the
    untrained network the identity (outputs clipped to [0, 1]); the option survives .keras."""
    model = pe.build_model("rsgunet", width=4, residual=True)
    x = rng.random((1, 37, 45, 3), dtype=np.float32)
    np.testing.assert_allclose(np.asarray(model(x)), x, atol=1e-6)
    path = tmp_path / "r.keras"
    model.save(path)
    again = keras.models.load_model(path)
    assert again.get_config()["residual"] is True
    np.testing.assert_allclose(np.asarray(again(x)), x, atol=1e-6)


def test_residual_rsgunet_exports_to_pb_and_tflite(tmp_path, rng):
    """The mirror padding is made of ops every runtime takes (a tf.pad with a dynamic
    amount lost the channel count and TFLite refused the next convolution)."""
    from pirm_enhance import layers

    x = rng.random((2, 20, 23, 3), dtype=np.float32)
    np.testing.assert_array_equal(np.asarray(layers.MirrorPad(16)(x)),
                                  np.pad(x, [(0, 0), (16, 16), (16, 16), (0, 0)], mode="symmetric"))
    model = pe.build_model("rsgunet", width=4, residual=True)
    last = [layer for layer in model.layers if layer.name.startswith("conv")][-1]
    last.set_weights([0.05 * rng.standard_normal(w.shape).astype(np.float32) for w in last.get_weights()])
    for fmt in ("pb", "tflite"):
        report = pe.export(model, tmp_path / f"r.{fmt}", format=fmt)
        assert report["max_abs_diff"] < 1e-4, (fmt, report)
