"""Read a .tflite graph and write an extended one, with no TFLite schema package.

The Pi environment has no ``ai_edge_litert.schema_py_generated`` (the object API that
:mod:`edgecam.runtime.flatbuffer` uses), so teach reads and writes models itself:

* reading: a flatbuffer table is a vtable of field offsets; :class:`_Table` follows them for the
  handful of TFLite tables teach looks at (Model, SubGraph, Tensor, Operator, OperatorCode,
  Buffer, QuantizationParameters, SignatureDef), with the slot numbers of TFLite's
  ``schema.fbs``.
* writing (:func:`rebuild`): the original file is copied verbatim, 16-byte aligned, to the end of
  a new flatbuffer, and a new root (Model, the main SubGraph and the vectors that change) is
  written in front of it. Flatbuffer offsets point forward, so the new tables refer to every
  untouched table (operators and their options, tensors, buffers, the Edge TPU's custom op, other
  subgraphs) where it already is, byte for byte. Nothing has to be decoded and re-encoded, so no
  table of the ~150 op option types and no field this code does not know about is lost or
  altered. The cost is the old root's few hundred bytes (and, for a classifier cut at its
  embedding, the classifier layer's weights) left unreferenced in the file.

The ``flatbuffers`` package (pure Python, the ``teach`` extra) is the builder.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

from edgecam.errors import ConfigError, ModelError

#: BuiltinOperator codes teach (and training.tflite_backbone) reads or writes (schema.fbs).
BUILTIN = {
    "AVERAGE_POOL_2D": 1,
    "CONV_2D": 3,
    "DEPTHWISE_CONV_2D": 4,
    "DEQUANTIZE": 6,
    "FULLY_CONNECTED": 9,
    "L2_NORMALIZATION": 11,
    "LOGISTIC": 14,
    "RESHAPE": 22,
    "SOFTMAX": 25,
    "CUSTOM": 32,
    "MEAN": 40,
    "SQUEEZE": 43,
    "QUANTIZE": 114,
}
_BUILTIN_NAMES = {code: name for name, code in BUILTIN.items()}
#: BuiltinOptions union tags for the options teach writes.
OPTIONS = {
    "FullyConnectedOptions": 8,
    "SoftmaxOptions": 9,
    "L2NormOptions": 12,
    "ReshapeOptions": 17,
}
#: TensorType codes (schema.fbs) and their numpy names.
TENSOR_TYPES = {
    0: "float32",
    1: "float16",
    2: "int32",
    3: "uint8",
    4: "int64",
    6: "bool",
    7: "int16",
    9: "int8",
    10: "float64",
}
_TYPE_CODES = {name: code for code, name in TENSOR_TYPES.items()}
_IDENTIFIER = b"TFL3"
#: The Model and SubGraph slots this code copies (schema.fbs as of LiteRT 2.x: Model has
#: ten fields, SubGraph six); a file with more was written by a newer schema.
_MODEL_SLOTS = 10
_SUBGRAPH_SLOTS = 6


def _bad(path: str, what: str) -> ModelError:
    return ModelError(f"{path}: {what}", "give a valid .tflite model")


class _Table:
    """One flatbuffer table: field lookup through its vtable."""

    __slots__ = ("buf", "pos", "vtable", "vtable_size")

    def __init__(self, buf: bytes, pos: int) -> None:
        self.buf = buf
        self.pos = pos
        self.vtable = pos - struct.unpack_from("<i", buf, pos)[0]
        self.vtable_size = struct.unpack_from("<H", buf, self.vtable)[0]

    @property
    def num_slots(self) -> int:
        return (self.vtable_size - 4) // 2

    def present(self, slot: int) -> bool:
        return self._field(slot) is not None

    def _field(self, slot: int) -> int | None:
        entry = 4 + 2 * slot
        if entry >= self.vtable_size:
            return None
        offset = struct.unpack_from("<H", self.buf, self.vtable + entry)[0]
        return self.pos + offset if offset else None

    def scalar(self, slot: int, fmt: str, default: float = 0) -> int | float:
        at = self._field(slot)
        return default if at is None else struct.unpack_from("<" + fmt, self.buf, at)[0]

    def ref(self, slot: int) -> int | None:
        """The absolute position of the object the offset field ``slot`` points to."""
        at = self._field(slot)
        return None if at is None else at + struct.unpack_from("<I", self.buf, at)[0]

    def table(self, slot: int) -> _Table | None:
        at = self.ref(slot)
        return None if at is None else _Table(self.buf, at)

    def _vector(self, slot: int) -> tuple[int, int] | None:
        at = self.ref(slot)
        if at is None:
            return None
        return at + 4, struct.unpack_from("<I", self.buf, at)[0]

    def refs(self, slot: int) -> list[int]:
        """The absolute positions of the tables in the vector field ``slot``."""
        vector = self._vector(slot)
        if vector is None:
            return []
        start, n = vector
        return [
            start + 4 * i + struct.unpack_from("<I", self.buf, start + 4 * i)[0] for i in range(n)
        ]

    def tables(self, slot: int) -> list[_Table]:
        return [_Table(self.buf, at) for at in self.refs(slot)]

    def numbers(self, slot: int, dtype: str) -> np.ndarray:
        vector = self._vector(slot)
        if vector is None:
            return np.zeros(0, dtype)
        start, n = vector
        return np.frombuffer(self.buf, np.dtype(dtype).newbyteorder("<"), n, start).copy()

    def string(self, slot: int) -> str | None:
        vector = self._vector(slot)
        if vector is None:
            return None
        start, n = vector
        return bytes(self.buf[start : start + n]).decode("utf-8", errors="replace")


@dataclass(frozen=True)
class TensorInfo:
    """One tensor of the main graph."""

    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str  # numpy name, or "type N" for types teach does not handle
    buffer: int
    scale: float = 0.0
    zero_point: int = 0
    has_data: bool = False

    @property
    def quantized(self) -> bool:
        return self.scale != 0.0 and self.dtype in ("uint8", "int8", "int16")


@dataclass(frozen=True)
class OpInfo:
    """One operator of the main graph, in execution order."""

    index: int
    name: str  # CONV_2D, ..., or a custom op's name (edgetpu-custom-op)
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


@dataclass
class ModelGraph:
    """The main graph of a .tflite file, read straight from the flatbuffer.

    ``data`` is the bare flatbuffer (an appended metadata zip is removed first).
    """

    data: bytes
    source: str = "model"
    tensors: list[TensorInfo] = field(default_factory=list)
    ops: list[OpInfo] = field(default_factory=list)
    inputs: tuple[int, ...] = ()
    outputs: tuple[int, ...] = ()
    op_codes: list[tuple[int, str | None, int]] = field(default_factory=list)  # builtin, custom, v
    metadata: tuple[str, ...] = ()  # the names of the Model.metadata entries

    @classmethod
    def read(cls, data: bytes, source: str = "model") -> ModelGraph:
        """Parse ``data``.

        Raises:
            ModelError: not a TFLite flatbuffer, or not one this code can extend.
        """
        from edgecam.labels import _strip_zip  # the bare flatbuffer, labels zip removed

        data = _strip_zip(bytes(data))
        if len(data) < 8 or data[4:8] != _IDENTIFIER:
            raise _bad(source, "not a TFLite model (no TFL3 header)")
        try:
            return cls._parse(data, source)
        except (struct.error, IndexError, ValueError) as exc:
            raise _bad(source, f"the flatbuffer is damaged ({exc})") from None

    @classmethod
    def _parse(cls, data: bytes, source: str) -> ModelGraph:
        model = _Table(data, struct.unpack_from("<I", data, 0)[0])
        codes = []
        for code in model.tables(1):
            deprecated = int(code.scalar(0, "b", 0))
            builtin = max(int(code.scalar(3, "i", 0)), deprecated)
            codes.append((builtin, code.string(1), int(code.scalar(2, "i", 1))))
        subgraphs = model.tables(2)
        if not subgraphs:
            raise _bad(source, "the model has no graph")
        graph = subgraphs[0]
        buffers = model.tables(4)
        tensors = []
        for i, t in enumerate(graph.tables(0)):
            q = t.table(4)
            scale, zero = 0.0, 0
            if q is not None:
                scales, zeros = q.numbers(2, "float32"), q.numbers(3, "int64")
                scale = float(scales[0]) if scales.size else 0.0
                zero = int(zeros[0]) if zeros.size else 0
            code = int(t.scalar(1, "b", 0))
            buffer = int(t.scalar(2, "I", 0))
            has_data = 0 < buffer < len(buffers) and bool(buffers[buffer].numbers(0, "uint8").size)
            tensors.append(
                TensorInfo(
                    index=i,
                    name=t.string(3) or "",
                    shape=tuple(int(d) for d in t.numbers(0, "int32")),
                    dtype=TENSOR_TYPES.get(code, f"type {code}"),
                    buffer=buffer,
                    scale=scale,
                    zero_point=zero,
                    has_data=has_data,
                )
            )
        ops = []
        for i, op in enumerate(graph.tables(3)):
            builtin, custom, _ = codes[int(op.scalar(0, "I", 0))]
            name = custom if builtin == BUILTIN["CUSTOM"] else _BUILTIN_NAMES.get(builtin)
            ops.append(
                OpInfo(
                    index=i,
                    name=name or f"BUILTIN_{builtin}",
                    inputs=tuple(int(v) for v in op.numbers(1, "int32")),
                    outputs=tuple(int(v) for v in op.numbers(2, "int32")),
                )
            )
        return cls(
            data=data,
            source=source,
            tensors=tensors,
            ops=ops,
            inputs=tuple(int(v) for v in graph.numbers(1, "int32")),
            outputs=tuple(int(v) for v in graph.numbers(2, "int32")),
            op_codes=codes,
            metadata=tuple(entry.string(0) or "" for entry in model.tables(6)),
        )

    def producer(self, tensor: int) -> OpInfo | None:
        """The op that writes ``tensor`` (None for inputs and constants)."""
        return next((op for op in self.ops if tensor in op.outputs), None)

    def ops_needed(self, tensor: int) -> list[int]:
        """The indices of the ops ``tensor`` depends on, in execution order."""
        needed: set[int] = set()
        wanted = {tensor}
        for op in reversed(self.ops):
            if wanted.intersection(op.outputs):
                needed.add(op.index)
                wanted.update(i for i in op.inputs if i >= 0)
        return sorted(needed)

    def consumers(self, tensor: int) -> list[OpInfo]:
        return [op for op in self.ops if tensor in op.inputs]

    @property
    def op_names(self) -> list[str]:
        return [op.name for op in self.ops]


# -- writing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewTensor:
    """A tensor to add; ``data`` makes it a constant (its own new buffer)."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    data: np.ndarray | None = None


@dataclass(frozen=True)
class NewOp:
    """An op to add. Tensor ids: ints are existing tensors, strings name a :class:`NewTensor`.

    ``options``: ``(union name, {slot: (kind, value)})`` with kind ``"b"``, ``"f"``, ``"ints"``.
    """

    builtin: str
    inputs: tuple[int | str, ...]
    outputs: tuple[int | str, ...]
    version: int = 1
    options: tuple[str, dict[int, tuple[str, object]]] | None = None


def rebuild(
    graph: ModelGraph,
    keep_ops: list[int],
    outputs: tuple[int | str, ...],
    new_tensors: list[NewTensor] = (),
    new_ops: list[NewOp] = (),
    metadata: tuple[str, bytes] | None = None,
    inputs: tuple[int, ...] | None = None,
) -> bytes:
    """A model that runs ``keep_ops`` of ``graph`` then ``new_ops``, with ``outputs``.

    ``inputs`` replaces the graph's inputs (None keeps them).

    ``metadata``: ``(name, bytes)`` replaces (or adds) the Model.metadata entry of that name.
    The signature defs, if any, get the new outputs. Returns the bare flatbuffer.

    Raises:
        ModelError: a file this code cannot extend (external buffers, a newer schema).
    """
    try:
        import flatbuffers
    except ImportError:
        raise ConfigError(
            "writing a model needs the flatbuffers package (the teach extra)",
            "pip install 'edgecam[teach]'",
        ) from None

    data = graph.data
    model = _Table(data, struct.unpack_from("<I", data, 0)[0])
    if model.num_slots > _MODEL_SLOTS and any(
        model.present(s) for s in range(_MODEL_SLOTS, model.num_slots)
    ):
        raise ModelError(
            f"{graph.source} was written by a newer TFLite schema than teach knows",
            "update edgecam, or give a model converted with TensorFlow Lite / LiteRT 2.x",
        )
    old_buffers = model.tables(4)
    if any(b.scalar(1, "Q", 0) for b in old_buffers) or model.present(9):
        raise ModelError(
            f"{graph.source} keeps its weights outside the flatbuffer (a model over 2 GB)",
            "teach extends models whose weights are inside the file",
        )
    subgraphs = model.tables(2)
    main = subgraphs[0]
    if main.num_slots > _SUBGRAPH_SLOTS and any(
        main.present(s) for s in range(_SUBGRAPH_SLOTS, main.num_slots)
    ):
        raise ModelError(f"{graph.source}: its graph has fields teach does not know")

    b = flatbuffers.Builder(len(data) + 65536)
    # The whole original file at the end: every old position p becomes builder offset base - p.
    blob = data + b"\0" * (-len(data) % 16)
    b.Prep(16, len(blob))
    b.head -= len(blob)
    b.Bytes[b.head : b.head + len(blob)] = blob
    base = b.Offset()

    def old(position: int) -> int:
        return base - position

    # Op codes: reuse an equal entry, else add one.
    codes = list(graph.op_codes)
    code_refs = [old(p) for p in model.refs(1)]

    def opcode(builtin: str, version: int) -> int:
        key = (BUILTIN[builtin], None, version)
        for i, (code, custom, v) in enumerate(codes):
            if (code, custom, v) == key:
                return i
        b.StartObject(4)
        b.PrependInt8Slot(0, min(key[0], 127), 0)
        b.PrependInt32Slot(2, version, 1)
        b.PrependInt32Slot(3, key[0], 0)
        code_refs.append(b.EndObject())
        codes.append(key)
        return len(codes) - 1

    op_codes = [opcode(op.builtin, op.version) for op in new_ops]

    # Buffers and tensors.
    buffer_refs = [old(p) for p in model.refs(4)]
    tensor_refs = [old(p) for p in main.refs(0)]
    ids: dict[str, int] = {}
    for tensor in new_tensors:
        buffer = 0
        if tensor.data is not None:
            raw = np.ascontiguousarray(tensor.data, dtype=np.dtype(tensor.dtype).newbyteorder("<"))
            payload = raw.tobytes()
            b.StartVector(1, len(payload), 16)
            b.head -= len(payload)
            b.Bytes[b.head : b.head + len(payload)] = payload
            vector = b.EndVector()
            b.StartObject(3)
            b.PrependUOffsetTRelativeSlot(0, vector, 0)
            buffer_refs.append(b.EndObject())
            buffer = len(buffer_refs) - 1
        elif not buffer_refs:
            raise _bad(graph.source, "the model has no buffers (not even the empty one)")
        name = b.CreateString(tensor.name)
        shape = b.CreateNumpyVector(np.asarray(tensor.shape, np.int32))
        b.StartObject(4)
        b.PrependUOffsetTRelativeSlot(0, shape, 0)
        b.PrependInt8Slot(1, _TYPE_CODES[tensor.dtype], 0)
        b.PrependUint32Slot(2, buffer, 0)
        b.PrependUOffsetTRelativeSlot(3, name, 0)
        tensor_refs.append(b.EndObject())
        ids[tensor.name] = len(tensor_refs) - 1

    def tid(value: int | str) -> int:
        return ids[value] if isinstance(value, str) else value

    # Operators: the kept ones where they are, then the new ones.
    old_ops = main.refs(3)
    op_refs = [old(old_ops[i]) for i in keep_ops]
    for op, code in zip(new_ops, op_codes, strict=True):
        options = _options(b, op.options[1]) if op.options else None
        ins = b.CreateNumpyVector(np.asarray([tid(t) for t in op.inputs], np.int32))
        outs = b.CreateNumpyVector(np.asarray([tid(t) for t in op.outputs], np.int32))
        b.StartObject(5)
        b.PrependUint32Slot(0, code, 0)
        b.PrependUOffsetTRelativeSlot(1, ins, 0)
        b.PrependUOffsetTRelativeSlot(2, outs, 0)
        if options is not None:
            b.PrependUint8Slot(3, OPTIONS[op.options[0]], 0)
            b.PrependUOffsetTRelativeSlot(4, options, 0)
        op_refs.append(b.EndObject())

    graph_outputs = [tid(t) for t in outputs]

    # The main subgraph: new tensors, outputs and operators; inputs and name as they were.
    tensors_vec = _offsets(b, tensor_refs)
    outputs_vec = b.CreateNumpyVector(np.asarray(graph_outputs, np.int32))
    inputs_vec = b.CreateNumpyVector(np.asarray(inputs, np.int32)) if inputs is not None else None
    ops_vec = _offsets(b, op_refs)
    b.StartObject(_SUBGRAPH_SLOTS)
    b.PrependUOffsetTRelativeSlot(0, tensors_vec, 0)
    if inputs_vec is not None:
        b.PrependUOffsetTRelativeSlot(1, inputs_vec, 0)
    elif main.present(1):
        b.PrependUOffsetTRelativeSlot(1, old(main.ref(1)), 0)
    b.PrependUOffsetTRelativeSlot(2, outputs_vec, 0)
    b.PrependUOffsetTRelativeSlot(3, ops_vec, 0)
    if main.present(4):
        b.PrependUOffsetTRelativeSlot(4, old(main.ref(4)), 0)
    if main.present(5):
        b.PrependInt32Slot(5, int(main.scalar(5, "i", 0)), -1)
    subgraph_refs = [b.EndObject()] + [old(p) for p in model.refs(2)[1:]]

    # Metadata: the named entry replaced.
    metadata_refs = []
    for entry in model.tables(6):
        if metadata is None or entry.string(0) != metadata[0]:
            metadata_refs.append(old(entry.pos))
    if metadata is not None:
        payload = metadata[1]
        b.StartVector(1, len(payload), 16)
        b.head -= len(payload)
        b.Bytes[b.head : b.head + len(payload)] = payload
        vector = b.EndVector()
        b.StartObject(3)
        b.PrependUOffsetTRelativeSlot(0, vector, 0)
        buffer_refs.append(b.EndObject())
        name = b.CreateString(metadata[0])
        b.StartObject(2)
        b.PrependUOffsetTRelativeSlot(0, name, 0)
        b.PrependUint32Slot(1, len(buffer_refs) - 1, 0)
        metadata_refs.append(b.EndObject())

    names = {t.index: t.name for t in graph.tensors} | {i: n for n, i in ids.items()}
    signature_refs = [_signature(b, s, old, names, graph_outputs) for s in model.tables(7)]

    codes_vec = _offsets(b, code_refs)
    subgraphs_vec = _offsets(b, subgraph_refs)
    buffers_vec = _offsets(b, buffer_refs)
    metadata_vec = _offsets(b, metadata_refs) if metadata_refs else None
    signatures_vec = _offsets(b, signature_refs) if signature_refs else None
    b.StartObject(_MODEL_SLOTS)
    b.PrependUint32Slot(0, int(model.scalar(0, "I", 3)), 0)
    b.PrependUOffsetTRelativeSlot(1, codes_vec, 0)
    b.PrependUOffsetTRelativeSlot(2, subgraphs_vec, 0)
    if model.present(3):
        b.PrependUOffsetTRelativeSlot(3, old(model.ref(3)), 0)
    b.PrependUOffsetTRelativeSlot(4, buffers_vec, 0)
    if model.present(5):
        b.PrependUOffsetTRelativeSlot(5, old(model.ref(5)), 0)
    if metadata_vec is not None:
        b.PrependUOffsetTRelativeSlot(6, metadata_vec, 0)
    if signatures_vec is not None:
        b.PrependUOffsetTRelativeSlot(7, signatures_vec, 0)
    if model.present(8):
        b.PrependUOffsetTRelativeSlot(8, old(model.ref(8)), 0)
    b.Finish(b.EndObject(), file_identifier=_IDENTIFIER)
    return bytes(b.Output())


def _offsets(b, refs: list[int]) -> int:
    b.StartVector(4, len(refs), 4)
    for ref in reversed(refs):
        b.PrependUOffsetTRelative(ref)
    return b.EndVector()


def _options(b, fields: dict[int, tuple[str, object]]) -> int:
    vectors = {
        slot: b.CreateNumpyVector(np.asarray(value, np.int32))
        for slot, (kind, value) in fields.items()
        if kind == "ints"
    }
    b.StartObject(max(fields, default=-1) + 1)
    for slot, (kind, value) in fields.items():
        if kind == "b":
            b.PrependInt8Slot(slot, int(value), 0)
        elif kind == "f":
            b.PrependFloat32Slot(slot, float(value), 0.0)
        else:
            b.PrependUOffsetTRelativeSlot(slot, vectors[slot], 0)
    return b.EndObject()


def _signature(b, signature: _Table, old, names: dict[int, str], outputs: list[int]) -> int:
    """A SignatureDef with the old inputs and the new outputs (their tensor names as keys)."""
    maps = []
    for index in outputs:
        name = b.CreateString(names.get(index) or f"output_{index}")
        b.StartObject(2)
        b.PrependUOffsetTRelativeSlot(0, name, 0)
        b.PrependUint32Slot(1, index, 0)
        maps.append(b.EndObject())
    outputs_vec = _offsets(b, maps)
    b.StartObject(5)
    if signature.present(0):
        b.PrependUOffsetTRelativeSlot(0, old(signature.ref(0)), 0)
    b.PrependUOffsetTRelativeSlot(1, outputs_vec, 0)
    if signature.present(2):
        b.PrependUOffsetTRelativeSlot(2, old(signature.ref(2)), 0)
    b.PrependUint32Slot(4, int(signature.scalar(4, "I", 0)), 0)
    return b.EndObject()
