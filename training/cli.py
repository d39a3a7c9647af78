"""``edgecam train | export | evaluate`` (also ``python -m training ...``)."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import fields
from pathlib import Path

from edgecam import logs
from edgecam.config import ResizeMode
from edgecam.errors import EXIT_INTERRUPTED, ConfigError, raise_if_interrupted, run_command
from edgecam.runtime.native import capture_native_stderr
from training.auto import (
    BN_SLOW_FROM_STEPS,
    FAST_BN_MOMENTUM,
    MIN_STEPS_PER_EPOCH,
    PRETRAINED_BASE,
    PRETRAINED_ENTRY,
    SMALL_ALPHA,
    SMALL_DEPTH,
    SMALL_FOLDER,
)
from training.commands import cmd_evaluate, cmd_export, cmd_train
from training.data import IMBALANCE_THRESHOLD, SOURCE_DEFAULTS, DataConfig
from training.export import ExportConfig
from training.model import (
    ARCHITECTURES,
    BASES,
    TRANSFER_ALPHA,
    V3_ALPHA,
    Augmentation,
    ModelSpec,
)
from training.quantize import IO_DTYPES, MODES
from training.train import (
    DEFAULT_BACKBONE_WEIGHTS,
    FINE_TUNE_LR_FACTOR,
    OPTIMIZERS,
    SCHEDULES,
    STRATEGIES,
    TrainConfig,
)


def _default(cls, name: str):
    """The default of the dataclass field ``cls.name``: every default lives in its config."""
    return next(f.default for f in fields(cls) if f.name == name)


_EXPORT = ExportConfig()
_FASHION = SOURCE_DEFAULTS["fashion-mnist"]


def _data_args(p: argparse.ArgumentParser, limit_help: str, evaluate: bool = False) -> None:
    p.add_argument(
        "--data",
        help="a test folder, evaluated whole (one sub-folder per class, some or all of the "
        "model's classes), or the Fashion-MNIST IDX folder with --dataset fashion-mnist "
        "(default: the run's or the bundle's held-out test split)"
        if evaluate
        else "image folder (one sub-folder per class), or the Fashion-MNIST IDX folder with "
        "--dataset fashion-mnist",
    )
    p.add_argument(
        "--dataset", choices=["fashion-mnist"], help="a standard dataset (default: --data)"
    )
    p.add_argument(
        "--test-data",
        help="a separate test folder with the same classes, used whole (default: a held-out split)",
    )
    p.add_argument(
        "--val-split",
        type=float,
        default=_default(DataConfig, "val_split"),
        help="fraction of each class held out for validation, and for test without "
        "--test-data (default: %(default)s)",
    )
    p.add_argument("--limit", type=int, metavar="N", help=limit_help)


def build_parser() -> argparse.ArgumentParser:
    """The train / export / evaluate parser; defaults come from the config dataclasses."""
    parser = argparse.ArgumentParser(prog="edgecam", description="Train, export and evaluate.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", help="train a MobileNet-style classifier")
    _data_args(p, "use at most N training images, for quick runs (default: all)")
    p.add_argument(
        "--out", required=True, type=Path, help="run folder: checkpoints, CSV log, recipe"
    )
    p.add_argument(
        "--arch",
        default=_default(ModelSpec, "arch"),
        choices=ARCHITECTURES,
        help="depthwise-separable (V1) or inverted-residual (V2) network (default: %(default)s)",
    )
    p.add_argument(
        "--alpha",
        type=float,
        help=f"width multiplier (default: {_default(ModelSpec, 'alpha'):g}; {SMALL_ALPHA:g} "
        f"under {SMALL_FOLDER} training images; with --base: {TRANSFER_ALPHA:g} for "
        f"mobilenet_v2, {V3_ALPHA:g} for mobilenet_v3_*)",
    )
    p.add_argument(
        "--depth",
        type=int,
        help="blocks (V1: 1-13) or stages (V2: 1-7) to keep (default: all; "
        f"{SMALL_DEPTH} under {SMALL_FOLDER} training images)",
    )
    p.add_argument(
        "--bn-momentum",
        type=float,
        help=f"BatchNorm moving-average momentum (default: {_default(ModelSpec, 'bn_momentum')}; "
        f"{FAST_BN_MOMENTUM} for runs under {BN_SLOW_FROM_STEPS} steps)",
    )
    p.add_argument(
        "--input-size",
        type=int,
        help=f"input height and width in pixels (default: {_default(DataConfig, 'input_size')}, "
        f"{_FASHION['input_size']} for fashion-mnist)",
    )
    p.add_argument(
        "--channels",
        type=int,
        choices=[1, 3],
        help=f"1 (gray) or 3 (RGB) (default: {_default(DataConfig, 'channels')}, "
        f"{_FASHION['channels']} for fashion-mnist)",
    )
    p.add_argument(
        "--dropout",
        type=float,
        default=_default(ModelSpec, "dropout"),
        help="dropout before the classifier layer (default: %(default)s)",
    )
    p.add_argument(
        "--base",
        choices=BASES,
        help="train a new head on this pretrained backbone (default: none, from scratch; "
        f"{PRETRAINED_BASE} from {PRETRAINED_ENTRY} for a folder under {SMALL_FOLDER} images "
        "when that model is downloaded)",
    )
    p.add_argument(
        "--from-scratch",
        action="store_true",
        help="train from random weights, also where a small folder would start from "
        f"{PRETRAINED_ENTRY} (default: off)",
    )
    p.add_argument(
        "--weights",
        metavar="imagenet|NAME|FILE",
        help="the backbone's pretrained weights: imagenet (Keras' cache, else a checked "
        "download), a .h5 / .weights.h5 / .keras file saved from the same backbone, for "
        "machines without internet, or for mobilenet_v1 a MobileNet V1 .tflite or catalogue "
        f"NAME (default: {DEFAULT_BACKBONE_WEIGHTS})",
    )
    p.add_argument(
        "--fine-tune-epochs",
        type=int,
        default=_default(TrainConfig, "fine_tune_epochs"),
        help="with --base: then N epochs training the backbone's top layers too, at "
        f"{FINE_TUNE_LR_FACTOR:g}x the learning rate (default: %(default)s)",
    )
    p.add_argument(
        "--fine-tune-layers",
        type=int,
        default=_default(TrainConfig, "fine_tune_layers"),
        help="backbone layers, from the top, that fine-tuning trains (default: %(default)s)",
    )
    p.add_argument(
        "--epochs",
        type=int,
        default=_default(TrainConfig, "epochs"),
        help="most epochs; early stopping may end sooner (default: %(default)s)",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        help=f"images per training step (default: {_default(TrainConfig, 'batch_size')}; "
        f"16 under 500 training images, 32 under {SMALL_FOLDER})",
    )
    p.add_argument(
        "--steps-per-epoch",
        type=int,
        help="batches an epoch is made of (default: one pass over the training images, "
        f"at least {MIN_STEPS_PER_EPOCH})",
    )
    p.add_argument(
        "--optimizer",
        default=_default(TrainConfig, "optimizer"),
        choices=OPTIMIZERS,
        help="optimizer; sgd has Nesterov momentum 0.9 (default: %(default)s)",
    )
    p.add_argument(
        "--lr",
        type=float,
        default=_default(TrainConfig, "learning_rate"),
        help="learning rate (default: %(default)s)",
    )
    p.add_argument(
        "--schedule",
        default=_default(TrainConfig, "schedule"),
        choices=SCHEDULES,
        help="learning rate over the epochs (default: %(default)s)",
    )
    p.add_argument(
        "--label-smoothing",
        type=float,
        default=_default(TrainConfig, "label_smoothing"),
        help="label smoothing of the loss, in [0, 1) (default: %(default)s)",
    )
    p.add_argument(
        "--no-class-weights",
        action="store_true",
        help="plain loss on imbalanced data (default: class weights once the largest class "
        f"is {IMBALANCE_THRESHOLD:g}x the smallest)",
    )
    p.add_argument(
        "--patience",
        type=int,
        default=_default(TrainConfig, "patience"),
        help="stop after N epochs without a better validation accuracy; 0: never "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=_default(TrainConfig, "seed"),
        help="seed of the split, the weights and the augmentation (default: %(default)s)",
    )
    p.add_argument(
        "--strategy",
        default=_default(TrainConfig, "strategy"),
        choices=STRATEGIES,
        help="tf.distribute strategy: mirrored uses every local GPU, multiworker several "
        "machines, each started with TF_CONFIG (docs/TRAINING.md) (default: %(default)s)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the interrupted run in --out (default: start a new run)",
    )
    p.add_argument(
        "--no-augment", action="store_true", help="no augmentation at all (default: augment)"
    )
    p.add_argument(
        "--no-flip", action="store_true", help="no random horizontal flips (default: flip)"
    )
    for name, what in (
        ("rotation", "random rotation, a fraction of a full turn"),
        ("zoom", "random zoom, a fraction of the size"),
        ("translate", "random shift, a fraction of the size"),
        ("brightness", "random brightness change, a fraction of the pixel range"),
        ("contrast", "random contrast change, a fraction"),
    ):
        p.add_argument(
            f"--{name}",
            type=float,
            default=_default(Augmentation, name),
            help=f"{what}; 0: off (default: %(default)s)",
        )

    p = sub.add_parser("export", help="quantize a trained run into a model bundle")
    p.add_argument("--run", required=True, type=Path, help="the run folder of `edgecam train`")
    p.add_argument("--out", required=True, type=Path, help="bundle folder to write or replace")
    p.add_argument(
        "--mode",
        default=_EXPORT.quantization.mode,
        choices=MODES,
        help="float16: float16 weights; dynamic: int8 weights; int8: full integer "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--io-dtype",
        default=_EXPORT.quantization.io_dtype,
        choices=IO_DTYPES,
        help="input and output type of an int8 model (default: %(default)s)",
    )
    p.add_argument(
        "--calibration-samples",
        type=int,
        default=_EXPORT.quantization.calibration_samples,
        help="training images an int8 export is calibrated on (default: %(default)s)",
    )
    p.add_argument(
        "--test-limit",
        type=int,
        metavar="N",
        help="evaluate on at most N test images (default: all)",
    )
    p.add_argument(
        "--max-drop",
        type=float,
        default=_EXPORT.max_drop,
        help="accuracy points the TFLite model may lose before the export fails "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="export a model no better than chance, or one that answers a single class "
        "(default: refuse it)",
    )
    p.add_argument(
        "--no-edgetpu",
        action="store_true",
        help="skip the Edge TPU check and compile (default: done for int8)",
    )
    p.add_argument("--name", help="model name in model.json (default: the --out folder's name)")
    p.add_argument(
        "--resize",
        default=_EXPORT.resize.value,
        choices=[mode.value for mode in ResizeMode],
        help="how the app fits frames to the input (default: %(default)s, as in training)",
    )

    p = sub.add_parser("evaluate", help="metrics, plots and a report for a model")
    p.add_argument(
        "--model",
        required=True,
        type=Path,
        help="a .keras checkpoint, a .tflite, a bundle or a run folder (its best.keras)",
    )
    p.add_argument(
        "--run",
        type=Path,
        help="run folder: its data split and training curves (default: --data/--dataset)",
    )
    _data_args(p, "evaluate on at most N test images (default: all)", evaluate=True)
    p.add_argument("--out", required=True, type=Path, help="report folder")
    return parser


COMMANDS = {"train": cmd_train, "export": cmd_export, "evaluate": cmd_evaluate}


#: -v / -q, accepted anywhere on the line (``edgecam -v train ...`` forwards them here).
_VERBOSITY_FLAGS = {
    "-v": logs.VERBOSE,
    "--verbose": logs.VERBOSE,
    "-q": logs.QUIET,
    "--quiet": logs.QUIET,
}


_EARLY_INTERRUPT = "edgecam: interrupted before any work was done"


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:  # while parsing or importing, before the command's own handling
        print(_EARLY_INTERRUPT, file=sys.stderr)
        return EXIT_INTERRUPTED


def _main(argv: list[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    verbosity = max(
        [_VERBOSITY_FLAGS[a] for a in argv if a in _VERBOSITY_FLAGS], default=logs.NORMAL
    )
    args = build_parser().parse_args([a for a in argv if a not in _VERBOSITY_FLAGS])
    logs.configure(verbosity)
    # TensorFlow logs CUDA probing failures as errors on every CPU-only machine.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        # TensorFlow's import prints oneDNN/CUDA notices straight to fd 2; keep them quiet.
        with capture_native_stderr():
            import tensorflow  # noqa: F401
        raise_if_interrupted()  # one the import machinery swallowed
    except ImportError:
        print(
            f"edgecam: error: {args.command} needs TensorFlow, which is not installed — "
            "pip install 'edgecam[train]' (or use .venv-train: make venv-train)",
            file=sys.stderr,
        )
        return ConfigError.exit_code
    except KeyboardInterrupt:  # Ctrl-C in the seconds TensorFlow takes to import
        print(_EARLY_INTERRUPT, file=sys.stderr)
        return EXIT_INTERRUPTED
    return run_command(lambda: COMMANDS[args.command](args), interrupted_hint=_HINTS[args.command])


#: What Ctrl-C leaves behind, said on the way out.
_HINTS = {
    "train": "`edgecam train ... --resume` (the same flags) continues the run from its last "
    "finished epoch",
    "export": "the bundle at --out is as it was before; run the same export again",
    "evaluate": "no report was written; run the evaluation again",
}


if __name__ == "__main__":
    sys.exit(main())
