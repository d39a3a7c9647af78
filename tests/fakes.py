"""Test doubles that the test drives step by step, so threading tests need no wall-clock sleeps.

Only what cannot run here for real is faked: a frame source whose frames, end and failure the
test decides, and a classifier that waits at a gate. The pipeline and session around them are
the real ones.
"""

from __future__ import annotations

import queue
import threading
from typing import ClassVar

import numpy as np

from edgecam.capture.sources import FrameSource, SourceKind
from edgecam.errors import SourceError
from edgecam.vision.types import Category, Classification, Timings

WAIT_S = 5.0  # the longest any test waits for a thread; a failure, not a pause


class FakeSource(FrameSource):
    """A source fed by the test: ``push`` a frame, ``end()`` it or ``fail()`` it.

    ``read`` blocks until the test says what comes next, like a camera between two frames;
    every fake made is released when its test ends (``conftest.release_fakes``).
    """

    made: ClassVar[list[FakeSource]] = []

    def __init__(
        self,
        kind: SourceKind = SourceKind.CAMERA,
        description: str = "fake camera",
        pace: bool = False,
        open_error: SourceError | None = None,
    ) -> None:
        super().__init__(description, pace=pace)
        self.kind = kind
        self.open_error = open_error
        self.closed = threading.Event()
        self._queue: queue.Queue = queue.Queue()
        self._released = threading.Event()
        FakeSource.made.append(self)

    def push(self, value: int = 0) -> None:
        """Queue one frame: a 4x4 image filled with ``value`` (classifiers can read it back)."""
        self._queue.put(("frame", np.full((4, 4, 3), value, np.uint8)))

    def end(self) -> None:
        self._queue.put(("end", None))

    def fail(self, message: str = "fake camera unplugged") -> None:
        self._queue.put(("fail", SourceError(message, "plug it back in")))

    def release(self) -> None:
        """Let a blocked ``read`` return as if the source had ended (test clean-up)."""
        self._released.set()

    def _open(self) -> None:
        if self.open_error is not None:
            raise self.open_error

    def _read(self):
        while not self._released.is_set():
            try:
                what, value = self._queue.get(timeout=0.02)
            except queue.Empty:
                continue
            if what == "frame":
                return value
            if what == "fail":
                raise value
            return None
        return None

    def _close(self) -> None:
        self.closed.set()


class GatedClassifier:
    """Classifies a fake frame as its fill value; each call waits until the test opens the gate.

    ``calls`` lists the frame indices in the order they were classified.
    """

    def __init__(self, gated: bool = False, labels=("zero", "one")) -> None:
        self.labels = list(labels)
        self.calls: list[int] = []
        self.started = threading.Semaphore(0)  # released when a classification begins
        self.top_k = 1
        self.closed = False
        self._gate = threading.Event()
        if not gated:
            self._gate.set()

    def open_gate(self) -> None:
        self._gate.set()

    def close_gate(self) -> None:
        self._gate.clear()

    def classify(self, image, frame_timestamp=None, frame_index=None) -> Classification:
        self.started.release()
        assert self._gate.wait(WAIT_S), "the test never opened the gate"
        self.calls.append(frame_index)
        value = int(image.flat[0])
        categories = tuple(Category(i, f"value {value}", 1.0 / (i + 1)) for i in range(self.top_k))
        return Classification(categories, Timings(0.0, 0.0, 0.0), frame_timestamp, frame_index)

    def set_top_k(self, k: int) -> None:
        self.top_k = k

    def close(self) -> None:
        self.closed = True
