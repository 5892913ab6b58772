"""The model zoo: importing this package registers every architecture.

Every public module of this package (name not starting with ``_``) is imported,
in name order, and registers its architectures with
:func:`pirm_enhance.registry.register_arch`: a new architecture is one new
module here, with no list to edit.
"""

import importlib
import pkgutil

from pirm_enhance.archs.base import ZooModel


def _import_all():
    for module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
        if not module.startswith("_") and module != "base":
            importlib.import_module(f"{__name__}.{module}")


_import_all()

__all__ = ["ZooModel"]
