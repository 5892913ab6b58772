"""Offline mode of the pretrained table (PIRM_OFFLINE, one download attempt per process) and the
demo's look for official checkpoints (tools/demo.py). No test touches the network: the download
function (keras.utils.get_file) and urllib's openers are replaced."""

import functools
import importlib.util
import os
import pathlib
import shutil
import urllib.error
import urllib.request

import numpy as np
import pytest

import pirm_enhance as pe
from pirm_enhance import pretrained

ROOT = pathlib.Path(__file__).resolve().parents[1]


@functools.lru_cache(maxsize=None)
def _demo():
    """tools/demo.py as a module (its import may set PIRM_DATA_DIR: undone here)."""
    saved = os.environ.get("PIRM_DATA_DIR")
    try:
        spec = importlib.util.spec_from_file_location("pirm_demo", ROOT / "tools" / "demo.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        if saved is None:
            os.environ.pop("PIRM_DATA_DIR", None)
        else:
            os.environ["PIRM_DATA_DIR"] = saved
    return module


@pytest.fixture
def no_network(monkeypatch):
    """Every download goes through ``calls``; the fake fails as ``fail`` says (a callable
    raising the error, default: a DNS failure the way keras.utils.get_file reports it)."""
    import keras

    class Calls(list):
        pass

    calls, state = Calls(), {"fail": None}

    def fake_get_file(fname, origin, **kwargs):
        calls.append(origin)
        if state["fail"] is not None:
            state["fail"](origin)
        try:
            raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")
        except urllib.error.URLError as err:
            raise Exception(f"URL fetch failure on {origin}: None -- {err.reason}")  # keras' wording

    def refuse(*args, **kwargs):
        raise AssertionError("a test tried the real network")

    monkeypatch.setattr(keras.utils, "get_file", fake_get_file)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(urllib.request, "urlretrieve", refuse)
    monkeypatch.setattr(pretrained, "_network_failed", None)  # this process has not failed yet
    monkeypatch.delenv("PIRM_OFFLINE", raising=False)
    monkeypatch.delenv("PIRM_WEIGHTS_DIR", raising=False)
    calls.state = state
    return calls


def _fake_entries(tmp_path, monkeypatch, names=("srcnn.fake1", "srcnn.fake2"), track="B", urls=None):
    """Table entries of two files each, whose bytes are in ``tmp_path/upstream/<name>/``
    (for copying into a weights folder) and whose URLs are https (never reached)."""
    table = dict(pretrained._table())
    for name in names:
        upstream = tmp_path / "upstream" / name
        upstream.mkdir(parents=True)
        files = []
        for role in ("index", "data-00000-of-00001"):
            path = upstream / f"{name.replace('.', '_')}.{role}"
            path.write_bytes(f"{name} {role}".encode())
            files.append({"name": path.name, "also_named": [], "role": role, "sha256": pretrained.sha256(path),
                          "bytes": path.stat().st_size,
                          "urls": urls or [f"https://example.invalid/{path.name}",
                                           f"https://mirror.example.invalid/{path.name}"]})
        table[name] = {"name": name, "arch": "srcnn", "track": track, "files": files, "metrics": None}
    monkeypatch.setattr(pretrained, "_table", lambda: table)
    return tmp_path / "upstream"


def test_offline_env_never_calls_the_download(tmp_path, monkeypatch, no_network):
    _fake_entries(tmp_path, monkeypatch)
    monkeypatch.setenv("PIRM_OFFLINE", "1")
    with pytest.raises(pe.WeightsUnavailable) as info:
        pretrained.resolve("srcnn.fake1")
    assert no_network == []
    msg = str(info.value)
    assert "\n" not in msg and info.value.exit_code == 5
    assert "offline mode (PIRM_OFFLINE=1)" in msg and "PIRM_WEIGHTS_DIR" in msg and "unset PIRM_OFFLINE" in msg
    assert "srcnn_fake1.index" in msg and "srcnn_fake1.data-00000-of-00001" in msg
    with pytest.raises(pe.WeightsUnavailable):
        pe.load_model("srcnn.fake2")  # the library's loader too
    assert no_network == []


def test_offline_env_zero_means_online(tmp_path, monkeypatch, no_network):
    _fake_entries(tmp_path, monkeypatch)
    monkeypatch.setenv("PIRM_OFFLINE", "0")
    with pytest.raises(pe.WeightsUnavailable):
        pretrained.resolve("srcnn.fake1")
    assert len(no_network) == 1


def test_one_failed_download_then_no_network_for_the_process(tmp_path, monkeypatch, no_network):
    _fake_entries(tmp_path, monkeypatch)
    with pytest.raises(pe.WeightsUnavailable) as first:
        pretrained.resolve("srcnn.fake1")
    # one attempt: not the mirror URL, not the entry's second file
    assert no_network == ["https://example.invalid/srcnn_fake1.index"]
    assert "\n" not in str(first.value) and "offline mode for the rest of this process" in str(first.value)
    assert "Temporary failure in name resolution" in str(first.value)
    with pytest.raises(pe.WeightsUnavailable) as second:
        pretrained.resolve("srcnn.fake2")
    assert len(no_network) == 1  # no network call for another missing entry
    msg = str(second.value)
    assert "\n" not in msg and "offline mode for the rest of this process" in msg
    assert "srcnn_fake2.index" in msg and "PIRM_WEIGHTS_DIR" in msg and "run again when online" in msg
    # files that are here are still found
    local = tmp_path / "mine"
    shutil.copytree(tmp_path / "upstream" / "srcnn.fake2", local)
    monkeypatch.setenv("PIRM_WEIGHTS_DIR", str(local))
    assert pretrained.resolve("srcnn.fake2") == str(local / "srcnn_fake2")
    assert len(no_network) == 1


def test_an_http_error_is_not_offline(tmp_path, monkeypatch, no_network):
    """A server that answers 404 is a broken URL, not a missing network: later files are tried."""
    _fake_entries(tmp_path, monkeypatch)

    def not_found(origin):
        try:
            raise urllib.error.HTTPError(origin, 404, "Not Found", None, None)
        except urllib.error.HTTPError as err:
            raise Exception(f"URL fetch failure on {origin}: {err.code} -- {err.msg}")

    no_network.state["fail"] = not_found
    with pytest.raises(pe.WeightsUnavailable) as info:
        pretrained.resolve("srcnn.fake1")
    assert len(no_network) == 4  # both URLs of both files
    assert "offline" not in str(info.value) and "Not Found" in str(info.value)
    assert pretrained.offline_reason() is None


def test_file_urls_are_not_network(tmp_path, monkeypatch):
    """PIRM_OFFLINE and a failed download keep file:// URLs (a local mirror) working."""
    upstream = _fake_entries(tmp_path, monkeypatch, names=("srcnn.fake1",))
    for spec in pretrained.get_entry("srcnn.fake1")["files"]:
        spec["urls"] = [(upstream / "srcnn.fake1" / spec["name"]).as_uri()]
    monkeypatch.setattr(pretrained, "_network_failed", "earlier failure")
    monkeypatch.setenv("PIRM_OFFLINE", "1")
    monkeypatch.delenv("PIRM_WEIGHTS_DIR", raising=False)
    prefix = pretrained.resolve("srcnn.fake1")
    assert pathlib.Path(prefix).parent == pretrained.home() / "weights" / "srcnn.fake1"


def test_demo_finds_a_checkpoint_in_weights_dir(tmp_path, monkeypatch, no_network):
    upstream = _fake_entries(tmp_path, monkeypatch)
    _fake_entries(tmp_path / "a", monkeypatch, names=("srcnn.fake_a",), track="A")
    local = tmp_path / "weights" / "some" / "folder"
    shutil.copytree(upstream / "srcnn.fake1", local)
    shutil.copytree(tmp_path / "a" / "upstream" / "srcnn.fake_a", tmp_path / "weights" / "track_a")
    monkeypatch.setenv("PIRM_WEIGHTS_DIR", str(tmp_path / "weights"))
    demo = _demo()
    assert demo.official_checkpoints("B") == [("srcnn.fake1", str(local / "srcnn_fake1"))]  # not Track A
    assert no_network == []


def test_demo_finds_a_checkpoint_in_the_cache(tmp_path, monkeypatch, no_network):
    upstream = _fake_entries(tmp_path, monkeypatch)
    shutil.copytree(upstream / "srcnn.fake2", pretrained.home() / "weights" / "srcnn.fake2")
    assert _demo().official_checkpoints("B") == [
        ("srcnn.fake2", str(pretrained.home() / "weights" / "srcnn.fake2" / "srcnn_fake2"))]
    assert no_network == []


def test_demo_finds_real_official_files(tmp_path, monkeypatch, no_network, weights_dir):
    """The real table and sha256: ppcn_student.paper's files copied into an empty folder."""
    wanted = {"student.ckpt.index", "student.ckpt.data-00000-of-00001",  # ppcn_student.paper (Track B)
              "div2k_srcnn.index", "div2k_srcnn.data-00000-of-00001"}  # srcnn.pirm_div2k (Track A)
    here = {p.name: p for p in weights_dir.rglob("*") if p.name in wanted}
    if set(here) != wanted:
        pytest.skip(f"PIRM_WEIGHTS_DIR={weights_dir} lacks {sorted(wanted - set(here))}")
    local = tmp_path / "w" / "nested"
    local.mkdir(parents=True)
    for path in here.values():
        shutil.copy(path, local / path.name)
    monkeypatch.setenv("PIRM_WEIGHTS_DIR", str(tmp_path / "w"))
    demo = _demo()
    found = demo.official_checkpoints("B")
    assert found == [("ppcn_student.paper", str(local / "student.ckpt"))]
    assert demo.best_official(name for name, _ in found) == "ppcn_student.paper"
    assert no_network == []


def test_demo_finds_nothing_in_an_empty_dir_and_prints_one_hint(tmp_path, monkeypatch, no_network, capsys):
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("PIRM_WEIGHTS_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("PIRM_OFFLINE", "1")
    demo = _demo()
    found = demo.official_checkpoints("B")
    assert found == [] and no_network == []
    line = demo.announce_official(found, demo.best_official([]))
    out = capsys.readouterr().out
    assert out == line + "\n" and "\n" not in line
    assert "no official Track B checkpoints found" in line and "PIRM_WEIGHTS_DIR" in line
    assert "ppcn_teacher.paper" in line and str(tmp_path / "empty") in line


def test_demo_best_official_is_the_highest_verified_psnr():
    demo = _demo()
    assert demo.best_official(["srcnn.pirm", "ppcn_student.paper", "ppcn_teacher.paper", "eds.iphone"]) \
        == "ppcn_teacher.paper"
    assert demo.best_official(["ppcn_student.no_kd", "srcnn.pirm"]) == "srcnn.pirm"  # no_kd: not verified
    assert demo.best_official(["ppcn_student.no_kd"]) == "ppcn_student.no_kd"
    assert demo.best_official([]) is None


def test_demo_compare_image_gets_a_labelled_official_row():
    demo = _demo()
    h, w, gap = 120, 160, 8
    rng = np.random.default_rng(0)
    compare = rng.uniform(0.2, 0.8, (h, 2 * w + gap, 3)).astype(np.float32)
    official = rng.uniform(0.2, 0.8, (h, w, 3)).astype(np.float32)
    image = demo.compare_with_official(compare, official, ["legend line"], ("photo", "default", "official: x"))
    assert image.shape == (2 * h + gap, 2 * w + gap, 3)
    # photo | default row kept (labels in the top-left corners only), official under the default
    np.testing.assert_array_equal(image[h // 2:h, :], compare[h // 2:, :])
    np.testing.assert_array_equal(image[h + gap + h // 2:, w + gap:], official[h // 2:])
    assert not np.array_equal(image[h + gap:h + gap + 20, w + gap:w + gap + 60], official[:20, :60])  # label
    legend = image[h + gap:, :w]
    assert legend.min() < 0.5 and np.median(legend) == 1.0  # dark text on white
