"""The main job (``make demo``): the project's default model end to end, offline.

1. enhances the bundled phone-like sample photos (samples/) with the default
   model and writes before/after images;
2. exports the model to the challenge's frozen .pb and to TFLite, each checked
   against the Keras model;
3. scores the Keras model and both exports: on the 400 real PIRM validation
   pairs when PIRM_DATA_DIR (default ../shared/data/pirm2018) is there, on the
   default model's held-out synthetic pairs otherwise; with the 720p CPU time
   against SRCNN and Score A/B/C;
4. writes everything to out/demo/ (scores.txt, scores.json, *_compare.png).

It also shows where the default stands: the official Track B checkpoints
already on this machine (in PIRM_WEIGHTS_DIR or the download cache; the demo
never downloads) get a row each in the table, computed the same way as the
default's, and the best of them (highest verified PSNR) a labelled row in
each *_compare.png. With none found it prints one line saying how to get them.
"""

import json
import os
import pathlib
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED_DATA = ROOT.parent / "shared" / "data" / "pirm2018"
if "PIRM_DATA_DIR" not in os.environ and (SHARED_DATA / "dped").is_dir():
    os.environ["PIRM_DATA_DIR"] = str(SHARED_DATA)


def official_checkpoints(track="B"):
    """``[(name, checkpoint prefix)]``: the official checkpoints of ``track`` (``pretrained.json``'s
    ``track`` field; ``"B"``: enhancement) whose files are all here, in ``PIRM_WEIGHTS_DIR`` or
    the download cache (``pretrained.home()``), sha256 checked. Never downloads."""
    from pirm_enhance import pretrained

    found = []
    for name in pretrained.list_pretrained(track=track):
        prefix = pretrained.find_local(name)
        if prefix is not None:
            found.append((name, prefix))
    return found


def verified_psnr(name):
    """The PSNR ``pretrained.json`` records as verified for ``name`` (``metrics.psnr``: the official
    checkpoint imported here, on the 400 Track B validation pairs, organisers' protocol), or None."""
    from pirm_enhance import pretrained

    return (pretrained.get_entry(name).get("metrics") or {}).get("psnr")


def best_official(names):
    """The official checkpoint to show next to the default in the compare images: the one with
    the highest verified Track B PSNR (``pretrained.json``: ``metrics.psnr``); names without a
    verified PSNR only when none has one. ``None`` for no names."""
    names = list(names)
    if not names:
        return None
    return max(names, key=lambda n: (verified_psnr(n) is not None, verified_psnr(n) or 0.0))


def weights_hint():
    """One line: no official checkpoint here, and how to get them."""
    from pirm_enhance import pretrained

    where = os.environ.get("PIRM_WEIGHTS_DIR") or "unset"
    return (f"no official Track B checkpoints found here (PIRM_WEIGHTS_DIR: {where}; cache: "
            f"{pretrained.home() / 'weights'}), so the table has the default only: set PIRM_WEIGHTS_DIR to a "
            "folder holding the upstream checkpoint files (names, URLs and sha256 in pirm_enhance/pretrained.json), "
            "or once online (PIRM_OFFLINE unset) run `pirm-enhance samples --model ppcn_teacher.paper -o enhanced` "
            "to download one into the cache, then run the demo again")


def official_line(found, best):
    """The one line the demo prints about the official checkpoints: which were found, or the hint."""
    if not found:
        return weights_hint()
    return (f"official checkpoints found here: {', '.join(name for name, _ in found)}; "
            f"{best} (highest verified PSNR) is shown in the *_compare.png images")


def announce_official(found, best, file=None):
    """Print :func:`official_line` (exactly one line; stdout by default) and return it."""
    line = official_line(found, best)
    print(line, file=file or sys.stdout)
    return line


def _font(size):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)  # scalable with FreeType
    except (TypeError, ImportError, OSError):
        return ImageFont.load_default()


def _draw_text(image, lines, xy=(0, 0), tag=False, size=None):
    """``image`` (float [H, W, 3]) with ``lines`` written at ``xy``: black on the image, or
    white on a dark box (``tag``) so the label reads on any photo. Pixels away from the
    text keep their exact values."""
    import numpy as np
    from PIL import Image, ImageDraw

    size = size or max(14, image.shape[0] // 26)
    layer = Image.new("RGBA", (image.shape[1], image.shape[0]), (0, 0, 0, 0))
    draw, font = ImageDraw.Draw(layer), _font(size)
    x, y = xy
    for line in lines:
        if tag:
            box = draw.textbbox((x + size // 3, y + size // 4), line, font=font)
            draw.rectangle((x, y, box[2] + size // 3, box[3] + size // 3), fill=(20, 20, 20, 255))
            draw.text((x + size // 3, y + size // 4), line, font=font, fill=(255, 255, 255, 255))
        else:
            draw.text((x, y), line, font=font, fill=(0, 0, 0, 255))
        y += int(size * 1.45)
    rgba = np.asarray(layer, np.float32) / 255
    alpha = rgba[..., 3:]
    return np.where(alpha > 0, image * (1 - alpha) + rgba[..., :3] * alpha, image).astype(np.float32)


def compare_with_official(compare, official, legend, labels):
    """The demo's compare image with the official model's row added below it.

    ``compare``: the existing ``photo | default`` image (float ``[H, 2W+8, 3]``, kept as it is
    apart from a label on each panel); ``official``: the official model's output (``[H, W, 3]``).
    The new row has a white legend panel (``legend`` lines) under the photo and the official
    output under the default's; ``labels``: (photo, default, official) panel labels.
    """
    import numpy as np

    h, w = official.shape[:2]
    gap = compare.shape[1] - 2 * w
    top = compare.copy()
    top[:, :w] = _draw_text(top[:, :w], [labels[0]], tag=True)
    top[:, w + gap:] = _draw_text(top[:, w + gap:], [labels[1]], tag=True)
    size = max(14, h // 26)
    panel = _draw_text(np.ones((h, w, 3), np.float32), legend, xy=(size, size), size=size)
    bottom = np.concatenate([panel, np.ones((h, gap, 3), np.float32),
                             _draw_text(np.clip(official, 0, 1), [labels[2]], tag=True)], axis=1)
    return np.concatenate([top, np.ones((gap, compare.shape[1], 3), np.float32), bottom], axis=0)


def held_out_pairs(folder, count=24):
    """Held-out synthetic pairs of the default model (photos it never trained on) as PNG files."""
    from pirm_enhance.data import pairs as pair_data
    from pirm_enhance.data.io import write_png
    from pirm_enhance.data.photos import ai_benchmark_photos

    photos = ai_benchmark_photos()
    if not photos:
        raise SystemExit("the ai-benchmark photos are missing: pip install --no-deps ai-benchmark==0.1.2")
    _, held = pair_data.split_holdout([str(p) for p in photos], 0.1)
    ds = pair_data.pair_dataset(held, batch_size=1, seed=1234, patch_size=100, augment=False, synthetic=True)
    out = []
    for i, (phone, target) in enumerate(ds.take(count)):
        p, t = folder / "phone" / f"{i}.png", folder / "target" / f"{i}.png"
        write_png(p, phone.numpy()[0])
        write_png(t, target.numpy()[0])
        out.append((p, t))
    return out


def add_official_rows(out, enhancer, name, default_row, official_row, where, found):
    """Add the official model's labelled row to each sample's ``*_compare.png`` in ``out``."""
    from pirm_enhance.data.io import read_float, write_png
    from pirm_enhance.data.photo_io import read_photo
    from pirm_enhance.enhancer import collect_inputs, output_names
    from pirm_enhance.samples import samples_dir

    files, _ = collect_inputs([samples_dir()])
    legend = [
        "top left: the phone photo",
        "top right: the default model",
        f"   models/default.keras: PSNR {default_row['psnr']:.2f} dB,",
        f"   MS-SSIM {default_row['ms_ssim']:.4f}",
        "bottom right: the best official",
        f"   checkpoint found, {name}:",
        f"   PSNR {official_row['psnr']:.2f} dB, MS-SSIM {official_row['ms_ssim']:.4f}",
        "",
        "PSNR / MS-SSIM on",
        f"   {where.split(' (')[0]}",
        f"official checkpoints found: {len(found)}",
        "   (best: highest verified PSNR)",
    ]
    for path, (_, side) in zip(files, output_names(files, None, "_enhanced", True)):
        compare = out / side
        if not compare.exists():
            continue
        photo, before = read_photo(path), read_float(compare)
        if before.shape[0] != photo.rgb.shape[0] or before.shape[1] <= 2 * photo.rgb.shape[1]:
            continue  # not the photo | default image this run wrote
        image = compare_with_official(before, enhancer(photo.rgb), legend,
                                      ("phone photo", "default (this project)", f"official: {name}"))
        write_png(compare, image, overwrite=True)
    print(f"added {name} to the compare images", file=sys.stderr)


def main():
    from pirm_enhance.cli import quiet_tensorflow

    quiet_tensorflow()
    import pirm_enhance as pe
    from pirm_enhance import pretrained
    from pirm_enhance.data.io import read_float, write_png
    from pirm_enhance.data.synthetic import synthetic_photo
    from pirm_enhance.enhancer import Enhancer, enhance_files
    from pirm_enhance.runners import make_runner
    from pirm_enhance.samples import samples_dir
    from pirm_enhance.scoring import challenge_scores
    from pirm_enhance.scoring.runtime import hd_runtime
    from pirm_enhance.scoring.score import baseline_runner, format_table, hd_files, ram_of
    from pirm_enhance.scoring.validation import DataMissing, fidelity, track_b_pairs

    out = ROOT / "out" / "demo"
    out.mkdir(parents=True, exist_ok=True)
    start = time.time()
    model = pe.load_model("default")
    print(f"default model: {model.name}, {model.count_params():,} parameters", file=sys.stderr)
    found = official_checkpoints("B")  # looked for before anything else, never downloaded
    best = best_official(name for name, _ in found)
    officials = {name: pe.load_model(pretrained.get_entry(name)["arch"], checkpoint=prefix)
                 for name, prefix in found}
    if found:
        print(f"official Track B checkpoints here: {', '.join(f'{n} ({p})' for n, p in found)}", file=sys.stderr)

    result = enhance_files([samples_dir()], out, Enhancer(model), compare=True, suffix="_enhanced",
                           overwrite=True)  # out/demo is the demo's own folder: a rerun replaces it
    print(f"enhanced {len(result['written'])} sample photos", file=sys.stderr)

    exports = {}
    for fmt, path in (("pb", out / "default.pb"), ("tflite", out / "default.tflite")):
        report = pe.export(model, path, format=fmt)
        exports[fmt] = report
        print(f"exported {path.name}: max |diff| vs Keras {report['max_abs_diff']:.2g}", file=sys.stderr)

    runners = {"default [keras]": make_runner(model), "default.pb": make_runner(out / "default.pb"),
               "default.tflite": make_runner(out / "default.tflite"),
               **{f"{name} [keras]": make_runner(m, name=name) for name, m in officials.items()}}
    with tempfile.TemporaryDirectory() as tmp:
        try:
            pairs, where = track_b_pairs(), "the 400 PIRM validation pairs"
            hd = hd_files("B")
        except DataMissing:
            pairs, where = held_out_pairs(pathlib.Path(tmp)), "held-out synthetic pairs (no PIRM data here)"
            hd = [pathlib.Path(tmp) / f"hd_{i}.png" for i in range(4)]
            for i, path in enumerate(hd):
                write_png(path, synthetic_photo(720, 1280, seed=i))
        images = [read_float(path)[None] for path in hd]
        rows = []
        for label, runner in runners.items():
            row = {"submission": label, "kind": runner.kind,
                   **fidelity(runner, pairs, label=f"fidelity {label}")}
            rows.append(row)
        baseline = baseline_runner("B")
        times = hd_runtime({"__baseline__": baseline, **runners}, images)
        ram = ram_of({"__baseline__": baseline, **runners}, hd[0], tmp)
        base = {**times.pop("__baseline__"), "ram_bytes": ram["__baseline__"]}
        for row in rows:
            t = times[row["submission"]]
            row.update(time_ms=t["time_ms"], ram_bytes=ram[row["submission"]],
                       speed_vs_srcnn=base["time_ms"] / t["time_ms"],
                       scores=challenge_scores(row["psnr"], row["ms_ssim"], t["time_ms"], base["time_ms"]))
    for row in rows:
        name = row["submission"].removesuffix(" [keras]")
        if name in officials:
            row.update(official=True, checkpoint=dict(found)[name], verified_psnr=verified_psnr(name))
    table = {"track": "B", "perceptual": "ms_ssim", "data": where,
             "baseline": {"name": "srcnn", "weights": baseline.weights, **base}, "rows": rows}
    if best is not None:
        by_label = {row["submission"]: row for row in rows}
        add_official_rows(out, Enhancer(officials[best]), best, by_label["default [keras]"],
                          by_label[f"{best} [keras]"], where, [name for name, _ in found])
    text = f"Scored on {where}\n" + format_table(table)
    (out / "scores.txt").write_text(text + "\n")
    (out / "scores.json").write_text(json.dumps(
        {**table, "exports": exports,
         "official": {"found": dict(found), "best": best,
                      "best_by": "highest verified PSNR (pretrained.json metrics.psnr)",
                      "note": official_line(found, best)}}, indent=1, default=float) + "\n")
    print(text)
    announce_official(found, best)
    print(f"\noutputs in {out} ({time.time() - start:.0f} s)")


if __name__ == "__main__":
    main()
