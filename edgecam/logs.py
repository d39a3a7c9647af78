"""The ``edgecam`` logger: every diagnostic and notice goes through :mod:`logging`.

Modules log to ``logging.getLogger(__name__)`` (children of ``edgecam``). What the user should
know (a fallback, assumed labels, an ignored setting) is a WARNING and is shown by default as
``edgecam: note: ...``; detail for bug reports is DEBUG and shows with ``-v``; ``-q`` keeps only
errors. Front ends decide where the lines go (the terminal, the window's status bar); library
code never prints.
"""

from __future__ import annotations

import logging
import sys

LOGGER_NAME = "edgecam"
logger = logging.getLogger(LOGGER_NAME)

QUIET, NORMAL, VERBOSE = -1, 0, 1
_LEVELS = {QUIET: logging.ERROR, NORMAL: logging.WARNING, VERBOSE: logging.DEBUG}


class _NoteFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        kind = "note" if record.levelno < logging.ERROR else "error"
        if record.levelno < logging.WARNING:
            kind = "debug"
        text = f"edgecam: {kind}: {record.getMessage()}"
        if record.exc_info and verbose():
            text += "\n" + self.formatException(record.exc_info)
        return text


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (tests and IDEs replace it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


_handler: logging.Handler | None = None


def configure(verbosity: int = NORMAL) -> None:
    """Print the edgecam log on stderr at the level ``verbosity`` asks for (a CLI's start)."""
    global _handler
    if _handler is None:
        _handler = _StderrHandler()
        _handler.setFormatter(_NoteFormatter())
        logger.addHandler(_handler)
    logger.setLevel(_LEVELS[max(QUIET, min(VERBOSE, verbosity))])


def verbose() -> bool:
    """True with ``-v``: show the runtimes' native log lines and full tracebacks."""
    return logger.isEnabledFor(logging.DEBUG)
