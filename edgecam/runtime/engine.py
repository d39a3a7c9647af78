"""An inference engine: one loaded model on one delegate, with a uniform ``run`` call.

Two kinds exist: the classic ``Interpreter`` (CPU/XNNPACK, Edge TPU or a GPU delegate library)
and ai-edge-litert's ``CompiledModel`` for its bundled GPU accelerator. ``open_engine`` picks
and loads one following the user's :class:`~edgecam.config.Delegate` choice.
"""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgecam.bundle import ModelFiles
from edgecam.config import ClassifierOptions, Delegate, Runtime
from edgecam.errors import DelegateError, ModelError
from edgecam.runtime.backends import Backend, load_backend
from edgecam.runtime.delegates import (
    EDGETPU_INSTALL_HINT,
    is_edgetpu_compiled,
    load_edgetpu_delegate,
    load_gpu_delegate,
)
from edgecam.runtime.native import capture_native_stderr


@dataclass(frozen=True)
class TensorSpec:
    """Shape, dtype and quantization of one model input or output."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    scale: float = 0.0
    zero_point: int = 0

    @property
    def quantized(self) -> bool:
        return self.scale != 0.0 and self.dtype.kind in "iu"

    @classmethod
    def from_details(cls, details: dict[str, Any]) -> TensorSpec:
        scale, zero_point = details.get("quantization", (0.0, 0))
        return cls(
            name=details.get("name", ""),
            shape=tuple(int(d) for d in details["shape"]),
            dtype=np.dtype(details["dtype"]),
            scale=float(scale),
            zero_point=int(zero_point),
        )

    def describe(self) -> str:
        text = f"{self.name or '?'} {list(self.shape)} {self.dtype.name}"
        if self.quantized:
            text += f" (scale {self.scale:.6g}, zero point {self.zero_point})"
        return text


def default_threads() -> int:
    """XNNPACK threads when the user gives none: all cores, at most 4 (more rarely helps)."""
    return max(1, min(4, os.cpu_count() or 1))


class Engine:
    """A loaded model ready to run. Subclasses implement ``run``."""

    def __init__(
        self,
        backend: Backend,
        delegate: Delegate,
        description: str,
        inputs: list[TensorSpec],
        outputs: list[TensorSpec],
        ops: list[str],
        model_path: Path,
    ) -> None:
        self.backend = backend
        self.delegate = delegate
        self.description = description  # e.g. "cpu (XNNPACK, 2 threads)"
        self.inputs = inputs
        self.outputs = outputs
        self.ops = ops
        self.model_path = model_path

    def run(self, tensor: np.ndarray) -> np.ndarray:
        """Run one inference on the single input; return the single output (a copy)."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the native resources; the engine cannot run afterwards."""


class InterpreterEngine(Engine):
    """The classic TFLite ``Interpreter``, with or without a delegate."""

    def __init__(self, interpreter: Any, **kwargs: Any) -> None:
        self._interpreter = interpreter
        super().__init__(**kwargs)
        if not self.inputs or not self.outputs:
            # tflite-runtime loads some truncated files as an empty graph instead of failing.
            raise ModelError(
                f"{self.model_path} has no inputs or outputs (corrupt or truncated?)",
                "re-download or re-export the model",
            )
        self._input_index = interpreter.get_input_details()[0]["index"]
        self._output_index = interpreter.get_output_details()[0]["index"]

    def run(self, tensor: np.ndarray) -> np.ndarray:
        self._interpreter.set_tensor(self._input_index, tensor)
        self._interpreter.invoke()
        return self._interpreter.get_tensor(self._output_index)

    def close(self) -> None:
        self._interpreter = None


class CompiledModelEngine(Engine):
    """ai-edge-litert's ``CompiledModel`` on its bundled GPU accelerator (WebGPU over Vulkan)."""

    def __init__(self, compiled: Any, **kwargs: Any) -> None:
        self._compiled = compiled
        super().__init__(**kwargs)
        self._in = compiled.create_input_buffers(0)
        self._out = compiled.create_output_buffers(0)
        out = self.outputs[0]
        self._out_count = int(np.prod(out.shape))

    def run(self, tensor: np.ndarray) -> np.ndarray:
        self._in[0].write(tensor)
        self._compiled.run_by_index(0, self._in, self._out)
        out = self.outputs[0]
        return self._out[0].read(self._out_count, out.dtype).reshape(out.shape)

    def close(self) -> None:
        self._compiled = None
        self._in = self._out = []


def _ops_of(interpreter: Any) -> list[str]:
    try:
        return [
            d["op_name"] for d in interpreter._get_ops_details()
        ]  # private but stable since TF 2.5
    except Exception:
        return []


def _new_interpreter(
    backend: Backend, model: Path, threads: int | None, delegates: list[Any]
) -> Any:
    """Create and allocate an interpreter, translating the runtimes' errors into ours."""
    try:
        with capture_native_stderr():
            interpreter = backend.Interpreter(
                model_path=str(model), num_threads=threads, experimental_delegates=delegates or None
            )
            interpreter.allocate_tensors()
    except ValueError as exc:
        raise ModelError(
            f"{model} is corrupt or truncated ({_first_line(exc)})",
            "re-download or re-export the model",
        ) from None
    except RuntimeError as exc:
        text = str(exc)
        if "edgetpu-custom-op" in text:
            raise DelegateError(
                f"{model} is compiled for the Edge TPU and cannot run on the CPU",
                "use --delegate edgetpu with a Coral device, or the model's non-Edge-TPU .tflite",
            ) from None
        if "unresolved custom op" in text or "Op builtin_code out of range" in text:
            raise ModelError(
                f"{model} uses operations {backend.label} does not have ({_first_line(exc)})",
                "update the runtime (pip install -U ai-edge-litert) or re-export "
                "with builtin ops only",
            ) from None
        raise ModelError(
            f"{model} failed to load in {backend.label} ({_first_line(exc)})",
            "re-export the model, or try another --runtime",
        ) from None
    return interpreter


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _interpreter_engine(
    backend: Backend,
    model: Path,
    delegate: Delegate,
    description: str,
    threads: int | None,
    delegates: list[Any],
) -> InterpreterEngine:
    interpreter = _new_interpreter(backend, model, threads, delegates)
    return InterpreterEngine(
        interpreter,
        backend=backend,
        delegate=delegate,
        description=description,
        inputs=[TensorSpec.from_details(d) for d in interpreter.get_input_details()],
        outputs=[TensorSpec.from_details(d) for d in interpreter.get_output_details()],
        ops=_ops_of(interpreter),
        model_path=model,
    )


def _cpu_engine(backend: Backend, model: Path, threads: int | None) -> InterpreterEngine:
    threads = threads or default_threads()
    plural = "s" if threads > 1 else ""
    return _interpreter_engine(
        backend, model, Delegate.CPU, f"cpu (XNNPACK, {threads} thread{plural})", threads, []
    )


def _edgetpu_engine(backend: Backend, files: ModelFiles, device: str | None) -> InterpreterEngine:
    model = files.edgetpu_model or files.model
    if not is_edgetpu_compiled(model):
        raise DelegateError(
            f"{model} is not compiled for the Edge TPU",
            "compile it with edgetpu_compiler (edgecam export does when the "
            "compiler is installed), or use --delegate cpu",
        )
    delegate = load_edgetpu_delegate(backend, device)
    return _interpreter_engine(
        backend, model, Delegate.EDGETPU, f"edgetpu ({device or 'first found'})", None, [delegate]
    )


def _gpu_engine(backend: Backend, files: ModelFiles, options: ClassifierOptions) -> Engine:
    if options.gpu_delegate_library is not None:
        delegate = load_gpu_delegate(backend, options.gpu_delegate_library)
        return _interpreter_engine(
            backend,
            files.model,
            Delegate.GPU,
            f"gpu (delegate {options.gpu_delegate_library.name})",
            None,
            [delegate],
        )
    if backend.runtime is not Runtime.LITERT:
        raise DelegateError(
            f"the GPU needs ai-edge-litert's accelerator, not {backend.label}",
            "use --runtime litert, or give a GPU delegate library with --gpu-delegate",
        )
    # The CPU interpreter reads the tensor details; CompiledModel runs them on the GPU.
    probe = _interpreter_engine(backend, files.model, Delegate.CPU, "probe", 1, [])
    probe.close()
    try:
        from ai_edge_litert.compiled_model import CompiledModel, Environment, EnvironmentOptions
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
            error = _first_line(exc)
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
        description="gpu (LiteRT WebGPU accelerator)",
        inputs=probe.inputs,
        outputs=probe.outputs,
        ops=probe.ops,
        model_path=files.model,
    )


def open_engine(
    files: ModelFiles, options: ClassifierOptions, notices: list[str] | None = None
) -> Engine:
    """Load ``files`` on the delegate ``options`` asks for.

    An explicit delegate that cannot be honoured raises :class:`DelegateError`. ``auto`` tries the
    Edge TPU (when the model has an Edge TPU variant), then the GPU, then the CPU, and appends a
    line to ``notices`` for each fallback so the caller can tell the user.
    """
    notices = notices if notices is not None else []
    backend = load_backend(options.runtime)
    choice = options.delegate
    if choice is Delegate.CPU:
        if files.edgetpu_model is None and is_edgetpu_compiled(files.model):
            raise DelegateError(
                f"{files.model} is compiled for the Edge TPU and cannot run on the CPU",
                "use --delegate edgetpu, or the model's plain .tflite",
            )
        return _cpu_engine(backend, files.model, options.threads)
    if choice is Delegate.EDGETPU:
        return _edgetpu_engine(backend, files, options.edgetpu_device)
    if choice is Delegate.GPU:
        return _gpu_engine(backend, files, options)

    # auto
    bare_edgetpu = files.edgetpu_model is None and is_edgetpu_compiled(files.model)
    if files.edgetpu_model is not None or bare_edgetpu:
        try:
            return _edgetpu_engine(backend, files, options.edgetpu_device)
        except (DelegateError, ModelError) as exc:
            if bare_edgetpu:  # nothing else can run this file
                raise DelegateError(
                    f"{files.model} is compiled for the Edge TPU, which is not "
                    f"available ({exc.message})",
                    EDGETPU_INSTALL_HINT,
                ) from None
            notices.append(f"Edge TPU not used: {exc.message}")
    try:
        return _gpu_engine(backend, files, options)
    except (DelegateError, ModelError) as exc:
        # A model the CPU cannot load either fails again just below, with the same message.
        notices.append(f"GPU not used: {exc.message}; running on the CPU")
    return _cpu_engine(backend, files.model, options.threads)
