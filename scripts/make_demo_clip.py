"""Write the colour demo clip `make run` uses until the trained default model lands.

    python scripts/make_demo_clip.py assets/demo/colors.mp4

Three seconds at 30 fps, 320x240, mp4v: one second each of a red, a green and a blue scene
(a noisy, shaded background with a moving square), so the colour fixture model has something to
recognise. Deterministic (seeded); a ground-truth CSV (frame,label) is written beside it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

FPS = 30
SIZE = (320, 240)
SCENES = [("red", (40, 40, 220)), ("green", (40, 200, 40)), ("blue", (220, 60, 40))]


def frames():
    rng = np.random.default_rng(7)
    width, height = SIZE
    shade = np.linspace(0.7, 1.0, width, dtype=np.float32)[None, :, None]
    index = 0
    for label, bgr in SCENES:
        for _ in range(FPS):
            image = np.empty((height, width, 3), np.float32)
            image[:] = bgr
            image *= shade
            image += rng.normal(0, 12, image.shape)
            x = (index * 7) % (width - 60)
            cv2.rectangle(image, (x, 90), (x + 60, 150), (200, 200, 200), -1)
            yield label, np.clip(image, 0, 255).astype(np.uint8)
            index += 1


def write_clip(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.mp4")
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), FPS, SIZE)
    if not writer.isOpened():
        raise SystemExit(f"OpenCV cannot write {path}")
    truth = ["frame,label"]
    for i, (label, image) in enumerate(frames()):
        writer.write(image)
        truth.append(f"{i},{label}")
    writer.release()
    tmp.replace(path)  # atomic: make never sees a half-written clip
    path.with_suffix(".csv").write_text("\n".join(truth) + "\n")
    return path


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "assets/demo/colors.mp4")
    print(f"wrote {write_clip(target)}")
