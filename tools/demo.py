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


def main():
    from pirm_enhance.cli import quiet_tensorflow

    quiet_tensorflow()
    import pirm_enhance as pe
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

    result = enhance_files([samples_dir()], out, Enhancer(model), compare=True, suffix="_enhanced",
                           overwrite=True)  # out/demo is the demo's own folder: a rerun replaces it
    print(f"enhanced {len(result['written'])} sample photos", file=sys.stderr)

    exports = {}
    for fmt, path in (("pb", out / "default.pb"), ("tflite", out / "default.tflite")):
        report = pe.export(model, path, format=fmt)
        exports[fmt] = report
        print(f"exported {path.name}: max |diff| vs Keras {report['max_abs_diff']:.2g}", file=sys.stderr)

    runners = {"default [keras]": make_runner(model), "default.pb": make_runner(out / "default.pb"),
               "default.tflite": make_runner(out / "default.tflite")}
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
    table = {"track": "B", "perceptual": "ms_ssim", "data": where,
             "baseline": {"name": "srcnn", "weights": baseline.weights, **base}, "rows": rows}
    text = f"Scored on {where}\n" + format_table(table)
    (out / "scores.txt").write_text(text + "\n")
    (out / "scores.json").write_text(json.dumps({**table, "exports": exports}, indent=1, default=float) + "\n")
    print(text)
    print(f"\noutputs in {out} ({time.time() - start:.0f} s)")


if __name__ == "__main__":
    main()
