"""Take docs/screenshot.png: the real app window under Xvfb, on the demo clip.

    make screenshot      # runs this under xvfb-run

Starts the app exactly as `edgecam run --source assets/demo/fashion.mp4` does (default model,
fresh settings in a temporary folder), waits until predictions are showing, grabs the window
from the X server and writes the PNG atomically.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from PyQt6.QtCore import QSettings, QTimer
from PyQt6.QtWidgets import QApplication

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from edgecam.defaults import bundled_model, demo_clip  # noqa: E402
from edgecam.files import atomic_write  # noqa: E402
from edgecam.gui.app import AppOptions, run_app  # noqa: E402
from edgecam.run_options import RunOptions  # noqa: E402

WAIT_MS = 5000


def main() -> int:
    target = Path(sys.argv[1] if len(sys.argv) > 1 else REPO / "docs" / "screenshot.png")
    app = QApplication(["edgecam"])
    # Fresh settings: the screenshot must not depend on this machine's saved state.
    QSettings.setPath(
        QSettings.Format.NativeFormat,
        QSettings.Scope.UserScope,
        tempfile.mkdtemp(prefix="edgecam-settings-"),
    )

    def grab() -> None:
        window = next(w for w in app.topLevelWidgets() if w.__class__.__name__ == "MainWindow")
        pixmap = window.screen().grabWindow(
            0,
            window.x(),
            window.y(),
            window.frameGeometry().width(),
            window.frameGeometry().height(),
        )
        atomic_write(target, lambda tmp: pixmap.save(str(tmp), "PNG"))
        print(
            f"wrote {target} ({pixmap.width()}x{pixmap.height()}), top label: "
            f"{window.predictions.top_label.text()}"
        )
        window.close()

    QTimer.singleShot(WAIT_MS, grab)
    model = bundled_model()
    if not model.exists():
        model = REPO / "tests/fixtures/color_float32.tflite"
    return run_app(
        AppOptions(
            given=RunOptions(model=model, top_k=5, source=str(demo_clip())),
            demo_clip=demo_clip(),
            snapshot_dir=Path(tempfile.mkdtemp()),
        )
    )


if __name__ == "__main__":
    sys.exit(main())
