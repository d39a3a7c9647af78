"""training.evaluate: metrics by hand, TFLite through edgecam's Classifier, Keras, plots, report."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import numpy as np
import pytest
from conftest import FIXTURES, REPO

from edgecam.config import ClassifierOptions
from edgecam.vision import Classifier
from training.evaluate import (
    compute_metrics,
    plot_confusion,
    plot_curves,
    plot_misclassified,
    predict_keras,
    predict_tflite,
    write_report,
)

COLORS = ["red", "green", "blue"]
RGB = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255)}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# A hand-checked 3-class example. Confusion (rows true, cols predicted):
#   [[2, 1, 0],    precision = 2/2, 1/3, 3/4
#    [0, 1, 1],    recall    = 2/3, 1/2, 3/4
#    [0, 1, 3]]    F1        = 0.8, 0.4, 0.75; macro 0.65; accuracy 6/9
Y_TRUE = [0, 0, 0, 1, 1, 2, 2, 2, 2]
Y_PRED = [0, 0, 1, 1, 2, 2, 2, 1, 2]


def rgb_samples(size=(20, 20), repeat=2):
    """Solid RGB images with their class index, as TensorFlow would decode them."""
    return [
        (np.full((*size, 3), RGB[name], np.uint8), index)
        for _ in range(repeat)
        for index, name in enumerate(COLORS)
    ]


def assert_png(path, min_side=50):
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert len(data) > 1000
    mpl_image = pytest.importorskip("matplotlib.image")
    pixels = mpl_image.imread(path)
    assert pixels.ndim == 3 and pixels.shape[2] in (3, 4)
    assert min(pixels.shape[:2]) >= min_side
    assert not list(path.parent.glob(".*.tmp")), "temporary files left behind"


# --- metrics -------------------------------------------------------------------------------


def test_metrics_match_a_hand_computed_example():
    m = compute_metrics(Y_TRUE, Y_PRED, COLORS)
    np.testing.assert_array_equal(m.confusion, [[2, 1, 0], [0, 1, 1], [0, 1, 3]])
    assert m.accuracy == pytest.approx(6 / 9)
    assert m.precision == pytest.approx([1.0, 1 / 3, 0.75])
    assert m.recall == pytest.approx([2 / 3, 0.5, 0.75])
    assert m.f1 == pytest.approx([0.8, 0.4, 0.75])
    assert m.support == [3, 2, 4]
    assert m.macro_f1 == pytest.approx(0.65)
    assert m.num_samples == 9
    assert m.class_names == COLORS


def test_zero_support_and_zero_predictions_give_zero_not_nan():
    # class 2 is never predicted, class 3 never occurs but is predicted, class 4 never appears.
    names = ["a", "b", "c", "d", "e"]
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        m = compute_metrics([0, 1, 2, 0], [0, 1, 3, 0], names)
    assert m.precision == [1.0, 1.0, 0.0, 0.0, 0.0]
    assert m.recall == [1.0, 1.0, 0.0, 0.0, 0.0]
    assert m.f1 == [1.0, 1.0, 0.0, 0.0, 0.0]
    assert m.support == [2, 1, 1, 0, 0]
    assert not np.isnan([*m.precision, *m.recall, *m.f1, m.macro_f1]).any()
    # Macro F1 averages the classes that occur (a-d), not the absent one (e).
    assert m.macro_f1 == pytest.approx(0.5)


def test_metrics_of_nothing_and_bad_input():
    m = compute_metrics([], [], COLORS)
    assert m.accuracy == 0.0 and m.macro_f1 == 0.0 and m.confusion.sum() == 0
    with pytest.raises(ValueError, match="predictions"):
        compute_metrics([0, 1], [0], COLORS)
    with pytest.raises(ValueError, match="outside"):
        compute_metrics([0, 3], [0, 1], COLORS)


def test_to_dict_is_json_ready_and_rounded():
    d = compute_metrics(Y_TRUE, Y_PRED, COLORS).to_dict()
    assert json.loads(json.dumps(d)) == d
    assert d["accuracy"] == 0.6667
    assert d["confusion"] == [[2, 1, 0], [0, 1, 1], [0, 1, 3]]
    assert d["per_class"][1] == {
        "class": "green",
        "precision": 0.3333,
        "recall": 0.5,
        "f1": 0.4,
        "support": 2,
    }


def test_importing_evaluate_loads_neither_tensorflow_nor_matplotlib():
    code = (
        "import sys, training.evaluate\n"
        "bad = {m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras', 'matplotlib'}\n"
        "assert not bad, bad\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr


# --- TFLite through edgecam's Classifier ---------------------------------------------------


@pytest.mark.parametrize("model", ["color_float32.tflite", "bundle_int8"])
def test_predict_tflite_gets_every_solid_colour_right(model):
    calls = []
    samples = rgb_samples()
    y_true, y_pred, scores = predict_tflite(
        FIXTURES / model, samples, progress=lambda done, total: calls.append((done, total))
    )
    np.testing.assert_array_equal(y_true, [0, 1, 2, 0, 1, 2])
    np.testing.assert_array_equal(y_pred, y_true)
    assert y_true.dtype == np.int64 and scores.dtype == np.float32
    assert (scores > 0.9).all()
    assert calls == [(i, 6) for i in range(1, 7)]
    assert compute_metrics(y_true, y_pred, COLORS).accuracy == 1.0


def test_predict_tflite_converts_rgb_to_bgr():
    red_rgb = np.full((20, 20, 3), RGB["red"], np.uint8)
    _, y_pred, _ = predict_tflite(FIXTURES / "color_float32.tflite", [(red_rgb, 0)])
    assert COLORS[y_pred[0]] == "red"
    # The same array handed to the Classifier as is reads as BGR, i.e. blue: the conversion
    # above is what makes it right.
    options = ClassifierOptions(model=FIXTURES / "color_float32.tflite", delegate="cpu")
    with Classifier(options) as clf:
        assert clf.classify(red_rgb).top.label == "blue"


def test_predict_tflite_limits_a_generator_and_takes_gray_and_one_hot_labels():
    def generate():
        yield np.full((16, 16), 200, np.uint8), 0
        yield np.full((16, 16, 1), 10, np.uint8), np.array([0, 1, 0])
        yield from rgb_samples(repeat=10)

    calls = []
    y_true, y_pred, scores = predict_tflite(
        FIXTURES / "color_float32.tflite",
        generate(),
        num_samples=4,
        progress=lambda done, total: calls.append((done, total)),
    )
    np.testing.assert_array_equal(y_true, [0, 1, 0, 1])
    assert len(y_pred) == len(scores) == 4
    assert calls[-1] == (4, 4)


# --- probabilities or logits --------------------------------------------------------------


def test_one_probability_check_for_the_app_and_for_evaluation():
    from edgecam.vision.postprocess import looks_like_probabilities
    from training.evaluate import _as_probabilities

    probs = np.array([[0.7, 0.2, 0.1], [0.0, 0.98, 0.0]])  # the second sums to 0.98: rounding
    logits = np.array([[2.0, -1.0, 0.5], [0.3, 0.3, 0.3]])
    assert looks_like_probabilities(probs, axis=1)
    assert looks_like_probabilities(probs[0]) and looks_like_probabilities(probs.T, axis=0)
    assert not looks_like_probabilities(logits, axis=1)  # negative
    assert not looks_like_probabilities(np.array([[0.5, 0.5], [0.5, 0.6]]), axis=1)  # one row
    assert not looks_like_probabilities(np.array([0.5, 0.56])) and not looks_like_probabilities(
        np.array([])
    )
    assert _as_probabilities(probs) is not probs and np.array_equal(_as_probabilities(probs), probs)
    softened = _as_probabilities(logits)
    np.testing.assert_allclose(softened.sum(axis=1), 1.0)
    assert softened[1] == pytest.approx([1 / 3] * 3)


# --- Keras -------------------------------------------------------------------------------------


def channel_model(softmax: bool = True):
    """A Keras model whose logits are 2x the mean of each channel in [0, 1]: R, G, B -> 0, 1, 2."""
    keras = pytest.importorskip("keras")
    inputs = keras.Input((20, 20, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    identity = keras.initializers.Identity(gain=2.0)
    dense = keras.layers.Dense(3, kernel_initializer=identity, bias_initializer="zeros")
    outputs = keras.layers.Softmax()(dense(x)) if softmax else dense(x)
    return keras.Model(inputs, outputs)


@pytest.mark.full
def test_predict_keras_on_samples_and_datasets():
    tf = pytest.importorskip("tensorflow")
    model = channel_model()
    samples = rgb_samples(repeat=3)
    y_true, y_pred, scores = predict_keras(model, samples, batch_size=4)
    np.testing.assert_array_equal(y_true, [0, 1, 2] * 3)
    np.testing.assert_array_equal(y_pred, y_true)
    assert scores.shape == (9,) and (scores > 0.4).all()

    images = np.stack([s[0] for s in samples])
    labels = np.array([s[1] for s in samples])
    unbatched = tf.data.Dataset.from_tensor_slices((images, labels))
    one_hot = unbatched.map(lambda x, y: (x, tf.one_hot(y, 3))).batch(5)
    for dataset in (unbatched, one_hot):
        y_true, y_pred, _ = predict_keras(model, dataset, batch_size=4)
        np.testing.assert_array_equal(y_true, [0, 1, 2] * 3)
        np.testing.assert_array_equal(y_pred, y_true)

    # Logits are turned into probabilities for the top scores.
    _, y_pred, scores = predict_keras(channel_model(softmax=False), samples)
    np.testing.assert_array_equal(y_pred, [0, 1, 2] * 3)
    assert scores == pytest.approx(np.exp(2) / (np.exp(2) + 2), rel=1e-4)


# --- plots and report --------------------------------------------------------------------------


@pytest.mark.full
@pytest.mark.parametrize("num_classes", [3, 20])
def test_plot_confusion_writes_a_png(tmp_path, num_classes):
    pytest.importorskip("matplotlib")
    names = [f"class_{i}" for i in range(num_classes)]
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, num_classes, 200)
    y_pred = np.where(rng.random(200) < 0.7, y_true, rng.integers(0, num_classes, 200))
    path = plot_confusion(compute_metrics(y_true, y_pred, names), tmp_path / "confusion.png")
    assert path == tmp_path / "confusion.png"
    assert_png(path)


@pytest.mark.full
@pytest.mark.parametrize(
    "header, rows",
    [
        ("epoch,accuracy,loss,val_accuracy,val_loss", ["0,0.5,1.2,0.45,1.3", "1,0.7,0.8,0.6,0.9"]),
        ("epoch,accuracy,loss", ["0,0.5,1.2", "1,0.7,0.8", "2,0.8,0.6"]),
        ("epoch,val_loss", ["0,1.0"]),
    ],
)
def test_plot_curves_reads_any_subset_of_columns(tmp_path, header, rows):
    pytest.importorskip("matplotlib")
    log = tmp_path / "training.csv"
    log.write_text("\n".join([header, *rows]) + "\n")
    assert_png(plot_curves(log, tmp_path / "curves.png"))


@pytest.mark.full
def test_plot_misclassified_grid_and_the_empty_case(tmp_path):
    pytest.importorskip("matplotlib")
    images = [s[0] for s in rgb_samples()] + [np.full((20, 20), 128, np.uint8)]
    y_true = np.array([0, 1, 2, 0, 1, 2, 0])
    y_pred = np.array([0, 2, 2, 1, 1, 2, 1])
    assert_png(plot_misclassified(images, y_true, y_pred, COLORS, tmp_path / "wrong.png"))
    limited = plot_misclassified(images, y_true, y_pred, COLORS, tmp_path / "one.png", 1)
    assert_png(limited)
    none = plot_misclassified(images, y_true, y_true, COLORS, tmp_path / "none.png")
    assert_png(none, min_side=20)


def test_write_report_has_accuracy_table_extras_and_relative_links(tmp_path):
    out = tmp_path / "eval"
    (out / "plots").mkdir(parents=True)
    elsewhere = tmp_path / "other dir"
    elsewhere.mkdir()
    images = {"Confusion matrix": out / "plots" / "confusion.png", "Curves": elsewhere / "c.png"}
    for path in images.values():
        path.write_bytes(PNG_SIGNATURE)
    metrics = compute_metrics(Y_TRUE, Y_PRED, COLORS)
    extra = {"model size (KiB)": 123.4, "float accuracy": 0.7, "runtime": "a|b"}

    report = write_report(out, "Colour model", metrics, extra=extra, images=images)

    assert report == out / "report.md"
    text = report.read_text()
    assert text.startswith("# Colour model")
    assert "66.67%" in text and "9 samples" in text
    assert "| green | 0.3333 | 0.5000 | 0.4000 | 2 |" in text
    assert "| model size (KiB) | 123.4 |" in text and "a\\|b" in text
    assert "![Confusion matrix](plots/confusion.png)" in text
    assert "![Curves](../other%20dir/c.png)" in text
    assert [p.name for p in out.iterdir() if p.is_file()] == ["report.md"]
