"""Evaluate a classifier: metrics, confusion matrix, training curves, misclassified grid, report.

Exported ``.tflite`` models are evaluated through edgecam's own :class:`Classifier`, the exact
code path the app runs (preprocessing, runtime, postprocessing), so the numbers in the report are
the numbers a user gets. TensorFlow and matplotlib are imported lazily, inside the functions that
need them; the metrics alone need only numpy.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import itertools
import math
import os
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edgecam.config import ClassifierOptions
from edgecam.files import atomic_write, atomic_write_text
from edgecam.vision.classifier import Classifier
from edgecam.vision.postprocess import looks_like_probabilities

Predictions = tuple[np.ndarray, np.ndarray, np.ndarray]


def _predictions(y_true: list, y_pred: list, scores: list) -> Predictions:
    """``(y_true, y_pred, top_scores)`` as flat int64, int64 and float32 arrays."""
    return (
        np.hstack(y_true or [[]]).astype(np.int64),
        np.hstack(y_pred or [[]]).astype(np.int64),
        np.hstack(scores or [[]]).astype(np.float32),
    )


@dataclass(frozen=True)
class Metrics:
    """Classification metrics of one evaluation.

    Per-class lists (precision, recall, F1, support) are aligned with ``class_names``;
    ``confusion`` holds counts, rows = true class, columns = predicted class.

    A class never predicted has precision 0; a class with no samples has recall 0. ``macro_f1``
    is the mean F1 over the classes that occur (as a true or a predicted label), so classes absent
    from an evaluation subset do not drag it down.
    """

    accuracy: float
    precision: list[float]
    recall: list[float]
    f1: list[float]
    support: list[int]
    macro_f1: float
    confusion: np.ndarray
    class_names: list[str]

    @property
    def num_samples(self) -> int:
        return int(sum(self.support))

    def rows(self):
        """``(name, precision, recall, f1, support)`` per class."""
        return zip(
            self.class_names, self.precision, self.recall, self.f1, self.support, strict=True
        )

    def to_dict(self, digits: int = 4) -> dict:
        """JSON-ready form: floats rounded to ``digits``, the confusion matrix as nested lists."""
        rnd = functools.partial(round, ndigits=digits)
        return {
            "accuracy": rnd(self.accuracy),
            "macro_f1": rnd(self.macro_f1),
            "num_samples": self.num_samples,
            "per_class": [
                {"class": n, "precision": rnd(p), "recall": rnd(r), "f1": rnd(f), "support": c}
                for n, p, r, f, c in self.rows()
            ],
            "confusion": self.confusion.astype(int).tolist(),
            "class_names": list(self.class_names),
        }


def _safe_divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` element-wise, 0 where ``den`` is 0 (no NaN, no warning)."""
    out = np.zeros(num.shape, np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


def compute_metrics(y_true, y_pred, class_names: list[str]) -> Metrics:
    """Accuracy, per-class precision/recall/F1/support, macro F1 and the confusion matrix.

    ``y_true`` and ``y_pred`` are class indices, one per sample; ``class_names`` fixes the number
    of classes (the size of the confusion matrix).

    Raises:
        ValueError: the arrays differ in length or hold an index outside the classes.
    """
    t = np.asarray(y_true, dtype=np.int64).reshape(-1)
    p = np.asarray(y_pred, dtype=np.int64).reshape(-1)
    n = len(class_names)
    if t.shape != p.shape:
        raise ValueError(f"{t.size} true labels but {p.size} predictions")
    for name, arr in (("true label", t), ("prediction", p)):
        if arr.size and (arr.min() < 0 or arr.max() >= n):
            raise ValueError(f"a {name} is outside 0..{n - 1} ({n} classes)")
    confusion = np.bincount(t * n + p, minlength=n * n).reshape(n, n)
    correct = np.diag(confusion).astype(np.float64)
    support = confusion.sum(axis=1)
    predicted = confusion.sum(axis=0)
    precision = _safe_divide(correct, predicted)
    recall = _safe_divide(correct, support)
    f1 = _safe_divide(2 * precision * recall, precision + recall)
    occurring = (support + predicted) > 0
    return Metrics(
        accuracy=float(correct.sum() / t.size) if t.size else 0.0,
        precision=precision.tolist(),
        recall=recall.tolist(),
        f1=f1.tolist(),
        support=support.astype(int).tolist(),
        macro_f1=float(f1[occurring].mean()) if occurring.any() else 0.0,
        confusion=confusion,
        class_names=list(class_names),
    )


def _to_bgr(image: np.ndarray) -> np.ndarray:
    """An RGB (or grayscale) uint8 image as the Classifier takes it: BGR, or grayscale as is."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"images must be uint8, got {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    return image


def predict_tflite(
    model_path: str | os.PathLike,
    samples: Iterable,
    num_samples: int | None = None,
    progress: Callable[[int, int | None], None] | None = None,
    threads: int | None = None,
) -> Predictions:
    """Classify ``samples`` with an exported model through edgecam's Classifier on the CPU.

    Args:
        model_path: a ``.tflite`` file or a bundle folder.
        samples: ``(image, label)`` pairs; image a uint8 HxW, HxWx1 or HxWx3 **RGB** array (as
            TensorFlow decodes it), label a class index or a one-hot vector.
        num_samples: stop after this many samples (None: all).
        progress: called as ``progress(done, total)`` after each sample; total may be None
            when ``samples`` has no length and ``num_samples`` is not given.
        threads: CPU threads for the runtime (None lets it decide).

    Returns:
        ``(y_true, y_pred, top_scores)``: int64, int64 and float32 arrays, one entry per sample.
    """
    total = num_samples
    if total is None:  # generators and datasets of unknown cardinality have no length
        with contextlib.suppress(TypeError):
            total = len(samples)
    y_true, y_pred, scores = [], [], []
    options = ClassifierOptions(model=Path(model_path), delegate="cpu", threads=threads, top_k=1)
    with Classifier(options) as clf:
        for image, label in itertools.islice(samples, num_samples):
            top = clf.classify(_to_bgr(image)).top
            one_hot = np.asarray(label).reshape(-1)
            y_true.append(int(one_hot.argmax() if one_hot.size > 1 else one_hot[0]))
            y_pred.append(top.index)
            scores.append(top.score)
            if progress is not None:
                progress(len(y_true), total)
    return _predictions(y_true, y_pred, scores)


def _label_indices(labels: np.ndarray) -> np.ndarray:
    """Class indices from a batch of labels: integer indices or one-hot rows."""
    labels = np.asarray(labels)
    if labels.ndim >= 2 and labels.shape[-1] > 1:
        return labels.argmax(axis=-1).astype(np.int64).reshape(-1)
    return labels.astype(np.int64).reshape(-1)


def _as_probabilities(outputs: np.ndarray) -> np.ndarray:
    """Softmax of the outputs unless every row already is a probability distribution."""
    outputs = outputs.astype(np.float64)
    if looks_like_probabilities(outputs, axis=1):
        return outputs
    shifted = np.exp(outputs - outputs.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def _batches(model, data, batch_size: int):
    """Yield ``(float32 images, labels)`` batches shaped as the model's input."""
    import tensorflow as tf  # lazy: only Keras evaluation needs TensorFlow

    rank = len(model.input_shape)
    if isinstance(data, tf.data.Dataset):  # batch it if it is not batched yet
        if len(data.element_spec[0].shape) < rank:
            data = data.batch(batch_size)
        data = data.as_numpy_iterator()
    else:
        data = _stack_in_batches(data, batch_size)
    for images, labels, *_ in data:  # ignore sample weights
        images = np.asarray(images, np.float32)
        if images.ndim == rank - 1:  # grayscale HxW images for an HxWx1 input
            images = images[..., np.newaxis]
        yield images, labels


def _stack_in_batches(samples: Iterable, batch_size: int):
    """Group ``(image, label)`` pairs into stacked numpy batches."""
    images, labels = [], []
    for image, label in samples:
        images.append(np.asarray(image))
        labels.append(np.asarray(label))
        if len(images) == batch_size:
            yield np.stack(images), np.stack(labels)
            images, labels = [], []
    if images:
        yield np.stack(images), np.stack(labels)


def predict_keras(model, samples_or_dataset, batch_size: int = 256) -> Predictions:
    """Classify with a Keras model whose input takes raw pixel values (rescaling is inside it).

    Args:
        model: a Keras classifier; outputs may be probabilities or logits.
        samples_or_dataset: ``(uint8 image, label)`` pairs, or a ``tf.data.Dataset`` of them
            (batched or not); labels are class indices or one-hot vectors.
        batch_size: images per forward pass.

    Returns:
        ``(y_true, y_pred, top_scores)`` as :func:`predict_tflite` returns them.
    """
    y_true, y_pred, scores = [], [], []
    for images, labels in _batches(model, samples_or_dataset, batch_size):
        probs = _as_probabilities(np.asarray(model.predict_on_batch(images)))
        y_true.append(_label_indices(labels))
        y_pred.append(probs.argmax(axis=1))
        scores.append(probs.max(axis=1))
    return _predictions(y_true, y_pred, scores)


def _new_figure(width: float, height: float):
    """A matplotlib Figure on the Agg canvas (no pyplot, no global backend state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: str | os.PathLike) -> Path:
    return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", bbox_inches="tight"))


def plot_confusion(metrics: Metrics, path: str | os.PathLike) -> Path:
    """Plot the confusion matrix, colours normalised per true class, counts when <= 15 classes."""
    confusion = metrics.confusion
    n = len(metrics.class_names)
    normalized = _safe_divide(confusion, confusion.sum(axis=1, keepdims=True))
    size = max(4.0, 0.45 * n + 2.5)
    fig = _new_figure(size + 1.0, size)
    ax = fig.add_subplot()
    im = ax.imshow(normalized, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="fraction of the true class")
    ax.set(xticks=range(n), yticks=range(n), xlabel="predicted", ylabel="true")
    ax.set_xticklabels(metrics.class_names, rotation=45, ha="right")
    ax.set_yticklabels(metrics.class_names)
    ax.set_title(f"Confusion matrix (accuracy {metrics.accuracy:.2%})")
    if n <= 15:
        for i in range(n):
            for j in range(n):
                color = "white" if normalized[i, j] > 0.5 else "black"
                ax.text(j, i, str(confusion[i, j]), ha="center", va="center", color=color)
    return _save(fig, path)


def _number(text: str | None) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


def read_csv_log(csv_log_path: str | os.PathLike) -> dict[str, list[float]]:
    """Read a Keras CSVLogger file into ``{column: values}`` (unparsable cells become NaN)."""
    with open(csv_log_path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return {key: [_number(row.get(key)) for row in rows] for key in (rows[0] if rows else ())}


def plot_curves(csv_log_path: str | os.PathLike, path: str | os.PathLike) -> Path:
    """Plot accuracy and loss (training and validation, whichever are logged) against epoch."""
    log = read_csv_log(csv_log_path)
    epochs = log.get("epoch", list(range(max(map(len, log.values()), default=0))))
    fig = _new_figure(10.0, 4.0)
    for position, metric in enumerate(("accuracy", "loss"), start=1):
        ax = fig.add_subplot(1, 2, position)
        plotted = False
        for key, name in ((metric, "train"), (f"val_{metric}", "validation")):
            if key in log:
                ax.plot(epochs, log[key], marker="o", markersize=3, label=name)
                plotted = True
        if plotted:
            ax.legend()
        else:
            ax.text(0.5, 0.5, f"no {metric} logged", ha="center", va="center")
        ax.set(title=metric, xlabel="epoch", ylabel=metric)
        ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_misclassified(images, y_true, y_pred, class_names, path, max_items: int = 25) -> Path:
    """Plot the first ``max_items`` misclassified images in a grid, titled ``true -> pred``.

    ``images`` (a sequence of RGB or grayscale uint8 arrays) is aligned with the class indices
    ``y_true`` and ``y_pred``. With no misclassified example the PNG says so.
    """
    wrong = np.flatnonzero(np.asarray(y_true) != np.asarray(y_pred))[:max_items]
    if wrong.size == 0:
        fig = _new_figure(4.0, 1.5)
        fig.text(0.5, 0.5, "no misclassified examples", ha="center", va="center", fontsize=14)
        return _save(fig, path)
    cols = math.ceil(math.sqrt(wrong.size))
    rows = math.ceil(wrong.size / cols)
    fig = _new_figure(2.0 * cols, 2.2 * rows)
    for slot, i in enumerate(wrong, start=1):
        ax = fig.add_subplot(rows, cols, slot)
        image = np.asarray(images[i])
        if image.ndim == 3 and image.shape[2] == 1:
            image = image[:, :, 0]
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=255)
        true_name, pred_name = class_names[int(y_true[i])], class_names[int(y_pred[i])]
        ax.set_title(f"{true_name} -> {pred_name}", fontsize=8)
        ax.axis("off")
    return _save(fig, path)


def _cell(value) -> str:
    """A value formatted for a Markdown table cell."""
    if isinstance(value, float):
        value = f"{value:.4g}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def _link(target: str | os.PathLike, out_dir: Path) -> str:
    """A URL-quoted link to ``target`` relative to ``out_dir``."""
    relative = Path(os.path.relpath(Path(target).resolve(), out_dir.resolve())).as_posix()
    return urllib.parse.quote(relative)


def write_report(
    out_dir: str | os.PathLike,
    title: str,
    metrics: Metrics,
    extra: dict | None = None,
    images: dict[str, Path] | None = None,
) -> Path:
    """Write ``out_dir/report.md``: accuracy, extras, per-class table and the plots.

    Args:
        out_dir: the report's folder (created if missing).
        title: the report's heading.
        metrics: from :func:`compute_metrics`.
        extra: more facts shown as a key/value table (model size, float vs TFLite accuracy, ...).
        images: section caption -> PNG path, linked relative to ``out_dir``, in the given order.
    """
    out_dir = Path(out_dir)
    lines = [f"# {title}", ""]
    lines.append(f"- Accuracy: **{metrics.accuracy:.2%}** ({metrics.num_samples} samples)")
    lines += [f"- Macro F1: {metrics.macro_f1:.4f}", ""]
    if extra:
        lines += ["| | |", "|---|---|"]
        lines += [f"| {_cell(key)} | {_cell(value)} |" for key, value in extra.items()]
        lines.append("")
    lines += ["## Per class", "", "| class | precision | recall | F1 | support |"]
    lines.append("|---|---:|---:|---:|---:|")
    for name, p, r, f, c in metrics.rows():
        lines.append(f"| {_cell(name)} | {p:.4f} | {r:.4f} | {f:.4f} | {c} |")
    for caption, image in (images or {}).items():
        lines += ["", f"## {caption}", "", f"![{caption}]({_link(image, out_dir)})"]
    return atomic_write_text(out_dir / "report.md", "\n".join(lines) + "\n")
