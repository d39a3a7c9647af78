"""Augmented copies of a training image: a flip, a crop, small colour changes.

Each copy is decided by its own seed (from the image's hash and the copy's number), so the same
image always gets the same copies and their embeddings can be cached.
"""

from __future__ import annotations

import cv2
import numpy as np

#: The crop keeps at least this fraction of each side.
MIN_CROP = 0.8


def augment(image: np.ndarray, seed: int) -> np.ndarray:
    """One augmented copy of a BGR uint8 image."""
    rng = np.random.default_rng(seed)
    out = image if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if rng.random() < 0.5:
        out = out[:, ::-1]
    h, w = out.shape[:2]
    fh, fw = rng.uniform(MIN_CROP, 1.0, 2)
    ch, cw = max(1, round(h * fh)), max(1, round(w * fw))
    y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    out = out[y : y + ch, x : x + cw].astype(np.float32)
    # Brightness, contrast and saturation, each within +-15%.
    brightness, contrast, saturation = rng.uniform(0.85, 1.15, 3)
    gray = out.mean(axis=2, keepdims=True)
    out = gray + (out - gray) * saturation
    out = (out - out.mean()) * contrast + out.mean() * brightness
    return np.ascontiguousarray(np.clip(out, 0, 255).astype(np.uint8))
