"""``python -m edgecam``: the same as the ``edgecam`` command."""

import sys

_INTERRUPTED = "edgecam: interrupted before any work was done"

try:
    from edgecam.cli import main
except KeyboardInterrupt:  # Ctrl-C while the imports load (up to a second on a busy Pi)
    print(_INTERRUPTED, file=sys.stderr)
    sys.exit(130)

try:
    status = main()
except KeyboardInterrupt:  # past every command's own handling: while a command's module loads
    print(_INTERRUPTED, file=sys.stderr)
    status = 130
sys.exit(status)
