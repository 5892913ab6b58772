"""The enhancer's tile runtimes: same pictures in every runtime, the fastest chosen by
measurement and remembered per machine, --runtime forces one."""

import json
import logging

import numpy as np
import pytest

import pirm_enhance as pe
from pirm_enhance import runtimes
from pirm_enhance.data.synthetic import synthetic_photo
from pirm_enhance.enhancer import Enhancer
from pirm_enhance.errors import UsageError
from pirm_enhance.tiling import TiledModel
from zoo_checks import arch_class, tiny_model


# TFLite conversion costs seconds per tile size: every kind of statistics layer once
# (instance norms and the contrast layer, the global mean, none, MDIE's intrinsic
# pipeline); the frozen graph, which TFLite is converted from, on every architecture
_TFLITE_ARCHS = ("ppcn_student", "rsgunet", "srcnn", "mdie")
_CASES = [("graph", a) for a in pe.list_models()] + [("tflite", a) for a in _TFLITE_ARCHS]


@pytest.mark.parametrize("runtime,arch", _CASES)
def test_every_runtime_gives_the_keras_picture(arch, runtime):
    """A 150x230 photo in 2 x 2 tiles of at most 128 (the last ones longer, not a multiple
    of 32): the frozen graph and the TFLite files (one per tile size) with the statistics
    fed as an input give the Keras twin's output to float rounding."""
    model = tiny_model(arch)
    image = synthetic_photo(150, 230, seed=4)
    if model(image[None, :32, :32]).shape[1] != 32:
        pytest.skip(f"{arch} changes the image size: not an enhancer")
    rng = np.random.default_rng(1)
    for w in model.weights:  # strong weights, so that the image-wide statistics matter
        w.assign(w.numpy() + rng.normal(0, 0.05, w.shape).astype("float32"))
    tiled = TiledModel(model, tile=128, overlap=32)
    assert len({(y1 - y0, x1 - x0) for y0, y1, x0, x1 in tiled.tiles(150, 230)}) > 1
    reference = tiled(image)
    out = tiled(image, run=runtimes.make(runtime, tiled))
    assert out.shape == reference.shape
    assert np.abs(out - reference).max() <= 1e-3


def _ppcn():
    model = pe.build_model("ppcn_student")  # instance norms, contrast layer and means
    rng = np.random.default_rng(0)
    for w in model.weights:
        w.assign(w.numpy() + rng.normal(0, 0.1, w.shape).astype("float32"))
    return model


def test_choice_is_measured_then_remembered_for_the_architecture(monkeypatch):
    model = _ppcn()
    tiled = TiledModel(model, tile=128, overlap=32)
    image = synthetic_photo(200, 300, seed=2)
    tiled.set_statistics(image)
    crop = np.ascontiguousarray(image[:128, :128])
    runtime, entry = runtimes.choose(tiled, crop, rounds=2)
    assert set(entry["ms"]) | set(entry["excluded"]) == set(runtimes.TILE_RUNTIMES)
    assert entry["choice"] == min(entry["ms"], key=entry["ms"].get) == runtime.name
    assert all(v > 0 for v in entry["ms"].values()) and entry["tile"] == "128x128"
    cache = json.loads(runtimes.cache_path().read_text())
    assert list(cache.values()) == [entry] and runtimes.machine() == entry["machine"]
    # the same architecture with other weights, in a new TiledModel: no measurement
    monkeypatch.setattr(runtimes, "measure", lambda *a, **k: pytest.fail("measured again"))
    other = pe.build_model("ppcn_student")
    again, cached = runtimes.choose(TiledModel(other, tile=128, overlap=32), crop)
    assert cached == entry and again.name == entry["choice"]
    # another tile size or another architecture is another key
    assert runtimes.cached(other, 96, 128) is None
    assert runtimes.cached(pe.build_model("ppcn_student", **arch_class("ppcn_student").tiny_config), 128, 128) is None


def test_a_corrupt_cache_is_measured_again_and_rewritten(caplog):
    path = runtimes.cache_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{not json")
    tiled = TiledModel(tiny_model("rsgunet"), tile=96, overlap=32)
    image = synthetic_photo(96, 96, seed=1)
    tiled.set_statistics(image)
    with caplog.at_level(logging.WARNING):
        _, entry = runtimes.choose(tiled, image, rounds=1)
    assert "unreadable" in caplog.text
    assert list(json.loads(path.read_text()).values()) == [entry]


def test_a_malformed_cache_entry_is_measured_again():
    """An entry without its times (an edited or older file) is not used: measured again and
    rewritten, instead of a KeyError when the choice is described."""
    tiled = TiledModel(tiny_model("rsgunet"), tile=96, overlap=32)
    image = synthetic_photo(96, 96, seed=1)
    tiled.set_statistics(image)
    path, key = runtimes.cache_path(), runtimes.cache_key(tiled.model, 96, 96)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({key: {"choice": "graph"}}))
    assert runtimes.cached(tiled.model, 96, 96) is None
    _, entry = runtimes.choose(tiled, image, rounds=1)
    assert "ms" in entry and runtimes.describe(entry).startswith("runtime ")
    assert json.loads(path.read_text())[key] == entry


def test_tiles_too_short_for_their_overlap_are_refused_not_looped():
    """A model file's --tile is checked as a Keras model's is, and the span search itself refuses
    a tile that cannot keep its overlaps (it used to loop for ever on photos over 2 MP)."""
    from pirm_enhance.tiling import axis_spans

    with pytest.raises(UsageError, match="too short for overlaps of 64"):
        axis_spans(3000, 128, 64)
    with pytest.raises(UsageError, match="too short for overlaps of 48"):
        axis_spans(3000, 96, 48)
    assert axis_spans(3000, 160, 64)[-1][1] == 3000


def test_enhancer_auto_measures_big_photos_only_and_keeps_the_picture():
    model = _ppcn()
    image = synthetic_photo(200, 300, seed=3)
    small = Enhancer(model, tile=128, overlap=32, measure_pixels=10**9)
    keras_out = small(image)
    assert small.last_runtime == ("keras", None)  # nothing cached, below measure_pixels
    assert not runtimes.cache_path().exists()
    auto = Enhancer(model, tile=128, overlap=32, measure_pixels=1)
    out = auto(image)
    name, entry = auto.last_runtime
    assert entry is not None and name == entry["choice"]
    assert np.abs(out - keras_out).max() <= 1e-3
    # the remembered choice now serves photos of that tile size below measure_pixels too
    later = Enhancer(model, tile=128, overlap=32, measure_pixels=10**9)
    later(image)
    assert later.last_runtime == (name, entry)


@pytest.mark.parametrize("runtime", ["graph", "tflite"])
def test_forced_runtime_is_used_without_measuring(runtime, monkeypatch):
    monkeypatch.setattr(runtimes, "measure", lambda *a, **k: pytest.fail("measured"))
    enhancer = Enhancer(_ppcn(), tile=128, overlap=32, runtime=runtime, measure_pixels=1)
    enhancer(synthetic_photo(150, 150, seed=5))
    assert enhancer.last_runtime == (runtime, None)
    assert type(enhancer._tile_runtimes[runtime]).name == runtime


def test_runtime_names_and_model_files_are_checked(tmp_path):
    with pytest.raises(UsageError, match="unknown runtime 'fast'"):
        Enhancer(tiny_model("srcnn"), runtime="fast")
    path = tmp_path / "m.pb"
    pe.export(tiny_model("srcnn"), path, format="pb", measure_ram=False)
    with pytest.raises(UsageError, match="applies to Keras models"):
        Enhancer(str(path), runtime="tflite")
    Enhancer(str(path), runtime="auto")  # a file runs in its own runtime
    for tile, overlap in ((33, 0), (256, 48), (128, 64)):  # a file's tile is checked as a Keras model's
        with pytest.raises(UsageError, match="multiples of 32"):
            Enhancer(str(path), tile=tile, overlap=overlap)
    with pytest.raises(UsageError, match="tile 64 is too short for .*overlaps of 32 px.*--tile 96"):
        Enhancer(str(path), tile=64)  # the automatic overlap (its radius, 8 px, rounds up to 32)
    assert Enhancer(str(path), tile=96).overlap == 32


def test_cli_help_names_the_runtimes():
    from pirm_enhance.cli import enhance

    text = enhance.parser().format_help()
    assert "--runtime" in text and "runtimes.json" in text


def test_a_failing_tile_runtime_falls_back_to_keras(monkeypatch, caplog):
    model = _ppcn()
    image = synthetic_photo(150, 150, seed=6)
    expected = Enhancer(model, tile=128, overlap=32, runtime="keras")(image)
    enhancer = Enhancer(model, tile=128, overlap=32, runtime="graph")

    def broken(self, crop, statistics):
        raise RuntimeError("cannot plan this tile")

    monkeypatch.setattr(runtimes.GraphTiles, "__call__", broken)
    with caplog.at_level(logging.WARNING):
        out = enhancer(image)
    assert "graph tile runtime failed (cannot plan this tile)" in caplog.text
    assert enhancer.last_runtime[0] == "keras"
    np.testing.assert_array_equal(out, expected)
