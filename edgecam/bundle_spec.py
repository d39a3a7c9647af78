"""The typed ``model.json``: what a bundle says about its model (docs/USAGE.md, "Model bundles").

One :class:`BundleSpec` is written by training's exporter (:meth:`BundleSpec.to_json`) and read
by the app (:meth:`BundleSpec.load` / :meth:`BundleSpec.from_json`), so both sides share one
definition of the file.

Two kinds of section:

* the contract, ``input`` and ``output``, which the app acts on: validated, a bad value is a
  :class:`~edgecam.errors.ModelError` naming the field;
* records, everything else (name aside): the training recipe, the dataset, measured metrics,
  the quality gate, the Edge TPU report. The app does not act on them, so a malformed record
  never stops a model from loading: it is kept as written in :attr:`BundleSpec.extra`, like any
  key this version does not know, and written back by :meth:`BundleSpec.to_json`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from edgecam.config import ResizeMode
from edgecam.errors import EdgecamError, ModelError

#: The format_version training writes. It changes only when the written shape does.
FORMAT_VERSION = 1
#: model.json versions this code reads.
SUPPORTED_FORMAT_VERSIONS = (1,)
COLOR_ORDERS = ("RGB", "BGR", "GRAY")
#: ``output.activation``: "softmax" (the outputs are probabilities) or "none" (logits).
ACTIVATIONS = ("softmax", "none")
_FIX = "fix the file or re-export the bundle"
#: A model.json larger than this is not read: a real one is a few KB.
MAX_SPEC_BYTES = 1 * 2**20


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _is_dict(value: Any) -> bool:
    return isinstance(value, dict)


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _fields(cls) -> list:
    return [f for f in fields(cls) if f.name != "extra"]


def _without_none(items: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in items.items() if v is not None}


@dataclass(frozen=True)
class Normalization:
    """Pixel to model value: ``real = (pixel - mean) / std`` per channel (pixel in 0..255)."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def from_json(cls, data: dict[str, Any], channels: int, where: str) -> Normalization:
        """Read ``{"mean": [...], "std": [...]}`` or ``{"range": [lo, hi]}``."""
        shape = 'use {"mean": [...], "std": [...]} or {"range": [low, high]}'
        if not isinstance(data, dict):
            raise ModelError(f"{where}: bad input.normalization {data!r}", shape)
        try:
            if "range" in data:
                low, high = (_finite(v) for v in data["range"])
                std = 255.0 / (high - low)
                mean, std = (-low * std,) * channels, (std,) * channels
            else:
                mean = _per_channel(data["mean"], channels)
                std = _per_channel(data["std"], channels)
        except _NotFinite as exc:
            raise ModelError(
                f"{where}: input.normalization holds {exc.args[0]!r}, not a finite number",
                "give numbers for mean and std (or range); re-export the bundle",
            ) from None
        except (KeyError, TypeError, ValueError, ZeroDivisionError, OverflowError):
            raise ModelError(f"{where}: bad input.normalization {data!r}", shape) from None
        if not all(math.isfinite(v) for v in (*mean, *std)):  # e.g. a range of (0, 1e-320)
            raise ModelError(f"{where}: input.normalization {data!r} overflows", shape)
        if any(s == 0 for s in std):
            raise ModelError(f"{where}: input.normalization std must not be 0")
        return cls(mean, std)

    def to_json(self) -> dict[str, Any]:
        return {"mean": list(self.mean), "std": list(self.std)}


class _NotFinite(ValueError):
    """A NaN or an infinity where a number is needed (Python's json reads both)."""


def _finite(value: Any) -> float:
    """``value`` (a number, or a string holding one) as a float, refusing NaN and infinities."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError(f"not a number: {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise _NotFinite(value)
    return number


def _per_channel(value: Any, channels: int) -> tuple[float, ...]:
    values = [_finite(v) for v in (value if isinstance(value, list | tuple) else [value])]
    if len(values) == 1:
        values *= channels
    if len(values) != channels:
        raise ValueError("wrong length")
    return tuple(values)


def _check(where: str, name: str, value: Any, ok: Callable[[Any], bool], what: str) -> Any:
    """``value`` if it is None or passes ``ok``; else a ModelError naming the field."""
    if value is not None and not ok(value):
        raise ModelError(f"{where}: {name} must be {what}, not {value!r}", _FIX)
    return value


def _positive_int(value: Any) -> bool:
    return _is_int(value) and value > 0


@dataclass(frozen=True)
class InputSpec:
    """``input``: what the model is fed. Sizes and dtype are records: the app reads them from
    the model's own input tensor; the rest decides the preprocessing."""

    width: int | None = None
    height: int | None = None
    channels: int = 3
    color_order: str = "RGB"  # RGB | BGR | GRAY
    dtype: str | None = None
    resize: ResizeMode | None = None
    normalization: Normalization | None = None  # None: the documented defaults by dtype

    @classmethod
    def from_json(cls, data: dict[str, Any], where: str) -> InputSpec:
        channels = data.get("channels", 3)
        if not _is_int(channels) or channels not in (1, 3):
            raise ModelError(f"{where}: input.channels must be 1 or 3, not {channels!r}", _FIX)
        color = str(data.get("color_order", "RGB")).upper()
        if color not in COLOR_ORDERS:
            raise ModelError(f"{where}: input.color_order must be RGB, BGR or GRAY, not {color}")
        resize = data.get("resize")
        if resize is not None and not isinstance(resize, str):
            raise ModelError(f"{where}: input.resize must be stretch, crop or letterbox")
        try:
            mode = ResizeMode.parse(resize) if resize else None
        except EdgecamError:
            raise ModelError(
                f"{where}: input.resize must be stretch, crop or letterbox, not {resize!r}", _FIX
            ) from None
        norm = data.get("normalization")
        size = "a positive integer"
        if norm is not None and not isinstance(norm, dict):
            raise ModelError(
                f"{where}: input.normalization must be a JSON object, not {norm!r}",
                'use {"mean": [...], "std": [...]} or {"range": [low, high]}',
            )
        return cls(
            width=_check(where, "input.width", data.get("width"), _positive_int, size),
            height=_check(where, "input.height", data.get("height"), _positive_int, size),
            channels=channels,
            color_order=color,
            dtype=_check(where, "input.dtype", data.get("dtype"), _is_str, "a string"),
            resize=mode,
            normalization=Normalization.from_json(norm, channels, where) if norm else None,
        )

    def to_json(self) -> dict[str, Any]:
        return _without_none(
            {
                "width": self.width,
                "height": self.height,
                "channels": self.channels,
                "color_order": self.color_order,
                "dtype": self.dtype,
                "resize": self.resize.value if self.resize else None,
                "normalization": self.normalization.to_json() if self.normalization else None,
            }
        )


@dataclass(frozen=True)
class OutputSpec:
    """``output``: the class scores. ``num_classes`` is checked against the loaded model."""

    num_classes: int | None = None
    activation: str | None = None  # softmax | none; None: decided from the graph
    dtype: str | None = None  # a record: the app reads the output tensor's own dtype

    @classmethod
    def from_json(cls, data: dict[str, Any], where: str) -> OutputSpec:
        activation = data.get("activation")
        if activation is not None and activation not in ACTIVATIONS:
            raise ModelError(f"{where}: output.activation must be 'softmax' or 'none'")
        return cls(
            num_classes=_check(
                where,
                "output.num_classes",
                data.get("num_classes"),
                _positive_int,
                "a positive integer",
            ),
            activation=activation,
            dtype=_check(where, "output.dtype", data.get("dtype"), _is_str, "a string"),
        )

    def to_json(self) -> dict[str, Any]:
        return _without_none(
            {"num_classes": self.num_classes, "activation": self.activation, "dtype": self.dtype}
        )


@dataclass(frozen=True)
class Metrics:
    """``metrics``: what the export measured. Other measurements are kept in ``extra``."""

    size_bytes: int | None = None  # the flatbuffer, without the metadata zip
    tflite_accuracy: float | None = None
    test_samples: int | None = None
    float_accuracy: float | None = None
    accuracy_drop_points: float | None = None  # 100 * (float - tflite accuracy)
    cpu_latency_ms: float | None = None  # median, 1 thread, through edgecam's engine
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Metrics:
        """Known measurements of the right type become fields; the rest goes to ``extra``."""
        counts = ("size_bytes", "test_samples")
        values = {
            f.name: data[f.name]
            for f in _fields(cls)
            if (_is_int if f.name in counts else _is_number)(data.get(f.name))
        }
        return cls(**values, extra={k: v for k, v in data.items() if k not in values})

    def to_json(self) -> dict[str, Any]:
        values = {f.name: getattr(self, f.name) for f in _fields(type(self))}
        return {**_without_none(values), **self.extra}


@dataclass(frozen=True)
class QualityGate:
    """``quality_gate``: the accuracy drop the export allowed, and whether it stayed within."""

    max_drop_points: float
    passed: bool

    @classmethod
    def from_json(cls, data: Any) -> QualityGate | None:
        """The gate, or None unless ``data`` is exactly ``{max_drop_points, passed}``."""
        if (
            _is_dict(data)
            and set(data) == {"max_drop_points", "passed"}
            and _is_number(data["max_drop_points"])
            and isinstance(data["passed"], bool)
        ):
            return cls(data["max_drop_points"], data["passed"])
        return None

    def to_json(self) -> dict[str, Any]:
        return {"max_drop_points": self.max_drop_points, "passed": self.passed}


def _kept_if(ok: Callable[[Any], bool]) -> Callable[[Any], Any]:
    return lambda value: value if ok(value) else None


#: How each record is read: its parser returns the typed value, or None when malformed.
_RECORDS: dict[str, Callable[[Any], Any]] = {
    "task": _kept_if(_is_str),
    "created": _kept_if(_is_str),
    "quantization": _kept_if(_is_str),
    "labels": _kept_if(_is_str),
    "classes": lambda value: tuple(value) if _is_str_list(value) else None,
    "metrics": lambda value: Metrics.from_json(value) if _is_dict(value) else None,
    "quality_gate": lambda value: QualityGate.from_json(value),
    "edgetpu": _kept_if(_is_dict),
    "recipe": _kept_if(_is_dict),
    "dataset": _kept_if(_is_dict),
}


@dataclass(frozen=True)
class BundleSpec:
    """A bundle's ``model.json``.

    The flat properties (:attr:`normalization`, :attr:`resize`, :attr:`color_order`,
    :attr:`output_activation`, :attr:`num_classes`) are what the app acts on; :attr:`raw` is the
    document as it was read (what ``edgecam info`` shows).
    """

    format_version: int = FORMAT_VERSION
    name: str | None = None
    task: str | None = None  # "image_classification"
    created: str | None = None  # UTC, ISO 8601
    input: InputSpec = field(default_factory=InputSpec)
    output: OutputSpec = field(default_factory=OutputSpec)
    quantization: str | None = None  # float32 | float16 | dynamic | int8
    labels: str | None = None  # the labels file's name in the bundle
    classes: tuple[str, ...] | None = None
    metrics: Metrics | None = None
    quality_gate: QualityGate | None = None
    edgetpu: dict[str, Any] | None = None  # the Edge TPU compatibility report
    recipe: dict[str, Any] | None = None  # the training recipe
    dataset: dict[str, Any] | None = None  # data config, split sizes, fingerprint
    #: Keys this version does not know, and malformed records, kept as they were written.
    extra: dict[str, Any] = field(default_factory=dict)
    _source: dict[str, Any] | None = field(default=None, init=False, compare=False, repr=False)

    # -- what the app acts on ------------------------------------------------------------------

    @property
    def normalization(self) -> Normalization | None:
        return self.input.normalization

    @property
    def resize(self) -> ResizeMode | None:
        return self.input.resize

    @property
    def color_order(self) -> str:
        return self.input.color_order

    @property
    def output_activation(self) -> str | None:
        return self.output.activation

    @property
    def num_classes(self) -> int | None:
        return self.output.num_classes

    @property
    def raw(self) -> dict[str, Any]:
        """The document as read from the file (or :meth:`to_json` for a spec built in code)."""
        return self._source if self._source is not None else self.to_json()

    def check_num_classes(self, outputs: int, model: Path | str) -> None:
        """Refuse a model whose number of outputs is not ``output.num_classes``.

        Raises:
            ModelError: the spec declares a class count and the model has another.
        """
        declared = self.output.num_classes
        if declared is not None and declared != outputs:
            raise ModelError(
                f"{model} has {outputs} outputs but its model.json says output.num_classes "
                f"{declared}",
                "model.json belongs to another export: re-export the bundle, or correct "
                "output.num_classes",
            )

    # -- reading and writing -------------------------------------------------------------------

    @classmethod
    def load(cls, path: Path, text: str | None = None) -> BundleSpec:
        """Parse and validate a ``model.json`` (``text``: its content, if already read).

        Raises:
            ModelError: unreadable, not JSON, an unsupported format_version or a bad field.
        """
        try:
            if text is None:
                if path.stat().st_size > MAX_SPEC_BYTES:
                    raise ModelError(
                        f"{path} is too large for a model.json ({path.stat().st_size} bytes)",
                        _FIX,
                    )
                text = path.read_text(encoding="utf-8")
            if len(text) > MAX_SPEC_BYTES:
                raise ModelError(f"{path} is too large for a model.json", _FIX)
            data = json.loads(text)
        except (OSError, UnicodeDecodeError) as exc:
            raise ModelError(f"cannot read {path}: {exc}", "check the bundle's files") from None
        except json.JSONDecodeError as exc:
            raise ModelError(
                f"{path} is not valid JSON (line {exc.lineno}: {exc.msg})",
                "fix the file or re-export the bundle",
            ) from None
        except RecursionError:
            raise ModelError(f"{path} is nested too deeply to be a model.json", _FIX) from None
        return cls.from_json(data, str(path))

    @classmethod
    def from_json(cls, data: Any, where: str = "model.json") -> BundleSpec:
        """Validate a parsed ``model.json`` (``where`` names it in errors).

        Raises:
            ModelError: not an object, an unsupported format_version, or a bad contract field.
        """
        if not isinstance(data, dict):
            raise ModelError(f"{where} must hold a JSON object", "re-export the bundle")
        version = data.get("format_version")
        if not _is_int(version) or version not in SUPPORTED_FORMAT_VERSIONS:
            raise ModelError(
                f"{where}: format_version {version!r} is not supported",
                "upgrade edgecam, or re-export the bundle with this version",
            )
        inp = data.get("input", {})
        out = data.get("output", {})
        for key, value in (("input", inp), ("output", out)):
            if not isinstance(value, dict):
                raise ModelError(f"{where}: '{key}' must be a JSON object, not {value!r}", _FIX)
        name = _check(where, "name", data.get("name"), _is_str, "a string")
        known = {f.name for f in fields(cls)} - {"extra", "_source"}
        extra = {k: v for k, v in data.items() if k not in known}
        records: dict[str, Any] = {}
        for key, parse in _RECORDS.items():
            if data.get(key) is None:
                continue
            value = parse(data[key])
            if value is None:
                extra[key] = data[key]  # malformed: kept as written, never acted on
            else:
                records[key] = value
        spec = cls(
            format_version=version,
            name=name,
            input=InputSpec.from_json(inp, where),
            output=OutputSpec.from_json(out, where),
            extra=extra,
            **records,
        )
        object.__setattr__(spec, "_source", data)
        return spec

    def to_json(self) -> dict[str, Any]:
        """The JSON document (keys in the order written; None fields left out)."""
        doc = _without_none(
            {
                "format_version": self.format_version,
                "name": self.name,
                "task": self.task,
                "created": self.created,
                "input": self.input.to_json(),
                "output": self.output.to_json(),
                "quantization": self.quantization,
                "labels": self.labels,
                "classes": list(self.classes) if self.classes is not None else None,
                "metrics": self.metrics.to_json() if self.metrics else None,
                "quality_gate": self.quality_gate.to_json() if self.quality_gate else None,
                "edgetpu": self.edgetpu,
                "recipe": self.recipe,
                "dataset": self.dataset,
            }
        )
        return {**doc, **{k: v for k, v in self.extra.items() if k not in doc}}

    def to_text(self) -> str:
        """``model.json``'s content: :meth:`to_json`, indented, with a final newline."""
        return json.dumps(self.to_json(), indent=2) + "\n"
