"""The ``edgecam`` command line: run (the window or headless), classify, info, bench, teach,
capture, models, doctor and service; train, export and evaluate are forwarded to the
``training`` package.

Every :class:`~edgecam.errors.EdgecamError` becomes one line on stderr and its exit status
(:func:`edgecam.errors.run_command`); notes go through the ``edgecam`` logger (``-v``/``-q``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from edgecam import __version__, defaults, logs
from edgecam.catalogue import cli as catalogue_cli
from edgecam.config import Delegate, ResizeMode, Runtime
from edgecam.errors import ConfigError, EdgecamError, ImageError, run_command
from edgecam.run_options import RunOptions

log = logging.getLogger("edgecam.cli")
EXIT_PARTIAL = 1


def _number(kind, low: float, low_ok: bool = True, high: float | None = None):
    """An argparse type: a ``kind`` number >= ``low`` (> with ``low_ok=False``), <= ``high``."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            what = "a whole number" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"'{text}' is not {what}") from None
        if value < low or (value == low and not low_ok):
            raise argparse.ArgumentTypeError(
                f"must be {'at least' if low_ok else 'more than'} {low:g}, got {text}"
            )
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"must be at most {high:g}, got {text}")
        return value

    return parse


_positive_int = _number(int, 1)


def _threads(text: str) -> int | None:
    """``--threads``: a count, or ``auto`` (None: chosen by timing at load)."""
    return None if text.strip().lower() == "auto" else _positive_int(text)


_count = _number(int, 0)
_positive_float = _number(float, 0, low_ok=False)
_seconds = _number(float, 0)
_probability = _number(float, 0, high=1)


def _global_flags(parser: argparse.ArgumentParser, suppress: bool) -> None:
    """-v / -q, accepted before the command and after it."""
    default = argparse.SUPPRESS if suppress else 0
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--verbose",
        "-v",
        action="store_const",
        const=logs.VERBOSE,
        dest="verbosity",
        default=default,
        help="also show diagnostics, the runtimes' own log lines and full tracebacks",
    )
    group.add_argument(
        "--quiet",
        "-q",
        action="store_const",
        const=logs.QUIET,
        dest="verbosity",
        default=default,
        help="show errors only, no notes",
    )


def _model_options(parser: argparse.ArgumentParser, model_positional: bool = False) -> None:
    if not model_positional:
        parser.add_argument(
            "--model",
            "-m",
            help=f"model bundle folder, .tflite or catalogue name (`edgecam models list`; "
            f"pulled when missing) (default: the bundled model, or ${defaults.DEFAULT_MODEL_ENV})",
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
        "--threads",
        "-t",
        type=_threads,
        metavar="N|auto",
        help="CPU threads (default: auto, the fastest count for this model, timed at load)",
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
    _global_flags(parser, suppress=False)
    flags = argparse.ArgumentParser(add_help=False)
    _global_flags(flags, suppress=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, text: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=text, parents=[flags])

    p = command("classify", "classify image files")
    p.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    _model_options(p)
    p.add_argument(
        "--top-k",
        "-k",
        type=_positive_int,
        default=defaults.TOP_K,
        help=f"predictions per image (default {defaults.TOP_K})",
    )
    p.add_argument("--json", action="store_true", help="one JSON object per line")

    p = command("info", "describe a model: tensors, ops, labels, Edge TPU")
    p.add_argument("model", nargs="?", metavar="MODEL", help="bundle, .tflite or catalogue name")
    _model_options(p, model_positional=True)
    p.add_argument("--json", action="store_true")

    p = command("bench", "measure inference latency on a delegate")
    p.add_argument("model", nargs="?", metavar="MODEL", help="bundle, .tflite or catalogue name")
    _model_options(p, model_positional=True)
    p.add_argument("--runs", "-n", type=_positive_int, default=100)
    p.add_argument("--warmup", type=_count, default=10)
    p.add_argument("--json", action="store_true")

    p = command("doctor", "check this device: runtimes, default model, Edge TPU, GPU, cameras")
    _doctor_options(p)
    p = command("service", "run headless on boot: a systemd unit (install, status, uninstall)")
    _service_actions(p, flags)

    p = command("teach", "learn your own classes from a few images on a pretrained embedder")
    _teach_options(p)

    p = command("models", "the model catalogue: list, pull, rm, where")
    catalogue_cli.add_arguments(p, flags)

    p = command("capture", "fill a dataset folder (FOLDER/CLASS/*.png) from a camera or file")
    _capture_options(p)

    for name, text in (
        ("train", "train a classifier on an image folder or Fashion-MNIST"),
        ("export", "quantize a trained run into a model bundle"),
        ("evaluate", "metrics, plots and a report for a model"),
    ):
        sub.add_parser(name, help=f"{text} (needs the train extra; see `edgecam {name} -h`)")

    p = command("run", "live classification (desktop window, or --headless)")
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
        type=_probability,
        metavar="P",
        help=f"window, web view and headless --results changes: below this top score show "
        f"'uncertain' "
        f"(default {defaults.THRESHOLD:g})",
    )
    p.add_argument("--fullscreen", action="store_true", help="window: start fullscreen")
    p.add_argument(
        "--snapshot-dir",
        type=Path,
        metavar="DIR",
        help="window: where snapshots go (default: ~/Pictures/edgecam)",
    )
    p.add_argument(
        "--top-k",
        "-k",
        type=_positive_int,
        help=f"predictions shown (default {defaults.LIVE_TOP_K})",
    )
    p.add_argument(
        "--max-frames", type=_positive_int, metavar="N", help="stop after N classified frames"
    )
    p.add_argument("--loop", action="store_true", help="repeat a video or folder")
    p.add_argument(
        "--no-pace",
        action="store_true",
        help="classify every frame of a file or folder as fast as possible (none dropped)",
    )
    p.add_argument(
        "--fps",
        type=_positive_float,
        help=f"frame rate for image folders and images (default {defaults.FOLDER_FPS:g})",
    )
    p.add_argument(
        "--stats-every",
        type=_seconds,
        default=defaults.STATS_EVERY_S,
        metavar="S",
        help="seconds between stats lines "
        f"(0: only at the end; default {defaults.STATS_EVERY_S:g})",
    )
    p.add_argument(
        "--results",
        dest="print_mode",
        choices=defaults.PRINT_MODES,
        help="headless: a line for every result, only when the top-1 changes (below "
        "--threshold: 'uncertain'; what a service's journal wants), or none (stats only) "
        "(default: every; an `edgecam service` unit: changes)",
    )
    p.add_argument(
        "--max-reconnects",
        type=_count,
        metavar="N",
        help="headless: give up after N attempts to reopen a dropped camera or stream "
        "(default: keep trying; 0: fail at once)",
    )
    p.add_argument(
        "--reconnect-every",
        type=_positive_float,
        default=defaults.RECONNECT_SECONDS,
        metavar="S",
        help=f"seconds between reconnect attempts (default {defaults.RECONNECT_SECONDS:g})",
    )
    p.add_argument("--json", action="store_true", help="JSON lines")
    _front_end_options(p)
    return parser


def _front_end_options(p: argparse.ArgumentParser) -> None:
    """The web view and MQTT (each implies --headless; docs/USAGE.md, "Web view and MQTT")."""
    from edgecam.mqtt.options import HOLD_S, MAX_RATE, MIN_SCORE, STATS_EVERY_S
    from edgecam.serve.options import MAX_CLIENTS, MAX_FPS

    g = p.add_argument_group("web view and MQTT (headless)")
    g.add_argument(
        "--serve",
        metavar="[HOST:]PORT",
        help="serve live video, predictions and stats at http://HOST:PORT/ (default host "
        "127.0.0.1; any other address needs a token; needs the serve extra)",
    )
    g.add_argument(
        "--token",
        default=os.environ.get("EDGECAM_TOKEN"),
        help="web view: the token every route but /api/health asks for (default "
        "$EDGECAM_TOKEN; generated and printed when HOST is not loopback)",
    )
    g.add_argument(
        "--serve-clients",
        type=_positive_int,
        default=MAX_CLIENTS,
        metavar="N",
        help=f"web view: video and event streams open at once (default {MAX_CLIENTS})",
    )
    g.add_argument(
        "--serve-fps",
        type=_positive_float,
        default=MAX_FPS,
        metavar="FPS",
        help=f"web view: most video frames per second, never above the source (default "
        f"{MAX_FPS:g})",
    )
    g.add_argument(
        "--mqtt",
        metavar="URL",
        help="publish results to mqtt[s]://[user[:pass]@]host[:port]/topic-prefix (password "
        "also from $EDGECAM_MQTT_PASSWORD; needs the mqtt extra)",
    )
    g.add_argument(
        "--mqtt-min-score",
        type=_probability,
        default=MIN_SCORE,
        metavar="P",
        help=f"MQTT: a new label needs at least this score to go to <prefix>/label "
        f"(default {MIN_SCORE:g})",
    )
    g.add_argument(
        "--mqtt-hold",
        type=_seconds,
        default=HOLD_S,
        metavar="S",
        help=f"MQTT: ... and to stay on top this long (default {HOLD_S:g} s)",
    )
    g.add_argument(
        "--mqtt-stats-every",
        type=_seconds,
        default=STATS_EVERY_S,
        metavar="S",
        help=f"MQTT: seconds between <prefix>/stats messages (0: none; default {STATS_EVERY_S:g})",
    )
    g.add_argument(
        "--mqtt-max-rate",
        type=_seconds,
        default=MAX_RATE,
        metavar="HZ",
        help=f"MQTT: most <prefix>/predictions messages per second, the newest result each "
        f"time (0: every result; default {MAX_RATE:g})",
    )
    g.add_argument(
        "--mqtt-discovery",
        action="store_true",
        help="MQTT: announce the device to Home Assistant (MQTT discovery)",
    )


def _run_options(args: argparse.Namespace, model: str | None) -> RunOptions:
    """What the command line says; options it does not give stay None. A catalogue name as the
    model is pulled here when it is missing (saying so)."""
    return RunOptions(
        model=catalogue_cli.model_path(model),
        labels=args.labels,
        delegate=Delegate.parse(args.delegate) if args.delegate else None,
        runtime=Runtime.parse(args.runtime),
        threads=args.threads,
        top_k=getattr(args, "top_k", None),
        edgetpu_device=args.edgetpu_device,
        gpu_delegate_library=args.gpu_delegate,
        resize=ResizeMode.parse(args.resize) if args.resize else None,
        source=getattr(args, "source", None),
        threshold=getattr(args, "threshold", None),
    )


def _classifier(options: RunOptions):
    from edgecam.live import build_classifier
    from edgecam.vision.classifier import Classifier

    return build_classifier(Classifier, options.classifier_options())


def cmd_classify(args: argparse.Namespace) -> int:
    from edgecam.vision.classifier import read_image

    failures = 0
    with _classifier(_run_options(args, args.model)) as classifier:
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
    if failures and len(args.images) > 1:
        log.warning("%d of %d images could not be classified", failures, len(args.images))
    if failures == len(args.images):
        return ImageError.exit_code  # each failure was its own error line above
    return EXIT_PARTIAL if failures else 0


def cmd_info(args: argparse.Namespace) -> int:
    from edgecam.bundle import resolve_model
    from edgecam.runtime.model_info import format_info, inspect_model

    options = _run_options(args, args.model).classifier_options()
    info = inspect_model(resolve_model(options.model, options.labels), options)
    info = {"edgecam_version": __version__, **info}
    text = f"{'edgecam:':<11} {__version__}\n{format_info(info)}"
    print(json.dumps(info, indent=2) if args.json else text)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from edgecam.runtime.benchmark import benchmark

    with _classifier(_run_options(args, args.model)) as classifier:
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


def _run_window(args: argparse.Namespace, given: RunOptions) -> int:
    from edgecam.gui.app import AppOptions, run_app

    return run_app(
        AppOptions(
            given=given,
            fullscreen=args.fullscreen,
            demo_clip=defaults.demo_clip(),
            snapshot_dir=args.snapshot_dir,
            reconnect_s=args.reconnect_every,
        )
    )


def _front_ends(args: argparse.Namespace) -> list:
    """Starters for --serve and --mqtt, checked (options, extras) before the model loads.

    Each starter takes the session and returns what it started (it has ``stop()``).
    """
    starters = []
    if args.serve is not None:
        from edgecam.serve import require_aiohttp, serve_options, start_web_view

        options, generated = serve_options(
            args.serve, args.token, max_clients=args.serve_clients, max_fps=args.serve_fps
        )
        require_aiohttp()

        def serve(session):
            view = start_web_view(session, options)
            note = " (a generated token: --token sets your own)" if generated else ""
            print(f"edgecam: web view at {view.url}{note}", file=sys.stderr, flush=True)
            return view

        starters.append(serve)
    if args.mqtt is not None:
        from edgecam.mqtt import parse_mqtt_url, require_paho, start_mqtt

        options_mqtt = parse_mqtt_url(
            args.mqtt,
            default_password=os.environ.get("EDGECAM_MQTT_PASSWORD"),
            min_score=args.mqtt_min_score,
            hold_s=args.mqtt_hold,
            stats_every_s=args.mqtt_stats_every,
            max_rate=args.mqtt_max_rate,
            discovery=args.mqtt_discovery,
        )
        require_paho()
        starters.append(lambda session: start_mqtt(session, options_mqtt))
    return starters


def cmd_run(args: argparse.Namespace) -> int:
    from edgecam.headless import run_headless
    from edgecam.live import LiveSession

    given = _run_options(args, args.model)
    starters = _front_ends(args)  # the web view and MQTT are headless front ends
    if not args.headless and not starters:
        from edgecam.gui import display_problem

        problem = display_problem(probe=True)
        if problem is None:
            return _run_window(args, given)
        log.warning("%s; running headless", problem)
    session = LiveSession(
        _classifier(given),
        loop_files=args.loop,
        pace=not args.no_pace,
        fps=args.fps,
        reconnect_s=args.reconnect_every,
        max_reconnects=args.max_reconnects,
        max_results=args.max_frames,
        threshold=defaults.THRESHOLD if args.threshold is None else args.threshold,
    )

    def start() -> str:
        if args.source is None:
            return session.start_default(demo=defaults.demo_clip())
        return session.start(args.source)

    running = []
    try:
        for starter in starters:  # listening before the source starts: no frame is missed
            running.append(starter(session))
        status = run_headless(
            session,
            start,
            as_json=args.json,
            stats_every_s=args.stats_every,
            print_mode=args.print_mode or defaults.PRINT_MODES[0],
            threshold=defaults.THRESHOLD if args.threshold is None else args.threshold,
        )
    finally:
        for front_end in reversed(running):
            front_end.stop()
        session.close()
    if status:
        return status
    if session.error is not None:
        raise session.error
    source = session.source
    if session.ended and source is not None:
        noun = "frame" if source.frames_read == 1 else "frames"
        log.warning(
            "%s ended after %d %s%s",
            source.description,
            source.frames_read,
            noun,
            "" if args.loop else " (use --loop to repeat it)",
        )
    return 0


def _teach_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--embedder",
        "-e",
        required=True,
        metavar="MODEL",
        help="an embedding extractor or an image classifier (.tflite, bundle or catalogue name, "
        "e.g. embedder-mobilenet-v1; its pooled features are used), or an Edge TPU compiled "
        "embedder (*_edgetpu.tflite)",
    )
    p.add_argument(
        "--data", type=Path, required=True, metavar="FOLDER", help="FOLDER/<class>/*.jpg"
    )
    p.add_argument("--out", "-o", type=Path, required=True, metavar="BUNDLE")
    p.add_argument("--name", help="the bundle's name (default: the --out folder's name)")
    p.add_argument(
        "--augment",
        type=_count,
        default=0,
        metavar="N",
        help="N augmented copies of each training image: flips, crops, colour (default 0)",
    )
    p.add_argument(
        "--validation",
        type=_number(float, 0, high=0.9),
        default=0.2,
        metavar="F",
        help="fraction of each class held out for validation (default 0.2; classes with "
        "fewer than 5 images keep all for training)",
    )
    p.add_argument(
        "--steps", type=_count, default=300, help="softmax-regression steps (default 300)"
    )
    p.add_argument("--seed", type=int, default=0, help="split and augmentation seed (default 0)")
    p.add_argument(
        "--cut", metavar="TENSOR", help="the embedding tensor (name or index) to cut the model at"
    )
    p.add_argument(
        "--cache",
        type=Path,
        metavar="DIR",
        help="embedding cache (default: $XDG_CACHE_HOME/edgecam/teach, ~/.cache/edgecam/teach)",
    )
    p.add_argument("--no-cache", action="store_true", help="keep embeddings in memory only")
    p.add_argument("--runtime", default="auto", choices=[r.value for r in Runtime])
    p.add_argument("--threads", "-t", type=_positive_int, help="embedder CPU threads")
    p.add_argument(
        "--resize",
        choices=[m.value for m in ResizeMode],
        help="how images are fitted to the embedder's input (default: stretch)",
    )
    p.add_argument("--json", action="store_true", help="the report as JSON")


def cmd_teach(args: argparse.Namespace) -> int:
    from edgecam.teach import FitConfig, Teacher, TeachOptions
    from edgecam.teach.teacher import default_cache_dir

    options = TeachOptions(
        cache_dir=None if args.no_cache else (args.cache or default_cache_dir()),
        resize=args.resize,
        runtime=args.runtime,
        threads=args.threads,
        augment=args.augment,
        validation=args.validation,
        seed=args.seed,
        fit=FitConfig(steps=args.steps),
        cut=args.cut,
    )
    with Teacher(catalogue_cli.model_path(args.embedder), options) as teacher:
        log.info("%s", teacher.embedder.describe())
        counts = teacher.add_folder(args.data)
        log.info("%d images in %d classes", sum(counts.values()), len(counts))
        report = teacher.fit()
        bundle = teacher.export(args.out, args.name)
    if args.json:
        print(json.dumps({"bundle": str(bundle), **report.to_json()}))
    else:
        print(report.format())
        print(f"\nwrote {bundle} (edgecam run --model {bundle})")
    return 0


def _capture_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--source",
        "-s",
        default=defaults.SOURCE,
        help=f"camera index, video file, image folder or stream URL (default {defaults.SOURCE})",
    )
    p.add_argument(
        "--class",
        dest="class_name",
        required=True,
        metavar="NAME",
        help="the class: images go into FOLDER/NAME/ (added to what is there)",
    )
    p.add_argument("--count", "-n", type=_positive_int, default=20, help="images (default 20)")
    p.add_argument(
        "--every",
        type=_seconds,
        default=0.5,
        metavar="SECONDS",
        help="seconds between images, of the source's time: a file is read at full speed "
        "(default 0.5; 0: every frame)",
    )
    p.add_argument(
        "--out", "-o", type=Path, required=True, metavar="FOLDER", help="the dataset folder"
    )


def cmd_capture(args: argparse.Namespace) -> int:
    from edgecam.capture.dataset import CaptureReport, ClassFolder, capture

    folder = ClassFolder(args.out, args.class_name)
    report = CaptureReport()

    def saved(done: int, path: Path) -> None:
        print(f"{done}/{args.count} {path}", flush=True)

    try:
        capture(args.source, folder, args.count, args.every, on_saved=saved, report=report)
    except KeyboardInterrupt:
        log.warning("interrupted: wrote %d of %d images", len(report.written), args.count)
        raise
    print(
        f"wrote {len(report.written)} images into {folder.folder} (once every class has its "
        f"folder: edgecam teach --embedder embedder-mobilenet-v1 --data {args.out} --out BUNDLE)"
    )
    return 0


def _doctor_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.add_argument(
        "--edgetpu-model",
        metavar="MODEL",
        help="an Edge TPU compiled .tflite (or catalogue name, e.g. "
        "imagenet-mobilenet-v1-0.25-edgetpu) to invoke when a Coral is present",
    )
    p.add_argument(
        "--root",
        type=Path,
        default=Path("/"),
        metavar="DIR",
        help="read /dev, /sys, /proc and /etc under DIR instead of / (for tests)",
    )


def cmd_doctor(args: argparse.Namespace) -> int:
    from edgecam import doctor

    edgetpu_model = catalogue_cli.model_path(args.edgetpu_model)
    if edgetpu_model is not None and edgetpu_model.is_dir():  # a catalogue model's folder
        edgetpu_model = edgetpu_model / "model.tflite"
    if edgetpu_model is not None and not edgetpu_model.is_file():
        raise ConfigError(f"--edgetpu-model: no file {edgetpu_model}", "check the path")
    checks = doctor.run_checks(doctor.Probes(root=args.root, edgetpu_model=edgetpu_model))
    print(doctor.report_json(checks) if args.json else doctor.format_report(checks))
    return 0 if doctor.healthy(checks) else EXIT_PARTIAL


class _RunOptionsParser(argparse.ArgumentParser):
    """Keeps the options it does not know, in order, as ``run_args``: ``service install``'s run
    options, which the ``run`` parser itself checks."""

    def parse_known_args(self, args=None, namespace=None):
        namespace, extras = super().parse_known_args(args, namespace)
        namespace.run_args = [*getattr(namespace, "run_args", []), *extras]
        return namespace, []


def _service_actions(p: argparse.ArgumentParser, flags: argparse.ArgumentParser) -> None:
    from edgecam.service import DEFAULT_NAME, UNIT_DIR_ENV

    actions = p.add_subparsers(
        dest="action", metavar="ACTION", required=True, parser_class=_RunOptionsParser
    )
    for name, text in (
        ("install", "write the unit, then enable and start it (runs `edgecam run --headless`)"),
        ("status", "where the unit is, what it runs, and what systemd says"),
        ("uninstall", "stop and disable the unit and remove it"),
    ):
        a = actions.add_parser(
            name,
            help=text,
            description=text,
            parents=[flags],
            allow_abbrev=False,
            usage=f"edgecam service {name} [options]"
            + (" [RUN OPTIONS...]" if name == "install" else ""),
            epilog="RUN OPTIONS: any `edgecam run` option (see `edgecam run -h`), e.g. "
            "--source picamera --model /path/bundle; relative paths are made absolute."
            if name == "install"
            else None,
        )
        a.add_argument(
            "--system",
            action="store_true",
            help="a system unit in /etc/systemd/system (needs root), run as --run-as; "
            "default: a user unit in ~/.config/systemd/user",
        )
        a.add_argument(
            "--name", default=DEFAULT_NAME, help=f"the unit's name (default {DEFAULT_NAME})"
        )
        a.add_argument(
            "--unit-dir",
            type=Path,
            metavar="DIR",
            help=f"the unit's folder instead of systemd's (or ${UNIT_DIR_ENV})",
        )
        if name == "install":
            a.add_argument(
                "--print", action="store_true", help="write the unit to stdout, nothing else"
            )
            a.add_argument(
                "--no-start",
                action="store_true",
                help="write the unit, but leave systemctl alone (it says what to run)",
            )
            a.add_argument(
                "--run-as",
                metavar="USER",
                help="the user a --system unit runs as (default: $SUDO_USER, else you)",
            )
        if name == "uninstall":
            a.add_argument(
                "--no-stop", action="store_true", help="remove the file, leave systemctl alone"
            )


def cmd_service(args: argparse.Namespace) -> int:
    from edgecam import service

    if args.action != "install" and args.run_args:
        raise ConfigError(
            f"edgecam service {args.action} takes no run options ({' '.join(args.run_args)})",
            f"see edgecam service {args.action} -h",
        )
    spec = service.ServiceSpec(
        name=args.name,
        system=args.system,
        unit_dir=args.unit_dir,
        run_as=getattr(args, "run_as", None),
    )
    if args.action == "install":
        start = not args.no_start
        run_args = catalogue_cli.resolve_run_args(args.run_args)  # the unit names the folder
        return service.install(spec, run_args, start=start, print_only=args.print)
    if args.action == "uninstall":
        return service.uninstall(spec, stop=not args.no_stop)
    return service.status(spec)


COMMANDS = {
    "classify": cmd_classify,
    "info": cmd_info,
    "bench": cmd_bench,
    "run": cmd_run,
    "teach": cmd_teach,
    "doctor": cmd_doctor,
    "service": cmd_service,
    "models": lambda args: catalogue_cli.run(args),
    "capture": cmd_capture,
}
#: Commands that live in the `training` package (TensorFlow); forwarded with their arguments.
TRAINING_COMMANDS = ("train", "export", "evaluate")
GLOBAL_FLAGS = ("-v", "--verbose", "-q", "--quiet")


def _run_training(argv: list[str]) -> int:
    try:
        import training.cli
    except ImportError as exc:
        print(
            f"edgecam: error: {argv[0]} needs the training package and TensorFlow ({exc}) — "
            "pip install 'edgecam[train]'",
            file=sys.stderr,
        )
        return ConfigError.exit_code
    return training.cli.main(argv)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    head = []  # global flags before the command
    while argv and argv[0] in GLOBAL_FLAGS:
        head.append(argv.pop(0))
    if argv and argv[0] in TRAINING_COMMANDS:
        return _run_training([*argv, *head])
    if not argv or argv[0] not in (*COMMANDS, "-h", "--help", "--version"):
        argv = ["run", *argv]  # `edgecam [run options]` is `edgecam run [run options]`
    args = build_parser().parse_args([*head, *argv])
    logs.configure(args.verbosity)
    return run_command(lambda: COMMANDS[args.command](args))


if __name__ == "__main__":
    sys.exit(main())
