"""Load TFLite delegates (Edge TPU, classic GPU) and turn their failures into our errors."""

from __future__ import annotations

import ctypes
import platform
from pathlib import Path
from typing import Any

from edgecam.errors import DelegateError
from edgecam.runtime.backends import Backend

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


def _check_library(library: str, what: str, hint: str) -> None:
    """Open the shared library ourselves first.

    The runtimes' ``load_delegate`` prints an ugly "Exception ignored in Delegate.__del__"
    traceback when the library is missing; failing here first keeps the output to one line.
    """
    try:
        ctypes.CDLL(library)
    except OSError as exc:
        raise DelegateError(f"{what} library {library} could not be loaded ({exc})", hint) from None


def load_edgetpu_delegate(
    backend: Backend, device: str | None = None, library: str | None = None
) -> Any:
    """Load libedgetpu for ``device`` (``usb``, ``usb:N``, ``pci``, ``pci:N`` or None = any).

    Raises:
        DelegateError: the library is missing, or no Edge TPU answered.
    """
    library = library or edgetpu_library_name()
    _check_library(library, "Edge TPU", EDGETPU_INSTALL_HINT)
    options = {"device": device} if device else {}
    try:
        return backend.load_delegate(library, options)
    except (ValueError, RuntimeError, OSError) as exc:
        where = f"device '{device}'" if device else "any device"
        raise DelegateError(
            f"no Edge TPU found on {where} ({exc})",
            "plug the Coral device in (USB 3 port), check `lsusb` shows it, or use --delegate cpu",
        ) from None


def load_gpu_delegate(backend: Backend, library: Path) -> Any:
    """Load a classic TFLite GPU delegate library (libtensorflowlite_gpu_delegate.so).

    Raises:
        DelegateError: the library is missing or refuses to start.
    """
    hint = (
        "build libtensorflowlite_gpu_delegate.so for your platform, or leave "
        "--gpu-delegate/EDGECAM_GPU_DELEGATE unset to use ai-edge-litert's GPU accelerator"
    )
    if not Path(library).exists() and "/" in str(library):
        raise DelegateError(f"GPU delegate library not found: {library}", hint)
    _check_library(str(library), "GPU delegate", hint)
    try:
        return backend.load_delegate(str(library))
    except (ValueError, RuntimeError, OSError) as exc:
        raise DelegateError(f"GPU delegate {library} failed to start ({exc})", hint) from None
