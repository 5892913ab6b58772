from setuptools import find_packages, setup

setup(
    name="pirm-enhance",
    version="0.1.0",
    description="The PIRM 2018 smartphone photo-enhancement challenge as a TensorFlow 2 / Keras 3 library",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=find_packages(include=["pirm_enhance", "pirm_enhance.*"]),
    package_data={"pirm_enhance": ["pretrained.json"]},
    data_files=[("share/pirm_enhance/models", ["models/default.keras", "models/default.json"])],
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
        "test": ["pytest", "tf2onnx", "onnxruntime"],
    },
    entry_points={"console_scripts": [
        "pirm-export=pirm_enhance.cli.export:main",
        "pirm-score=pirm_enhance.cli.score:main",
        "pirm-train=pirm_enhance.cli.train:main",
        "pirm-enhance=pirm_enhance.cli.enhance:main",
    ]},
)
