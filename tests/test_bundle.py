"""Bundle resolution and validation: model.tflite, labels precedence, model.json checks."""

from __future__ import annotations

import dataclasses
import json
import shutil

import pytest
from conftest import FIXTURES

from edgecam.bundle import (
    FORMAT_VERSION,
    BundleSpec,
    InputSpec,
    Metrics,
    Normalization,
    OutputSpec,
    QualityGate,
    resolve_model,
)
from edgecam.config import ClassifierOptions, ResizeMode
from edgecam.errors import ConfigError, ModelError
from edgecam.vision import Classifier


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
        ('{"format_version": 1, "input": [1, 2]}', "'input' must be a JSON object"),
        ('{"format_version": 1, "input": null}', "'input' must be a JSON object, not None"),
        ('{"format_version": 1, "input": []}', r"'input' must be a JSON object, not \[\]"),
        ('{"format_version": 1, "output": null}', "'output' must be a JSON object"),
        (
            '{"format_version": 1, "input": {"normalization": {"mean": [NaN], "std": [1]}}}',
            "normalization holds nan, not a finite number",
        ),
        (
            '{"format_version": 1, "input": {"normalization": {"range": [0, Infinity]}}}',
            "normalization holds inf, not a finite number",
        ),
        ('{"format_version": 1, "input": {"normalization": [1]}}', "must be a JSON object"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"format_version": "1"}', "format_version '1' is not supported"),
        ('{"format_version": 1, "output": {"num_classes": "ten"}}', "num_classes must be a pos"),
        ('{"format_version": 1, "output": {"num_classes": 0}}', "num_classes must be a pos"),
        ('{"format_version": 1, "output": {"num_classes": true}}', "num_classes must be a pos"),
        ('{"format_version": 1, "input": {"width": -3}}', "input.width must be a positive"),
        ('{"format_version": 1, "input": {"resize": "zoom"}}', "resize must be stretch, crop"),
        ('{"format_version": 1, "input": {"resize": 3}}', "resize must be stretch, crop"),
        ('{"format_version": 1, "input": {"channels": true}}', "channels must be 1 or 3"),
        ('{"format_version": 1, "name": 5}', "name must be a string"),
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


def _full_spec() -> BundleSpec:
    """A spec with every part filled in, as an export writes it."""
    return BundleSpec(
        name="colours",
        task="image_classification",
        created="2026-12-01T10:00:00Z",
        input=InputSpec(
            width=32,
            height=24,
            channels=3,
            color_order="BGR",
            dtype="uint8",
            resize=ResizeMode.LETTERBOX,
            normalization=Normalization((1.0, 2.0, 3.0), (4.0, 5.0, 6.0)),
        ),
        output=OutputSpec(num_classes=3, activation="softmax", dtype="uint8"),
        quantization="int8",
        labels="labels.txt",
        classes=("red", "green", "blue"),
        metrics=Metrics(
            size_bytes=1234,
            tflite_accuracy=0.9,
            test_samples=30,
            float_accuracy=0.95,
            accuracy_drop_points=5.0,
            cpu_latency_ms=0.25,
            extra={"energy_mj": 1.5},
        ),
        quality_gate=QualityGate(max_drop_points=1.0, passed=False),
        edgetpu={"compatible": True, "ops": 5, "problems": []},
        recipe={"epochs": 3, "model": {"alpha": 0.25}},
        dataset={"fingerprint": "abc", "sizes": {"train": 10}},
        extra={"future_section": {"x": 1}},
    )


def test_spec_round_trips_through_json(tmp_path):
    spec = _full_spec()
    assert BundleSpec.from_json(spec.to_json()) == spec
    path = tmp_path / "model.json"
    path.write_text(spec.to_text())
    loaded = BundleSpec.load(path)
    assert loaded == spec and loaded.format_version == FORMAT_VERSION == 1
    assert loaded.raw == json.loads(path.read_text())  # what `edgecam info` shows
    assert BundleSpec.from_json(BundleSpec().to_json()) == BundleSpec()
    # Any single change is seen: equality compares every part.
    assert BundleSpec.from_json(spec.to_json()) != dataclasses.replace(spec, quantization="f16")


@pytest.mark.parametrize(
    "path", ["assets/models/default/model.json", "tests/fixtures/bundle_int8/model.json"]
)
def test_format_1_bundles_load_and_are_written_back_unchanged(path):
    from conftest import REPO

    document = json.loads((REPO / path).read_text())
    spec = BundleSpec.load(REPO / path)
    assert spec.format_version == 1 and spec.input.normalization is not None
    assert spec.to_json() == document  # the exporter's shape is format 1's shape
    assert spec.num_classes == spec.output.num_classes > 0


def test_unknown_keys_and_malformed_records_do_not_stop_loading():
    document = {
        "format_version": 1,
        "input": {"channels": 1, "future_input_key": 7},
        "output": {"num_classes": 2, "activation": "none"},
        "added_later": [1, 2],
        "metrics": {"size_bytes": "big", "cpu_latency_ms": 0.5, "new_metric": 3},
        "quality_gate": {"passed": "maybe"},
        "classes": "a,b",
        "recipe": None,
    }
    spec = BundleSpec.from_json(document)
    assert spec.input.channels == 1 and spec.output_activation == "none"
    assert spec.metrics == Metrics(cpu_latency_ms=0.5, extra={"size_bytes": "big", "new_metric": 3})
    assert spec.quality_gate is None and spec.classes is None and spec.recipe is None
    assert spec.extra == {
        "added_later": [1, 2],
        "quality_gate": {"passed": "maybe"},
        "classes": "a,b",
    }
    written = spec.to_json()  # kept as written, unknown nested input keys aside
    assert written["added_later"] == [1, 2] and written["classes"] == "a,b"
    assert written["metrics"] == {"cpu_latency_ms": 0.5, "size_bytes": "big", "new_metric": 3}


def test_num_classes_check():
    spec = BundleSpec(output=OutputSpec(num_classes=3))
    spec.check_num_classes(3, "m.tflite")
    BundleSpec().check_num_classes(1001, "m.tflite")  # not declared: nothing to check
    with pytest.raises(ModelError, match=r"m\.tflite has 4 outputs but its model\.json") as err:
        spec.check_num_classes(4, "m.tflite")
    assert "re-export the bundle" in err.value.hint


def test_classifier_refuses_a_model_json_of_another_model(bundle):
    document = json.loads((bundle / "model.json").read_text())
    document["output"]["num_classes"] = 4
    (bundle / "model.json").write_text(json.dumps(document))
    with pytest.raises(ModelError, match=r"has 3 outputs but its model\.json says") as err:
        Classifier(ClassifierOptions(model=bundle, delegate="cpu"))
    assert "output.num_classes" in err.value.hint


def test_a_bundle_only_replaces_an_empty_folder_or_an_earlier_bundle(tmp_path):
    from edgecam.bundle import check_bundle_target

    check_bundle_target(tmp_path / "new")  # not there yet: fine
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    (earlier / "model.tflite").write_bytes(b"")
    (earlier / "report").mkdir()
    check_bundle_target(earlier)
    (earlier / "thesis.tex").write_text("mine")
    with pytest.raises(ModelError, match=r"holds other files \(thesis.tex\)"):
        check_bundle_target(earlier)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="is a file"):
        check_bundle_target(tmp_path / "file", ConfigError)
