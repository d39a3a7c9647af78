"""Read a .tflite file's graph straight from the flatbuffer, without loading it in a runtime.

For what no interpreter here can load (an Edge TPU compiled model without a Coral) and for
checks on the graph itself (training's Edge TPU compatibility report). Uses the TFLite schema
with the object API that ships with ai-edge-litert (``ai_edge_litert.schema_py_generated``);
tflite-runtime's wheel does not have it, so every function raises ImportError there.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from edgecam.runtime.interpreter import TensorSpec


def load_schema() -> ModuleType:
    """The generated TFLite schema module.

    Raises:
        ImportError: ai-edge-litert is not installed.
    """
    from ai_edge_litert import schema_py_generated

    return schema_py_generated


def read_model(path: Path) -> Any:
    """The whole model (a ``ModelT``) of the .tflite at ``path``.

    Raises:
        ImportError: ai-edge-litert is not installed.
    """
    schema = load_schema()
    return schema.ModelT.InitFromPackedBuf(bytearray(Path(path).read_bytes()), 0)


@functools.cache
def _enum_names(enum: type) -> dict[int, str]:
    return {v: k for k, v in vars(enum).items() if not k.startswith("_")}


def op_name(model: Any, op: Any) -> str:
    """An op's name: the builtin's (``CONV_2D``) or the custom op's own (``edgetpu-custom-op``)."""
    schema = load_schema()
    code = model.operatorCodes[op.opcodeIndex]
    # Files from before schema v3a keep small codes only in the deprecated field.
    builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
    if builtin == schema.BuiltinOperator.CUSTOM:
        custom = code.customCode
        return custom.decode() if isinstance(custom, bytes) else str(custom)
    return _enum_names(schema.BuiltinOperator).get(builtin, str(builtin))


def operators(model: Any) -> Iterator[tuple[str, Any]]:
    """``(name, OperatorT)`` for each op of the main graph, in execution order."""
    for op in model.subgraphs[0].operators or []:
        yield op_name(model, op), op


def tensor_spec(model: Any, index: int) -> TensorSpec:
    """Shape, dtype and quantization of tensor ``index`` of the main graph."""
    schema = load_schema()
    t = model.subgraphs[0].tensors[index]
    q = t.quantization
    scale, zp = 0.0, 0
    if q is not None and q.scale is not None and len(q.scale):
        scale = float(q.scale[0])
    if q is not None and q.zeroPoint is not None and len(q.zeroPoint):
        zp = int(q.zeroPoint[0])
    name = t.name.decode() if isinstance(t.name, bytes) else str(t.name)
    dtype = np.dtype(_enum_names(schema.TensorType)[t.type].lower())
    shape = tuple(int(d) for d in t.shape) if t.shape is not None else ()
    return TensorSpec(name, shape, dtype, scale, zp)


def io_specs(model: Any) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """The main graph's input and output tensors."""
    graph = model.subgraphs[0]
    inputs = [tensor_spec(model, i) for i in graph.inputs]
    return inputs, [tensor_spec(model, i) for i in graph.outputs]
