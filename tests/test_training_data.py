"""Training data: Fashion-MNIST IDX files and download, image folder scan, splits, weights."""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import struct

import numpy as np
import pytest
from conftest import run_cli

from training import datasets
from training.datasets import download_fashion_mnist, load_fashion_mnist, load_idx, parse_idx
from training.errors import DataError


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file (uint8 payload) as the official files are laid out."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def test_idx_round_trip_from_a_gzip_written_by_the_test(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / "x-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes(images)))
    assert np.array_equal(load_idx(path), images)
    digest = hashlib.sha256(idx_bytes(images)).hexdigest()
    assert load_idx(path, digest).shape == (2, 3, 4)
    with pytest.raises(DataError, match="SHA-256"):
        load_idx(path, "0" * 64)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"\x01\x02\x03", "not an IDX file"),
        (bytes([0, 0, 0x08, 2]) + struct.pack(">2I", 2, 2) + b"\x00", "expected 4"),
        (bytes([0, 0, 0x08, 3]) + b"\x00\x00", "truncated"),
    ],
)
def test_bad_idx_files(data, message):
    with pytest.raises(DataError, match=message):
        parse_idx(data)


def _small_fashion(folder):
    """Tiny stand-ins for the four files, and their checksums."""
    rng = np.random.default_rng(0)
    arrays = {
        "train_images": rng.integers(0, 255, (20, 28, 28)),
        "train_labels": np.arange(20) % 10,
        "test_images": rng.integers(0, 255, (10, 28, 28)),
        "test_labels": np.arange(10),
    }
    files = {}
    folder.mkdir(parents=True, exist_ok=True)
    for key, (name, _) in datasets.FILES.items():
        payload = idx_bytes(arrays[key])
        (folder / name).write_bytes(gzip.compress(payload))
        files[key] = (name, hashlib.sha256(payload).hexdigest())
    return arrays, files


def test_download_verifies_checksums_against_a_local_server(tmp_path, http_server, monkeypatch):
    url, _ = http_server
    arrays, files = _small_fashion(tmp_path / "served")
    monkeypatch.setattr(datasets, "FILES", files)
    target = tmp_path / "cache"
    download_fashion_mnist(target, base_url=f"{url}/served/")
    (x, _), (_, yt) = load_fashion_mnist(target)
    assert np.array_equal(x, arrays["train_images"]) and np.array_equal(yt, np.arange(10))

    # A file that does not match its checksum is rejected and not kept.
    bad = dict(files, test_labels=(files["test_labels"][0], "f" * 64))
    monkeypatch.setattr(datasets, "FILES", bad)
    fresh = tmp_path / "cache2"
    with pytest.raises(DataError, match="failed its SHA-256 check"):
        download_fashion_mnist(fresh, base_url=f"{url}/served/")
    assert not (fresh / files["test_labels"][0]).exists()


def test_offline_with_nothing_found_names_the_debian_package(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "DEBIAN_DIR", tmp_path / "nope")
    monkeypatch.setenv("EDGECAM_HOME", str(tmp_path / "cache"))
    with pytest.raises(DataError) as err:
        load_fashion_mnist(download=False)
    assert "dataset-fashion-mnist" in err.value.hint and "--data" in err.value.hint
    with pytest.raises(DataError, match="cannot download"):
        load_fashion_mnist(base_url="http://127.0.0.1:9/")  # nothing listens on port 9


def test_data_dir_missing_files(tmp_path):
    with pytest.raises(DataError, match=r"lacks train-images-idx3-ubyte\.gz"):
        load_fashion_mnist(tmp_path)


def test_train_cli_rejects_bad_arguments(tmp_path):
    proc = run_cli("train", "--out", str(tmp_path / "run"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    if importlib.util.find_spec("tensorflow") is None:
        assert "train needs TensorFlow, which is not installed" in proc.stderr
        return
    assert "edgecam: error: no data given" in proc.stderr
    proc = run_cli("train", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "run"))
    assert "dataset folder not found" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_cli("train", "--data", "x", "--out", "y", "--arch", "resnet")
    assert proc.returncode == 2 and "invalid choice: 'resnet'" in proc.stderr
