"""What ``edgecam info`` reports about a model: tensors, ops, labels, Edge TPU compilation."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgecam.bundle import ModelFiles
from edgecam.config import Delegate, Runtime
from edgecam.errors import DelegateError, EdgecamError, ModelError
from edgecam.runtime import flatbuffer
from edgecam.runtime.delegates import is_edgetpu_compiled
from edgecam.runtime.engine import TensorSpec, open_engine
from edgecam.runtime.options import EngineOptions
from edgecam.runtime.verify import verify_model

if TYPE_CHECKING:
    from edgecam.config import ClassifierOptions


def _tensor_dict(spec: TensorSpec) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": spec.name, "shape": list(spec.shape), "dtype": spec.dtype.name}
    if spec.quantized:
        entry["quantization"] = {"scale": spec.scale, "zero_point": spec.zero_point}
    return entry


def _from_flatbuffer(path: Path) -> tuple[list[TensorSpec], list[TensorSpec], list[str]] | None:
    """Read tensors and ops straight from the file (for Edge TPU models no CPU can load).

    Uses the flatbuffer schema that ships with ai-edge-litert; None when it is not installed.
    The file's structure is verified first: the schema's readers trust what they read.
    """
    try:
        verify_model(Path(path).read_bytes(), path)
        model = flatbuffer.read_model(path)
    except ImportError:
        return None
    except OSError as exc:
        raise ModelError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        inputs, outputs = flatbuffer.io_specs(model)
        return inputs, outputs, [name for name, _ in flatbuffer.operators(model)]
    except (IndexError, KeyError, ValueError, TypeError, AttributeError) as exc:
        raise ModelError(
            f"{path} is corrupt ({type(exc).__name__} reading its graph)",
            "re-download or re-export the model",
        ) from None


def json_safe(value: Any) -> Any:
    """``value`` with NaN and infinities as None: JSON has no such numbers, and Python's json
    module writes them as bare ``NaN``, which no other parser reads."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def inspect_model(
    files: ModelFiles, options: ClassifierOptions | EngineOptions | None = None
) -> dict[str, Any]:
    """A JSON-ready description of the model behind ``files``.

    Loads the model on the CPU when it can (Edge TPU models are read from the file instead), in
    the runtime ``options`` name (their other settings do not matter here).

    Raises:
        EdgecamError: the model cannot be loaded or read (never anything else: a damaged file
            makes parsers raise anything, and ``edgecam info`` is how users look at one).
    """
    try:
        return _inspect(files, options)
    except EdgecamError:
        raise
    except Exception as exc:
        raise ModelError(
            f"{files.model} could not be read ({type(exc).__name__}: {exc})",
            "the file may be damaged: re-download or re-export it",
        ) from exc


def _inspect(
    files: ModelFiles, options: ClassifierOptions | EngineOptions | None
) -> dict[str, Any]:
    edgetpu = is_edgetpu_compiled(files.model)
    info: dict[str, Any] = {
        "model": str(files.model),
        "size_bytes": files.model.stat().st_size,
        "edgetpu_compiled": edgetpu,
        "edgetpu_variant": str(files.edgetpu_model) if files.edgetpu_model else None,
        "bundle": str(files.bundle_dir) if files.bundle_dir else None,
    }
    cpu = EngineOptions(
        delegate=Delegate.CPU,
        runtime=options.runtime if options is not None else Runtime.AUTO,
        threads=1,
    )
    runtime = None
    try:
        engine = open_engine(files, cpu)
        inputs, outputs, ops = engine.inputs, engine.outputs, engine.ops
        runtime = engine.backend.label
        engine.close()
    except DelegateError:
        if not edgetpu:
            raise
        # No CPU can load an Edge TPU model: read the file itself when the schema is at hand.
        parsed = _from_flatbuffer(files.model)
        inputs, outputs, ops = parsed if parsed else ([], [], [])
        if parsed is None:
            info["note"] = (
                "tensors of an Edge TPU model can be read without a Coral only with "
                "ai-edge-litert installed (it ships the TFLite schema)"
            )
    info.update(
        {
            "runtime": runtime,
            "inputs": [_tensor_dict(s) for s in inputs],
            "outputs": [_tensor_dict(s) for s in outputs],
            "ops": dict(sorted(Counter(op for op in ops if op != "DELEGATE").items())),
            "labels": {
                "origin": files.labels_origin,
                "count": len(files.labels) if files.labels else 0,
                "first": (files.labels or [])[:5],
            },
            "model_json": json_safe(files.spec.raw) if files.spec else None,
        }
    )
    return info


def format_info(info: dict[str, Any]) -> str:
    """Human-readable form of :func:`inspect_model`'s result."""
    lines = [f"model:      {info['model']} ({info['size_bytes'] / 1024:.1f} KiB)"]
    if info["bundle"]:
        lines.append(f"bundle:     {info['bundle']}")
    tpu = "yes" if info["edgetpu_compiled"] else "no"
    if info["edgetpu_variant"]:
        tpu += f" (Edge TPU variant: {info['edgetpu_variant']})"
    lines.append(f"edge tpu:   {tpu}")
    if info["runtime"]:
        lines.append(f"runtime:    {info['runtime']}")
    for key in ("inputs", "outputs"):
        for i, t in enumerate(info[key]):
            q = t.get("quantization")
            qtext = f", scale {q['scale']:.6g}, zero point {q['zero_point']}" if q else ""
            lines.append(
                f"{key[:-1] + ' ' + str(i) + ':':<11} {t['shape']} {t['dtype']}{qtext}"
                f"  ({t['name']})"
            )
    if info.get("note"):
        lines.append(f"note:       {info['note']}")
    ops = ", ".join(f"{name} x{n}" if n > 1 else name for name, n in info["ops"].items())
    lines.append(f"ops:        {ops or 'unknown'}")
    labels = info["labels"]
    if labels["count"]:
        lines.append(
            f"labels:     {labels['count']} from {labels['origin']}: "
            f"{', '.join(labels['first'])}{', ...' if labels['count'] > 5 else ''}"
        )
    else:
        lines.append("labels:     none found (give --labels FILE)")
    spec = info["model_json"]
    if spec:
        inp = spec.get("input") if isinstance(spec.get("input"), dict) else {}
        lines.append(
            f"model.json: format {spec.get('format_version')}, "
            f"normalization {inp.get('normalization')}, resize {inp.get('resize')}, "
            f"quantization {spec.get('quantization')}"
        )
    return "\n".join(lines)
