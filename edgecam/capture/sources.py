"""Frame sources: a camera, a video file, an image folder, a stream URL, the Raspberry Pi camera.

Each source yields :class:`Frame` objects from ``read()`` and returns None when it has ended
normally (a video or folder that is done). Failures (a camera that does not open or is
unplugged, a stream that drops) raise :class:`~edgecam.errors.SourceError` with a hint.
Files and folders are paced at their frame rate by default, so they behave like a live camera.
"""

from __future__ import annotations

import enum
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgecam.defaults import FOLDER_FPS
from edgecam.errors import ConfigError, SourceError
from edgecam.imagefile import UnreadableImage, quiet_opencv, read_image_file
from edgecam.runtime.native import capture_native_stderr

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
STREAM_SCHEMES = ("rtsp://", "rtmp://", "http://", "https://", "udp://", "tcp://")
DEFAULT_VIDEO_FPS = 30.0  # when a file does not say
#: A video that ends more than this many frames (and this fraction of them) before its header's
#: frame count is damaged or truncated. Containers count a frame or two loosely; no more.
SHORT_VIDEO_FRAMES = 2
SHORT_VIDEO_FRACTION = 0.02
# FFmpeg (inside OpenCV) prints raw "[tcp @ 0x...]" lines for stream failures; our error says
# it better. OpenCV reads this when its FFmpeg backend first starts; -8 is AV_LOG_QUIET.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")


class SourceKind(str, enum.Enum):
    """What a source is; live ones keep running while paused and are reconnected when they drop."""

    CAMERA = "camera"
    VIDEO = "video"
    FOLDER = "folder"
    IMAGE = "image"
    STREAM = "stream"
    PICAMERA = "picamera"

    @property
    def live(self) -> bool:
        return self in (SourceKind.CAMERA, SourceKind.STREAM, SourceKind.PICAMERA)

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Frame:
    """One captured image, owned by whoever holds it (sources never reuse the array)."""

    bgr: np.ndarray
    timestamp: float  # time.monotonic() at capture
    index: int  # 0-based position in the source's output
    origin: str | None = None  # the image file it came from (folders), else None


class FrameSource:
    """Base class. Subclasses implement ``_open``, ``_read`` and ``_close``.

    A file source (video, folder, image) that is not paced is read losslessly by the pipeline:
    every frame is classified, none dropped.
    """

    kind: SourceKind

    def __init__(self, description: str, fps: float | None = None, pace: bool = False) -> None:
        self.description = description
        self.fps = fps
        self.pace = pace
        self.frames_read = 0
        self.skipped = 0  # unreadable items passed over (image folders)
        self._next_due: float | None = None
        self._opened = False

    def open(self) -> FrameSource:
        """Open the device or file. Raises SourceError when it cannot be."""
        if not self._opened:
            self._open()
            self._opened = True
        return self

    def read(self) -> Frame | None:
        """The next frame, or None when the source has ended."""
        if not self._opened:
            self.open()
        image = self._read()
        if image is None:
            return None
        if self.pace and self.fps:
            self._wait_for_slot()
        frame = Frame(image, time.monotonic(), self.frames_read, self._origin())
        self.frames_read += 1
        return frame

    @property
    def lossless(self) -> bool:
        """True when every frame should be classified (an unpaced file source)."""
        return not self.kind.live and not self.pace

    def _origin(self) -> str | None:
        return None

    def close(self) -> None:
        if self._opened:
            self._close()
            self._opened = False

    def _wait_for_slot(self) -> None:
        # Deadline-based pacing: decode time does not add up into drift.
        now = time.monotonic()
        if self._next_due is None or now - self._next_due > 1.0:
            self._next_due = now
        elif self._next_due > now:
            time.sleep(self._next_due - now)
        self._next_due += 1.0 / self.fps

    def __enter__(self) -> FrameSource:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.description}>"

    def _open(self) -> None:
        raise NotImplementedError

    def _read(self) -> np.ndarray | None:
        raise NotImplementedError

    def _close(self) -> None:
        pass


# OpenCV's WARN lines for a camera that does not open or an image that does not decode say less
# than our errors; shared with edgecam.imagefile, which reads the folders' images.
_quiet_opencv = quiet_opencv


class _OpenCvSource(FrameSource):
    """Shared handling of cv2.VideoCapture for cameras, files and streams."""

    def __init__(self, target: int | str, description: str, **kwargs) -> None:
        super().__init__(description, **kwargs)
        self.target = target
        self._cap = None

    def _capture(self):
        import cv2

        _quiet_opencv(cv2)
        cap = cv2.VideoCapture(self.target)
        if not cap.isOpened():
            cap.release()
            return None
        return cap

    def _close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class CameraSource(_OpenCvSource):
    """A local camera by index (0 is the default webcam)."""

    kind = SourceKind.CAMERA

    def __init__(self, index: int, width: int | None = None, height: int | None = None) -> None:
        super().__init__(index, f"camera {index}")
        self.size = (width, height)

    def _open(self) -> None:
        import cv2

        self._cap = self._capture()
        if self._cap is None:
            raise SourceError(
                f"camera {self.target} could not be opened",
                "check it is plugged in and not used by another program (Linux: "
                "ls /dev/video*, user in the 'video' group), or use --source FILE",
            )
        width, height = self.size
        if width and height:
            self._cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
            self._cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        fps = self._cap.get(cv2.CAP_PROP_FPS)
        self.fps = fps if fps and fps > 0 else None

    def _read(self) -> np.ndarray | None:
        ok, image = self._cap.read()
        if not ok or image is None:
            raise SourceError(
                f"camera {self.target} stopped delivering frames after "
                f"{self.frames_read} frames (unplugged?)",
                "reconnect the camera and start again",
            )
        return image


class VideoFileSource(_OpenCvSource):
    """A video file, paced at its own frame rate unless ``pace=False``."""

    kind = SourceKind.VIDEO

    def __init__(self, path: str | Path, loop: bool = False, pace: bool = True) -> None:
        self.path = Path(path)
        super().__init__(str(self.path), str(self.path), pace=pace)
        self.loop = loop
        self.ended = False
        self.expected_frames: int | None = None  # what the file's header says, when it does
        self._pass_frames = 0  # frames read since the start or the last rewind
        self._said_short = False

    def _open(self) -> None:
        import cv2

        if not self.path.exists():
            raise SourceError(f"video not found: {self.path}", "check the --source path")
        if not self.path.is_file():
            raise SourceError(
                f"{self.path} is not a regular file", "give a video file, an image folder or a URL"
            )
        # OpenCV's own container readers print lines such as "Unexpected element. Expected:
        # LIST" for a damaged AVI, beside our one-line error; wait=False as for decoding.
        with capture_native_stderr(wait=False):
            self._cap = self._capture()
        if self._cap is None:
            raise SourceError(
                f"{self.path} cannot be opened as a video",
                "use a file OpenCV can decode (mp4v/MJPG .mp4/.avi, or an image folder)",
            )
        fps = self._cap.get(cv2.CAP_PROP_FPS)
        self.fps = fps if fps and 0 < fps < 1000 else DEFAULT_VIDEO_FPS
        count = self._cap.get(cv2.CAP_PROP_FRAME_COUNT)
        self.expected_frames = int(count) if count and 0 < count < 2**31 else None

    def _read(self) -> np.ndarray | None:
        import cv2

        # No capture per frame (it costs ~30 µs and would swallow other threads' lines): the
        # decoders' messages are silenced by OPENCV_FFMPEG_LOGLEVEL, set above.
        ok, image = self._cap.read()
        if ok and image is not None:
            self._pass_frames += 1
            return image
        if self.frames_read == 0:
            raise SourceError(
                f"{self.path} holds no readable frames (empty or corrupt)",
                "check the file plays in a video player",
            )
        self._check_length()
        if self.loop and self._pass_frames > 0:
            with capture_native_stderr(wait=False):
                self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                ok, image = self._cap.read()
            self._pass_frames = 0
            if ok and image is not None:
                self._pass_frames = 1
                return image
        self.ended = True
        return None

    def _check_length(self) -> None:
        """A file that stops well before the frame count its header gives is damaged."""
        expected, got = self.expected_frames, self._pass_frames
        if expected is None or expected - got <= max(
            SHORT_VIDEO_FRAMES, expected * SHORT_VIDEO_FRACTION
        ):
            return
        message = (
            f"{self.path} stopped after {got} of its {expected} frames: "
            "the file is damaged or truncated"
        )
        if not self.loop:
            raise SourceError(message, "check it plays in a video player; copy or encode it again")
        if not self._said_short:  # looping: say it once and play what there is
            self._said_short = True
            log.warning("%s; playing the readable part again", message)


class StreamSource(_OpenCvSource):
    """A network stream (RTSP, HTTP MJPEG or video, ...) read through OpenCV's FFmpeg."""

    kind = SourceKind.STREAM

    def _open(self) -> None:
        import cv2

        self._cap = self._capture()
        if self._cap is None:
            raise SourceError(
                f"stream {self.target} could not be opened",
                "check the URL, that the server is up and reachable",
            )
        fps = self._cap.get(cv2.CAP_PROP_FPS)
        self.fps = fps if fps and 0 < fps < 1000 else None

    def _read(self) -> np.ndarray | None:
        ok, image = self._cap.read()
        if not ok or image is None:
            raise SourceError(
                f"stream {self.target} stopped after {self.frames_read} frames",
                "check the network and the server, then start again",
            )
        return image


class ImageFolderSource(FrameSource):
    """The images in a folder (sorted by name), shown at ``fps``; unreadable files are skipped."""

    kind = SourceKind.FOLDER

    def __init__(
        self,
        path: str | Path,
        fps: float = FOLDER_FPS,
        loop: bool = False,
        pace: bool = True,
    ) -> None:
        self.path = Path(path)
        super().__init__(str(self.path), fps=fps, pace=pace)
        self.loop = loop
        self._files: list[Path] = []
        self._position = 0
        self._current: Path | None = None
        self._warned: set[Path] = set()

    def _open(self) -> None:
        if not self.path.is_dir():
            raise SourceError(f"image folder not found: {self.path}", "check the --source path")
        self._files = sorted(
            p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
        )
        if not self._files:
            raise SourceError(
                f"{self.path} holds no images",
                f"put {', '.join(sorted(IMAGE_EXTENSIONS))} files in it",
            )

    def _read(self) -> np.ndarray | None:
        misses_in_a_row = 0
        while True:
            if self._position >= len(self._files):
                if not self.loop or misses_in_a_row >= len(self._files):
                    return self._end()
                self._position = 0
            path = self._files[self._position]
            self._position += 1
            try:
                image = read_image_file(path)
            except UnreadableImage as exc:
                self._check_folder()
                reason = exc.short_reason
            else:
                self._current = path
                return image
            self.skipped += 1
            misses_in_a_row += 1
            if path not in self._warned:  # once per file, also when looping
                self._warned.add(path)
                log.warning("skipped %s: %s", path, reason)

    def _check_folder(self) -> None:
        """A folder removed (or unmounted) while it is read ends the source with an error."""
        if self.kind is SourceKind.FOLDER and not self.path.is_dir():
            raise SourceError(
                f"{self.path} disappeared after {self.frames_read} of its "
                f"{len(self._files)} images (removed or unmounted?)",
                "check the folder, then start again",
            )

    def _end(self) -> None:
        if self.frames_read == 0 and self.skipped:
            what = "image" if len(self._files) == 1 else f"{len(self._files)} images"
            raise SourceError(
                f"{self.path}: no readable image (the {what} could not be decoded)",
                "use JPEG, PNG, BMP, WebP or TIFF files",
            )
        return None

    def _origin(self) -> str | None:
        return str(self._current) if self._current is not None else None


class PiCameraSource(FrameSource):
    """The Raspberry Pi camera through Picamera2 (installed with the OS: python3-picamera2)."""

    kind = SourceKind.PICAMERA

    def __init__(self, width: int = 640, height: int = 480) -> None:
        super().__init__("Raspberry Pi camera")
        self.size = (width, height)
        self._camera = None

    def _open(self) -> None:
        try:
            from picamera2 import Picamera2
        except ImportError:
            raise SourceError(
                "the Raspberry Pi camera needs Picamera2, which is not installed",
                "on Raspberry Pi OS: sudo apt install python3-picamera2, and create "
                "the venv with --system-site-packages",
            ) from None
        try:
            camera = Picamera2()
            config = camera.create_video_configuration(main={"size": self.size, "format": "RGB888"})
            camera.configure(config)
            camera.start()
        except Exception as exc:
            raise SourceError(
                f"the Raspberry Pi camera could not start ({exc})",
                "check the ribbon cable and that no other program uses it",
            ) from None
        self._camera = camera

    def _read(self) -> np.ndarray | None:
        try:
            # libcamera names formats by word order: "RGB888" arrives as B, G, R bytes, which
            # is OpenCV's BGR.
            return self._camera.capture_array("main")[:, :, :3].copy()
        except Exception as exc:
            raise SourceError(
                f"the Raspberry Pi camera stopped ({exc})", "check the cable, then start again"
            ) from None

    def _close(self) -> None:
        if self._camera is not None:
            self._camera.stop()
            self._camera.close()
            self._camera = None


def open_source(
    spec: str | int, *, loop: bool = False, pace: bool = True, fps: float | None = None
) -> FrameSource:
    """Build (not yet open) the source a ``--source`` value names.

    ``spec``: a camera index (``0``), ``picamera``, a stream URL, an image folder, a video file,
    or a single image file. ``fps`` paces image folders and single images; videos and cameras
    have their own rate, so giving it for them is an error rather than silently ignored.

    Raises:
        SourceError: the path does not exist.
        ConfigError: ``fps`` for a source that has its own frame rate.
    """
    text = str(spec).strip()
    source = _build_source(text, loop=loop, pace=pace, fps=fps)
    if fps is not None and source.kind not in (SourceKind.FOLDER, SourceKind.IMAGE):
        raise ConfigError(
            f"--fps applies to image folders and images, not to a {source.kind} source",
            "a video, camera or stream runs at its own frame rate; leave --fps out",
        )
    return source


def _build_source(text: str, *, loop: bool, pace: bool, fps: float | None) -> FrameSource:
    if text.isdigit():
        return CameraSource(int(text))
    if text.lower() == "picamera":
        return PiCameraSource()
    if text.lower().startswith(STREAM_SCHEMES):
        return StreamSource(text, text)
    path = Path(text).expanduser()
    if path.is_dir():
        return ImageFolderSource(path, fps=fps or FOLDER_FPS, loop=loop, pace=pace)
    if not path.exists():
        raise SourceError(
            f"source not found: {text}",
            "give a camera index (0), a video file, an image folder or a URL",
        )
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        return SingleImageSource(path, fps=fps or FOLDER_FPS, loop=loop, pace=pace)
    return VideoFileSource(path, loop=loop, pace=pace)


class SingleImageSource(ImageFolderSource):
    """One image file as a (possibly looping) source."""

    kind = SourceKind.IMAGE

    def _open(self) -> None:
        if not self.path.exists():
            raise SourceError(f"image not found: {self.path}", "check the --source path")
        if not self.path.is_file():
            raise SourceError(f"{self.path} is not a regular file", "give an image file")
        self._files = [self.path]
