"""Write a model bundle: quantize, embed labels, evaluate float vs TFLite, check the Edge TPU.

The bundle is assembled in a staging folder beside the target and swapped in with renames, so
an interrupted export never leaves a half-written bundle (the old one stays until the new one is
complete).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgecam.bundle import BUNDLE_EDGETPU_MODEL, BUNDLE_LABELS, BUNDLE_MODEL, BUNDLE_SPEC
from edgecam.files import atomic_write_text
from edgecam.labels import embed_labels
from training.errors import TrainingError
from training.quantize import check_dtypes, convert

FORMAT_VERSION = 1


@dataclass
class ExportResult:
    bundle: Path
    spec: dict  # the model.json written
    passed: bool  # accuracy drop within the threshold


def _latency_ms(model_path: Path, threads: int = 1, runs: int = 50) -> float:
    """Median CPU latency (set input + invoke + read output) through edgecam's engine."""
    from edgecam.config import ClassifierOptions
    from edgecam.runtime.benchmark import benchmark
    from edgecam.vision import Classifier

    with Classifier(ClassifierOptions(model=model_path, delegate="cpu", threads=threads)) as clf:
        return benchmark(clf.engine, runs=runs, warmup=5)["median_ms"]


def _write_spec(
    staging: Path, model_path: Path, spec: dict, class_names: list[str], *more_models: Path | None
) -> None:
    """Write model.json and embed it (with the labels) in every model file of the bundle."""
    text = json.dumps(spec, indent=2) + "\n"
    (staging / BUNDLE_SPEC).write_text(text, encoding="utf-8")
    for path in (model_path, *more_models):
        if path is not None:
            embed_labels(path, class_names, extra={BUNDLE_SPEC: text}, title=spec["name"])


#: What an existing --out folder may hold for export to replace it.
_BUNDLE_ENTRIES = {BUNDLE_MODEL, BUNDLE_EDGETPU_MODEL, BUNDLE_LABELS, BUNDLE_SPEC, "report"}


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
    if not target.exists():
        return
    if not target.is_dir():
        raise TrainingError(f"--out {target} is a file", "give a folder for the bundle")
    strangers = sorted(p.name for p in target.iterdir() if p.name not in _BUNDLE_ENTRIES)
    if strangers:
        raise TrainingError(
            f"--out {target} holds other files ({', '.join(strangers[:3])})",
            "give a new or empty folder, or an earlier bundle to replace",
        )


def _swap_in(staging: Path, target: Path) -> None:
    """Replace ``target`` by ``staging`` with renames only."""
    check_target(target)
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        target.rename(old)
    staging.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def export_bundle(
    model,
    target: Path,
    *,
    class_names: list[str],
    input_spec: dict,
    mode: str,
    io_dtype: str = "uint8",
    representative=None,
    test_samples=None,
    float_accuracy: float | None = None,
    recipe: dict | None = None,
    dataset: dict | None = None,
    max_drop: float = 1.0,
    edgetpu: bool = True,
    name: str | None = None,
    resize: str = "stretch",
    log=print,
) -> ExportResult:
    """Export ``model`` (raw-pixel input, batch 1) as a bundle folder at ``target``.

    Args:
        class_names: labels, index = class.
        input_spec: ``{"width", "height", "channels"}`` of the model's input.
        mode / io_dtype: see :func:`training.quantize.convert`.
        representative: uint8 training images for int8 calibration.
        test_samples: list of (uint8 RGB image, label) to measure the TFLite accuracy on.
        float_accuracy: the Keras model's accuracy on the same samples (for the drop).
        max_drop: accuracy points the TFLite model may lose before the export fails.
        resize: how the app should fit frames to the input (stretch matches training; crop
            suits square models fed 4:3 camera frames).
        log: where progress lines go.
    """
    from training.evaluate import compute_metrics, predict_tflite

    target = Path(target)
    check_target(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.staging-", dir=target.parent))
    umask = os.umask(0)
    os.umask(umask)
    staging.chmod(0o777 & ~umask)  # mkdtemp makes it private; a bundle is an ordinary folder
    try:
        log(f"converting to TFLite ({mode})...")
        calibrated = [0]
        data = convert(
            model, mode, representative, io_dtype, progress=lambda n: calibrated.__setitem__(0, n)
        )
        if mode == "int8":
            log(f"  calibrated on {calibrated[0]} training images")
        model_path = staging / BUNDLE_MODEL
        model_path.write_bytes(data)
        dtypes = check_dtypes(model_path, mode, io_dtype)
        channels = input_spec["channels"]
        spec = {
            "format_version": FORMAT_VERSION,
            "name": name or target.name,
            "task": "image_classification",
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "input": {
                **input_spec,
                "color_order": "RGB" if channels == 3 else "GRAY",
                "dtype": dtypes["input"],
                "resize": resize,
                # Rescaling is inside the model: it takes the raw pixel values.
                "normalization": {"mean": [0.0] * channels, "std": [1.0] * channels},
            },
            "output": {
                "num_classes": len(class_names),
                "activation": "softmax",
                "dtype": dtypes["output"],
            },
            "quantization": mode,
            "labels": BUNDLE_LABELS,
            "classes": class_names,
        }
        # The spec goes in first, so the evaluation below reads the model exactly as the app
        # will (normalisation included), from the folder and from the bare file alike.
        _write_spec(staging, model_path, spec, class_names)
        (staging / BUNDLE_LABELS).write_text("\n".join(class_names) + "\n", encoding="utf-8")

        metrics: dict = {"size_bytes": len(data)}  # the flatbuffer, without the metadata zip
        if test_samples:
            log(f"evaluating the TFLite model on {len(test_samples)} test images...")
            y_true, y_pred, _ = predict_tflite(model_path, test_samples)
            tflite_acc = compute_metrics(y_true, y_pred, class_names).accuracy
            metrics["tflite_accuracy"] = round(tflite_acc, 5)
            metrics["test_samples"] = len(test_samples)
            if float_accuracy is not None:
                metrics["float_accuracy"] = round(float_accuracy, 5)
                metrics["accuracy_drop_points"] = round(100 * (float_accuracy - tflite_acc), 3)
        metrics["cpu_latency_ms"] = round(_latency_ms(model_path), 4)

        edgetpu_info = None
        compiled = None
        if mode == "int8" and edgetpu:
            from training.edgetpu import INSTALL_HINT, check_edgetpu, compile_edgetpu

            report = check_edgetpu(model_path)
            log(report.format())
            edgetpu_info = report.to_dict()
            compiled = compile_edgetpu(model_path, class_names)
            edgetpu_info["compiled"] = compiled is not None
            if compiled is None:
                log(f"  not compiled: {INSTALL_HINT}")
            else:
                compiled = compiled.rename(staging / BUNDLE_EDGETPU_MODEL)

        drop = metrics.get("accuracy_drop_points")
        passed = drop is None or drop <= max_drop
        spec.update(
            {
                "metrics": metrics,
                "quality_gate": {"max_drop_points": max_drop, "passed": passed},
                "edgetpu": edgetpu_info,
                "recipe": recipe,
                "dataset": dataset,
            }
        )
        _write_spec(staging, model_path, spec, class_names, compiled)
        _swap_in(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return ExportResult(target, spec, passed)


def write_json(path: Path, data: dict) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, default=_json_default) + "\n")


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
