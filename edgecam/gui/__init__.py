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


def display_problem(probe: bool = False) -> str | None:
    """Why no window can open here, or None when one can.

    With ``probe``, Qt is started once in a child process: a display variable can point at a
    server that is gone, or the platform plugin's libraries can be missing, and Qt then aborts
    the whole process instead of raising.
    """
    if importlib.util.find_spec("PyQt6") is None:
        return "PyQt6 is not installed (pip install 'edgecam[gui]')"
    platform = os.environ.get("QT_QPA_PLATFORM", "").split(":")[0]
    if platform.startswith(_HEADLESS_PLATFORMS):
        return None
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        return "no display (DISPLAY and WAYLAND_DISPLAY are not set)"
    if probe:
        return _probe_qt()
    return None


def _probe_qt() -> str | None:
    import subprocess

    code = "from PyQt6.QtWidgets import QApplication; QApplication(['edgecam-probe'])"
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"Qt could not start ({exc})"
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
        reason = lines[0] if lines else f"exit status {proc.returncode}"
        return f"Qt cannot open a window ({reason})"
    return None
