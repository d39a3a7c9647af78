"""Post-processing: dequantization, softmax only when needed, top-k."""

from __future__ import annotations

import numpy as np
import pytest

from edgecam.runtime.engine import TensorSpec
from edgecam.vision.postprocess import (
    Postprocessor,
    outputs_are_probabilities,
    softmax,
    top_k_indices,
)

LABELS = ["a", "b", "c", "d"]


def out_spec(dtype="float32", scale=0.0, zp=0, n=4):
    return TensorSpec("out", (1, n), np.dtype(dtype), scale, zp)


def test_softmax_hand_computed():
    result = softmax(np.array([1.0, 2.0, 3.0], np.float32), np.empty(3, np.float32))
    e = np.exp([1.0, 2.0, 3.0])
    assert result == pytest.approx(e / e.sum())
    huge = softmax(np.array([1000.0, 1000.0], np.float32), np.empty(2, np.float32))
    assert huge == pytest.approx([0.5, 0.5])  # stable: no overflow


def test_top_k_order_and_ties():
    scores = np.array([0.1, 0.4, 0.4, 0.05, 0.05], np.float32)
    assert top_k_indices(scores, 3).tolist() == [1, 2, 0]
    big = np.zeros(1001, np.float32)
    big[[7, 500, 999]] = [0.2, 0.5, 0.3]
    assert top_k_indices(big, 3).tolist() == [500, 999, 7]
    assert top_k_indices(scores, 10).tolist() == [1, 2, 0, 3, 4]  # k larger than classes


def test_top_k_on_raw_integers_does_not_wrap():
    assert top_k_indices(np.array([0, 200, 255, 3, 9, 1, 2, 7, 8], np.uint8), 2).tolist() == [2, 1]
    assert top_k_indices(np.array([-128, 127, 0, -1], np.int8), 2).tolist() == [1, 2]
    raw = np.full(1001, -128, np.int8)
    raw[[3, 999]] = [100, 127]
    assert top_k_indices(raw, 2).tolist() == [999, 3]
    ties = np.zeros(1001, np.uint8)
    ties[[400, 900]] = 3
    assert top_k_indices(ties, 4).tolist() == [400, 900, 0, 1]  # ties: lower index first


def test_uint8_output_is_dequantized():
    post = Postprocessor(out_spec("uint8", 1 / 256, 0), LABELS, 2, probabilities=True)
    cats = post(np.array([[0, 192, 64, 0]], np.uint8))
    assert [(c.label, c.score) for c in cats] == [("b", 0.75), ("c", 0.25)]


def test_int8_output_is_dequantized_without_overflow():
    post = Postprocessor(out_spec("int8", 1 / 256, -128), LABELS, 1, probabilities=True)
    assert post(np.array([[127, -128, -128, -128]], np.int8))[0].score == pytest.approx(255 / 256)


def test_logits_get_softmax():
    post = Postprocessor(out_spec(), LABELS, 4, probabilities=False)
    cats = post(np.array([[0.0, 0.0, np.log(2.0), 0.0]], np.float32))
    assert cats[0].label == "c" and cats[0].score == pytest.approx(0.4)
    assert sum(c.score for c in cats) == pytest.approx(1.0)


def test_unknown_activation_is_checked_per_output():
    post = Postprocessor(out_spec(), LABELS, 1, probabilities=None)
    assert post(np.array([[0.1, 0.2, 0.6, 0.1]], np.float32))[0].score == pytest.approx(0.6)
    logits = post(np.array([[2.0, -1.0, 0.5, 0.0]], np.float32))[0]
    assert logits.label == "a" and 0 < logits.score < 1


@pytest.mark.parametrize(
    "spec, ops, declared, expected",
    [
        (out_spec(), ["CONV_2D", "FULLY_CONNECTED", "SOFTMAX", "DELEGATE"], None, True),
        (out_spec("uint8", 1 / 256, 0), ["FULLY_CONNECTED", "SOFTMAX", "QUANTIZE"], None, True),
        (out_spec(), ["MEAN", "FULLY_CONNECTED"], None, False),
        (out_spec(), ["MEAN", "FULLY_CONNECTED", "SOFTMAX"], "none", False),  # model.json wins
        (out_spec("uint8", 1 / 256, 0), ["QUANTIZE", "edgetpu-custom-op"], None, True),
        (out_spec("uint8", 1 / 256, 0), [], None, True),  # Edge TPU: quantization tells
        (out_spec("int8", 1 / 256, -128), [], None, True),
        (out_spec("int8", 0.1, 3), [], None, None),
        (out_spec(), [], None, None),
    ],
)
def test_outputs_are_probabilities(spec, ops, declared, expected):
    assert outputs_are_probabilities(spec, ops, declared) is expected


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.float32])
def test_all_tied_scores_keep_index_order(dtype):
    # Random-weight int8 models give exactly this: every class quantized to the same value.
    assert top_k_indices(np.full(1000, 5, dtype), 5).tolist() == [0, 1, 2, 3, 4]


def test_categories_are_immutable_plain_values():
    from edgecam.vision.types import Category

    cat = Category(3, "cat", 0.5)
    with pytest.raises(AttributeError):
        cat.score = 1.0  # type: ignore[misc]
    assert cat._asdict() == {"index": 3, "label": "cat", "score": 0.5}
