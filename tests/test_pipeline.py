"""The capture + inference pipeline on real video files with a real classifier."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from conftest import FIXTURES, write_video

from edgecam.capture import CameraSource, StreamSource, VideoFileSource
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


class SlowClassifier:
    """Wraps a classifier, sleeps ``delay`` per call and records which frame it got when."""

    def __init__(self, inner, source, delay: float) -> None:
        self.inner, self.source, self.delay = inner, source, delay
        self.calls: list[tuple[int, int]] = []  # (frame index, frames read by then)

    def classify(self, image, frame_timestamp=None, frame_index=None):
        self.calls.append((frame_index, self.source.frames_read))
        time.sleep(self.delay)
        return self.inner.classify(image, frame_timestamp, frame_index)


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


def test_slow_inference_takes_the_newest_frame_never_a_backlog(clf, color_video):
    source = VideoFileSource(color_video)  # paced at 30 fps, like a camera
    slow = SlowClassifier(clf, source, delay=0.1)
    frames_seen = []
    pipeline = Pipeline(source, slow, on_frame=lambda f: frames_seen.append(f.index))
    start = time.monotonic()
    pipeline.run()
    elapsed = time.monotonic() - start
    # Capture kept the source rate: 90 frames in ~3 s, not 90 x 0.1 s.
    assert len(frames_seen) == 90
    assert elapsed < 6.0
    stats = pipeline.stats()
    assert stats.frames_dropped > 30  # most frames were skipped, not queued
    assert len(slow.calls) < 45
    # Each inference got the newest frame available when it started (one may land meanwhile).
    for frame_index, read_by_then in slow.calls:
        assert frame_index >= read_by_then - 2, slow.calls
    # How old a shown result is: at most one inference + one frame interval, plus scheduling.
    assert stats.result_age_ms < 100 + 33 + 150


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
    assert not [t for t in threading.enumerate() if t.name.startswith("edgecam-")]


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


def test_pause_freezes_a_file_and_resume_continues(clf, color_video):
    results = []
    pipeline = Pipeline(
        VideoFileSource(color_video), clf, on_result=lambda r, f: results.append(f.index)
    ).start()
    time.sleep(0.3)
    pipeline.pause()
    time.sleep(0.1)
    frozen = len(results)
    time.sleep(0.4)
    assert len(results) == frozen  # nothing new while paused
    assert pipeline.paused
    pipeline.pause(False)
    assert pipeline.join(timeout=6.0)
    assert results[-1] >= 85  # resumed where it stopped and ran to the end


def test_swap_classifier_takes_effect_on_the_next_frame(clf, color_video):
    class Constant:
        def __init__(self, inner):
            self.inner = inner

        def classify(self, image, frame_timestamp=None, frame_index=None):
            return self.inner.classify(np.zeros_like(image), frame_timestamp, frame_index)

    labels = []
    pipeline = Pipeline(
        VideoFileSource(color_video),
        clf,
        on_result=lambda r, f: labels.append((f.index, r.top.label)),
    ).start()
    time.sleep(0.2)
    old = pipeline.swap_classifier(Constant(clf))
    assert old is clf
    swapped_at = len(labels)
    pipeline.join(timeout=6.0)
    # Black frames are "equal colours": whatever the model says, it is the same for every frame.
    after = {label for _, label in labels[swapped_at + 1 :]}
    assert len(after) == 1
