"""Keras callbacks for long CPU runs (imported only when training starts: it loads Keras)."""

from __future__ import annotations

import contextlib
import csv
import os
import time
from pathlib import Path

import keras

from edgecam.errors import raise_if_interrupted
from edgecam.files import atomic_write_text
from training.errors import TrainingError
from training.faultpoints import pause

Score = tuple[float, float]


def score(logs: dict | None) -> Score | None:
    """How good an epoch is: (val_accuracy, -val_loss), higher is better, or None unvalidated.

    A small validation set ties often (8 images: 0.875 or 1.0 from the second epoch on); the
    lower loss then picks the better-fitted epoch, not the first to reach the tie (on the
    cluttered shapes, 25 per class, pretrained: 82.5% on unseen images from epoch 2's
    checkpoint, 76.5% from epoch 1's, both at validation accuracy 1.0).
    """
    if not logs or logs.get("val_accuracy") is None:
        return None
    loss = logs.get("val_loss")
    return float(logs["val_accuracy"]), -float(loss) if loss is not None else float("-inf")


class BestModel(keras.callbacks.Callback):
    """Saves ``model`` (the inner one, without augmentation) when the epoch's :func:`score`
    improves.

    Written to a temporary file and renamed, so ``best.keras`` is never half-written. On resume,
    ``best`` starts from the CSV log so a worse epoch cannot overwrite a better checkpoint.
    """

    def __init__(self, model, path: Path, best: Score | None = None) -> None:
        super().__init__()
        self.inner = model
        self.path = path
        self.best = best

    def on_epoch_end(self, epoch, logs=None):
        value = score(logs)
        if value is None or (self.best is not None and value <= self.best):
            return
        self.best = value
        save_atomically(self.inner, self.path)


def save_atomically(model, path: Path) -> None:
    """``model.save(path)`` through a temporary file and a rename: never half-written."""
    tmp = path.with_name(f".{path.stem}.tmp.keras")
    model.save(tmp)
    tmp.replace(path)


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


class SwallowedCtrlC(keras.callbacks.Callback):
    """Raises, at the end of the batch, a Ctrl-C that Python dropped where exceptions cannot
    propagate (see :func:`edgecam.errors.watch_for_ctrl_c`), so the run stops as asked."""

    def on_train_batch_end(self, batch, logs=None):
        raise_if_interrupted()


def best_logged(log_path: Path) -> Score | None:
    """The best :func:`score` of the epochs in a CSVLogger file, or None."""
    best = best_logged_epoch(log_path)
    return best[0] if best else None


def best_logged_epoch(log_path: Path) -> tuple[Score, int] | None:
    """(the best :func:`score`, the epoch index that had it) in a CSVLogger file, or None."""
    try:
        with log_path.open(newline="") as handle:
            wanted = ("val_accuracy", "val_loss")
            rows = [
                (
                    score({k: float(v) for k, v in row.items() if k in wanted and v}),
                    int(row["epoch"]),
                )
                for row in csv.DictReader(handle)
            ]
    except (OSError, ValueError, KeyError):
        return None
    # The first epoch of equal score, as BestModel keeps it.
    rows = [(s, -epoch) for s, epoch in rows if s is not None]
    if not rows:
        return None
    value, epoch = max(rows)
    return value, -epoch


class PatientStop(keras.callbacks.Callback):
    """Stops a phase after ``patience`` epochs without a better :func:`score` (Keras'
    EarlyStopping watches one metric, so it would stop at a tie the checkpoint breaks)."""

    def __init__(self, patience: int) -> None:
        super().__init__()
        self.patience = patience
        self.best: Score | None = None
        self.waited = 0
        self.stopped_epoch = 0

    def on_train_begin(self, logs=None):
        self.best, self.waited, self.stopped_epoch = None, 0, 0

    def on_epoch_end(self, epoch, logs=None):
        value = score(logs)
        if value is None:
            return
        if self.best is None or value > self.best:
            self.best, self.waited = value, 0
            return
        self.waited += 1
        if self.waited >= self.patience:
            self.stopped_epoch = epoch
            self.model.stop_training = True


class SafeBackup(keras.callbacks.Callback):
    """The full training state (weights and optimizer) after every epoch, safe against a kill.

    Keras' ``BackupAndRestore`` rewrites one file in place, so a SIGKILL during the write leaves
    no readable backup. Here epoch N's state is written to a temporary file, then renamed to
    ``epoch-N.weights.h5`` (a rename is atomic): the newest complete file is the state after N
    epochs, and a kill at any moment leaves the previous one intact. The two newest are kept;
    if the newest cannot be read (damaged on disk), the run falls back to the one before, and
    with none readable it starts the phase again, saying so through ``log`` each time.
    """

    KEEP = 2

    def __init__(
        self,
        folder: Path,
        first_epoch: int = 0,
        csv_log: Path | None = None,
        log=print,
        agree=None,
    ) -> None:
        super().__init__()
        self.folder = Path(folder)
        self.first_epoch = first_epoch  # where the phase starts without a backup
        self.csv_log = csv_log
        self.log = log
        # Workers training together: agree(epochs this one can restore) -> the epochs every
        # one can (a kill may have caught one worker's newest backup half written).
        self.agree = agree
        self.restored_epoch: int | None = None  # epochs done in the state restored, if any

    def writer(self) -> keras.callbacks.Callback:
        """The callback that writes the backups: put it last, so that an epoch's backup exists
        only once everything else (best checkpoint, CSV row) has been done for that epoch."""
        return keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: self.save(epoch))

    def backups(self) -> list[tuple[int, Path]]:
        """``(epochs done, file)`` of the complete backups, newest first."""
        found = []
        for path in self.folder.glob("epoch-*.weights.h5"):
            with contextlib.suppress(ValueError):
                found.append((int(path.name[6:].split(".")[0]), path))
        return sorted(found, reverse=True)

    def _variables(self):
        optimizer = self.model.optimizer
        return list(self.model.variables) + (list(optimizer.variables) if optimizer else [])

    def on_train_begin(self, logs=None):
        # fit() reads _initial_epoch before its own argument; a model fitted twice (two phases)
        # would otherwise start its second fit where an earlier resume put the first.
        self.model._initial_epoch = None
        self.restored_epoch = None
        for stale in self.folder.glob(".tmp-*"):  # a write a kill interrupted
            stale.unlink(missing_ok=True)
        self._restore()
        self._drop_logged_from(self.restored_epoch or self.first_epoch)

    def _drop_logged_from(self, epoch: int) -> None:
        """Remove the CSV rows of the epochs that will run again (a kill after an epoch's row
        was written but before its backup)."""
        if self.csv_log is None or not self.csv_log.exists():
            return
        lines = self.csv_log.read_text().splitlines(keepends=True)
        keep = lines[:1] + [
            line
            for line in lines[1:]
            if line.split(",")[0].isdigit() and int(line.split(",")[0]) < epoch
        ]
        if keep != lines:
            atomic_write_text(self.csv_log, "".join(keep))

    def _restore(self) -> None:
        candidates = self.backups()
        if not candidates and self.agree is None:
            return
        if self.model.optimizer is not None and not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)
        before = [v.numpy() for v in self._variables()]
        restored = self._load_newest(candidates)
        if self.agree is not None:
            mine = restored[0] if restored else 0
            agreed = self.agree(mine)
            if agreed != mine:
                self.log(f"the other workers can resume only from epoch {agreed}: so does this one")
                older = [(e, p) for e, p in candidates if e == agreed]
                restored = self._load_newest(older) if older else None
                if agreed and restored is None:
                    raise TrainingError(
                        f"this worker has no readable backup of epoch {agreed}, which the "
                        "others resume from",
                        "train again into a new --out folder on every worker",
                    )
        if restored:
            epochs, path = restored
            self.model._initial_epoch = epochs
            self.restored_epoch = epochs
            if path != candidates[0][1]:
                self.log(f"resumed from {path.name}: the state after epoch {epochs}")
            return
        for variable, value in zip(self._variables(), before, strict=True):
            variable.assign(value)  # undo what a damaged file loaded halfway
        if candidates:
            self.log(f"no readable backup in {self.folder}: this phase starts again")

    def _load_newest(self, candidates: list[tuple[int, Path]]) -> tuple[int, Path] | None:
        """Load the newest readable of ``candidates``; ``(epochs, file)``, or None."""
        for epochs, path in candidates:
            try:
                self.model.load_weights(str(path))
            except Exception as exc:  # h5py raises OSError, KeyError, ValueError on damage
                reason = str(exc).splitlines()[0][:100] if str(exc) else type(exc).__name__
                self.log(f"backup {path} is damaged ({reason}); trying the one before")
                continue
            return epochs, path
        return None

    def save(self, epoch: int) -> None:
        """Write the state after ``epoch`` (0-based) as ``epoch-{epoch + 1}.weights.h5``."""
        self.folder.mkdir(parents=True, exist_ok=True)
        done = epoch + 1
        tmp = self.folder / f".tmp-epoch-{done:04d}.weights.h5"
        self.model.save_weights(str(tmp), overwrite=True)
        with tmp.open("rb+") as handle:
            os.fsync(handle.fileno())  # on disk before the rename makes it the backup
        pause(f"backup-written:{epoch}")
        tmp.replace(self.folder / f"epoch-{done:04d}.weights.h5")
        pause(f"backup-renamed:{epoch}")
        for _, old in self.backups()[self.KEEP :]:
            old.unlink(missing_ok=True)


def chance_level(labels, num_classes: int) -> float:
    """The accuracy of always answering the most common class of ``labels`` (1/n if empty)."""
    import numpy as np

    counts = np.bincount(np.asarray(labels, np.int64), minlength=num_classes)
    return float(counts.max() / counts.sum()) if counts.sum() else 1.0 / num_classes


class ChanceWatch(keras.callbacks.Callback):
    """Says while training when validation accuracy is still at the level of guessing.

    ``chance`` is the accuracy of always answering the most common class; ``margin`` what a
    model must beat it by (a few validation images more). From epoch ``after`` (1-based) on, the
    first epoch still within the margin is reported once, and recovery is reported too.
    """

    def __init__(self, chance: float, margin: float, after: int = 3, log=print) -> None:
        super().__init__()
        self.chance, self.margin, self.after, self.log = chance, margin, after, log
        self.warned = False

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get("val_accuracy")
        if value is None or epoch + 1 < self.after:
            return
        at_chance = value <= self.chance + self.margin
        if at_chance and not self.warned:
            self.log(
                f"warning: validation accuracy {value:.3f} after {epoch + 1} epochs is still at "
                f"chance level (always answering the most common class: {self.chance:.3f}, "
                f"within {self.margin:.3f}): the model has learnt nothing yet (more images per "
                "class, or a pretrained --base, help)"
            )
            self.warned = True
        elif self.warned and not at_chance:
            self.log(f"validation accuracy {value:.3f}: above chance level now")
            self.warned = False
