"""Check a .tflite file's structure before any runtime sees it.

tflite-runtime 2.14 does not verify the flatbuffer it is given: a truncated or damaged file
makes it read out of bounds (SIGSEGV, SIGBUS) or loop for ever, killing the process that
loads it. This module walks the file the way the runtimes read it, in pure Python (no schema
package: the Pi environment has none), and refuses anything a runtime could trip over:

* the flatbuffers layer: every table, vtable, vector and string lies inside the file and is
  aligned, strings end in their NUL byte, union tables are tables;
* the TFLite layer: tensor, buffer, opcode and subgraph indices are in range, constant data
  kept outside the flatbuffer (``Buffer.offset``/``size``) lies inside the file, a tensor's
  byte size fits in 31 bits (so it cannot overflow a 32-bit device's ``size_t``), per-channel
  quantization names a real dimension, and the names the Python APIs decode are UTF-8.

It never rejects a file a runtime loads correctly: everything it checks is something a valid
model satisfies. What a structural check cannot see (an op whose parameters crash its kernel)
is the job of :mod:`edgecam.runtime.probe`. The field slots follow TensorFlow Lite's
``schema.fbs`` (written out here by hand; only the fields the runtimes read are listed).
"""

from __future__ import annotations

import struct
from pathlib import Path

from edgecam.errors import ModelError

#: Largest byte size of one tensor: 2**31 - 1, so that no size computation overflows on a
#: 32-bit device (Raspberry Pi OS 32-bit); an image classifier's largest tensor is a few MB.
MAX_TENSOR_BYTES = 2**31 - 1
#: Element sizes by TensorType (schema.fbs); types not listed count as 1 byte (a lower bound).
_ELEMENT_BYTES = {
    0: 4,  # FLOAT32
    1: 2,  # FLOAT16
    2: 4,  # INT32
    3: 1,  # UINT8
    4: 8,  # INT64
    6: 1,  # BOOL
    7: 2,  # INT16
    8: 8,  # COMPLEX64
    9: 1,  # INT8
    10: 8,  # FLOAT64
    11: 16,  # COMPLEX128
    12: 8,  # UINT64
    15: 4,  # UINT32
    16: 2,  # UINT16
    18: 2,  # BFLOAT16
}

# Option tables (BuiltinOptions union) that hold offsets, by union type:
# {slot: kind}, kind "i32" / "f32" vector or "str" string. All other option tables hold
# scalars only and are checked as tables.
_I32, _I64, _F32, _U8, _U32, _BOOL, _STR = "i32", "i64", "f32", "u8", "u32", "bool", "str"
_VECTOR_SIZES = {_I32: 4, _I64: 8, _F32: 4, _U8: 1, _U32: 4, _BOOL: 1}
_OPTIONS = {
    3: {1: _I32, 2: _I32},  # ConcatEmbeddingsOptions
    17: {0: _I32},  # ReshapeOptions.new_shape
    30: {0: _I32},  # SqueezeOptions.squeeze_dims
    111: {0: _STR, 1: _STR},  # VarHandleOptions
    115: {0: _F32},  # BucketizeOptions.boundaries
}
# Option tables whose scalar fields name subgraphs: {union type: slots}.
_SUBGRAPH_OPTIONS = {
    16: (0,),  # CallOptions.subgraph
    92: (0, 1),  # IfOptions
    93: (0, 1),  # WhileOptions
    103: (0,),  # CallOnceOptions
}
# BuiltinOptions2 (the StableHLO ops; read by newer runtimes only).
_OPTIONS_2 = {
    2: {0: _I64},
    3: {0: _I64, 1: _I64, 2: _I64},
    4: {0: _I64, 1: _I64, 2: _I64, 3: _I64, 4: _BOOL, 7: _I64, 10: _I64, 13: _I64, 16: _U32},
    5: {0: _STR, 2: _STR, 4: _I32, 5: _U8},
    6: {0: _I64, 1: _I32},
    7: {1: _I64, 2: _I64, 3: _I64, 6: _I32},
    9: {0: _I64},
    10: {0: _I64, 1: _I64, 2: _I64},
    12: {0: _I64, 1: _I64, 2: _I64, 3: _I64, 4: _U32},
    13: {0: _I64, 1: _I64, 2: _I64, 3: _I64, 4: _I64, 5: _I32},
    16: {0: _I64, 1: _I64, 2: _I64, 4: _I64, 5: _BOOL},
    17: {0: _I64},
    21: {0: _STR, 2: _U8, 4: _I32},
    23: {0: _I32},
}
# SparseIndexVector union members (Int32Vector, Uint16Vector, Uint8Vector): values' element size.
_SPARSE_INDEX = {1: 4, 2: 2, 3: 1}


class CorruptModel(Exception):
    """Where and how the structure is broken (becomes a :class:`ModelError`)."""


class _Table:
    """A flatbuffer table: its position and its vtable's field offsets."""

    __slots__ = ("fields", "pos", "size")

    def __init__(self, pos: int, fields: tuple[int, ...], size: int) -> None:
        self.pos = pos
        self.fields = fields
        self.size = size  # the object's size in bytes, as its vtable says


class _Reader:
    """Bounds-checked reads of the flatbuffers wire format."""

    def __init__(self, data: bytes | memoryview) -> None:
        self.data = data
        self.end = len(data)

    def _need(self, pos: int, size: int, where: str) -> None:
        if pos < 0:
            raise CorruptModel(f"{where} points before the start of the file")
        if pos + size > self.end:
            raise CorruptModel(
                f"{where} runs past the end of the file (to byte {pos + size} of {self.end})"
            )

    def _aligned(self, pos: int, align: int, where: str) -> None:
        if pos % align:
            raise CorruptModel(f"{where} is not aligned (byte {pos})")

    def scalar(self, fmt: str, pos: int, where: str) -> int | float:
        size = struct.calcsize(fmt)
        self._need(pos, size, where)
        return struct.unpack_from(fmt, self.data, pos)[0]

    def table(self, pos: int, where: str) -> _Table:
        self._aligned(pos, 4, where)
        self._need(pos, 4, where)
        vtable = pos - struct.unpack_from("<i", self.data, pos)[0]
        self._aligned(vtable, 2, f"{where} (its vtable)")
        self._need(vtable, 4, f"{where} (its vtable)")
        vsize, osize = struct.unpack_from("<HH", self.data, vtable)
        if vsize < 4 or vsize % 2:
            raise CorruptModel(f"{where} has a broken vtable (size {vsize})")
        self._need(vtable, vsize, f"{where} (its vtable)")
        if osize < 4:
            raise CorruptModel(f"{where} has a broken vtable (object size {osize})")
        fields = struct.unpack_from(f"<{(vsize - 4) // 2}H", self.data, vtable + 4)
        for offset in fields:
            if offset:
                self._need(pos + offset, 1, f"{where} (a field)")
        return _Table(pos, fields, osize)

    def field(self, table: _Table, slot: int) -> int | None:
        """The absolute position of field ``slot``, or None when absent."""
        if slot < len(table.fields) and table.fields[slot]:
            return table.pos + table.fields[slot]
        return None

    def get(self, table: _Table, slot: int, fmt: str, default: int, where: str) -> int:
        pos = self.field(table, slot)
        if pos is None:
            return default
        self._aligned(pos, struct.calcsize(fmt), where)
        return self.scalar("<" + fmt, pos, where)

    def offset(self, table: _Table, slot: int, where: str) -> int | None:
        """The position a field's uoffset points at, or None when absent."""
        pos = self.field(table, slot)
        if pos is None:
            return None
        return self.follow(pos, where)

    def follow(self, pos: int, where: str) -> int:
        """Where the uoffset stored at ``pos`` points."""
        self._aligned(pos, 4, where)
        self._need(pos, 4, where)
        value = struct.unpack_from("<I", self.data, pos)[0]
        if value == 0 or value >= 2**31:
            raise CorruptModel(f"{where} has a broken offset ({value})")
        self._need(pos + value, 4, where)
        return pos + value

    def vector(self, pos: int, element: int, where: str) -> tuple[int, int]:
        """``(count, first element's position)`` of the vector at ``pos``."""
        self._aligned(pos, 4, where)
        count = self.scalar("<I", pos, where)
        start = pos + 4
        self._need(start, count * element, f"{where} ({count} elements)")
        return count, start

    def ints(self, table: _Table, slot: int, where: str, fmt: str = "i") -> tuple[int, ...]:
        pos = self.offset(table, slot, where)
        if pos is None:
            return ()
        count, start = self.vector(pos, struct.calcsize(fmt), where)
        return struct.unpack_from(f"<{count}{fmt}", self.data, start)

    def skip_vector(self, table: _Table, slot: int, element: int, where: str) -> int:
        pos = self.offset(table, slot, where)
        if pos is None:
            return 0
        return self.vector(pos, element, where)[0]

    def string(self, table: _Table, slot: int, where: str, text: bool = False) -> bytes | None:
        pos = self.offset(table, slot, where)
        if pos is None:
            return None
        count, start = self.vector(pos, 1, where)
        self._need(start + count, 1, f"{where} (its end)")
        if self.data[start + count] != 0:
            raise CorruptModel(f"{where} does not end where its length says")
        value = bytes(self.data[start : start + count])
        if text:
            try:
                value.decode("utf-8")
            except UnicodeDecodeError:
                raise CorruptModel(f"{where} is not UTF-8 text") from None
        return value

    def tables(self, table: _Table, slot: int, where: str) -> list[_Table]:
        pos = self.offset(table, slot, where)
        if pos is None:
            return []
        count, start = self.vector(pos, 4, where)
        return [
            self.table(self.follow(start + 4 * i, where), f"{where}[{i}]") for i in range(count)
        ]

    def typed_fields(self, table: _Table, layout: dict[int, str], where: str) -> None:
        for slot, kind in layout.items():
            if kind == _STR:
                self.string(table, slot, f"{where} field {slot}")
            else:
                self.skip_vector(table, slot, _VECTOR_SIZES[kind], f"{where} field {slot}")


def verify_model(data: bytes | memoryview, source: str | Path = "the model") -> None:
    """Refuse ``data`` unless its structure is sound enough for any TFLite runtime to read.

    Args:
        data: the whole file (a metadata zip appended after the flatbuffer is fine).
        source: names the file in the error.

    Raises:
        ModelError: what is broken and where ("subgraph 0, tensor 12: ...").
    """
    try:
        _verify(_Reader(data))
    except CorruptModel as exc:
        raise ModelError(
            f"{source} is corrupt or truncated ({exc})", "re-download or re-export the model"
        ) from None


def _verify(r: _Reader) -> None:
    if r.end < 8:
        raise CorruptModel("the file is too short for a model")
    model = r.table(r.follow(0, "the root offset"), "the model table")
    buffers = r.tables(model, 4, "buffers")
    for i, buffer in enumerate(buffers):
        where = f"buffer {i}"
        r.skip_vector(buffer, 0, 1, f"{where} data")
        offset = r.get(buffer, 1, "Q", 0, f"{where} offset")
        size = r.get(buffer, 2, "Q", 0, f"{where} size")
        if offset > 1 and offset + size > r.end:
            raise CorruptModel(f"{where}: {size} bytes at byte {offset} lie outside the file")
    codes = r.tables(model, 1, "operator codes")
    for i, code in enumerate(codes):
        r.string(code, 1, f"operator code {i} custom name", text=True)
    r.string(model, 3, "the model description")
    for index in r.ints(model, 5, "metadata buffers"):
        if not 0 <= index < len(buffers):
            raise CorruptModel(f"metadata names buffer {index} of {len(buffers)}")
    for i, entry in enumerate(r.tables(model, 6, "metadata")):
        r.string(entry, 0, f"metadata {i} name", text=True)
        index = r.get(entry, 1, "I", 0, f"metadata {i} buffer")
        if index >= len(buffers):
            raise CorruptModel(f"metadata {i} names buffer {index} of {len(buffers)}")
    subgraphs = r.tables(model, 2, "subgraphs")
    if not subgraphs:
        raise CorruptModel("the model has no graph")
    tensor_counts = [
        _verify_subgraph(r, i, graph, len(buffers), len(codes), len(subgraphs))
        for i, graph in enumerate(subgraphs)
    ]
    for i, signature in enumerate(r.tables(model, 7, "signatures")):
        where = f"signature {i}"
        r.string(signature, 2, f"{where} key", text=True)
        graph = r.get(signature, 4, "I", 0, f"{where} subgraph")
        if graph >= len(subgraphs):
            raise CorruptModel(f"{where} names subgraph {graph} of {len(subgraphs)}")
        for slot in (0, 1):
            for j, entry in enumerate(r.tables(signature, slot, f"{where} tensors")):
                r.string(entry, 0, f"{where} tensor {j} name", text=True)
                index = r.get(entry, 1, "I", 0, f"{where} tensor {j}")
                if index >= tensor_counts[graph]:
                    raise CorruptModel(f"{where} names tensor {index} of {tensor_counts[graph]}")


def _verify_subgraph(
    r: _Reader, g: int, graph: _Table, n_buffers: int, n_codes: int, n_graphs: int
) -> int:
    """Check one subgraph; return its number of tensors."""
    here = f"subgraph {g}"
    tensors = r.tables(graph, 0, f"{here} tensors")
    for i, tensor in enumerate(tensors):
        _verify_tensor(r, f"{here}, tensor {i}", tensor, n_buffers)
    n = len(tensors)
    for slot, what in ((1, "inputs"), (2, "outputs")):
        for index in r.ints(graph, slot, f"{here} {what}"):
            if not 0 <= index < n:
                raise CorruptModel(f"{here} {what} name tensor {index} of {n}")
    r.string(graph, 4, f"{here} name", text=True)
    for k, op in enumerate(r.tables(graph, 3, f"{here} operators")):
        where = f"{here}, operator {k}"
        code = r.get(op, 0, "I", 0, f"{where} opcode")
        if code >= n_codes:
            raise CorruptModel(f"{where} uses opcode {code} of {n_codes}")
        for slot, what in ((1, "inputs"), (2, "outputs"), (8, "intermediates")):
            for index in r.ints(op, slot, f"{where} {what}"):
                if not -1 <= index < n:
                    raise CorruptModel(f"{where} {what} name tensor {index} of {n}")
        _verify_options(r, op, 3, 4, _OPTIONS, where, n_graphs)
        _verify_options(r, op, 11, 12, _OPTIONS_2, where, n_graphs)
        r.skip_vector(op, 5, 1, f"{where} custom options")
        r.skip_vector(op, 7, 1, f"{where} mutating inputs")
        offset = r.get(op, 9, "Q", 0, f"{where} custom options offset")
        size = r.get(op, 10, "Q", 0, f"{where} custom options size")
        if offset > 1 and offset + size > r.end:
            raise CorruptModel(f"{where}: custom options at byte {offset} lie outside the file")
    return n


def _verify_options(
    r: _Reader,
    op: _Table,
    type_slot: int,
    table_slot: int,
    layouts: dict[int, dict[int, str]],
    where: str,
    n_graphs: int,
) -> None:
    kind = r.get(op, type_slot, "B", 0, f"{where} options type")
    pos = r.offset(op, table_slot, f"{where} options")
    if kind == 0 or pos is None:
        return
    options = r.table(pos, f"{where} options")
    r.typed_fields(options, layouts.get(kind, {}), f"{where} options")
    if layouts is _OPTIONS:
        for slot in _SUBGRAPH_OPTIONS.get(kind, ()):
            index = r.get(options, slot, "i", 0, f"{where} options")
            if not 0 <= index < n_graphs:
                raise CorruptModel(f"{where} calls subgraph {index} of {n_graphs}")


def _verify_tensor(r: _Reader, where: str, tensor: _Table, n_buffers: int) -> None:
    shape = r.ints(tensor, 0, f"{where} shape")
    kind = r.get(tensor, 1, "b", 0, f"{where} type")
    buffer = r.get(tensor, 2, "I", 0, f"{where} buffer")
    if buffer >= n_buffers:
        raise CorruptModel(f"{where} names buffer {buffer} of {n_buffers}")
    r.string(tensor, 3, f"{where} name", text=True)
    elements = 1
    for dim in shape:
        if dim < -1:
            raise CorruptModel(f"{where} has a negative dimension ({list(shape)})")
        elements *= max(dim, 1)
    if elements * _ELEMENT_BYTES.get(kind, 1) > MAX_TENSOR_BYTES:
        raise CorruptModel(f"{where} claims an impossible shape {list(shape)}")
    r.ints(tensor, 7, f"{where} shape signature")
    q = r.offset(tensor, 4, f"{where} quantization")
    if q is not None:
        _verify_quantization(r, f"{where} quantization", r.table(q, f"{where} quantization"), shape)
    s = r.offset(tensor, 6, f"{where} sparsity")
    if s is not None:
        sparsity = r.table(s, f"{where} sparsity")
        r.ints(sparsity, 0, f"{where} sparsity order")
        r.ints(sparsity, 1, f"{where} sparsity block map")
        for d, dim in enumerate(r.tables(sparsity, 2, f"{where} sparsity dimensions")):
            for type_slot, slot in ((2, 3), (4, 5)):
                member = r.get(dim, type_slot, "B", 0, f"{where} sparsity dimension {d}")
                pos = r.offset(dim, slot, f"{where} sparsity dimension {d}")
                if pos is not None and member:
                    values = r.table(pos, f"{where} sparsity dimension {d}")
                    size = _SPARSE_INDEX.get(member, 1)
                    r.skip_vector(values, 0, size, f"{where} sparsity dimension {d}")
    for v, variant in enumerate(r.tables(tensor, 9, f"{where} variant types")):
        r.ints(variant, 0, f"{where} variant {v} shape")


def _verify_quantization(r: _Reader, where: str, q: _Table, shape: tuple[int, ...]) -> None:
    r.skip_vector(q, 0, 4, f"{where} min")
    r.skip_vector(q, 1, 4, f"{where} max")
    scales = r.skip_vector(q, 2, 4, f"{where} scale")
    r.skip_vector(q, 3, 8, f"{where} zero point")
    details = r.get(q, 4, "B", 0, f"{where} details type")
    pos = r.offset(q, 5, f"{where} details")
    if pos is not None and details:
        table = r.table(pos, f"{where} details")
        if details == 1:  # CustomQuantization.custom
            r.skip_vector(table, 0, 1, f"{where} details")
    if scales > 1:
        axis = r.get(q, 6, "i", 0, f"{where} dimension")
        if not 0 <= axis < len(shape):
            raise CorruptModel(f"{where} is per-channel along dimension {axis} of {len(shape)}")
