"""Between the pipeline's threads and the web server: the newest JPEG and the recent results.

The session calls :class:`FrameHub` from its worker threads, where nothing may wait: ``frame``
keeps a reference to the newest frame and ``result`` appends to a bounded list, each under a
lock held for microseconds. One encoder thread turns the newest frame into a JPEG, once for
every client, only while someone watches, at no more than the source rate (a frame that
arrived during an encode replaces the previous one, so the encoder never queues) and no more
than ``max_fps``. The server is told through ``notify`` (``loop.call_soon_threadsafe`` there);
this module knows nothing of aiohttp.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import cv2

from edgecam.capture.sources import Frame
from edgecam.live import LiveListener
from edgecam.pipeline import _Rate
from edgecam.vision.types import Classification

log = logging.getLogger(__name__)

BOUNDARY = "frame"
#: Results kept for event clients that fall behind or reconnect (one event per result).
RESULT_BACKLOG = 256


@dataclass(frozen=True)
class Jpeg:
    """One encoded frame, ready to write as a multipart part."""

    seq: int
    part: bytes  # boundary line, headers and the JPEG
    frame_index: int
    encode_ms: float


@dataclass(frozen=True)
class ResultRecord:
    """A result as the web view reports it (no image: the frame is the stream's business)."""

    seq: int
    result: Classification
    frame_index: int
    origin: str | None
    wall_time: float  # time.time() at capture


class FrameHub(LiveListener):
    """Newest-frame JPEGs and a short history of results, fed by the session's threads.

    Args:
        quality: JPEG quality 1-100.
        max_fps: the most JPEGs per second (the source rate bounds it too).
        notify: called (from any thread) with ``"frame"``, ``"result"`` or ``"status"``
            when there is something new; it must not block.
    """

    def __init__(
        self,
        quality: int = 80,
        max_fps: float = 30.0,
        notify: Callable[[str], None] | None = None,
    ) -> None:
        self.quality = quality
        self.min_interval_s = 1.0 / max_fps
        self.notify = notify or (lambda kind: None)
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._frame_seq = 0
        self._encoded_seq = 0  # the frame_seq the newest JPEG was made from
        self._jpeg: Jpeg | None = None
        self._viewers = 0
        self._listeners = 0  # event-stream clients: only they need waking for each result
        self._results: deque[ResultRecord] = deque(maxlen=RESULT_BACKLOG)
        self._result_seq = 0
        self._status: tuple[int, str] = (0, "")
        self._pending: set[str] = set()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._encode_rate = _Rate()
        self._encode_ms: deque[float] = deque(maxlen=30)
        self.frames_encoded = 0
        self.encode_errors = 0

    # -- the session's side (worker threads: fast, never blocking) ---------------------------------

    def frame(self, frame: Frame) -> None:
        with self._cond:
            self._frame = frame
            self._frame_seq += 1
            if self._viewers:
                self._cond.notify()

    def result(self, result: Classification, frame: Frame) -> None:
        wall = time.time() - max(0.0, time.monotonic() - frame.timestamp)
        with self._cond:
            self._result_seq += 1
            self._results.append(
                ResultRecord(self._result_seq, result, frame.index, frame.origin, wall)
            )
            if not self._listeners:
                return
        self._tell("result")

    def status(self, text: str) -> None:
        with self._cond:
            self._status = (self._status[0] + 1, text)
        self._tell("status")

    def finished(self, error) -> None:
        self.status(error.message if error is not None else "the source ended")

    def model_ready(self, classifier) -> None:
        self.status(f"now running {classifier.name}")

    def _tell(self, kind: str) -> None:
        """Wake the server once per batch: a wake already pending covers this news too."""
        with self._cond:
            if kind in self._pending:
                return
            self._pending.add(kind)
        self.notify(kind)

    def woken(self, kind: str) -> None:
        """The server calls this before it reads, so news after the read wakes it again."""
        with self._cond:
            self._pending.discard(kind)

    def claim(self, kind: str) -> bool:
        """Mark a wake of ``kind`` as pending (False if one already is): the server's own
        follow-up wakes keep the session's threads from sending more meanwhile."""
        with self._cond:
            if kind in self._pending:
                return False
            self._pending.add(kind)
            return True

    # -- the server's side -------------------------------------------------------------------------

    def add_viewer(self) -> None:
        with self._cond:
            self._viewers += 1
            if self._viewers == 1 and self._encoded_seq != self._frame_seq:
                self._jpeg = None  # made before anyone watched: stale, a fresh one follows
            self._cond.notify()

    def remove_viewer(self) -> None:
        with self._cond:
            self._viewers = max(0, self._viewers - 1)

    def add_listener(self) -> None:
        with self._cond:
            self._listeners += 1

    def remove_listener(self) -> None:
        with self._cond:
            self._listeners = max(0, self._listeners - 1)

    @property
    def viewers(self) -> int:
        with self._cond:
            return self._viewers

    def latest_jpeg(self) -> Jpeg | None:
        with self._cond:
            return self._jpeg

    def results_after(self, seq: int) -> list[ResultRecord]:
        """Results newer than ``seq``, oldest first (those still kept)."""
        with self._cond:
            if not self._results or self._results[-1].seq <= seq:
                return []
            return [r for r in self._results if r.seq > seq]

    def latest_result(self) -> ResultRecord | None:
        with self._cond:
            return self._results[-1] if self._results else None

    @property
    def result_seq(self) -> int:
        with self._cond:
            return self._result_seq

    def latest_status(self) -> tuple[int, str]:
        with self._cond:
            return self._status

    def stream_stats(self) -> dict:
        with self._cond:
            ms = sum(self._encode_ms) / len(self._encode_ms) if self._encode_ms else 0.0
            return {
                "viewers": self._viewers,
                "frames_encoded": self.frames_encoded,
                "stream_fps": round(self._encode_rate.rate(), 3),
                "encode_ms": round(ms, 3),
            }

    # -- the encoder thread ------------------------------------------------------------------------

    def start(self) -> FrameHub:
        self._thread = threading.Thread(target=self._encode_loop, name="edgecam-jpeg", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    def _encode_loop(self) -> None:
        next_due = 0.0
        while True:
            with self._cond:
                while not self._stopping and not (
                    self._viewers and self._frame_seq != self._encoded_seq
                ):
                    self._cond.wait()
                if self._stopping:
                    return
            wait = next_due - time.monotonic()
            if wait > 0:  # over max_fps: wait, then take whatever is newest by then
                time.sleep(wait)
            with self._cond:
                if self._stopping:
                    return
                frame, seq = self._frame, self._frame_seq
            if frame is None:
                continue
            started = time.monotonic()
            next_due = started + self.min_interval_s
            jpeg = self._encode(frame, seq, started)
            with self._cond:
                self._encoded_seq = seq
                if jpeg is not None:
                    self._jpeg = jpeg
                    self.frames_encoded += 1
                    self._encode_rate.tick(started)
                    self._encode_ms.append(jpeg.encode_ms)
            if jpeg is not None:
                self.notify("frame")

    def _encode(self, frame: Frame, seq: int, started: float) -> Jpeg | None:
        try:
            ok, data = cv2.imencode(".jpg", frame.bgr, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        except cv2.error as exc:
            ok, data = False, exc
        if not ok:
            self.encode_errors += 1
            if self.encode_errors == 1:
                log.warning("a frame could not be encoded as JPEG (%s)", data)
            return None
        body = data.tobytes()
        head = (
            f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(body)}\r\n"
            f"X-Frame-Index: {frame.index}\r\n\r\n"
        ).encode("ascii")
        return Jpeg(seq, head + body + b"\r\n", frame.index, (time.monotonic() - started) * 1e3)
