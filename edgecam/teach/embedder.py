"""The embedder: which tensor of a model is the embedding, a model that outputs it, and the head
appended after it.

Three kinds of model are accepted as ``--embedder``:

* an embedding extractor (its output is a feature vector, ``[1, D]`` or ``[1, 1, 1, D]``);
* an image classifier: the output of its last global pooling op (AVERAGE_POOL_2D or MEAN to a
  vector) is the embedding, and the ops after it (the classifier layer) are cut off; without a
  pooling op, the input of the last FULLY_CONNECTED is;
* an Edge TPU compiled embedder (``*_edgetpu.tflite``, one ``edgetpu-custom-op``): the custom
  op's output is the embedding and the head runs on the CPU after it.

``--cut TENSOR`` (a tensor name or index) overrides the choice.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgecam.errors import ModelError
from edgecam.teach.graph import ModelGraph, NewOp, NewTensor, TensorInfo, rebuild
from edgecam.teach.head import Head

EDGETPU_OP = "edgetpu-custom-op"
_POOLS = ("AVERAGE_POOL_2D", "MEAN")
#: The tensor names teach gives the ops it appends (``teach/...``) and the model output.
OUTPUT_NAME = "probabilities"
HEAD_OPS = ("DEQUANTIZE", "RESHAPE", "L2_NORMALIZATION", "FULLY_CONNECTED", "SOFTMAX")


def _is_vector(shape: tuple[int, ...]) -> bool:
    return len(shape) >= 2 and all(d == 1 for d in shape[:-1]) and shape[-1] > 1


@dataclass(frozen=True)
class EmbedderGraph:
    """A model and the tensor teach uses as its embedding."""

    graph: ModelGraph
    embedding: int  # tensor index
    keep_ops: tuple[int, ...]  # the ops that compute it
    kind: str  # "embedder" | "classifier" | "edgetpu"

    @property
    def tensor(self) -> TensorInfo:
        return self.graph.tensors[self.embedding]

    @property
    def dim(self) -> int:
        return int(self.tensor.shape[-1])

    @property
    def input(self) -> TensorInfo:
        return self.graph.tensors[self.graph.inputs[0]]

    @property
    def is_cut(self) -> bool:
        return self.graph.outputs != (self.embedding,) or len(self.keep_ops) != len(self.graph.ops)

    @property
    def edgetpu(self) -> bool:
        return EDGETPU_OP in self.graph.op_names

    def describe(self) -> str:
        t = self.tensor
        how = {
            "embedder": "its output",
            "classifier": f"cut after op {max(self.keep_ops, default=0)} "
            f"({self.graph.ops[max(self.keep_ops)].name}), "
            f"{len(self.graph.ops) - len(self.keep_ops)} classifier op(s) dropped",
            "edgetpu": f"the {EDGETPU_OP} output",
        }[self.kind]
        return f"embedding {t.name!r} {list(t.shape)} {t.dtype}: {how}"

    def embedder_model(self) -> bytes:
        """A model whose one output is the embedding (the file itself when nothing is cut)."""
        if not self.is_cut:
            return self.graph.data
        return rebuild(self.graph, list(self.keep_ops), (self.embedding,))

    def with_head(
        self, head: Head, metadata: bytes | None = None, *, normalize: bool = True
    ) -> bytes:
        """The embedder's graph with the head's builtin ops appended (the bare flatbuffer);
        ``normalize`` False leaves out L2_NORMALIZATION (a head fitted on raw embeddings)."""
        tensors, ops = head_graph(self.tensor, head, normalize=normalize)
        return rebuild(
            self.graph,
            list(self.keep_ops),
            (OUTPUT_NAME,),
            tensors,
            ops,
            metadata=("TFLITE_METADATA", metadata) if metadata is not None else None,
        )


def head_graph(
    embedding: TensorInfo, head: Head, *, normalize: bool = True
) -> tuple[list[NewTensor], list[NewOp]]:
    """The tensors and ops of the head after ``embedding``.

    DEQUANTIZE (a quantized embedding) -> RESHAPE to ``[1, D]`` (when it is not) ->
    L2_NORMALIZATION (unless ``normalize`` is False) -> FULLY_CONNECTED (float weights) ->
    SOFTMAX, output ``probabilities``.
    """
    dim, classes = int(embedding.shape[-1]), head.num_classes
    if head.weights.shape != (classes, dim):
        raise ModelError(f"the head is {head.weights.shape} for a {dim}-wide embedding")
    tensors: list[NewTensor] = []
    ops: list[NewOp] = []
    x: int | str = embedding.index
    shape = embedding.shape
    if embedding.quantized:
        tensors.append(NewTensor("teach/dequantize", shape, "float32"))
        # DEQUANTIZE of int8 is version 2 (uint8: 1).
        version = 2 if embedding.dtype == "int8" else 1
        ops.append(NewOp("DEQUANTIZE", (x,), ("teach/dequantize",), version))
        x = "teach/dequantize"
    elif embedding.dtype != "float32":
        raise ModelError(
            f"the embedding {embedding.name!r} is {embedding.dtype} without quantization",
            "give a float32 or a quantized (uint8/int8) embedder",
        )
    if len(shape) != 2:
        tensors += [
            NewTensor("teach/shape", (2,), "int32", np.array([1, dim], np.int32)),
            NewTensor("teach/flat", (1, dim), "float32"),
        ]
        options = ("ReshapeOptions", {0: ("ints", [1, dim])})
        ops.append(NewOp("RESHAPE", (x, "teach/shape"), ("teach/flat",), options=options))
        x = "teach/flat"
    if normalize:
        tensors.append(NewTensor("teach/l2_normalize", (1, dim), "float32"))
        ops.append(
            NewOp("L2_NORMALIZATION", (x,), ("teach/l2_normalize",), options=("L2NormOptions", {}))
        )
        x = "teach/l2_normalize"
    tensors += [
        NewTensor("teach/weights", (classes, dim), "float32", head.weights.astype(np.float32)),
        NewTensor("teach/bias", (classes,), "float32", head.bias.astype(np.float32)),
        NewTensor("teach/logits", (1, classes), "float32"),
        NewTensor(OUTPUT_NAME, (1, classes), "float32"),
    ]
    ops += [
        NewOp(
            "FULLY_CONNECTED",
            (x, "teach/weights", "teach/bias"),
            ("teach/logits",),
            options=("FullyConnectedOptions", {}),
        ),
        NewOp(
            "SOFTMAX",
            ("teach/logits",),
            (OUTPUT_NAME,),
            options=("SoftmaxOptions", {0: ("f", 1.0)}),
        ),
    ]
    return tensors, ops


def find_embedding(graph: ModelGraph, cut: str | int | None = None) -> EmbedderGraph:
    """Decide which tensor of ``graph`` is the embedding (see the module docstring).

    Raises:
        ModelError: not a single-image model, or no tensor that is a feature vector.
    """
    src = graph.source
    hint = "give an embedding extractor or an image classifier, or name the tensor with --cut"
    if len(graph.inputs) != 1 or len(graph.tensors[graph.inputs[0]].shape) != 4:
        raise ModelError(f"{src} is not a single-image model", hint)
    if cut is not None:
        index = _tensor_index(graph, cut)
        kind = "embedder" if graph.outputs == (index,) else "classifier"
    else:
        index, kind = _choose(graph)
    t = graph.tensors[index]
    if not _is_vector(t.shape):
        raise ModelError(
            f"{src}: tensor {t.name!r} {list(t.shape)} is not a feature vector "
            "([1, D] or [1, 1, 1, D])",
            hint,
        )
    if t.has_data or index in graph.inputs:
        raise ModelError(f"{src}: tensor {t.name!r} is not computed from the image", hint)
    keep = graph.ops_needed(index)
    if EDGETPU_OP in [graph.ops[i].name for i in keep] and kind != "embedder":
        kind = "edgetpu"
    return EmbedderGraph(graph, index, tuple(keep), kind)


def _tensor_index(graph: ModelGraph, cut: str | int) -> int:
    if isinstance(cut, int) or (isinstance(cut, str) and cut.isdigit()):
        index = int(cut)
        if 0 <= index < len(graph.tensors):
            return index
    else:
        for t in graph.tensors:
            if t.name == cut:
                return t.index
    raise ModelError(
        f"{graph.source} has no tensor {cut!r}",
        "give a tensor name or index as `edgecam info --json MODEL` lists them",
    )


def _choose(graph: ModelGraph) -> tuple[int, str]:
    out = graph.outputs[0] if len(graph.outputs) == 1 else None
    if out is None:
        raise ModelError(
            f"{graph.source} has {len(graph.outputs)} outputs",
            "give an embedding extractor or an image classifier (one output)",
        )
    pools = [
        op
        for op in graph.ops
        if op.name in _POOLS and _is_vector(graph.tensors[op.outputs[0]].shape)
    ]
    if pools:
        pooled = pools[-1].outputs[0]
        if _only_reshapes_after(graph, pooled, out):
            return out, "embedder"
        return pooled, "classifier"
    producer = graph.producer(out)
    if producer is not None and producer.name == EDGETPU_OP:
        return out, "edgetpu"
    if producer is not None and producer.name in ("SOFTMAX", "LOGISTIC", "FULLY_CONNECTED"):
        fcs = [op for op in graph.ops if op.name == "FULLY_CONNECTED"]
        if fcs:
            return fcs[-1].inputs[0], "classifier"
    return out, "embedder"


def _only_reshapes_after(graph: ModelGraph, tensor: int, out: int) -> bool:
    """Whether ``out`` is ``tensor`` or comes from it through reshapes/requantization only."""
    passthrough = ("RESHAPE", "SQUEEZE", "QUANTIZE", "DEQUANTIZE")
    while out != tensor:
        op = graph.producer(out)
        if op is None or op.name not in passthrough:
            return False
        out = op.inputs[0]
    return True


def read_embedder(path: Path, cut: str | int | None = None) -> EmbedderGraph:
    """Read ``path`` (a ``.tflite`` or a bundle folder) and find its embedding.

    Raises:
        ModelError: unreadable, not a TFLite model, or no embedding found.
    """
    from edgecam.bundle import resolve_model

    path = resolve_model(path).model
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ModelError(
            f"cannot read {path}: {exc.strerror}", "check the --embedder path"
        ) from None
    return find_embedding(ModelGraph.read(data, str(path)), cut)
