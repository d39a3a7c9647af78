"""A small synthetic "own objects" folder for `edgecam teach`: shapes on cluttered backgrounds.

    python benchmarks/teach_data.py --out /tmp/teach-data --per-class 50 --seed 0

Four classes (circle, triangle, star, cross), each drawn at a random place, size, rotation and
colour on a background of random coloured rectangles, lines and noise, so that no single colour
or position gives the class away. Writes OUT/<class>/<n>.png.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

CLASSES = ("circle", "triangle", "star", "cross")
SIZE = 160


def _background(rng: np.random.Generator) -> np.ndarray:
    image = rng.integers(0, 256, (1, 1, 3)).astype(np.uint8) * np.ones((SIZE, SIZE, 1), np.uint8)
    for _ in range(int(rng.integers(6, 14))):
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        x0, y0, x1, y1 = (int(v) for v in rng.integers(0, SIZE, 4))
        if rng.random() < 0.5:
            cv2.rectangle(image, (x0, y0), (x1, y1), color, -1)
        else:
            cv2.line(image, (x0, y0), (x1, y1), color, int(rng.integers(1, 5)))
    noise = rng.normal(0, 12, image.shape)
    return np.clip(image + noise, 0, 255).astype(np.uint8)


def _polygon(kind: str, cx: float, cy: float, r: float, angle: float) -> np.ndarray:
    if kind == "triangle":
        t = angle + np.arange(3) * 2 * np.pi / 3
        pts = np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], 1)
    elif kind == "star":
        t = angle + np.arange(10) * np.pi / 5
        rr = np.where(np.arange(10) % 2 == 0, r, r * 0.42)
        pts = np.stack([cx + rr * np.cos(t), cy + rr * np.sin(t)], 1)
    else:  # cross
        w = r * 0.35
        base = np.array(
            [
                (-w, -r),
                (w, -r),
                (w, -w),
                (r, -w),
                (r, w),
                (w, w),
                (w, r),
                (-w, r),
                (-w, w),
                (-r, w),
                (-r, -w),
                (-w, -w),
            ]
        )
        c, s = np.cos(angle), np.sin(angle)
        pts = base @ np.array([[c, s], [-s, c]]) + (cx, cy)
    return pts.astype(np.int32)


def draw(kind: str, rng: np.random.Generator) -> np.ndarray:
    """One image of class ``kind``."""
    image = _background(rng)
    r = float(rng.uniform(22, 45))
    cx, cy = (float(v) for v in rng.uniform(r + 4, SIZE - r - 4, 2))
    color = tuple(int(c) for c in rng.integers(0, 256, 3))
    if kind == "circle":
        cv2.circle(image, (int(cx), int(cy)), int(r), color, -1, cv2.LINE_AA)
    else:
        pts = _polygon(kind, cx, cy, r, float(rng.uniform(0, 2 * np.pi)))
        cv2.fillPoly(image, [pts], color, cv2.LINE_AA)
    return image


def write_folder(out: Path, per_class: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    for kind in CLASSES:
        (out / kind).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            cv2.imwrite(str(out / kind / f"{i:03d}.png"), draw(kind, rng))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--per-class", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    write_folder(args.out, args.per_class, args.seed)
    print(f"wrote {args.per_class} images x {len(CLASSES)} classes to {args.out}")


if __name__ == "__main__":
    main()
