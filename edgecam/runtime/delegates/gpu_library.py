"""A classic TFLite GPU delegate library (libtensorflowlite_gpu_delegate.so) the user built."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgecam.config import Delegate
from edgecam.errors import DelegateError
from edgecam.runtime.backends import Backend
from edgecam.runtime.delegates.base import DelegateEntry, check_library
from edgecam.runtime.interpreter import Engine, interpreter_engine

if TYPE_CHECKING:
    from edgecam.bundle import ModelFiles
    from edgecam.runtime.options import EngineOptions

_HINT = (
    "build libtensorflowlite_gpu_delegate.so for your platform, or leave "
    "--gpu-delegate/EDGECAM_GPU_DELEGATE unset to use ai-edge-litert's GPU accelerator"
)


def _missing(library: Path) -> DelegateError | None:
    # A bare name is looked up by the dynamic loader; only a path can be checked here.
    if not Path(library).exists() and "/" in str(library):
        return DelegateError(f"GPU delegate library not found: {library}", _HINT)
    return None


def load_gpu_delegate(backend: Backend, library: Path) -> Any:
    """Load a classic TFLite GPU delegate library (libtensorflowlite_gpu_delegate.so).

    Raises:
        DelegateError: the library is missing or refuses to start.
    """
    missing = _missing(library)
    if missing is not None:
        raise missing
    check_library(str(library), "GPU delegate", _HINT)
    try:
        return backend.load_delegate(str(library))
    except (ValueError, RuntimeError, OSError) as exc:
        raise DelegateError(f"GPU delegate {library} failed to start ({exc})", _HINT) from None


class GpuLibrary(DelegateEntry):
    """The GPU through a delegate library given with --gpu-delegate or $EDGECAM_GPU_DELEGATE."""

    name = "gpu-library"
    delegate = Delegate.GPU
    label = "GPU"

    def applies(self, files: ModelFiles, options: EngineOptions) -> bool:
        return options.gpu_delegate_library is not None

    def probe(
        self, backend: Backend, files: ModelFiles, options: EngineOptions
    ) -> DelegateError | None:
        if options.gpu_delegate_library is None:
            return DelegateError(
                "no GPU delegate library given", "give one with --gpu-delegate, or leave it unset"
            )
        return _missing(options.gpu_delegate_library)

    def load(self, backend: Backend, files: ModelFiles, options: EngineOptions) -> Engine:
        delegate = load_gpu_delegate(backend, options.gpu_delegate_library)
        return interpreter_engine(
            backend, files.model, Delegate.GPU, self.describe(options), None, [delegate]
        )

    def describe(self, options: EngineOptions) -> str:
        return f"gpu (delegate {options.gpu_delegate_library.name})"
