"""What pyproject.toml cannot say: the checkout's assets/ ships inside the package.

The default model bundle and the demo clip and samples live in ``assets/`` (the source, which
``make default-model`` and ``make demo`` rebuild); wheels and installs carry them as the
``edgecam.assets`` package data that :mod:`edgecam.defaults` finds with ``importlib.resources``.
Everything else is in pyproject.toml.
"""

from setuptools import find_packages, setup

ASSET_FILES = [
    "models/default/model.tflite",
    "models/default/labels.txt",
    "models/default/model.json",
    "demo/fashion.mp4",
    "demo/samples/*.png",
]

setup(
    packages=[
        *find_packages(include=["edgecam", "edgecam.*", "training", "training.*"]),
        "edgecam.assets",
    ],
    package_dir={"edgecam.assets": "assets"},
    package_data={
        "edgecam.assets": ASSET_FILES,
        "edgecam.catalogue": ["catalogue.json"],  # the model catalogue (edgecam models)
    },
    include_package_data=False,
)
