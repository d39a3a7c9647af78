"""Pick the TFLite interpreter package: ai-edge-litert, tflite-runtime, or tf.lite.

All three expose the same ``Interpreter`` and ``load_delegate``; they are imported lazily, here
and only here, so importing edgecam costs nothing and never pulls in TensorFlow unless the user
has nothing else (or asks for it).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from edgecam.config import Runtime
from edgecam.errors import RuntimeNotFoundError

_INSTALL_HINT = "pip install 'edgecam[litert]' (or ai-edge-litert; tflite-runtime on a Coral setup)"


@dataclass(frozen=True)
class Backend:
    """One importable TFLite runtime."""

    runtime: Runtime
    package: str  # the distribution name users install
    version: str
    Interpreter: Any
    load_delegate: Any

    @property
    def label(self) -> str:
        return f"{self.package} {self.version}"


def _import_litert() -> Backend:
    module = importlib.import_module("ai_edge_litert.interpreter")
    return Backend(
        Runtime.LITERT,
        "ai-edge-litert",
        _dist_version("ai-edge-litert"),
        module.Interpreter,
        module.load_delegate,
    )


def _import_tflite_runtime() -> Backend:
    module = importlib.import_module("tflite_runtime.interpreter")
    return Backend(
        Runtime.TFLITE_RUNTIME,
        "tflite-runtime",
        _dist_version("tflite-runtime"),
        module.Interpreter,
        module.load_delegate,
    )


def _import_tensorflow() -> Backend:
    # importlib keeps this lazy; TensorFlow costs ~2 s and is the last resort.
    tf = importlib.import_module("tensorflow")
    return Backend(
        Runtime.TENSORFLOW,
        "tensorflow",
        tf.__version__,
        tf.lite.Interpreter,
        tf.lite.experimental.load_delegate,
    )


_IMPORTERS = {
    Runtime.LITERT: _import_litert,
    Runtime.TFLITE_RUNTIME: _import_tflite_runtime,
    Runtime.TENSORFLOW: _import_tensorflow,
}
_cache: dict[Runtime, Backend] = {}


def _dist_version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "unknown"


def load_backend(runtime: Runtime | str = Runtime.AUTO) -> Backend:
    """Import and return the requested runtime, or the first available one for ``auto``.

    Raises:
        RuntimeNotFoundError: the requested runtime (or, for auto, every runtime) is missing.
    """
    runtime = Runtime.parse(runtime)
    order = list(_IMPORTERS) if runtime is Runtime.AUTO else [runtime]
    failures = []
    for candidate in order:
        if candidate in _cache:
            return _cache[candidate]
        try:
            backend = _IMPORTERS[candidate]()
        except ImportError as exc:
            failures.append(f"{candidate.value}: {exc}")
            continue
        _cache[candidate] = backend
        return backend
    if runtime is Runtime.AUTO:
        raise RuntimeNotFoundError("no TFLite runtime is installed", _INSTALL_HINT)
    raise RuntimeNotFoundError(
        f"runtime '{runtime.value}' is not installed ({failures[0]})",
        f"install it, or use --runtime auto; {_INSTALL_HINT}",
    )


def available_runtimes() -> list[str]:
    """Names of the runtimes that are installed, without importing them."""
    import importlib.util

    found = []
    for runtime, module in (
        (Runtime.LITERT, "ai_edge_litert"),
        (Runtime.TFLITE_RUNTIME, "tflite_runtime"),
        (Runtime.TENSORFLOW, "tensorflow"),
    ):
        if importlib.util.find_spec(module) is not None:
            found.append(runtime.value)
    return found
