"""Score zoo models in their export variants side by side with submission files.

This sits above both the exporters and the scorer: a pretrained name or a
``.keras`` file is exported once per requested variant (``pb``, ``tflite``,
``tflite_int8``, ... from :data:`pirm_enhance.formats.VARIANTS`) into a
temporary folder, and every file is then scored in one run by
:func:`pirm_enhance.scoring.score.score`.
"""

import json
import math
import pathlib
import tempfile

from pirm_enhance.errors import UnknownName, UsageError, WeightsUnavailable
from pirm_enhance.formats import FORMATS, VARIANTS, format_of


def available_pretrained(track="B"):
    """``(names, [(name, why), ...])``: the pretrained entries of ``track`` whose files can be
    found (``pretrained.json``'s ``track`` field), and those skipped with the reason."""
    from pirm_enhance import pretrained

    names, skipped = [], []
    for name in pretrained.list_pretrained(track=track):
        try:
            pretrained.resolve(name)
        except WeightsUnavailable as err:
            skipped.append((name, str(err)))
            continue
        names.append(name)
    return names, skipped


def _is_zoo_model(submission):
    fmt = format_of(str(submission))
    return fmt is None or fmt.name == "keras"


def expand(submission, variants, workdir):
    """``[(label, runner or path, export_report)]``: files as they are (paths: the scorer
    loads them in its sandbox); zoo names and .keras files once per requested variant
    (exported into ``workdir``; the exported files are scored as files)."""
    from pirm_enhance.runners import make_runner

    if hasattr(submission, "kind") or not _is_zoo_model(submission):
        return [(str(getattr(submission, "name", submission)), submission, None)]
    from pirm_enhance.exporters import export

    base = make_runner(submission)
    out = []
    for variant in variants:
        fmt_name, quant = VARIANTS[variant]
        if fmt_name == "keras":
            out.append((f"{submission}", base, None))
            continue
        target = pathlib.Path(workdir) / f"{pathlib.Path(str(submission)).name.replace('.', '_')}_{variant}" \
                                         f"{FORMATS[fmt_name].suffix}"
        report = export(base.model, target, format=fmt_name, quantization=quant, allow_rule_violations=True)
        out.append((f"{submission} [{variant}]", target, report))
    return out


def score(submissions, track="B", data_dir=None, mos=None, variants=("keras",), rounds=1, timing=True,
          infinite="exclude", progress=True, measure_ram=True, sandbox=True, memory_limit_gib=None,
          time_limit_s=None):
    """Like :func:`pirm_enhance.scoring.score.score`, with ``variants`` for zoo names and
    ``.keras`` files (``keras``, ``pb``, ``saved_model``, ``tflite``, ``tflite_fp16``,
    ``tflite_dynamic_int8``, ``tflite_int8``, ``onnx``). ``sandbox``, ``memory_limit_gib``
    and ``time_limit_s`` (None: the defaults of :mod:`pirm_enhance.scoring.sandbox`) are
    the limits files are scored under."""
    from pirm_enhance.scoring.sandbox import DEFAULT_MEMORY_LIMIT_GIB, DEFAULT_TIME_LIMIT_S
    from pirm_enhance.scoring.score import score as score_entries
    from pirm_enhance.scoring.validation import data_root

    if isinstance(submissions, (str, pathlib.Path)) or hasattr(submissions, "kind"):
        submissions = [submissions]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise UnknownName(f"unknown variant(s) {unknown}; choose from {', '.join(VARIANTS)}")
    if not variants:
        raise UsageError("name at least one variant")
    data_root(data_dir)  # missing data: say so before exporting anything
    with tempfile.TemporaryDirectory(prefix="pirm_variants_") as workdir:
        entries = [e for sub in submissions for e in expand(sub, variants, workdir)]
        return score_entries(entries, track=track, data_dir=data_dir, mos=mos, rounds=rounds, timing=timing,
                             infinite=infinite, progress=progress, measure_ram=measure_ram, sandbox=sandbox,
                             memory_limit_gib=memory_limit_gib or DEFAULT_MEMORY_LIMIT_GIB,
                             time_limit_s=time_limit_s or DEFAULT_TIME_LIMIT_S)


def _strict(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: _strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_strict(v) for v in value]
    return value


def to_json(result):
    """Strict JSON (RFC 8259) of a score result: NaN becomes ``null``, infinities ``"inf"``/``"-inf"``."""
    return json.dumps(_strict(result), indent=1, allow_nan=False)


__all__ = ["available_pretrained", "expand", "score", "to_json"]
