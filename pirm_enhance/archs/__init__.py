"""The model zoo: importing this package registers every architecture."""

from pirm_enhance.archs import dped_resnet, eds, ppcn, rsgunet, srcnn  # noqa: F401
from pirm_enhance.archs.base import ZooModel

__all__ = ["ZooModel"]
