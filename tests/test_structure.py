"""The package's shape: imports run one way, the tools' --help is complete and quiet,
one error spine, one table of formats."""

import ast
import pathlib
import subprocess
import sys

import pytest

import pirm_enhance as pe
from pirm_enhance import errors, formats
from pirm_enhance.cli import bench, enhance, export, score, train

ROOT = pathlib.Path(pe.__file__).resolve().parent

# Modules import only modules earlier in this order (lowest first); the package
# __init__ (lazy public names) and the console tools sit on top.
ORDER = ["errors", "quiet", "progress", "formats", "registry", "pretrained", "samples", "metrics", "data", "colour",
         "segment", "postprocess", "layers", "lowering", "graphs", "graph_check", "archs", "checkpoints", "losses", "mpse",
         "tiling", "zoo", "runners", "runtimes", "memory", "quantize", "exporters", "scoring", "enhancer", "training", "leaderboard", "bench",
         "cli", "__init__"]
# Neighbours in the order that must still not know each other: the scorer and the
# exporters are independent (leaderboard combines them), the losses are not scoring.
FORBIDDEN = {("scoring", "exporters"), ("exporters", "scoring"), ("losses", "scoring"),
             ("enhancer", "scoring"), ("enhancer", "exporters")}
# The one deliberate upward import: the registry loads the zoo package so that it is
# never seen empty (plugin discovery; archs registers itself into the registry).
ALLOWED_UPWARD = {("registry", "archs")}


def _unit(module):
    """``pirm_enhance.scoring.score`` -> ``scoring``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _layer(unit):
    if unit not in ORDER:
        raise AssertionError(f"pirm_enhance.{unit} has no place in ORDER (tests/test_structure.py): give it one")
    return ORDER.index(unit)


def _imports(path):
    """Every ``pirm_enhance.*`` module imported anywhere in a file (function bodies too)."""
    tree = ast.parse(path.read_text())
    package = "pirm_enhance." + ".".join(path.relative_to(ROOT).with_suffix("").parts)
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("pirm_enhance"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level)[0]
                mod = f"{base}.{node.module}" if node.module else base
            else:
                mod = node.module or ""
            if mod == "pirm_enhance":  # from pirm_enhance import archs, zoo
                out.update(pe._PUBLIC.get(a.name, f"pirm_enhance.{a.name}") for a in node.names)
            elif mod.startswith("pirm_enhance"):
                out.add(mod)
    return out


def test_imports_run_one_way():
    problems = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        unit = _unit(f"pirm_enhance.{rel}") if rel != "__init__" else "__init__"
        for target in _imports(path):
            other = _unit(target)
            if other == unit or (unit, other) in ALLOWED_UPWARD or unit in ("__init__",):
                continue
            if _layer(other) >= _layer(unit) or (unit, other) in FORBIDDEN:
                problems.append(f"pirm_enhance/{path.relative_to(ROOT)} ({unit}) imports {target} ({other})")
    assert not problems, "\n".join(problems)


def test_registry_is_populated_without_importing_archs_first():
    code = ("import pirm_enhance.registry as r, sys; assert 'pirm_enhance.archs' not in sys.modules; "
            "print(len(r.list_models()))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert int(proc.stdout.split()[-1]) == len(pe.list_models()) >= 6


@pytest.mark.parametrize("tool", ["pirm-enhance", "pirm-export", "pirm-score", "pirm-train", "pirm-bench"])
def test_help_is_quiet_and_every_option_is_described(tool):
    module = {"pirm-enhance": "enhance", "pirm-export": "export", "pirm-score": "score", "pirm-train": "train",
              "pirm-bench": "bench"}[tool]
    proc = subprocess.run([sys.executable, "-m", f"pirm_enhance.cli.{module}", "--help"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0
    assert proc.stderr == ""  # no TensorFlow start-up lines: --help does not import it
    parser = {"pirm-enhance": enhance, "pirm-export": export, "pirm-score": score, "pirm-train": train,
              "pirm-bench": bench}[tool].parser()
    for action in parser._actions:
        if action.option_strings and action.dest != "help":
            assert action.help, f"{tool} {action.option_strings} has no description"
            if action.default not in (None, False, []):
                assert str(action.default) in parser.format_help(), f"{tool} {action.option_strings}: default not shown"


def test_help_does_not_import_tensorflow():
    code = ("import sys; from pirm_enhance.cli import bench, export, score, train, enhance\n"
            "for m in (bench, export, score, train, enhance): m.parser().format_help()\n"
            "print('tensorflow' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.stdout.strip() == "False", proc.stderr[-2000:]


@pytest.mark.parametrize("main", [enhance.main, export.main, score.main])
def test_list_names_default_first(main, capsys):
    assert main(["--list"]) == 0
    names = capsys.readouterr().out.split()
    assert names[0] == "default" and set(pe.list_pretrained()) <= set(names)


def test_unknown_names_mention_default():
    with pytest.raises(errors.UnknownName, match="default"):
        pe.load_model("defualt.x")


def test_error_spine():
    """Every error the library raises on purpose is a PirmError with a one-line message, an
    exit code, and the built-in base a caller would expect."""
    expect = {errors.UnknownName: KeyError, errors.DataMissing: FileNotFoundError,
              errors.WeightsUnavailable: RuntimeError, errors.ImageError: ValueError,
              errors.SubmissionError: ValueError, errors.RuleViolation: ValueError}
    for cls, base in expect.items():
        err = cls("first\nsecond")
        assert isinstance(err, errors.PirmError) and isinstance(err, base)
        assert str(err) == "first second" and err.exit_code in (1, 2, 3, 4, 5)
    assert str(errors.UnknownName("x")) == "x"  # no KeyError quotes
    assert pe.WeightsUnavailable is errors.WeightsUnavailable and pe.DataMissing is errors.DataMissing
    codes = {c.exit_code for c in (errors.UsageError, errors.SubmissionError, errors.DataMissing,
                                   errors.WeightsUnavailable, errors.ModelRunError)}
    assert codes == {1, 2, 3, 4, 5}


def test_cli_main_turns_everything_into_one_line(capsys, monkeypatch):
    from pirm_enhance.cli import main

    import tensorflow as tf

    def raising(err):
        def run(argv):
            raise err
        return run

    cases = [(errors.DataMissing("no data\nat all"), 4), (KeyboardInterrupt(), 130),
             (PermissionError(13, "Permission denied", "/ro/x.pb"), 1), (MemoryError(), 1),
             (tf.errors.ResourceExhaustedError(None, None, "OOM when allocating\n[[node x]]"), 1),
             (ZeroDivisionError("bug"), 70)]
    for err, code in cases:
        assert main(raising(err)) == code
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), lines
    monkeypatch.setenv("PIRM_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        main(raising(ZeroDivisionError("bug")))


def test_one_table_of_formats():
    """make_runner, export and the scorer's variants all come from formats.FORMATS."""
    from pirm_enhance.exporters import writers

    for fmt in formats.FORMATS.values():
        runner = fmt.runner_class()
        assert hasattr(runner, "open") and runner.kind == fmt.name
        if fmt.name in formats.EXPORT_FORMATS:
            assert callable(fmt.write_function())
        for variant, quant in fmt.variants.items():
            assert formats.VARIANTS[variant] == (fmt.name, quant)
    assert writers.FORMATS == formats.EXPORT_FORMATS
    assert formats.format_of("x.TFLITE").name == "tflite" and formats.format_of("name.tag") is None
    assert formats.format_of("out_dir", writing=True).name == "saved_model"
    with pytest.raises(errors.UnknownName, match="tflite"):
        formats.get_format("tflight")
