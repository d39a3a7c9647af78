"""``python -m training train|export|evaluate``: the same as ``edgecam train|export|evaluate``."""

import sys

from training.cli import main

sys.exit(main())
