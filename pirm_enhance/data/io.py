"""Reading and writing images: one clear error per bad file, atomic writes.

:func:`write_atomic` writes ``.<name>.<pid>@<host>.<token>.part`` next to the target
and renames it onto the target, so a reader never sees half a file. The part
file is created with the user's umask (``0666 & ~umask``, as ``open`` would),
not ``mkstemp``'s 0600. A writer killed between the two steps (SIGKILL, power
loss) leaves its part file behind; the next write of the same target removes
such leftovers: part files of a process that no longer runs on this machine,
and any part file of that target older than :data:`STALE_PART_SECONDS` (a
writer on another machine of a shared folder, a reused process id).
"""

import errno
import os
import pathlib
import re
import secrets
import socket
import time

import imageio.v3 as iio
import numpy as np

from pirm_enhance.errors import ImageError, OutputExists  # noqa: F401  (re-exported)

STALE_PART_SECONDS = 6 * 3600
_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40] or "host"


def read_rgb(path):
    """``[H, W, 3]`` uint8 RGB of an image file, as the organisers read it (PIL decoding)."""
    try:
        img = iio.imread(path)
    except FileNotFoundError:
        raise ImageError(f"{path}: no such file") from None
    except Exception as err:
        raise ImageError(f"{path}: not a readable image ({str(err).splitlines()[0] if str(err) else type(err).__name__})") from None
    if img.dtype != np.uint8:
        raise ImageError(f"{path}: expected 8-bit image, found {img.dtype}")
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    if img.ndim != 3 or img.shape[-1] not in (3, 4):
        raise ImageError(f"{path}: expected an RGB image, found shape {img.shape}")
    return img[..., :3]


def read_float(path):
    """``[H, W, 3]`` float32 in [0, 1] (uint8 / 255, the organisers' scaling)."""
    return np.float32(read_rgb(path)) / np.float32(255)


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. another user's live process (PermissionError)
        pass
    return True


def _part_pattern(name):
    # .<name>.<pid>@<host>.<token>.part  (and .<name>.<random>.part of older versions: no pid)
    return re.compile(rf"^\.{re.escape(name)}\.(?:(\d+)@([A-Za-z0-9-]+)\.)?[A-Za-z0-9_]+\.part$")


def remove_stale_parts(path, older_than=STALE_PART_SECONDS, now=None):
    """Remove the part files a killed writer left next to ``path``; returns their paths.

    A part file is stale when the process named in it is gone (same machine),
    or when it is older than ``older_than`` seconds. The part files of live
    writers are left alone.
    """
    path = pathlib.Path(path)
    pattern = _part_pattern(path.name)
    now = time.time() if now is None else now
    removed = []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return removed
    for entry in entries:
        match = pattern.match(entry.name)
        if not match:
            continue
        pid, host = match.group(1), match.group(2)
        try:
            age = now - entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        dead = pid is not None and host == _HOST and int(pid) != os.getpid() and not _pid_alive(int(pid))
        if dead or age > older_than:
            try:
                os.unlink(entry.path)
                removed.append(entry.path)
            except OSError:
                pass
    return removed


def write_atomic(path, data: bytes, overwrite=True):
    """Write bytes to ``path`` through a part file in the same folder and a rename.

    The file gets the user's umask (``0666 & ~umask``) and its data is synced
    before the rename. ``overwrite=False``: an existing ``path`` is never
    replaced (:class:`OutputExists`), also when it appears while writing.
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_parts(path)
    if not overwrite and os.path.lexists(path):
        raise OutputExists(f"{path}: already exists (not replaced)")
    tmp = path.with_name(f".{path.name}.{os.getpid()}@{_HOST}.{secrets.token_hex(4)}.part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            _link_no_replace(tmp, path)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise


def _link_no_replace(tmp, path):
    """Move ``tmp`` to ``path`` unless ``path`` exists (atomically where links are supported)."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise OutputExists(f"{path}: already exists (not replaced)") from None
    except OSError as err:
        if err.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK,
                             errno.ENOSYS):
            raise
        if os.path.lexists(path):  # a file system without hard links: check, then rename
            raise OutputExists(f"{path}: already exists (not replaced)") from None
        os.replace(tmp, path)
        return
    os.unlink(tmp)


def write_png(path, image, overwrite=True):
    """Write a float [0, 1] or uint8 ``[H, W, 3]`` image as PNG, atomically."""
    img = np.asarray(image)
    if img.dtype != np.uint8:
        img = np.uint8(np.round(np.clip(img, 0, 1) * 255))
    write_atomic(path, iio.imwrite("<bytes>", img, extension=".png"), overwrite=overwrite)
