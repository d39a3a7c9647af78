"""Image folders: the scan report, corrupt files, splits, class weights, the tf.data pipeline."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from training.errors import DataError

pytest.importorskip("tensorflow", reason="TensorFlow is not installed (runs in .venv-train)")

from training.data import (
    DataConfig,
    class_weights,
    load_splits,
    scan_image_folder,
    stratified_split,
    take_samples,
)


def make_folder(root, counts: dict[str, int], size=24):
    """Synthetic classes with a learnable difference: dark, bright, or striped images."""
    rng = np.random.default_rng(1)
    for cls, n in counts.items():
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            image = rng.integers(0, 40, (size, size, 3)).astype(np.uint8)
            if cls.endswith("bright"):
                image += 180
            elif cls.endswith("striped"):
                image[::4] = 230
            cv2.imwrite(str(root / cls / f"{i}.png"), image)
    return root


def test_scan_reports_counts_skips_and_odd_formats(tmp_path):
    root = make_folder(tmp_path / "data", {"a_dark": 5, "b_bright": 3})
    cv2.imwrite(str(root / "a_dark" / "gray.png"), np.zeros((10, 12), np.uint8))
    cv2.imwrite(str(root / "a_dark" / "rgba.png"), np.zeros((10, 12, 4), np.uint8))
    (root / "b_bright" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 nope")
    (root / "b_bright" / "empty.png").write_bytes(b"")
    (root / "b_bright" / "README.md").write_text("notes")
    paths, labels, report = scan_image_folder(root)
    assert report.class_names == ["a_dark", "b_bright"]
    assert report.counts == {"a_dark": 7, "b_bright": 3}
    assert sorted(labels) == [0] * 7 + [1] * 3 and len(paths) == 10
    reasons = {p.rsplit("/", 1)[1]: r for p, r in report.skipped}
    assert reasons == {
        "broken.jpg": "corrupt or not an image",
        "empty.png": "empty file",
        "README.md": "not an image file (.md)",
    }
    text = report.format()
    assert "skipped 3 files" in text and "imbalance" in text


@pytest.mark.parametrize(
    "counts, message",
    [({}, "no class sub-folders"), ({"only": 2}, "single class")],
)
def test_unusable_folders(tmp_path, counts, message):
    root = make_folder(tmp_path / "d", counts)
    root.mkdir(exist_ok=True)
    with pytest.raises(DataError, match=message):
        scan_image_folder(root)


def test_empty_class_and_missing_folder(tmp_path):
    root = make_folder(tmp_path / "d", {"a": 2, "b": 2})
    (root / "c").mkdir()
    with pytest.raises(DataError, match="no usable image: c"):
        scan_image_folder(root)
    with pytest.raises(DataError, match="dataset folder not found"):
        scan_image_folder(tmp_path / "missing")


def test_split_is_seeded_and_stratified():
    labels = np.array([0] * 50 + [1] * 10)
    train_a, held_a = stratified_split(labels, 0.2, seed=3)
    train_b, held_b = stratified_split(labels, 0.2, seed=3)
    assert np.array_equal(held_a, held_b) and np.array_equal(train_a, train_b)
    assert sorted(labels[held_a].tolist()) == [0] * 10 + [1] * 2
    assert not set(train_a) & set(held_a)
    assert not np.array_equal(stratified_split(labels, 0.2, seed=4)[1], held_a)


def test_class_weights_balance_the_loss():
    weights = class_weights([0, 0, 0, 1], 2)
    assert weights[1] == pytest.approx(3 * weights[0])
    assert (3 * weights[0] + weights[1]) / 4 == pytest.approx(1.0)


def test_load_splits_streams_resized_uint8_images(tmp_path):
    root = make_folder(tmp_path / "d", {"a_dark": 6, "b_bright": 6})
    splits = load_splits(DataConfig(data=str(root), input_size=16, channels=1, val_split=0.25))
    assert splits.sizes == {"train": 6, "val": 2, "test": 4}  # three disjoint splits
    image, label = take_samples(splits.train, 1)[0]
    assert image.shape == (16, 16, 1) and image.dtype == np.uint8 and label in (0, 1)
    assert len(splits.fingerprint) == 16
