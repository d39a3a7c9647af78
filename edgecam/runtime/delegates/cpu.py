"""The CPU through the runtime's default XNNPACK delegate: runs every model but Edge TPU ones."""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgecam.config import Delegate
from edgecam.errors import DelegateError
from edgecam.runtime.backends import Backend
from edgecam.runtime.delegates.base import DelegateEntry
from edgecam.runtime.delegates.edgetpu import is_bare_edgetpu_model
from edgecam.runtime.interpreter import Engine, default_threads, interpreter_engine

if TYPE_CHECKING:
    from edgecam.bundle import ModelFiles
    from edgecam.runtime.options import EngineOptions


class Cpu(DelegateEntry):
    """XNNPACK with ``options.threads`` threads (default: all cores, at most 4)."""

    name = "cpu"
    delegate = Delegate.CPU
    label = "CPU"

    def probe(
        self, backend: Backend, files: ModelFiles, options: EngineOptions
    ) -> DelegateError | None:
        if is_bare_edgetpu_model(files):
            return DelegateError(
                f"{files.model} is compiled for the Edge TPU and cannot run on the CPU",
                "use --delegate edgetpu, or the model's plain .tflite",
            )
        return None

    def load(self, backend: Backend, files: ModelFiles, options: EngineOptions) -> Engine:
        threads = options.threads or default_threads()
        return interpreter_engine(
            backend, files.model, Delegate.CPU, self.describe(options), threads, []
        )

    def describe(self, options: EngineOptions) -> str:
        threads = options.threads or default_threads()
        plural = "s" if threads > 1 else ""
        return f"cpu (XNNPACK, {threads} thread{plural})"
