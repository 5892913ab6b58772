import glob
import os

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

# Files kept once in git at the top of the repository (models/, samples/) and shipped
# inside the package, so that a wheel has them: {folder inside pirm_enhance: files}.
# An editable install or a clone uses the top-level folders directly; see BUILD_NOTES.md
# "Packaging" and pirm_enhance.zoo.default_model_path / pirm_enhance.samples.
PACKAGE_COPIES = {
    "models": ["models/default.keras", "models/default.json"],
    "sample_photos": sorted(glob.glob("samples/*.jpg")) + ["samples/README.md"],
}


class build_py_with_copies(build_py):
    """build_py that also copies PACKAGE_COPIES into build_lib/pirm_enhance/."""

    def copies(self):
        return {os.path.join(self.build_lib, "pirm_enhance", folder, os.path.basename(src)): src
                for folder, files in PACKAGE_COPIES.items() for src in files}

    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):  # the editable install reads models/, samples/
            return
        for dest, src in self.copies().items():
            if not os.path.isfile(src):
                raise FileNotFoundError(f"{src} is missing: it ships inside the package")
            self.mkpath(os.path.dirname(dest))
            self.copy_file(src, dest)

    def get_output_mapping(self):  # setuptools >= 64 (editable installs, strict mode)
        return {**super().get_output_mapping(), **self.copies()}

    def get_outputs(self, include_bytecode=1):
        outputs = super().get_outputs(include_bytecode)
        return outputs + [dest for dest in self.copies() if dest not in outputs]


setup(
    name="pirm-enhance",
    version="0.1.0",
    description="The PIRM 2018 smartphone photo-enhancement challenge as a TensorFlow 2 / Keras 3 library",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=find_packages(include=["pirm_enhance", "pirm_enhance.*"]),
    package_data={"pirm_enhance": ["pretrained.json", "scoring/report_track_a.json",
                                    "scoring/report_track_b.json"]},
    cmdclass={"build_py": build_py_with_copies},
    install_requires=[
        "tensorflow-cpu>=2.16,<2.22; platform_machine=='x86_64'",
        "tensorflow>=2.16,<2.22; platform_machine!='x86_64'",
        "keras>=3.3",
        "numpy",
        "scipy",
        "imageio",
        "pillow",
        "absl-py",
        "ai-edge-litert",
        "tensorboard",
    ],
    extras_require={
        "tflite": ["ai-edge-litert"],
        "onnx": ["tf2onnx", "onnxruntime"],
        "bench": ["matplotlib"],
        "test": ["pytest", "pytest-xdist", "tf2onnx", "onnxruntime", "matplotlib"],
    },
    entry_points={"console_scripts": [
        "pirm-export=pirm_enhance.cli.export:main",
        "pirm-score=pirm_enhance.cli.score:main",
        "pirm-train=pirm_enhance.cli.train:main",
        "pirm-enhance=pirm_enhance.cli.enhance:main",
        "pirm-bench=pirm_enhance.cli.bench:main",
    ]},
)
