"""The live session: one source through one classifier, shared by every front end.

Qt-free. It owns what the window, the terminal and the web view have in common: opening and
switching sources (with the camera -> demo clip fallback), reconnecting a camera or stream that
dropped, building and swapping the classifier off the caller's thread, pause, top-k and
threshold changes, and stats. Front ends add a :class:`LiveListener` and never touch the
pipeline; the listener's methods are called from worker threads.

Threads: every piece of state here is read and written under ``_lock``; nothing slow (opening a
source, loading a model, joining a pipeline) runs while it is held, and a generation counter,
bumped by every start and stop, lets late events of an earlier source be dropped.

(Longer than most modules here on purpose: one lock guards everything in it, and that is easiest
to check when every method that takes it is in one place.)
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from edgecam.capture.sources import Frame, FrameSource, SourceKind, VideoFileSource, open_source
from edgecam.config import ClassifierOptions
from edgecam.defaults import RECONNECT_SECONDS, SOURCE, THRESHOLD
from edgecam.errors import ConfigError, EdgecamError, ModelError, SourceError
from edgecam.pipeline import Pipeline, PipelineStats
from edgecam.vision.types import Classification

log = logging.getLogger(__name__)


class LiveListener:
    """What a front end hears from a :class:`LiveSession`; override what you need.

    Every method is called from a worker thread, never from the one that called the session.
    """

    def frame(self, frame: Frame) -> None:
        """A new frame was captured."""

    def result(self, result: Classification, frame: Frame) -> None:
        """``frame`` was classified."""

    def status(self, text: str) -> None:
        """A one-line message worth showing (a retry, a reconnect, an end)."""

    def source_opened(self, spec: str, description: str) -> None:
        """The session now runs the source ``spec`` asked for."""

    def source_rejected(self, spec: str, error: EdgecamError) -> None:
        """``spec`` could not be opened; the previous source keeps running."""

    def finished(self, error: EdgecamError | None) -> None:
        """The source ended (error None) or failed for good; nothing runs until a new start."""

    def model_ready(self, classifier) -> None:
        """``classifier`` is in use from the next frame on."""

    def model_failed(self, options: ClassifierOptions, error: EdgecamError) -> None:
        """The model ``options`` asked for did not load; the previous one stays."""


def build_classifier(factory: Callable[[ClassifierOptions], object], options: ClassifierOptions):
    """``factory(options)``, with any failure turned into a clear :class:`EdgecamError`.

    A damaged file can make a runtime or a parser raise anything (a NotImplementedError from a
    zip, a UnicodeDecodeError from a tensor name); none of that may escape to a front end.
    """
    try:
        return factory(options)
    except EdgecamError:
        raise
    except Exception as exc:
        raise ModelError(
            f"{options.model} could not be loaded ({type(exc).__name__}: {exc})",
            "the file may be damaged: re-download or re-export it",
        ) from exc


class LiveSession:
    """Runs one source through one classifier and tells its listeners what happens.

    Args:
        classifier: the classifier to start with (the session closes it when it is replaced
            and in :meth:`close`).
        classifier_factory: builds a classifier from :class:`ClassifierOptions` (for
            :meth:`load_model`).
        source_factory: builds an unopened source from a spec (``--source`` text).
        loop_files / pace / fps: how file sources named by a spec are read.
        reconnect_s: seconds between attempts to reopen a dropped camera or stream.
        max_reconnects: attempts before giving up (None: keep trying; 0: never reconnect).
        max_results: stop after this many classifications in all (None: no limit).
        threshold: below this top score a front end shows "uncertain".
    """

    def __init__(
        self,
        classifier,
        *,
        classifier_factory: Callable[[ClassifierOptions], object] | None = None,
        source_factory: Callable[..., FrameSource] = open_source,
        loop_files: bool = False,
        pace: bool = True,
        fps: float | None = None,
        reconnect_s: float = RECONNECT_SECONDS,
        max_reconnects: int | None = None,
        max_results: int | None = None,
        threshold: float = THRESHOLD,
    ) -> None:
        if classifier_factory is None:
            from edgecam.vision.classifier import Classifier

            classifier_factory = Classifier
        self._classifier_factory = classifier_factory
        self._source_factory = source_factory
        self.loop_files = loop_files
        self.pace = pace
        self.fps = fps
        self.reconnect_s = reconnect_s
        self.max_reconnects = max_reconnects
        self.max_results = max_results
        self._lock = threading.Condition()
        self._listeners: list[LiveListener] = []
        self._classifier = classifier
        self._pipeline: Pipeline | None = None
        self._last_pipeline: Pipeline | None = None  # for stats after the end
        self._spec: str | None = None
        self._generation = 0
        self._load_generation = 0
        self._paused = False
        self._threshold = _check_threshold(threshold)
        self._results = 0  # classifications delivered since the last start
        self._reconnects = 0  # reconnect attempts since the last start
        self._latest_result: tuple[Classification, Frame] | None = None
        self._done = threading.Event()
        self._done.set()
        self.error: EdgecamError | None = None
        self.ended = False

    # -- listeners and state -----------------------------------------------------------------

    def add_listener(self, listener: LiveListener) -> None:
        with self._lock:
            self._listeners = [*self._listeners, listener]

    def remove_listener(self, listener: LiveListener) -> None:
        with self._lock:
            self._listeners = [x for x in self._listeners if x is not listener]

    @property
    def classifier(self):
        with self._lock:
            return self._classifier

    @property
    def source(self) -> FrameSource | None:
        """The running source, or the last one once it has finished."""
        with self._lock:
            pipeline = self._pipeline or self._last_pipeline
            return pipeline.source if pipeline is not None else None

    @property
    def source_spec(self) -> str | None:
        with self._lock:
            return self._spec

    @property
    def latest_result(self) -> tuple[Classification, Frame] | None:
        with self._lock:
            return self._latest_result

    @property
    def threshold(self) -> float:
        with self._lock:
            return self._threshold

    def set_threshold(self, value: float) -> None:
        value = _check_threshold(value)
        with self._lock:
            self._threshold = value

    @property
    def paused(self) -> bool:
        with self._lock:
            return self._paused

    def pause(self, paused: bool = True) -> None:
        """Freeze (``paused``) or resume; a reconnected source stays as paused as it was."""
        with self._lock:
            self._paused = paused
            if self._pipeline is not None:
                self._pipeline.pause(paused)

    @property
    def reconnects(self) -> int:
        with self._lock:
            return self._reconnects

    def stats(self) -> PipelineStats | None:
        """The counters of the running source, or of the last one once it has finished."""
        with self._lock:
            pipeline = self._pipeline or self._last_pipeline
        return pipeline.stats() if pipeline is not None else None

    @property
    def running(self) -> bool:
        return not self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the session has finished (the source ended or failed for good)."""
        return self._done.wait(timeout)

    # -- sources -------------------------------------------------------------------------------

    def make_source(self, spec: str) -> FrameSource:
        """The unopened source ``spec`` names, read as this session reads files."""
        return self._source_factory(spec, loop=self.loop_files, pace=self.pace, fps=self.fps)

    def start(self, spec: str | FrameSource) -> str:
        """Switch to the source ``spec`` names, in this thread; return its description.

        Raises:
            SourceError: it cannot be opened (the running source, if any, keeps running).
        """
        source = spec if isinstance(spec, FrameSource) else self.make_source(spec)
        current = self.source
        if current is not None and current.kind is source.kind is SourceKind.CAMERA:
            self.stop()  # one camera may not open while another holds the same device
        source.open()  # fail here, before the running source is stopped
        self.stop()
        with self._lock:
            self._spec = spec if isinstance(spec, str) else source.description
            self._results = self._reconnects = 0
            self.error, self.ended = None, False
            self._done.clear()
            self._run(source, self._generation)
        return source.description

    def switch_source(self, spec: str) -> None:
        """Like :meth:`start`, in a worker thread: listeners hear ``source_opened`` or
        ``source_rejected``."""

        def attempt() -> None:
            try:
                description = self.start(spec)
            except EdgecamError as exc:
                self._tell("source_rejected", spec, exc)
                return
            self._tell("source_opened", spec, description)

        threading.Thread(target=attempt, daemon=True, name="edgecam-open").start()

    def start_default(self, candidates: list[str] | None = None, demo: Path | None = None) -> str:
        """Open the first of ``candidates`` (default: camera 0) that opens, else play ``demo``.

        Each fallback is logged as a note. Returns the description of what runs.

        Raises:
            SourceError: nothing opened and there is no demo clip.
        """
        candidates = list(dict.fromkeys(candidates or [SOURCE]))
        reason = ""
        for i, spec in enumerate(candidates):
            try:
                return self.start(spec)
            except (SourceError, ConfigError) as exc:
                reason = exc.message
                if i + 1 < len(candidates):
                    log.warning(
                        "the saved source did not open (%s); trying %s", reason, candidates[i + 1]
                    )
                last_error = exc
        if demo is None or not Path(demo).exists():
            raise last_error
        log.warning("%s; playing the demo clip %s instead (--source chooses)", reason, demo)
        source = VideoFileSource(demo, loop=self.loop_files, pace=self.pace)
        self.start(source)
        with self._lock:
            self._spec = str(demo)
        return source.description

    def stop(self) -> None:
        """Stop the source (within a second; the capture thread closes it)."""
        with self._lock:
            self._generation += 1
            pipeline, self._pipeline = self._pipeline, None
            self._lock.notify_all()  # wakes a reconnect wait
        if pipeline is not None:
            pipeline.stop()
            pipeline.join(timeout=1.0)
        self._done.set()

    def close(self) -> None:
        """Stop and release the classifier; the session cannot run afterwards."""
        self.stop()
        with self._lock:
            self._load_generation += 1  # a model still loading is closed when it arrives
            classifier, self._classifier = self._classifier, None
        if classifier is not None:
            classifier.close()

    # -- the model -----------------------------------------------------------------------------

    def load_model(self, options: ClassifierOptions) -> None:
        """Build a classifier from ``options`` in a worker thread and swap it in when ready.

        Listeners hear ``model_ready`` or ``model_failed`` (the previous model stays). When
        several loads overlap, the newest request wins.
        """
        with self._lock:
            self._load_generation += 1
            generation = self._load_generation
        threading.Thread(
            target=self._load, args=(options, generation), daemon=True, name="edgecam-load"
        ).start()

    def _load(self, options: ClassifierOptions, generation: int) -> None:
        try:
            classifier = build_classifier(self._classifier_factory, options)
        except EdgecamError as exc:
            with self._lock:
                current = generation == self._load_generation
            if current:
                self._tell("model_failed", options, exc)
            return
        with self._lock:
            if generation != self._load_generation:
                pipeline, old = None, classifier  # a newer request won: drop this one
            else:
                old, self._classifier = self._classifier, classifier
                pipeline = self._pipeline
        if pipeline is not None:
            pipeline.swap_classifier(classifier)  # waits for the frame in flight
        if old is classifier:  # the stale one
            classifier.close()
            return
        if old is not None:
            old.close()
        self._tell("model_ready", classifier)

    def swap_classifier(self, classifier) -> None:
        """Use an already built ``classifier`` from the next frame on; close the previous one."""
        with self._lock:
            old, self._classifier = self._classifier, classifier
            pipeline = self._pipeline
        if pipeline is not None:
            pipeline.swap_classifier(classifier)
        if old is not None and old is not classifier:
            old.close()

    def set_top_k(self, k: int) -> None:
        """Return ``k`` predictions from the next frame on; the model stays loaded."""
        if k < 1:
            raise ConfigError(f"top-k must be at least 1, got {k}")
        with self._lock:
            pipeline, classifier = self._pipeline, self._classifier
        if pipeline is not None:
            pipeline.with_classifier(lambda c: c.set_top_k(k))
        elif classifier is not None:
            classifier.set_top_k(k)

    # -- worker side ---------------------------------------------------------------------------

    def _tell(self, event: str, *args) -> None:
        with self._lock:
            listeners = self._listeners
        for listener in listeners:
            try:
                getattr(listener, event)(*args)
            except Exception:  # a front end's bug must not stop the others or the pipeline
                log.exception("a %s listener failed on %s", type(listener).__name__, event)

    def _run(self, source: FrameSource, generation: int) -> None:
        """Start a pipeline on the opened ``source`` (called with the lock held)."""
        remaining = None if self.max_results is None else max(0, self.max_results - self._results)

        def on_frame(frame: Frame) -> None:
            if self._current(generation):
                self._tell("frame", frame)

        def on_result(result: Classification, frame: Frame) -> None:
            with self._lock:
                if generation != self._generation:
                    return
                self._results += 1
                self._latest_result = (result, frame)
            self._tell("result", result, frame)

        pipeline = Pipeline(
            source,
            self._classifier,
            on_result=on_result,
            on_frame=on_frame,
            max_results=remaining,
        )
        pipeline.pause(self._paused)
        self._pipeline = self._last_pipeline = pipeline
        pipeline.start()
        threading.Thread(
            target=self._watch, args=(pipeline, generation), daemon=True, name="edgecam-watch"
        ).start()

    def _current(self, generation: int) -> bool:
        with self._lock:
            return generation == self._generation

    def _watch(self, pipeline: Pipeline, generation: int) -> None:
        """Wait for ``pipeline`` to end, then end the session or reconnect."""
        pipeline.join()
        error = pipeline.error
        source = pipeline.source
        if not self._current(generation):
            return
        if error is None:
            self._finish(generation, None, ended=pipeline.ended)
            return
        if (
            isinstance(error, SourceError)
            and source.kind.live
            and self._reconnect(generation, error.message)
        ):
            return
        self._finish(generation, error, ended=False)

    def _finish(self, generation: int, error: EdgecamError | None, ended: bool) -> None:
        with self._lock:
            if generation != self._generation:
                return
            self._pipeline = None
            self.error, self.ended = error, ended
        self._tell("finished", error)
        self._done.set()

    def _reconnect(self, generation: int, message: str) -> bool:
        """Reopen the dropped source every ``reconnect_s``; False once out of attempts."""
        with self._lock:
            spec = self._spec
        while True:
            with self._lock:
                if generation != self._generation:
                    return True  # stopped or switched meanwhile: nothing more to do here
                if self.max_reconnects is not None and self._reconnects >= self.max_reconnects:
                    if self.max_reconnects:
                        log.warning("gave up after %d reconnect attempts", self._reconnects)
                    return False
            self._tell("status", f"{message}; retrying in {self.reconnect_s:g} s")
            deadline = time.monotonic() + self.reconnect_s
            with self._lock:
                while generation == self._generation and time.monotonic() < deadline:
                    self._lock.wait(max(0.0, deadline - time.monotonic()))
                if generation != self._generation:
                    return True
                self._reconnects += 1
            try:
                source = self.make_source(spec).open()
            except EdgecamError as exc:
                message = exc.message
                continue
            with self._lock:
                if generation != self._generation:
                    stale = source
                else:
                    stale = None
                    self._run(source, generation)
            if stale is not None:
                stale.close()
                return True
            self._tell("status", f"{source.description} is back")
            return True


def _check_threshold(value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"the threshold must be between 0 and 1, got {value}")
    return float(value)
