"""The Qt-free live session: reconnects, fallbacks, model swaps and listeners, step by step."""

from __future__ import annotations

import logging
import queue
import threading

import pytest
from conftest import FIXTURES, write_video
from fakes import WAIT_S, FakeSource, GatedClassifier

from edgecam.capture.sources import SourceKind
from edgecam.config import ClassifierOptions
from edgecam.errors import ModelError, SourceError
from edgecam.live import LiveListener, LiveSession
from edgecam.run_options import RunOptions


class Recorder(LiveListener):
    """Puts every event on a queue: (name, args)."""

    def __init__(self) -> None:
        self.events: queue.Queue = queue.Queue()

    def _put(self, name, *args):
        self.events.put((name, args))

    def result(self, result, frame):
        self._put("result", frame.index, result.top.label)

    def status(self, text):
        self._put("status", text)

    def source_opened(self, spec, description):
        self._put("source_opened", spec)

    def source_rejected(self, spec, error):
        self._put("source_rejected", spec, error.message)

    def finished(self, error):
        self._put("finished", error)

    def model_ready(self, classifier):
        self._put("model_ready", classifier)

    def model_failed(self, options, error):
        self._put("model_failed", error)

    def next(self, *names: str):
        """The next event whose name is one of ``names`` (others are skipped)."""
        while True:
            name, args = self.events.get(timeout=WAIT_S)
            if name in names:
                return name, args


class Sources:
    """A source factory handing out prepared fake sources (or errors) in order."""

    def __init__(self, *items) -> None:
        self.items = list(items)
        self.specs: list[str] = []

    def __call__(self, spec, **kwargs):
        self.specs.append(spec)
        item = self.items.pop(0)
        if isinstance(item, Exception):
            raise item
        return item


def session_with(*sources, **kwargs) -> tuple[LiveSession, Recorder]:
    kwargs.setdefault("reconnect_s", 0.01)
    session = LiveSession(GatedClassifier(), source_factory=Sources(*sources), **kwargs)
    recorder = Recorder()
    session.add_listener(recorder)
    return session, recorder


def test_a_dropped_camera_is_reconnected_and_resumes():
    first, second = FakeSource(), FakeSource()
    session, events = session_with(first, second)
    session.start("0")
    first.push(1)
    assert events.next("result")[1][0] == 0
    first.fail("camera 0 stopped delivering frames")
    _, (text,) = events.next("status")
    assert text == "camera 0 stopped delivering frames; retrying in 0.01 s"
    assert events.next("status")[1][0] == "fake camera is back"
    second.push(1)
    assert events.next("result")[1][0] == 0  # frames of the reopened camera
    assert session.running and session.reconnects == 1
    second.release()  # (a fake camera blocks in read until told)
    session.stop()
    assert first.closed.is_set() and second.closed.wait(WAIT_S)


def test_reconnect_attempts_are_limited_and_the_error_kept():
    camera = FakeSource()
    unplugged = SourceError("camera 0 could not be opened", "plug it in")
    session, events = session_with(camera, unplugged, unplugged, max_reconnects=2)
    session.start("0")
    camera.fail()
    assert events.next("finished")[1][0].message == "fake camera unplugged"
    assert session.wait(WAIT_S) and not session.running
    assert session.reconnects == 2 and isinstance(session.error, SourceError)
    assert session._source_factory.specs == ["0", "0", "0"]  # opened once, retried twice


def test_no_reconnects_means_a_drop_ends_the_session():
    camera = FakeSource()
    session, events = session_with(camera, max_reconnects=0)
    session.start("0")
    camera.fail()
    assert events.next("finished")[1][0] is not None
    assert session.reconnects == 0


def test_a_file_that_fails_is_not_reconnected():
    video = FakeSource(kind=SourceKind.VIDEO, description="fake video")
    session, events = session_with(video)
    session.start("v.mp4")
    video.fail("v.mp4 is damaged")
    assert events.next("finished")[1][0].message == "v.mp4 is damaged"
    assert session.reconnects == 0


def test_stop_during_a_reconnect_wait_starts_nothing():
    camera, spare = FakeSource(), FakeSource()
    session, events = session_with(camera, spare, reconnect_s=30)
    session.start("0")
    camera.fail()
    assert "retrying in 30 s" in events.next("status")[1][0]
    session.stop()  # wakes the 30 s wait at once
    assert session.wait(0.5)
    assert session.source_spec == "0" and session.reconnects == 0
    assert not spare.closed.is_set() and spare.frames_read == 0  # never opened
    spare.release()


def test_max_results_counts_across_reconnects():
    first, second = FakeSource(), FakeSource()
    session, events = session_with(first, second, max_results=3)
    session.start("0")
    for _ in range(2):
        first.push()
        events.next("result")
    first.fail()
    second.push()
    assert events.next("result", "finished")[0] == "result"
    second.push()  # a camera keeps delivering: the capture thread sees the stop
    assert events.next("finished", "result") == ("finished", (None,))
    assert session.stats().frames_classified == 1  # the last pipeline stopped after one


def test_switching_to_a_source_that_does_not_open_keeps_the_old_one():
    camera = FakeSource()
    missing = SourceError("source not found: nope.mp4", "check the path")
    session, events = session_with(camera, missing)
    session.start("0")
    session.switch_source("nope.mp4")
    assert events.next("source_rejected", "source_opened")[1][1] == "source not found: nope.mp4"
    camera.push()
    assert events.next("result")[0] == "result"  # still running
    session.stop()
    camera.release()


def test_start_default_falls_back_to_the_demo_clip(tmp_path, caplog):
    demo = write_video(tmp_path / "demo.mp4", ["red"] * 3)
    no_camera = SourceError("camera 0 could not be opened", "plug one in")
    saved_gone = SourceError("source not found: /gone.mp4", "check the path")
    session, events = session_with(saved_gone, no_camera, pace=False)
    caplog.set_level(logging.WARNING, logger="edgecam")
    description = session.start_default(["/gone.mp4", "0"], demo=demo)
    assert description == str(demo)
    notes = [r.getMessage() for r in caplog.records]
    assert notes[0] == "the saved source did not open (source not found: /gone.mp4); trying 0"
    assert notes[1].startswith("camera 0 could not be opened; playing the demo clip")
    assert events.next("finished") == ("finished", (None,))
    assert session.ended and session.stats().frames_classified == 3


def test_start_default_without_a_demo_clip_raises_the_last_error():
    no_camera = SourceError("camera 0 could not be opened", "plug one in")
    session, _ = session_with(no_camera)
    with pytest.raises(SourceError, match="camera 0"):
        session.start_default(demo=None)


def test_a_model_that_fails_to_load_leaves_the_old_one():
    def factory(options):
        raise NotImplementedError("That compression method is not supported")

    camera = FakeSource()
    old = GatedClassifier()
    session = LiveSession(old, source_factory=Sources(camera), classifier_factory=factory)
    events = Recorder()
    session.add_listener(events)
    session.start("0")
    session.load_model(ClassifierOptions(model=FIXTURES / "color_float32.tflite"))
    name, (error,) = events.next("model_failed", "model_ready")
    assert name == "model_failed" and isinstance(error, ModelError)
    assert "NotImplementedError: That compression method" in error.message
    camera.push(1)
    assert events.next("result")[1][1] == "value 1"
    assert session.classifier is old and not old.closed
    session.close()
    assert old.closed
    camera.release()


def test_the_newest_model_request_wins_and_the_old_model_is_closed():
    gate = threading.Event()
    built = []

    def factory(options):
        if options.top_k == 1:
            assert gate.wait(WAIT_S)  # the first request is slow
        clf = GatedClassifier()
        clf.name = options.top_k
        built.append(clf)
        return clf

    old = GatedClassifier()
    session = LiveSession(old, classifier_factory=factory)
    events = Recorder()
    session.add_listener(events)
    model = FIXTURES / "color_float32.tflite"
    session.load_model(ClassifierOptions(model=model, top_k=1))
    session.load_model(ClassifierOptions(model=model, top_k=2))
    assert events.next("model_ready")[1][0].name == 2
    gate.set()
    for _ in range(500):  # the slow one arrives late and is dropped, not swapped in
        if len(built) == 2 and built[1].closed:
            break
        threading.Event().wait(0.01)
    assert [c.name for c in built] == [2, 1]
    assert session.classifier is built[0] and not built[0].closed
    assert old.closed and built[1].closed


def test_a_failing_listener_does_not_stop_the_others(caplog):
    class Broken(LiveListener):
        def result(self, result, frame):
            raise RuntimeError("front end bug")

    camera = FakeSource()
    session = LiveSession(GatedClassifier(), source_factory=Sources(camera))
    session.add_listener(Broken())  # first: it fails before the recorder hears each result
    events = Recorder()
    session.add_listener(events)
    session.start("0")
    for _ in range(2):
        camera.push()
        events.next("result")  # the recorder still hears every result
    failures = [r for r in caplog.records if "Broken listener failed" in r.getMessage()]
    assert len(failures) == 2
    session.stop()
    camera.release()


def test_top_k_and_threshold_change_at_run_time():
    camera = FakeSource()
    session = LiveSession(GatedClassifier(labels=("a", "b", "c")), source_factory=Sources(camera))
    lengths = queue.Queue()

    class Lengths(LiveListener):
        def result(self, result, frame):
            lengths.put(len(result.categories))

    session.add_listener(Lengths())
    session.start("0")
    camera.push()
    assert lengths.get(timeout=WAIT_S) == 1
    session.set_top_k(3)
    camera.push()
    assert lengths.get(timeout=WAIT_S) == 3
    session.set_threshold(0.8)
    assert session.threshold == 0.8
    with pytest.raises(Exception, match="between 0 and 1"):
        session.set_threshold(2)
    session.stop()
    camera.release()


def test_option_layers_command_line_over_saved_over_defaults(tmp_path):
    model = FIXTURES / "color_float32.tflite"
    saved = RunOptions(model=tmp_path / "saved.tflite", top_k=7, delegate="cpu", source="1")
    given = RunOptions(top_k=2)
    merged = given.over(saved)
    assert merged.top_k == 2 and merged.model == tmp_path / "saved.tflite"
    assert merged.source == "1"
    # A labels file belongs to the model of its own layer.
    with_labels = RunOptions(labels=tmp_path / "l.txt")
    assert with_labels.over(saved).labels is None
    assert RunOptions(model=model, labels=tmp_path / "l.txt").over(saved).labels is not None
    # Defaults fill what no layer gives, from edgecam.defaults.
    options = RunOptions(model=model).classifier_options()
    assert options.top_k == 3 and options.delegate.value == "auto"
    assert RunOptions().threshold_or_default == 0.5
