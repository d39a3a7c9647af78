"""Fashion-MNIST from its IDX files: a --data folder, the Debian package, or a verified download.

Checksums are SHA-256 of the *decompressed* IDX payloads, so they hold whichever gzip the bytes
came in (Debian's ``dataset-fashion-mnist`` re-compresses the official files).
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
import struct
import urllib.request
from pathlib import Path

import numpy as np

from edgecam import defaults
from training.errors import DataError

FASHION_MNIST_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
OFFICIAL_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
FILES = {
    "train_images": ("train-images-idx3-ubyte.gz",
                     "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
    "train_labels": ("train-labels-idx1-ubyte.gz",
                     "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
    "test_images": ("t10k-images-idx3-ubyte.gz",
                    "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
    "test_labels": ("t10k-labels-idx1-ubyte.gz",
                    "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
}  # fmt: skip


def cache_dir() -> Path:
    """Where a downloaded copy is kept: ``fashion-mnist/`` in edgecam's cache folder."""
    return defaults.cache_home() / "fashion-mnist"


_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _read_payload(path: Path) -> bytes:
    with open(path, "rb") as handle:
        gzipped = handle.read(2) == b"\x1f\x8b"  # by content: downloads arrive as *.part
    opener = gzip.open if gzipped else open
    try:
        with opener(path, "rb") as handle:
            return handle.read()
    except (OSError, EOFError) as exc:
        raise DataError(f"cannot read {path}: {exc}", "the file is damaged: delete it") from None


def parse_idx(data: bytes, source: str = "IDX data") -> np.ndarray:
    """Decode an IDX file's bytes (big-endian header: 0, 0, dtype code, ndim; then dims)."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise DataError(f"{source} is not an IDX file", "use the original Fashion-MNIST files")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{source} is truncated (header)", "download the file again")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(data) - header != expected:
        raise DataError(
            f"{source} holds {len(data) - header} bytes of data, expected {expected}",
            "the file is truncated or damaged: download it again",
        )
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)


def load_idx(path: Path, sha256: str | None = None) -> np.ndarray:
    """Read a (gzipped) IDX file, checking the payload's SHA-256 when given."""
    data = _read_payload(path)
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise DataError(
            f"{path} does not match its SHA-256 checksum",
            "the file is damaged or not the official one: delete it and retry",
        )
    return parse_idx(data, str(path))


def _find_dir(data_dir: Path | None) -> Path | None:
    candidates = [data_dir] if data_dir else [DEBIAN_DIR, cache_dir()]
    for folder in candidates:
        if folder and all((folder / name).exists() for name, _ in FILES.values()):
            return folder
    return None


def download_fashion_mnist(target: Path, base_url: str = OFFICIAL_URL, timeout: float = 30) -> Path:
    """Download the four files into ``target``, verifying each before it is kept.

    Raises:
        DataError: no network, or a file fails its checksum (it is then not kept).
    """
    target.mkdir(parents=True, exist_ok=True)
    for name, sha in FILES.values():
        final = target / name
        if final.exists():
            continue
        partial = target / f".{name}.part"
        try:
            with (
                urllib.request.urlopen(base_url + name, timeout=timeout) as response,
                partial.open("wb") as out,
            ):
                shutil.copyfileobj(response, out)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise DataError(f"cannot download {base_url + name} ({exc})", offline_hint()) from None
        try:
            load_idx(partial, sha)
        except DataError:
            partial.unlink(missing_ok=True)
            raise DataError(
                f"{base_url + name} failed its SHA-256 check; nothing was kept",
                "retry later, or install the Debian package",
            ) from None
        partial.replace(final)
    return target


def offline_hint() -> str:
    return (
        "install the Debian package (apt-get install dataset-fashion-mnist) or pass "
        "--data DIR with the four *-ubyte.gz files"
    )


def load_fashion_mnist(
    data_dir: Path | None = None, download: bool = True, base_url: str = OFFICIAL_URL
):
    """Return ``(x_train, y_train), (x_test, y_test)`` as uint8 arrays (N, 28, 28) and labels.

    Looks in ``data_dir``, else the Debian package folder, else the download cache; downloads
    (verified) when allowed and nothing local is found.

    Raises:
        DataError: nothing found and no download possible, or a file is damaged.
    """
    folder = _find_dir(Path(data_dir) if data_dir else None)
    if folder is None and data_dir is not None:
        missing = [n for n, _ in FILES.values() if not (Path(data_dir) / n).exists()]
        raise DataError(f"{data_dir} lacks {', '.join(missing)}", offline_hint())
    if folder is None:
        if not download:
            raise DataError("Fashion-MNIST was not found on this machine", offline_hint())
        folder = download_fashion_mnist(cache_dir(), base_url)
    arrays = {key: load_idx(folder / name, sha) for key, (name, sha) in FILES.items()}
    return (
        (arrays["train_images"], arrays["train_labels"].astype(np.int64)),
        (arrays["test_images"], arrays["test_labels"].astype(np.int64)),
    )
