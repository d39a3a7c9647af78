"""Fit a model with the callbacks a long CPU run needs.

Best checkpoint (``best.keras``), early stopping, a CSV log, a fixed seed, and resume: Keras'
``BackupAndRestore`` saves the full state (weights, optimizer, epoch) at the end of every epoch,
so Ctrl-C or a crash loses at most the epoch in progress and ``--resume`` carries on from there.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from edgecam.files import atomic_write_text
from training.errors import TrainingError
from training.model import Augmentation, ModelSpec, build_model, with_augmentation

BEST = "best.keras"
LOG = "training_log.csv"
BACKUP = "backup"
RECIPE = "recipe.json"


@dataclass(frozen=True)
class TrainConfig:
    """The training recipe (recorded in the bundle's model.json)."""

    model: ModelSpec = field(default_factory=ModelSpec)
    augmentation: Augmentation = field(default_factory=Augmentation)
    epochs: int = 20
    batch_size: int = 64
    optimizer: str = "adam"  # adam | sgd
    learning_rate: float = 1e-3
    schedule: str = "cosine"  # cosine | constant
    label_smoothing: float = 0.0
    balance_classes: bool = True  # class weights when the data is imbalanced
    patience: int = 5  # early stopping on val_accuracy; 0 = off
    seed: int = 42
    strategy: str = "default"  # default | mirrored
    base: str | None = None  # transfer learning backbone (mobilenet_v2)
    weights: str | None = None  # imagenet
    fine_tune_epochs: int = 0
    fine_tune_layers: int = 30

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise TrainingError("epochs and batch size must be at least 1")
        if self.optimizer not in ("adam", "sgd"):
            raise TrainingError(f"unknown optimizer '{self.optimizer}'", "use adam or sgd")
        if self.schedule not in ("cosine", "constant"):
            raise TrainingError(f"unknown schedule '{self.schedule}'", "use cosine or constant")
        if self.strategy not in ("default", "mirrored"):
            raise TrainingError(f"unknown strategy '{self.strategy}'", "use default or mirrored")
        if not 0 <= self.label_smoothing < 1:
            raise TrainingError("label smoothing must be in [0, 1)")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrainResult:
    model: object  # the best keras.Model (without augmentation)
    best_path: Path
    log_path: Path
    epochs_run: int
    best_val_accuracy: float | None
    seconds: float
    images_per_second: float


def _optimizer(config: TrainConfig, steps_per_epoch: int, epochs: int, lr: float):
    import keras

    if config.schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(
            lr, decay_steps=max(1, steps_per_epoch * epochs), alpha=0.01
        )
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(lr, momentum=0.9, nesterov=True)
    return keras.optimizers.Adam(lr)


def _strategy(name: str):
    import tensorflow as tf

    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def _compile(model, config: TrainConfig, steps: int, epochs: int, lr: float) -> None:
    import keras

    loss = keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing)
    model.compile(optimizer=_optimizer(config, steps, epochs, lr), loss=loss, metrics=["accuracy"])


def _one_hot(ds, num_classes: int):
    import tensorflow as tf

    return ds.map(lambda x, y: (tf.cast(x, tf.float32), tf.one_hot(y, num_classes)))


def train(
    config: TrainConfig,
    train_ds,
    val_ds,
    steps_per_epoch: int,
    out_dir: Path,
    class_weight: dict[int, float] | None = None,
    resume: bool = False,
    extra_callbacks: list | None = None,
) -> TrainResult:
    """Train on batched ``(uint8 image, int label)`` datasets; write checkpoints into ``out_dir``.

    Raises:
        TrainingError: ``out_dir`` holds an interrupted run and ``resume`` is False, or
            ``resume`` is True and there is nothing to resume.
    """
    import keras

    from training.callbacks import BestModel, Throughput, best_logged

    out_dir.mkdir(parents=True, exist_ok=True)
    backup = out_dir / BACKUP
    if backup.exists() and not resume:
        raise TrainingError(
            f"{out_dir} holds an interrupted run",
            "pass --resume to continue it, or choose another --out folder",
        )
    if resume and not backup.exists():
        raise TrainingError(f"nothing to resume in {out_dir}", "start without --resume")
    if not resume:
        (out_dir / LOG).unlink(missing_ok=True)
    keras.utils.set_random_seed(config.seed)
    atomic_write_text(out_dir / RECIPE, json.dumps(config.to_dict(), indent=2) + "\n")

    spec = config.model
    with _strategy(config.strategy).scope():
        if config.base:
            from training.model import build_transfer_model

            model, backbone = build_transfer_model(config.base, config.weights or "imagenet", spec)
        else:
            model, backbone = build_model(spec), None
        trainable = with_augmentation(model, config.augmentation, config.seed)
        _compile(trainable, config, steps_per_epoch, config.epochs, config.learning_rate)

    throughput = Throughput(config.batch_size)
    best_so_far = best_logged(out_dir / LOG) if resume else None
    callbacks = [
        keras.callbacks.BackupAndRestore(str(backup), save_freq="epoch", delete_checkpoint=True),
        BestModel(model, out_dir / BEST, best_so_far),
        keras.callbacks.CSVLogger(str(out_dir / LOG), append=True),
        throughput,
    ]
    callbacks += extra_callbacks or []
    if config.patience:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_accuracy", patience=config.patience, restore_best_weights=False
            )
        )
    verbose = 1 if sys.stdout.isatty() else 2
    started = time.perf_counter()
    history = trainable.fit(
        _one_hot(train_ds, spec.num_classes),
        validation_data=_one_hot(val_ds, spec.num_classes),
        epochs=config.epochs,
        class_weight=class_weight,
        callbacks=callbacks,
        verbose=verbose,
        shuffle=False,  # the tf.data pipeline shuffles
    )
    epochs_run = len(history.history.get("loss", []))

    if backbone is not None and config.fine_tune_epochs:
        backbone.trainable = True
        for layer in backbone.layers[: -config.fine_tune_layers]:
            layer.trainable = False
        _compile(
            trainable, config, steps_per_epoch, config.fine_tune_epochs, config.learning_rate / 10
        )
        fine = trainable.fit(
            _one_hot(train_ds, spec.num_classes),
            validation_data=_one_hot(val_ds, spec.num_classes),
            epochs=config.fine_tune_epochs,
            class_weight=class_weight,
            callbacks=callbacks[1:],
            verbose=verbose,
            shuffle=False,
        )
        epochs_run += len(fine.history.get("loss", []))

    best = keras.models.load_model(out_dir / BEST) if (out_dir / BEST).exists() else model
    return TrainResult(
        model=best,
        best_path=out_dir / BEST,
        log_path=out_dir / LOG,
        epochs_run=epochs_run,
        best_val_accuracy=callbacks[1].best,
        seconds=time.perf_counter() - started,
        images_per_second=throughput.rate,
    )
