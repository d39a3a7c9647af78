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

ASSETS = Path(__file__).resolve().parent.parent / "assets"
#: Names a deployment's own default model instead of the bundled one.
DEFAULT_MODEL_ENV = "EDGECAM_DEFAULT_MODEL"
#: The bundled default model (Fashion-MNIST, int8; `make default-model` rebuilds it).
BUNDLED_MODEL = ASSETS / "models" / "default"
#: What plays when no camera is found (Fashion-MNIST test images; `make demo` rebuilds it).
DEMO_CLIP = ASSETS / "demo" / "fashion.mp4"


def default_model() -> tuple[Path, str]:
    """The model used when none is given, and where that choice came from (for errors)."""
    configured = os.environ.get(DEFAULT_MODEL_ENV)
    if configured:
        return Path(configured).expanduser(), f"${DEFAULT_MODEL_ENV}"
    return BUNDLED_MODEL, "the bundled default model"
