"""Frame sources on real files written by the tests, a local HTTP stream, and the slot."""

from __future__ import annotations

import os
import shutil
import threading
import time

import cv2
import pytest
from conftest import solid, write_video

from edgecam.capture import (
    CameraSource,
    ImageFolderSource,
    LatestFrameSlot,
    StreamSource,
    VideoFileSource,
    open_source,
)
from edgecam.errors import SourceError


def test_slot_keeps_only_the_newest_and_counts_drops():
    slot = LatestFrameSlot()
    for i in range(5):
        slot.put(i)  # never blocks, nobody is taking
    assert slot.dropped == 4
    assert slot.take(timeout=0) == 4
    assert slot.take(timeout=0.01) is None  # nothing new: times out
    assert slot.delivered == 1


def test_slot_take_waits_for_a_put_and_close_wakes_it():
    slot = LatestFrameSlot()
    threading.Timer(0.05, slot.put, args=("frame",)).start()
    start = time.monotonic()
    assert slot.take(timeout=2) == "frame"
    assert time.monotonic() - start < 1.0
    threading.Timer(0.05, slot.close).start()
    assert slot.take(timeout=5) is None
    assert slot.closed


def test_slot_delivers_what_was_left_after_close():
    slot = LatestFrameSlot()
    slot.put("last")
    slot.close()
    assert slot.take() == "last"
    assert slot.take() is None


def test_video_file_frames_fps_and_end(color_video):
    with VideoFileSource(color_video, pace=False) as source:
        frames = []
        while (frame := source.read()) is not None:
            frames.append(frame)
    assert len(frames) == 90
    assert source.fps == pytest.approx(30.0)
    assert source.ended
    assert [f.index for f in frames[:3]] == [0, 1, 2]
    assert frames[0].bgr.shape == (120, 160, 3)
    assert frames[0].bgr[60, 80].tolist()[2] > 200  # red first (BGR)
    assert frames[-1].bgr[60, 80].tolist()[0] > 200  # blue last
    assert frames[1].bgr is not frames[0].bgr  # each frame owns its array


def test_video_is_paced_at_its_frame_rate(tmp_path):
    video = write_video(tmp_path / "v.mp4", ["red"] * 10, fps=20.0)
    with VideoFileSource(video) as source:
        start = time.monotonic()
        while source.read() is not None:
            pass
    assert time.monotonic() - start >= 0.4  # 10 frames at 20 fps: >= 9 intervals of 50 ms


def test_video_loops(tmp_path):
    video = write_video(tmp_path / "v.mp4", ["red", "green", "blue"])
    with VideoFileSource(video, loop=True, pace=False) as source:
        frames = [source.read() for _ in range(7)]
    assert all(f is not None for f in frames)
    assert frames[3].bgr[0, 0].tolist()[2] > 200  # back to red


def test_missing_and_corrupt_videos(tmp_path):
    with pytest.raises(SourceError, match="video not found"):
        VideoFileSource(tmp_path / "none.mp4").open()
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 200)
    with pytest.raises(SourceError, match=r"cannot be opened|no readable frames"):
        source = VideoFileSource(corrupt)
        source.open()
        source.read()


def test_image_folder_skips_unreadable_files(color_images):
    with ImageFolderSource(color_images, pace=False) as source:
        frames = []
        while (frame := source.read()) is not None:
            frames.append(frame)
    assert len(frames) == 3
    assert source.skipped == 1


def _truncated(video, fraction: float = 0.5):
    data = video.read_bytes()
    out = video.with_name(f"cut-{video.name}")
    out.write_bytes(data[: int(len(data) * fraction)])
    return out


def _mjpg(path, frames: int):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (160, 120))
    for i in range(frames):
        writer.write(solid(("red", "green", "blue")[i % 3], (160, 120)))
    writer.release()
    return path


def test_a_video_that_stops_before_its_frame_count_is_an_error(tmp_path):
    cut = _truncated(_mjpg(tmp_path / "v.avi", 120))
    with VideoFileSource(cut, pace=False) as source:
        assert source.expected_frames == 120
        read = 0
        with pytest.raises(SourceError, match=r"stopped after \d+ of its 120 frames: the file is"):
            while source.read() is not None:
                read += 1
    assert 30 < read < 90
    assert not source.ended


def test_a_looping_damaged_video_is_noted_once_and_keeps_playing(tmp_path, caplog):
    cut = _truncated(_mjpg(tmp_path / "v.avi", 60))
    with VideoFileSource(cut, loop=True, pace=False) as source:
        frames = [source.read() for _ in range(150)]
    assert all(f is not None for f in frames)
    assert caplog.text.count("stopped after") == 1
    assert "playing the readable part again" in caplog.text


def test_folder_removed_while_read_is_an_error(tmp_path, color_images):
    with ImageFolderSource(color_images, pace=False) as source:
        assert source.read() is not None
        shutil.rmtree(color_images)
        with pytest.raises(SourceError, match=r"disappeared after 1 of its 4 images"):
            source.read()


def test_a_fifo_or_vanished_file_in_a_folder_is_skipped_not_waited_on(tmp_path, caplog):
    folder = tmp_path / "images"
    folder.mkdir()
    for name in ("a.png", "b.png", "c.png"):
        cv2.imwrite(str(folder / name), solid("red"))
    with ImageFolderSource(folder, pace=False) as source:
        (folder / "b.png").unlink()
        os.mkfifo(folder / "b.png")  # replaced by a FIFO after the listing: still no hang
        frames = []
        while (frame := source.read()) is not None:
            frames.append(frame.origin)
    assert [os.path.basename(f) for f in frames] == ["a.png", "c.png"]
    assert f"skipped {folder / 'b.png'}: not a regular file" in caplog.text


def test_empty_folder_is_an_error(tmp_path):
    with pytest.raises(SourceError, match="holds no images"):
        ImageFolderSource(tmp_path).open()


def test_camera_that_does_not_open():
    with pytest.raises(SourceError, match="camera 97 could not be opened") as err:
        CameraSource(97).open()
    assert "--source" in err.value.hint


@pytest.mark.hardware
def test_real_camera_when_present():
    source = CameraSource(0)
    try:
        source.open()
    except SourceError:
        pytest.skip("no camera on this machine")
    with source:
        frame = source.read()
    assert frame is not None and frame.bgr.ndim == 3


def test_open_source_dispatch(tmp_path, color_video, color_images):
    assert isinstance(open_source("0"), CameraSource)
    assert isinstance(open_source("rtsp://127.0.0.1:8554/cam"), StreamSource)
    assert isinstance(open_source(str(color_images)), ImageFolderSource)
    assert isinstance(open_source(str(color_video)), VideoFileSource)
    single = open_source(str(next(color_images.glob("*.png"))))
    with single:
        assert single.read() is not None and single.read() is None
    with pytest.raises(SourceError, match="source not found"):
        open_source(str(tmp_path / "nothing.mp4"))


def test_picamera_without_picamera2():
    try:
        import picamera2  # noqa: F401
    except ImportError:
        with pytest.raises(SourceError, match="needs Picamera2"):
            open_source("picamera").open()
    else:
        pytest.skip("Picamera2 is installed here")


def test_stream_url_reads_frames_then_reports_the_drop(tmp_path, http_server):
    url, _ = http_server
    write_video(tmp_path / "stream.mp4", ["green"] * 15)
    source = StreamSource(f"{url}/stream.mp4", "stream")
    with source:
        frames = []
        with pytest.raises(SourceError, match=r"stream .* stopped after 15 frames"):
            while True:
                frames.append(source.read())
    assert len(frames) == 15
    assert frames[0].bgr[5, 5].tolist()[1] > 200


def test_stream_that_cannot_be_opened(http_server):
    url, _ = http_server
    with pytest.raises(SourceError, match="could not be opened"):
        StreamSource(f"{url}/missing.mp4", "missing").open()
