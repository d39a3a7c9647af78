"""Training throughput (images/s) on this CPU for the default recipe and a MobileNetV2-style model.

    .venv-train/bin/python benchmarks/training_throughput.py [--epochs 3] [--json out.json]

Needs TensorFlow (the training environment). Each model is built with ``training.model``
(``build_model`` + the recipe's augmentation layers, as ``edgecam train`` trains it), compiled
with Adam and sparse categorical cross-entropy, and fitted on random images and labels (the
speed does not depend on the pixels) with batch 128: one untimed warm-up epoch (graph tracing),
then ``--epochs`` timed epochs; images/s = images per epoch / epoch wall time, median of the
timed epochs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

CASES = {
    "default recipe: MobileNetV1 alpha 0.5 depth 7, 28x28x1": (
        {"arch": "mobilenet_v1", "input_size": 28, "channels": 1, "alpha": 0.5, "depth": 7},
        {"flip": True, "rotation": 0.0, "zoom": 0.0, "translate": 0.05},
        40,
    ),
    "MobileNetV2-style alpha 0.35, 96x96x3": (
        {"arch": "mobilenet_v2", "input_size": 96, "channels": 3, "alpha": 0.35},
        {"flip": True, "rotation": 0.05, "zoom": 0.1, "translate": 0.1},
        8,
    ),
}


def throughput(spec_kw: dict, aug_kw: dict, batches: int, epochs: int, batch: int) -> dict:
    """Fit one model on random data; images/s of each timed epoch."""
    import keras

    from training.model import Augmentation, ModelSpec, build_model, with_augmentation

    keras.utils.set_random_seed(0)
    spec = ModelSpec(num_classes=10, **spec_kw)
    model = with_augmentation(build_model(spec), Augmentation(**aug_kw), seed=0)
    model.compile(optimizer=keras.optimizers.Adam(0.003), loss="sparse_categorical_crossentropy")
    n = batches * batch
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (n, spec.input_size, spec.input_size, spec.channels)).astype("float32")
    y = rng.integers(0, 10, n)
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0)  # warm-up: tracing
    rates = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
        rates.append(n / (time.perf_counter() - t0))
    return {
        "images_per_epoch": n,
        "params": model.count_params(),
        "epoch_images_per_s": rates,
        "images_per_s": float(np.median(rates)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs after the warm-up")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results here")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import tensorflow as tf

    results = []
    for name, (spec_kw, aug_kw, batches) in CASES.items():
        res = throughput(spec_kw, aug_kw, batches, args.epochs, args.batch)
        results.append({"model": name, "batch": args.batch} | res)
        print(f"{name:<56} {res['images_per_s']:>8.1f} images/s", flush=True)
    if args.json:
        report = {"tensorflow": tf.__version__, "epochs": args.epochs, "results": results}
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
