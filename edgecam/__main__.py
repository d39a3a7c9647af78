"""``python -m edgecam``: the same as the ``edgecam`` command."""

from edgecam.entry import script

script()
