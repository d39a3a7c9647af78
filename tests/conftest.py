"""Shared test helpers: fixture paths, real video/image writers, the CLI runner."""

from __future__ import annotations

import functools
import http.server
import os
import subprocess
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

FIXTURES = Path(__file__).resolve().parent / "fixtures"
REPO = FIXTURES.parents[1]
#: Set by `make test-pi`: the tests run against the installed wheel, not the checkout.
INSTALLED = bool(os.environ.get("EDGECAM_TEST_INSTALLED"))
#: Where child processes run: the checkout, or for the installed wheel tests/, which has no
#: edgecam/ that `python -m` or `-c` would import instead of the installed one.
CLI_CWD = REPO / "tests" if INSTALLED else REPO


def cli_env(**extra: str) -> dict:
    """The environment for a child ``python -m edgecam``: the checkout on PYTHONPATH unless the
    installed wheel is what is tested."""
    env = dict(os.environ, **extra)
    if not INSTALLED:
        env["PYTHONPATH"] = str(REPO)
    return env


# BGR colours the colour fixture models name red / green / blue.
BGR = {"red": (0, 0, 255), "green": (0, 255, 0), "blue": (255, 0, 0)}


def has_module(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


HAS_LITERT = has_module("ai_edge_litert")


def solid(color: str, size: tuple[int, int] = (64, 48)) -> np.ndarray:
    """A BGR image of one colour, ``size`` = (width, height)."""
    image = np.zeros((size[1], size[0], 3), np.uint8)
    image[:] = BGR[color]
    return image


def write_video(path: Path, colors: list[str], fps: float = 30.0, size=(160, 120)) -> Path:
    """Write a real mp4v video, one frame per entry of ``colors``."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    assert writer.isOpened(), "OpenCV cannot write mp4v here"
    for color in colors:
        writer.write(solid(color, size))
    writer.release()
    return path


@pytest.fixture(autouse=True, scope="session")
def edgecam_home(tmp_path_factory) -> Path:
    """edgecam's cache folder (models, teach embeddings, probed models) for the whole run, set
    in the environment so child processes use it too: the tests never touch the user's own."""
    home = tmp_path_factory.mktemp("edgecam-home")
    os.environ["EDGECAM_HOME"] = str(home)
    return home


@pytest.fixture(autouse=True)
def release_fakes():
    """Let every fake source of a test end, so no test leaves capture threads behind."""
    yield
    from fakes import FakeSource

    for source in FakeSource.made:
        source.release()
    FakeSource.made.clear()


@pytest.fixture
def color_video(tmp_path: Path) -> Path:
    """A 3 s, 30 fps video: 30 red, 30 green, 30 blue frames."""
    return write_video(tmp_path / "colors.mp4", ["red"] * 30 + ["green"] * 30 + ["blue"] * 30)


@pytest.fixture
def color_images(tmp_path: Path) -> Path:
    """A folder with red/green/blue PNGs and one corrupt .jpg."""
    folder = tmp_path / "images"
    folder.mkdir()
    for i, color in enumerate(["red", "green", "blue"]):
        cv2.imwrite(str(folder / f"{i}_{color}.png"), solid(color))
    (folder / "3_broken.jpg").write_bytes(b"\xff\xd8 this is not really a jpeg")
    return folder


@pytest.fixture
def http_server(tmp_path):
    """A local HTTP server on 127.0.0.1 serving tmp_path; yields its base URL."""

    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(QuietHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", server
    server.shutdown()
    server.server_close()


def run_cli(
    *args: str, timeout: float = 60, no_display: bool = True
) -> subprocess.CompletedProcess:
    """Run ``python -m edgecam ARGS`` in a fresh process; returns the completed process.

    With ``no_display`` the process sees no display at all (as on a headless Pi), so ``run``
    without ``--headless`` falls back to headless instead of opening a window.
    """
    env = cli_env()
    if no_display:
        for name in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"):
            env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "edgecam", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=CLI_CWD,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> str:
    """The process failed with exactly one 'edgecam: error:' line, no traceback."""
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("edgecam: error:")]
    assert len(errors) == 1, proc.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]
