"""The window's teach mode with pytest-qt (offscreen): a real clip, a real tiny embedder.

The clip's first half shows red stripes, its second half blue dots on yellow; the test holds C
(and the capture button) while each half plays, teaches, and checks the live predictions follow
the clip; then saves, and reloads the bundle and the captures. The embedder is the tiny
``teach_embedder_uint8.tflite`` fixture the teach tests use (tests/test_teach.py).
"""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pytest
from conftest import FIXTURES

pytest.importorskip("PyQt6.QtWidgets", reason="PyQt6 is not installed (the gui extra)")
pytest.importorskip("pytestqt", reason="pytest-qt is not installed")

from gui_fixtures import make_window_fixture, settings_fixture, warnings_shown_fixture  # noqa: F401
from PyQt6.QtCore import Qt

from edgecam.config import ClassifierOptions
from edgecam.gui.captures import MARKER, CaptureSet
from edgecam.gui.teach_panel import captures_folder
from edgecam.gui.train_fully import training_problem
from edgecam.live import LiveListener
from edgecam.teach import Teacher, TeachOptions
from edgecam.vision import Classifier

pytestmark = pytest.mark.gui
COLOR = FIXTURES / "color_float32.tflite"
EMBEDDER = FIXTURES / "teach_embedder_uint8.tflite"
SIZE = (160, 120)
HALF = 75  # frames of each pattern: 2.5 s at 30 fps


def stripes(shift: int = 0) -> np.ndarray:
    image = np.full((SIZE[1], SIZE[0], 3), 255, np.uint8)
    for y in range(0, SIZE[1], 20):
        image[y : y + 10] = (40, 40, 220)
    return np.roll(image, shift, axis=0)


def dots(shift: int = 0) -> np.ndarray:
    image = np.empty((SIZE[1], SIZE[0], 3), np.uint8)
    image[:] = (40, 200, 230)
    for y in range(10, SIZE[1], 30):
        for x in range(10, SIZE[0], 30):
            image[y : y + 12, x : x + 12] = (200, 60, 20)
    return np.roll(image, shift, axis=1)


def kind_of(bgr: np.ndarray) -> str:
    """Which pattern a (decoded, so slightly changed) frame shows: stripes are mostly white
    (blue channel mean about 145), the dots' frame mostly yellow (about 60)."""
    return "stripes" if bgr[..., 0].mean() > 100 else "dots"


def write_clip(path, half: int = HALF):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, SIZE)
    assert writer.isOpened()
    for i in range(half):
        writer.write(stripes(i % 20))
    for i in range(half):
        writer.write(dots(i % 30))
    writer.release()
    return path


@pytest.fixture
def window(make_window):
    return make_window(size=(1000, 640))


def wait_for_kind(qtbot, window, kind: str, timeout: int = 8000) -> None:
    """Until the newest frame shows ``kind``, having just switched to it (its half's start)."""
    seen_other = []

    def ready() -> bool:
        frame = window.session.latest_frame
        if frame is None:
            return False
        if kind_of(frame.bgr) != kind:
            seen_other.append(True)
            return False
        return bool(seen_other)

    qtbot.waitUntil(ready, timeout=timeout)


def capture_while(qtbot, panel, count: int, kind: str, press, release) -> None:
    before = panel.captures.count(panel.box.current_class)
    press()
    qtbot.waitUntil(
        lambda: panel.captures.count(panel.box.current_class) >= before + count, timeout=5000
    )
    release()
    assert not panel.box.capturing
    for capture in panel.captures.captures(panel.box.current_class)[before:]:
        assert kind_of(capture.image) == kind


class Recorder(LiveListener):
    """(what the frame shows, the top label) for every result after ``start``."""

    def __init__(self) -> None:
        self.pairs: list[tuple[str, str]] = []
        self.recording = threading.Event()

    def result(self, result, frame) -> None:
        if self.recording.is_set():
            self.pairs.append((kind_of(frame.bgr), result.top.label))


def test_teach_flow_capture_teach_follow_save_reload(qtbot, window, tmp_path, warnings_shown):
    clip = write_clip(tmp_path / "clip.mp4")
    window.open_source(str(clip))
    teach = window.show_teach(True)
    panel = teach.panel
    assert teach.isVisible() and window.teach_action.isChecked()
    panel.set_embedder(EMBEDDER)
    assert not panel.teach_button.isEnabled()  # no classes yet

    assert panel.box.add_class("stripes") == "stripes"
    assert panel.box.add_class("stripes") is None  # twice: refused with a message
    assert "already" in warnings_shown.pop()
    wait_for_kind(qtbot, window, "stripes")
    # Hold C: captures at a few a second, each a different frame.
    capture_while(
        qtbot,
        panel,
        6,
        "stripes",
        lambda: qtbot.keyPress(window.view, Qt.Key.Key_C),
        lambda: qtbot.keyRelease(window.view, Qt.Key.Key_C),
    )
    assert panel.box.thumbs.count() == panel.captures.count("stripes")
    assert "stripes" in panel.box.class_list.item(0).text()

    panel.box.add_class("dots")
    assert panel.box.current_class == "dots"
    wait_for_kind(qtbot, window, "dots")
    capture_while(
        qtbot,
        panel,
        6,
        "dots",
        lambda: qtbot.mousePress(panel.box.capture_button, Qt.MouseButton.LeftButton),
        lambda: qtbot.mouseRelease(panel.box.capture_button, Qt.MouseButton.LeftButton),
    )
    # A capture can be deleted: the first dots capture goes.
    n = panel.captures.count("dots")
    first = panel.captures.captures("dots")[0].id
    panel.box.thumbs.item(0).setSelected(True)
    assert panel.box.delete_selected() == 1
    assert panel.captures.count("dots") == n - 1 == panel.box.thumbs.count()
    assert first not in [c.id for c in panel.captures.captures("dots")]

    recorder = Recorder()
    window.live.add_listener(recorder)
    started = time.monotonic()
    assert panel.teach_button.isEnabled()
    qtbot.mouseClick(panel.teach_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.stats.text("model").startswith("taught "), timeout=15000)
    taught_after = time.monotonic() - started
    assert taught_after < 10, taught_after  # "in seconds"
    assert not warnings_shown, warnings_shown
    assert set(window.session.classifier.labels) == {"stripes", "dots"}
    assert "now live" in panel.result_label.text()
    assert window.stats.text("model").startswith("taught")
    recorder.recording.set()
    # The live top-1 follows the clip through both halves.
    wait_for_kind(qtbot, window, "stripes")
    wait_for_kind(qtbot, window, "dots")
    qtbot.waitUntil(lambda: window.predictions.top_label.text() == "dots", timeout=5000)
    wait_for_kind(qtbot, window, "stripes")
    qtbot.waitUntil(lambda: window.predictions.top_label.text() == "stripes", timeout=5000)
    recorder.recording.clear()
    window.live.remove_listener(recorder)
    pairs = recorder.pairs
    assert {k for k, _ in pairs} == {"stripes", "dots"}
    agree = sum(kind == label for kind, label in pairs) / len(pairs)
    assert agree >= 0.95, (agree, len(pairs))
    # A taught model that was never saved is not remembered for the next start.
    assert window.settings.model() != window.options.model

    # Save: a normal bundle, and the captures as a class-per-folder dataset.
    bundle = tmp_path / "out" / "mine"
    future = panel.save_to(bundle)
    qtbot.waitUntil(lambda: future.done() and not panel.busy, timeout=15000)
    assert future.exception() is None
    assert sorted(p.name for p in bundle.iterdir()) == ["labels.txt", "model.json", "model.tflite"]
    folder = captures_folder(bundle)
    assert (folder / MARKER).exists()
    counts = {d.name: len(list(d.glob("*.png"))) for d in folder.iterdir() if d.is_dir()}
    assert counts == {"stripes": panel.captures.count("stripes"), "dots": n - 1}
    with Teacher(EMBEDDER, TeachOptions()) as teacher:  # what `edgecam teach --data` reads
        assert teacher.add_folder(folder) == counts

    # The saved bundle in a fresh classifier gives the live model's answers.
    images = [stripes(3), dots(7), *(c.image for c in panel.captures.captures("dots"))]
    live = window.session.classifier
    with Classifier(ClassifierOptions(model=bundle, delegate="cpu", top_k=2)) as fresh:
        assert fresh.name == "mine"
        for image in images:
            a, b = live.classify(image), fresh.classify(image)
            assert a.top.label == b.top.label
            assert a.top.score == pytest.approx(b.top.score, abs=1e-5)
        assert fresh.classify(stripes()).top.label == "stripes"
        assert fresh.classify(dots()).top.label == "dots"

    # Open captures: the same classes and the very pixels back.
    originals = {name: [c.image for c in panel.captures.captures(name)] for name in counts}
    panel.box.remove_current()
    assert panel.captures.names == ["stripes"]
    future = panel.open_captures(folder)
    qtbot.waitUntil(lambda: future.done() and not panel.busy, timeout=10000)
    assert sorted(panel.captures.names) == ["dots", "stripes"]
    for name, images in originals.items():
        again = [c.image for c in panel.captures.captures(name)]
        assert len(again) == len(images)
        assert all(np.array_equal(x, y) for x, y in zip(again, images, strict=True))


def test_teach_refusals_are_messages_not_crashes(qtbot, window, tmp_path, warnings_shown):
    panel = window.show_teach(True).panel
    assert panel.teach_now() is None  # no embedder, no classes
    panel.set_embedder(EMBEDDER)
    panel.box.add_class("a")
    panel.box.add_class("b")
    assert panel.box.add_class("x/y") is None
    assert "cannot be a class name" in warnings_shown.pop()
    assert panel.teach_now() is None  # empty classes
    assert not panel.box.capture_once()  # no frame yet: nothing captured
    # A bad embedder fails in the worker and says so; the window keeps its model.
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"not a model at all")
    panel.set_embedder(bad)
    panel.captures.add("a", stripes())
    panel.captures.add("b", dots())
    future = panel.teach_now()
    qtbot.waitUntil(lambda: future.done() and not panel.busy, timeout=10000)
    assert warnings_shown and "bad.tflite" in warnings_shown[-1]
    assert window.session.classifier.name == "color_float32"
    # Saving over a folder that is not a captures folder is refused; nothing is replaced.
    panel.set_embedder(EMBEDDER)
    precious = tmp_path / "mine-captures"
    precious.mkdir()
    (precious / "thesis.txt").write_text("keep me")
    future = panel.save_to(tmp_path / "mine")
    qtbot.waitUntil(lambda: future.done() and not panel.busy, timeout=10000)
    assert "holds other files" in warnings_shown[-1]
    assert (precious / "thesis.txt").read_text() == "keep me"


def test_train_fully_without_tensorflow_is_disabled_with_the_reason(qtbot, window):
    panel = window.show_teach(True).panel
    problem = training_problem()
    if problem is None:
        pytest.skip("TensorFlow is importable here: the action is enabled")
    assert not panel.train_button.isEnabled()
    assert "TensorFlow" in panel.train_button.toolTip()


def test_capture_set_renames_keep_order_and_load_skips_junk(tmp_path):
    captures = CaptureSet()
    captures.add_class("one")
    captures.add_class("two")
    captures.add("one", stripes())
    captures.rename_class("one", "first")
    assert captures.names == ["first", "two"]
    assert captures.count("first") == 1
    captures.add("two", dots())
    folder = captures.save(tmp_path / "caps")
    (folder / "two" / "broken.png").write_bytes(b"\x89PNG but not really")
    (folder / ".hidden").mkdir()
    (folder / ".hidden" / "x.png").write_bytes(cv2.imencode(".png", dots())[1].tobytes())
    loaded = CaptureSet.load(folder)
    assert loaded.names == ["first", "two"]  # sorted folder names, the broken file skipped
    assert [loaded.count(n) for n in loaded.names] == [1, 1]
    saved_again = captures.save(folder)  # an earlier captures folder may be replaced
    assert not (saved_again / "two" / "broken.png").exists()


TRAIN_PYTHON = FIXTURES.parents[1] / ".venv-train" / "bin" / "python"


@pytest.mark.slow
@pytest.mark.skipif(not TRAIN_PYTHON.exists(), reason="no .venv-train (TensorFlow) here")
def test_train_fully_runs_train_and_export_in_a_child_process(
    qtbot, window, tmp_path, monkeypatch, warnings_shown
):
    """Train fully with .venv-train's TensorFlow in a child process: progress per epoch, then
    either export's gates pass and the bundle goes live, or they refuse (a net this tiny may
    learn nothing in two epochs) with export's one error line, and the live model stays."""
    import edgecam.gui.train_fully as train_fully

    monkeypatch.setenv(train_fully.TRAIN_PYTHON_ENV, str(TRAIN_PYTHON))
    monkeypatch.setattr(
        train_fully,
        "TRAIN_ARGS",
        ("--val-split", "0.25", "--epochs", "2", "--input-size", "32", "--depth", "1"),
    )
    edgecam_home = tmp_path / "home"
    monkeypatch.setenv("EDGECAM_HOME", str(edgecam_home))
    panel = window.show_teach(True).panel
    assert train_fully.training_problem() is None
    for name, pattern in (("stripes", stripes), ("dots", dots)):
        panel.captures.add_class(name)
        for i in range(8):
            panel.captures.add(name, pattern(i))
    panel.box.refresh()
    assert panel.train_button.isEnabled()
    progress, failed, finished = [], [], []
    panel.training.progress.connect(lambda done, total, line: progress.append((done, total)))
    panel.training.failed.connect(failed.append)
    panel.training.finished.connect(finished.append)
    qtbot.mouseClick(panel.train_button, Qt.MouseButton.LeftButton)
    assert panel.training.running and not panel.train_button.isEnabled()
    qtbot.waitUntil(lambda: not panel.training.running, timeout=240_000)
    assert (0, 2) in progress and (1, 2) in progress  # "Epoch 1/2", "Epoch 2/2"
    assert (panel.teacher.work_dir / "run" / "best.keras").exists()
    trained = edgecam_home / "trained"  # the bundle's home: it outlives the window
    assert len(failed) + len(finished) == 1
    if failed:
        assert failed[0].startswith("edgecam: error:"), failed
        assert "training failed" in panel.result_label.text()
        assert not trained.exists() or not any(trained.iterdir())
        assert window.session.classifier.name == "color_float32"
    else:
        qtbot.waitUntil(lambda: window.options.model.parent == trained, timeout=10000)
        assert sorted(window.session.classifier.labels) == ["dots", "stripes"]
        assert window.settings.model() == window.options.model  # kept: not a work folder
    assert panel.train_button.isEnabled()
