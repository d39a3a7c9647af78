"""The PyQt6 desktop app: the only part of edgecam that imports Qt.

This module itself imports nothing from Qt, so the CLI can ask whether a window can open at all
before paying for (or failing at) the Qt import.
"""

from __future__ import annotations

import importlib.util
import os
import sys

# Qt platform plugins that need no display server (tests, VNC-less servers).
_HEADLESS_PLATFORMS = ("offscreen", "minimal", "vnc", "eglfs", "linuxfb")


def display_problem() -> str | None:
    """Why no window can open here, or None when one can."""
    if importlib.util.find_spec("PyQt6") is None:
        return "PyQt6 is not installed (pip install 'edgecam[gui]')"
    platform = os.environ.get("QT_QPA_PLATFORM", "").split(":")[0]
    if sys.platform.startswith("linux") and not platform.startswith(_HEADLESS_PLATFORMS):
        if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            return "no display (DISPLAY and WAYLAND_DISPLAY are not set)"
    return None
