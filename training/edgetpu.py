"""Edge TPU: will this int8 model map onto the chip, where would it split, and compile it.

edgetpu_compiler maps ops from the start of the graph until the first op it cannot run; that op
and everything after it run on the CPU. The check below mirrors the documented rules (supported
op list, quantized tensors, static shapes, batch 1) so users learn before they buy hardware.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from edgecam.labels import embed_labels
from edgecam.runtime import flatbuffer
from training.errors import TrainingError

# Ops the Edge TPU runs (coral.ai/docs/edgetpu/models-intro, "Supported operations").
EDGETPU_OPS = frozenset({
    "ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D", "DEQUANTIZE",
    "EXP", "FULLY_CONNECTED", "GATHER", "HARD_SWISH", "L2_NORMALIZATION", "LOGISTIC", "LSTM",
    "MAX_POOL_2D", "MAXIMUM", "MEAN", "MINIMUM", "MUL", "PACK", "PAD", "PRELU", "QUANTIZE",
    "REDUCE_MAX", "REDUCE_MIN", "RELU", "RELU6", "RELU_N1_TO_1", "RESHAPE", "RESIZE_BILINEAR",
    "RESIZE_NEAREST_NEIGHBOR", "RSQRT", "SLICE", "SOFTMAX", "SPACE_TO_DEPTH", "SPLIT",
    "SQUARED_DIFFERENCE", "SQUEEZE", "STRIDED_SLICE", "SUB", "SUM", "TANH", "TRANSPOSE",
    "TRANSPOSE_CONV",
})  # fmt: skip
INSTALL_HINT = (
    "edgetpu_compiler runs on x86-64 Debian/Ubuntu: apt-get install edgetpu-compiler "
    "from Coral's package repository (coral.ai/docs/edgetpu/compiler)"
)


@dataclass(frozen=True)
class OpInfo:
    """One op as the checker sees it."""

    name: str
    quantized: bool = True  # every input/output tensor is int8/uint8 (int32 bias allowed)
    static_shape: bool = True  # no dynamic dimension
    batch_one: bool = True


@dataclass
class EdgeTpuReport:
    ops: list[OpInfo]
    problems: list[tuple[int, str, str]] = field(default_factory=list)  # (index, op, why)

    @property
    def split_at(self) -> int | None:
        """Index of the first op that would run on the CPU (None: all on the Edge TPU)."""
        return self.problems[0][0] if self.problems else None

    @property
    def compatible(self) -> bool:
        return not self.problems

    def format(self) -> str:
        if self.compatible:
            return f"Edge TPU: all {len(self.ops)} ops can run on the Edge TPU"
        k = self.split_at
        lines = [
            f"Edge TPU: the graph would split at op #{k} ({self.ops[k].name}): ops "
            f"#{k}..#{len(self.ops) - 1} ({len(self.ops) - k} of {len(self.ops)}) would run "
            "on the CPU"
        ]
        lines += [f"  op #{i} {name}: {why}" for i, name, why in self.problems]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            "compatible": self.compatible,
            "ops": len(self.ops),
            "split_at": self.split_at,
            "problems": [{"op_index": i, "op": n, "reason": w} for i, n, w in self.problems],
        }


def analyze_ops(ops: list[OpInfo]) -> EdgeTpuReport:
    """Check a list of ops in execution order against the Edge TPU's rules."""
    report = EdgeTpuReport(list(ops))
    for i, op in enumerate(ops):
        reasons = []
        if op.name not in EDGETPU_OPS:
            reasons.append("not supported by the Edge TPU")
        if not op.quantized:
            reasons.append("not quantized to 8 bits")
        if not op.static_shape:
            reasons.append("dynamic tensor shape")
        if not op.batch_one:
            reasons.append("batch size is not 1")
        if reasons:
            report.problems.append((i, op.name, "; ".join(reasons)))
    return report


def read_ops(path: Path) -> list[OpInfo]:
    """The ops of a .tflite in execution order, with their tensors' properties."""
    model = flatbuffer.read_model(path)
    schema = flatbuffer.load_schema()
    graph = model.subgraphs[0]
    int8ish = {schema.TensorType.INT8, schema.TensorType.UINT8}
    ops = []
    for name, op in flatbuffer.operators(model):
        tensors = [graph.tensors[t] for t in [*op.inputs, *op.outputs] if t >= 0]
        # Activations have no constant data; weights and biases do.
        activations = [t for t in tensors if not _has_data(model, t)]
        quantized = all(
            t.type in int8ish or (t.type == schema.TensorType.INT32 and t not in activations)
            for t in tensors
        )
        static = all(d >= 0 for t in activations for d in _signature(t))
        batch_one = all(len(_signature(t)) < 2 or _signature(t)[0] == 1 for t in activations)
        ops.append(OpInfo(name, quantized, static, batch_one))
    return ops


def _signature(tensor):
    """The shape with -1 for dynamic dimensions (shape_signature when the file has one)."""
    sig = tensor.shapeSignature
    return (
        sig if sig is not None and len(sig) else (tensor.shape if tensor.shape is not None else [])
    )


def _has_data(model, tensor) -> bool:
    buffer = model.buffers[tensor.buffer] if tensor.buffer < len(model.buffers) else None
    return buffer is not None and (
        (buffer.data is not None and len(buffer.data) > 0) or bool(getattr(buffer, "size", 0))
    )


def check_edgetpu(path: Path) -> EdgeTpuReport:
    """Analyze an exported .tflite for the Edge TPU."""
    return analyze_ops(read_ops(path))


def compile_edgetpu(
    model: Path, labels: list[str], compiler: str | None = None, timeout: float = 300
) -> Path | None:
    """Compile ``model`` to ``model_edgetpu.tflite`` beside it and embed ``labels`` again.

    Returns:
        The compiled model's path, or None when edgetpu_compiler is not installed.

    Raises:
        TrainingError: the compiler ran and failed (its output is in the message).
    """
    compiler = compiler or shutil.which("edgetpu_compiler")
    if compiler is None:
        return None
    out_dir = model.parent
    proc = subprocess.run(
        [compiler, "--show_operations", "--out_dir", str(out_dir), str(model)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    compiled = out_dir / f"{model.stem}_edgetpu.tflite"
    if proc.returncode != 0 or not compiled.exists():
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
        raise TrainingError(
            f"edgetpu_compiler failed (exit {proc.returncode}): {' | '.join(tail)}",
            "check the model is int8 end to end (edgecam info)",
        )
    (out_dir / f"{model.stem}_edgetpu.log").unlink(missing_ok=True)
    embed_labels(compiled, labels)  # the compiler drops the metadata zip
    return compiled
