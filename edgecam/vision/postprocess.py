"""Output tensor -> top-k categories: dequantize, softmax only when needed, pick the best."""

from __future__ import annotations

import math

import numpy as np

from edgecam.errors import ModelError
from edgecam.runtime.engine import TensorSpec
from edgecam.vision.types import Category

# Ops that may follow the classifier's last real op without changing what it means.
_PASS_THROUGH_OPS = {"DELEGATE", "QUANTIZE", "DEQUANTIZE", "RESHAPE", "SQUEEZE", "CAST"}
_PROBABILITY_OPS = {"SOFTMAX", "LOGISTIC"}


def outputs_are_probabilities(
    spec: TensorSpec, ops: list[str], declared: str | None = None
) -> bool | None:
    """Decide, once per model, whether the output already holds probabilities.

    Order of evidence: ``model.json`` (``declared``: "softmax" or "none"); the last real op of
    the graph; TFLite's fixed quantization of softmax outputs (scale 1/256, zero point 0 for
    uint8, -128 for int8, which Edge TPU models keep). None means "unknown": then each output is
    checked (non-negative and summing to ~1).
    """
    if declared is not None:
        return declared == "softmax"
    real_ops = [op for op in ops if op not in _PASS_THROUGH_OPS]
    # A custom op last (edgetpu-custom-op) hides what it computes: fall through to quantization.
    if real_ops and real_ops[-1].isupper():
        return real_ops[-1] in _PROBABILITY_OPS
    if spec.quantized and abs(spec.scale - 1 / 256) < 1e-9:
        return spec.zero_point == (0 if spec.dtype == np.uint8 else -128)
    return None


#: How far from 1 a score vector may sum and still be taken for probabilities: quantized
#: softmax outputs sum to 1 only up to their rounding (1/256 per class for uint8).
PROBABILITY_TOLERANCE = 0.05


def looks_like_probabilities(
    scores: np.ndarray, axis: int = -1, tolerance: float = PROBABILITY_TOLERANCE
) -> bool:
    """Whether ``scores`` already are probabilities: non-negative, and every vector along
    ``axis`` summing to 1 within ``tolerance``.

    The last resort when nothing says what a model outputs (see
    :func:`outputs_are_probabilities`); training's evaluation asks the same of Keras outputs.
    """
    if scores.size == 0 or scores.min() < 0.0:
        return False
    if scores.ndim == 1:  # the per-frame case: no temporary arrays
        return abs(float(scores.sum()) - 1.0) < tolerance
    return bool((np.abs(scores.sum(axis=axis) - 1.0) < tolerance).all())


def softmax(logits: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Numerically stable softmax of a 1-D array into ``out``."""
    np.subtract(logits, logits.max(), out=out)
    np.exp(out, out=out)
    out /= out.sum()
    return out


def _descending_keys(scores: np.ndarray) -> np.ndarray:
    """Keys whose ascending order is the scores' descending order, without wrapping integers.

    uint8 and int8 map to uint8 keys (``255 - x``; int8 flips its sign bit first), which numpy's
    stable sort orders with a radix sort: O(n) however many classes tie.
    """
    if scores.dtype == np.uint8:
        return scores ^ np.uint8(0xFF)
    if scores.dtype == np.int8:
        return scores.view(np.uint8) ^ np.uint8(0x7F)
    return -scores.astype(np.float64, copy=False)


def top_k_indices(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` highest scores, best first (ties: lower index first).

    Works on float and on raw uint8/int8 arrays.
    """
    k = min(k, scores.size)
    if scores.dtype.kind == "f" and scores.size > 4 * k:
        # Everything tied with the k-th best stays a candidate, so ties resolve by index.
        kth = np.partition(scores, scores.size - k)[scores.size - k]
        candidates = np.flatnonzero(scores >= kth)
        return candidates[np.argsort(_descending_keys(scores[candidates]), kind="stable")[:k]]
    return np.argsort(_descending_keys(scores), kind="stable")[:k]


class Postprocessor:
    """Turns the raw output tensor into the top-k :class:`Category` list."""

    def __init__(
        self, spec: TensorSpec, labels: list[str], top_k: int, probabilities: bool | None
    ) -> None:
        self.spec = spec
        self.labels = labels
        self.top_k = top_k
        self.probabilities = probabilities
        size = len(labels)
        self._scores = np.empty(size, np.float32)
        self._probs = np.empty(size, np.float32)
        # Quantized probabilities: dequantizing is monotonic, so rank the raw integers and
        # convert only the top k (the per-frame path of every int8 model).
        self._rank_raw = bool(probabilities and spec.quantized and spec.scale > 0)

    def scores(self, raw: np.ndarray) -> np.ndarray:
        """Dequantized probabilities for every class (a reused buffer)."""
        flat = raw.reshape(-1)
        self._scores[...] = flat  # to float32 first: int8 - zero_point would overflow
        if self.spec.quantized:
            self._scores -= self.spec.zero_point
            self._scores *= self.spec.scale
        probabilities = self.probabilities
        if probabilities is None:
            probabilities = looks_like_probabilities(self._scores)
        scores = self._scores if probabilities else softmax(self._scores, self._probs)
        # Probabilities lie in [0, 1], so their sum is finite unless one is NaN or infinite.
        if not math.isfinite(float(scores.sum())):
            raise ModelError(
                "the model's output holds NaN or infinite scores",
                "its weights may be damaged, or model.json's input normalization is wrong: "
                "re-export the model",
            )
        return scores

    def __call__(self, raw: np.ndarray) -> tuple[Category, ...]:
        labels = self.labels
        if self._rank_raw:
            flat = raw.reshape(-1)
            top = top_k_indices(flat, self.top_k)
            zero_point, scale = self.spec.zero_point, self.spec.scale
            # (A list comprehension, not a generator: measurably faster for k objects per frame.)
            return tuple(
                [
                    Category(i, labels[i], (q - zero_point) * scale)
                    for i, q in zip(top.tolist(), flat[top].tolist(), strict=True)
                ]
            )
        scores = self.scores(raw)
        top = top_k_indices(scores, self.top_k)
        return tuple(
            [
                Category(i, labels[i], s)
                for i, s in zip(top.tolist(), scores[top].tolist(), strict=True)
            ]
        )
