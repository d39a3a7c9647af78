"""Write a model bundle, in named steps driven by an :class:`ExportConfig`.

:func:`export_bundle` runs, in order: convert (:class:`~training.quantize.QuantizationConfig`),
check the dtypes, evaluate the TFLite model through edgecam, check and compile for the Edge TPU
(int8), apply the quality gate, write ``model.json`` (a :class:`~edgecam.bundle.BundleSpec`).

The bundle is assembled in a staging folder beside the target and swapped in atomically (or with
two renames that the next export completes), so an interrupted or killed export never leaves a
half-written bundle and never leaves ``--out`` without one (the old one stays until the new one
is complete).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from edgecam.bundle import (
    BUNDLE_EDGETPU_MODEL,
    BUNDLE_LABELS,
    BUNDLE_MODEL,
    BUNDLE_SPEC,
    BundleSpec,
    InputSpec,
    Metrics,
    Normalization,
    OutputSpec,
    QualityGate,
    check_bundle_target,
)
from edgecam.config import ResizeMode
from edgecam.files import atomic_write_text, new_staging_dir, recover_dir, replace_dir
from edgecam.labels import embed_labels
from training.errors import TrainingError
from training.faultpoints import pause
from training.quantize import QuantizationConfig, check_dtypes, convert, read_dtypes

Log = Callable[[str], None]


@dataclass(frozen=True)
class ExportConfig:
    """What :func:`export_bundle` makes of a model (``edgecam export``'s options)."""

    quantization: QuantizationConfig = field(default_factory=QuantizationConfig.for_int8)
    #: Accuracy points the TFLite model may lose against the float model before the export
    #: fails (the bundle is still written, with quality_gate.passed false).
    max_drop: float = 1.0
    edgetpu: bool = True  # int8: check Edge TPU compatibility, compile if the compiler is there
    name: str | None = None  # model.json's name; None: the bundle folder's name
    #: How the app fits frames to the input: stretch matches training; crop suits square
    #: models fed 4:3 camera frames.
    resize: ResizeMode = ResizeMode.STRETCH

    def __post_init__(self) -> None:
        object.__setattr__(self, "resize", ResizeMode.parse(self.resize))


@dataclass
class ExportData:
    """What :func:`export_bundle` calibrates and measures with."""

    representative: list[np.ndarray] = field(default_factory=list)  # int8: training images
    test_samples: list[tuple[np.ndarray, int]] = field(default_factory=list)  # (RGB, label)
    float_accuracy: float | None = None  # the Keras model's accuracy on ``test_samples``
    #: The float model's class of each representative image (the TFLite model's should match).
    representative_top1: np.ndarray | None = None


@dataclass(frozen=True)
class Prebuilt:
    """A TFLite model made otherwise than by converting the Keras model (int8 of a frozen
    .tflite backbone: the file's own graph with the head appended, training.tflite_backbone)."""

    data: bytes  # the flatbuffer
    quantization: str  # model.json's "quantization"
    #: What its input wants (None: the documented default, the raw pixel for a uint8 input).
    normalization: Normalization | None


@dataclass
class ExportResult:
    bundle: Path
    spec: BundleSpec  # the model.json written

    @property
    def passed(self) -> bool:
        """The accuracy drop stayed within the threshold."""
        return self.spec.quality_gate is None or self.spec.quality_gate.passed


def check_target(target: Path, run: Path | None = None) -> None:
    """Refuse to replace anything but an empty folder or an earlier bundle.

    Raises:
        TrainingError: ``target`` is a file, a folder with other content, or the run folder.
    """
    target = Path(target).resolve()
    if run is not None and (target == Path(run).resolve() or Path(run).resolve() in target.parents):
        raise TrainingError(
            f"--out {target} is inside the run folder {run}", "export the bundle to its own folder"
        )
    check_bundle_target(target, TrainingError)


# -- the steps ---------------------------------------------------------------------------------


def convert_model(
    model, quantization: QuantizationConfig, representative: list, path: Path, log: Log
) -> int:
    """Step 1: convert ``model`` into ``path``; returns the flatbuffer's size in bytes."""
    log(f"converting to TFLite ({quantization.mode})...")
    conversion = convert(model, quantization, representative)
    if quantization.integer_only:
        log(f"  calibrated on {conversion.calibration_images} training images")
    path.write_bytes(conversion.data)
    return len(conversion.data)


def describe(
    model, class_names: list[str], config: ExportConfig, dtypes: dict, name: str
) -> BundleSpec:
    """Step 2 (after :func:`~training.quantize.check_dtypes`): the model.json of the model."""
    _, height, width, channels = (int(d) for d in model.input_shape)
    return BundleSpec(
        name=name,
        task="image_classification",
        created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        input=InputSpec(
            width=width,
            height=height,
            channels=channels,
            color_order="RGB" if channels == 3 else "GRAY",
            dtype=dtypes["input"],
            resize=config.resize,
            # Rescaling is inside the model: it takes the raw pixel values.
            normalization=Normalization((0.0,) * channels, (1.0,) * channels),
        ),
        output=OutputSpec(
            num_classes=len(class_names), activation="softmax", dtype=dtypes["output"]
        ),
        quantization=config.quantization.mode,
        labels=BUNDLE_LABELS,
        classes=tuple(class_names),
    )


def write_bundle_files(
    staging: Path, spec: BundleSpec, class_names: list[str], *models: Path | None
) -> None:
    """Write labels.txt and model.json, and embed both in every model file given."""
    text = spec.to_text()
    (staging / BUNDLE_SPEC).write_text(text, encoding="utf-8")
    (staging / BUNDLE_LABELS).write_text("\n".join(class_names) + "\n", encoding="utf-8")
    for path in models:
        if path is not None:
            embed_labels(path, class_names, extra={BUNDLE_SPEC: text}, title=spec.name)


def _latency_ms(model_path: Path, threads: int = 1, runs: int = 50) -> float:
    """Median CPU latency (set input + invoke + read output) through edgecam's engine."""
    from edgecam.config import ClassifierOptions
    from edgecam.runtime.benchmark import benchmark
    from edgecam.vision import Classifier

    with Classifier(ClassifierOptions(model=model_path, delegate="cpu", threads=threads)) as clf:
        return benchmark(clf.engine, runs=runs, warmup=5)["median_ms"]


def evaluate(
    model_path: Path, size_bytes: int, class_names: list[str], data: ExportData, log: Log
) -> Metrics:
    """Step 3: accuracy on the test samples (through edgecam's Classifier) and CPU latency."""
    from training.evaluate import compute_metrics, predict_tflite

    measured: dict = {}
    if data.test_samples:
        log(f"evaluating the TFLite model on {len(data.test_samples)} test images...")
        y_true, y_pred, _ = predict_tflite(model_path, data.test_samples)
        tflite_acc = compute_metrics(y_true, y_pred, class_names).accuracy
        measured.update(tflite_accuracy=round(tflite_acc, 5), test_samples=len(data.test_samples))
        if data.float_accuracy is not None:
            measured.update(
                float_accuracy=round(data.float_accuracy, 5),
                accuracy_drop_points=round(100 * (data.float_accuracy - tflite_acc), 3),
            )
    return Metrics(
        size_bytes=size_bytes, cpu_latency_ms=round(_latency_ms(model_path), 4), **measured
    )


#: Below this share of training images on which the TFLite model picks the float model's class,
#: the export warns: a small test split cannot show a real loss (a re-quantized pretrained
#: backbone lost 12 points on Fashion-MNIST's test images while its 20-image split showed none).
AGREEMENT_WARNING = 0.95


def agreement(model_path: Path, data: ExportData, mode: str, log: Log) -> dict:
    """Step 3b (int8): on how many calibration images the TFLite model's top class is the float
    model's; ``{}`` when there is nothing to compare."""
    from training.evaluate import predict_tflite

    if not data.representative or data.representative_top1 is None:
        return {}
    _, y_pred, _ = predict_tflite(model_path, [(image, 0) for image in data.representative])
    rate = float(np.mean(y_pred == np.asarray(data.representative_top1)))
    n = len(data.representative)
    log(
        f"  the {mode} model picks the float model's class on {100 * rate:.1f}% of {n} training "
        "images"
    )
    if rate < AGREEMENT_WARNING:
        log(
            f"warning: the {mode} model answers otherwise than the float model on "
            f"{100 * (1 - rate):.1f}% of {n} training images, which a small test split may not "
            "show: compare them on more test images (evaluate), or export --mode dynamic"
        )
    return {"float_agreement": round(rate, 5), "agreement_samples": n}


def edgetpu_step(
    model_path: Path, staging: Path, class_names: list[str], config: ExportConfig, log: Log
) -> tuple[dict | None, Path | None]:
    """Step 4 (int8 only): the compatibility report and, if the compiler is installed, the
    compiled ``model_edgetpu.tflite`` in ``staging``."""
    if not (config.quantization.integer_only and config.edgetpu):
        return None, None
    from training.edgetpu import INSTALL_HINT, check_edgetpu, compile_edgetpu

    report = check_edgetpu(model_path)
    log(report.format())
    info = report.to_dict()
    compiled = compile_edgetpu(model_path, class_names)
    info["compiled"] = compiled is not None
    if compiled is None:
        log(f"  not compiled: {INSTALL_HINT}")
        return info, None
    return info, compiled.rename(staging / BUNDLE_EDGETPU_MODEL)


def quality_gate(metrics: Metrics, max_drop: float) -> QualityGate:
    """Step 5: passed unless the TFLite model lost more than ``max_drop`` accuracy points and
    more than one test image: on a small folder's test split (20 images: 5 points each) one
    image is noise, not a measured loss."""
    drop = metrics.accuracy_drop_points
    images = drop / 100 * metrics.test_samples if drop and metrics.test_samples else None
    passed = drop is None or drop <= max_drop or (images is not None and images <= 1.0 + 1e-6)
    return QualityGate(max_drop_points=max_drop, passed=passed)


def chance_problem(y_true, y_pred, num_classes: int) -> str | None:
    """Why a model's test predictions show it learnt nothing, or None if they don't.

    No better than chance: the accuracy is at most that of always answering the test set's most
    common class. A single class: every test image gets the same answer.
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if len(np.unique(y_true)) < 2 or num_classes < 2:
        return None  # a test set of one class cannot tell a model from a constant
    if len(np.unique(y_pred)) == 1:
        return f"it answers class {int(y_pred[0])} for every one of the {y_true.size} test images"
    accuracy = float((y_true == y_pred).mean())
    chance = float(np.bincount(y_true, minlength=num_classes).max() / y_true.size)
    if accuracy <= chance:
        return (
            f"its test accuracy {accuracy:.4f} is no better than always answering the most "
            f"common class ({chance:.4f})"
        )
    return None


# -- the staging folder ------------------------------------------------------------------------


def recover_interrupted(target: Path, log: Log = print) -> None:
    """Undo what a killed export left beside ``target`` (:func:`edgecam.files.recover_dir`):
    the previous bundle moved aside is put back; staging folders (a half-made bundle, with
    TensorFlow's temporary files inside) are removed. Each thing done is one ``log`` line."""
    for line in recover_dir(target):
        log(line)


@contextlib.contextmanager
def _staging_folder(target: Path) -> Iterator[Path]:
    """A fresh folder beside ``target``, removed again unless it was swapped in.

    TensorFlow's converter writes a SavedModel into the temporary folder: it goes into
    ``staging/.tmp`` (and so away with the staging folder) instead of /tmp, where a killed
    export would leave it for good.
    """
    staging = new_staging_dir(target)
    work = staging / ".tmp"
    work.mkdir()
    saved = tempfile.tempdir, os.environ.get("TMPDIR")
    tempfile.tempdir = str(work)
    os.environ["TMPDIR"] = str(work)
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        tempfile.tempdir = saved[0]
        if saved[1] is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved[1]


def _swap_in(staging: Path, target: Path) -> None:
    """Replace ``target`` by ``staging`` so that a bundle is at ``target`` at every moment
    (:func:`edgecam.files.replace_dir`: an atomic exchange, else two renames that the next
    export completes). The test points are ``export-swap`` and ``export-between-renames``."""
    check_target(target)
    shutil.rmtree(staging / ".tmp", ignore_errors=True)
    replace_dir(staging, target, step=lambda name: pause(f"export-{name}"))


def export_bundle(
    model,
    target: Path,
    class_names: list[str],
    config: ExportConfig | None = None,
    data: ExportData | None = None,
    *,
    recipe: dict | None = None,
    dataset: dict | None = None,
    prebuilt: Prebuilt | None = None,
    log: Log = print,
) -> ExportResult:
    """Export ``model`` (raw-pixel input, batch 1) as a bundle folder at ``target``.

    Args:
        class_names: labels, index = class.
        config: the export mode and checks (default: int8, uint8 I/O, Edge TPU check).
        data: calibration images (int8) and the test samples to measure on.
        recipe / dataset: records for model.json (the training recipe, the data it saw).
        prebuilt: the TFLite model when it is not converted from ``model``; measured and
            gated all the same.
        log: where progress lines go.

    Returns:
        The bundle and its spec; ``passed`` is False when the quality gate failed (the bundle
        is written all the same).
    """
    config = config or ExportConfig()
    data = data or ExportData()
    target = Path(target)
    recover_interrupted(target, log)
    check_target(target)
    with _staging_folder(target) as staging:
        model_path = staging / BUNDLE_MODEL
        if prebuilt is None:
            size = convert_model(model, config.quantization, data.representative, model_path, log)
            dtypes = check_dtypes(model_path, config.quantization)
            spec = describe(model, class_names, config, dtypes, config.name or target.name)
        else:
            model_path.write_bytes(prebuilt.data)
            size = len(prebuilt.data)
            dtypes = read_dtypes(model_path)
            spec = describe(model, class_names, config, dtypes, config.name or target.name)
            inp = replace(spec.input, normalization=prebuilt.normalization)
            spec = replace(spec, input=inp, quantization=prebuilt.quantization)
        # The spec goes in first, so the evaluation reads the model exactly as the app will
        # (normalisation included), from the folder and from the bare file alike.
        write_bundle_files(staging, spec, class_names, model_path)
        metrics = evaluate(model_path, size, class_names, data, log)
        agreed = agreement(model_path, data, config.quantization.mode, log)
        metrics = replace(metrics, extra={**metrics.extra, **agreed})
        edgetpu, compiled = edgetpu_step(model_path, staging, class_names, config, log)
        spec = replace(
            spec,
            metrics=metrics,
            quality_gate=quality_gate(metrics, config.max_drop),
            edgetpu=edgetpu,
            recipe=recipe,
            dataset=dataset,
        )
        write_bundle_files(staging, spec, class_names, model_path, compiled)
        _swap_in(staging, target)
    return ExportResult(target, spec)


def write_json(path: Path, data: dict) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, default=_json_default) + "\n")


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
