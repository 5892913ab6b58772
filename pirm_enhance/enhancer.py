"""``enhance``: run an enhancer on real photos of any size.

Keras models run tiled with image-wide statistics (:mod:`pirm_enhance.tiling`),
so peak memory follows the tile size. Frozen graphs and TFLite files cannot be
rewired that way: they run on the whole image up to ``whole_pixels`` and are
tiled with per-tile statistics beyond (a warning says so).

:func:`enhance_files` never loses a photo: see its docstring for the output
names, the files it refuses to replace and the output folders it refuses.
"""

import collections
import glob
import logging
import os
import pathlib
import sys

import numpy as np

from pirm_enhance.data.photo_io import DEFAULT_MAX_PIXELS, read_photo, write_photo
from pirm_enhance.errors import PirmError, UsageError, first_line

log = logging.getLogger(__name__)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")


class Enhancer:
    """A loaded model ready for photos: ``Enhancer("default")(rgb) -> rgb``."""

    post = None  # the post-processing function (set by __init__ from its ``post`` name)

    runtime = "keras"  # what runs the tiles: a name in pirm_enhance.runtimes.CHOICES
    measure_pixels = 2_000_000
    last_runtime = None

    def __init__(self, model="default", tile="auto", overlap="auto", stats_pixels=500_000, whole_pixels=2_000_000,
                 post=None, runtime="auto", measure_pixels=2_000_000):
        """``tile``: the largest tile side in pixels (a multiple of 32), or ``"auto"``: for
        Keras models the largest side up to 1152 whose activations stay within those of
        ``dped_resnet_12_64`` in 768-px tiles (:func:`pirm_enhance.tiling.auto_tile`:
        1152 for most official checkpoints, 960 for VDSR, 768 for DPED's 12x64), the same
        rule for frozen graphs from their measured activations (:meth:`_file_tile`), 768
        for other model files; with ``runtime="auto"`` too, 768 where LiteRT then wins
        (:meth:`_choose_tile`). ``overlap``: pixels (a multiple of 32) or ``"auto"``: 32 for Keras models whose
        receptive radius is at most 16 pixels, 48 up to 24 (tiling stays exact), else 64
        (:func:`pirm_enhance.tiling.auto_overlap`); the same for frozen graphs, with the radius
        read from their ops (:meth:`_file_overlap`); 64 for other model files. ``stats_pixels``: resolution of the
        statistics pass for photos over 1280x736. ``post``:
        ``None`` or a name in :data:`pirm_enhance.postprocess.POSTS` (``"mpse"``: MPSE phase 3,
        regional histogram equalisation and gamma 1/2.2) applied to the model's output.

        ``runtime`` (Keras models): what runs the tiles, ``keras``, ``graph`` (frozen) or
        ``tflite`` (:mod:`pirm_enhance.runtimes`), or ``auto``: the fastest on this
        machine, measured on the first photo of at least ``measure_pixels`` pixels and
        remembered per machine, architecture and tile size (``$PIRM_HOME/runtimes.json``);
        smaller photos use a remembered choice for their tile size, else ``keras``.
        A model file (``.pb``, ``.tflite``, ...) runs in its own runtime."""
        import keras

        from pirm_enhance.postprocess import post_function
        from pirm_enhance.runners import make_runner
        from pirm_enhance.runtimes import CHOICES

        if runtime not in CHOICES:
            raise UsageError(f"unknown runtime {runtime!r}: choose one of {', '.join(CHOICES)}")
        self.post = post_function(post)  # an unknown name fails before the model is loaded
        self.runner = make_runner(model)  # names ("default" too), keras.Model, any model file
        self.name = getattr(self.runner, "name", str(model))
        self.whole_pixels = whole_pixels
        self.tiled = None
        if isinstance(getattr(self.runner, "model", None), keras.Model):
            from pirm_enhance.tiling import TiledModel

            self.tiled = TiledModel(self.runner.model, tile=tile, overlap=overlap, stats_pixels=stats_pixels)
        elif runtime not in ("auto", "keras"):
            raise UsageError(f"--runtime {runtime} applies to Keras models; {self.name} is a "
                             f"{getattr(self.runner, 'kind', 'model')} file and runs as one")
        if self.tiled is not None:
            self.tile, self.overlap = self.tiled.tile, self.tiled.overlap
        else:
            from pirm_enhance.tiling import check_tile, shortest_tile

            self.tile = self._file_tile() if tile == "auto" else tile
            self.overlap = self._file_overlap() if overlap == "auto" else overlap
            # the user's values as TiledModel checks them (the automatic overlap, from the graph's
            # receptive radius, may be 48), then a tile long enough for the overlap in use
            check_tile(self.tile, 0 if overlap == "auto" else overlap, overlap)
            if self.tile < shortest_tile(self.overlap):
                raise UsageError(f"tile {self.tile} is too short for {self.name}'s overlaps of {self.overlap} px "
                                 f"on each side: use --tile {shortest_tile(self.overlap)} or more")
        self.runtime, self.measure_pixels = runtime, measure_pixels
        self._tile_runtimes = {}  # name -> built tile runtime
        self._found = {}  # tile size -> (name, cache entry) once one is cached or measured
        self.last_runtime = None  # (name, cache entry or None) of the last photo
        # tile "auto" with runtime "auto": the tile size is chosen with the runtime (_choose_tile)
        self._auto_tile = self.tiled.tile if self.tiled is not None and tile == "auto" and runtime == "auto" \
            else None

    def _file_tile(self):
        """The tile side for a model file: from a frozen graph's measured activations
        (:func:`pirm_enhance.tiling.graph_activation_volume`, the budget of Keras models);
        :data:`pirm_enhance.tiling.SAFE_TILE` for the other formats (LiteRT's kept
        indirection buffers grow with the tile, and its transient ones cost time) and where
        the graph cannot be measured."""
        from pirm_enhance.tiling import SAFE_TILE, auto_tile, graph_activation_volume

        if getattr(self.runner, "kind", None) != "pb":
            return SAFE_TILE
        try:
            volume = graph_activation_volume(self.runner)
        except Exception:  # a graph that does not run on a small probe: the safe tile
            return SAFE_TILE
        return SAFE_TILE if volume is None else auto_tile(volume)

    def _file_overlap(self):
        """The overlap for a model file: from a frozen graph's receptive radius, read from its
        ops (:func:`pirm_enhance.tiling.graph_receptive_radius`, then
        :func:`pirm_enhance.tiling.auto_overlap`: 48 px for DPED's 18, 32 for SRCNN's 8 and
        PPCN's 10); :data:`pirm_enhance.tiling.DEFAULT_OVERLAP` for the other formats and
        where an op's reach is not known."""
        from pirm_enhance.tiling import DEFAULT_OVERLAP, auto_overlap, graph_receptive_radius

        if getattr(self.runner, "kind", None) != "pb":
            return DEFAULT_OVERLAP
        try:
            radius = graph_receptive_radius(self.runner.graph, self.runner.input, self.runner.output)
        except Exception:  # an op this reading does not expect: the default overlap
            return DEFAULT_OVERLAP
        return DEFAULT_OVERLAP if radius is None else auto_overlap(radius)

    def __call__(self, rgb, progress=None):
        rgb = np.asarray(rgb)
        if rgb.dtype == np.uint8:
            rgb = rgb.astype(np.float32) / 255.0
        rgb = rgb.astype(np.float32)
        from pirm_enhance.runners import run_guarded

        # the tiled Keras path does not go through a runner's own guard
        out = run_guarded(self.name, rgb.shape[1], rgb.shape[0], self._run, rgb, progress,
                          hint="; try a smaller --tile")
        return out if self.post is None else self.post(np.asarray(out))

    def _tile_runtime(self, rgb):
        """The tile runtime for this photo (see ``runtime`` in :meth:`__init__`)."""
        from pirm_enhance import runtimes

        name, entry = self.runtime, None
        if name == "auto":
            if self._auto_tile is not None:
                self.tiled.tile = self._choose_tile(rgb)
            name, entry = self._measured(rgb)
        if name not in self._tile_runtimes:
            self._tile_runtimes[name] = runtimes.make(name, self.tiled)
        self.last_runtime = (name, entry)
        return self._tile_runtimes[name]

    def _measured(self, rgb):
        """``(runtime name, cache entry)`` for the photo's first tile at the current tile
        size: remembered, measured (photos of ``measure_pixels`` or more), else keras."""
        from pirm_enhance import runtimes

        y0, y1, x0, x1 = self.tiled.tiles(*rgb.shape[:2])[0]
        size = (y1 - y0, x1 - x0)
        if size not in self._found:  # the cache file is read once per tile size
            entry = runtimes.cached(self.tiled.model, *size)
            if isinstance(entry, dict) and entry.get("choice") in runtimes.TILE_RUNTIMES:
                self._found[size] = (entry["choice"], entry)
            elif rgb.shape[0] * rgb.shape[1] >= self.measure_pixels:
                self.tiled.set_statistics(rgb)
                runtime, entry = runtimes.choose(self.tiled, np.ascontiguousarray(rgb[y0:y1, x0:x1]))
                log.info("%s: %s", self.name, runtimes.describe(entry))
                self._tile_runtimes[entry["choice"]] = runtime
                self._found[size] = (entry["choice"], entry)
        return self._found.get(size, ("keras", None))

    def _choose_tile(self, rgb):
        """The tile side for this photo when both are "auto": the model's large tile
        (:func:`pirm_enhance.tiling.auto_tile`), unless LiteRT, left out there because
        XNNPACK's buffers grow with the tile, runs the photo faster in 768-px tiles
        (both sizes measured, each remembered; photo time = the first tile's time x the
        number of tiles). ``ppcn_student.paper`` on a 12 MP photo, this Xeon: 2.34 s in
        768-px TFLite tiles, 2.92 s in 1152-px Keras tiles."""
        from pirm_enhance.tiling import SAFE_TILE, tile_spans

        big = self._auto_tile
        self.tiled.tile = big
        _, entry = self._measured(rgb)
        why = (entry or {}).get("excluded", {}).get("tflite", "")
        if big <= SAFE_TILE or "indirection" not in why:
            return big
        self.tiled.tile = SAFE_TILE
        _, small = self._measured(rgb)
        if not (small or {}).get("ms") or not entry.get("ms"):
            return big

        def photo_ms(tile, measured):
            return min(measured["ms"].values()) * len(tile_spans(*rgb.shape[:2], tile, self.tiled.overlap))

        return SAFE_TILE if photo_ms(SAFE_TILE, small) < photo_ms(big, entry) else big

    def _run(self, rgb, progress):
        if self.tiled is not None:
            runtime = self._tile_runtime(rgb)
            try:
                return self.tiled(rgb, progress=progress, run=runtime)
            except Exception as err:  # e.g. a tile size LiteRT cannot plan: the Keras twin still can
                if runtime.name == "keras" or isinstance(err, MemoryError):
                    raise
                log.warning("%s: the %s tile runtime failed (%s); running this photo's tiles in keras",
                            self.name, runtime.name, first_line(err)[:200])
                self.last_runtime = ("keras", self.last_runtime[1])
                return self.tiled(rgb, progress=progress, run=self.tiled.run_tile)
        h, w = rgb.shape[:2]
        if h * w <= self.whole_pixels:
            return self.runner(rgb[None])[0]
        log.warning("%s is not a Keras model: tiles use their own statistics (seams possible); "
                    "use the .keras model for image-wide statistics", self.name)
        from pirm_enhance.tiling import blend_tiles

        return blend_tiles(lambda crop: self.runner(crop[None])[0], rgb, self.tile, self.overlap, progress)


def enhance(model, image, **kwargs):
    """Enhance one image (``[H, W, 3]`` array, uint8 or float in [0, 1], or a path).

    ``model``: a ``keras.Model``, zoo/pretrained name, ``"default"``, or a
    ``.keras`` / ``.pb`` / ``.tflite`` path. Returns float32 ``[H, W, 3]``
    (unclipped network output; clip before saving; in [0, 1] with ``post="mpse"``).
    """
    enhancer = model if isinstance(model, Enhancer) else Enhancer(model, **kwargs)
    if isinstance(image, (str, os.PathLike)):
        image = read_photo(image).rgb
    return enhancer(image)


def collect_inputs(inputs):
    """``(files, problems)`` from paths, folders (their images, sorted) and glob patterns.

    ``files``: existing paths in order, each once. ``problems``: ``(input, message)``
    for each input that names no image: a path that is neither a file nor a folder,
    a pattern that matches no image file, a folder without images.
    """
    files, problems, seen = [], [], set()
    for item in inputs:
        item = str(item)
        if os.path.isdir(item):
            found = sorted(p for p in pathlib.Path(item).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES
                           and p.is_file())
            if not found:
                problems.append((item, f"{item}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder"))
        elif os.path.isfile(item):
            found = [pathlib.Path(item)]
        elif any(c in item for c in "*?["):
            found = sorted(pathlib.Path(p) for p in glob.glob(item, recursive=True)
                           if os.path.isfile(p) and pathlib.Path(p).suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                problems.append((item, f"{item}: matches no image file"))
        else:
            problems.append((item, f"{item}: no such file or folder"))
            found = []
        for p in found:
            key = _file_key(p)
            if key not in seen:
                seen.add(key)
                files.append(p)
    return files, problems


def expand_inputs(inputs):
    """Files from paths, folders (their images, sorted) and glob patterns, in order, unique.
    Inputs that name no image are left out (:func:`collect_inputs` reports them)."""
    return collect_inputs(inputs)[0]


def _file_key(path):
    """Identity of an existing file or folder (device, inode); its resolved path otherwise."""
    try:
        st = os.stat(path)
        return (st.st_dev, st.st_ino)
    except OSError:
        return os.path.normcase(os.path.realpath(path))


def _output_ext(path, output_format):
    ext = (output_format or path.suffix.lower().lstrip(".")).lower()
    ext = {"jpeg": "jpg", "tif": "png", "tiff": "png", "bmp": "png"}.get(ext, ext)
    return ext if ext in ("jpg", "png", "webp") else "png"


def _folder_name(path):
    return pathlib.Path(os.path.abspath(path)).parent.name or "root"


_LABELS = (  # ways to tell inputs apart that would get the same output name, in order of preference
    lambda p: f"{p.stem}_{p.suffix.lstrip('.').lower()}",  # a.jpg, a.png -> a_jpg, a_png
    lambda p: f"{_folder_name(p)}_{p.stem}",  # x/p.jpg, y/p.jpg -> x_p, y_p
    lambda p: f"{_folder_name(p)}_{p.stem}_{p.suffix.lstrip('.').lower()}",
)


def output_names(files, output_format=None, suffix="", compare=False):
    """``[(output name, compare name or None)]`` for ``files``: distinct file names (no folder).

    An output is named ``<stem><suffix>.<ext>`` (``ext``: ``output_format``, else
    the input's: jpg, png, webp; PNG for other inputs); its side-by-side file is
    ``<stem><suffix>_compare.png``. Inputs of one batch that would get the same
    name (compared case-insensitively) are each named with what tells them
    apart: the input's extension (``a.jpg``, ``a.png`` -> ``a_jpg.png``,
    ``a_png.png``), else its folder (``x/p.jpg``, ``y/p.jpg`` -> ``x_p.jpg``,
    ``y_p.jpg``), else both; a name still taken (by another input's name, or
    inputs that differ in case only) gets ``_2``, ``_3``, ...
    """
    files = [pathlib.Path(p) for p in files]
    exts = [_output_ext(p, output_format) for p in files]

    def key(stem, i):
        return f"{stem}{suffix}.{exts[i]}".casefold()

    stems = [p.stem for p in files]
    groups = collections.defaultdict(list)
    for i, p in enumerate(files):
        groups[key(p.stem, i)].append(i)
    clashing = set()
    for members in groups.values():
        if len(members) < 2:
            continue
        clashing.update(members)
        for label in _LABELS:
            if len({key(label(files[i]), i) for i in members}) == len(members):
                for i in members:
                    stems[i] = label(files[i])
                break
    names, taken = [None] * len(files), set()
    # inputs whose plain name is theirs alone keep it first; the renamed ones then avoid every taken name
    for i in sorted(range(len(files)), key=lambda i: i in clashing):
        stem, n = stems[i], 1
        while True:
            out = f"{stem}{suffix}.{exts[i]}"
            side = f"{stem}{suffix}_compare.png" if compare else None
            wanted = {out.casefold()} | ({side.casefold()} if side else set())
            if len(wanted) == (2 if side else 1) and not wanted & taken:
                break
            n += 1
            stem = f"{stems[i]}_{n}"
        taken |= wanted
        names[i] = (out, side)
    return names


def _make_output_folder(outdir):
    """Create ``outdir`` (and its parents), or one :class:`UsageError` line saying why it
    cannot hold the outputs."""
    if os.path.lexists(outdir) and not outdir.is_dir():
        raise UsageError(f"{outdir}: is a file, not a folder; choose an output folder (-o)")
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"{outdir}: cannot be created as the output folder ({err.strerror or err}); choose "
                         "another (-o)") from None
    if not os.access(outdir, os.W_OK | os.X_OK):
        raise UsageError(f"{outdir}: the output folder is not writable; choose another (-o)")


def check_output_folder(outdir, files, overwrite=False):
    """:class:`UsageError` if ``outdir`` is a folder that holds one of ``files``, unless ``overwrite``.

    Outputs written next to the photos could replace them, and the next run
    over that folder would enhance the outputs again. A subfolder of an input
    folder is fine (folders are not searched recursively)."""
    outdir = pathlib.Path(outdir)
    if overwrite or not outdir.is_dir():
        return
    out_key = _file_key(outdir)
    for path in files:
        if _file_key(pathlib.Path(path).parent) == out_key:
            raise UsageError(f"the output folder {outdir} holds the input {path}: outputs could replace photos "
                             "and a second run would enhance its own outputs; choose another output folder "
                             "(or pass --overwrite to write there anyway)")


def _side_by_side(before, after):
    gap = np.ones((before.shape[0], 8, 3), np.float32)
    return np.concatenate([before, gap, np.clip(after, 0, 1)], axis=1)


def _refusal(targets, input_keys, overwrite):
    """Why the targets of one input cannot be written, or ``None``."""
    for target in targets:
        if not os.path.lexists(target):
            continue
        if _file_key(target) in input_keys:
            return f"{target} is one of the inputs and is never replaced; choose another output folder or a --suffix"
        if not overwrite:
            return f"{target} already exists (--overwrite replaces it)"
    return None


def enhance_files(inputs, outdir, model="default", output_format=None, quality=95, keep_metadata=True,
                  compare=False, max_pixels=DEFAULT_MAX_PIXELS, suffix="", progress=True, overwrite=False,
                  **kwargs):
    """Enhance every input file into ``outdir``; returns ``{"written": [...], "failed": [(input, msg)]}``.

    A file that cannot be read, enhanced or written, and an input that names no
    image, get one ``skipped ...`` line on stderr and the batch goes on.
    ``output_format``: ``jpg``, ``png``, ``webp`` or ``None`` (same as input,
    PNG for other inputs). ``compare`` also writes ``<name>_compare.png``
    (input | output). Names: see :func:`output_names` (distinct within a batch).

    Nothing is lost: every target name is chosen before anything is written;
    an output that already exists is skipped (one line) unless ``overwrite``;
    an input file is never replaced, even with ``overwrite``; and ``outdir``
    may not be a folder holding an input (:class:`UsageError` before anything
    is written) unless ``overwrite`` (see :func:`check_output_folder`).
    """
    from pirm_enhance.data.io import write_png
    from pirm_enhance.progress import Progress

    outdir = pathlib.Path(outdir)
    files, problems = collect_inputs(inputs)
    check_output_folder(outdir, files, overwrite)
    written, failed = [], []

    def skip(item, msg):
        msg = msg if str(item) in msg else f"{item}: {msg}"
        print(f"skipped {msg}", file=sys.stderr)
        failed.append((str(item), msg))

    for item, msg in problems:
        skip(item, msg)
    input_keys = {_file_key(p) for p in files}
    jobs = []
    for path, (name, side) in zip(files, output_names(files, output_format, suffix, compare)):
        target, side = outdir / name, (outdir / side if side else None)
        refusal = _refusal([t for t in (target, side) if t is not None], input_keys, overwrite)
        if refusal:
            skip(path, refusal)
        else:
            jobs.append((path, target, side))
    if not jobs:
        return {"written": written, "failed": failed}
    _make_output_folder(outdir)  # before the first photo is enhanced, not after each one
    enhancer = model if isinstance(model, Enhancer) else Enhancer(model, **kwargs)
    for path, target, side in Progress(jobs, f"enhance ({enhancer.name})", enabled=progress):
        try:
            photo = read_photo(path, max_pixels=max_pixels)
            out = enhancer(photo.rgb)
            notes = list(photo.notes) + write_photo(target, out, photo, quality=quality,
                                                    keep_metadata=keep_metadata, overwrite=overwrite)
            written.append(str(target))
            if side is not None:
                write_png(side, _side_by_side(photo.rgb, out), overwrite=overwrite)
            if notes:
                print(f"{path}: {'; '.join(notes)}", file=sys.stderr)
        except (PirmError, OSError, ValueError) as err:
            skip(path, str(err))
        except MemoryError:  # this photo; the others may fit
            skip(path, "out of memory while reading, enhancing or writing it (try --max-pixels, a smaller "
                       "--tile, or closing other programs)")
    return {"written": written, "failed": failed}
