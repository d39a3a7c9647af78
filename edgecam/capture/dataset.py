"""``edgecam capture``: fill a class-per-folder dataset from a camera, video, folder or stream.

``FOLDER/<class>/<class>-NNNN.png`` is the layout ``edgecam teach --data`` and ``edgecam train
--data`` read (and the window's teach mode saves). PNG, so a frame keeps its exact pixels.
Every image is written under a temporary name and linked into place under a name no other
file has, so a capture never overwrites an earlier one and a reader never sees half an image.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from edgecam.capture.sources import DEFAULT_VIDEO_FPS, FrameSource, open_source
from edgecam.errors import ConfigError, SourceError

_BAD_NAME_CHARS = set('/\\:*?"<>|')
SUFFIX = ".png"


class CaptureIncomplete(SourceError):
    """The source ended or failed before the count was reached (some images may be written)."""

    exit_code = 1


def check_class_name(name: str) -> str:
    """``name`` stripped, if it can be a class (and so a folder) name.

    Raises:
        ConfigError: empty, a character a folder name cannot hold, or a leading dot
            (datasets skip hidden folders).
    """
    name = str(name).strip()
    bad = sorted(set(name) & _BAD_NAME_CHARS)
    if not name or bad or name.startswith("."):
        shown = "".join(bad) or ("nothing" if not name else "a leading '.'")
        raise ConfigError(
            f"{name!r} cannot be a class name ({shown})", "use letters, digits, spaces, - or _"
        )
    return name


class ClassFolder:
    """``FOLDER/<class>/``, to which images are added as ``<class>-NNNN.png``, never replacing
    one that is there."""

    def __init__(self, out: Path, name: str) -> None:
        self.name = check_class_name(name)
        self.folder = Path(out).expanduser() / self.name
        if self.folder.exists() and not self.folder.is_dir():
            raise ConfigError(f"{self.folder} is a file", "give --out a folder for the dataset")
        pattern = re.compile(rf"^{re.escape(self.name)}-(\d+)\.[A-Za-z]+$")
        numbers = [
            int(m.group(1))
            for p in (self.folder.iterdir() if self.folder.is_dir() else [])
            if (m := pattern.match(p.name))
        ]
        self._next = max(numbers, default=0) + 1

    def add(self, bgr: np.ndarray) -> Path:
        """Write one image; its path.

        Raises:
            SourceError: the frame cannot be encoded. OSError: the disk refused the write.
        """
        ok, png = cv2.imencode(SUFFIX, bgr)
        if not ok:
            raise SourceError("a frame could not be encoded as PNG", "check the source")
        self.folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.name}.", suffix=".tmp", dir=self.folder)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(png.tobytes())
            while True:
                path = self.folder / f"{self.name}-{self._next:04d}{SUFFIX}"
                self._next += 1
                if _link_new(Path(tmp), path):
                    return path
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)


def _link_new(tmp: Path, path: Path) -> bool:
    """Put ``tmp``'s content at ``path`` only if nothing is there; False when taken."""
    try:
        os.link(tmp, path)  # atomic, and fails rather than replaces
        return True
    except FileExistsError:
        return False
    except OSError:  # a file system without hard links: check, then rename
        if path.exists():
            return False
        os.replace(tmp, path)
        return True


@dataclass
class CaptureReport:
    written: list[Path] = field(default_factory=list)
    frames_read: int = 0


def capture(
    source: str | FrameSource,
    folder: ClassFolder,
    count: int,
    every_s: float,
    on_saved: Callable[[int, Path], None] | None = None,
    report: CaptureReport | None = None,
) -> CaptureReport:
    """Save ``count`` frames of ``source`` into ``folder``, one per ``every_s`` seconds.

    Seconds are the source's own: a video's or folder's from its frame rate (so a file is read
    as fast as it decodes), a camera's or stream's from the clock.

    Raises:
        SourceError: the source cannot be opened.
        CaptureIncomplete: it ended or failed before ``count`` images (how many were written).
    """
    report = report if report is not None else CaptureReport()
    if isinstance(source, str):
        source = open_source(source, pace=False)
    with source:
        fps = source.fps or DEFAULT_VIDEO_FPS
        due: float | None = None
        while len(report.written) < count:
            try:
                frame = source.read()
            except SourceError as exc:
                raise _incomplete(exc.message, report, count, folder, exc.hint) from None
            if frame is None:
                noun = "frame" if source.frames_read == 1 else "frames"
                raise _incomplete(
                    f"{source.description} ended after {source.frames_read} {noun}",
                    report,
                    count,
                    folder,
                    "use a longer source, a smaller --count or a shorter --every",
                )
            report.frames_read += 1
            t = frame.timestamp if source.kind.live else frame.index / fps
            if due is not None and t < due - 1e-9:
                continue
            due = t + every_s if due is None or t - due > every_s else due + every_s
            report.written.append(folder.add(frame.bgr))
            if on_saved is not None:
                on_saved(len(report.written), report.written[-1])
    return report


def _incomplete(what: str, report, count: int, folder: ClassFolder, hint: str):
    return CaptureIncomplete(
        f"{what}: wrote {len(report.written)} of {count} images into {folder.folder}", hint
    )
