"""Label parsing (plain, 'id label', 'id:label'), files, and labels embedded in a model."""

from __future__ import annotations

import shutil
import zipfile

import numpy as np
import pytest
from conftest import FIXTURES

from edgecam.config import ClassifierOptions
from edgecam.errors import LabelsError
from edgecam.labels import (
    duplicates,
    embed_labels,
    parse_labels,
    read_embedded_labels,
    read_labels_file,
)
from edgecam.vision import Classifier


@pytest.mark.parametrize(
    "text, expected",
    [
        ("cat\ndog\n", ["cat", "dog"]),
        ("\ufeffcat\r\ndog\r\n\r\n", ["cat", "dog"]),  # BOM, CRLF, blank lines
        ("0 background\n1 tench, Tinca tinca\n", ["background", "tench, Tinca tinca"]),
        ("0  person\n1  bicycle\n", ["person", "bicycle"]),  # Coral's two spaces
        ("0:cat\n1: dog\n", ["cat", "dog"]),
        ("1 b\n0 a\n", ["a", "b"]),  # ids, not line order, decide the index
        ("0 a\n2 c\n", ["a", "class_1", "c"]),  # a gap gets a placeholder
        ("7 eleven\ncat\n", ["7 eleven", "cat"]),  # not every line has an id: plain
    ],
)
def test_parse_label_forms(text, expected):
    assert parse_labels(text) == expected


def test_empty_labels_is_an_error():
    with pytest.raises(LabelsError, match="no labels"):
        parse_labels("\n \n")


def test_repeated_id_is_an_error():
    with pytest.raises(LabelsError, match="id 1 appears twice"):
        parse_labels("0 a\n1 b\n1 c\n")


def test_read_labels_file_errors(tmp_path):
    with pytest.raises(LabelsError, match="labels file not found"):
        read_labels_file(tmp_path / "missing.txt")
    binary = tmp_path / "labels.txt"
    binary.write_bytes(b"\xff\xfe\x00\x81garbage")
    with pytest.raises(LabelsError, match="not a UTF-8 text file"):
        read_labels_file(binary)


def test_fixture_label_files_parse_to_the_same_classes():
    assert read_labels_file(FIXTURES / "color_labels_ids.txt") == ["red", "green", "blue"]
    assert read_labels_file(FIXTURES / "color_labels_colon.txt") == ["red", "green", "blue"]


def test_embedded_labels_round_trip(tmp_path):
    model = tmp_path / "m.tflite"
    shutil.copy(FIXTURES / "color_logits_float32.tflite", model)
    original = model.read_bytes()
    assert read_embedded_labels(model) is None
    embed_labels(model, ["a", "b", "c"])
    assert read_embedded_labels(model) == ["a", "b", "c"]
    assert zipfile.is_zipfile(model)
    # Embedding again replaces the labels instead of stacking archives.
    embed_labels(model, ["x", "y", "z"])
    assert read_embedded_labels(model) == ["x", "y", "z"]
    assert len(model.read_bytes()) < len(original) + 2048  # the zip and one metadata buffer


def test_fixture_model_carries_its_labels():
    assert read_embedded_labels(FIXTURES / "color_float32.tflite") == ["red", "green", "blue"]


def test_embedding_writes_a_tflite_metadata_entry_naming_the_labels_file(tmp_path):
    pytest.importorskip("ai_edge_litert", reason="the TFLite schema ships with ai-edge-litert")
    from edgecam.labels import _strip_zip
    from edgecam.metadata import read_metadata

    model = tmp_path / "m.tflite"
    shutil.copy(FIXTURES / "color_logits_float32.tflite", model)
    embed_labels(model, ["a", "b", "c"], title="colours")
    embed_labels(model, ["a", "b", "c"], title="colours")  # replaced, not added twice
    metadata = read_metadata(_strip_zip(model.read_bytes()))
    assert metadata is not None and metadata[4:8] == b"M001"  # the metadata file identifier
    assert b"labels.txt" in metadata and b"colours" in metadata
    with Classifier(ClassifierOptions(model=model, delegate="cpu")) as clf:
        assert clf.labels == ["a", "b", "c"]  # and the model still loads and runs
        assert clf.classify(np.zeros((8, 8, 3), np.uint8)).top.label in ("a", "b", "c")


def test_an_id_far_beyond_the_labels_is_refused_not_allocated():
    with pytest.raises(LabelsError, match="class id 1000000000 is far beyond its 2 labels"):
        parse_labels("0 a\n1000000000 b\n")
    # Gaps as real files have them still work.
    assert len(parse_labels("0 a\n90 b\n")) == 91


def test_duplicates_are_found():
    assert duplicates(["a", "b", "a", "c", "b", "a"]) == {"a": [0, 2, 5], "b": [1, 4]}
    assert duplicates(["a", "b"]) == {}


def test_a_damaged_embedded_zip_is_ignored_with_a_note(tmp_path, caplog):
    model = tmp_path / "m.tflite"
    data = bytearray((FIXTURES / "color_float32.tflite").read_bytes())
    at = data.find(b"PK\x01\x02")  # the central directory's first entry
    data[at + 10] = 99  # its compression method: one zipfile does not know
    model.write_bytes(bytes(data))
    assert read_embedded_labels(model) is None
    assert "the files embedded in m.tflite are damaged and were ignored" in caplog.text
    assert "NotImplementedError" in caplog.text


def test_an_oversized_embedded_file_is_not_read(tmp_path, caplog, monkeypatch):
    import edgecam.labels

    monkeypatch.setattr(edgecam.labels, "MAX_ASSOCIATED_BYTES", 4)
    assert read_embedded_labels(FIXTURES / "color_float32.tflite") is None
    assert "larger than 4 bytes" in caplog.text
