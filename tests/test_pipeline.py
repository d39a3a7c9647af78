"""The capture + inference pipeline on real video files with a real classifier."""

from __future__ import annotations

import queue
import threading
import time

import pytest
from conftest import FIXTURES, write_video
from fakes import WAIT_S, FakeSource, GatedClassifier

from edgecam.capture import CameraSource, StreamSource, VideoFileSource
from edgecam.capture.sources import SourceKind
from edgecam.config import ClassifierOptions
from edgecam.errors import SourceError
from edgecam.pipeline import Pipeline
from edgecam.vision import Classifier

TRUTH = ["red"] * 30 + ["green"] * 30 + ["blue"] * 30


@pytest.fixture(scope="module")
def clf():
    with Classifier(
        ClassifierOptions(model=FIXTURES / "color_float32.tflite", delegate="cpu", threads=1)
    ) as classifier:
        yield classifier


def wait_until(condition, timeout: float = WAIT_S) -> None:
    """Poll ``condition`` (a state another thread reaches), failing after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition was never reached"
        time.sleep(0.002)


@pytest.fixture
def fake():
    source = FakeSource()
    yield source
    source.release()


def test_every_result_matches_its_frame(clf, color_video):
    results = []
    pipeline = Pipeline(
        VideoFileSource(color_video),
        clf,
        on_result=lambda r, f: results.append((f.index, r.top.label)),
    )
    pipeline.run()
    assert pipeline.ended and pipeline.error is None
    assert len(results) >= 45  # a 0.1 ms model keeps up with 30 fps on any machine
    assert all(TRUTH[index] == label for index, label in results)
    stats = pipeline.stats()
    assert stats.frames_captured == 90
    assert stats.frames_classified == len(results)
    assert stats.frames_classified + stats.frames_dropped == 90


def test_inference_takes_the_newest_frame_never_a_backlog(fake):
    clf = GatedClassifier(gated=True)
    results = queue.Queue()
    pipeline = Pipeline(fake, clf, on_result=lambda r, f: results.put(f.index)).start()
    fake.push(0)
    assert clf.started.acquire(timeout=WAIT_S)  # frame 0 is being classified...
    for value in range(1, 5):
        fake.push(value)  # ...while four more arrive
    wait_until(lambda: pipeline.stats().frames_captured == 5)
    clf.open_gate()
    assert results.get(timeout=WAIT_S) == 0
    assert results.get(timeout=WAIT_S) == 4  # the newest, not frame 1
    fake.end()
    assert pipeline.join(timeout=WAIT_S)
    stats = pipeline.stats()
    assert stats.frames_dropped == 3 and stats.frames_classified == 2
    assert clf.calls == [0, 4]


def test_an_unpaced_file_is_classified_frame_by_frame():
    source = FakeSource(kind=SourceKind.VIDEO, description="fake video", pace=False)
    assert source.lossless
    clf = GatedClassifier(gated=True)
    pipeline = Pipeline(source, clf).start()
    for value in range(10):
        source.push(value)
    source.end()
    assert clf.started.acquire(timeout=WAIT_S)
    clf.open_gate()  # the capture thread waited for each frame to be taken
    assert pipeline.join(timeout=WAIT_S)
    assert clf.calls == list(range(10))
    assert pipeline.stats().frames_dropped == 0 and pipeline.ended


def test_no_pace_video_drops_nothing(clf, color_video):
    results = []
    pipeline = Pipeline(
        VideoFileSource(color_video, pace=False),
        clf,
        on_result=lambda r, f: results.append((f.index, r.top.label)),
    )
    pipeline.run()
    assert [index for index, _ in results] == list(range(90))
    assert all(TRUTH[index] == label for index, label in results)
    assert pipeline.stats().frames_dropped == 0


def test_max_results_and_prompt_stop(clf, tmp_path):
    video = write_video(tmp_path / "long.mp4", ["red"] * 300)
    results = []
    pipeline = Pipeline(
        VideoFileSource(video), clf, max_results=5, on_result=lambda r, f: results.append(r)
    )
    pipeline.start()
    assert pipeline.join(timeout=5.0)
    assert len(results) == 5
    assert not pipeline.ended  # stopped by the limit, not by the end of the video


def test_stop_joins_within_a_second(clf, tmp_path):
    video = write_video(tmp_path / "long.mp4", ["blue"] * 300)
    pipeline = Pipeline(VideoFileSource(video, loop=True), clf).start()
    time.sleep(0.3)
    start = time.monotonic()
    pipeline.stop()
    assert pipeline.join(timeout=1.0)
    assert time.monotonic() - start < 1.0
    assert not pipeline.running
    assert not [t for t in pipeline._threads if t.is_alive()]


def test_source_that_does_not_open_fails_at_start(clf):
    with pytest.raises(SourceError, match="camera 97"):
        Pipeline(CameraSource(97), clf).start()


def test_classifier_crash_is_reported_not_swallowed(color_video):
    class Broken:
        def classify(self, *args, **kwargs):
            raise ValueError("boom")

    pipeline = Pipeline(VideoFileSource(color_video), Broken())
    pipeline.run()
    assert pipeline.error is not None and "boom" in str(pipeline.error)


def test_dropped_stream_is_reported(clf, tmp_path, http_server):
    url, _ = http_server
    write_video(tmp_path / "s.mp4", ["green"] * 10)
    pipeline = Pipeline(StreamSource(f"{url}/s.mp4", "test stream"), clf)
    pipeline.run()
    assert isinstance(pipeline.error, SourceError)
    assert "stopped after 10 frames" in str(pipeline.error)


def test_pause_holds_a_file_where_it_is():
    source = FakeSource(kind=SourceKind.VIDEO, description="fake video")
    results = queue.Queue()
    pipeline = Pipeline(source, GatedClassifier(), on_result=lambda r, f: results.put(f.index))
    pipeline.start()
    source.push(0)
    assert results.get(timeout=WAIT_S) == 0
    pipeline.pause()
    source.push(1)
    time.sleep(0.2)  # (proving that nothing happens takes a little time)
    assert results.empty()
    pipeline.pause(False)
    assert results.get(timeout=WAIT_S) == 1  # the frame read as the pause began is not lost
    source.end()
    assert pipeline.join(timeout=WAIT_S)


def test_pause_drains_a_live_source_without_classifying(fake):
    results = queue.Queue()
    frames = []
    pipeline = Pipeline(
        fake, GatedClassifier(), on_result=lambda r, f: results.put(f.index), on_frame=frames.append
    ).start()
    fake.push(0)
    assert results.get(timeout=WAIT_S) == 0
    pipeline.pause()
    fake.push(1)
    fake.push(2)
    wait_until(lambda: fake.frames_read == 3)  # a camera keeps being read while paused...
    assert len(frames) == 1 and results.empty()  # ...and its frames thrown away
    pipeline.pause(False)
    fake.push(3)
    assert results.get(timeout=WAIT_S) == 3  # resuming shows the present
    fake.end()
    assert pipeline.join(timeout=WAIT_S)


def test_swap_classifier_waits_for_the_frame_in_flight(fake):
    first, second = GatedClassifier(gated=True), GatedClassifier()
    results = queue.Queue()
    pipeline = Pipeline(fake, first, on_result=lambda r, f: results.put(f.index)).start()
    fake.push(0)
    assert first.started.acquire(timeout=WAIT_S)
    swapper = threading.Thread(target=pipeline.swap_classifier, args=(second,))
    swapper.start()
    swapper.join(timeout=0.1)
    assert swapper.is_alive()  # never swapped under a running classification
    first.open_gate()
    swapper.join(timeout=WAIT_S)
    assert not swapper.is_alive()
    assert results.get(timeout=WAIT_S) == 0
    fake.push(1)
    assert results.get(timeout=WAIT_S) == 1
    assert first.calls == [0] and second.calls == [1]
    fake.end()
    assert pipeline.join(timeout=WAIT_S)


def test_with_classifier_changes_top_k_between_frames(fake):
    clf = GatedClassifier(labels=("a", "b", "c"))
    results = queue.Queue()
    pipeline = Pipeline(fake, clf, on_result=lambda r, f: results.put(len(r.categories))).start()
    fake.push(0)
    assert results.get(timeout=WAIT_S) == 1
    pipeline.with_classifier(lambda c: c.set_top_k(3))
    fake.push(1)
    assert results.get(timeout=WAIT_S) == 3
    fake.end()
    assert pipeline.join(timeout=WAIT_S)
