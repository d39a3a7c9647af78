"""The ``edgecam`` command's entry point (and ``python -m edgecam``'s): Ctrl-C while the
command's modules load is one line and exit 130, not a traceback."""

from __future__ import annotations

import sys

_INTERRUPTED = "edgecam: interrupted before any work was done"


def main() -> int:
    try:
        from edgecam.cli import main as run
    except KeyboardInterrupt:  # while the imports load (up to a second on a busy Pi)
        print(_INTERRUPTED, file=sys.stderr)
        return 130
    try:
        return run()
    except KeyboardInterrupt:  # past every command's own handling: while its module loads
        print(_INTERRUPTED, file=sys.stderr)
        return 130
