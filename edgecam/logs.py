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


_handler: logging.Handler | None = None


def configure(verbosity: int = NORMAL, stream=None) -> None:
    """Send the edgecam log to ``stream`` (stderr) at the level ``verbosity`` asks for."""
    global _handler
    if _handler is not None:
        logger.removeHandler(_handler)
    _handler = logging.StreamHandler(stream or sys.stderr)
    _handler.setFormatter(_NoteFormatter())
    logger.addHandler(_handler)
    logger.setLevel(_LEVELS[max(QUIET, min(VERBOSE, verbosity))])
    logger.propagate = False


def verbose() -> bool:
    """True with ``-v``: show the runtimes' native log lines and full tracebacks."""
    return logger.isEnabledFor(logging.DEBUG)
