"""Options as frozen dataclasses and closed sets as enums, validated at construction."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from edgecam.defaults import TOP_K
from edgecam.errors import ConfigError

if TYPE_CHECKING:
    from edgecam.runtime.options import EngineOptions


class _Choice(str, enum.Enum):
    """A string enum whose ``parse`` gives a clear error listing the valid values."""

    @classmethod
    def parse(cls, value: str | _Choice) -> _Choice:
        if isinstance(value, cls):
            return value
        try:
            return cls(str(value).strip().lower().replace("-", "_"))
        except ValueError:
            valid = ", ".join(m.value for m in cls)
            raise ConfigError(
                f"unknown {cls.__name__.lower()} '{value}'", f"choose one of: {valid}"
            ) from None

    def __str__(self) -> str:
        return self.value


class Delegate(_Choice):
    """Where inference runs."""

    AUTO = "auto"  # Edge TPU if usable, else GPU if usable, else CPU; says which
    CPU = "cpu"  # XNNPACK on the CPU
    GPU = "gpu"  # LiteRT CompiledModel GPU accelerator, or a classic GPU delegate library
    EDGETPU = "edgetpu"  # Coral Edge TPU through libedgetpu


class Runtime(_Choice):
    """Which TFLite interpreter package."""

    AUTO = "auto"  # first importable of the three below, in this order
    LITERT = "litert"  # ai-edge-litert (maintained successor of tflite-runtime)
    TFLITE_RUNTIME = "tflite_runtime"  # tflite-runtime 2.14 (what many Coral setups have)
    TENSORFLOW = "tensorflow"  # tf.lite.Interpreter (deprecated, slow to import)


class ResizeMode(_Choice):
    """How a frame is fitted to the model's input size."""

    STRETCH = "stretch"  # resize to the input size, ignoring aspect ratio
    CROP = "crop"  # centre-crop to the input aspect ratio, then resize
    LETTERBOX = "letterbox"  # fit inside, pad the rest with black


#: Environment variable naming a classic GPU delegate library (libtensorflowlite_gpu_delegate.so).
GPU_DELEGATE_ENV = "EDGECAM_GPU_DELEGATE"


@dataclass(frozen=True)
class ClassifierOptions:
    """Everything needed to build a :class:`edgecam.vision.Classifier`.

    Attributes:
        model: a bundle folder or a ``.tflite`` file.
        labels: a labels file overriding the bundle's or the embedded labels.
        delegate: where to run (see :class:`Delegate`).
        runtime: which interpreter package (see :class:`Runtime`).
        threads: CPU threads for XNNPACK; None lets the runtime decide.
        top_k: how many predictions to return.
        edgetpu_device: ``usb``, ``usb:N``, ``pci`` or ``pci:N``; None for the first found.
        gpu_delegate_library: a classic GPU delegate library; default from $EDGECAM_GPU_DELEGATE.
        resize: override the bundle's resize mode.
    """

    model: Path
    labels: Path | None = None
    delegate: Delegate = Delegate.AUTO
    runtime: Runtime = Runtime.AUTO
    threads: int | None = None
    top_k: int = TOP_K
    edgetpu_device: str | None = None
    gpu_delegate_library: Path | None = None
    resize: ResizeMode | None = None

    #: The engine part of these options, built (and so validated) at construction.
    _engine: EngineOptions = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "model", Path(self.model))
        if self.labels is not None:
            object.__setattr__(self, "labels", Path(self.labels))
        # Imported here: edgecam.runtime.options imports this module's enums.
        from edgecam.runtime.options import EngineOptions

        engine = EngineOptions(
            delegate=self.delegate,
            runtime=self.runtime,
            threads=self.threads,
            edgetpu_device=self.edgetpu_device,
            gpu_delegate_library=self.gpu_delegate_library,
        )
        for name in ("delegate", "runtime", "gpu_delegate_library"):
            object.__setattr__(self, name, getattr(engine, name))
        object.__setattr__(self, "_engine", engine)
        if self.resize is not None:
            object.__setattr__(self, "resize", ResizeMode.parse(self.resize))
        if self.top_k < 1:
            raise ConfigError(f"--top-k must be at least 1, got {self.top_k}")

    def engine_options(self) -> EngineOptions:
        """What :func:`edgecam.runtime.engine.open_engine` needs: delegate, runtime, settings."""
        return self._engine
