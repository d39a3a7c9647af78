"""The first-run banner: what the bundled model knows, and the two ways to more.

Shown above the video when a camera runs the bundled model (the demo clip is clothing, which
the bundled model does know, so there it would only be noise); dismissing it is remembered.
"""

from __future__ import annotations

from pathlib import Path

from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QToolButton

TEXT = (
    "<b>The bundled model knows ten kinds of clothing on a plain background</b> "
    "(Fashion-MNIST: T-shirts, trousers, bags, shoes...). Anything else will look like one "
    "of them."
)


def banner_wanted(model: Path, source, settings) -> bool:
    """A camera (not a file or stream) runs the bundled model, and no one dismissed this."""
    from edgecam.capture.sources import SourceKind
    from edgecam.defaults import bundled_model

    cameras = (SourceKind.CAMERA, SourceKind.PICAMERA)
    if source is None or source.kind not in cameras or settings.banner_dismissed():
        return False
    try:
        return Path(model).resolve() == bundled_model().resolve()
    except OSError:
        return False


class Banner(QFrame):
    """A dismissable strip with two offers; its signals say which was taken."""

    download = pyqtSignal()
    teach = pyqtSignal()
    dismissed = pyqtSignal()

    def __init__(self, general_size: str | None = None, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("first-run-banner")
        self.setStyleSheet(
            "#first-run-banner { background: #fff4c2; border-bottom: 1px solid #d9c26a; }"
            "#first-run-banner QLabel { color: #3d3200; }"
        )
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 6, 6)
        self.label = QLabel(TEXT)
        self.label.setWordWrap(True)
        layout.addWidget(self.label, 1)
        size = f", {general_size}" if general_size else ""
        self.download_button = QPushButton(f"Download a general model (ImageNet{size})")
        self.download_button.clicked.connect(self.download.emit)
        layout.addWidget(self.download_button)
        self.teach_button = QPushButton("Teach your own objects")
        self.teach_button.clicked.connect(self.teach.emit)
        layout.addWidget(self.teach_button)
        self.close_button = QToolButton()
        self.close_button.setText("✕")
        self.close_button.setToolTip("dismiss (for good)")
        self.close_button.setAutoRaise(True)
        self.close_button.clicked.connect(self._dismiss)
        layout.addWidget(self.close_button)
        self.hide()

    def _dismiss(self) -> None:
        self.hide()
        self.dismissed.emit()
