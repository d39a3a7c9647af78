"""Keras callbacks for long CPU runs (imported only when training starts: it loads Keras)."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import keras


class BestModel(keras.callbacks.Callback):
    """Saves ``model`` (the inner one, without augmentation) when val_accuracy improves.

    Written to a temporary file and renamed, so ``best.keras`` is never half-written. On resume,
    ``best`` starts from the CSV log so a worse epoch cannot overwrite a better checkpoint.
    """

    def __init__(self, model, path: Path, best: float | None = None) -> None:
        super().__init__()
        self.inner = model
        self.path = path
        self.best = best

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get("val_accuracy")
        if value is None or (self.best is not None and value <= self.best):
            return
        self.best = float(value)
        tmp = self.path.with_name(f".{self.path.stem}.tmp.keras")
        self.inner.save(tmp)
        tmp.replace(self.path)


class Throughput(keras.callbacks.Callback):
    """Training images per second, timing only the training batches (not validation)."""

    def __init__(self, batch_size: int) -> None:
        super().__init__()
        self.batch_size = batch_size
        self.seconds = 0.0
        self.images = 0
        self._start = 0.0

    def on_train_batch_begin(self, batch, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.seconds += time.perf_counter() - self._start
        self.images += self.batch_size

    @property
    def rate(self) -> float:
        return self.images / self.seconds if self.seconds else 0.0


def best_logged(log_path: Path, metric: str = "val_accuracy") -> float | None:
    """The best value of ``metric`` in a CSVLogger file, or None."""
    try:
        with log_path.open(newline="") as handle:
            values = [float(row[metric]) for row in csv.DictReader(handle) if row.get(metric)]
    except (OSError, ValueError, KeyError):
        return None
    return max(values) if values else None
