"""Every default of the live app and the CLI, in one place.

Options a user can set are ``None`` until someone sets them; :mod:`edgecam.live` fills what is
still ``None`` from the saved settings, then from here.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Predictions ``classify`` and the library return.
TOP_K = 5
#: Predictions a live view shows: fewer rows, so the top one stands out.
LIVE_TOP_K = 3
#: Below this top score a live view shows "uncertain".
THRESHOLD = 0.5
#: Frame rate an image folder (or a single image) is shown at.
FOLDER_FPS = 5.0
#: Seconds between attempts to reopen a camera or stream that dropped.
RECONNECT_SECONDS = 3.0
#: Seconds between headless stats lines (0: only at the end).
STATS_EVERY_S = 2.0
#: The source tried when none is given or saved.
SOURCE = "0"
#: What headless mode prints per result: every one (the first is the default), only when the
#: top-1 changes (what a service's journal wants: a camera on a quiet scene would otherwise
#: write a line 30 times a second), or nothing but the stats lines.
PRINT_MODES = ("every", "changes", "none")

#: Names a deployment's own default model instead of the bundled one.
DEFAULT_MODEL_ENV = "EDGECAM_DEFAULT_MODEL"
#: Where the assets are inside the installed package (setup.py maps the checkout's assets/).
ASSETS_PACKAGE = "edgecam.assets"
#: Where edgecam keeps what it downloads or can compute again (models, teach embeddings, probed
#: models): this folder, else $XDG_CACHE_HOME/edgecam, else ~/.cache/edgecam.
HOME_ENV = "EDGECAM_HOME"
_CHECKOUT_ASSETS = Path(__file__).resolve().parent.parent / "assets"


def cache_home() -> Path:
    """edgecam's cache folder (see :data:`HOME_ENV`); nothing is created here."""
    configured = os.environ.get(HOME_ENV)
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "edgecam"


def assets_dir() -> Path:
    """The bundled assets: the installed package data, else the checkout's ``assets/``.

    Found with :mod:`importlib.resources`, so a wheel or ``pip install .`` has the default
    model and the demo clip as an editable install does. Only called when needed: importing
    this module does no I/O.
    """
    from importlib.resources import files

    try:
        # joinpath gives a real path also for the namespace package edgecam.assets is.
        found = Path(str(files(ASSETS_PACKAGE).joinpath("models"))).parent
    except ModuleNotFoundError:  # an editable install or a bare checkout on PYTHONPATH
        return _CHECKOUT_ASSETS
    return found if found.is_dir() else _CHECKOUT_ASSETS


def bundled_model() -> Path:
    """The bundled default model (Fashion-MNIST, int8; `make default-model` rebuilds it)."""
    return assets_dir() / "models" / "default"


def demo_clip() -> Path:
    """What plays when no camera is found (Fashion-MNIST test images; `make demo`)."""
    return assets_dir() / "demo" / "fashion.mp4"


def demo_samples() -> list[Path]:
    """The demo sample images (one per class), sorted by name."""
    return sorted((assets_dir() / "demo" / "samples").glob("*.png"))


def default_model() -> tuple[Path, str]:
    """The model used when none is given, and where that choice came from (for errors)."""
    configured = os.environ.get(DEFAULT_MODEL_ENV)
    if configured:
        return Path(configured).expanduser(), f"${DEFAULT_MODEL_ENV}"
    return bundled_model(), "the bundled default model"
