"""Small pictures of captured frames, made once per capture."""

from __future__ import annotations

import numpy as np
from PyQt6.QtCore import QSize, Qt
from PyQt6.QtGui import QIcon, QImage, QPixmap

THUMB = QSize(72, 54)


def thumbnail(bgr: np.ndarray, size: QSize = THUMB) -> QIcon:
    """``bgr`` scaled to fit ``size`` (the scaled image owns its pixels: no copy kept)."""
    data = np.ascontiguousarray(bgr)
    height, width = data.shape[:2]
    image = QImage(data.data, width, height, data.strides[0], QImage.Format.Format_BGR888)
    scaled = image.scaled(
        size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
    )
    return QIcon(QPixmap.fromImage(scaled))


class ThumbnailCache:
    """Icons by capture id, so switching classes does not rescale every frame again."""

    def __init__(self) -> None:
        self._icons: dict[int, QIcon] = {}

    def get(self, capture_id: int, bgr: np.ndarray) -> QIcon:
        icon = self._icons.get(capture_id)
        if icon is None:
            icon = self._icons[capture_id] = thumbnail(bgr)
        return icon

    def forget(self, capture_id: int) -> None:
        self._icons.pop(capture_id, None)

    def clear(self) -> None:
        self._icons.clear()
