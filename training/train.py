"""Fit a model with the callbacks a long CPU run needs, in two explicit phases.

Phase ``head`` trains the model (with a pretrained base: only the new head); phase
``fine_tune`` (``--base`` with ``--fine-tune-epochs``) then also trains the backbone's top
layers, at a lower learning rate, continuing the epoch count. A frozen backbone from an 8-bit
``.tflite`` trains its head on the file's own features instead (training.file_features).

Best checkpoint (``best.keras``), early stopping, a CSV log, a fixed seed, and resume:
:class:`~training.callbacks.SafeBackup` saves the full state (weights, optimizer, epoch) at the
end of every epoch into ``backup/<phase>/``, written aside and renamed, so Ctrl-C, a crash or a
SIGKILL loses at most the epoch in progress and
``--resume`` carries on from there, in the phase it was in: when the fine-tune phase starts it
writes ``backup/phase.json`` and the weights it starts from, so a resume skips the head phase.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from edgecam.files import atomic_write_text
from training.data import DEFAULT_SEED
from training.distribute import STRATEGIES, fewest_epochs, make_strategy, own_folder
from training.errors import TrainingError
from training.file_features import feature_splits, features_file, head_of
from training.model import (
    Augmentation,
    ModelSpec,
    build_model,
    build_transfer_model,
    with_augmentation,
)

BEST = "best.keras"
LOG = "training_log.csv"
BACKUP = "backup"  # present while a run is unfinished
RECIPE = "recipe.json"
HEAD = "head"
FINE_TUNE = "fine_tune"
#: In BACKUP once the fine-tune phase has started: {"phase": ..., "initial_epoch": ...}.
PHASE_MARKER = "phase.json"
#: In BACKUP: the weights the fine-tune phase started from (a resume before its first epoch
#: ended starts there again; after that its own backup has newer ones).
FINE_TUNE_START = "fine_tune_start.weights.h5"
#: Fine-tuning a pretrained backbone at the head's learning rate would wipe out what the
#: pretraining learnt in the first steps; a tenth is the usual transfer-learning step down.
FINE_TUNE_LR_FACTOR = 0.1
#: What ``--base`` is pretrained on when ``--weights`` is not given.
DEFAULT_BACKBONE_WEIGHTS = "imagenet"
OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("cosine", "constant")


@dataclass(frozen=True)
class TrainConfig:
    """The training recipe (recorded in the bundle's model.json)."""

    model: ModelSpec = field(default_factory=ModelSpec)
    augmentation: Augmentation = field(default_factory=Augmentation)
    epochs: int = 20
    batch_size: int = 64
    #: Batches an epoch is made of; None: one pass over the training images (``edgecam train``
    #: sets it on small folders, see training.auto).
    steps_per_epoch: int | None = None
    optimizer: str = "adam"  # adam | sgd
    learning_rate: float = 1e-3
    schedule: str = "cosine"  # cosine | constant
    label_smoothing: float = 0.0
    balance_classes: bool = True  # class weights when the data is imbalanced
    patience: int = 5  # early stopping on val_accuracy; 0 = off
    seed: int = DEFAULT_SEED
    strategy: str = "default"  # training.distribute.STRATEGIES
    base: str | None = None  # transfer learning backbone (training.model.BASES)
    weights: str | None = None  # the backbone's pretraining; None: DEFAULT_BACKBONE_WEIGHTS
    fine_tune_epochs: int = 0  # epochs of the fine-tune phase (with a base only)
    fine_tune_layers: int = 30  # backbone layers (from the top) the fine-tune phase trains

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or (self.steps_per_epoch or 1) < 1:
            raise TrainingError("epochs, batch size and steps per epoch must be at least 1")
        if self.optimizer not in OPTIMIZERS:
            raise TrainingError(f"unknown optimizer '{self.optimizer}'", "use adam or sgd")
        if self.schedule not in SCHEDULES:
            raise TrainingError(f"unknown schedule '{self.schedule}'", "use cosine or constant")
        if self.strategy not in STRATEGIES:
            raise TrainingError(
                f"unknown strategy '{self.strategy}'", f"use one of {', '.join(STRATEGIES)}"
            )
        if not 0 <= self.label_smoothing < 1:
            raise TrainingError("label smoothing must be in [0, 1)")

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def backbone_weights(self) -> str:
        """The pretraining of ``base``: ``weights``, else :data:`DEFAULT_BACKBONE_WEIGHTS`."""
        return self.weights or DEFAULT_BACKBONE_WEIGHTS

    @property
    def fine_tune_learning_rate(self) -> float:
        """The fine-tune phase's learning rate (:data:`FINE_TUNE_LR_FACTOR` of the head's)."""
        return self.learning_rate * FINE_TUNE_LR_FACTOR


@dataclass(frozen=True)
class Phase:
    """One ``fit`` of a run: its name, its epochs (absolute indices) and its learning rate."""

    name: str  # HEAD | FINE_TUNE
    initial_epoch: int  # first epoch index (Keras' initial_epoch)
    epochs: int  # the index it stops before (Keras' epochs)
    learning_rate: float

    @property
    def length(self) -> int:
        return self.epochs - self.initial_epoch


@dataclass(frozen=True)
class PhaseResult:
    name: str
    epochs: tuple[int, ...]  # the epoch indices this call ran (a resume skips finished ones)


@dataclass
class TrainResult:
    model: object  # the best keras.Model (without augmentation)
    best_path: Path
    log_path: Path
    epochs_run: int  # epochs this call ran, all phases together
    best_val_accuracy: float | None
    seconds: float
    images_per_second: float
    phases: list[PhaseResult] = field(default_factory=list)


def _optimizer(config: TrainConfig, steps_per_epoch: int, epochs: int, lr: float):
    import keras

    if config.schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(
            lr, decay_steps=max(1, steps_per_epoch * epochs), alpha=0.01
        )
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(lr, momentum=0.9, nesterov=True)
    return keras.optimizers.Adam(lr)


def _compile(model, config: TrainConfig, steps: int, epochs: int, lr: float) -> None:
    import keras

    loss = keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing)
    model.compile(optimizer=_optimizer(config, steps, epochs, lr), loss=loss, metrics=["accuracy"])


def _one_hot(ds, num_classes: int):
    import tensorflow as tf

    return ds.map(lambda x, y: (tf.cast(x, tf.float32), tf.one_hot(y, num_classes)))


def _unfreeze_top(backbone, layers: int) -> None:
    """Make the backbone's top ``layers`` trainable, the rest frozen."""
    backbone.trainable = True
    for layer in backbone.layers[:-layers]:
        layer.trainable = False


def _read_marker(backup: Path) -> dict | None:
    path = backup / PHASE_MARKER
    if not path.exists():
        return None  # no marker: the run was in its head phase
    try:
        marker = json.loads(path.read_text())
        if marker["phase"] != FINE_TUNE:
            raise ValueError(marker["phase"])
        return {"phase": FINE_TUNE, "initial_epoch": int(marker["initial_epoch"])}
    except (OSError, ValueError, KeyError, TypeError):
        raise TrainingError(
            f"{path} is damaged", "train again into a new --out folder, or delete the file"
        ) from None


def check_run_folder(out_dir: Path, resume: bool) -> None:
    """Refuse to start over an interrupted run, or to resume where there is none.

    Raises:
        TrainingError: ``out_dir`` holds an interrupted run and ``resume`` is False, or
            ``resume`` is True and there is nothing to resume.
    """
    backup = out_dir / BACKUP
    if backup.exists() and not resume:
        raise TrainingError(
            f"{out_dir} holds an interrupted run",
            "pass --resume to continue it, or choose another --out folder",
        )
    if resume and not backup.exists():
        raise TrainingError(f"nothing to resume in {out_dir}", "start without --resume")


def interrupted_epochs(out_dir: Path) -> int | None:
    """Epochs an interrupted run in ``out_dir`` had finished (from its log), or None if the run
    is not interrupted."""
    if not (out_dir / BACKUP).exists():
        return None
    try:
        return max(0, len((out_dir / LOG).read_text().splitlines()) - 1)
    except OSError:
        return 0


def train(
    config: TrainConfig,
    train_ds,
    val_ds,
    steps_per_epoch: int,
    out_dir: Path,
    class_weight: dict[int, float] | None = None,
    resume: bool = False,
    extra_callbacks: list | None = None,
    log=print,
    chance: tuple[float, float] | None = None,
) -> TrainResult:
    """Train on batched ``(uint8 image, int label)`` datasets; write checkpoints into ``out_dir``.

    Runs the head phase, then (a ``base`` with ``fine_tune_epochs``) the fine-tune phase, which
    continues the epoch count. ``resume`` continues an interrupted run in the phase it was in.
    ``chance``: (chance-level accuracy, margin) for a warning while validation accuracy stays
    there (:class:`~training.callbacks.ChanceWatch`); ``log``: where progress lines go.

    Raises:
        TrainingError: ``out_dir`` holds an interrupted run and ``resume`` is False, or
            ``resume`` is True and there is nothing to resume.
    """
    import keras

    from training.callbacks import (
        BestModel,
        ChanceWatch,
        PatientStop,
        SafeBackup,
        SwallowedCtrlC,
        Throughput,
        best_logged,
        best_logged_epoch,
        save_atomically,
    )

    strategy, role = make_strategy(config.strategy)
    # Only the chief writes the run's files; another worker keeps its own state apart.
    own = own_folder(out_dir, role)
    own.mkdir(parents=True, exist_ok=True)
    backup = own / BACKUP
    check_run_folder(own, resume)
    marker = _read_marker(backup) if resume else None
    if marker is not None and not (config.base and config.fine_tune_epochs):
        raise TrainingError(
            f"{out_dir} was interrupted in its fine-tune phase",
            "resume with the same --base and --fine-tune-epochs",
        )
    if not resume and role.chief:
        (out_dir / LOG).unlink(missing_ok=True)
    keras.utils.set_random_seed(config.seed)
    if role.chief:
        atomic_write_text(out_dir / RECIPE, json.dumps(config.to_dict(), indent=2) + "\n")

    spec = config.model
    source = features_file(config)
    with strategy.scope():
        if config.base:
            model, backbone = build_transfer_model(config.base, config.backbone_weights, spec)
        else:
            model, backbone = build_model(spec), None
        if source is not None:
            trainable = head_of(model)
        else:
            trainable = with_augmentation(model, config.augmentation, config.seed)
    initial = trainable.get_weights()  # before a resume restores any
    if source is not None:
        train_ds, val_ds, both_ds = feature_splits(
            source, train_ds, val_ds, own / "cache", config.batch_size, config.seed, log
        )

    throughput = Throughput(config.batch_size)
    best = BestModel(model, out_dir / BEST, best_logged(out_dir / LOG) if resume else None)
    if chance is not None:
        extra_callbacks = [ChanceWatch(*chance, log=log), *(extra_callbacks or [])]
    shared = [best, keras.callbacks.CSVLogger(str(out_dir / LOG), append=True), throughput]
    if not role.chief:
        shared = [throughput]
    shared.append(SwallowedCtrlC())
    # Repeated: an epoch is ``steps_per_epoch`` batches, which on a small folder is more than
    # one pass over it (see training.auto).
    train_data = _one_hot(train_ds.repeat(), spec.num_classes)
    val_data = _one_hot(val_ds, spec.num_classes)

    def fit(phase: Phase) -> PhaseResult:
        with strategy.scope():
            _compile(trainable, config, steps_per_epoch, phase.length, phase.learning_rate)
        csv_log = out_dir / LOG if role.chief else None
        agree = fewest_epochs(strategy, phase.epochs) if role.workers > 1 else None
        state = SafeBackup(backup / phase.name, phase.initial_epoch, csv_log, log=log, agree=agree)
        # First, so that every later callback sees the restored state; its writer last.
        callbacks = [state, *shared]
        stopper = None
        if config.patience:
            stopper = PatientStop(config.patience)
            callbacks.append(stopper)
        # The caller's callbacks see each epoch once its backup exists.
        callbacks += [state.writer(), *(extra_callbacks or [])]
        history = trainable.fit(
            train_data,
            validation_data=val_data,
            initial_epoch=phase.initial_epoch,
            epochs=phase.epochs,
            steps_per_epoch=steps_per_epoch,
            class_weight=class_weight,
            callbacks=callbacks,
            verbose=1 if sys.stdout.isatty() else 2,
            shuffle=False,  # the tf.data pipeline shuffles
        )
        if stopper is not None and stopper.stopped_epoch > 0:
            log(
                f"stopped at epoch {stopper.stopped_epoch + 1} of {phase.epochs}: validation "
                f"accuracy (at equal accuracy, loss) did not improve for {config.patience} "
                f"epoch{'s' if config.patience > 1 else ''}"
            )
        return PhaseResult(phase.name, tuple(history.epoch))

    started = time.perf_counter()
    phases = []
    if marker is None:
        phases.append(fit(Phase(HEAD, 0, config.epochs, config.learning_rate)))
        # Resumed after its last epoch's backup, the head phase runs no epoch: it had run all.
        head_end = phases[-1].epochs[-1] + 1 if phases[-1].epochs else config.epochs
    else:
        head_end = marker["initial_epoch"]
    if backbone is not None and config.fine_tune_epochs:
        fine = Phase(
            FINE_TUNE, head_end, head_end + config.fine_tune_epochs, config.fine_tune_learning_rate
        )
        _unfreeze_top(backbone, config.fine_tune_layers)
        if marker is None:
            backup.mkdir(exist_ok=True)
            tmp = backup / f".tmp-{FINE_TUNE_START}"
            trainable.save_weights(str(tmp))
            tmp.replace(backup / FINE_TUNE_START)  # complete before the marker points at it
            atomic_write_text(
                backup / PHASE_MARKER,
                json.dumps({"phase": FINE_TUNE, "initial_epoch": head_end}) + "\n",
            )
        else:
            # Resumed: start where the phase started; its own backup, if any, is newer.
            try:
                trainable.load_weights(str(backup / FINE_TUNE_START))
            except Exception as exc:
                raise TrainingError(
                    f"{backup / FINE_TUNE_START} is damaged ({str(exc).splitlines()[0][:100]})",
                    f"delete {backup / PHASE_MARKER} to redo the fine-tune phase from the head "
                    "phase's last backup, or train again into a new --out folder",
                ) from None
        phases.append(fit(fine))
    chosen = best_logged_epoch(out_dir / LOG) if source is not None and role.workers == 1 else None
    if chosen is not None:
        # Measured on the validation images, then trained on them too, for the whole schedule: a
        # small folder's splits hold out a fifth of it (5 per class leave 3 to train on), and a
        # validation split of a few images picks its best epoch by chance. Fitting the same head
        # on the same features (a one-off script; 2,000 Fashion-MNIST test images, 200 of the
        # cluttered shapes), at 5 / 10 / 25 / 50 per class: the best epoch 65.2 / 76.5 / 79.6 /
        # 82.5% and 58.0 / 74.5 / 81.0 / 86.0%; refitted for the best epoch's count 70.8 / 77.3
        # / 79.7 / 82.4% and 68.0 / 80.5 / 80.5 / 87.0%; for every epoch 71.3 / 77.8 / 79.8 /
        # 82.9% and 74.5 / 79.0 / 83.5 / 88.5%.
        keras.utils.set_random_seed(config.seed)
        trainable.set_weights(initial)
        with strategy.scope():
            _compile(trainable, config, steps_per_epoch, config.epochs, config.learning_rate)
        trainable.fit(
            _one_hot(both_ds.repeat(), spec.num_classes),
            epochs=config.epochs,
            steps_per_epoch=steps_per_epoch,
            class_weight=class_weight,
            callbacks=[SwallowedCtrlC()],
            verbose=0,
            shuffle=False,
        )
        save_atomically(model, out_dir / BEST)
        log(
            "trained the head again on the training and validation images together, for all "
            f"{config.epochs} epochs (validation's best was epoch {chosen[1] + 1}, at "
            f"{chosen[0][0]:.4f}); the test split stays unseen"
        )
    shutil.rmtree(backup, ignore_errors=True)

    chief_best = role.chief and (out_dir / BEST).exists()
    saved = keras.models.load_model(out_dir / BEST) if chief_best else model
    return TrainResult(
        model=saved,
        best_path=out_dir / BEST,
        log_path=out_dir / LOG,
        epochs_run=sum(len(p.epochs) for p in phases),
        best_val_accuracy=best.best[0] if best.best else None,
        seconds=time.perf_counter() - started,
        images_per_second=throughput.rate,
        phases=phases,
    )
