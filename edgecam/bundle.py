"""The model bundle contract: find the model, its labels and its ``model.json``, and validate them.

A bundle is a folder holding ``model.tflite`` (labels embedded as TFLite metadata), optionally
``model_edgetpu.tflite``, ``labels.txt`` and ``model.json`` (docs/USAGE.md, "Model bundles").
A bare ``.tflite`` works too: labels then come from ``--labels`` or the model's metadata, and
the input normalisation from the documented defaults in :mod:`edgecam.vision.preprocess`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgecam.config import ResizeMode
from edgecam.errors import ModelError
from edgecam.labels import read_associated_file, read_embedded_labels, read_labels_file

BUNDLE_MODEL = "model.tflite"
BUNDLE_EDGETPU_MODEL = "model_edgetpu.tflite"
BUNDLE_LABELS = "labels.txt"
BUNDLE_SPEC = "model.json"
#: model.json versions this code reads.
SUPPORTED_FORMAT_VERSIONS = (1,)
#: The 4-byte flatbuffer file identifier of a TFLite model (bytes 4..8).
TFLITE_IDENTIFIER = b"TFL3"


@dataclass(frozen=True)
class Normalization:
    """Pixel to model value: ``real = (pixel - mean) / std`` per channel (pixel in 0..255)."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def from_json(cls, data: dict[str, Any], channels: int, where: str) -> Normalization:
        """Read ``{"mean": [...], "std": [...]}`` or ``{"range": [lo, hi]}``."""
        try:
            if "range" in data:
                low, high = (float(v) for v in data["range"])
                std = 255.0 / (high - low)
                return cls((-low * std,) * channels, (std,) * channels)
            mean = _per_channel(data["mean"], channels)
            std = _per_channel(data["std"], channels)
        except (KeyError, TypeError, ValueError, ZeroDivisionError):
            raise ModelError(
                f"{where}: bad input.normalization {data!r}",
                'use {"mean": [...], "std": [...]} or {"range": [low, high]}',
            ) from None
        if any(s == 0 for s in std):
            raise ModelError(f"{where}: input.normalization std must not be 0")
        return cls(mean, std)


def _per_channel(value: Any, channels: int) -> tuple[float, ...]:
    values = [float(v) for v in (value if isinstance(value, list | tuple) else [value])]
    if len(values) == 1:
        values *= channels
    if len(values) != channels:
        raise ValueError("wrong length")
    return tuple(values)


@dataclass(frozen=True)
class BundleSpec:
    """What ``model.json`` says about the model's input and output."""

    normalization: Normalization | None = None
    resize: ResizeMode | None = None
    color_order: str = "RGB"
    output_activation: str | None = None  # "softmax" (probabilities) or "none" (logits)
    num_classes: int | None = None
    name: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def load(cls, path: Path, text: str | None = None) -> BundleSpec:
        """Parse and validate a ``model.json`` (``text``: its content, if already read)."""
        try:
            raw = json.loads(path.read_text(encoding="utf-8") if text is None else text)
        except (OSError, UnicodeDecodeError) as exc:
            raise ModelError(f"cannot read {path}: {exc}", "check the bundle's files") from None
        except json.JSONDecodeError as exc:
            raise ModelError(
                f"{path} is not valid JSON (line {exc.lineno}: {exc.msg})",
                "fix the file or re-export the bundle",
            ) from None
        if not isinstance(raw, dict):
            raise ModelError(f"{path} must hold a JSON object", "re-export the bundle")
        version = raw.get("format_version")
        if version not in SUPPORTED_FORMAT_VERSIONS:
            raise ModelError(
                f"{path}: format_version {version!r} is not supported",
                "upgrade edgecam, or re-export the bundle with this version",
            )
        inp = raw.get("input") or {}
        out = raw.get("output") or {}
        if not isinstance(inp, dict) or not isinstance(out, dict):
            raise ModelError(
                f"{path}: 'input' and 'output' must be JSON objects",
                "fix the file or re-export the bundle",
            )
        channels = inp.get("channels", 3)
        if channels not in (1, 3):
            raise ModelError(
                f"{path}: input.channels must be 1 or 3, not {channels!r}",
                "fix the file or re-export the bundle",
            )
        norm = inp.get("normalization")
        color = str(inp.get("color_order", "RGB")).upper()
        if color not in ("RGB", "BGR", "GRAY"):
            raise ModelError(f"{path}: input.color_order must be RGB, BGR or GRAY, not {color}")
        resize = inp.get("resize")
        if resize is not None and not isinstance(resize, str):
            raise ModelError(f"{path}: input.resize must be stretch, crop or letterbox")
        activation = out.get("activation")
        if activation not in (None, "softmax", "none"):
            raise ModelError(f"{path}: output.activation must be 'softmax' or 'none'")
        return cls(
            normalization=Normalization.from_json(norm, channels, str(path)) if norm else None,
            resize=ResizeMode.parse(resize) if resize else None,
            color_order=color,
            output_activation=activation,
            num_classes=out.get("num_classes"),
            name=raw.get("name"),
            raw=raw,
        )


@dataclass(frozen=True)
class ModelFiles:
    """The files a model is made of, resolved from a bundle folder or a bare ``.tflite``."""

    model: Path
    edgetpu_model: Path | None = None
    labels: list[str] | None = None
    labels_origin: str = "none"
    spec: BundleSpec | None = None
    bundle_dir: Path | None = None

    @property
    def name(self) -> str:
        if self.spec and self.spec.name:
            return self.spec.name
        return self.bundle_dir.name if self.bundle_dir else self.model.stem


def check_tflite_file(path: Path) -> None:
    """Fail with a clear error unless ``path`` is a readable file holding a TFLite model."""
    if not path.exists():
        raise ModelError(
            f"model not found: {path}", "give a bundle folder or a .tflite file with --model"
        )
    if path.is_dir():
        raise ModelError(
            f"{path} is a folder without {BUNDLE_MODEL}",
            "a bundle folder must hold model.tflite; or give the .tflite itself",
        )
    try:
        with path.open("rb") as handle:
            head = handle.read(8)
    except OSError as exc:
        raise ModelError(
            f"cannot read model {path}: {exc.strerror}", "check the file's permissions"
        ) from None
    if len(head) < 8 or head[4:8] != TFLITE_IDENTIFIER:
        raise ModelError(
            f"{path} is not a TFLite model (no TFL3 header)",
            "give a .tflite file exported by TensorFlow Lite / LiteRT",
        )


def resolve_model(path: str | Path, labels: str | Path | None = None) -> ModelFiles:
    """Find the model, the Edge TPU variant, the labels and the spec for ``path``.

    Label precedence: ``labels`` argument, then the bundle's ``labels.txt``, then labels
    embedded in the model. The labels/outputs count is checked later, once the model is loaded.

    Raises:
        ModelError: the path is missing or is not a model or bundle.
        LabelsError: an explicit labels file cannot be read.
    """
    path = Path(path).expanduser()
    bundle_dir = None
    spec = None
    edgetpu = None
    if path.is_dir():
        bundle_dir = path
        model = path / BUNDLE_MODEL
        if not model.exists():
            candidates = sorted(p.name for p in path.glob("*.tflite"))
            hint = (
                f"it holds {', '.join(candidates)}: pass one of them with --model"
                if candidates
                else "a bundle folder must hold model.tflite"
            )
            raise ModelError(f"{path} is not a model bundle (no {BUNDLE_MODEL})", hint)
        if (path / BUNDLE_EDGETPU_MODEL).exists():
            edgetpu = path / BUNDLE_EDGETPU_MODEL
        if (path / BUNDLE_SPEC).exists():
            spec = BundleSpec.load(path / BUNDLE_SPEC)
    else:
        model = path
        # A .tflite inside a bundle folder still gets the bundle's spec and labels.
        sibling_spec = path.parent / BUNDLE_SPEC
        if path.name in (BUNDLE_MODEL, BUNDLE_EDGETPU_MODEL) and sibling_spec.exists():
            bundle_dir = path.parent
            spec = BundleSpec.load(sibling_spec)
    check_tflite_file(model)
    if spec is None:
        # edgecam's exports carry their model.json inside, so the bare file needs nothing else.
        embedded = read_associated_file(model, BUNDLE_SPEC)
        if embedded is not None:
            spec = BundleSpec.load(Path(f"{model} (embedded {BUNDLE_SPEC})"), embedded)

    if labels is not None:
        names, origin = read_labels_file(labels), str(labels)
    elif bundle_dir is not None and (bundle_dir / BUNDLE_LABELS).exists():
        names, origin = (
            read_labels_file(bundle_dir / BUNDLE_LABELS),
            str(bundle_dir / BUNDLE_LABELS),
        )
    else:
        names = read_embedded_labels(model)
        origin = f"embedded in {model.name}" if names else "none"
    return ModelFiles(
        model=model,
        edgetpu_model=edgetpu,
        labels=names,
        labels_origin=origin,
        spec=spec,
        bundle_dir=bundle_dir,
    )
