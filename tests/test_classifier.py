"""The Classifier on real .tflite fixtures: float32, uint8 and int8 I/O, bundles, bad shapes."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from conftest import FIXTURES, solid

from edgecam.config import ClassifierOptions
from edgecam.errors import DelegateError, ImageError, LabelsError, ModelError
from edgecam.vision import Classifier, read_image


def classifier(model, **kwargs) -> Classifier:
    kwargs.setdefault("delegate", "cpu")
    return Classifier(ClassifierOptions(model=FIXTURES / model, **kwargs))


@pytest.mark.parametrize(
    "model, labels",
    [
        ("color_float32.tflite", None),  # labels embedded in the model
        ("color_logits_float32.tflite", "color_labels_ids.txt"),  # softmax applied by us
        ("color_uint8.tflite", "color_labels_colon.txt"),
        ("color_int8.tflite", "color_labels_ids.txt"),
        ("bundle_int8", None),  # model.json normalisation + labels.txt
    ],
)
@pytest.mark.parametrize("color", ["red", "green", "blue"])
def test_each_io_type_names_the_colour(model, labels, color):
    with classifier(model, labels=FIXTURES / labels if labels else None, top_k=3) as clf:
        result = clf.classify(solid(color, (64, 48)))
    assert result.top.label == color
    assert result.top.score > 0.99
    scores = [c.score for c in result.categories]
    assert scores == sorted(scores, reverse=True)
    assert sum(c.score for c in result.categories) == pytest.approx(1.0, abs=0.02)
    assert all(isinstance(c.score, float) for c in result.categories)


def test_float_model_matches_hand_computed_softmax():
    # Mean colour of a pure red frame in [-1, 1] is (1, -1, -1); logits = 4 * that.
    with classifier("color_float32.tflite", top_k=3) as clf:
        scores = {c.label: c.score for c in clf.classify(solid("red")).categories}
    logits = np.array([4.0, -4.0, -4.0])
    expected = np.exp(logits) / np.exp(logits).sum()
    assert scores["red"] == pytest.approx(expected[0], rel=1e-4)
    assert scores["green"] == pytest.approx(expected[1], rel=1e-3)


def test_grayscale_model():
    with classifier("gray_float32.tflite") as clf:
        assert clf.classify(np.full((10, 10, 3), 250, np.uint8)).top.label == "bright"
        assert clf.classify(np.full((10, 10), 5, np.uint8)).top.label == "dark"


def test_timings_and_metadata(caplog):
    with classifier("color_uint8.tflite", threads=1) as clf:
        result = clf.classify(solid("blue"), frame_timestamp=12.5, frame_index=7)
        assert clf.input_size == (32, 32)
        assert clf.runtime.split()[0] in ("ai-edge-litert", "tflite-runtime", "tensorflow")
        # tflite-runtime 2.14 runs int8 models on its own kernels, not XNNPACK: never claimed.
        kernels = "built-in kernels" if clf.runtime.startswith("tflite-runtime") else "XNNPACK"
        assert clf.delegate == f"cpu ({kernels}, 1 thread)"
        assert clf.labels == ["class_0", "class_1", "class_2"]
        assert "no labels found for color_uint8.tflite" in caplog.text
    t = result.timings
    assert t.preprocess_ms > 0 and t.inference_ms > 0 and t.postprocess_ms > 0
    assert t.total_ms == pytest.approx(t.preprocess_ms + t.inference_ms + t.postprocess_ms)
    assert (result.frame_timestamp, result.frame_index) == (12.5, 7)
    assert result.to_dict()["predictions"][0]["label"] == "class_2"


def test_top_k_limits_the_result():
    with classifier("color_float32.tflite", top_k=1) as clf:
        assert len(clf.classify(solid("red")).categories) == 1
        engine = clf.engine
        clf.set_top_k(3)  # post-processing only: the loaded model stays
        assert len(clf.classify(solid("red")).categories) == 3
        assert clf.engine is engine and clf.options.top_k == 3


def test_labels_count_mismatch_is_reported(tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("a\nb\nc\nd\ne\n")
    with pytest.raises(LabelsError, match=r"5 labels but color_float32\.tflite has 3 outputs"):
        classifier("color_float32.tflite", labels=labels)


def test_one_label_short_means_background(tmp_path, caplog):
    labels = tmp_path / "labels.txt"
    labels.write_text("green\nblue\n")
    with classifier("color_float32.tflite", labels=labels) as clf:
        assert clf.labels == ["background", "green", "blue"]
        assert "assuming index 0 is 'background'" in caplog.text


@pytest.mark.parametrize(
    "model, message",
    [
        ("bad_two_inputs.tflite", "has 2 inputs"),
        ("bad_vector_input.tflite", "is not an image"),
        ("bad_detection.tflite", "looks like an object detector"),
    ],
)
def test_unsupported_shapes(model, message):
    with pytest.raises(ModelError, match=message):
        classifier(model)


def test_truncated_model(tmp_path):
    data = (FIXTURES / "color_float32.tflite").read_bytes()
    bad = tmp_path / "truncated.tflite"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="corrupt or truncated"):
        classifier(bad)


def test_edgetpu_model_on_cpu_is_a_clear_error():
    with pytest.raises(DelegateError, match="compiled for the Edge TPU") as err:
        classifier("edgetpu_like.tflite")
    assert "--delegate edgetpu" in err.value.hint


def test_read_image_errors(tmp_path):
    with pytest.raises(ImageError, match="image not found"):
        read_image(tmp_path / "none.png")
    with pytest.raises(ImageError, match="is a folder"):
        read_image(tmp_path)
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(ImageError, match="not a readable image"):
        read_image(empty)


def test_bundle_copied_elsewhere_still_works(tmp_path):
    shutil.copytree(FIXTURES / "bundle_int8", tmp_path / "b")
    with Classifier(ClassifierOptions(model=tmp_path / "b", delegate="cpu")) as clf:
        assert clf.name == "color-fixture"
        assert clf.classify(solid("green")).top.label == "green"


def _bundle_with(tmp_path, labels: str, **spec_changes):
    bundle = tmp_path / "bundle"
    shutil.copytree(FIXTURES / "bundle_int8", bundle)
    (bundle / "labels.txt").write_text(labels)
    spec = json.loads((bundle / "model.json").read_text())
    spec.update(spec_changes)
    (bundle / "model.json").write_text(json.dumps(spec))
    return bundle


@pytest.mark.parametrize("labels", ["red\n\nblue\n", "red\ngreen\n"])
def test_model_json_classes_decide_over_a_short_labels_file(tmp_path, caplog, labels):
    bundle = _bundle_with(tmp_path, labels, classes=["red", "green", "blue"])
    with Classifier(ClassifierOptions(model=bundle, delegate="cpu")) as clf:
        assert clf.labels == ["red", "green", "blue"]  # no 'background' shifted in
        assert clf.classify(solid("green")).top.label == "green"
    assert "has 2 labels for 3 outputs: using the 3 classes model.json names" in caplog.text


def test_background_is_assumed_only_without_other_evidence(tmp_path):
    # model.json says 3 classes and names none: one label short is an error, not 'background'.
    bundle = _bundle_with(tmp_path, "green\nblue\n")
    with pytest.raises(LabelsError, match=r"has 2 labels but model\.tflite has 3 outputs") as err:
        Classifier(ClassifierOptions(model=bundle, delegate="cpu"))
    assert "a blank or missing line" in err.value.hint


def test_duplicate_labels_are_noted(tmp_path, caplog):
    labels = tmp_path / "labels.txt"
    labels.write_text("red\nred\nblue\n")
    with classifier("color_float32.tflite", labels=labels) as clf:
        assert clf.labels == ["red", "red", "blue"]
    assert "labels for color_float32.tflite repeat: 'red' names classes 0, 1" in caplog.text


def test_nan_scores_are_an_error_not_a_prediction(tmp_path):
    """A float model whose weights are NaN: each classification is a clear error."""
    from edgecam.runtime.verify import _Reader

    data = bytearray((FIXTURES / "color_float32.tflite").read_bytes())
    r = _Reader(bytes(data))
    model = r.table(r.follow(0, "root"), "model")
    buffers = r.tables(model, 4, "buffers")
    changed = 0
    for tensor in r.tables(r.tables(model, 2, "subgraphs")[0], 0, "tensors"):
        buffer = buffers[r.get(tensor, 2, "I", 0, "buffer")]
        at = r.offset(buffer, 0, "data")
        if r.get(tensor, 1, "b", 0, "type") == 0 and at is not None:  # float32 constants
            count, start = r.vector(at, 1, "data")
            data[start : start + count] = b"\x00\x00\xc0\x7f" * (count // 4)  # NaN
            changed += 1
    assert changed
    bad = tmp_path / "nan.tflite"
    bad.write_bytes(bytes(data))
    with classifier(bad) as clf, pytest.raises(ModelError, match="NaN or infinite scores"):
        clf.classify(solid("red"))
