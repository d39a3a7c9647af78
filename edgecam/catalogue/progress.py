"""A one-line progress bar for downloads, drawn only on a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO

WIDTH = 30
#: Redraws per second at most (a fast local copy would otherwise flood the terminal).
RATE_HZ = 10.0


def megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


class TerminalProgress:
    """``progress(done, total)`` for :meth:`ModelStore.pull`; a no-op unless ``stream`` is a
    terminal (a log or a pipe gets only the lines the command prints itself)."""

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = _isatty(self.stream)
        self._last = 0.0
        self._drawn = False

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if done < total and now - self._last < 1.0 / RATE_HZ:
            return
        self._last = now
        filled = int(WIDTH * done / total) if total else WIDTH
        bar = "#" * filled + "." * (WIDTH - filled)
        percent = 100 * done / total if total else 100
        self.stream.write(
            f"\r{self.label} [{bar}] {percent:3.0f}% {megabytes(done)} of {megabytes(total)}"
        )
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        """End the bar's line (call it whether the download succeeded or not)."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
