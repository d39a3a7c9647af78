"""The latest-frame slot between the capture thread and the inference thread."""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class LatestFrameSlot(Generic[T]):
    """Holds at most one item: the newest.

    ``put`` never blocks the producer: it overwrites an item nobody took and counts it as
    dropped. ``take`` blocks until there is a new item (or the slot is closed), so the consumer
    always works on the newest frame, never on a backlog. ``put(item, wait=True)`` is the
    lossless variant for files read as fast as possible: it waits until the previous item was
    taken, so nothing is dropped.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None
        self._closed = False
        self.dropped = 0  # frames overwritten before anyone took them
        self.delivered = 0

    def put(self, item: T, wait: bool = False) -> None:
        """Store ``item`` as the newest, replacing (and counting) one not yet taken.

        With ``wait``, first wait until the previous item was taken (or the slot closed).
        """
        with self._cond:
            while wait and self._item is not None and not self._closed:
                self._cond.wait()
            if self._item is not None:
                self.dropped += 1
            self._item = item
            self._cond.notify_all()

    def take(self, timeout: float | None = None) -> T | None:
        """Wait for and remove the newest item; None on timeout or once closed and empty."""
        with self._cond:
            if self._item is None and not self._closed:
                self._cond.wait(timeout)
            item, self._item = self._item, None
            if item is not None:
                self.delivered += 1
                self._cond.notify_all()  # a waiting lossless producer may go on
            return item

    def close(self) -> None:
        """Wake the consumer; ``take`` returns what is left, then None."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed
