"""QtSession: the Qt face of :class:`edgecam.live.LiveSession`, its events as signals.

All the live logic (sources, reconnects, model swaps, pause, top-k) is in the Qt-free session;
this adapter only turns its worker-thread callbacks into queued signals. Frames and results are
stored as the newest and signalled only once the GUI has taken the previous one, so a slow GUI
thread never builds a queue of stale frames: it always paints the newest.
"""

from __future__ import annotations

import contextlib
import logging
import threading

from PyQt6.QtCore import QObject, pyqtSignal

from edgecam.capture.sources import Frame
from edgecam.config import ClassifierOptions
from edgecam.errors import EdgecamError
from edgecam.live import LiveListener, LiveSession
from edgecam.vision.types import Classification


class QtSession(QObject):
    """Signals for what a :class:`LiveSession` reports; ``live`` is the session itself.

    Signals:
        frame_ready: a new frame is in ``latest_frame`` (emitted at most once per pickup).
        result_ready: a new result is in ``latest_result``.
        status: a one-line message for the status bar.
        source_opened: (spec, description) the session switched to.
        source_rejected: (spec, message) could not be opened; the previous source runs on.
        source_failed: the running source failed for good (message).
        model_ready: a new classifier is in use.
        model_failed: (options, message) the model did not load; the previous one stays.
        note: an ``edgecam`` log warning, for the status bar.
    """

    frame_ready = pyqtSignal()
    result_ready = pyqtSignal()
    status = pyqtSignal(str)
    source_opened = pyqtSignal(str, str)
    source_rejected = pyqtSignal(str, str)
    source_failed = pyqtSignal(str)
    model_ready = pyqtSignal()
    model_failed = pyqtSignal(object, str)
    note = pyqtSignal(str)

    def __init__(self, live: LiveSession, parent=None) -> None:
        super().__init__(parent)
        self.live = live
        self.latest_frame: Frame | None = None
        self._frame_pending = threading.Event()
        self._result_pending = threading.Event()
        self._listener = _Forwarder(self)
        live.add_listener(self._listener)
        self._log_handler = _NoteHandler(self.note)
        logging.getLogger("edgecam").addHandler(self._log_handler)

    # -- what the window asks ---------------------------------------------------------------

    @property
    def classifier(self):
        return self.live.classifier

    @property
    def latest_result(self) -> tuple[Classification, Frame] | None:
        return self.live.latest_result

    @property
    def source_spec(self) -> str | None:
        return self.live.source_spec

    @property
    def paused(self) -> bool:
        return self.live.paused

    def take_frame(self) -> Frame | None:
        """The newest frame, for the GUI thread; re-arms ``frame_ready``."""
        self._frame_pending.clear()
        return self.latest_frame

    def take_result(self) -> tuple[Classification, Frame] | None:
        self._result_pending.clear()
        return self.live.latest_result

    def close(self) -> None:
        """Stop the session's workers and stop listening (the classifier stays open)."""
        logging.getLogger("edgecam").removeHandler(self._log_handler)
        self.live.remove_listener(self._listener)
        self.live.stop()

    # -- worker side (any thread) ------------------------------------------------------------

    def _on_frame(self, frame: Frame) -> None:
        self.latest_frame = frame
        if not self._frame_pending.is_set():
            self._frame_pending.set()
            self.frame_ready.emit()

    def _on_result(self) -> None:
        if not self._result_pending.is_set():
            self._result_pending.set()
            self.result_ready.emit()


class _Forwarder(LiveListener):
    """Turns the session's callbacks into the adapter's signals."""

    def __init__(self, qt: QtSession) -> None:
        self.qt = qt

    def frame(self, frame: Frame) -> None:
        self.qt._on_frame(frame)

    def result(self, result: Classification, frame: Frame) -> None:
        self.qt._on_result()

    def status(self, text: str) -> None:
        self.qt.status.emit(text)

    def source_opened(self, spec: str, description: str) -> None:
        self.qt.source_opened.emit(spec, description)

    def source_rejected(self, spec: str, error: EdgecamError) -> None:
        self.qt.source_rejected.emit(spec, str(error))

    def finished(self, error: EdgecamError | None) -> None:
        if error is not None:
            self.qt.source_failed.emit(str(error))
            return
        source = self.qt.live.source
        if source is not None and self.qt.live.ended:
            noun = "frame" if source.frames_read == 1 else "frames"
            self.qt.status.emit(f"{source.description} ended ({source.frames_read} {noun})")

    def model_ready(self, classifier) -> None:
        self.qt.model_ready.emit()

    def model_failed(self, options: ClassifierOptions, error: EdgecamError) -> None:
        self.qt.model_failed.emit(options, str(error))


class _NoteHandler(logging.Handler):
    """Forwards edgecam's notes (log warnings) to a signal: safe from any thread."""

    def __init__(self, signal) -> None:
        super().__init__(logging.WARNING)
        self.signal = signal

    def emit(self, record: logging.LogRecord) -> None:
        # RuntimeError: the QObject is already gone (interpreter shutdown).
        with contextlib.suppress(RuntimeError):
            self.signal.emit(record.getMessage())
