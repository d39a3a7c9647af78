"""Named points where a test can hold a real training or export process, to kill it there.

Only for tests: with ``EDGECAM_TEST_PAUSE=NAME`` in the environment, :func:`pause` at the point
``NAME`` creates the file ``$EDGECAM_TEST_PAUSE_MARKER`` and then sleeps until the process is
killed, so a test can SIGKILL a child exactly between two steps (a kill that merely lands
somewhere is tested too, without this hook). Unset, a point costs one dictionary lookup.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

PAUSE = "EDGECAM_TEST_PAUSE"
MARKER = "EDGECAM_TEST_PAUSE_MARKER"


def pause(name: str) -> None:
    """Hold here for good if the environment asks for the point ``name``."""
    if os.environ.get(PAUSE) != name:
        return
    marker = os.environ.get(MARKER)
    if marker:
        Path(marker).write_text(f"{os.getpid()}\n")
    while True:  # until the test kills the process
        time.sleep(0.05)
