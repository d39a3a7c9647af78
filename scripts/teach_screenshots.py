"""Take docs/banner.png, docs/models-menu.png and docs/teach.png: the real window under Xvfb.

    make screenshot      # runs this (and scripts/screenshot.py) under xvfb-run

Fresh settings and a fresh models home in temporary folders. The "camera" is the distinct-objects
clip of benchmarks/teach_live.py played as a camera source (there is no webcam under Xvfb), so
the window behaves as on a laptop's first run: the bundled clothing model, and the banner.

* banner.png: the first-run banner over the bundled model calling a red ball a piece of clothing;
* models-menu.png: the Models menu open, after the teach embedder was downloaded from a local
  HTTP server (the catalogue's entries pointed at ../shared/models, the only copies here);
* teach.png: the teach panel with three classes of captures, taught on the shared embedder,
  the predictions panel showing the taught model live.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

SHARED = REPO.parent / "shared" / "models"
WORK = Path(tempfile.mkdtemp(prefix="edgecam-shots-"))
os.environ["EDGECAM_HOME"] = str(WORK / "home")

from PyQt6.QtCore import QSettings, Qt, QTimer  # noqa: E402
from PyQt6.QtGui import QImage  # noqa: E402
from PyQt6.QtWidgets import QApplication  # noqa: E402
from teach_live import CAPTURE_EVERY, KINDS, SEGMENT, decoded, write_clip  # noqa: E402

from edgecam.capture.sources import SourceKind, VideoFileSource  # noqa: E402
from edgecam.catalogue import load_catalogue  # noqa: E402
from edgecam.config import ClassifierOptions  # noqa: E402
from edgecam.defaults import bundled_model  # noqa: E402
from edgecam.files import atomic_write  # noqa: E402
from edgecam.gui.models_menu import TEACH_EMBEDDER  # noqa: E402
from edgecam.gui.session import QtSession  # noqa: E402
from edgecam.gui.settings import Settings  # noqa: E402
from edgecam.gui.window import MainWindow  # noqa: E402
from edgecam.live import LiveSession  # noqa: E402
from edgecam.vision.classifier import Classifier  # noqa: E402

NAMES = {"circle": "red ball", "star": "yellow star", "cross": "blue cross"}


class ClipCamera(VideoFileSource):
    """A video played as a camera would show it (the window then treats it as one)."""

    kind = SourceKind.CAMERA

    def __init__(self, path: Path) -> None:
        super().__init__(path, loop=True, pace=True)
        self.description = "camera 0"


def serve(folder: Path) -> str:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


def local_catalogue() -> None:
    """The package catalogue with the files ../shared/models has served from 127.0.0.1."""
    base = serve(SHARED)
    entries = []
    for entry in load_catalogue().entries:
        item = entry.to_json()
        name = item["url"].rsplit("/", 1)[-1]
        if (SHARED / name).exists():
            item["url"] = f"{base}/{name}"
        entries.append(item)
    path = WORK / "catalogue.json"
    path.write_text(json.dumps({"format_version": 1, "entries": entries}), encoding="utf-8")
    os.environ["EDGECAM_CATALOGUE"] = str(path)


def grab(window, target: Path, height: int | None = None) -> None:
    QApplication.processEvents()
    geometry = window.frameGeometry()
    pixmap = window.screen().grabWindow(
        0, geometry.x(), geometry.y(), geometry.width(), height or geometry.height()
    )
    # 256 colours, ordered dither: a quarter of the bytes of 24-bit, no visible loss on a UI.
    image = pixmap.toImage().convertToFormat(
        QImage.Format.Format_Indexed8, Qt.ImageConversionFlag.OrderedDither
    )
    atomic_write(target, lambda tmp: image.save(str(tmp), "PNG", 9))
    print(f"wrote {target} ({pixmap.width()}x{pixmap.height()}, {target.stat().st_size} bytes)")


def wait(app, predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit("timed out waiting for the window")
        app.processEvents()
        time.sleep(0.005)


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else REPO / "docs")
    embedder = SHARED / "mobilenet_v1_1.0_224_quant_embedding_extractor.tflite"
    if not embedder.exists() or not bundled_model().exists():
        print(f"skipped: needs {embedder} and the bundled model")
        return 0
    app = QApplication(["edgecam"])
    local_catalogue()
    # No sensor noise, unlike the benchmark's clip: noise would be most of a PNG's bytes.
    clip = write_clip(WORK / "objects.mp4", "distinct", noise=0.0)
    frames = decoded(clip)
    settings = Settings(QSettings(str(WORK / "settings.ini"), QSettings.Format.IniFormat))
    options = ClassifierOptions(model=bundled_model(), top_k=3)
    live = LiveSession(Classifier(options), loop_files=True)
    window = MainWindow(QtSession(live), options, settings, WORK / "snaps")
    window.resize(1100, 680)
    window.move(0, 0)
    window.show()
    live.start(ClipCamera(clip))
    window.stats.set("source", "camera 0")
    window.update_banner()
    # The red ball, for the clothing model: wait until its (wrong) answer shows.
    wait(app, lambda: window.predictions.top_label.text() not in ("—", ""))
    wait(app, lambda: window.stats.text("inference") != "—")  # the stats timer has run
    grab(window, out / "banner.png")

    # The Models menu, once the teach embedder is downloaded (from the local server).
    entry = load_catalogue().get(TEACH_EMBEDDER)
    window.models.fetch(entry, window.use_embedder)
    wait(app, lambda: window.teach is not None and window.teach.panel.embedder is not None, 60)
    window.teach.hide()
    window.banner.hide()
    bar = window.menuBar()
    action = window.models.menu.menuAction()
    bar.setActiveAction(action)
    QTimer.singleShot(300, lambda: None)
    wait(app, lambda: window.models.menu.isVisible(), 5)
    time.sleep(0.3)
    menu = window.models.menu.geometry()
    grab(window, out / "models-menu.png", height=max(window.height(), menu.bottom() + 10))
    window.models.menu.hide()

    # The teach panel: three classes, captures as the window takes them (every 6th frame).
    panel = window.show_teach(True).panel
    for s, kind in enumerate(KINDS):
        name = panel.captures.add_class(NAMES[kind])
        for i in range(12):
            panel.captures.add(name, frames[s * SEGMENT + i * CAPTURE_EVERY])
    panel.box.refresh(select=NAMES["star"])
    panel.teach_now()
    wait(app, lambda: window.stats.text("model").startswith("taught"), 60)
    wait(app, lambda: window.predictions.top_label.text() in NAMES.values(), 30)
    grab(window, out / "teach.png")
    window.close()
    live.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
