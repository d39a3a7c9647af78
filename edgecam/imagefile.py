"""Read one image file safely: every way it can fail is an :class:`ImageError`, nothing leaks.

``classify`` and the image-folder sources read files a user collected: damaged, truncated,
mislabelled, enormous, or not files at all (a FIFO named ``x.jpg`` blocks any reader that
opens it for reading). Here a file is opened without blocking, must be a regular file of a
sane size, and is decoded by OpenCV with the decoders' own stderr lines ("Corrupt JPEG data",
"libpng error") captured: the caller reports one clear line per file instead.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np

from edgecam import logs
from edgecam.errors import ImageError

#: Files larger than this are not read: no photo is, and reading one would exhaust memory.
MAX_IMAGE_BYTES = 512 * 2**20
_FORMATS = "use a JPEG, PNG, BMP, WebP or TIFF file"


class UnreadableImage(ImageError):
    """An image file that cannot be used; ``reason`` is the message without the path."""

    def __init__(self, path: Path, reason: str, hint: str = _FORMATS) -> None:
        super().__init__(f"{path} {reason}", hint)
        self.path = path
        self.reason = reason

    @property
    def short_reason(self) -> str:
        """The reason as a note after the path: "skipped x.jpg: not a readable image"."""
        return self.reason.removeprefix("is ")


def quiet_opencv(cv2) -> None:
    """OpenCV's own WARN/ERROR lines (a camera that does not open, a damaged image) say less
    than our errors do; ``-v`` keeps them."""
    if logs.verbose():
        return
    logging = getattr(cv2.utils, "logging", None)  # OpenCV >= 4.12; older ones: cv2.setLogLevel
    if logging is not None:
        logging.setLogLevel(logging.LOG_LEVEL_ERROR)
    elif hasattr(cv2, "setLogLevel"):
        cv2.setLogLevel(2)  # 2 = LOG_LEVEL_ERROR


def read_bytes(path: str | Path, max_bytes: int = MAX_IMAGE_BYTES) -> bytes:
    """The content of the regular file ``path``, opened without blocking.

    Raises:
        UnreadableImage: missing, a folder, not a regular file, unreadable, empty or too large.
    """
    path = Path(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        if path.is_symlink():
            raise UnreadableImage(path, "is a link to a missing file", "check the link") from None
        raise UnreadableImage(path, "was not found", "check the path") from None
    except IsADirectoryError:
        raise UnreadableImage(path, "is a folder, not an image", "give image files") from None
    except OSError as exc:
        raise UnreadableImage(
            path, f"cannot be read ({exc.strerror or exc})", "check its permissions"
        ) from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise UnreadableImage(path, "is a folder, not an image", "give image files")
        if not stat.S_ISREG(info.st_mode):
            raise UnreadableImage(path, "is not a regular file (a pipe or a device)", _FORMATS)
        if info.st_size > max_bytes:
            raise UnreadableImage(
                path, f"is too large ({info.st_size / 2**20:.0f} MiB) to be an image", _FORMATS
            )
        chunks, size = [], 0
        while size <= max_bytes:
            chunk = os.read(fd, min(2**20, max_bytes + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        data = b"".join(chunks)
    except OSError as exc:
        raise UnreadableImage(
            path, f"cannot be read ({exc.strerror or exc})", "check the disk"
        ) from None
    finally:
        os.close(fd)
    if not data:
        raise UnreadableImage(path, "is not a readable image (the file is empty)")
    if len(data) > max_bytes:
        raise UnreadableImage(path, "is too large to be an image")
    return data


def decode_image(data: bytes, path: str | Path) -> np.ndarray:
    """Decode an encoded image as BGR uint8 (the decoders' stderr lines captured).

    Raises:
        UnreadableImage: the data is not an image OpenCV can decode.
    """
    import cv2

    from edgecam.runtime.native import capture_native_stderr

    quiet_opencv(cv2)
    buffer = np.frombuffer(data, dtype=np.uint8)
    try:
        # wait=False: a model loading in another thread holds the capture for seconds; this
        # frame then decodes uncaptured rather than late.
        with capture_native_stderr(wait=False):
            image = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    except cv2.error as exc:
        if "CV_IO_MAX_IMAGE_PIXELS" in str(exc) or "validateInputImageSize" in str(exc):
            reason = "claims more pixels than OpenCV decodes (2^30)"
        else:
            reason = "could not be decoded (corrupt or unsupported)"
        raise UnreadableImage(Path(path), reason) from None
    if image is None or image.size == 0:
        raise UnreadableImage(
            Path(path), "is not a readable image (empty, corrupt or unknown format)"
        )
    return image


def read_image_file(path: str | Path) -> np.ndarray:
    """Read and decode the image file ``path`` as BGR uint8.

    Raises:
        UnreadableImage: for every way it can fail (its ``reason`` says which).
    """
    return decode_image(read_bytes(path), path)
