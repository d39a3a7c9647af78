"""``edgecam capture``: a dataset folder filled from real videos and image folders the tests
write, in a child process; then ``edgecam teach`` on it with a catalogue embedder."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import BGR, FIXTURES, assert_one_line_error, run_cli, solid, write_video
from model_server import entry, model_server_fixture, write_catalogue  # noqa: F401

from edgecam.capture.dataset import CaptureIncomplete, ClassFolder, capture


def mean_bgr(path) -> np.ndarray:
    image = cv2.imread(str(path))
    assert image is not None, path
    return image.reshape(-1, 3).mean(axis=0)


def is_color(path, color: str) -> bool:
    return bool(np.abs(mean_bgr(path) - np.array(BGR[color])).max() < 40)


@pytest.fixture
def clip(tmp_path):
    """3 s at 30 fps: 1 s red, 1 s green, 1 s blue."""
    return write_video(tmp_path / "clip.mp4", ["red"] * 30 + ["green"] * 30 + ["blue"] * 30)


def test_capture_takes_one_frame_every_n_seconds_of_the_video(tmp_path, clip):
    out = tmp_path / "data"
    proc = run_cli(
        "capture", "--source", str(clip), "--class", "mixed", "--count", "6",
        "--every", "0.5", "--out", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    files = sorted((out / "mixed").iterdir())
    assert [f.name for f in files] == [f"mixed-{i:04d}.png" for i in range(1, 7)]
    # t = 0, 0.5 (red), 1.0, 1.5 (green), 2.0, 2.5 (blue)
    colors = ["red", "red", "green", "green", "blue", "blue"]
    assert [is_color(f, c) for f, c in zip(files, colors, strict=True)] == [True] * 6
    assert "6/6" in proc.stdout and f"wrote 6 images into {out / 'mixed'}" in proc.stdout


def test_captures_never_overwrite_earlier_ones(tmp_path, clip):
    folder = tmp_path / "data" / "red"
    folder.mkdir(parents=True)
    mine = folder / "red-0002.png"
    mine.write_bytes(b"an earlier capture")
    cv2.imwrite(str(folder / "red-0041.png"), solid("blue"))
    report = capture(str(clip), ClassFolder(tmp_path / "data", "red"), 3, 0.1)
    assert [p.name for p in report.written] == ["red-0042.png", "red-0043.png", "red-0044.png"]
    assert mine.read_bytes() == b"an earlier capture"
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temporary left
    again = capture(str(clip), ClassFolder(tmp_path / "data", "red"), 1, 0)
    assert again.written[0].name == "red-0045.png"


def test_a_source_that_ends_early_says_how_many_were_written(tmp_path, clip):
    out = tmp_path / "data"
    proc = run_cli(
        "capture", "--source", str(clip), "--class", "c", "--count", "50", "--every", "1",
        "--out", str(out),
    )  # fmt: skip
    line = assert_one_line_error(proc, "ended after 90 frames", "wrote 3 of 50 images")
    assert "--count" in line
    assert proc.returncode == CaptureIncomplete.exit_code
    assert len(list((out / "c").glob("*.png"))) == 3


def test_an_image_folder_source_keeps_every_readable_image(tmp_path, color_images):
    report = capture(str(color_images), ClassFolder(tmp_path / "d", "all"), 3, 0)
    colors = ["red", "green", "blue"]  # the broken .jpg is passed over
    assert [is_color(p, c) for p, c in zip(report.written, colors, strict=True)] == [True] * 3


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--source", "9", "--class", "x"], "camera"),
        (["--source", "nowhere.mp4", "--class", "x"], "source not found"),
        (["--source", str(FIXTURES), "--class", "../up"], "cannot be a class name"),
        (["--source", str(FIXTURES), "--class", ".hidden"], "cannot be a class name"),
    ],
)
def test_capture_errors_are_one_line(tmp_path, args, needle):
    proc = run_cli("capture", *args, "--count", "2", "--out", str(tmp_path / "d"), timeout=120)
    assert_one_line_error(proc, needle)
    assert not (tmp_path / "d").exists() or not any((tmp_path / "d").rglob("*.png"))


def test_capture_then_teach_with_a_catalogue_embedder(tmp_path, monkeypatch, model_server):
    embedder = (FIXTURES / "teach_embedder_uint8.tflite").read_bytes()
    url = model_server.add("embedder.tflite", embedder)
    catalogue = write_catalogue(
        tmp_path / "catalogue.json",
        [entry("tiny-embedder", url, embedder, kind="embedder", labels="none")],
    )
    monkeypatch.setenv("EDGECAM_CATALOGUE", str(catalogue))
    monkeypatch.setenv("EDGECAM_HOME", str(tmp_path / "home"))
    data = tmp_path / "data"
    for color in ("red", "blue"):
        video = write_video(tmp_path / f"{color}.mp4", [color] * 20)
        proc = run_cli(
            "capture", "--source", str(video), "--class", color, "--count", "4",
            "--every", "0.1", "--out", str(data),
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
    bundle = tmp_path / "bundle"
    teach = run_cli(
        "teach", "--embedder", "tiny-embedder", "--data", str(data), "--out", str(bundle),
        "--no-cache",
    )  # fmt: skip
    assert teach.returncode == 0, teach.stderr
    assert "tiny-embedder is not downloaded yet: pulling it" in teach.stderr
    image = tmp_path / "blue.png"
    cv2.imwrite(str(image), solid("blue"))
    classify = run_cli("classify", "--model", str(bundle), str(image))
    assert classify.returncode == 0, classify.stderr
    assert ": blue" in classify.stdout
