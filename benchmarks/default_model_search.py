"""Search for the bundled default model's recipe (issue 10 section 6): Fashion-MNIST, int8,
at most 300 KB, the whole `make default-model` in at most 20 minutes on the 2-core machine.

Builds candidates with training.model's builders (the same graph `edgecam train` builds) and
trains them the way training.train does (Adam, cosine decay to 1 %, label smoothing, the
augmentation layers in front), so a winner is a recipe `edgecam train` flags can express.

    speed: train K steps of each candidate, print parameters and images/s (no accuracy).
    train: train one candidate for E epochs, print per-epoch time, val and float test accuracy.

Run with .venv-train (TensorFlow):
    .venv-train/bin/python benchmarks/default_model_search.py speed --steps 40
    .venv-train/bin/python benchmarks/default_model_search.py train --arch mobilenet_v1 \
        --alpha 0.5 --depth 8 --epochs 3 --limit 20000
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
#: (arch, alpha, depth) of the candidates the speed mode times.
CANDIDATES = [
    ("mobilenet_v1", 0.5, 7),  # today's recipe
    ("mobilenet_v1", 0.5, 8),
    ("mobilenet_v1", 0.5, 9),
    ("mobilenet_v1", 0.75, 6),
    ("mobilenet_v1", 1.0, 5),
    ("mobilenet_v2", 0.5, 4),
    ("mobilenet_v2", 0.75, 4),
]


def _data(val_split: float, limit: int | None, seed: int):
    from training.datasets import load_fashion_mnist

    (x, y), (x_test, y_test) = load_fashion_mnist(FASHION_DIR, download=False)
    order = np.random.default_rng(seed).permutation(len(x))
    n_val = int(len(x) * val_split)
    val, train = order[:n_val], order[n_val:]
    if limit:
        train = train[:limit]
    add = lambda a: a[..., None]  # noqa: E731 - channel axis
    return (add(x[train]), y[train]), (add(x[val]), y[val]), (add(x_test), y_test)


def _model(arch: str, alpha: float, depth: int, dropout: float, aug: dict, seed: int):
    from training.model import Augmentation, ModelSpec, build_model, with_augmentation

    spec = ModelSpec(
        arch=arch,
        input_size=28,
        channels=1,
        num_classes=10,
        alpha=alpha,
        depth=depth,
        dropout=dropout,
    )
    model = build_model(spec)
    return model, with_augmentation(model, Augmentation(**aug), seed)


def _compile(model, steps: int, lr: float, smoothing: float, schedule: str):
    import keras

    if schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(lr, decay_steps=max(1, steps), alpha=0.01)
    loss = keras.losses.CategoricalCrossentropy(label_smoothing=smoothing)
    model.compile(optimizer=keras.optimizers.Adam(lr), loss=loss, metrics=["accuracy"])


def _dataset(x, y, batch: int, seed: int, shuffle: bool):
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch).map(lambda a, b: (tf.cast(a, tf.float32), tf.one_hot(b, 10)))
    return ds.prefetch(tf.data.AUTOTUNE)


def speed(args) -> None:
    import keras

    (x, y), _, _ = _data(0.1, args.steps * args.batch_size, args.seed)
    aug = dict(flip=True, rotation=0, zoom=0, translate=0.05, brightness=0, contrast=0)
    for arch, alpha, depth in CANDIDATES:
        keras.utils.set_random_seed(args.seed)
        model, trainable = _model(arch, alpha, depth, 0.2, aug, args.seed)
        _compile(trainable, args.steps, 3e-3, 0.05, "cosine")
        ds = _dataset(x, y, args.batch_size, args.seed, True)
        trainable.fit(ds.take(3), epochs=1, verbose=0)  # trace and warm up
        started = time.perf_counter()
        trainable.fit(ds, epochs=1, verbose=0)
        seconds = time.perf_counter() - started
        rate = len(x) / seconds
        print(
            json.dumps(
                {
                    "arch": arch,
                    "alpha": alpha,
                    "depth": depth,
                    "params": model.count_params(),
                    "images_per_s": round(rate),
                    "epoch_54k_s": round(54000 / rate, 1),
                }
            ),
            flush=True,
        )


def train(args) -> None:
    import keras

    keras.utils.set_random_seed(args.seed)
    (x, y), (xv, yv), (xt, yt) = _data(args.val_split, args.limit, args.seed)
    aug = dict(
        flip=not args.no_flip,
        rotation=0,
        zoom=args.zoom,
        translate=args.translate,
        brightness=0,
        contrast=0,
    )
    model, trainable = _model(args.arch, args.alpha, args.depth, args.dropout, aug, args.seed)
    steps = -(-len(x) // args.batch_size)
    _compile(trainable, steps * args.epochs, args.lr, args.label_smoothing, args.schedule)
    ds = _dataset(x, y, args.batch_size, args.seed, True)
    val = _dataset(xv, yv, 512, args.seed, False)
    started = time.perf_counter()
    times = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.t)
            print(
                f"epoch {epoch + 1}: {times[-1]:.0f} s, acc {logs['accuracy']:.4f}, "
                f"val {logs['val_accuracy']:.4f}",
                flush=True,
            )

    trainable.fit(ds, validation_data=val, epochs=args.epochs, verbose=0, callbacks=[Timer()])
    # The bare model (no augmentation in front) is never compiled: score its predictions.
    scores = model.predict(xt.astype(np.float32), batch_size=512, verbose=0)
    accuracy = float(np.mean(scores.argmax(axis=1) == yt))
    print(
        json.dumps(
            {
                **{k: v for k, v in vars(args).items() if k != "func"},
                "params": model.count_params(),
                "train_images": len(x),
                "epoch_s": [round(t) for t in times],
                "total_s": round(time.perf_counter() - started),
                "float_test_accuracy": round(accuracy, 4),
            }
        ),
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(required=True)
    p = sub.add_parser("speed")
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--seed", type=int, default=42)
    p.set_defaults(func=speed)
    p = sub.add_parser("train")
    p.add_argument("--arch", default="mobilenet_v1")
    p.add_argument("--alpha", type=float, default=0.5)
    p.add_argument("--depth", type=int, default=7)
    p.add_argument("--dropout", type=float, default=0.2)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--schedule", default="cosine")
    p.add_argument("--label-smoothing", type=float, default=0.05)
    p.add_argument("--translate", type=float, default=0.05)
    p.add_argument("--zoom", type=float, default=0.0)
    p.add_argument("--no-flip", action="store_true")
    p.add_argument("--val-split", type=float, default=0.1)
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--seed", type=int, default=42)
    p.set_defaults(func=train)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
