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

Offline mode: with ``PIRM_OFFLINE=1`` the network is never tried (step 3 is
skipped and a missing file is a :class:`WeightsUnavailable` that says so). The
first download that fails for want of a network (no route, DNS, time-out; not
an HTTP error from a server that answered, nor a hash mismatch) also puts the
process offline: one attempt, then no other network attempt until the process
ends (:func:`offline_reason`). ``file://`` URLs are not network and are always
tried. :func:`find_local` never downloads.
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
import urllib.error
import urllib.parse

from pirm_enhance.registry import unknown

_TABLE_PATH = pathlib.Path(__file__).with_name("pretrained.json")
DEFAULT_NAME = "default"  # the project's own model (models/default.keras), loadable by this name
OFFLINE_VAR = "PIRM_OFFLINE"
_network_failed = None  # why the first download of this process failed for want of a network; then no more tries


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


def _offline_env():
    return os.environ.get(OFFLINE_VAR, "").strip().lower() not in ("", "0", "false", "no", "off")


def offline_reason():
    """Why the network is not to be tried (one phrase), or ``None`` when it may be.

    ``PIRM_OFFLINE`` set to anything but ``""``, ``0``, ``false``, ``no`` or
    ``off``; or a download of this process that already failed for want of a
    network (see :func:`_is_network_error`)."""
    if _offline_env():
        return f"offline mode ({OFFLINE_VAR}={os.environ[OFFLINE_VAR]}): nothing downloaded"
    if _network_failed is not None:
        return (f"offline mode for the rest of this process since a download failed ({_network_failed}): "
                "no further download tried")
    return None


def _is_network(url):
    return urllib.parse.urlsplit(url).scheme.lower() not in ("file", "")


def _is_network_error(err):
    """True when ``err`` (or what it was raised from) says the network cannot be reached:
    no route, DNS, refused, time-out. An HTTP error (a server answered) or a hash
    mismatch (``ValueError``) is not: the next file may still download."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, urllib.error.HTTPError):
            return False
        if isinstance(err, (urllib.error.URLError, OSError)):  # ConnectionError, socket.gaierror, TimeoutError
            return True
        err = err.__cause__ or err.__context__
    return False


def _reason(err, url):
    reason = str(err).splitlines()[0] if str(err) else type(err).__name__
    return reason.rsplit(" -- ", 1)[-1].replace(url, "").strip(" :") or type(err).__name__


def _download(entry, spec, target_dir):
    global _network_failed
    import keras  # deferred: keeps ``import pirm_enhance.pretrained`` light

    errors, offline = [], None
    for url in spec["urls"]:
        if _is_network(url):
            offline = offline_reason()
            if offline is not None:
                continue  # never the network: not even one try
        target_dir.mkdir(parents=True, exist_ok=True)  # get_file falls back to /tmp otherwise
        try:
            # get_file prints its progress on stdout; keep stdout for results (pirm-score --json)
            with contextlib.redirect_stdout(sys.stderr):
                path = keras.utils.get_file(
                    fname=spec["name"], origin=url, file_hash=spec["sha256"],
                    cache_dir=str(target_dir.parent.parent), cache_subdir=f"weights/{entry['name']}")
        except Exception as err:  # network errors come in many types
            errors.append(_reason(err, url))
            if _is_network(url) and _is_network_error(err) and _network_failed is None:
                _network_failed = errors[-1]  # one attempt per process: offline from now on
                offline = offline_reason()
            partial = target_dir / spec["name"]
            if partial.exists() and sha256(partial) != spec["sha256"]:
                partial.unlink()  # get_file leaves a file that failed its hash check
            continue
        return pathlib.Path(path)
    raise _Missing(spec, errors, offline)


class _Missing(Exception):
    def __init__(self, spec, errors, offline=None):
        super().__init__(spec["name"])
        self.spec, self.errors, self.offline = spec, errors, offline


def _missing_error(entry, missing):
    """One line naming every file of ``entry`` that could not be had, with URL and sha256,
    why it was not downloaded (errors, offline mode) and what to do."""
    target_dir = home() / "weights" / entry["name"]
    files = "; ".join(f"{m.spec['urls'][0]} (sha256 {m.spec['sha256']})" for m in missing)
    why = "; ".join(dict.fromkeys(e for m in missing for e in m.errors))
    offline = next((m.offline for m in missing if m.offline), None)
    if offline:
        others = [e for e in dict.fromkeys(e for m in missing for e in m.errors) if e != _network_failed]
        tried = f" (other errors: {'; '.join(others)})" if others else ""
        how = (f"{offline}{tried}. Download {files} into one folder and set PIRM_WEIGHTS_DIR to it, or "
               + (f"unset {OFFLINE_VAR} when online." if _offline_env() else "run again when online."))
    else:
        how = f"downloading failed ({why or 'no URL'}). Download {files} into one folder and set " \
              "PIRM_WEIGHTS_DIR to it, or go online."
    return WeightsUnavailable(
        f"pretrained {entry['name']} needs {len(entry['files'])} file(s) "
        f"({', '.join(s['name'] for s in entry['files'])}); not found in PIRM_WEIGHTS_DIR "
        f"({os.environ.get('PIRM_WEIGHTS_DIR') or 'unset'}) nor in the cache ({target_dir}); {how}")


def resolve_file(entry, spec):
    """Local path of one file of a pretrained entry (see module doc for the order)."""
    try:
        return _resolve_file(entry, spec)
    except _Missing as err:
        raise _missing_error(entry, [err]) from None


def _local_file(entry, spec):
    """The file in ``PIRM_WEIGHTS_DIR`` or the cache, sha256 checked, or ``None``; never downloads."""
    found = _find_local(spec)
    if found is not None:
        return found
    cached = home() / "weights" / entry["name"] / spec["name"]
    if cached.exists() and sha256(cached) == spec["sha256"]:
        return cached
    return None


def _resolve_file(entry, spec, download=True):
    found = _local_file(entry, spec)
    if found is not None:
        return found
    if not download:
        raise _Missing(spec, [], "download=False: nothing downloaded")
    return _download(entry, spec, home() / "weights" / entry["name"])


def find_local(name):
    """Checkpoint prefix of pretrained entry ``name`` when every one of its files is
    already here (``PIRM_WEIGHTS_DIR`` or the cache, sha256 checked), else ``None``.
    Never touches the network."""
    try:
        return resolve(name, download=False)
    except WeightsUnavailable:
        return None


def resolve(name, download=True):
    """Checkpoint prefix (``.../stem``) of pretrained entry ``name``, fetching files if needed
    (``download=False``, or offline: :class:`WeightsUnavailable` instead of a download).

    When the index and data files were found under different folders or names,
    they are linked (or copied) side by side into the cache under their
    canonical names, since TF reads a checkpoint by prefix.
    """
    entry = get_entry(name)
    paths, missing = [], []
    for spec in entry["files"]:
        try:
            paths.append(_resolve_file(entry, spec, download))
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
