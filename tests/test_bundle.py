"""Bundle resolution and validation: model.tflite, labels precedence, model.json checks."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import FIXTURES

from edgecam.bundle import BundleSpec, Normalization, resolve_model
from edgecam.config import ResizeMode
from edgecam.errors import ModelError


@pytest.fixture
def bundle(tmp_path):
    target = tmp_path / "bundle"
    shutil.copytree(FIXTURES / "bundle_int8", target)
    return target


def test_bundle_folder_resolves_model_labels_and_spec(bundle):
    files = resolve_model(bundle)
    assert files.model == bundle / "model.tflite"
    assert files.labels == ["red", "green", "blue"]
    assert files.labels_origin.endswith("labels.txt")
    assert files.spec.normalization == Normalization((0.0,) * 3, (1.0,) * 3)
    assert files.spec.resize is ResizeMode.STRETCH
    assert files.spec.output_activation == "softmax"
    assert files.name == "color-fixture"
    assert files.edgetpu_model is None


def test_edgetpu_variant_is_found(bundle):
    shutil.copy(FIXTURES / "edgetpu_like.tflite", bundle / "model_edgetpu.tflite")
    assert resolve_model(bundle).edgetpu_model == bundle / "model_edgetpu.tflite"


def test_labels_precedence(bundle, tmp_path):
    other = tmp_path / "other.txt"
    other.write_text("a\nb\nc\n")
    assert resolve_model(bundle, labels=other).labels == ["a", "b", "c"]
    (bundle / "labels.txt").unlink()
    files = resolve_model(bundle)  # falls back to the labels embedded in model.tflite
    assert files.labels == ["red", "green", "blue"]
    assert "embedded" in files.labels_origin


def test_tflite_inside_a_bundle_gets_the_bundle_spec(bundle):
    files = resolve_model(bundle / "model.tflite")
    assert files.spec is not None and files.bundle_dir == bundle


def test_bare_tflite_has_no_spec():
    files = resolve_model(FIXTURES / "color_uint8.tflite")
    assert files.spec is None and files.bundle_dir is None and files.labels is None


def test_missing_model(tmp_path):
    with pytest.raises(ModelError, match="model not found"):
        resolve_model(tmp_path / "nope.tflite")


def test_folder_without_model_names_what_it_holds(tmp_path):
    shutil.copy(FIXTURES / "color_uint8.tflite", tmp_path / "other.tflite")
    with pytest.raises(ModelError, match="not a model bundle") as err:
        resolve_model(tmp_path)
    assert "other.tflite" in err.value.hint


def test_not_a_tflite_file(tmp_path):
    fake = tmp_path / "fake.tflite"
    fake.write_text("definitely not a flatbuffer")
    with pytest.raises(ModelError, match="not a TFLite model"):
        resolve_model(fake)


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must hold a JSON object"),
        ('{"format_version": 99}', "format_version 99 is not supported"),
        ('{"format_version": 1, "input": {"normalization": {"mean": [1, 2]}}}', "normalization"),
        ('{"format_version": 1, "input": {"normalization": {"mean": 0, "std": 0}}}', "std"),
        ('{"format_version": 1, "input": {"color_order": "CMYK"}}', "color_order"),
        ('{"format_version": 1, "output": {"activation": "relu"}}', "activation"),
        ('{"format_version": 1, "input": {"channels": "three"}}', "channels must be 1 or 3"),
        ('{"format_version": 1, "input": [1, 2]}', "must be JSON objects"),
    ],
)
def test_bad_model_json(bundle, content, message):
    (bundle / "model.json").write_text(content)
    with pytest.raises(ModelError, match=message):
        resolve_model(bundle)


def test_normalization_range_form(tmp_path):
    path = tmp_path / "model.json"
    path.write_text(
        json.dumps({"format_version": 1, "input": {"normalization": {"range": [-1, 1]}}})
    )
    norm = BundleSpec.load(path).normalization
    # range [-1, 1] is (pixel - 127.5) / 127.5
    assert norm.mean == pytest.approx((127.5,) * 3)
    assert norm.std == pytest.approx((127.5,) * 3)
