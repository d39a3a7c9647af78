"""The ``edgecam`` command line: classify, info, bench and run (headless for now).

Every :class:`~edgecam.errors.EdgecamError` becomes one line on stderr and exit status 2; no
traceback unless ``--verbose``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from edgecam import __version__
from edgecam.config import ClassifierOptions, Delegate, ResizeMode, Runtime
from edgecam.errors import ConfigError, EdgecamError

ASSETS = Path(__file__).resolve().parent.parent / "assets"
#: The bundled default model (Fashion-MNIST, int8; `make default-model` rebuilds it);
#: $EDGECAM_DEFAULT_MODEL points a deployment at its own.
DEFAULT_MODEL = Path(os.environ.get("EDGECAM_DEFAULT_MODEL") or ASSETS / "models" / "default")
#: What runs when no camera is found (Fashion-MNIST test images; `make demo` rebuilds it).
DEMO_CLIP = ASSETS / "demo" / "fashion.mp4"
EXIT_ERROR = 2
EXIT_PARTIAL = 1


def _note(text: str) -> None:
    print(f"edgecam: note: {text}", file=sys.stderr)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _model_options(parser: argparse.ArgumentParser, model_positional: bool = False) -> None:
    if not model_positional:
        parser.add_argument(
            "--model",
            "-m",
            type=Path,
            help="model bundle folder or .tflite (default: the bundled model)",
        )
    parser.add_argument("--labels", type=Path, help="labels file (plain, 'id label' or 'id:label')")
    parser.add_argument(
        "--delegate",
        "-d",
        choices=[d.value for d in Delegate],
        help="where to run (default: auto, best available with CPU fallback)",
    )
    parser.add_argument(
        "--runtime",
        default="auto",
        choices=[r.value for r in Runtime],
        help="TFLite runtime (default: auto = litert, tflite_runtime, tensorflow)",
    )
    parser.add_argument(
        "--threads", "-t", type=_positive_int, help="CPU threads (default: up to 4)"
    )
    parser.add_argument("--edgetpu-device", metavar="DEV", help="usb, usb:N, pci or pci:N")
    parser.add_argument(
        "--gpu-delegate",
        type=Path,
        metavar="LIB",
        help="classic GPU delegate library (or $EDGECAM_GPU_DELEGATE)",
    )
    parser.add_argument(
        "--resize",
        choices=[m.value for m in ResizeMode],
        help="override how frames are fitted to the input (stretch/crop/letterbox)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgecam", description="Image classification with TFLite on the edge."
    )
    parser.add_argument("--version", action="version", version=f"edgecam {__version__}")
    parser.add_argument(
        "--verbose",
        "-v",
        action="store_true",
        help="show the runtimes' own log lines and full tracebacks",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("classify", help="classify image files")
    p.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    _model_options(p)
    p.add_argument("--top-k", "-k", type=_positive_int, default=5)
    p.add_argument("--json", action="store_true", help="one JSON object per line")

    p = sub.add_parser("info", help="describe a model: tensors, ops, labels, Edge TPU")
    p.add_argument("model", type=Path, nargs="?", metavar="MODEL")
    _model_options(p, model_positional=True)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("bench", help="measure inference latency on a delegate")
    p.add_argument("model", type=Path, nargs="?", metavar="MODEL")
    _model_options(p, model_positional=True)
    p.add_argument("--runs", "-n", type=_positive_int, default=100)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--json", action="store_true")

    for name, text in (
        ("train", "train a classifier on an image folder or Fashion-MNIST"),
        ("export", "quantize a trained run into a model bundle"),
        ("evaluate", "metrics, plots and a report for a model"),
    ):
        sub.add_parser(name, help=f"{text} (needs the train extra; see `edgecam {name} -h`)")

    p = sub.add_parser("run", help="live classification (desktop window, or --headless)")
    _model_options(p)
    p.add_argument(
        "--source",
        "-s",
        help="camera index, video file, image folder, stream URL or picamera "
        "(default: camera 0, or the demo clip when there is no camera)",
    )
    p.add_argument("--headless", action="store_true", help="no window: print predictions")
    p.add_argument(
        "--threshold",
        type=float,
        metavar="P",
        help="window: below this top score show 'uncertain' (default 0.5)",
    )
    p.add_argument("--fullscreen", action="store_true", help="window: start fullscreen")
    p.add_argument(
        "--snapshot-dir",
        type=Path,
        metavar="DIR",
        help="window: where snapshots go (default: ~/Pictures/edgecam)",
    )
    p.add_argument("--top-k", "-k", type=_positive_int, help="predictions shown (default 3)")
    p.add_argument(
        "--max-frames", type=_positive_int, metavar="N", help="stop after N classified frames"
    )
    p.add_argument("--loop", action="store_true", help="repeat a video or folder")
    p.add_argument(
        "--no-pace",
        action="store_true",
        help="read files as fast as possible instead of at their frame rate",
    )
    p.add_argument("--fps", type=float, help="frame rate for image folders (default 5)")
    p.add_argument(
        "--stats-every",
        type=float,
        default=2.0,
        metavar="S",
        help="seconds between stats lines (0: only at the end)",
    )
    p.add_argument("--json", action="store_true", help="JSON lines")
    return parser


def _options(args: argparse.Namespace, model: Path | None) -> ClassifierOptions:
    if model is None:
        if not DEFAULT_MODEL.exists():
            raise ConfigError(
                "no model given and the bundled default model is not installed",
                "pass --model BUNDLE_OR_TFLITE",
            )
        model = DEFAULT_MODEL
    return ClassifierOptions(
        model=model,
        labels=args.labels,
        delegate=args.delegate or Delegate.AUTO,
        runtime=args.runtime,
        threads=args.threads,
        top_k=getattr(args, "top_k", None) or 3,
        edgetpu_device=args.edgetpu_device,
        gpu_delegate_library=args.gpu_delegate,
        resize=args.resize,
    )


def _classifier(options: ClassifierOptions):
    from edgecam.vision.classifier import Classifier

    classifier = Classifier(options)
    for notice in classifier.notices:
        _note(notice)
    return classifier


def cmd_classify(args: argparse.Namespace) -> int:
    from edgecam.vision.classifier import read_image

    failures = 0
    with _classifier(_options(args, args.model)) as classifier:
        for path in args.images:
            try:
                result = classifier.classify(read_image(path))
            except EdgecamError as exc:
                failures += 1
                print(f"edgecam: error: {exc}", file=sys.stderr)
                if args.json:
                    print(json.dumps({"image": str(path), "error": str(exc)}), flush=True)
                continue
            if args.json:
                print(json.dumps({"image": str(path), **result.to_dict()}), flush=True)
            else:
                preds = "  ".join(f"{c.label} {c.score:.1%}" for c in result.categories)
                print(f"{path}: {preds}  ({result.timings.total_ms:.1f} ms)", flush=True)
    if failures:
        _note(f"{failures} of {len(args.images)} images could not be classified")
    return EXIT_PARTIAL if failures else 0


def cmd_info(args: argparse.Namespace) -> int:
    from edgecam.bundle import resolve_model
    from edgecam.runtime.inspect import format_info, inspect_model

    options = _options(args, args.model)
    info = inspect_model(resolve_model(options.model, options.labels), options)
    print(json.dumps(info, indent=2) if args.json else format_info(info))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from edgecam.runtime.benchmark import benchmark

    with _classifier(_options(args, args.model)) as classifier:
        stats = benchmark(classifier.engine, runs=args.runs, warmup=args.warmup)
        report = {
            "model": str(classifier.files.model),
            "runtime": classifier.runtime,
            "delegate": classifier.delegate,
            "input": list(classifier.input_spec.shape),
            "input_dtype": classifier.input_spec.dtype.name,
            **stats,
        }
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"model:      {report['model']} {report['input']} {report['input_dtype']}")
    print(f"runtime:    {report['runtime']} on {report['delegate']}")
    print(
        f"runs:       {stats['runs']} after {stats['warmup']} warm-up "
        f"(first run {stats['first_ms']:.2f} ms)"
    )
    print(
        f"latency ms: min {stats['min_ms']:.3f}  median {stats['median_ms']:.3f}  "
        f"mean {stats['mean_ms']:.3f}  p90 {stats['p90_ms']:.3f}  p99 {stats['p99_ms']:.3f}  "
        f"max {stats['max_ms']:.3f}"
    )
    print(f"throughput: {stats['throughput_ips']:.1f} inferences/s")
    return 0


def _default_source(args: argparse.Namespace):
    """Camera 0, or the bundled demo clip (with a note) when no camera opens."""
    from edgecam.capture.sources import CameraSource, VideoFileSource

    camera = CameraSource(0)
    try:
        return camera.open()
    except EdgecamError as exc:
        if not DEMO_CLIP.exists():
            raise
        _note(f"{exc.message}; playing the demo clip {DEMO_CLIP} instead (--source chooses)")
        return VideoFileSource(DEMO_CLIP, loop=args.loop, pace=not args.no_pace)


def _run_window(args: argparse.Namespace) -> int:
    from edgecam.gui.app import AppOptions, run_app

    if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:
        raise ConfigError(f"--threshold must be between 0 and 1, got {args.threshold}")
    options = _options(args, args.model)
    return run_app(
        AppOptions(
            classifier=options,
            model_given=args.model is not None,
            top_k_given=args.top_k is not None,
            delegate_given=args.delegate is not None,
            source=args.source,
            threshold=args.threshold,
            fullscreen=args.fullscreen,
            demo_clip=DEMO_CLIP,
            default_model=DEFAULT_MODEL,
            snapshot_dir=args.snapshot_dir,
        )
    )


def cmd_run(args: argparse.Namespace) -> int:
    from edgecam.capture.sources import open_source
    from edgecam.headless import run_headless

    if not args.headless:
        from edgecam.gui import display_problem

        problem = display_problem(probe=True)
        if problem is None:
            return _run_window(args)
        _note(f"{problem}; running headless")
    source = (
        _default_source(args)
        if args.source is None
        else open_source(args.source, loop=args.loop, pace=not args.no_pace, fps=args.fps)
    )
    with _classifier(_options(args, args.model)) as classifier:
        if not args.json:
            print(
                f"edgecam: {classifier.name} on {classifier.delegate} ({classifier.runtime}), "
                f"source {source.description}",
                file=sys.stderr,
            )
        pipeline = run_headless(
            source,
            classifier,
            max_results=args.max_frames,
            as_json=args.json,
            stats_every_s=args.stats_every,
        )
    if pipeline.error is not None:
        raise pipeline.error
    if pipeline.ended:
        _note(
            f"{source.description} ended after {source.frames_read} frames"
            + ("" if args.loop else " (use --loop to repeat it)")
        )
    return 0


COMMANDS = {"classify": cmd_classify, "info": cmd_info, "bench": cmd_bench, "run": cmd_run}
#: Commands that live in the `training` package (TensorFlow); forwarded with their arguments.
TRAINING_COMMANDS = ("train", "export", "evaluate")
GLOBAL_FLAGS = ("-v", "--verbose")


def _run_training(argv: list[str]) -> int:
    try:
        import training.cli
    except ImportError as exc:
        print(
            f"edgecam: error: {argv[0]} needs the training package and TensorFlow ({exc}) — "
            "pip install 'edgecam[train]'",
            file=sys.stderr,
        )
        return EXIT_ERROR
    return training.cli.main(argv)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    head = []  # global flags before the command
    while argv and argv[0] in GLOBAL_FLAGS:
        head.append(argv.pop(0))
    if head:
        os.environ["EDGECAM_VERBOSE"] = "1"
    if argv and argv[0] in TRAINING_COMMANDS:
        return _run_training(argv)
    if not argv or argv[0] not in (*COMMANDS, "-h", "--help", "--version"):
        argv = ["run", *argv]  # `edgecam [run options]` is `edgecam run [run options]`
    parser = build_parser()
    args = parser.parse_args([*head, *argv])
    if args.verbose:
        os.environ["EDGECAM_VERBOSE"] = "1"
    try:
        return COMMANDS[args.command](args)
    except EdgecamError as exc:
        if args.verbose:
            raise
        print(f"edgecam: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `edgecam classify ... | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
