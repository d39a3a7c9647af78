"""The live pipeline: a capture thread and an inference thread joined by a latest-frame slot.

Capture never waits for inference, and inference always takes the newest frame, so a result
is about one classification plus at most one frame interval old (plus a thread hand-over; the
last frame of a file may wait for the inference in flight). A sequential read -> infer loop
shows stale results instead, because OpenCV/V4L2 buffer several frames. Qt-free: headless mode
uses it as is, and the GUI wires its callbacks to signals.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from edgecam.capture.slot import LatestFrameSlot
from edgecam.capture.sources import Frame, FrameSource
from edgecam.errors import EdgecamError, raise_if_interrupted
from edgecam.vision.types import Classification


@dataclass(frozen=True)
class PipelineStats:
    """A snapshot of the pipeline's counters and rates (rates over the last few seconds)."""

    frames_captured: int
    frames_classified: int
    frames_dropped: int
    frames_skipped: int
    capture_fps: float
    inference_fps: float
    inference_ms: float  # mean of the recent invoke times
    result_age_ms: float  # mean of (result time - frame capture time), recent


class _Rate:
    """Events per second over a sliding window."""

    def __init__(self, window_s: float = 3.0) -> None:
        self.window_s = window_s
        self._times: deque[float] = deque()

    def tick(self, now: float) -> None:
        self._times.append(now)
        while self._times and now - self._times[0] > self.window_s:
            self._times.popleft()

    def rate(self) -> float:
        if len(self._times) < 2:
            return 0.0
        span = self._times[-1] - self._times[0]
        return (len(self._times) - 1) / span if span > 0 else 0.0


class Pipeline:
    """Runs ``classifier`` on the newest frames of ``source`` until stopped or the source ends.

    Args:
        source: an unopened or opened frame source; the pipeline opens and closes it.
        classifier: anything with ``classify(image, frame_timestamp=, frame_index=)``.
        on_result: called from the inference thread with each (Classification, Frame).
        on_frame: called from the capture thread with each Frame (the GUI paints these).
        max_results: stop after this many classifications (None: run until the source ends).

    After ``join()``, ``error`` holds the :class:`EdgecamError` that stopped it, if any, and
    ``ended`` says whether the source ran out normally.
    """

    def __init__(
        self,
        source: FrameSource,
        classifier,
        on_result: Callable[[Classification, Frame], None] | None = None,
        on_frame: Callable[[Frame], None] | None = None,
        max_results: int | None = None,
    ) -> None:
        self.source = source
        self.classifier = classifier
        self.on_result = on_result
        self.on_frame = on_frame
        self.max_results = max_results
        self.slot: LatestFrameSlot[Frame] = LatestFrameSlot()
        self.error: EdgecamError | None = None
        self.ended = False
        self._stop = threading.Event()
        self._paused = threading.Event()
        self._classifier_lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._captured = 0
        self._classified = 0
        self._capture_rate = _Rate()
        self._inference_rate = _Rate()
        self._invoke_ms: deque[float] = deque(maxlen=30)
        self._ages_ms: deque[float] = deque(maxlen=30)

    def start(self) -> Pipeline:
        """Open the source (errors raise here, in the caller's thread) and start both threads."""
        self.source.open()
        self._threads = [
            threading.Thread(target=self._capture_loop, name="edgecam-capture", daemon=True),
            threading.Thread(target=self._inference_loop, name="edgecam-inference", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        """Ask both threads to finish (returns at once; ``join`` waits)."""
        self._stop.set()
        self.slot.close()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for both threads; True when they have finished (the source is closed by then)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            thread.join(remaining)
        return not any(t.is_alive() for t in self._threads)

    def run(self) -> None:
        """Start, then block until the source ends, ``max_results`` is reached or Ctrl-C."""
        self.start()
        try:
            while not self.join(timeout=0.2):
                raise_if_interrupted()  # a Ctrl-C that landed where Python drops exceptions
        except KeyboardInterrupt:
            self.stop()
            self.join(timeout=2.0)

    def pause(self, paused: bool = True) -> None:
        """Freeze: no new frames are shown or classified until ``pause(False)``.

        Live sources keep being read (and the frames discarded) so that resuming shows the
        present, not what the driver buffered; files and folders simply wait.
        """
        if paused:
            self._paused.set()
        else:
            self._paused.clear()

    @property
    def paused(self) -> bool:
        return self._paused.is_set()

    def swap_classifier(self, classifier):
        """Use ``classifier`` from the next frame on; return the previous one, now unused."""
        with self._classifier_lock:
            old, self.classifier = self.classifier, classifier
        return old

    def with_classifier(self, change: Callable[[object], None]) -> None:
        """Run ``change(classifier)`` between two classifications, never during one."""
        with self._classifier_lock:
            change(self.classifier)

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def stats(self) -> PipelineStats:
        with self._lock:
            invoke = sum(self._invoke_ms) / len(self._invoke_ms) if self._invoke_ms else 0.0
            age = sum(self._ages_ms) / len(self._ages_ms) if self._ages_ms else 0.0
            return PipelineStats(
                frames_captured=self._captured,
                frames_classified=self._classified,
                frames_dropped=self.slot.dropped,
                frames_skipped=self.source.skipped,
                capture_fps=self._capture_rate.rate(),
                inference_fps=self._inference_rate.rate(),
                inference_ms=invoke,
                result_age_ms=age,
            )

    def _capture_loop(self) -> None:
        try:
            live = self.source.kind.live
            lossless = self.source.lossless
            while not self._stop.is_set():
                if self._paused.is_set() and not live:
                    time.sleep(0.02)
                    continue
                frame = self.source.read()
                if frame is None:
                    self.ended = True
                    break
                if self._paused.is_set():
                    if live:
                        continue  # a live source is drained while paused
                    # A file's frame read as the pause began is shown after it, not lost.
                    while self._paused.is_set() and not self._stop.is_set():
                        time.sleep(0.02)
                # Into the slot first: every step before it would make the frame older.
                self.slot.put(frame, wait=lossless)
                with self._lock:
                    self._captured += 1
                    self._capture_rate.tick(frame.timestamp)
                if self.on_frame is not None:
                    self.on_frame(frame)
        except EdgecamError as exc:
            self.error = exc
        except Exception as exc:
            self.error = EdgecamError(
                f"capture from {self.source.description} failed: {exc!r}",
                "please report this with --verbose output",
            )
        finally:
            # The capture thread owns the source: it alone reads and closes it, even when a
            # caller gave up waiting for a read that blocked.
            self.source.close()
            self.slot.close()  # the inference thread finishes the last frame, then stops

    def _inference_loop(self) -> None:
        try:
            while True:
                frame = self.slot.take(timeout=0.5)
                if frame is None:
                    if self.slot.closed:
                        break
                    continue
                with self._classifier_lock:
                    result = self.classifier.classify(
                        frame.bgr, frame_timestamp=frame.timestamp, frame_index=frame.index
                    )
                now = time.monotonic()
                # The result goes out first; the counters can wait a few microseconds.
                if self.on_result is not None:
                    self.on_result(result, frame)
                with self._lock:
                    self._classified += 1
                    self._inference_rate.tick(now)
                    self._invoke_ms.append(result.timings.inference_ms)
                    self._ages_ms.append((now - frame.timestamp) * 1e3)
                    reached = self.max_results is not None and self._classified >= self.max_results
                if reached:
                    self.stop()
                    break
        except EdgecamError as exc:
            self.error = exc
            self.stop()
        except Exception as exc:
            self.error = EdgecamError(
                f"inference failed: {exc!r}", "please report this with --verbose output"
            )
            self.stop()
