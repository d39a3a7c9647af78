"""Transfer learning offline: --base mobilenet_v2 / v3 with --weights FILE (no internet here).

A keras.applications backbone is built with random weights and saved to a file; training from
that file must start from exactly those weights (they stay as they were where frozen).
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_one_line_error, run_cli
from test_training_folder import make_folder

pytest.importorskip("tensorflow", reason="TensorFlow is not installed (runs in .venv-train)")

import keras

CLASSES = ["a_dark", "b_bright", "c_striped"]
QUICK = [
    "--batch-size", "8", "--steps-per-epoch", "2", "--val-split", "0.25", "--no-augment",
    "--patience", "0", "--epochs", "1",
]  # fmt: skip


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return make_folder(tmp_path_factory.mktemp("data"), dict.fromkeys(CLASSES, 6), size=32)


def _backbone(base: str, alpha: float, size: int, seed: int):
    keras.utils.set_random_seed(seed)
    cls = {"mobilenet_v2": keras.applications.MobileNetV2,
           "mobilenet_v3_small": keras.applications.MobileNetV3Small}[base]  # fmt: skip
    extra = {} if base == "mobilenet_v2" else {"include_preprocessing": False}
    return cls(input_shape=(size, size, 3), alpha=alpha, include_top=False, weights=None, **extra)


def _saved(backbone, path):
    if path.name.endswith(".weights.h5"):
        backbone.save_weights(path)
    else:
        backbone.save(path)
    return path


def _trained_backbone(run):
    model = keras.models.load_model(run / "best.keras")
    return next(layer for layer in model.layers if isinstance(layer, keras.Model))


def test_v3_small_trains_from_a_weights_file(data_dir, tmp_path):
    source = _backbone("mobilenet_v3_small", 1.0, 32, seed=3)
    weights = _saved(source, tmp_path / "v3s.weights.h5")
    run = tmp_path / "run"
    proc = run_cli(
        "train", "--data", str(data_dir), "--out", str(run), "--input-size", "32",
        "--base", "mobilenet_v3_small", "--weights", str(weights), *QUICK, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "training a new head on mobilenet_v3_small (pretrained:" in proc.stdout
    assert "mobilenet_v1" not in proc.stdout
    trained = _trained_backbone(run).get_weights()
    for now, saved in zip(trained, source.get_weights(), strict=True):
        np.testing.assert_array_equal(now, saved)  # frozen: exactly the file's weights
    other = _backbone("mobilenet_v3_small", 1.0, 32, seed=4).get_weights()
    assert any(not np.array_equal(a, b) for a, b in zip(trained, other, strict=True))


def test_v2_from_a_keras_file_then_fine_tunes_its_top(data_dir, tmp_path):
    source = _backbone("mobilenet_v2", 0.35, 32, seed=5)
    weights = _saved(source, tmp_path / "v2.keras")
    run = tmp_path / "run"
    proc = run_cli(
        "train", "--data", str(data_dir), "--out", str(run), "--input-size", "32",
        "--base", "mobilenet_v2", "--weights", str(weights), "--fine-tune-epochs", "1",
        "--fine-tune-layers", "3", "--lr", "0.05", *QUICK, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "done: 2 epochs" in proc.stdout  # the head's epoch, then the fine-tune phase's
    rows = (run / "training_log.csv").read_text().splitlines()[1:]
    assert [int(r.split(",")[0]) for r in rows] == [0, 1]
    trained = _trained_backbone(run)
    first = trained.layers[1]  # the stem convolution: frozen in both phases
    np.testing.assert_array_equal(
        first.get_weights()[0], source.get_layer(first.name).get_weights()[0]
    )


def test_weights_that_do_not_fit_or_do_not_exist_are_one_line(data_dir, tmp_path):
    wrong = _saved(_backbone("mobilenet_v2", 0.5, 32, seed=1), tmp_path / "v2-05.weights.h5")
    base = ["train", "--data", str(data_dir), "--input-size", "32", "--base", "mobilenet_v2"]
    proc = run_cli(*base, "--out", str(tmp_path / "a"), "--weights", str(wrong), *QUICK)
    assert_one_line_error(proc, f"--weights {wrong} does not fit MobileNetV2 (alpha 0.35")
    proc = run_cli(*base, "--out", str(tmp_path / "b"), "--weights", str(tmp_path / "no.h5"))
    assert_one_line_error(proc, "--weights file not found")
    proc = run_cli(*base, "--out", str(tmp_path / "c"), "--weights", "imagenet21k")
    assert_one_line_error(proc, "neither imagenet nor a weights file")
