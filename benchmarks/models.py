"""Models and inputs the benchmarks share: a MobileNetV2 int8 model, a synthetic frame, a clip.

    python benchmarks/models.py            # build the model if it is not cached; print its path
    python benchmarks/models.py --force    # rebuild it

Building needs TensorFlow (the training environment, ``make venv-train``); it is imported only
inside :func:`build_mobilenet_v2_int8`, so importing this module for its paths and the frame (as
the timed scripts do) never loads TensorFlow. The weights are random (no internet needed):
fine for timing, meaningless for predictions.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".bench-cache"
MOBILENET_V2_INT8 = CACHE / "mobilenet_v2_1.0_224_int8.tflite"
MODES = ("float32", "float16", "dynamic", "int8")
DEFAULT_MODEL = ROOT / "assets" / "models" / "default" / "model.tflite"


def mobilenet_v2_path(mode: str, size: int = 224, alpha: float = 1.0) -> Path:
    """Where :func:`build_mobilenet_v2` caches the model of this export mode and shape."""
    return CACHE / f"mobilenet_v2_{alpha}_{size}_{mode}.tflite"


FIXTURE_MODEL = ROOT / "tests" / "fixtures" / "color_float32.tflite"
FRAME_SIZE = (640, 480)  # width, height: a typical webcam frame


def synthetic_frame(seed: int = 0) -> np.ndarray:
    """A fixed 640x480 BGR uint8 frame: seeded noise over a smooth gradient."""
    width, height = FRAME_SIZE
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 200, width, dtype=np.float32)[None, :, None]
    noise = rng.normal(0, 25, (height, width, 3)).astype(np.float32)
    return np.clip(ramp + noise + [30, 60, 90], 0, 255).astype(np.uint8)


def write_frame(path: Path, seed: int = 0) -> Path:
    """Write :func:`synthetic_frame` as a PNG (for the command-line start-up runs)."""
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), synthetic_frame(seed)):
        raise OSError(f"could not write {path}")
    return path


def write_clip(path: Path, seconds: float, fps: float = 30.0) -> Path:
    """Write (once; cached by name) an mp4v clip of :func:`synthetic_frame` scrolling sideways.

    Args:
        path: where to write it; an existing file is reused.
        seconds: the clip's length.
        fps: the frame rate written into the file (what a paced source plays it at).

    Returns:
        ``path``.
    """
    import cv2

    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"tmp-{path.name}")
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, FRAME_SIZE)
    if not writer.isOpened():
        raise OSError(f"OpenCV cannot write mp4v to {tmp}")
    base = synthetic_frame()
    for i in range(round(seconds * fps)):
        frame = np.roll(base, 8 * i, axis=1)
        cv2.putText(frame, str(i), (20, 60), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (255, 255, 255), 3)
        writer.write(frame)
    writer.release()
    tmp.replace(path)
    return path


def build_mobilenet_v2_int8(path: Path, samples: int = 20, seed: int = 0) -> Path:
    """Build MobileNetV2 1.0 224 (random weights) and convert it to full int8, uint8 in/out."""
    return build_mobilenet_v2(path, "int8", 224, 1.0, samples, seed)


def build_mobilenet_v2(
    path: Path, mode: str, size: int = 224, alpha: float = 1.0, samples: int = 20, seed: int = 0
) -> Path:
    """Build MobileNetV2 (random weights) and convert it in one export mode.

    Args:
        path: where to write the ``.tflite`` (written to a temporary name, then renamed).
        mode: float32 | float16 (float16 weights) | dynamic (int8 weights, float I/O) |
            int8 (full integer, uint8 in/out).
        size: input height and width.
        alpha: width multiplier.
        samples: random images in the representative dataset (int8 only).
        seed: seeds the weights and the representative images.

    Returns:
        ``path``.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    from training.quantize import QuantizationConfig, convert

    keras.utils.set_random_seed(seed)
    model = keras.applications.MobileNetV2(
        weights=None, input_shape=(size, size, 3), alpha=alpha, classes=1000
    )
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    # MobileNetV2 takes [-1, 1] pixels; the uint8 input's quantization will encode that.
    rng = np.random.default_rng(seed)
    representative = [
        rng.uniform(-1, 1, (size, size, 3)).astype(np.float32) for _ in range(samples)
    ]
    config = QuantizationConfig.from_mode(mode, io="uint8", calibration_samples=samples)
    data = convert(model, config, representative).data
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=MOBILENET_V2_INT8)
    parser.add_argument("--force", action="store_true", help="rebuild even if cached")
    parser.add_argument(
        "--all", action="store_true", help="also every mode at 224 (alpha 1.0) and 96 (alpha 0.35)"
    )
    args = parser.parse_args()
    if args.force or not args.out.exists():
        print(f"building {args.out} (TensorFlow, about a minute)...", file=sys.stderr)
        build_mobilenet_v2_int8(args.out)
    print(args.out)
    if args.all:
        for size, alpha in ((224, 1.0), (96, 0.35)):
            for mode in MODES:
                path = mobilenet_v2_path(mode, size, alpha)
                if args.force or not path.exists():
                    print(f"building {path} ...", file=sys.stderr)
                    build_mobilenet_v2(path, mode, size, alpha)
                print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
