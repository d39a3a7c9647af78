"""Keep the native runtimes' log lines off the user's terminal.

LiteRT and TFLite print INFO/WARNING lines (and, for a missing GPU, a whole trace) straight to
file descriptor 2 from C++. We capture them while loading so the user sees one clear line from
us instead; ``-v`` (the edgecam logger at DEBUG, see :func:`edgecam.logs.verbose`) shows them.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator

from edgecam import logs


class CapturedLog:
    """The text native code wrote to stderr inside :func:`capture_native_stderr`."""

    def __init__(self) -> None:
        self.text = ""


@contextlib.contextmanager
def capture_native_stderr() -> Iterator[CapturedLog]:
    """Redirect fd 2 to a temporary file for the duration of the block.

    Not thread-safe with other writers to stderr: use it around model loading only, never
    around per-frame work.
    """
    log = CapturedLog()
    if logs.verbose():
        yield log
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real fd 2 (embedded interpreters, some IDEs)
        yield log
        return
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield log
        finally:
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            log.text = sink.read().decode("utf-8", errors="replace")
