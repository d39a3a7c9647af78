"""``edgecam train | export | evaluate`` (also ``python -m training ...``)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from edgecam.errors import EdgecamError
from training.commands import cmd_evaluate, cmd_export, cmd_train


def _data_args(p: argparse.ArgumentParser, limit_help: str) -> None:
    p.add_argument(
        "--data",
        help="image folder (one sub-folder per class), or the Fashion-MNIST "
        "IDX folder with --dataset fashion-mnist",
    )
    p.add_argument("--dataset", choices=["fashion-mnist"], help="a standard dataset")
    p.add_argument("--test-data", help="a separate test folder with the same classes")
    p.add_argument("--val-split", type=float, default=0.1)
    p.add_argument("--limit", type=int, help=limit_help)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edgecam", description="Train, export and evaluate.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("train", help="train a MobileNet-style classifier")
    _data_args(p, "use at most N training images (quick runs)")
    p.add_argument("--out", required=True, type=Path, help="run folder (checkpoints, log)")
    p.add_argument("--arch", default="mobilenet_v1", choices=["mobilenet_v1", "mobilenet_v2"])
    p.add_argument("--alpha", type=float, default=None, help="width multiplier")
    p.add_argument("--depth", type=int, help="blocks (V1) or stages (V2) to keep")
    p.add_argument("--input-size", type=int, help="default 28 for fashion-mnist, else 96")
    p.add_argument("--channels", type=int, choices=[1, 3], help="default 1 for fashion-mnist")
    p.add_argument("--dropout", type=float, default=0.2)
    p.add_argument("--base", choices=["mobilenet_v2"], help="transfer learning backbone")
    p.add_argument("--weights", choices=["imagenet"], help="pretrained backbone weights")
    p.add_argument("--fine-tune-epochs", type=int, default=0)
    p.add_argument("--fine-tune-layers", type=int, default=30)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--optimizer", default="adam", choices=["adam", "sgd"])
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--schedule", default="cosine", choices=["cosine", "constant"])
    p.add_argument("--label-smoothing", type=float, default=0.0)
    p.add_argument("--no-class-weights", action="store_true")
    p.add_argument("--patience", type=int, default=5, help="early stopping (0: off)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--strategy", default="default", choices=["default", "mirrored"])
    p.add_argument("--resume", action="store_true", help="continue an interrupted run")
    p.add_argument("--no-augment", action="store_true")
    p.add_argument("--no-flip", action="store_true")
    for name, default in (
        ("rotation", 0.05),
        ("zoom", 0.1),
        ("translate", 0.1),
        ("brightness", 0.1),
        ("contrast", 0.1),
    ):
        p.add_argument(f"--{name}", type=float, default=default)

    p = sub.add_parser("export", help="quantize a trained run into a model bundle")
    p.add_argument("--run", required=True, type=Path, help="the run folder of `edgecam train`")
    p.add_argument("--out", required=True, type=Path, help="bundle folder to write")
    p.add_argument("--mode", default="int8", choices=["float32", "float16", "dynamic", "int8"])
    p.add_argument("--io-dtype", default="uint8", choices=["uint8", "int8"])
    p.add_argument("--calibration-samples", type=int, default=300)
    p.add_argument("--test-limit", type=int, help="evaluate on at most N test images")
    p.add_argument("--max-drop", type=float, default=1.0, help="accuracy points (default 1)")
    p.add_argument("--no-edgetpu", action="store_true", help="skip the Edge TPU check/compile")
    p.add_argument("--name", help="model name in model.json")
    p.add_argument(
        "--resize",
        default="stretch",
        choices=["stretch", "crop", "letterbox"],
        help="how the app fits frames to the input (default: stretch, as in training)",
    )

    p = sub.add_parser("evaluate", help="metrics, plots and a report for a model")
    p.add_argument("--model", required=True, type=Path, help=".keras, .tflite or bundle")
    p.add_argument("--run", type=Path, help="run folder: its data and training curves")
    _data_args(p, "evaluate on at most N test images")
    p.add_argument("--out", required=True, type=Path, help="report folder")
    return parser


COMMANDS = {"train": cmd_train, "export": cmd_export, "evaluate": cmd_evaluate}


def main(argv: list[str] | None = None) -> int:
    # TensorFlow logs CUDA probing failures as errors on every CPU-only machine.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    args = build_parser().parse_args(argv)
    if not os.environ.get("EDGECAM_VERBOSE"):
        # TensorFlow's import prints oneDNN/CUDA notices straight to fd 2; keep them quiet.
        from edgecam.runtime.native import capture_native_stderr

        try:
            with capture_native_stderr():
                import tensorflow  # noqa: F401
        except ImportError:
            print(
                f"edgecam: error: {args.command} needs TensorFlow, which is not installed — "
                "pip install 'edgecam[train]' (or use .venv-train: make venv-train)",
                file=sys.stderr,
            )
            return 2
    try:
        return COMMANDS[args.command](args)
    except EdgecamError as exc:
        print(f"edgecam: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(
            f"edgecam: interrupted; `edgecam {args.command} ... --resume` continues a training "
            "run from its last finished epoch",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
