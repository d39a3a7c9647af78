"""The classification head, in numpy: imprinted weights refined by softmax regression.

The head sees L2-normalised embeddings. Its first weights are the normalised class means
(imprinting: Qi et al., "Low-Shot Learning with Imprinted Weights", what Coral's imprinting
engine does), scaled so that cosine similarities become confident logits; a few hundred steps of
full-batch softmax regression with weight decay then refine them (what Coral's on-device
backprop does, from the imprinted start instead of random weights). Every step is numpy on an
``N x D`` matrix: 200 images of a 1024-wide embedding take milliseconds.

The exported graph computes exactly :meth:`Head.scores`: dequantize, L2_NORMALIZATION (epsilon
1e-6, as TFLite's kernel), FULLY_CONNECTED, SOFTMAX.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: TFLite's L2_NORMALIZATION epsilon (the sum of squares is clamped to it).
L2_EPSILON = 1e-6


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Rows of ``x`` divided by their L2 norm, as TFLite's L2_NORMALIZATION computes it."""
    x = np.asarray(x, np.float32)
    squares = np.sum(x * x, axis=-1, keepdims=True, dtype=np.float32)
    return x / np.sqrt(np.maximum(squares, np.float32(L2_EPSILON)))


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


@dataclass(frozen=True)
class FitConfig:
    """How the head is fitted.

    Attributes:
        steps: softmax-regression steps after imprinting (0: imprinting alone).
        learning_rate: Adam's step size.
        weight_decay: L2 penalty on the weights (keeps logits from growing without bound on
            separable data).
        scale: the imprinted weights' norm: logits are ``scale * cosine`` at the start.
        seed: for anything random (nothing is today; kept for the record).
    """

    steps: int = 300
    learning_rate: float = 0.05
    weight_decay: float = 1e-4
    scale: float = 10.0
    seed: int = 0

    def __post_init__(self) -> None:
        from edgecam.errors import ConfigError

        if self.steps < 0:
            raise ConfigError(f"--steps must be 0 or more, got {self.steps}")
        if not self.learning_rate > 0:
            raise ConfigError(f"--learning-rate must be positive, got {self.learning_rate}")
        if self.weight_decay < 0 or self.scale <= 0:
            raise ConfigError("weight decay must be >= 0 and the imprinting scale > 0")


@dataclass(frozen=True)
class Head:
    """A fitted linear head: ``softmax(l2_normalize(x) @ weights.T + bias)``."""

    weights: np.ndarray  # (classes, dim) float32
    bias: np.ndarray  # (classes,) float32

    @property
    def num_classes(self) -> int:
        return int(self.weights.shape[0])

    def scores(self, embeddings: np.ndarray) -> np.ndarray:
        """Class probabilities for raw (float, not yet normalised) embeddings ``(N, dim)``."""
        x = l2_normalize(embeddings)
        logits = x @ self.weights.T.astype(np.float32) + self.bias.astype(np.float32)
        return softmax(logits.astype(np.float32))

    def predict(self, embeddings: np.ndarray) -> np.ndarray:
        return np.argmax(self.scores(embeddings), axis=-1)


def imprint(x: np.ndarray, y: np.ndarray, num_classes: int, scale: float) -> np.ndarray:
    """Imprinted weights: each class's normalised mean embedding, times ``scale``.

    ``x`` is already L2-normalised. A class with no examples gets zero weights.
    """
    weights = np.zeros((num_classes, x.shape[1]), np.float32)
    for c in range(num_classes):
        rows = x[y == c]
        if len(rows):
            weights[c] = rows.mean(axis=0)
    return scale * l2_normalize(weights)


def fit_head(
    embeddings: np.ndarray, labels: np.ndarray, num_classes: int, config: FitConfig = FitConfig()
) -> Head:
    """Fit a head on raw embeddings ``(N, dim)`` with integer ``labels`` ``(N,)``."""
    # float32 and einsum without BLAS: the matrices are small (N x D by D x C), and a
    # multi-threaded BLAS on a busy 2-core device spends more time waking threads than computing
    # (measured: 4.2 s for 300 steps with BLAS, 0.3 s without, on 200 x 1024).
    x = l2_normalize(np.asarray(embeddings, np.float32))
    y = np.asarray(labels, np.int64)
    w = imprint(x, y, num_classes, config.scale)
    b = np.zeros(num_classes, np.float32)
    onehot = np.eye(num_classes, dtype=np.float32)[y]
    # Classes weigh the same whatever their image counts (an unbalanced folder is the norm).
    counts = np.bincount(y, minlength=num_classes).astype(np.float32)
    sample_weight = (len(y) / (num_classes * np.maximum(counts, 1)))[y][:, None]
    scale = (sample_weight / max(len(y), 1)).astype(np.float32)
    # Adam on [w | b]: robust to the scale of the imprinted start without tuning.
    params = [w, b]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    lr, decay = np.float32(config.learning_rate), np.float32(config.weight_decay)
    for step in range(1, config.steps + 1):
        p = softmax(np.einsum("nd,cd->nc", x, w, optimize=False) + b)
        delta = (p - onehot) * scale
        grads = [np.einsum("nc,nd->cd", delta, x, optimize=False) + decay * w, delta.sum(axis=0)]
        for i, g in enumerate(grads):
            m[i] = beta1 * m[i] + (1 - beta1) * g
            v[i] = beta2 * v[i] + (1 - beta2) * g * g
            m_hat = m[i] / (1 - beta1**step)
            v_hat = v[i] / (1 - beta2**step)
            params[i] = (params[i] - lr * m_hat / (np.sqrt(v_hat) + eps)).astype(np.float32)
        w, b = params
    return Head(w.astype(np.float32), b.astype(np.float32))
