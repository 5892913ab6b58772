"""Good photos that may be redistributed, for synthetic pairs, demos and tests.

The ``ai-benchmark`` package (Apache-2.0, Andrey Ignatov) ships 100 sharp
1024x682 street photos under ``ai_benchmark/data/enhancement/``. They are
located without importing the package (its ``__init__`` needs psutil and more).
"""

import importlib.util
import pathlib


def ai_benchmark_photos():
    """Sorted paths of the ai-benchmark enhancement photos, or ``[]`` if not installed."""
    spec = importlib.util.find_spec("ai_benchmark")
    if spec is None or not spec.submodule_search_locations:
        return []
    folder = pathlib.Path(list(spec.submodule_search_locations)[0]) / "data" / "enhancement"
    if not folder.is_dir():
        return []
    return sorted(folder.glob("*.jpg"), key=lambda p: (len(p.stem), p.stem))
