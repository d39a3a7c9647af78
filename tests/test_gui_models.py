"""The window's Models menu and first-run banner with pytest-qt (offscreen), against a real
HTTP server on 127.0.0.1 and a test catalogue (EDGECAM_CATALOGUE, EDGECAM_HOME in tmp_path):
a download switched in, a cancelled one (nothing installed, the window never froze), a
checksum failure (a clear message, the old model stays), the banner and its dismissal."""

from __future__ import annotations

import hashlib
import http.server
import itertools
import threading
import time

import pytest
from conftest import FIXTURES
from model_server import entry, model_server_fixture, write_catalogue  # noqa: F401

pytest.importorskip("PyQt6.QtWidgets", reason="PyQt6 is not installed (the gui extra)")
pytest.importorskip("pytestqt", reason="pytest-qt is not installed")

from fakes import FakeSource
from gui_fixtures import make_window_fixture, settings_fixture, warnings_shown_fixture  # noqa: F401
from PyQt6.QtCore import Qt, QTimer
from PyQt6.QtWidgets import QPushButton

from edgecam.catalogue import ModelStore, load_catalogue
from edgecam.catalogue.progress import megabytes
from edgecam.defaults import bundled_model, demo_clip
from edgecam.gui.models_menu import GENERAL_MODEL, TEACH_EMBEDDER

pytestmark = pytest.mark.gui
COLOR = (FIXTURES / "color_float32.tflite").read_bytes()
EMBEDDER = (FIXTURES / "teach_embedder_uint8.tflite").read_bytes()
BIG = bytes(itertools.islice(itertools.cycle(range(251)), 1 << 20))  # 1 MiB, served slowly


class Trickle:
    """An HTTP server on 127.0.0.1 sending ``data`` in 16 KiB pieces, 25 ms apart (1 MiB in
    about 1.6 s): slow enough to cancel a download half-way."""

    def __init__(self, data: bytes) -> None:
        stop = self.stop = threading.Event()

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                for i in range(0, len(data), 16384):
                    if stop.wait(0.025):
                        return
                    try:
                        self.wfile.write(data[i : i + 16384])
                    except OSError:
                        return

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/big.tflite"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()


BUNDLE = FIXTURES / "bundle_int8"
SIZE = (1000, 640)


@pytest.fixture
def trickle():
    server = Trickle(BIG)
    yield server
    server.close()


@pytest.fixture
def home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("EDGECAM_HOME", str(home))
    return home


@pytest.fixture
def catalogue(tmp_path, monkeypatch, model_server, home, trickle):
    """Four entries: two good ones (one named as the banner's general model), a damaged one
    (wrong SHA-256) and a slow big one, plus the teach embedder."""
    good = model_server.add("color.tflite", COLOR)
    emb = model_server.add("emb.tflite", EMBEDDER)
    bad = entry("damaged", good, COLOR)
    bad["sha256"] = hashlib.sha256(b"something else").hexdigest()
    path = write_catalogue(
        tmp_path / "test-catalogue.json",
        [
            entry(GENERAL_MODEL, good, COLOR, task="ImageNet objects"),
            entry("colors", good, COLOR),
            bad,
            entry("slow-big", trickle.url, BIG),
            entry(TEACH_EMBEDDER, emb, EMBEDDER, kind="embedder", task="features"),
        ],
    )
    monkeypatch.setenv("EDGECAM_CATALOGUE", str(path))
    return load_catalogue()


def notes(window, monkeypatch) -> list[str]:
    seen: list[str] = []
    original = window.notify
    monkeypatch.setattr(window, "notify", lambda text: (seen.append(text), original(text)))
    return seen


def test_menu_lists_the_catalogue_and_a_download_is_switched_in(
    qtbot, make_window, catalogue, home, warnings_shown
):
    window = make_window(model=BUNDLE, size=SIZE)
    window.models.rebuild()
    actions = window.models.actions
    assert set(actions) == {e.name for e in catalogue.entries}
    assert "download" in actions["colors"].text() and not actions["colors"].isChecked()
    assert "features" in actions[TEACH_EMBEDDER].text()
    actions["colors"].trigger()
    qtbot.waitUntil(lambda: window.stats.text("model").startswith("colors "), timeout=10000)
    assert window.models.dialog is None  # closed
    assert not warnings_shown
    store = ModelStore()
    assert store.is_downloaded(catalogue.get("colors"))
    assert window.options.model == store.path(catalogue.get("colors"))
    assert window.settings.model() == store.path(catalogue.get("colors"))  # kept for next time
    window.models.rebuild()
    assert "downloaded" in window.models.actions["colors"].text()
    assert window.models.actions["colors"].isChecked()
    # The teach panel offers the catalogue's embedder while it is missing; it goes to the
    # panel, not to the live view.
    panel = window.show_teach(True).panel
    assert panel.embedder is None and "not downloaded" in panel.embedder_label.text()
    assert panel.download_button.isVisible()
    assert panel.download_button.text().startswith(f"Download {TEACH_EMBEDDER}")
    qtbot.mouseClick(panel.download_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.embedder is not None, timeout=10000)
    assert panel.embedder == store.path(catalogue.get(TEACH_EMBEDDER))
    assert not panel.download_button.isVisible()
    assert window.session.classifier.name == "colors"
    # From the menu, once downloaded: straight to the panel, no download.
    panel.set_embedder(None)
    window.models.rebuild()
    assert "downloaded" in window.models.actions[TEACH_EMBEDDER].text()
    window.models.actions[TEACH_EMBEDDER].trigger()
    assert window.models.dialog is None
    assert panel.embedder == store.path(catalogue.get(TEACH_EMBEDDER))


def test_a_cancelled_download_leaves_nothing_and_the_window_never_froze(
    qtbot, make_window, catalogue, home, warnings_shown, monkeypatch
):
    window = make_window(model=BUNDLE, size=SIZE)
    seen = notes(window, monkeypatch)
    ticks: list[float] = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start(10)
    big = catalogue.get("slow-big")
    future = window.models.fetch(big, window.use_model)
    dialog = window.models.dialog
    assert dialog is not None and dialog.isVisible()
    qtbot.waitUntil(lambda: 100 < dialog.value() < 900, timeout=10000)  # part-way
    qtbot.mouseClick(dialog.findChild(QPushButton), Qt.MouseButton.LeftButton)  # Cancel
    qtbot.waitUntil(future.done, timeout=5000)
    qtbot.waitUntil(lambda: window.models.dialog is None, timeout=2000)
    timer.stop()
    assert any("cancelled" in s for s in seen), seen
    assert not warnings_shown  # a cancel is not an error
    store = ModelStore()
    assert not store.path(big).exists()  # nothing half-installed
    assert not store.is_downloaded(big)
    assert window.session.classifier.name == "color-fixture"  # the old model stays
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert len(ticks) > 20 and max(gaps) < 0.25, max(gaps)


def test_a_checksum_failure_is_a_clear_message_and_the_old_model_stays(
    qtbot, make_window, catalogue, home, warnings_shown
):
    window = make_window(model=BUNDLE, size=SIZE)
    window.models.rebuild()
    window.models.actions["damaged"].trigger()
    qtbot.waitUntil(lambda: bool(warnings_shown), timeout=10000)
    assert "checksum mismatch" in warnings_shown[0]
    assert "The current model stays" in warnings_shown[0]
    assert window.models.dialog is None
    assert not ModelStore().path(catalogue.get("damaged")).exists()
    time.sleep(0.2)  # no load was started behind the message
    assert window.session.classifier.name == "color-fixture"
    assert window.stats.text("model").startswith("color-fixture")


def camera_window(make_window):
    """The bundled model on a (fake) camera, as on a laptop's first run."""
    window = make_window(model=bundled_model(), size=SIZE)
    camera = FakeSource()
    window.live.start(camera)
    window.update_banner()
    return window, camera


@pytest.mark.skipif(not bundled_model().exists(), reason="no bundled model (make default-model)")
def test_banner_on_a_camera_offers_a_general_model_and_teaching(
    qtbot, make_window, catalogue, home, settings, warnings_shown
):
    window, _camera = camera_window(make_window)
    assert window.banner.isVisible()
    assert "ten kinds of clothing" in window.banner.label.text()
    # The size is the catalogue entry's (here the colour fixture's), in the CLI's units.
    size = megabytes(catalogue.get(GENERAL_MODEL).size)
    assert window.banner.download_button.text() == f"Download a general model (ImageNet, {size})"
    qtbot.mouseClick(window.banner.teach_button, Qt.MouseButton.LeftButton)
    assert window.teach is not None and window.teach.isVisible()
    qtbot.mouseClick(window.banner.download_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.stats.text("model").startswith(GENERAL_MODEL), timeout=10000)
    assert not window.banner.isVisible()  # another model: the banner has nothing to say
    assert not settings.banner_dismissed()  # ... but it was not dismissed


@pytest.mark.skipif(not bundled_model().exists(), reason="no bundled model (make default-model)")
def test_banner_dismissal_is_remembered_and_no_banner_on_the_demo_clip(
    qtbot, make_window, settings
):
    window, _camera = camera_window(make_window)
    assert window.banner.isVisible()
    qtbot.mouseClick(window.banner.close_button, Qt.MouseButton.LeftButton)
    assert not window.banner.isVisible()
    assert settings.banner_dismissed()
    window.close()
    again, _camera = camera_window(make_window)  # the same saved settings
    assert not again.banner.isVisible()
    settings.set("banner_dismissed", False)
    on_clip = make_window(model=bundled_model(), size=SIZE)
    on_clip.live.start(str(demo_clip()))
    on_clip.update_banner()
    assert not on_clip.banner.isVisible()  # clothing on the clothing model: nothing to say
