"""pirm-enhance: tiling with image-wide statistics, batches with bad files, memory."""

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import pirm_enhance as pe
from pirm_enhance.data.synthetic import synthetic_photo
from pirm_enhance.zoo import load_official_or_random
from pirm_enhance.metrics import psnr
from pirm_enhance.tiling import TiledModel

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.heavy
@pytest.mark.parametrize("arch", pe.list_models())
def test_tiled_equals_whole_image(arch):
    """2 x 3 tiles of at most 256 with 64 px overlaps (308x452: inner edges both ways, the last tile
    along the width longer than 256, the last ones not a multiple of 32; multiples of 4, as
    Track A's x4 inputs are: ppcn_sr's two stride-2 convolutions shift an odd quarter-size
    grid). 512 tiles on a 600x900 image test the same geometry at 2.4 times the suite time."""
    model = load_official_or_random(arch)  # image statistics matter
    image = synthetic_photo(308, 452, seed=11)
    whole = np.asarray(model(image[None]))[0]
    tiled = TiledModel(model, tile=256, overlap=64)(image)
    assert psnr(np.clip(tiled, 0, 1), np.clip(whole, 0, 1)) >= 40.0
    auto = TiledModel(model, tile=256, overlap="auto")
    if auto.overlap != 64:  # a receptive field of at most 16 px: 32 px overlaps are as exact
        assert psnr(np.clip(auto(image), 0, 1), np.clip(whole, 0, 1)) >= 40.0


@pytest.mark.parametrize("arch", pe.list_models())
def test_tiles_read_every_image_wide_statistic_with_random_weights(arch):
    """Every image-wide reduction of an architecture is one that tiling replaces by the
    whole photo's (``tiling._REPLACE``): at its tiny config with seeded random weights
    (official weights can hide a missing one: the Track A PPCN's input centring measured
    97.8 dB with it, 24.7 dB without, where its official weights gave more than 40), 2 x 3
    tiles of at most 256 px agree with the whole-image run."""
    import keras
    import zoo_checks

    keras.utils.set_random_seed(3)
    model = zoo_checks.tiny_model(arch)
    image = synthetic_photo(308, 452, seed=11)
    whole = np.asarray(model(image[None]))[0]
    tiled = TiledModel(model, tile=256, overlap=64)(image)
    assert psnr(np.clip(tiled, 0, 1), np.clip(whole, 0, 1)) >= 40.0


def test_tiles_cover_the_image_and_statistics_are_image_wide():
    model = pe.build_model("ppcn_student")
    rng = np.random.default_rng(0)
    for w in model.weights:  # strong weights, so that the statistics visibly matter
        w.assign(w.numpy() + rng.normal(0, 0.3, w.shape).astype("float32"))
    tm = TiledModel(model, tile=256, overlap=64)
    cover = np.zeros((300, 421), int)
    for y0, y1, x0, x1 in tm.tiles(300, 421):
        assert y0 % 32 == 0 and x0 % 32 == 0
        cover[y0:y1, x0:x1] += 1
    assert cover.min() >= 1
    # a bright region far away changes the image statistics, hence a distant tile's output
    img = synthetic_photo(300, 421, seed=1)
    brighter = img.copy()
    brighter[:, 300:] = 1.0
    a, b = tm(img), tm(brighter)
    assert np.abs(a[:64, :64] - b[:64, :64]).max() > 1e-3
    assert psnr(np.clip(a, 0, 1), np.clip(np.asarray(model(img[None]))[0], 0, 1)) > 40


def test_auto_overlap_follows_the_receptive_field():
    """``overlap="auto"``: 32 px for networks that see at most 16 px around a pixel (PPCN 10,
    SRCNN 8), 48 up to 24 (DPED 18), 64 otherwise (RSGUNet's whole-image field); the picture is
    the one of 64 px overlaps, and a 12 MP photo computes 1.25x (1.30x) its pixels instead of 1.46x."""
    from pirm_enhance.tiling import axis_spans, receptive_radius

    found = {}
    for arch in ("ppcn_student", "srcnn", "dped_resnet_12_64", "rsgunet"):
        tm = TiledModel(pe.build_model(arch), tile=256, overlap="auto")
        found[arch] = (tm.radius, tm.overlap)
    assert found["ppcn_student"] == (10, 32) and found["srcnn"] == (8, 32)  # 9-1-5 kernels: 4 + 0 + 2 (+2 phase)
    assert found["dped_resnet_12_64"] == (18, 48)  # 9x9, ten 3x3, 9x9: 4 + 10 + 4
    assert found["rsgunet"][1] == 64 and found["rsgunet"][0] > 60
    assert receptive_radius(pe.build_model("srcnn")) == 8

    model = pe.build_model("ppcn_student")
    rng = np.random.default_rng(0)
    for w in model.weights:  # strong weights, so that the statistics visibly matter
        w.assign(w.numpy() + rng.normal(0, 0.3, w.shape).astype("float32"))
    img = synthetic_photo(300, 421, seed=1)
    auto = TiledModel(model, tile=256, overlap="auto")
    assert auto.overlap == 32 and len(auto.tiles(300, 421)) < len(TiledModel(model, tile=256, overlap=64).tiles(300, 421))
    assert np.abs(auto(img) - TiledModel(model, tile=256, overlap=64)(img)).max() < 1e-4
    factor = {ov: sum(e - s for s, e in axis_spans(4000, 768, ov)) * sum(e - s for s, e in axis_spans(3000, 768, ov))
              / 12e6 for ov in (32, 48, 64)}
    assert factor[32] < 1.25 and factor[48] < 1.3 and factor[64] > 1.45
    dped = pe.build_model("dped_resnet_12_64")  # random weights: tiles with 48 px overlaps stay exact
    tiled = TiledModel(dped, tile=160, overlap="auto")
    assert tiled.overlap == 48 and len(tiled.tiles(300, 421)) > 1
    assert np.abs(tiled(img) - TiledModel(dped, tile=512)(img)).max() < 1e-4  # one 512-px tile: the whole photo
    from pirm_enhance.errors import UsageError

    with pytest.raises(UsageError, match="or --overlap auto"):
        TiledModel(model, tile=256, overlap="wide")


@pytest.mark.parametrize("tile,overlap", [(512, 64), (768, 64), (1152, 64), (256, 64), (96, 32)])
def test_axis_spans_are_few_aligned_overlapping_and_even(tile, overlap):
    from pirm_enhance.tiling import DEFAULT_TILE, axis_spans

    for n in range(1, 3100, 3):
        spans = axis_spans(n, tile, overlap)
        assert spans[0][0] == 0 and spans[-1][1] == n
        assert all(e - s <= tile + 31 for s, e in spans)
        for (s0, e0), (s1, e1) in zip(spans, spans[1:]):
            assert s1 % 32 == 0 and s0 < s1 and e0 - s1 >= 2 * overlap
    # a 12 MP photo: 7 x 5 tiles of 704 px compute 1.46x its pixels (the old fixed-step
    # tiles of 512 computed 1.93x); the default, 1152, 4 x 3 tiles of about 1.2 MP, 1.23x
    a, b = axis_spans(4000, 768, 64), axis_spans(3000, 768, 64)
    assert (len(a), len(b)) == (7, 5)
    assert sum(e - s for s, e in a) * sum(e - s for s, e in b) / 12e6 < 1.46
    a, b = axis_spans(4000, DEFAULT_TILE, 64), axis_spans(3000, DEFAULT_TILE, 64)
    assert (len(a), len(b)) == (4, 3)
    assert sum(e - s for s, e in a) * sum(e - s for s, e in b) / 12e6 < 1.23
    assert axis_spans(900, 512, 64) == [(0, 512), (384, 900)]


def _write_inputs(folder):
    folder.mkdir()
    Image.fromarray(np.uint8(synthetic_photo(90, 130, seed=1) * 255)).save(folder / "a.jpg")
    Image.fromarray(np.uint8(synthetic_photo(70, 50, seed=2) * 255)[..., 0]).save(folder / "b_gray.png")
    (folder / "c_corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 broken")
    rgba = np.concatenate([np.uint8(synthetic_photo(40, 40, seed=3) * 255), np.full((40, 40, 1), 128, np.uint8)], -1)
    Image.fromarray(rgba, "RGBA").save(folder / "d_alpha.png")


def test_batch_goes_on_past_a_corrupt_file_and_exits_nonzero(tmp_path):
    model = pe.build_model("ppcn_student")
    model.save(tmp_path / "m.keras")
    _write_inputs(tmp_path / "in")
    proc = subprocess.run([sys.executable, "-m", "pirm_enhance.cli.enhance", str(tmp_path / "in"),
                           "-o", str(tmp_path / "out"), "--model", str(tmp_path / "m.keras"), "--compare"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1
    assert "c_corrupt.jpg" in proc.stderr and "Traceback" not in proc.stderr
    out = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert out == ["a.jpg", "a_compare.png", "b_gray.png", "b_gray_compare.png", "d_alpha.png",
                   "d_alpha_compare.png"]
    with Image.open(tmp_path / "out" / "d_alpha.png") as im:
        assert im.mode == "RGBA"


def test_enhance_api_and_frozen_graph_model(tmp_path):
    model = pe.build_model("ppcn_student")
    img = synthetic_photo(64, 96, seed=4)
    out = pe.enhance(model, img)
    np.testing.assert_allclose(out, np.asarray(model(img[None]))[0], atol=1e-5)
    pe.export(model, tmp_path / "m.pb", format="pb", allow_rule_violations=True)
    np.testing.assert_allclose(pe.enhance(str(tmp_path / "m.pb"), img), out, atol=1e-4)


MEMORY_SCRIPT = r"""
import sys, time
import numpy as np
import pirm_enhance as pe
from pirm_enhance.tiling import TiledModel
from pirm_enhance.data.synthetic import synthetic_photo
model = pe.build_model("dped_resnet_12_64")
image = np.tile(synthetic_photo(500, 500, seed=0), (6, 8, 1))  # 3000 x 4000
start = time.time()
out = TiledModel(model)(image)  # the default tiles
assert out.shape == (3000, 4000, 3)
# VmHWM is this process's own peak; ru_maxrss would also count the parent's peak
# (Linux carries it over exec when the child was spawned with vfork)
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0].split()[1]
print(int(hwm) * 1024, time.time() - start)
"""


@pytest.mark.heavy
def test_12_megapixel_photo_stays_under_2gb_peak_rss():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT], capture_output=True, text=True,
                          timeout=1200, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    peak, seconds = proc.stdout.split()[-2:]
    print(f"dped_resnet_12_64 4000x3000 tiled: peak RSS {int(peak) / 2**30:.2f} GiB, {float(seconds):.0f} s")
    assert int(peak) < 2 * 2**30


def test_auto_tile_follows_the_activation_volume():
    """tile="auto": the largest side (up to 1152) whose tile pixels x activation volume stay
    within dped_resnet_12_64's in 768-px tiles; the volume counts every layer output per pixel."""
    import keras

    from pirm_enhance.tiling import DEFAULT_TILE, SAFE_TILE, TiledModel, activation_volume, auto_tile

    inputs = keras.Input((None, None, 3), name="image")
    x = keras.layers.Conv2D(8, 3, padding="same")(inputs)  # 8 floats per pixel
    x = keras.layers.Conv2D(16, 3, strides=2, padding="same")(x)  # 16 at a quarter of the pixels: 4
    outputs = keras.layers.UpSampling2D(2)(keras.layers.Conv2D(3, 1)(x))  # 3 / 4 + 3
    model = keras.Model(inputs, outputs)
    assert activation_volume(model) == pytest.approx(8 + 4 + 0.75 + 3)
    assert (auto_tile(1990), auto_tile(1222), auto_tile(102), auto_tile(1e6)) == (768, 960, DEFAULT_TILE, SAFE_TILE)
    assert TiledModel(model).tile == DEFAULT_TILE and TiledModel(model, tile=256).tile == 256
    assert TiledModel(pe.build_model("dped_resnet_12_64")).tile == 768  # the zoo's heaviest: 1990 floats/pixel


def test_auto_tile_and_runtime_are_chosen_together(monkeypatch):
    """With tile and runtime both "auto", a model whose TFLite tile is left out at the large
    tile (XNNPACK buffers) is run in 768-px TFLite tiles when that makes the photo faster
    (first tile's time x number of tiles, from the measurements remembered per tile size)."""
    from pirm_enhance import runtimes
    from pirm_enhance.enhancer import Enhancer
    from pirm_enhance.tiling import SAFE_TILE, tile_spans

    photo = np.broadcast_to(np.float32(0.5), (3000, 4000, 3))
    enhancer = Enhancer(pe.build_model("ppcn_student"), runtime="auto")
    big = enhancer.tiled.tile
    assert big == 1152 and enhancer._auto_tile == big
    n_big, n_small = (len(tile_spans(3000, 4000, t, enhancer.tiled.overlap)) for t in (big, SAFE_TILE))
    small_ms = 100.0 * n_big / n_small  # the same photo time in either tile size, at break-even
    for tflite_ms, want in ((0.9 * small_ms, SAFE_TILE), (1.1 * small_ms, big)):
        def cached(model, h, w, tflite_ms=tflite_ms):
            if max(h, w) > SAFE_TILE:  # the large tile: TFLite left out
                return {"choice": "keras", "ms": {"keras": 100.0, "graph": 120.0},
                        "excluded": {"tflite": "XNNPACK would keep 315 MB of indirection buffers per tile"}}
            return {"choice": "tflite", "ms": {"keras": 3 * tflite_ms, "tflite": tflite_ms}, "excluded": {}}

        monkeypatch.setattr(runtimes, "cached", cached)
        enhancer._found.clear()
        assert enhancer._choose_tile(photo) == want
    # a forced tile or runtime is kept as given
    assert Enhancer(pe.build_model("ppcn_student"), tile=512, runtime="auto")._auto_tile is None
    assert Enhancer(pe.build_model("ppcn_student"), runtime="keras")._auto_tile is None


@pytest.mark.parametrize("h,w,tile,overlap", [(300, 410, 128, 32), (97, 513, 96, 32), (64, 64, 128, 64),
                                              (700, 260, 256, 64)])
def test_blending_copies_tile_cores_and_weights_only_the_bands(h, w, tile, overlap):
    """The same sum as weighting every tile in full (the rule before the cores were copied), to
    the last bit; a constant tile output comes back constant; each tile's core is its longest run
    of weight 1 (pixels no other tile counts)."""
    from pirm_enhance import tiling

    rng = np.random.default_rng(h + w)
    image = rng.random((h, w, 3), dtype=np.float32)
    ys, xs = tiling.axis_spans(h, tile, overlap), tiling.axis_spans(w, tile, overlap)
    wys, wxs = tiling._axis_weights(ys, h, overlap), tiling._axis_weights(xs, w, overlap)
    noise = {}

    def run(crop):  # a tile-dependent output, as a model whose tiles see different context
        key = crop.shape + (float(crop[0, 0, 0]),)
        noise.setdefault(key, rng.random(crop.shape, dtype=np.float32))
        return crop * 0.5 + noise[key]

    full = np.zeros((h, w, 3), np.float32)
    for (y0, y1), wy in zip(ys, wys):
        for (x0, x1), wx in zip(xs, wxs):
            full[y0:y1, x0:x1] += run(image[y0:y1, x0:x1]) * wy[:, None, None] * wx[None, :, None]
    assert np.array_equal(tiling.blend_tiles(run, image, tile, overlap), full)
    constant = tiling.blend_tiles(lambda crop: np.full_like(crop, 0.25), image, tile, overlap)
    assert np.abs(constant - 0.25).max() <= 1e-6
    for weights in (wys, wxs):
        for weight in weights:  # a tile whose every pixel is shared has no core: all of it is weighted
            c0, c1 = tiling._core(weight)
            assert np.all(weight[c0:c1] == 1.0) and (c1 > c0) == bool(np.any(weight == 1.0))
    assert tiling._core(np.array([1, 1, 0.5, 1, 1, 1, 0.2], np.float32)) == (3, 6)


def test_frozen_graph_files_take_the_tile_their_measured_activations_allow(tmp_path):
    """A ``.pb`` file's tiles follow the Keras rule from its measured activations: PPCN's
    student (a few 8-channel tensors) gets 1152-px tiles, DPED's 12x64 stays at 768; the
    measurement reads at or a little above the Keras model's own; TFLite files keep 768."""
    import keras

    from pirm_enhance.enhancer import Enhancer
    from pirm_enhance.runners import make_runner
    from pirm_enhance.tiling import SAFE_TILE, activation_volume, auto_tile, graph_activation_volume

    keras.utils.set_random_seed(0)
    tiles = {}
    for arch in ("ppcn_student", "dped_resnet_12_64"):
        model = pe.build_model(arch)
        path = tmp_path / f"{arch}.pb"
        pe.export(model, path, format="pb", allow_rule_violations=True, measure_ram=False, check=False)
        measured, keras_volume = graph_activation_volume(make_runner(path)), activation_volume(model)
        assert keras_volume <= measured <= 1.5 * keras_volume, (arch, measured, keras_volume)
        tiles[arch] = Enhancer(str(path)).tile
        assert tiles[arch] == auto_tile(measured)
    assert tiles == {"ppcn_student": 1152, "dped_resnet_12_64": SAFE_TILE}
    pe.export(pe.build_model("ppcn_student"), tmp_path / "s.tflite", format="tflite", measure_ram=False,
              check=False)
    assert Enhancer(str(tmp_path / "s.tflite")).tile == SAFE_TILE


@pytest.mark.parametrize("arch", pe.list_models())
def test_a_frozen_graphs_radius_read_from_its_ops_never_falls_short_of_the_measured_one(arch, tmp_path):
    """:func:`pirm_enhance.tiling.graph_receptive_radius` on every architecture's ``.pb``
    file is unknown (``None``) or at least the radius the Keras model's gradient shows
    (its fixed-statistics twin), so the overlap it gives a file keeps tiling exact. Where
    the gradient reaches the whole probe (a global feature, or no gradient through dead
    random units) there is no local radius to compare with."""
    import keras
    from zoo_checks import tiny_model

    from pirm_enhance.runners import make_runner
    from pirm_enhance.tiling import RADIUS_PROBE, TiledModel, graph_receptive_radius

    keras.utils.set_random_seed(0)
    model = tiny_model(arch)
    measured = TiledModel(model, overlap="auto").radius
    path = tmp_path / f"{arch}.pb"
    pe.export(model, path, format="pb", allow_rule_violations=True, measure_ram=False, check=False)
    runner = make_runner(path)
    read = graph_receptive_radius(runner.graph, runner.input, runner.output)
    if read is not None and measured < RADIUS_PROBE // 2 - 8:
        assert read >= measured, (read, measured)


def test_frozen_graph_files_overlap_by_their_radius_and_stay_exact(tmp_path):
    """SRCNN's ``.pb`` (radius 8: 9x9, 5x5 and 5x5 convolutions) gets 32-px overlaps and
    its tiles give the whole-image output; DPED's 12x64 (radius 18) gets 48; a TFLite file
    keeps the default 64."""
    import keras

    from pirm_enhance.enhancer import Enhancer
    from pirm_enhance.runners import make_runner
    from pirm_enhance.tiling import DEFAULT_OVERLAP, graph_receptive_radius

    keras.utils.set_random_seed(0)
    overlaps = {}
    for arch in ("srcnn", "dped_resnet_12_64"):
        path = tmp_path / f"{arch}.pb"
        pe.export(pe.build_model(arch), path, format="pb", allow_rule_violations=True, measure_ram=False,
                  check=False)
        runner = make_runner(path)
        overlaps[arch] = (graph_receptive_radius(runner.graph, runner.input, runner.output),
                          Enhancer(str(path)).overlap)
    assert overlaps == {"srcnn": (8, 32), "dped_resnet_12_64": (18, 48)}
    img = synthetic_photo(150, 170, seed=4)
    whole = make_runner(tmp_path / "srcnn.pb")(img[None])[0]
    tiled = Enhancer(str(tmp_path / "srcnn.pb"), tile=96, whole_pixels=0)  # 96: the shortest for 32-px overlaps
    assert tiled.overlap == 32
    np.testing.assert_allclose(tiled(img), whole, atol=2e-5)
    pe.export(pe.build_model("srcnn"), tmp_path / "s.tflite", format="tflite", measure_ram=False, check=False)
    assert Enhancer(str(tmp_path / "s.tflite")).overlap == DEFAULT_OVERLAP
