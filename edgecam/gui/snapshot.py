"""A snapshot on disk: the frame as PNG and its predictions as JSON beside it, both atomic."""

from __future__ import annotations

import json
import time
from pathlib import Path

import cv2
import numpy as np

from edgecam.files import atomic_write_bytes, atomic_write_text


def write_snapshot(folder: Path, frame: np.ndarray, record: dict) -> tuple[Path, Path]:
    """Write ``folder/edgecam-<time>.png`` and ``.json``; their paths.

    Raises:
        ValueError: the frame could not be encoded.
        OSError: the disk refused a write.
    """
    ok, png = cv2.imencode(".png", frame)
    if not ok:
        raise ValueError("could not encode the frame")
    stamp = time.strftime("%Y%m%d-%H%M%S") + f"-{int(time.time() * 1000) % 1000:03d}"
    base = Path(folder) / f"edgecam-{stamp}"
    image_path = atomic_write_bytes(base.with_suffix(".png"), png.tobytes())
    json_path = atomic_write_text(base.with_suffix(".json"), json.dumps(record, indent=2))
    return image_path, json_path
