"""``python -m edgecam``: the same as the ``edgecam`` command."""

import sys

from edgecam.cli import main

sys.exit(main())
