"""``python -m edgecam``: the same as the ``edgecam`` command."""

import sys

from edgecam.entry import main

sys.exit(main())
