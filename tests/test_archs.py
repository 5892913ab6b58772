"""Every registered architecture: builds, any size, range, .keras round trip."""

import keras
import numpy as np
import pytest

import pirm_enhance as pe

HEAD_RANGE = {"rsgunet": (0.52 - 0.58, 0.52 + 0.58)}


@pytest.fixture(scope="module", params=pe.list_models())
def model(request):
    keras.utils.set_random_seed(1)
    return pe.build_model(request.param)


@pytest.mark.parametrize("shape", [(1, 37, 91, 3), (1, 100, 100, 3)])
def test_runs_at_any_size_and_stays_in_range(model, shape, rng):
    x = rng.random(shape, dtype=np.float32)
    y = np.asarray(model(x))
    assert y.shape == shape
    assert np.isfinite(y).all()
    lo, hi = HEAD_RANGE.get(model.name, (0.5 - 0.58, 0.5 + 0.58))
    assert y.min() >= lo - 1e-6 and y.max() <= hi + 1e-6
    # the output depends on the input
    assert not np.allclose(y, np.asarray(model(np.zeros(shape, np.float32))))


def test_keras_round_trip(model, tmp_path, rng):
    # perturb every weight so that the round trip cannot pass on initial values
    for w in model.weights:
        w.assign(w.numpy() + rng.normal(0, 0.01, w.shape).astype("float32"))
    x = rng.random((1, 29, 43, 3), dtype=np.float32)
    path = tmp_path / f"{model.name}.keras"
    model.save(path)
    again = keras.saving.load_model(path)
    assert type(again) is type(model)
    np.testing.assert_array_equal(np.asarray(model(x)), np.asarray(again(x)))
    assert pe.load_model(str(path)).count_params() == model.count_params()


def test_batch_and_image_independence(model, rng):
    """Instance norms and contrast are per image: a batch equals its images run alone."""
    x = rng.random((2, 24, 40, 3), dtype=np.float32)
    both = np.asarray(model(x))
    for i in range(2):
        np.testing.assert_allclose(both[i:i + 1], np.asarray(model(x[i:i + 1])), atol=2e-5)


def test_unknown_architecture_lists_close_matches():
    with pytest.raises(KeyError, match="dped_resnet_12_64"):
        pe.build_model("dped_resnet_12_46")


def test_architecture_name_without_tag_explains_itself():
    with pytest.raises(KeyError, match="ppcn_student.paper"):
        pe.load_model("ppcn_student")
