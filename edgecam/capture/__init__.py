"""Qt-free frame sources and the latest-frame slot."""

from edgecam.capture.slot import LatestFrameSlot
from edgecam.capture.sources import (
    CameraSource,
    Frame,
    FrameSource,
    ImageFolderSource,
    PiCameraSource,
    StreamSource,
    VideoFileSource,
    open_source,
)

__all__ = [
    "CameraSource",
    "Frame",
    "FrameSource",
    "ImageFolderSource",
    "LatestFrameSlot",
    "PiCameraSource",
    "StreamSource",
    "VideoFileSource",
    "open_source",
]
