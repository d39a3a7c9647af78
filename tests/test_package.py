"""The package as a device installs it: package data found with importlib.resources, and the
wheel `make test` builds is pure Python, small and complete."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from conftest import INSTALLED, REPO

import edgecam
from edgecam import __version__, defaults


def test_the_assets_are_found_and_complete():
    assets = defaults.assets_dir()
    assert (defaults.bundled_model() / "model.tflite").is_file()
    assert (defaults.bundled_model() / "labels.txt").is_file()
    assert defaults.demo_clip().is_file()
    assert len(defaults.demo_samples()) == 10
    if INSTALLED:  # the wheel's own copy, not the checkout's assets/
        assert "site-packages" in str(assets), assets
        assert "site-packages" in edgecam.__file__, edgecam.__file__


@pytest.mark.skipif(not INSTALLED, reason="the wheel is checked where `make test-pi` installs it")
def test_the_wheel_is_pure_small_and_carries_the_assets():
    wheels = sorted((REPO / "dist").glob(f"edgecam-{__version__}-*.whl"))
    assert wheels, "make dist builds it"
    wheel = wheels[-1]
    assert wheel.name.endswith("-py3-none-any.whl")  # pure Python: one wheel for every device
    size = wheel.stat().st_size
    assert size < 1_500_000, f"{wheel.name} is {size} bytes"
    names = set(zipfile.ZipFile(wheel).namelist())
    for asset in (
        "edgecam/assets/models/default/model.tflite",
        "edgecam/assets/models/default/model.json",
        "edgecam/assets/demo/fashion.mp4",
    ):
        assert asset in names
    assert not any(n.startswith(("tests/", "assets/")) for n in names)
    assert any(Path(n).name == "WHEEL" for n in names)
    print(f"{wheel.name}: {size / 1024:.0f} KiB")
