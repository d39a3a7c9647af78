"""Write the TFLite metadata entry that names a model's labels file (``TFLITE_METADATA``).

TFLite metadata (the Task Library, Android Studio, Model Maker and Coral's tools read it) is a
flatbuffer with file identifier ``M001`` stored in one of the model's buffers and listed under
``TFLITE_METADATA`` in ``Model.metadata``; the files it names travel in a zip appended to the
model. This module writes the minimal form: model name and description, one image input, one
output whose associated file ``labels.txt`` is of type TENSOR_AXIS_LABELS. The field slots follow
``metadata_schema.fbs`` (tflite-support); the builder is the ``flatbuffers`` package, which
ai-edge-litert already depends on.
"""

from __future__ import annotations

import numpy as np

METADATA_NAME = "TFLITE_METADATA"
_TENSOR_AXIS_LABELS = 2  # AssociatedFileType


def _vector(builder, offsets: list[int]) -> int:
    builder.StartVector(4, len(offsets), 4)
    for offset in reversed(offsets):
        builder.PrependUOffsetTRelative(offset)
    return builder.EndVector()


def build_metadata(name: str, description: str, labels_file: str = "labels.txt") -> bytes:
    """The ``M001`` metadata flatbuffer for a classifier whose labels are in ``labels_file``."""
    import flatbuffers

    b = flatbuffers.Builder(512)
    file_name = b.CreateString(labels_file)
    file_description = b.CreateString("Labels for the categories the model recognises.")
    b.StartObject(5)  # AssociatedFile
    b.PrependUOffsetTRelativeSlot(0, file_name, 0)
    b.PrependUOffsetTRelativeSlot(1, file_description, 0)
    b.PrependInt8Slot(2, _TENSOR_AXIS_LABELS, 0)
    labels = b.EndObject()
    files = _vector(b, [labels])

    tensors = []
    for tensor_name, tensor_description, associated in (
        ("image", "Input image, raw pixel values.", None),
        ("probability", "Probabilities of the labels.", files),
    ):
        t_name = b.CreateString(tensor_name)
        t_description = b.CreateString(tensor_description)
        b.StartObject(7)  # TensorMetadata
        b.PrependUOffsetTRelativeSlot(0, t_name, 0)
        b.PrependUOffsetTRelativeSlot(1, t_description, 0)
        if associated is not None:
            b.PrependUOffsetTRelativeSlot(6, associated, 0)
        tensors.append(b.EndObject())
    inputs, outputs = _vector(b, [tensors[0]]), _vector(b, [tensors[1]])
    b.StartObject(10)  # SubGraphMetadata
    b.PrependUOffsetTRelativeSlot(2, inputs, 0)
    b.PrependUOffsetTRelativeSlot(3, outputs, 0)
    subgraphs = _vector(b, [b.EndObject()])

    m_name = b.CreateString(name)
    m_description = b.CreateString(description)
    m_version = b.CreateString("1")
    parser_version = b.CreateString("1.0.0")
    b.StartObject(8)  # ModelMetadata
    b.PrependUOffsetTRelativeSlot(0, m_name, 0)
    b.PrependUOffsetTRelativeSlot(1, m_description, 0)
    b.PrependUOffsetTRelativeSlot(2, m_version, 0)
    b.PrependUOffsetTRelativeSlot(3, subgraphs, 0)
    b.PrependUOffsetTRelativeSlot(7, parser_version, 0)
    b.Finish(b.EndObject(), file_identifier=b"M001")
    return bytes(b.Output())


def with_metadata(model: bytes, metadata: bytes) -> bytes | None:
    """``model`` (a bare flatbuffer) with ``metadata`` as its TFLITE_METADATA entry.

    Replaces an entry already there. Returns None when the TFLite schema (shipped with
    ai-edge-litert) is not installed, so callers can fall back to the zip alone.
    """
    try:
        import flatbuffers
        from ai_edge_litert import schema_py_generated as schema
    except ImportError:
        return None
    tree = schema.ModelT.InitFromPackedBuf(bytearray(model), 0)
    tree.metadata = list(tree.metadata or [])
    tree.buffers = list(tree.buffers or [])
    entry = next((m for m in tree.metadata if _text(m.name) == METADATA_NAME), None)
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(metadata, dtype=np.uint8)
    if entry is None:
        entry = schema.MetadataT()
        entry.name = METADATA_NAME
        entry.buffer = len(tree.buffers)
        tree.buffers.append(buffer)
        tree.metadata.append(entry)
    else:
        tree.buffers[entry.buffer] = buffer
    builder = flatbuffers.Builder(len(model) + len(metadata) + 1024)
    builder.Finish(tree.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def read_metadata(model: bytes) -> bytes | None:
    """The TFLITE_METADATA buffer of a model, or None (also when the schema is missing)."""
    try:
        from ai_edge_litert import schema_py_generated as schema
    except ImportError:
        return None
    tree = schema.ModelT.InitFromPackedBuf(bytearray(model), 0)
    for entry in tree.metadata or []:
        if _text(entry.name) == METADATA_NAME:
            data = tree.buffers[entry.buffer].data
            return bytes(np.asarray(data, dtype=np.uint8)) if data is not None else None
    return None


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
