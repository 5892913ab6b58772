"""The pretrained table and where its files come from.

The table itself is data (``pretrained.json``: name, architecture, challenge track, files with
sha256 and pinned upstream URLs, origin, licence note, verified metrics). A
file is looked for, in order:

1. in the directories of ``PIRM_WEIGHTS_DIR`` (an ``os.pathsep`` list), by any
   of its upstream names anywhere below, accepted only if its sha256 matches;
2. in the cache, ``$PIRM_HOME/weights/<entry>/`` (default ``~/.cache/pirm_enhance``);
3. downloaded from its pinned URLs with ``keras.utils.get_file`` and the sha256.

If all three fail the error names the file, its URL and the variables to set.
There is no fallback to random weights.
"""

import contextlib
import functools
import hashlib
import json
import os
import pathlib
import shutil
import sys
import tempfile

from pirm_enhance.registry import unknown

_TABLE_PATH = pathlib.Path(__file__).with_name("pretrained.json")
DEFAULT_NAME = "default"  # the project's own model (models/default.keras), loadable by this name


from pirm_enhance.errors import WeightsUnavailable  # noqa: E402  (re-exported)


@functools.lru_cache(maxsize=None)
def _table():
    with open(_TABLE_PATH) as f:
        return {e["name"]: e for e in json.load(f)}


def list_pretrained(arch=None, track=None):
    """Names (``arch.tag``) of the pretrained entries, optionally of one architecture and/or
    one challenge track (``"A"``: x4 super-resolution, ``"B"``: enhancement; the table's
    ``track`` field)."""
    return sorted(n for n, e in _table().items()
                  if (arch is None or e["arch"] == arch) and (track is None or e["track"] == track))


def get_entry(name):
    """The table row of ``name`` (a dict); KeyError with close matches if unknown."""
    try:
        return _table()[name]
    except KeyError:
        raise unknown("pretrained model", name, [DEFAULT_NAME, *_table()]) from None


def home():
    """The cache root: ``$PIRM_HOME`` or ``~/.cache/pirm_enhance``."""
    return pathlib.Path(os.environ.get("PIRM_HOME") or pathlib.Path.home() / ".cache" / "pirm_enhance")


@functools.lru_cache(maxsize=4096)
def _sha256_cached(path, size, mtime):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256(path):
    """Hex sha256 of a file (memoised on path, size and mtime)."""
    st = os.stat(path)
    return _sha256_cached(str(path), st.st_size, st.st_mtime_ns)


def _weights_dirs():
    value = os.environ.get("PIRM_WEIGHTS_DIR", "")
    return [pathlib.Path(p) for p in value.split(os.pathsep) if p]


def _find_local(spec):
    names = {spec["name"], *spec.get("also_named", ())}
    for root in _weights_dirs():
        for dirpath, _, filenames in os.walk(root):
            for fname in sorted(names.intersection(filenames)):
                path = pathlib.Path(dirpath) / fname
                if os.path.getsize(path) == spec["bytes"] and sha256(path) == spec["sha256"]:
                    return path
    return None


def _download(entry, spec, target_dir):
    import keras  # deferred: keeps ``import pirm_enhance.pretrained`` light

    target_dir.mkdir(parents=True, exist_ok=True)  # get_file falls back to /tmp otherwise
    errors = []
    for url in spec["urls"]:
        try:
            # get_file prints its progress on stdout; keep stdout for results (pirm-score --json)
            with contextlib.redirect_stdout(sys.stderr):
                path = keras.utils.get_file(
                    fname=spec["name"], origin=url, file_hash=spec["sha256"],
                    cache_dir=str(target_dir.parent.parent), cache_subdir=f"weights/{entry['name']}")
        except Exception as err:  # network errors come in many types
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            errors.append(reason.rsplit(" -- ", 1)[-1].replace(url, "").strip(" :") or type(err).__name__)
            partial = target_dir / spec["name"]
            if partial.exists() and sha256(partial) != spec["sha256"]:
                partial.unlink()  # get_file leaves a file that failed its hash check
            continue
        return pathlib.Path(path)
    raise _Missing(spec, errors)


class _Missing(Exception):
    def __init__(self, spec, errors):
        super().__init__(spec["name"])
        self.spec, self.errors = spec, errors


def _missing_error(entry, missing):
    """One line naming every file of ``entry`` that could not be had, with URL and sha256."""
    target_dir = home() / "weights" / entry["name"]
    files = "; ".join(f"{m.spec['urls'][0]} (sha256 {m.spec['sha256']})" for m in missing)
    why = "; ".join(dict.fromkeys(e for m in missing for e in m.errors)) or "no URL"
    return WeightsUnavailable(
        f"pretrained {entry['name']} needs {len(entry['files'])} file(s) "
        f"({', '.join(s['name'] for s in entry['files'])}); not found in PIRM_WEIGHTS_DIR "
        f"({os.environ.get('PIRM_WEIGHTS_DIR') or 'unset'}) nor in the cache ({target_dir}), and downloading "
        f"failed ({why}). Download {files} into one folder and set PIRM_WEIGHTS_DIR to it, or go online.")


def resolve_file(entry, spec):
    """Local path of one file of a pretrained entry (see module doc for the order)."""
    try:
        return _resolve_file(entry, spec)
    except _Missing as err:
        raise _missing_error(entry, [err]) from None


def _resolve_file(entry, spec):
    found = _find_local(spec)
    if found is not None:
        return found
    target_dir = home() / "weights" / entry["name"]
    cached = target_dir / spec["name"]
    if cached.exists() and sha256(cached) == spec["sha256"]:
        return cached
    return _download(entry, spec, target_dir)


def resolve(name):
    """Checkpoint prefix (``.../stem``) of pretrained entry ``name``, fetching files if needed.

    When the index and data files were found under different folders or names,
    they are linked (or copied) side by side into the cache under their
    canonical names, since TF reads a checkpoint by prefix.
    """
    entry = get_entry(name)
    paths, missing = [], []
    for spec in entry["files"]:
        try:
            paths.append(_resolve_file(entry, spec))
        except _Missing as err:
            missing.append(err)
    if missing:
        raise _missing_error(entry, missing)
    stems = {p.parent / p.name[: -len(spec["role"]) - 1] for p, spec in zip(paths, entry["files"])}
    if len(stems) == 1:
        return str(stems.pop())
    target_dir = home() / "weights" / entry["name"]
    target_dir.mkdir(parents=True, exist_ok=True)
    for path, spec in zip(paths, entry["files"]):
        dest = target_dir / spec["name"]
        if dest.exists() and sha256(dest) == spec["sha256"]:
            continue
        tmp = tempfile.NamedTemporaryFile(dir=target_dir, delete=False)
        tmp.close()
        shutil.copyfile(path, tmp.name)
        os.replace(tmp.name, dest)
    spec = entry["files"][0]
    return str(target_dir / spec["name"][: -len(spec["role"]) - 1])
