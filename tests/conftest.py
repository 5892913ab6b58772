"""Shared fixtures. Data and official weights come from environment variables:
PIRM_DATA_DIR (folder holding dped/) and PIRM_WEIGHTS_DIR (official TF1
checkpoints); tests that need them skip with the reason when unset."""

import os
import pathlib

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402



def _env_dir(var, what):
    value = os.environ.get(var)
    if not value:
        pytest.skip(f"{var} is unset: set it to {what} to run this test")
    path = pathlib.Path(value.split(os.pathsep)[0])
    if not path.is_dir():
        pytest.skip(f"{var}={value} is not a folder: set it to {what}")
    return path


@pytest.fixture(scope="session")
def data_dir():
    path = _env_dir("PIRM_DATA_DIR", "the folder holding dped/ (e.g. ../shared/data/pirm2018)")
    if not (path / "dped" / "patches").is_dir():
        pytest.skip(f"PIRM_DATA_DIR={path} holds no dped/patches")
    return path


@pytest.fixture(scope="session")
def weights_dir():
    return _env_dir("PIRM_WEIGHTS_DIR", "a folder of official TF1 checkpoints (e.g. ../shared/pretrained)")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """Every test gets an empty PIRM_HOME so the user's cache never leaks in."""
    monkeypatch.setenv("PIRM_HOME", str(tmp_path / "pirm_home"))


@pytest.fixture
def rng():
    return np.random.default_rng(0)
