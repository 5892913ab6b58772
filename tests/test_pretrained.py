"""The pretrained table and the file resolution order (local dirs, cache, download)."""

import json
import pathlib
import shutil

import pytest

import pirm_enhance as pe
from pirm_enhance import pretrained

REQUIRED = ["srcnn.pirm", "dped_resnet_12_64.pirm", "dped_resnet_12_64.sony",
            "dped_resnet_12_64.blackberry", "dped_resnet_8_32.pirm", "dped_resnet_6_16.pirm_div2k",
            "eds.iphone", "ppcn_teacher.paper", "ppcn_student.paper", "ppcn_student.no_kd",
            "ppcn_student.track_a", "ppcn_student.track_bc"]


def test_table_has_the_required_entries_with_complete_rows():
    names = pe.list_pretrained()
    assert set(REQUIRED) <= set(names)
    for name in names:
        e = pretrained.get_entry(name)
        assert e["arch"] in pe.list_models()
        assert name.split(".")[0] == e["arch"]
        assert e["origin"] and e["licence"]
        # a TF1 V2 checkpoint (index + data), or the older single-file V1 (VGG19-VDSR's .ckpt)
        assert {s["role"] for s in e["files"]} in ({"index", "data-00000-of-00001"}, {"ckpt"})
        for spec in e["files"]:
            assert len(spec["sha256"]) == 64 and spec["bytes"] > 0
            assert all(u.startswith("https://") and "/" + spec["name"] in u or
                       any("/" + n in u for n in spec["also_named"]) for u in spec["urls"])


def test_table_agrees_with_the_shared_manifest(weights_dir):
    manifest = weights_dir / "MANIFEST.json"
    if not manifest.exists():
        pytest.skip("no MANIFEST.json in PIRM_WEIGHTS_DIR")
    by_url = {f["url"]: f for e in json.loads(manifest.read_text()) for f in e["files"]}
    for name in pe.list_pretrained():
        for spec in pretrained.get_entry(name)["files"]:
            for url in spec["urls"]:
                assert by_url[url]["sha256"] == spec["sha256"]
                assert by_url[url]["bytes"] == spec["bytes"]


def test_unknown_pretrained_name_lists_close_matches():
    with pytest.raises(KeyError, match="ppcn_student.paper"):
        pe.load_model("ppcn_student.papr")


def _fake_entry(tmp_path, monkeypatch, payload=b"index-bytes", data=b"data-bytes"):
    """A table entry whose 'upstream' is a file:// folder, so no network is needed."""
    upstream = tmp_path / "upstream"
    upstream.mkdir()
    (upstream / "m.index").write_bytes(payload)
    (upstream / "m.data-00000-of-00001").write_bytes(data)
    files = [{"name": f"m.{role}", "also_named": [f"alias.{role}"], "role": role,
              "sha256": pretrained.sha256(upstream / f"m.{role}"),
              "bytes": (upstream / f"m.{role}").stat().st_size,
              "urls": [(upstream / f"m.{role}").as_uri()]}
             for role in ("index", "data-00000-of-00001")]
    entry = {"name": "srcnn.fake", "arch": "srcnn", "files": files}
    table = dict(pretrained._table())
    table["srcnn.fake"] = entry
    monkeypatch.setattr(pretrained, "_table", lambda: table)
    return entry, upstream


def test_resolution_prefers_weights_dir_by_any_name(tmp_path, monkeypatch):
    entry, upstream = _fake_entry(tmp_path, monkeypatch)
    local = tmp_path / "mine" / "deep" / "er"
    local.mkdir(parents=True)
    shutil.copy(upstream / "m.index", local / "alias.index")
    shutil.copy(upstream / "m.data-00000-of-00001", local / "alias.data-00000-of-00001")
    monkeypatch.setenv("PIRM_WEIGHTS_DIR", f"/nonexistent:{tmp_path / 'mine'}")
    for spec in entry["files"]:
        spec["urls"] = ["file:///nonexistent/never"]
    assert pretrained.resolve("srcnn.fake") == str(local / "alias")


def test_resolution_rejects_a_local_file_with_the_wrong_hash(tmp_path, monkeypatch):
    entry, upstream = _fake_entry(tmp_path, monkeypatch)
    local = tmp_path / "mine"
    local.mkdir()
    (local / "m.index").write_bytes(b"index-byteX")  # same size, other content
    monkeypatch.setenv("PIRM_WEIGHTS_DIR", str(local))
    prefix = pathlib.Path(pretrained.resolve("srcnn.fake"))
    assert prefix.parent == pretrained.home() / "weights" / "srcnn.fake"  # downloaded instead
    assert (prefix.parent / "m.index").read_bytes() == b"index-bytes"


def test_download_then_cache(tmp_path, monkeypatch):
    entry, upstream = _fake_entry(tmp_path, monkeypatch)
    monkeypatch.delenv("PIRM_WEIGHTS_DIR", raising=False)
    first = pretrained.resolve("srcnn.fake")
    shutil.rmtree(upstream)  # gone upstream: the cache must serve it now
    assert pretrained.resolve("srcnn.fake") == first


def test_offline_and_missing_is_one_clear_error(tmp_path, monkeypatch):
    entry, upstream = _fake_entry(tmp_path, monkeypatch)
    shutil.rmtree(upstream)
    monkeypatch.delenv("PIRM_WEIGHTS_DIR", raising=False)
    with pytest.raises(pe.WeightsUnavailable) as info:
        pe.load_model("srcnn.fake")
    msg = str(info.value)
    assert "m.index" in msg and "PIRM_WEIGHTS_DIR" in msg and entry["files"][0]["urls"][0] in msg
    assert "\n" not in msg
    # a checkpoint needs every file: all of them are named, with their URLs
    assert len(entry["files"]) == 2
    for spec in entry["files"]:
        assert spec["name"] in msg and spec["urls"][0] in msg and spec["sha256"] in msg


def test_a_corrupt_download_is_not_kept(tmp_path, monkeypatch):
    entry, upstream = _fake_entry(tmp_path, monkeypatch)
    (upstream / "m.index").write_bytes(b"tampered!!!")
    monkeypatch.delenv("PIRM_WEIGHTS_DIR", raising=False)
    with pytest.raises(pe.WeightsUnavailable):
        pretrained.resolve("srcnn.fake")
    assert not (pretrained.home() / "weights" / "srcnn.fake" / "m.index").exists()
