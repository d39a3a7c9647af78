"""Keep native libraries' log lines off the user's terminal.

LiteRT and TFLite print INFO/WARNING lines (and, for a missing GPU, a whole trace) straight to
file descriptor 2 from C++; libjpeg and libpng print "Corrupt JPEG data: ..." and "libpng
error: ..." for a damaged image. We capture them while loading a model or decoding an image so
the user sees one clear line from us instead; ``-v`` (the edgecam logger at DEBUG, see
:func:`edgecam.logs.verbose`) shows them.

File descriptor 2 is the process's, not a thread's: one capture runs at a time (a lock), and
lines that edgecam's own logger wrote from another thread meanwhile are written out again
afterwards, so no note is lost.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
from collections.abc import Iterator

from edgecam import logs

_lock = threading.Lock()
#: Held while fd 2 is redirected; the CLI takes it to print its final error line.
capture_lock = _lock
_sink = None  # one temporary file, reused by every capture (under _lock)


class CapturedLog:
    """The text native code wrote to stderr inside :func:`capture_native_stderr`."""

    def __init__(self) -> None:
        self.text = ""


@contextlib.contextmanager
def capture_native_stderr(wait: bool = True) -> Iterator[CapturedLog]:
    """Redirect fd 2 to a temporary file for the duration of the block.

    Args:
        wait: wait for a capture running in another thread to end (a model load can take
            seconds). With ``wait=False`` the block then runs uncaptured instead: for per-frame
            work such as decoding a folder's images, which must not stall.
    """
    log = CapturedLog()
    if logs.verbose() or not _lock.acquire(blocking=wait):
        yield log
        return
    try:
        global _sink
        try:
            sys.stderr.flush()
            saved = os.dup(2)
            if _sink is None:
                _sink = tempfile.TemporaryFile(mode="w+b")  # noqa: SIM115 (kept for reuse)
            _sink.seek(0)
            _sink.truncate()
        except (OSError, ValueError):  # no real fd 2 (embedded interpreters, some IDEs)
            yield log
            return
        os.dup2(_sink.fileno(), 2)
        try:
            yield log
        finally:
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            _sink.seek(0)
            log.text = _sink.read().decode("utf-8", errors="replace")
            lines = log.text.splitlines(keepends=True)
            ours = [line for line in lines if line.startswith("edgecam:")]
            if ours:
                with contextlib.suppress(OSError):
                    os.write(2, "".join(ours).encode("utf-8", errors="replace"))
    finally:
        _lock.release()
