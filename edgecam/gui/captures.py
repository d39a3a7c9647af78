"""The teach mode's captures: named classes of frames, saved as a class-per-folder dataset.

Qt-free. The folder layout is the one ``edgecam teach --data`` and ``edgecam train --data``
read (``FOLDER/<class>/*.png``); PNG, so a reopened capture has the very pixels (and so the
very embedding) it had when it was taken.
"""

from __future__ import annotations

import itertools
import shutil
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edgecam.capture.dataset import check_class_name
from edgecam.errors import ConfigError, EdgecamError, ImageError
from edgecam.files import new_staging_dir, recover_dir, replace_dir
from edgecam.teach.teacher import IMAGE_SUFFIXES

#: Marks a folder these captures wrote, so a later save may replace it (and nothing else).
MARKER = ".edgecam-captures"


class CapturesError(EdgecamError):
    """A captures folder could not be written or read."""


@dataclass(frozen=True)
class Capture:
    """One captured frame (BGR uint8; never modified after capture)."""

    id: int
    image: np.ndarray


class CaptureSet:
    """Classes in the order they were added, each with its captures in capture order."""

    def __init__(self) -> None:
        self._classes: dict[str, list[Capture]] = {}
        self._ids = itertools.count(1)

    @property
    def names(self) -> list[str]:
        return list(self._classes)

    def __contains__(self, name: str) -> bool:
        return name in self._classes

    def add_class(self, name: str) -> str:
        name = check_class_name(name)
        if name in self._classes:
            raise ConfigError(f"there is already a class {name!r}")
        self._classes[name] = []
        return name

    def rename_class(self, old: str, new: str) -> str:
        new = check_class_name(new)
        if new != old and new in self._classes:
            raise ConfigError(f"there is already a class {new!r}")
        # Rebuilt so the renamed class keeps its place in the order.
        self._classes = {(new if k == old else k): v for k, v in self._classes.items()}
        return new

    def remove_class(self, name: str) -> None:
        self._classes.pop(name, None)

    def add(self, name: str, image: np.ndarray) -> Capture:
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ImageError("a capture must be a BGR uint8 image")
        capture = Capture(next(self._ids), image)
        self._classes[name].append(capture)
        return capture

    def delete(self, name: str, capture_id: int) -> bool:
        before = self._classes.get(name, [])
        self._classes[name] = [c for c in before if c.id != capture_id]
        return len(self._classes[name]) != len(before)

    def captures(self, name: str) -> list[Capture]:
        return list(self._classes.get(name, []))

    def count(self, name: str) -> int:
        return len(self._classes.get(name, []))

    @property
    def total(self) -> int:
        return sum(len(v) for v in self._classes.values())

    def key(self) -> tuple:
        """Equal keys, equal captures (names, order and which frames)."""
        return tuple((name, tuple(c.id for c in caps)) for name, caps in self._classes.items())

    def snapshot(self) -> list[tuple[str, list[np.ndarray]]]:
        """The classes and their images, for a worker thread (the arrays are never modified)."""
        return [(name, [c.image for c in caps]) for name, caps in self._classes.items()]

    # -- the dataset folder ---------------------------------------------------------------

    def save(self, folder: str | Path) -> Path:
        """Write ``folder/<class>/<class>-NNNN.png``, swapped in whole (atomically).

        An existing ``folder`` is replaced only if it is empty or an earlier captures folder.

        Raises:
            CapturesError: ``folder`` holds something else, or the disk refused a write.
        """
        target = Path(folder).expanduser()
        _check_target(target)
        recover_dir(target)
        staging = new_staging_dir(target)
        try:
            (staging / MARKER).write_text("captured with the edgecam window\n", encoding="utf-8")
            for name, images in self.snapshot():
                (staging / name).mkdir()
                for i, image in enumerate(images, 1):
                    ok, png = cv2.imencode(".png", image)
                    if not ok:
                        raise CapturesError(f"could not encode a capture of {name!r}")
                    (staging / name / f"{name}-{i:04d}.png").write_bytes(png.tobytes())
            replace_dir(staging, target)
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise CapturesError(
                f"could not save the captures to {target} ({exc.strerror or exc})",
                "check the folder is writable and the disk has room",
            ) from None
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return target

    @classmethod
    def load(cls, folder: str | Path) -> CaptureSet:
        """Read a class-per-folder dataset (any, not only one this class wrote).

        Unreadable images are skipped; sub-folders of a class folder count as that class.

        Raises:
            CapturesError: no such folder, or no class folder with an image.
        """
        from edgecam.vision.classifier import read_image

        root = Path(folder).expanduser()
        if not root.is_dir():
            raise CapturesError(f"captures folder not found: {root}", "give a folder of classes")
        loaded = cls()
        for class_dir in sorted(p for p in root.iterdir() if p.is_dir()):
            if class_dir.name.startswith("."):
                continue
            files = sorted(
                p
                for p in class_dir.rglob("*")
                if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
            )
            images = []
            for path in files:
                try:
                    image = read_image(path)
                except ImageError:
                    continue
                if image.ndim == 2:
                    image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
                images.append(image[:, :, :3])
            if not images:
                continue
            try:
                name = loaded.add_class(class_dir.name)
            except ConfigError:
                continue  # a folder name no class may have (e.g. with a ':')
            for image in images:
                loaded.add(name, np.ascontiguousarray(image))
        if not loaded.names:
            raise CapturesError(
                f"{root} has no class folders with images",
                "open a folder laid out as FOLDER/<class name>/*.png",
            )
        return loaded


def _check_target(target: Path) -> None:
    if not target.exists():
        return
    if not target.is_dir():
        raise CapturesError(f"{target} is a file", "give a folder for the captures")
    if any(target.iterdir()) and not (target / MARKER).exists():
        raise CapturesError(
            f"{target} holds other files and was not written by the window",
            "give a new or empty folder, or an earlier captures folder to replace",
        )
