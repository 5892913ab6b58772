"""notebooks/quickstart.ipynb runs top to bottom the way Colab runs it, and a wheel ships
what it needs (the default model and the sample photos).

The notebook test builds a wheel from this checkout, pip-installs it into a fresh
virtual environment and runs the notebook's code cells with that environment's
Python from another folder. TensorFlow & co are not downloaded again: a ``.pth`` file
puts the running interpreter's site-packages after the new environment's own, as plain
path entries (the ``.pth`` files there, such as an editable install's finder, are not
processed), so ``pirm_enhance`` itself can only come from the wheel; this is checked.
"""

import importlib.util
import json
import os
import pathlib
import shutil
import subprocess
import sys
import sysconfig
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SAMPLES = sorted(p.name for p in (ROOT / "samples").glob("*.jpg"))


def copy_source_tree(dest):
    """The checkout's files as a fresh clone would have them (git's tracked and not-ignored
    files), so that building never writes into the checkout."""
    try:
        listing = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                                 cwd=ROOT, capture_output=True, check=True).stdout.decode().split("\0")
    except (OSError, subprocess.CalledProcessError):  # not a git checkout
        shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns(
            ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", "out", "runs", ".pytest_cache"))
        return dest
    for name in filter(None, listing):
        if (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    return dest


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    if not (ROOT / "models" / "default.keras").exists():
        pytest.skip("models/default.keras is missing")
    tmp = tmp_path_factory.mktemp("wheel")
    src = copy_source_tree(tmp / "src")
    # the installed setuptools when there is one (no download); pip's isolated build otherwise
    isolation = ["--no-build-isolation"] if importlib.util.find_spec("setuptools") else []
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", *isolation,
                            "-w", str(tmp / "dist"), str(src)], capture_output=True, text=True)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    (built,) = (tmp / "dist").glob("pirm_enhance-*.whl")
    return built


def test_wheel_ships_the_default_model_and_the_samples(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {"pirm_enhance/models/default.keras", "pirm_enhance/models/default.json",
                "pirm_enhance/sample_photos/README.md", "pirm_enhance/pretrained.json",
                *(f"pirm_enhance/sample_photos/{name}" for name in SAMPLES)}
    assert len(SAMPLES) == 3
    assert expected <= names, sorted(expected - names)
    assert not [n for n in names if n.startswith(("models/", "samples/", "tests/")) or ".data/" in n]


def test_samples_in_the_checkout():
    from pirm_enhance.samples import sample_paths

    paths = sample_paths()
    assert [p.name for p in paths] == SAMPLES and all(p.is_file() for p in paths)


def notebook_script(notebook, results):
    """The notebook's code cells as one script; shell and magic lines (the Colab install, done
    already) become ``pass``, keeping the indentation. It ends by writing what the test checks."""
    cells = []
    for i, cell in enumerate(c for c in json.loads(notebook.read_text())["cells"] if c["cell_type"] == "code"):
        lines = [l[: len(l) - len(l.lstrip())] + "pass" if l.lstrip().startswith(("%", "!")) else l
                 for l in "".join(cell["source"]).splitlines()]
        cells.append(f"# --- quickstart cell {i}\n" + "\n".join(lines))
    cells.append(f"""# --- checks
import json as _json
from pirm_enhance.zoo import default_model_path as _default_model_path
with open({str(results)!r}, "w") as _f:
    _json.dump({{"max_abs_diff": float(report["max_abs_diff"]), "count": int(r["count"]),
                "package": pe.__file__, "sample": str(sample), "default_model": _default_model_path()}}, _f)
""")
    return "\n\n".join(cells) + "\n"


def fresh_venv(path):
    """A new virtual environment (not the one running the tests) that reaches the running
    interpreter's packages (TensorFlow & co) only as path entries after its own."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    python = path / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    deps = dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib"))
    (pathlib.Path(site) / "_test_deps.pth").write_text("".join(f"{p}\n" for p in deps))
    return python


def test_quickstart_notebook_runs_from_an_installed_wheel(wheel, tmp_path):
    venv = tmp_path / "venv"
    python = fresh_venv(venv)
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
                              "--no-deps", "--no-index", str(wheel)], capture_output=True, text=True)
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]

    run_dir = tmp_path / "colab"  # another folder: nothing of the checkout next to the notebook
    run_dir.mkdir()
    shutil.copy(ROOT / "notebooks" / "quickstart.ipynb", run_dir)
    script = run_dir / "quickstart.py"
    script.write_text(notebook_script(run_dir / "quickstart.ipynb", tmp_path / "results.json"))
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PIRM_DEFAULT_MODEL", "PIRM_DATA_DIR")}
    env.update(KERAS_BACKEND="tensorflow", VIRTUAL_ENV=str(venv),
               PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}")
    run = subprocess.run([str(python), script.name], cwd=run_dir, env=env, capture_output=True, text=True,
                         timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-5000:]

    results = json.loads((tmp_path / "results.json").read_text())
    package = pathlib.Path(results["package"]).resolve().parent
    assert package.is_relative_to(venv.resolve()), package  # the wheel's copy, not the checkout
    assert pathlib.Path(results["sample"]).resolve() == package / "sample_photos" / SAMPLES[0]
    assert pathlib.Path(results["default_model"]).resolve() == package / "models" / "default.keras"
    assert results["max_abs_diff"] < 1e-3
    assert results["count"] > 0
