"""Coral Edge TPU through libedgetpu, for models edgetpu_compiler compiled."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgecam.config import Delegate
from edgecam.errors import DelegateError, EdgecamError
from edgecam.runtime.backends import Backend
from edgecam.runtime.delegates.base import DelegateEntry, check_library
from edgecam.runtime.interpreter import Engine, interpreter_engine

if TYPE_CHECKING:
    from edgecam.bundle import ModelFiles
    from edgecam.runtime.options import EngineOptions

#: libedgetpu's file name on each OS (pycoral uses the same names).
EDGETPU_LIBRARY = {
    "Linux": "libedgetpu.so.1",
    "Darwin": "libedgetpu.1.dylib",
    "Windows": "edgetpu.dll",
}
EDGETPU_INSTALL_HINT = (
    "install the Edge TPU runtime (Debian/Raspberry Pi OS: apt-get install libedgetpu1-std "
    "from Coral's package repository; see coral.ai/software) and plug in the Coral device"
)
#: The custom op name edgetpu_compiler puts in the models it compiles.
EDGETPU_CUSTOM_OP = b"edgetpu-custom-op"


def edgetpu_library_name(system: str | None = None) -> str:
    """The libedgetpu file name for ``system`` (default: this OS)."""
    system = system or platform.system()
    try:
        return EDGETPU_LIBRARY[system]
    except KeyError:
        raise DelegateError(
            f"the Edge TPU is not supported on {system}",
            "use Linux, macOS or Windows, or --delegate cpu",
        ) from None


def is_edgetpu_compiled(model_path: Path) -> bool:
    """True when the model was compiled by edgetpu_compiler (it holds the Edge TPU custom op)."""
    try:
        return EDGETPU_CUSTOM_OP in Path(model_path).read_bytes()
    except OSError:
        return False


def is_bare_edgetpu_model(files: ModelFiles) -> bool:
    """An Edge TPU compiled model with no plain variant beside it: only an Edge TPU runs it."""
    return files.edgetpu_model is None and is_edgetpu_compiled(files.model)


def load_edgetpu_delegate(
    backend: Backend, device: str | None = None, library: str | None = None
) -> Any:
    """Load libedgetpu for ``device`` (``usb``, ``usb:N``, ``pci``, ``pci:N`` or None = any).

    Raises:
        DelegateError: the library is missing, or no Edge TPU answered.
    """
    library = library or edgetpu_library_name()
    check_library(library, "Edge TPU", EDGETPU_INSTALL_HINT)
    options = {"device": device} if device else {}
    try:
        return backend.load_delegate(library, options)
    except (ValueError, RuntimeError, OSError) as exc:
        where = f"device '{device}'" if device else "any device"
        raise DelegateError(
            f"no Edge TPU found on {where} ({exc})",
            "plug the Coral device in (USB 3 port), check `lsusb` shows it, or use --delegate cpu",
        ) from None


class EdgeTpu(DelegateEntry):
    """The Edge TPU runs the bundle's ``model_edgetpu.tflite``, or a compiled model itself."""

    name = "edgetpu"
    delegate = Delegate.EDGETPU
    label = "Edge TPU"

    def applies(self, files: ModelFiles, options: EngineOptions) -> bool:
        return files.edgetpu_model is not None or is_edgetpu_compiled(files.model)

    def probe(
        self, backend: Backend, files: ModelFiles, options: EngineOptions
    ) -> DelegateError | None:
        model = files.edgetpu_model or files.model
        if not is_edgetpu_compiled(model):
            return DelegateError(
                f"{model} is not compiled for the Edge TPU",
                "compile it with edgetpu_compiler (edgecam export does when the "
                "compiler is installed), or use --delegate cpu",
            )
        return None

    def load(self, backend: Backend, files: ModelFiles, options: EngineOptions) -> Engine:
        delegate = load_edgetpu_delegate(backend, options.edgetpu_device)
        return interpreter_engine(
            backend,
            files.edgetpu_model or files.model,
            Delegate.EDGETPU,
            self.describe(options),
            None,
            [delegate],
        )

    def describe(self, options: EngineOptions) -> str:
        return f"edgetpu ({options.edgetpu_device or 'first found'})"

    def fatal(self, files: ModelFiles, error: EdgecamError) -> DelegateError | None:
        if files.edgetpu_model is None:  # a compiled model alone: nothing else can run it
            return DelegateError(
                f"{files.model} is compiled for the Edge TPU, which is not "
                f"available ({error.message})",
                EDGETPU_INSTALL_HINT,
            )
        return None
