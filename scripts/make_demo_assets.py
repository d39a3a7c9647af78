"""Make the demo input for machines without a camera, from Fashion-MNIST *test* images.

    python scripts/make_demo_assets.py [--data DIR] [--out assets/demo]      # or: make demo

Writes (deterministic, seeded):

* ``fashion.mp4``: 320x240 at 15 fps, mp4v; 30 test images, 1 s each, every one scaled to fill
  the frame's height (so the default model's centre crop sees exactly the garment), with a
  little camera-like jitter and sensor noise;
* ``fashion.csv``: the ground truth, ``frame,test_index,label``;
* ``samples/``: one PNG per class (``<test index>_<class>.png``) for ``edgecam classify``.

The test split is never used for training, so the demo shows honest predictions.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training.datasets import FASHION_MNIST_CLASSES, load_fashion_mnist

FPS = 15
SIZE = (320, 240)
IMAGES = 30
SECONDS_EACH = 1.0


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def frame_for(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The 28x28 garment scaled to the frame height, centred, jittered by a few pixels."""
    width, height = SIZE
    big = cv2.resize(image, (height, height), interpolation=cv2.INTER_CUBIC)
    canvas = np.zeros((height, width), np.float32)
    dx, dy = rng.integers(-3, 4, 2)
    x0 = (width - height) // 2 + int(dx)
    shifted = np.roll(big, int(dy), axis=0)
    canvas[:, x0 : x0 + height] = shifted
    return cv2.cvtColor(np.clip(canvas, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="Fashion-MNIST IDX folder (default: Debian)")
    parser.add_argument("--out", type=Path, default=Path("assets/demo"))
    args = parser.parse_args()
    _, (x_test, y_test) = load_fashion_mnist(args.data, download=False)
    rng = np.random.default_rng(2024)
    # Three of each class, in a shuffled order, so every class shows up.
    picks = np.concatenate(
        [rng.choice(np.flatnonzero(y_test == c), 3, replace=False) for c in range(10)]
    )
    rng.shuffle(picks)
    picks = picks[:IMAGES]

    out = args.out
    (out / "samples").mkdir(parents=True, exist_ok=True)
    video = out / "fashion.mp4"
    tmp = out / ".fashion.tmp.mp4"
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), FPS, SIZE)
    if not writer.isOpened():
        raise SystemExit("OpenCV cannot write mp4v video here")
    truth = ["frame,test_index,label"]
    frame_index = 0
    for test_index in picks:
        for i in range(int(FPS * SECONDS_EACH)):
            if i % 5 == 0:
                frame = frame_for(x_test[test_index], rng)
            writer.write(frame)
            truth.append(f"{frame_index},{test_index},{FASHION_MNIST_CLASSES[y_test[test_index]]}")
            frame_index += 1
    writer.release()
    tmp.replace(video)
    (out / "fashion.csv").write_text("\n".join(truth) + "\n")

    for old in (out / "samples").glob("*.png"):
        old.unlink()
    for cls in range(10):
        test_index = int(np.flatnonzero(y_test == cls)[0])
        name = f"{test_index}_{_slug(FASHION_MNIST_CLASSES[cls])}.png"
        cv2.imwrite(
            str(out / "samples" / name),
            cv2.resize(x_test[test_index], (112, 112), interpolation=cv2.INTER_CUBIC),
        )
    print(
        f"wrote {video} ({video.stat().st_size // 1024} KiB, {frame_index} frames), "
        f"{out / 'fashion.csv'}, {out / 'samples'}/ (10 images)"
    )


if __name__ == "__main__":
    main()
