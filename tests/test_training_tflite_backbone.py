"""Transfer learning from a MobileNet V1 .tflite (``--base mobilenet_v1 --weights FILE.tflite``).

A Keras MobileNet with random weights and random BatchNorm statistics is converted to a float
.tflite (the converter folds each BatchNorm into its convolution); a fresh backbone loaded from
that file must compute what the first one computed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_one_line_error, run_cli
from model_server import entry, write_catalogue
from test_training_folder import make_folder

pytest.importorskip("tensorflow", reason="TensorFlow is not installed (runs in .venv-train)")

import keras
import tensorflow as tf

from training.commands import _pretrained_input
from training.model import weights_argument
from training.tflite_backbone import load_into, read_convolutions

SHARED = Path(__file__).resolve().parents[2] / "shared" / "models"
EMBEDDER = SHARED / "mobilenet_v1_1.0_224_quant_embedding_extractor.tflite"
QUICK = [
    "--batch-size", "8", "--steps-per-epoch", "2", "--val-split", "0.25", "--no-augment",
    "--patience", "0", "--epochs", "1", "--input-size", "32",
]  # fmt: skip


def _backbone(alpha: float, size: int, seed: int):
    keras.utils.set_random_seed(seed)
    return keras.applications.MobileNet(
        input_shape=(size, size, 3), alpha=alpha, include_top=False, weights=None
    )


def _randomize_batchnorms(model, seed: int) -> None:
    """Random gamma and beta, and moving statistics measured on a batch of random images: with
    random statistics too, 27 layers of random weights give the same features for any input."""
    rng = np.random.default_rng(seed)
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in norms:
        n = layer.gamma.shape[0]
        layer.gamma.assign(rng.uniform(0.5, 1.5, n))
        layer.beta.assign(rng.normal(0, 0.1, n))
        layer.momentum = 0.0  # one training-mode pass sets the moving statistics to the batch's
    size = model.input_shape[1]
    tint = rng.uniform(-1, 1, (64, 1, 1, 3))  # dark to bright, as the test folders' images
    model(np.clip(tint + rng.normal(0, 0.3, (64, size, size, 3)), -1, 1), training=True)
    for layer in norms:
        layer.momentum = 0.99


@pytest.fixture(scope="module")
def v1_file(tmp_path_factory):
    """(a MobileNet V1 alpha 0.25 at 32 px as a float .tflite, the Keras backbone it came from)."""
    source = _backbone(0.25, 32, seed=1)
    _randomize_batchnorms(source, seed=2)
    path = tmp_path_factory.mktemp("v1") / "mobilenet_v1_025.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(source).convert())
    return path, source


def test_a_backbone_loaded_from_a_tflite_computes_what_the_file_computes(v1_file):
    path, source = v1_file
    loaded = _backbone(0.25, 32, seed=9)  # other random weights, overwritten by the file's
    assert load_into(loaded, path) == 27  # the stem and 13 depthwise-separable blocks
    x = np.random.default_rng(3).uniform(-1, 1, (4, 32, 32, 3)).astype(np.float32)
    expected = source.predict(x, verbose=0)
    got = loaded.predict(x, verbose=0)
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-4)
    assert not np.allclose(_backbone(0.25, 32, seed=9).predict(x, verbose=0), expected, atol=1e-2)
    # Without --input-size, train uses the size the file was made for.
    given = argparse.Namespace(base="mobilenet_v1", input_size=None, weights=str(path))
    assert _pretrained_input(given) == 32
    assert _pretrained_input(argparse.Namespace(**{**vars(given), "input_size": 64})) is None


def test_train_starts_from_the_files_weights(v1_file, tmp_path):
    path, _ = v1_file
    data = make_folder(tmp_path / "data", {"a_dark": 6, "b_bright": 6}, size=32)
    run = tmp_path / "run"
    proc = run_cli(
        "train",
        "--data",
        str(data),
        "--out",
        str(run),
        "--base",
        "mobilenet_v1",
        "--weights",
        str(path),
        *QUICK,
        timeout=300,
    )  # fmt: skip  (no --alpha: the file's, 0.25)
    assert proc.returncode == 0, proc.stderr
    model = keras.models.load_model(run / "best.keras")
    backbone = next(layer for layer in model.layers if isinstance(layer, keras.Model))
    stem = read_convolutions(path)[0][1]
    np.testing.assert_array_equal(backbone.get_layer("conv1").get_weights()[0], stem)


def test_a_tflite_that_does_not_fit_is_one_line(v1_file, tmp_path):
    path, _ = v1_file
    data = make_folder(tmp_path / "data", {"a_dark": 4, "b_bright": 4}, size=32)
    base = ["train", "--data", str(data), *QUICK, "--weights", str(path)]
    proc = run_cli(*base, "--out", str(tmp_path / "a"), "--base", "mobilenet_v1", "--alpha", "1")
    assert_one_line_error(proc, "does not fit conv1")
    proc = run_cli(*base, "--out", str(tmp_path / "b"), "--base", "mobilenet_v2")
    assert_one_line_error(proc, "a .tflite gives the weights of --base mobilenet_v1 only")
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"not a model at all")
    proc = run_cli(*base[:-1], str(junk), "--out", str(tmp_path / "c"), "--base", "mobilenet_v1")
    assert_one_line_error(proc, f"--weights {junk}")


@pytest.mark.skipif(not EMBEDDER.exists(), reason="../shared/models has no MobileNet V1 embedder")
def test_the_catalogue_embedder_gives_its_features_to_keras():
    backbone = _backbone(1.0, 224, seed=0)
    load_into(backbone, EMBEDDER)
    pooled = keras.Sequential([backbone, keras.layers.GlobalAveragePooling2D()])
    interpreter = tf.lite.Interpreter(model_path=str(EMBEDDER))
    interpreter.allocate_tensors()
    given, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    scale, zero = out["quantization"]
    rng = np.random.default_rng(0)
    for _ in range(3):
        image = rng.integers(0, 256, (224, 224, 3)).astype(np.uint8)
        interpreter.set_tensor(given["index"], image[None])
        interpreter.invoke()
        reference = (interpreter.get_tensor(out["index"]).astype(np.float32).ravel() - zero) * scale
        ours = pooled.predict(image[None].astype(np.float32) / 127.5 - 1, verbose=0)[0]
        cosine = ours @ reference / np.linalg.norm(ours) / np.linalg.norm(reference)
        assert cosine > 0.9  # 8-bit activations in the file, float here (measured 0.93-0.97)


def test_a_small_folder_starts_from_the_downloaded_embedder(v1_file, tmp_path, monkeypatch):
    path, _ = v1_file
    listed = entry("embedder-mobilenet-v1", "http://127.0.0.1:9/no", path.read_bytes())
    monkeypatch.setenv("EDGECAM_CATALOGUE", str(write_catalogue(tmp_path / "c.json", [listed])))
    monkeypatch.setenv("EDGECAM_HOME", str(tmp_path / "home"))
    data = make_folder(tmp_path / "data", {"a_dark": 6, "b_bright": 6}, size=32)
    train = ["train", "--data", str(data), *QUICK]
    scratch = run_cli(*train, "--out", str(tmp_path / "scratch"), timeout=300)
    assert scratch.returncode == 0, scratch.stderr
    assert "`edgecam models pull embedder-mobilenet-v1` once" in scratch.stdout
    pull = run_cli("models", "pull", "embedder-mobilenet-v1", "--from", str(path))
    assert pull.returncode == 0, pull.stderr
    installed = tmp_path / "home" / "models" / "embedder-mobilenet-v1" / "model.tflite"
    assert weights_argument("embedder-mobilenet-v1") == str(installed)  # --weights NAME
    run = tmp_path / "run"
    augmented = [flag for flag in train if flag != "--no-augment"]
    proc = run_cli(*augmented, "--out", str(run), timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "starting from the pretrained mobilenet_v1 of embedder-mobilenet-v1" in proc.stdout
    recipe = json.loads((run / "recipe.json").read_text())
    assert not any(recipe["augmentation"].values())  # off on the frozen backbone, unasked
    model = keras.models.load_model(run / "best.keras")
    backbone = next(layer for layer in model.layers if isinstance(layer, keras.Model))
    stem = read_convolutions(path)[0][1]
    np.testing.assert_array_equal(backbone.get_layer("conv1").get_weights()[0], stem)
    own = run_cli(*train, "--out", str(tmp_path / "own"), "--from-scratch", timeout=300)
    assert own.returncode == 0 and "starting from" not in own.stdout


@pytest.fixture(scope="module")
def v1_uint8_file(v1_file):
    """The same backbone quantized to 8 bits (uint8 input and output, as the embedder is)."""
    path, source = v1_file
    converter = tf.lite.TFLiteConverter.from_keras_model(source)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    rng = np.random.default_rng(4)
    converter.representative_dataset = lambda: (
        [rng.uniform(-1, 1, (1, 32, 32, 3)).astype(np.float32)] for _ in range(20)
    )
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.uint8
    converter.inference_output_type = tf.uint8
    quantized = path.with_name("mobilenet_v1_025_uint8.tflite")
    quantized.write_bytes(converter.convert())
    return quantized


def _file_features(path: Path, image: np.ndarray) -> np.ndarray:
    """The file's own pooled features of ``image`` (RGB uint8), dequantized."""
    interpreter = tf.lite.Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    given, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    interpreter.set_tensor(given["index"], image[None])  # its 8-bit input takes the pixel
    interpreter.invoke()
    scale, zero = out["quantization"]
    features = (interpreter.get_tensor(out["index"]).astype(np.float32) - zero) * scale
    return features.reshape(-1, features.shape[-1]).mean(axis=0)  # [1, h, w, D] or [1, D]


def _file_scores(path: Path, image: np.ndarray, kernel: np.ndarray, bias: np.ndarray):
    """The file's own features of ``image`` through the dense head, in numpy."""
    logits = _file_features(path, image) @ kernel + bias
    return np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()


def _train_and_export_int8(weights: Path, tmp_path: Path, *extra: str):
    """(run, bundle, the export's process) of a quick run from ``weights``, exported int8."""
    data = make_folder(tmp_path / "data", {"a_dark": 6, "b_bright": 6}, size=32)
    run, bundle = tmp_path / "run", tmp_path / "bundle"
    proc = run_cli(
        "train", "--data", str(data), "--out", str(run), "--base", "mobilenet_v1",
        "--weights", str(weights), *QUICK, *extra, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    _train_and_export_int8.output = proc.stdout + proc.stderr  # the train command's
    proc = run_cli(
        "export", "--run", str(run), "--out", str(bundle), "--mode", "int8", "--force",
        timeout=300,
    )  # fmt: skip
    return run, bundle, proc


def test_int8_export_of_a_frozen_backbone_is_the_files_own_graph_and_the_head(
    v1_uint8_file, tmp_path
):
    from edgecam.bundle import resolve_model
    from edgecam.config import ClassifierOptions
    from edgecam.teach.graph import ModelGraph
    from edgecam.vision.classifier import Classifier

    run, bundle, proc = _train_and_export_int8(v1_uint8_file, tmp_path)
    assert "own 8-bit graph (frozen in training)" in proc.stdout, proc.stdout + proc.stderr
    spec = resolve_model(bundle).spec
    assert spec.quantization.startswith("8-bit backbone of mobilenet_v1_025_uint8.tflite")
    own = ModelGraph.read(v1_uint8_file.read_bytes()).op_names
    made = ModelGraph.read((bundle / "model.tflite").read_bytes()).op_names
    # The file's ops up to its pooled output (a MEAN here), then the head in float.
    assert made[-4:] == ["DEQUANTIZE", "RESHAPE", "FULLY_CONNECTED", "SOFTMAX"]
    assert made[:-4] == own[: len(made) - 4]
    model = keras.models.load_model(run / "best.keras")
    kernel, bias = model.get_layer("predictions").get_weights()
    image = np.random.default_rng(5).integers(0, 256, (32, 32, 3)).astype(np.uint8)
    with Classifier(ClassifierOptions(model=bundle, delegate="cpu", top_k=2)) as clf:
        result = clf.classify(image[..., ::-1].copy())  # the classifier takes BGR frames
        got = {c.label: c.score for c in result.categories}
    expected = _file_scores(v1_uint8_file, image, kernel, bias)
    for c, name in enumerate(spec.classes):
        assert got[name] == pytest.approx(float(expected[c]), abs=1e-5)


def test_the_head_of_a_frozen_8bit_backbone_trains_on_the_files_own_features(
    v1_uint8_file, tmp_path
):
    """The head trains on the file's own features (what the int8 bundle computes), embedded
    once and cached in the run; it is then refitted on the training and validation images for
    the best epoch's count."""
    from training.data import DataConfig, batched, load_splits, take_samples
    from training.file_features import embedded

    run, _, _ = _train_and_export_int8(
        v1_uint8_file, tmp_path, "--epochs", "3", "--steps-per-epoch", "10", "--lr", "0.05"
    )
    output = _train_and_export_int8.output
    assert "frozen, on the file's own 8-bit features" in output, output
    splits = load_splits(DataConfig(**json.loads((run / "dataset.json").read_text())["config"]))
    val = take_samples(splits.val)
    lines: list[str] = []
    ((x, y),) = embedded(
        v1_uint8_file, [batched(splits.val, 4, False, 0)], run / "cache", lines.append
    )
    assert f"(0 embedded, {len(val)} from the cache)" in lines[0]  # the run embedded them
    for (image, label), features, got in zip(val, x, y, strict=True):
        assert got == label
        np.testing.assert_allclose(features, _file_features(v1_uint8_file, image), atol=1e-6)
    rows = [line.split(",") for line in (run / "training_log.csv").read_text().splitlines()[1:]]
    # The first epoch of the best (val_accuracy, -val_loss), as the checkpoint keeps it.
    chosen = max(rows, key=lambda r: (float(r[3]), -float(r[4]), -int(r[0])))
    said = f"together, for all 3 epochs (validation's best was epoch {int(chosen[0]) + 1}, at "
    assert said in output, output
    model = keras.models.load_model(run / "best.keras")
    kernel, bias = model.get_layer("predictions").get_weights()
    refitted = np.mean([-np.log(_file_scores(v1_uint8_file, im, kernel, bias)[c]) for im, c in val])
    assert refitted < float(chosen[4])  # it has seen the validation images since


def test_int8_export_of_a_fine_tuned_backbone_is_quantized_anew(v1_uint8_file, tmp_path):
    from edgecam.bundle import resolve_model

    _, bundle, proc = _train_and_export_int8(v1_uint8_file, tmp_path, "--fine-tune-epochs", "1")
    assert "is no longer exactly" in proc.stdout, proc.stdout + proc.stderr
    assert resolve_model(bundle).spec.quantization == "int8"
