"""The window's parts: the video view, the predictions panel and the stats panel."""

from __future__ import annotations

import time
from collections import deque

import numpy as np
from PyQt6.QtCore import QRectF, Qt
from PyQt6.QtGui import QColor, QFont, QImage, QPainter
from PyQt6.QtWidgets import QFormLayout, QLabel, QProgressBar, QVBoxLayout, QWidget

from edgecam.defaults import THRESHOLD
from edgecam.vision.types import Classification

UNCERTAIN = "uncertain"


class VideoView(QWidget):
    """Paints the newest frame, scaled to fit with its aspect ratio kept (black bars)."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setMinimumSize(320, 240)
        self.mirror = False
        self.message = "starting..."
        self._frame: np.ndarray | None = None
        self._paints: deque[float] = deque(maxlen=60)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)

    def show_frame(self, bgr: np.ndarray) -> None:
        self._frame = bgr  # the pipeline never reuses a frame's array, so no copy is needed
        self.message = ""
        self.update()

    def show_message(self, text: str) -> None:
        self.message = text
        self.update()

    @property
    def frame(self) -> np.ndarray | None:
        return self._frame

    def display_fps(self) -> float:
        """Frames painted per second over the last 60 paints."""
        if len(self._paints) < 2:
            return 0.0
        span = self._paints[-1] - self._paints[0]
        return (len(self._paints) - 1) / span if span > 0 else 0.0

    def target_rect(self, width: int, height: int) -> QRectF:
        """Where a ``width`` x ``height`` frame goes: as large as fits, centred."""
        scale = min(self.width() / width, self.height() / height)
        w, h = width * scale, height * scale
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("black"))
        frame = self._frame
        if frame is not None and not self.message:
            height, width = frame.shape[:2]
            data = np.ascontiguousarray(frame)
            image = QImage(data.data, width, height, data.strides[0], QImage.Format.Format_BGR888)
            if self.mirror:
                image = image.mirrored(True, False)
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            painter.drawImage(self.target_rect(width, height), image)
            self._paints.append(time.monotonic())
        if self.message:
            painter.setPen(QColor("white"))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.message)
        painter.end()


class PredictionPanel(QWidget):
    """Top-1 label in large type, then the top-k with scores and bars."""

    def __init__(self, rows: int = 5, parent=None) -> None:
        super().__init__(parent)
        self.threshold = THRESHOLD
        layout = QVBoxLayout(self)
        self.top_label = QLabel("—")
        font = QFont()
        font.setPointSize(22)
        font.setBold(True)
        self.top_label.setFont(font)
        self.top_label.setWordWrap(True)
        layout.addWidget(self.top_label)
        self.rows: list[tuple[QLabel, QProgressBar]] = []
        self._layout = layout
        self.set_rows(rows)
        layout.addStretch(1)

    def set_rows(self, count: int) -> None:
        while len(self.rows) > count:
            label, bar = self.rows.pop()
            label.deleteLater()
            bar.deleteLater()
        while len(self.rows) < count:
            label, bar = QLabel(""), QProgressBar()
            bar.setRange(0, 1000)
            bar.setTextVisible(False)
            bar.setMaximumHeight(10)
            index = 1 + 2 * len(self.rows)
            self._layout.insertWidget(index, label)
            self._layout.insertWidget(index + 1, bar)
            self.rows.append((label, bar))

    def show_result(self, result: Classification) -> None:
        top = result.top
        certain = top.score >= self.threshold
        self.top_label.setText(top.label if certain else UNCERTAIN)
        self.top_label.setToolTip(
            ""
            if certain
            else f"best guess {top.label} {top.score:.1%} is "
            f"below the {self.threshold:.0%} threshold"
        )
        for (label, bar), category in zip(self.rows, result.categories, strict=False):
            label.setText(f"{category.label}  {category.score:.1%}")
            bar.setValue(round(category.score * 1000))
        for label, bar in self.rows[len(result.categories) :]:
            label.setText("")
            bar.setValue(0)


class StatsPanel(QWidget):
    """Display FPS, inference FPS and ms, dropped frames, runtime, delegate, model."""

    FIELDS = (
        "display",
        "inference",
        "timings",
        "dropped",
        "model",
        "runtime",
        "delegate",
        "source",
    )

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        form = QFormLayout(self)
        self.values: dict[str, QLabel] = {}
        for name in self.FIELDS:
            value = QLabel("—")
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            value.setWordWrap(True)
            form.addRow(f"{name}:", value)
            self.values[name] = value

    def set(self, name: str, text: str) -> None:
        self.values[name].setText(text)

    def show_stats(self, display_fps: float, stats, latest) -> None:
        """The rates and the newest result's timings (``stats``: PipelineStats or None)."""
        self.set("display", f"{display_fps:.1f} fps")
        if stats is not None:
            self.set("inference", f"{stats.inference_fps:.1f} fps")
            self.set("dropped", f"{stats.frames_dropped} dropped, {stats.frames_skipped} skipped")
        if latest is not None:
            t = latest[0].timings
            self.set(
                "timings",
                f"{t.total_ms:.1f} ms (pre {t.preprocess_ms:.1f} / "
                f"invoke {t.inference_ms:.1f} / post {t.postprocess_ms:.1f})",
            )

    def text(self, name: str) -> str:
        return self.values[name].text()
