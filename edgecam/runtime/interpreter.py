"""An inference engine: one loaded model on one delegate, with a uniform ``run`` call.

Two kinds exist: the classic ``Interpreter`` (CPU/XNNPACK, Edge TPU or a GPU delegate library)
and ai-edge-litert's ``CompiledModel`` for its bundled GPU accelerator. This module holds them
and the interpreter loading every delegate shares; :mod:`edgecam.runtime.delegates` decides
which one to build and :func:`edgecam.runtime.engine.open_engine` walks that decision.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgecam.config import Delegate, Runtime
from edgecam.errors import DelegateError, ModelError
from edgecam.runtime.backends import Backend
from edgecam.runtime.native import capture_native_stderr
from edgecam.runtime.probe import checked_model


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
        try:
            self._interpreter.set_tensor(self._input_index, tensor)
            self._interpreter.invoke()
            return self._interpreter.get_tensor(self._output_index)
        except (RuntimeError, ValueError) as exc:
            # A damaged model can load and still fail here ("Input tensor 3 lacks data").
            raise run_failed(self.model_path, self.backend, exc) from None

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
        try:
            self._in[0].write(tensor)
            self._compiled.run_by_index(0, self._in, self._out)
            out = self.outputs[0]
            return self._out[0].read(self._out_count, out.dtype).reshape(out.shape)
        except (RuntimeError, ValueError) as exc:
            raise run_failed(self.model_path, self.backend, exc) from None

    def close(self) -> None:
        self._compiled = None
        self._in = self._out = []


def run_failed(model: Path, backend: Backend, exc: BaseException) -> ModelError:
    """The error for an inference the runtime refused."""
    return ModelError(
        f"{model} failed to run in {backend.label} ({first_line(exc)})",
        "the model may be damaged: re-download or re-export it",
    )


def ops_of(interpreter: Any) -> list[str]:
    """The op names of a loaded interpreter in execution order (empty when it cannot say)."""
    try:
        return [
            d["op_name"] for d in interpreter._get_ops_details()
        ]  # private but stable since TF 2.5
    except Exception:
        return []


def new_interpreter(
    backend: Backend, model: Path, threads: int | None, delegates: list[Any]
) -> Any:
    """Create and allocate an interpreter, translating the runtimes' errors into ours.

    The runtime gets the file's content only once :func:`~edgecam.runtime.probe.checked_model`
    has verified it and, for content new to this runtime, test-loaded it in a child process:
    a damaged file never reaches the runtime in this process.
    """
    content = checked_model(backend, model)
    try:
        with capture_native_stderr():
            interpreter = backend.Interpreter(
                model_content=content,
                num_threads=threads,
                experimental_delegates=delegates or None,
            )
            interpreter.allocate_tensors()
    except ValueError as exc:
        too_new = _OP_VERSION.search(str(exc))
        if too_new:
            op, version = too_new.groups()
            if backend.runtime is Runtime.TFLITE_RUNTIME:
                fix = (
                    "install ai-edge-litert (pip install 'edgecam[litert]'), or export with "
                    "--mode int8 or float16, which tflite-runtime 2.14 runs"
                )
            else:
                fix = f"update {backend.package} (pip install -U {backend.package})"
            raise ModelError(
                f"{model} needs {op} version {version}, which {backend.label} does not have "
                "(the model is newer than the runtime, not damaged)",
                fix,
            ) from None
        raise ModelError(
            f"{model} is corrupt or truncated ({first_line(exc)})",
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
                f"{model} uses operations {backend.label} does not have ({first_line(exc)})",
                "update the runtime (pip install -U ai-edge-litert) or re-export "
                "with builtin ops only",
            ) from None
        raise ModelError(
            f"{model} failed to load in {backend.label} ({first_line(exc)})",
            "re-export the model, or try another --runtime",
        ) from None
    except (TypeError, UnicodeDecodeError, MemoryError, SystemError) as exc:
        raise ModelError(
            f"{model} failed to load in {backend.label} ({type(exc).__name__}: {first_line(exc)})",
            "the model may be damaged: re-download or re-export it",
        ) from None
    return interpreter


#: How the runtimes say a model uses an op version they are too old for.
_OP_VERSION = re.compile(r"Didn't find op for builtin opcode '(\w+)' version '(\d+)'")


def first_line(exc: BaseException) -> str:
    """The first line of an exception's text: runtimes append whole traces to theirs."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def interpreter_engine(
    backend: Backend,
    model: Path,
    delegate: Delegate,
    description: str,
    threads: int | None,
    delegates: list[Any],
) -> InterpreterEngine:
    """Load ``model`` in ``backend``'s Interpreter with ``delegates`` (empty: CPU/XNNPACK).

    Raises:
        ModelError: the file is corrupt or uses ops the runtime does not have.
        DelegateError: the file is compiled for the Edge TPU and no Edge TPU delegate is given.
    """
    interpreter = new_interpreter(backend, model, threads, delegates)
    try:
        inputs = [TensorSpec.from_details(d) for d in interpreter.get_input_details()]
        outputs = [TensorSpec.from_details(d) for d in interpreter.get_output_details()]
    except (ValueError, TypeError, KeyError, UnicodeDecodeError) as exc:
        raise ModelError(
            f"{model} has unreadable tensor details ({type(exc).__name__}: {first_line(exc)})",
            "the model may be damaged: re-download or re-export it",
        ) from None
    return InterpreterEngine(
        interpreter,
        backend=backend,
        delegate=delegate,
        description=description,
        inputs=inputs,
        outputs=outputs,
        ops=ops_of(interpreter),
        model_path=model,
    )
