"""Small folders: the learnt-nothing gates, evaluate's test folder, the data scan's odd files,
early stopping announced.

Real Keras models and real CLI runs on tiny generated folders; the size-dependent recipe itself
is tested in test_training_config.py and measured by benchmarks/small_data.py.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import types

import cv2
import numpy as np
import pytest
from conftest import assert_one_line_error, run_cli
from test_training_folder import make_folder

pytest.importorskip("tensorflow", reason="TensorFlow is not installed (runs in .venv-train)")

import keras

from training.callbacks import ChanceWatch, chance_level
from training.data import DataConfig, load_splits, scan_image_folder, take_samples
from training.errors import DataError
from training.export import chance_problem

CLASSES = ["a_dark", "b_bright", "c_striped"]
TINY = [
    "--input-size", "24", "--alpha", "0.25", "--depth", "2", "--batch-size", "8",
    "--val-split", "0.25", "--seed", "1", "--no-augment", "--steps-per-epoch", "2",
]  # fmt: skip


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return make_folder(tmp_path_factory.mktemp("data"), dict.fromkeys(CLASSES, 8), size=24)


def test_chance_problem_names_what_is_wrong():
    truth = [0, 0, 1, 1, 2, 2]
    assert "answers class 1 for every one of the 6" in chance_problem(truth, [1] * 6, 3)
    assert "no better than always answering" in chance_problem(truth, [0, 1, 2, 1, 0, 0], 3)
    assert chance_problem(truth, [0, 0, 1, 1, 2, 0], 3) is None  # 5 of 6
    # A test set of one class answered right is no evidence of anything wrong.
    assert chance_problem([2, 2], [2, 2], 3) is None
    assert chance_level([0, 0, 0, 1], 2) == 0.75 and chance_level([], 4) == 0.25


def test_chance_watch_says_so_once_and_when_it_recovers():
    lines = []
    watch = ChanceWatch(chance=1 / 3, margin=0.07, after=3, log=lines.append)
    for epoch, value in enumerate([0.33, 0.33, 0.33, 0.36, 0.8, 0.9]):
        watch.on_epoch_end(epoch, {"val_accuracy": value})
    assert len(lines) == 2
    assert lines[0].startswith("warning: validation accuracy 0.330 after 3 epochs is still at")
    assert lines[1] == "validation accuracy 0.800: above chance level now"


@pytest.fixture(scope="module")
def run_dir(data_dir, tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    proc = run_cli(
        "train", "--data", str(data_dir), "--out", str(run), "--epochs", "20", "--patience", "1",
        *TINY, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    run.joinpath("train.out").write_text(proc.stdout)
    return run


def _single_class_run(run_dir, tmp_path):
    """A copy of a real run folder whose best.keras answers class 0 for every image."""
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    model = keras.models.load_model(run / "best.keras")
    dense = model.get_layer("predictions")
    kernel, _ = dense.get_weights()
    dense.set_weights([np.zeros_like(kernel), np.array([10.0, 0.0, 0.0], np.float32)])
    model.save(run / "best.keras")
    return run


def test_export_refuses_a_model_that_learnt_nothing_unless_forced(run_dir, tmp_path):
    run = _single_class_run(run_dir, tmp_path)
    args = ["export", "--run", str(run), "--mode", "float32", "--no-edgetpu"]
    proc = run_cli(*args, "--out", str(tmp_path / "b"), timeout=300)
    assert_one_line_error(proc, "has learnt nothing", "answers class 0 for every one", "--force")
    assert not (tmp_path / "b").exists()
    proc = run_cli(*args, "--out", str(tmp_path / "b"), "--force", timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "warning: the model has learnt nothing" in proc.stdout
    assert (tmp_path / "b" / "model.tflite").exists()


def test_an_early_stop_is_announced(data_dir, tmp_path):
    # Learning rate 0: the weights never change, and only BatchNorm's moving statistics (nearly
    # the last batch's, at momentum 0.01) move the validation loss, up as often as down.
    proc = run_cli(
        "train", "--data", str(data_dir), "--out", str(tmp_path / "run"), "--epochs", "20",
        "--patience", "1", "--lr", "0", "--bn-momentum", "0.01", *TINY, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    match = re.search(
        r"stopped at epoch (\d+) of 20: validation accuracy \(at equal accuracy, loss\) did "
        r"not improve for 1 epoch\n",
        proc.stdout,
    )
    assert match, proc.stdout[-2000:]
    assert f"done: {match.group(1)} epochs" in proc.stdout


def test_evaluate_takes_a_test_folder_whole(run_dir, data_dir, tmp_path):
    test = make_folder(tmp_path / "test", {"a_dark": 5, "c_striped": 4}, size=30)  # 2 of 3
    out = tmp_path / "report"
    model = str(run_dir / "best.keras")
    proc = run_cli(
        "evaluate", "--model", model, "--run", str(run_dir), "--test-data", str(test),
        "--out", str(out), timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"test set: all 9 usable images of {test}" in proc.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["num_samples"] == 9 and metrics["class_names"] == CLASSES
    assert [c["support"] for c in metrics["per_class"]] == [5, 0, 4]  # the model's class order
    # --data alone is a test folder too: all 24 images, not a held-out tenth of them.
    proc = run_cli(
        "evaluate", "--model", model, "--run", str(run_dir), "--data", str(data_dir),
        "--out", str(tmp_path / "r2"), timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((tmp_path / "r2" / "metrics.json").read_text())["num_samples"] == 24
    # The checkpoint alone, without its run: images sized to the checkpoint's own input.
    proc = run_cli(
        "evaluate", "--model", model, "--data", str(data_dir), "--out", str(tmp_path / "r3"),
        timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((tmp_path / "r3" / "metrics.json").read_text())["num_samples"] == 24
    # The run folder itself: its best checkpoint, on the test folder, with the run's curves.
    proc = run_cli(
        "evaluate", "--model", str(run_dir), "--test-data", str(test),
        "--out", str(tmp_path / "r4"), timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"evaluating {run_dir / 'best.keras'} on 9 test images" in proc.stdout
    assert (tmp_path / "r4" / "curves.png").exists()
    # A class the model does not know is one clear line.
    make_folder(test, {"zebra": 2}, size=30)
    proc = run_cli(
        "evaluate", "--model", model, "--run", str(run_dir), "--test-data", str(test),
        "--out", str(out), timeout=300,
    )  # fmt: skip
    assert_one_line_error(proc, "classes the model does not know: zebra")


def test_classify_a_keras_checkpoint_says_export_first(run_dir, tmp_path):
    image = tmp_path / "x.png"
    cv2.imwrite(str(image), np.zeros((24, 24, 3), np.uint8))
    proc = run_cli("classify", "--model", str(run_dir / "best.keras"), str(image))
    assert_one_line_error(proc, "Keras training checkpoint", f"edgecam export --run {run_dir}")


def test_a_gif_trains_in_one_channel_too(tmp_path):
    root = make_folder(tmp_path / "d", {"a_dark": 3, "b_bright": 3}, size=24)
    gif = root / "a_dark" / "anim.gif"
    # A real GIF (OpenCV cannot write one): a 2-frame palette GIF, written by PIL if present.
    pil = pytest.importorskip("PIL.Image", reason="Pillow writes the GIF")
    frames = [pil.fromarray(np.full((24, 24, 3), v, np.uint8)) for v in (10, 200)]
    frames[0].save(gif, save_all=True, append_images=frames[1:])
    splits = load_splits(DataConfig(data=str(root), input_size=16, channels=1, val_split=0.3))
    images = (
        [img for img, _ in take_samples(splits.train)]
        + [img for img, _ in take_samples(splits.val)]
        + [img for img, _ in take_samples(splits.test)]
    )
    assert len(images) == 7 and all(img.shape == (16, 16, 1) for img in images)


def test_links_that_lead_nowhere_are_listed(tmp_path):
    root = make_folder(tmp_path / "d", {"a_dark": 2, "b_bright": 2})
    os.symlink(root / "a_dark" / "missing.png", root / "a_dark" / "dangling.png")
    os.symlink(root / "b_bright" / "loop.png", root / "b_bright" / "loop.png")
    os.symlink(root / "b_bright", root / "a_dark" / "sub")  # a folder link: not followed
    paths, _, report = scan_image_folder(root)
    assert len(paths) == 4
    reasons = {p.rsplit("/", 1)[1]: r for p, r in report.skipped}
    assert reasons == {
        "dangling.png": "dangling link (its target cannot be read)",
        "loop.png": "symlink loop (its target cannot be read)",
        "sub": "link to a folder (not followed)",
    }
    assert "skipped 3 files" in report.format()


@pytest.mark.parametrize("target", ["root", "sibling"])
def test_a_class_folder_linked_to_the_data_or_another_class_is_refused(tmp_path, target):
    root = make_folder(tmp_path / "d", {"a_dark": 2, "b_bright": 2})
    os.symlink(root if target == "root" else root / "a_dark", root / "c_all")
    message = "is a link to the data folder" if target == "root" else "are the same folder"
    with pytest.raises(DataError, match=message):
        scan_image_folder(root)
    shutil.rmtree(root)


def test_a_tie_in_validation_accuracy_goes_to_the_lower_loss(tmp_path):
    from training.callbacks import PatientStop, best_logged, score

    def epoch(accuracy, loss):
        return score({"val_accuracy": accuracy, "val_loss": loss})

    assert epoch(1.0, 0.2) > epoch(1.0, 0.3) and epoch(0.9, 0.01) < epoch(1.0, 0.5)
    assert score({"accuracy": 1.0}) is None
    log = tmp_path / "training_log.csv"
    rows = ["epoch,accuracy,loss,val_accuracy,val_loss", "0,0.5,1,1.0,0.4", "1,0.9,0.5,1.0,0.2"]
    log.write_text("\n".join([*rows, "2,0.9,0.4,0.875,0.1"]) + "\n")
    assert best_logged(log) == (1.0, -0.2)  # a resumed run keeps the better of the two ties
    stop = PatientStop(2)
    stop.set_model(types.SimpleNamespace(stop_training=False))
    stop.on_train_begin()
    for epoch, loss in enumerate((0.4, 0.3, 0.35, 0.36)):  # all at validation accuracy 1.0
        stop.on_epoch_end(epoch, {"val_accuracy": 1.0, "val_loss": loss})
        assert stop.model.stop_training == (epoch == 3)  # epoch 1 improved: two epochs from it
    assert stop.stopped_epoch == 3
