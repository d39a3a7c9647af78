"""LiveSession: the Qt face of the pipeline (source + classifier), with reconnects and swaps.

Worker threads never touch widgets. They store the newest frame / result here and emit a
signal only when the GUI has consumed the previous one, so a slow GUI thread never builds a
queue of stale frames: it always paints the newest.
"""

from __future__ import annotations

import threading

from PyQt6.QtCore import QObject, QTimer, pyqtSignal

from edgecam.capture.sources import Frame, FrameSource, VideoFileSource, open_source
from edgecam.errors import EdgecamError, SourceError
from edgecam.pipeline import Pipeline, PipelineStats
from edgecam.vision.types import Classification

RETRY_SECONDS = 3.0
LIVE_KINDS = ("camera", "stream", "picamera")


class LiveSession(QObject):
    """Runs one source through one classifier and tells the GUI what happens.

    Signals:
        frame_ready: a new frame is in ``latest_frame`` (emitted at most once per GUI pickup).
        result_ready: a new result is in ``latest_result``.
        status: a one-line message for the status bar.
        source_failed: a source error the session could not recover from (message).
    """

    frame_ready = pyqtSignal()
    result_ready = pyqtSignal()
    status = pyqtSignal(str)
    source_failed = pyqtSignal(str)
    _pipeline_ended = pyqtSignal()
    _reconnected = pyqtSignal(object, str, int)  # source or None, error, generation

    def __init__(self, classifier, loop_files: bool = True, parent=None) -> None:
        super().__init__(parent)
        self.classifier = classifier
        self.loop_files = loop_files
        self.source_spec: str | None = None
        self.pipeline: Pipeline | None = None
        self.latest_frame: Frame | None = None
        self.latest_result: tuple[Classification, Frame] | None = None
        self._frame_pending = threading.Event()
        self._result_pending = threading.Event()
        self._retry = QTimer(self)
        self._retry.setSingleShot(True)
        self._retry.timeout.connect(self._reconnect)
        self._pipeline_ended.connect(self._on_pipeline_ended)
        self._reconnected.connect(self._on_reconnected)
        self._generation = 0  # bumped by start/stop: late reconnect results are ignored

    # -- control ---------------------------------------------------------------------------

    def start(self, spec: str | FrameSource) -> None:
        """Switch to the source ``spec`` names. Raises SourceError if it cannot be opened."""
        source = spec if isinstance(spec, FrameSource) else open_source(spec, loop=self.loop_files)
        if isinstance(source, VideoFileSource):
            source.loop = self.loop_files
        if source.kind == "camera" and self.source_kind == "camera":
            self.stop()  # one camera may not open while another holds the same device
        source.open()  # otherwise fail here, before the running source is stopped
        self.stop()
        self.source_spec = spec if isinstance(spec, str) else source.description
        self._run(source)

    def stop(self) -> None:
        """Stop the workers (within a second; the capture thread closes the source)."""
        self._generation += 1
        self._retry.stop()
        if self.pipeline is not None:
            self.pipeline.on_result = self.pipeline.on_frame = None
            self.pipeline.stop()
            self.pipeline.join(timeout=1.0)
            self.pipeline = None

    def pause(self, paused: bool) -> None:
        if self.pipeline is not None:
            self.pipeline.pause(paused)

    @property
    def paused(self) -> bool:
        return self.pipeline is not None and self.pipeline.paused

    def swap_classifier(self, classifier) -> None:
        """Use ``classifier`` from the next frame on and close the previous one."""
        old = self.classifier
        self.classifier = classifier
        if self.pipeline is not None:
            self.pipeline.swap_classifier(classifier)
        if old is not None and old is not classifier:
            old.close()

    def stats(self) -> PipelineStats | None:
        return self.pipeline.stats() if self.pipeline is not None else None

    @property
    def source_kind(self) -> str | None:
        return self.pipeline.source.kind if self.pipeline is not None else None

    def take_frame(self) -> Frame | None:
        """The newest frame, for the GUI thread; re-arms ``frame_ready``."""
        self._frame_pending.clear()
        return self.latest_frame

    def take_result(self) -> tuple[Classification, Frame] | None:
        self._result_pending.clear()
        return self.latest_result

    # -- worker side -----------------------------------------------------------------------

    def _run(self, source: FrameSource) -> None:
        pipeline = Pipeline(
            source, self.classifier, on_result=self._on_result, on_frame=self._on_frame
        )
        self.pipeline = pipeline
        pipeline.start()
        threading.Thread(
            target=self._watch, args=(pipeline,), daemon=True, name="edgecam-watch"
        ).start()

    def _watch(self, pipeline: Pipeline) -> None:
        pipeline.join()
        if pipeline is self.pipeline:
            self._pipeline_ended.emit()

    def _on_frame(self, frame: Frame) -> None:
        self.latest_frame = frame
        if not self._frame_pending.is_set():
            self._frame_pending.set()
            self.frame_ready.emit()

    def _on_result(self, result: Classification, frame: Frame) -> None:
        self.latest_result = (result, frame)
        if not self._result_pending.is_set():
            self._result_pending.set()
            self.result_ready.emit()

    # -- endings and reconnects (GUI thread) -------------------------------------------------

    def _on_pipeline_ended(self) -> None:
        pipeline = self.pipeline
        if pipeline is None or pipeline.running:
            return
        error = pipeline.error
        if error is None:
            if pipeline.ended:
                self.status.emit(
                    f"{pipeline.source.description} ended ({pipeline.source.frames_read} frames)"
                )
            return
        if isinstance(error, SourceError) and pipeline.source.kind in LIVE_KINDS:
            self.status.emit(f"{error.message}; retrying every {RETRY_SECONDS:g} s")
            self._retry.start(int(RETRY_SECONDS * 1000))
            return
        self.source_failed.emit(str(error))

    def _reconnect(self) -> None:
        """Try the source again in a worker thread: opening a stream can block for seconds."""
        spec, generation = self.source_spec, self._generation
        if spec is None:
            return

        def attempt() -> None:
            try:
                source = open_source(spec, loop=self.loop_files).open()
            except EdgecamError as exc:
                self._reconnected.emit(None, exc.message, generation)
                return
            self._reconnected.emit(source, "", generation)

        threading.Thread(target=attempt, daemon=True, name="edgecam-reconnect").start()

    def _on_reconnected(self, source, error: str, generation: int) -> None:
        if generation != self._generation:  # the user switched sources meanwhile
            if source is not None:
                source.close()
            return
        if source is None:
            self.status.emit(f"{error}; retrying every {RETRY_SECONDS:g} s")
            self._retry.start(int(RETRY_SECONDS * 1000))
            return
        self.pipeline = None
        self._run(source)
        self.status.emit(f"{source.description} is back")
