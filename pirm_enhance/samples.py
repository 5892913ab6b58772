"""The sample photos that ship with pirm-enhance: three phone-like JPEGs (Apache-2.0,
see their README.md) to try a model on.

An installed wheel has them inside the package (``pirm_enhance/sample_photos/``,
copied there from the repository's ``samples/`` when the wheel is built); a clone
or an editable install reads the repository's ``samples/`` directly.
"""

import pathlib

from pirm_enhance.errors import DataMissing

PACKAGE_FOLDER = "sample_photos"


def samples_dir():
    """The folder holding the sample photos (:class:`DataMissing` when there is none)."""
    here = pathlib.Path(__file__).resolve().parent
    for candidate in (here / PACKAGE_FOLDER, here.parent / "samples"):
        if any(candidate.glob("*.jpg")):
            return candidate
    raise DataMissing("the sample photos (samples/*.jpg) are missing from this installation; "
                      "reinstall pirm-enhance")


def sample_paths():
    """The sample photos (``pathlib.Path``), sorted by name."""
    return sorted(samples_dir().glob("*.jpg"))
