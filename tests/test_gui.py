"""The desktop app with pytest-qt (offscreen): real videos, real .tflite fixtures, real widgets."""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import sys
import threading
import time

import pytest
from conftest import CLI_CWD, FIXTURES, cli_env, write_video

pytest.importorskip("PyQt6.QtWidgets", reason="PyQt6 is not installed (the gui extra)")
pytest.importorskip("pytestqt", reason="pytest-qt is not installed")

from gui_fixtures import COLOR, make_window_fixture, settings_fixture, warnings_shown_fixture  # noqa: F401
from PyQt6.QtCore import QTimer

from edgecam.config import ClassifierOptions, Delegate
from edgecam.gui import display_problem
from edgecam.live import LiveSession
from edgecam.vision import Classifier

pytestmark = pytest.mark.gui


def captured(window) -> int:
    stats = window.live.stats()
    return stats.frames_captured if stats is not None else 0


def wait_for_label(qtbot, window, label, timeout=5000):
    qtbot.waitUntil(lambda: window.predictions.top_label.text() == label, timeout=timeout)


def test_live_predictions_and_stats(qtbot, make_window, tmp_path):
    video = write_video(tmp_path / "v.mp4", ["red"] * 45 + ["blue"] * 45)
    window = make_window()
    window.open_source(str(video))
    wait_for_label(qtbot, window, "red")
    wait_for_label(qtbot, window, "blue")
    qtbot.waitUntil(
        lambda: (
            window.stats.text("display").endswith("fps")
            and float(window.stats.text("display").split()[0]) > 5
        ),
        timeout=3000,
    )
    assert float(window.stats.text("inference").split()[0]) > 5
    assert window.stats.text("model") == "color_float32 (32x32x3 float32)"
    assert window.stats.text("delegate").startswith("cpu (XNNPACK")
    assert "invoke" in window.stats.text("timings")
    assert window.view.frame is not None
    first_row = window.predictions.rows[0][0].text()
    assert first_row.startswith("blue ")


def test_below_threshold_shows_uncertain(qtbot, make_window, tmp_path):
    video = write_video(tmp_path / "v.mp4", ["red"] * 60)
    window = make_window()
    window.predictions.threshold = 1.0  # nothing is ever that sure
    window.open_source(str(video))
    wait_for_label(qtbot, window, "uncertain")
    assert "below the 100% threshold" in window.predictions.top_label.toolTip()


def test_switch_model_and_survive_a_broken_one(qtbot, make_window, tmp_path, warnings_shown):
    video = write_video(tmp_path / "v.mp4", ["green"] * 150)
    window = make_window()
    window.open_source(str(video))
    wait_for_label(qtbot, window, "green")
    broken = tmp_path / "broken.tflite"
    broken.write_text("not a model")
    window.load_classifier(ClassifierOptions(model=broken, delegate="cpu"))
    qtbot.waitUntil(lambda: bool(warnings_shown), timeout=5000)
    assert "not a TFLite model" in warnings_shown[0]
    assert window.stats.text("model").startswith("color_float32")  # the old one stays
    wait_for_label(qtbot, window, "green")  # and keeps classifying
    window.load_classifier(
        ClassifierOptions(model=FIXTURES / "bundle_int8", delegate="cpu", top_k=2)
    )
    qtbot.waitUntil(lambda: window.stats.text("model").startswith("color-fixture"), timeout=2000)
    assert window.stats.text("model") == "color-fixture (32x32x3 int8)"
    wait_for_label(qtbot, window, "green")
    assert len(window.predictions.rows) == 2
    engine = window.session.classifier.engine
    window.set_top_k(1)  # post-processing only: the loaded model stays
    assert window.session.classifier.engine is engine
    qtbot.waitUntil(lambda: len(window.session.latest_result[0].categories) == 1, timeout=2000)
    assert len(window.predictions.rows) == 1


def test_switch_delegate_and_threads_at_run_time(qtbot, make_window, tmp_path, warnings_shown):
    video = write_video(tmp_path / "v.mp4", ["red"] * 150)
    window = make_window()
    window.open_source(str(video))
    window.set_threads(1)
    qtbot.waitUntil(
        lambda: window.stats.text("delegate") == "cpu (XNNPACK, 1 thread)", timeout=5000
    )
    window.set_delegate(Delegate.EDGETPU)  # no Edge TPU (and a plain model): refused
    qtbot.waitUntil(lambda: bool(warnings_shown), timeout=5000)
    assert "Edge TPU" in warnings_shown[-1]
    assert window.delegate_actions[Delegate.CPU].isChecked()
    window.set_delegate(Delegate.AUTO)
    qtbot.waitUntil(lambda: window.options.delegate is Delegate.AUTO, timeout=10000)
    wait_for_label(qtbot, window, "red")


def test_switch_source_and_survive_a_bad_one(qtbot, make_window, tmp_path, warnings_shown):
    red = write_video(tmp_path / "r.mp4", ["red"] * 150)
    blue = write_video(tmp_path / "b.mp4", ["blue"] * 150)
    window = make_window()
    window.open_source(str(red))
    wait_for_label(qtbot, window, "red")
    window.open_source(str(tmp_path / "missing.mp4"))
    qtbot.waitUntil(lambda: bool(warnings_shown), timeout=5000)
    assert "source not found" in warnings_shown[0]
    wait_for_label(qtbot, window, "red")  # still running on the old source
    window.open_source(str(blue))
    wait_for_label(qtbot, window, "blue")
    qtbot.waitUntil(lambda: window.stats.text("source") == str(blue), timeout=2000)
    assert window.settings.source() == str(blue)


def test_snapshot_writes_png_and_json(qtbot, make_window, tmp_path):
    video = write_video(tmp_path / "v.mp4", ["green"] * 90)
    window = make_window()
    window.open_source(str(video))
    wait_for_label(qtbot, window, "green")
    image_path, json_path = window.snapshot()
    assert image_path.read_bytes().startswith(b"\x89PNG")
    record = json.loads(json_path.read_text())
    assert record["predictions"][0]["label"] == "green"
    assert record["source"] == str(video)
    assert image_path.stem == json_path.stem


def test_pause_mirror_and_fullscreen(qtbot, make_window, tmp_path):
    video = write_video(tmp_path / "v.mp4", ["red"] * 300)
    window = make_window()
    window.open_source(str(video))
    wait_for_label(qtbot, window, "red")
    window.pause_action.trigger()
    assert window.session.paused
    qtbot.wait(100)  # a frame read before the pause may still arrive
    frozen = captured(window)
    qtbot.wait(300)
    assert captured(window) == frozen
    window.pause_action.trigger()
    qtbot.waitUntil(lambda: captured(window) > frozen, timeout=2000)
    window.mirror_action.trigger()
    assert window.view.mirror and window.settings.mirror()
    window.fullscreen_action.trigger()
    assert window.isFullScreen() or window.windowState()  # offscreen may ignore the request
    window.fullscreen_action.trigger()


def test_dropped_stream_retries_and_resumes(qtbot, make_window, tmp_path, http_server):
    url, _ = http_server
    write_video(tmp_path / "s.mp4", ["blue"] * 10)
    live = LiveSession(Classifier(ClassifierOptions(model=COLOR, delegate="cpu")), reconnect_s=0.3)
    window = make_window(live=live)
    messages = []
    window.session.status.connect(messages.append)
    window.open_source(f"{url}/s.mp4")
    qtbot.waitUntil(lambda: any("retrying" in m for m in messages), timeout=5000)
    qtbot.waitUntil(lambda: any(m.endswith("is back") for m in messages), timeout=5000)
    wait_for_label(qtbot, window, "blue")


def test_video_end_is_looped(qtbot, make_window, tmp_path):
    video = write_video(tmp_path / "short.mp4", ["red"] * 5)
    window = make_window()
    window.open_source(str(video))
    qtbot.waitUntil(lambda: captured(window) > 12, timeout=3000)


def test_slow_inference_does_not_slow_the_display(qtbot, make_window, tmp_path):
    class Slow:
        def __init__(self, inner):
            self.inner = inner
            self.__dict__.update(
                {
                    k: getattr(inner, k)
                    for k in ("labels", "input_spec", "input_size", "name", "runtime", "delegate")
                }
            )

        def classify(self, image, frame_timestamp=None, frame_index=None):
            time.sleep(0.25)
            return self.inner.classify(image, frame_timestamp, frame_index)

        def close(self):
            self.inner.close()

    video = write_video(tmp_path / "v.mp4", ["red"] * 300, fps=30)
    inner = Classifier(ClassifierOptions(model=COLOR, delegate="cpu"))
    window = make_window(classifier=Slow(inner))
    window.open_source(str(video))
    qtbot.wait(2500)
    display = window.view.display_fps()
    stats = window.live.stats()
    assert display > 20, display  # painted at the source's ~30 fps
    assert stats.inference_fps < 5
    assert stats.frames_dropped > 20  # inference skipped frames instead of queueing them


def test_closing_stops_every_worker_within_a_second(qtbot, make_window, tmp_path):
    video = write_video(tmp_path / "v.mp4", ["red"] * 300)
    window = make_window()
    window.open_source(str(video))
    wait_for_label(qtbot, window, "red")
    start = time.monotonic()
    window.close()
    assert time.monotonic() - start < 1.0
    qtbot.waitUntil(
        lambda: not [t for t in threading.enumerate() if t.name.startswith("edgecam-")],
        timeout=1000,
    )


def test_broken_settings_are_ignored_with_a_notice(settings, tmp_path, caplog):
    settings.set("model", str(tmp_path / "gone.tflite"))
    settings.set("delegate", "quantum")
    settings.set("threads", "many")
    settings.set("threshold", "7")
    caplog.set_level("WARNING", logger="edgecam")
    saved = settings.saved_options()
    assert saved.model is None and saved.delegate is None
    assert saved.threads is None and saved.threshold is None
    notes = [r.getMessage() for r in caplog.records]
    assert len(notes) == 4, notes
    assert any("gone.tflite no longer exists" in n for n in notes)
    assert settings.store.value("delegate") is None  # dropped, so the notice shows once


def test_display_detection(monkeypatch):
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    assert display_problem() is None
    monkeypatch.delenv("QT_QPA_PLATFORM")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert "no display" in display_problem()
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    assert display_problem() is None


def test_a_slow_model_load_keeps_the_window_responsive(qtbot, make_window, tmp_path):
    """Loading a model (seconds for a GPU probe or an Edge TPU) never blocks the event loop."""

    def slow_factory(options):
        time.sleep(1.0)
        return Classifier(options)

    video = write_video(tmp_path / "v.mp4", ["red"] * 300)
    live = LiveSession(
        Classifier(ClassifierOptions(model=COLOR, delegate="cpu")),
        classifier_factory=slow_factory,
        loop_files=True,
    )
    window = make_window(live=live)
    window.open_source(str(video))
    wait_for_label(qtbot, window, "red")
    ticks: list[float] = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start(10)
    started = time.monotonic()
    window.load_classifier(ClassifierOptions(model=FIXTURES / "bundle_int8", delegate="cpu"))
    assert time.monotonic() - started < 0.1  # the call returns at once
    qtbot.waitUntil(lambda: window.stats.text("model").startswith("color-fixture"), timeout=5000)
    timer.stop()
    assert ticks[-1] - ticks[0] >= 0.9  # the timer ran through the whole load
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert max(gaps) < 0.1, max(gaps)
    wait_for_label(qtbot, window, "red")  # the new model classifies the same video


def _app_env(tmp_path) -> dict:
    # QSettings' file lives in XDG_CONFIG_HOME.
    return cli_env(QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "config"))


def test_ctrl_c_closes_the_window_and_broken_settings_are_noted(tmp_path):
    """A real `edgecam run` window: saved settings that no longer make sense are each noted,
    and Ctrl-C closes it like the close button (settings saved, exit 130, no traceback)."""
    config = tmp_path / "config" / "edgecam"
    config.mkdir(parents=True)
    ini = config / "edgecam.conf"
    ini.write_text(
        "[General]\nmodel=/gone/model.tflite\ndelegate=quantum\nthreads=many\n"
        "top_k=99\nthreshold=7\n"
    )
    video = write_video(tmp_path / "v.mp4", ["red"] * 60)
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgecam", "-v", "run", "--source", str(video), "--model", COLOR],
        stderr=subprocess.PIPE,
        text=True,
        env=_app_env(tmp_path),
        cwd=CLI_CWD,
    )
    watchdog = threading.Timer(60, proc.kill)
    watchdog.start()
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if "window open" in line:
            break
    time.sleep(0.5)  # a few frames through the pipeline
    proc.send_signal(signal.SIGINT)
    rest = proc.stderr.read()
    status = proc.wait()
    watchdog.cancel()
    stderr = "".join(seen) + rest
    assert status == 130, stderr
    assert "Traceback" not in stderr
    for key in ("model", "delegate", "threads", "top_k", "threshold"):
        assert f"edgecam: note: ignored the saved {key}" in stderr, stderr
    assert "geometry" in ini.read_text()  # closed like the close button: geometry saved
