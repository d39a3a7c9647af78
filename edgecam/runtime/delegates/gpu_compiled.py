"""The GPU through ai-edge-litert's CompiledModel and its bundled WebGPU (Vulkan) accelerator."""

from __future__ import annotations

import gc
import os
from typing import TYPE_CHECKING

from edgecam.config import Delegate, Runtime
from edgecam.errors import DelegateError
from edgecam.runtime.backends import Backend
from edgecam.runtime.delegates.base import DelegateEntry
from edgecam.runtime.interpreter import (
    CompiledModelEngine,
    Engine,
    first_line,
    interpreter_engine,
)
from edgecam.runtime.native import capture_native_stderr

if TYPE_CHECKING:
    from edgecam.bundle import ModelFiles
    from edgecam.runtime.options import EngineOptions


class GpuCompiled(DelegateEntry):
    """No library to install: the accelerator ships in the ai-edge-litert wheel."""

    name = "gpu-compiled"
    delegate = Delegate.GPU
    label = "GPU"

    def applies(self, files: ModelFiles, options: EngineOptions) -> bool:
        return options.gpu_delegate_library is None  # a given library takes precedence

    def probe(
        self, backend: Backend, files: ModelFiles, options: EngineOptions
    ) -> DelegateError | None:
        if backend.runtime is not Runtime.LITERT:
            return DelegateError(
                f"the GPU needs ai-edge-litert's accelerator, not {backend.label}",
                "use --runtime litert, or give a GPU delegate library with --gpu-delegate",
            )
        return None

    def load(self, backend: Backend, files: ModelFiles, options: EngineOptions) -> Engine:
        # The CPU interpreter reads the tensor details; CompiledModel runs them on the GPU.
        probe = interpreter_engine(backend, files.model, Delegate.CPU, "probe", 1, [])
        probe.close()
        try:
            from ai_edge_litert.compiled_model import (
                CompiledModel,
                Environment,
                EnvironmentOptions,
            )
            from ai_edge_litert.hardware_accelerator import HardwareAccelerator
        except ImportError as exc:
            raise DelegateError(
                f"this ai-edge-litert has no GPU accelerator ({exc})",
                "pip install -U ai-edge-litert, or use --delegate cpu",
            ) from None
        error = None
        with capture_native_stderr() as log:
            import ai_edge_litert.compiled_model as cm_module

            env = None
            try:
                env = Environment.create(
                    options=EnvironmentOptions(
                        runtime_path=os.path.dirname(os.path.abspath(cm_module.__file__))
                    )
                )
                compiled = CompiledModel.from_file(
                    str(files.model), environment=env, hardware_accel=HardwareAccelerator.GPU
                )
                fully = compiled.is_fully_accelerated()
            except (RuntimeError, ValueError) as exc:
                error = first_line(exc)
            if error is not None:
                # Tear the native environment down while its log lines are still captured.
                del env
                gc.collect()
        if error is not None:
            reason = "no GPU adapter found" if "No adapters" in log.text else error
            raise DelegateError(
                f"the GPU accelerator could not start ({reason})",
                "a GPU with Vulkan drivers (libvulkan1) is needed; or use --delegate cpu",
            )
        if not fully:
            raise DelegateError(
                f"{files.model} cannot run fully on the GPU accelerator",
                "some ops are not supported there; use --delegate cpu",
            )
        return CompiledModelEngine(
            compiled,
            backend=backend,
            delegate=Delegate.GPU,
            description=self.describe(options),
            inputs=probe.inputs,
            outputs=probe.outputs,
            ops=probe.ops,
            model_path=files.model,
        )

    def describe(self, options: EngineOptions) -> str:
        return "gpu (LiteRT WebGPU accelerator)"
