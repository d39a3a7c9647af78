"""The ``edgecam`` command's entry point (and ``python -m edgecam``'s): Ctrl-C while the
command's modules load is one line and exit 130, not a traceback."""

from __future__ import annotations

import os
import sys

_INTERRUPTED = "edgecam: interrupted before any work was done"
_interrupted = False


def main() -> int:
    global _interrupted
    try:
        from edgecam.cli import main as run
    except KeyboardInterrupt:  # while the imports load (up to a second on a busy Pi)
        print(_INTERRUPTED, file=sys.stderr)
        _interrupted = True
        return 130
    try:
        return run()
    except KeyboardInterrupt:  # past every command's own handling: while its module loads
        print(_INTERRUPTED, file=sys.stderr)
        _interrupted = True
        return 130


def script() -> None:
    """Run :func:`main` and exit with its status.

    A Ctrl-C that lands inside code an extension module runs through the interpreter (as
    TensorFlow's import does) marks the process as killed by SIGINT even when it was caught,
    and CPython then ends it with the signal instead of the status (seen: exit -2 after the
    one-line message). After an interruption nothing is left to clean up, so the status is
    given to the system directly. A Ctrl-C Python drops is raised again
    (:func:`edgecam.errors.watch_for_ctrl_c`).
    """
    from edgecam.errors import watch_for_ctrl_c

    watch_for_ctrl_c()
    status = main()
    if _interrupted:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    sys.exit(status)
