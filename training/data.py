"""Image folders (one sub-folder per class) and arrays -> seeded splits and tf.data pipelines.

The folder is scanned once: every file is decoded with TensorFlow's own decoder (the one the
pipeline uses), so corrupt files are found, listed and skipped before training instead of
crashing it mid-epoch. The pipeline then streams from disk (datasets larger than memory work),
caches the decoded, resized uint8 images (in memory when small, else in a cache file) and
prefetches.
"""

from __future__ import annotations

import errno
import hashlib
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from training.errors import DataError

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif"}
MEMORY_CACHE_LIMIT = 2 * 1024**3  # decoded bytes; above this the cache goes to a file
#: One seed for the split, the weights' initialisation and the augmentation, so a run repeats.
DEFAULT_SEED = 42
#: Largest class / smallest class from which the loss gets inverse-frequency class weights.
#: Below it the weights would change the loss by less than the batch-to-batch noise, and only
#: make the runs of a nearly balanced folder differ for nothing.
IMBALANCE_THRESHOLD = 1.5
#: Defaults a data source brings over the DataConfig fields': Fashion-MNIST is 28x28 gray, and
#: upscaling or colouring it would only cost training time.
SOURCE_DEFAULTS: dict[str, dict] = {"fashion-mnist": {"input_size": 28, "channels": 1}}


@dataclass
class DatasetReport:
    """What was found in an image folder, shown before training."""

    root: str
    class_names: list[str]
    counts: dict[str, int]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def imbalance(self) -> float:
        """Largest class size / smallest class size (1.0 = balanced)."""
        sizes = [n for n in self.counts.values() if n]
        return max(sizes) / min(sizes) if sizes else 0.0

    def format(self) -> str:
        width = max(len(name) for name in self.class_names)
        lines = [f"dataset {self.root}: {self.total} images in {len(self.class_names)} classes"]
        lines += [f"  {name:<{width}}  {self.counts[name]:>7}" for name in self.class_names]
        if self.imbalance >= IMBALANCE_THRESHOLD:
            lines.append(
                f"  imbalance: largest class is {self.imbalance:.1f}x the smallest "
                "(class weights are applied)"
            )
        if self.skipped:
            lines.append(f"  skipped {len(self.skipped)} files:")
            lines += [f"    {path}: {reason}" for path, reason in self.skipped[:20]]
            if len(self.skipped) > 20:
                lines.append(f"    ... and {len(self.skipped) - 20} more")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            "root": self.root,
            "classes": self.class_names,
            "counts": self.counts,
            "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
        }


def _check_image(path: Path) -> str | None:
    """None if TensorFlow decodes the file, else the reason it cannot."""
    import tensorflow as tf

    try:
        data = path.read_bytes()
    except OSError as exc:
        return f"unreadable ({exc.strerror})"
    if not data:
        return "empty file"
    try:
        image = tf.io.decode_image(data, expand_animations=False)
    except (tf.errors.InvalidArgumentError, tf.errors.UnknownError):
        return "corrupt or not an image"
    if image.shape[0] == 0 or image.shape[1] == 0:
        return "zero-sized image"
    return None


def _check_distinct(root: Path, class_dirs: list[Path]) -> None:
    """Refuse class folders that are links to the data folder (or above it) or to each other:
    their images would be counted again, as another class."""
    real_root = root.resolve()
    seen: dict[Path, str] = {}
    for folder in class_dirs:
        real = folder.resolve()
        if real == real_root or real in real_root.parents:
            raise DataError(
                f"class folder {folder} is a link to the data folder {root} itself",
                "remove the link: each class needs a folder of its own images",
            )
        if real in seen:
            raise DataError(
                f"class folders {seen[real]} and {folder.name} are the same folder ({real})",
                "remove the link: each class needs a folder of its own images",
            )
        seen[real] = folder.name


def _walk_files(folder: Path):
    """``(path, None)`` for each file under ``folder``, sorted, and ``(path, reason)`` for each
    link that leads nowhere (dangling, a loop) or to a folder (not followed: it could loop)."""
    found = []
    for top, dirs, files in os.walk(folder):
        for name in dirs:
            if os.path.islink(os.path.join(top, name)):
                found.append((Path(top, name), "link to a folder (not followed)"))
        for name in files:
            path = Path(top, name)
            try:
                path.stat()
            except OSError as exc:
                reason = "symlink loop" if exc.errno == errno.ELOOP else "dangling link"
                found.append((path, f"{reason} (its target cannot be read)"))
                continue
            if path.is_file():
                found.append((path, None))
    return sorted(found)


def scan_image_folder(
    root: str | Path, min_classes: int = 2
) -> tuple[list[str], list[int], DatasetReport]:
    """List the usable images of ``root/<class>/*`` with their class index.

    Args:
        min_classes: class folders needed (a test folder may hold a single class).

    Returns:
        (paths, labels, report); class index = position in sorted folder names.

    Raises:
        DataError: no folder, no class folders, a single class, or a class with no usable image.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(
            f"dataset folder not found: {root}",
            "give --data DIR with one sub-folder of images per class",
        )
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise DataError(
            f"{root} has no class sub-folders",
            "put each class's images in its own sub-folder: DIR/cat/*.jpg, DIR/dog/*.jpg",
        )
    if len(class_dirs) < min_classes:
        raise DataError(
            f"{root} has a single class ({class_dirs[0].name})",
            "a classifier needs at least two class folders",
        )
    _check_distinct(root, class_dirs)
    paths, labels, skipped = [], [], []
    counts: Counter[str] = Counter()
    for index, folder in enumerate(class_dirs):
        for path, link_problem in _walk_files(folder):
            if link_problem:
                skipped.append((str(path), link_problem))
                continue
            if path.suffix.lower() not in IMAGE_EXTENSIONS:
                skipped.append((str(path), f"not an image file ({path.suffix or 'no extension'})"))
                continue
            reason = _check_image(path)
            if reason:
                skipped.append((str(path), reason))
                continue
            paths.append(str(path))
            labels.append(index)
            counts[folder.name] += 1
    names = [d.name for d in class_dirs]
    report = DatasetReport(str(root), names, {n: counts[n] for n in names}, skipped)
    empty = [n for n in names if counts[n] == 0]
    if empty:
        raise DataError(
            f"class folder(s) with no usable image: {', '.join(empty)}",
            "add images or remove the folder",
        )
    return paths, labels, report


def stratified_split(labels: list[int] | np.ndarray, fraction: float, seed: int):
    """Indices ``(train, held_out)``: ``fraction`` of each class held out, seeded, reproducible."""
    if not 0.0 < fraction < 1.0:
        raise DataError(f"validation fraction must be between 0 and 1, got {fraction}")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    train, held = [], []
    for cls in np.unique(labels):
        idx = np.flatnonzero(labels == cls)
        rng.shuffle(idx)
        n_held = max(1, round(len(idx) * fraction)) if len(idx) > 1 else 0
        held.extend(idx[:n_held])
        train.extend(idx[n_held:])
    return np.sort(np.array(train, dtype=np.int64)), np.sort(np.array(held, dtype=np.int64))


def class_weights(labels, num_classes: int) -> dict[int, float]:
    """Inverse-frequency weights, mean 1 (Keras ``class_weight``)."""
    counts = np.bincount(np.asarray(labels), minlength=num_classes).astype(np.float64)
    weights = np.where(counts > 0, counts.sum() / (num_classes * np.maximum(counts, 1)), 0.0)
    return {i: float(w) for i, w in enumerate(weights)}


def balancing_weights(labels, num_classes: int) -> dict[int, float] | None:
    """:func:`class_weights` if ``labels`` are imbalanced (:data:`IMBALANCE_THRESHOLD`), else
    None: the plain loss."""
    weights = class_weights(labels, num_classes)
    if max(weights.values()) / max(min(weights.values()), 1e-9) < IMBALANCE_THRESHOLD:
        return None
    return weights


def fingerprint(items) -> str:
    """A short SHA-256 over the dataset's identity (paths/sizes or array bytes) and labels."""
    digest = hashlib.sha256()
    for item in items:
        digest.update(item if isinstance(item, bytes) else str(item).encode())
    return digest.hexdigest()[:16]


def folder_fingerprint(paths: list[str], labels: list[int]) -> str:
    return fingerprint(
        f"{p}|{Path(p).stat().st_size}|{y}" for p, y in zip(paths, labels, strict=True)
    )


def files_dataset(paths, labels, size: int, channels: int, cache: str | Path | None = None):
    """tf.data of (uint8 image [size, size, channels], label), decoded and resized, cached.

    Streams from disk; the cache is in memory when the decoded set is small, else the file
    ``cache`` (so an epoch after the first reads no JPEGs).
    """
    import tensorflow as tf

    def load(path, label):
        # Decoded as RGB and then made gray: GIF decoding cannot give one channel.
        image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        if channels == 1:
            image = tf.image.rgb_to_grayscale(image)
        image = tf.image.resize(image, (size, size), antialias=True)
        image = tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)
        image.set_shape((size, size, channels))
        return image, label

    ds = tf.data.Dataset.from_tensor_slices((list(paths), np.asarray(labels, np.int64)))
    ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    decoded_bytes = len(paths) * size * size * channels
    if decoded_bytes <= MEMORY_CACHE_LIMIT or cache is None:
        return ds.cache()
    Path(cache).parent.mkdir(parents=True, exist_ok=True)
    return ds.cache(str(cache))


def arrays_dataset(images: np.ndarray, labels: np.ndarray, size: int, channels: int):
    """tf.data of (uint8 image, label) from in-memory arrays (N, H, W[, C]), resized if needed."""
    import tensorflow as tf

    if images.ndim == 3:
        images = images[..., None]
    ds = tf.data.Dataset.from_tensor_slices((images, np.asarray(labels, np.int64)))
    if images.shape[1:3] != (size, size) or images.shape[3] != channels:

        def fit(image, label):
            if channels == 3 and image.shape[-1] == 1:
                image = tf.image.grayscale_to_rgb(image)
            elif channels == 1 and image.shape[-1] == 3:
                image = tf.image.rgb_to_grayscale(image)
            image = tf.image.resize(image, (size, size), antialias=True)
            return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8), label

        ds = ds.map(fit, num_parallel_calls=tf.data.AUTOTUNE).cache()
    return ds


def batched(ds, batch_size: int, shuffle: bool, seed: int, buffer: int = 10_000):
    """Shuffle (training only, reshuffled each epoch), batch and prefetch."""
    import tensorflow as tf

    if shuffle:
        ds = ds.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


@dataclass(frozen=True)
class DataConfig:
    """Where the data comes from and how it is split (recorded so export/evaluate can redo it)."""

    source: str = "folder"  # folder | fashion-mnist
    data: str | None = None
    test_data: str | None = None
    val_split: float = 0.1
    seed: int = DEFAULT_SEED
    input_size: int = 96
    channels: int = 3
    limit: int | None = None  # use at most this many training images (quick runs, tests)

    @classmethod
    def create(cls, **values) -> DataConfig:
        """A config from ``values``, where None means the default: the source's own
        (:data:`SOURCE_DEFAULTS`), else the field's."""
        values = {k: v for k, v in values.items() if v is not None}
        source = values.get("source", cls.source)
        return cls(**{**SOURCE_DEFAULTS.get(source, {}), **values})


@dataclass
class Splits:
    """Unbatched tf.data datasets of (uint8 image, int label) and what is known about them."""

    class_names: list[str]
    train: object
    val: object
    test: object
    train_labels: np.ndarray
    sizes: dict[str, int]
    fingerprint: str
    report: DatasetReport | None = None
    val_labels: np.ndarray | None = None


def _limit(idx: np.ndarray, limit: int | None, seed: int) -> np.ndarray:
    if limit is None or limit >= len(idx):
        return idx
    return np.sort(np.random.default_rng(seed).choice(idx, limit, replace=False))


def load_splits(cfg: DataConfig, cache_dir: Path | None = None) -> Splits:
    """Build the train / validation / test splits ``cfg`` describes (seeded, reproducible).

    Without ``test_data``, an image folder gives three disjoint stratified splits: test
    (``val_split`` of all), validation (``val_split`` of the rest) and train.
    """
    if cfg.source == "fashion-mnist":
        from training.datasets import FASHION_MNIST_CLASSES, load_fashion_mnist

        (x, y), (x_test, y_test) = load_fashion_mnist(Path(cfg.data) if cfg.data else None)
        train_idx, val_idx = stratified_split(y, cfg.val_split, cfg.seed)
        train_idx = _limit(train_idx, cfg.limit, cfg.seed)
        fp = fingerprint([x.tobytes(), y.tobytes(), x_test.tobytes(), y_test.tobytes()])

        def ds(images, labels):
            return arrays_dataset(images, labels, cfg.input_size, cfg.channels)

        return Splits(
            FASHION_MNIST_CLASSES,
            ds(x[train_idx], y[train_idx]),
            ds(x[val_idx], y[val_idx]),
            ds(x_test, y_test),
            y[train_idx],
            {"train": len(train_idx), "val": len(val_idx), "test": len(y_test)},
            fp,
            val_labels=y[val_idx],
        )
    if cfg.source != "folder":
        raise DataError(
            f"unknown dataset '{cfg.source}'", "use --data DIR or --dataset fashion-mnist"
        )
    if not cfg.data:
        raise DataError("no training data given", "pass --data DIR or --dataset fashion-mnist")
    paths, labels, report = scan_image_folder(cfg.data)
    labels_arr = np.asarray(labels)
    fp = folder_fingerprint(paths, labels)
    if cfg.test_data:
        rest = np.arange(len(labels_arr))
    else:
        # No separate test folder: hold out a test split too, never seen while choosing the
        # best checkpoint, so the reported test accuracy is not optimistic.
        rest, test_idx = stratified_split(labels_arr, cfg.val_split, cfg.seed)
    train_rel, val_rel = stratified_split(labels_arr[rest], cfg.val_split, cfg.seed + 1)
    train_idx, val_idx = _limit(rest[train_rel], cfg.limit, cfg.seed), rest[val_rel]
    cache = Path(cache_dir) if cache_dir else None

    def ds(idx, name):
        # The cache file is keyed by data, split and size: a changed dataset never reuses it.
        key = f"{name}-{fp}-{cfg.seed}-{cfg.input_size}x{cfg.channels}-{len(idx)}"
        if cache is not None:
            for stale in cache.glob(f"{name}-*.lockfile"):  # left by an interrupted first epoch
                stale.unlink(missing_ok=True)
        return files_dataset(
            [paths[i] for i in idx],
            labels_arr[idx],
            cfg.input_size,
            cfg.channels,
            cache / f"{key}.cache" if cache else None,
        )

    train, val = ds(train_idx, "train"), ds(val_idx, "val")
    if cfg.test_data:
        t_paths, t_labels, t_report = scan_image_folder(cfg.test_data)
        if t_report.class_names != report.class_names:
            raise DataError(
                f"{cfg.test_data} has classes {t_report.class_names}, "
                f"the training data {report.class_names}",
                "the test folder needs the same class sub-folders",
            )
        test = files_dataset(t_paths, t_labels, cfg.input_size, cfg.channels)
        n_test = len(t_paths)
    else:
        test, n_test = ds(test_idx, "test"), len(test_idx)
    return Splits(
        report.class_names,
        train,
        val,
        test,
        labels_arr[train_idx],
        {"train": len(train_idx), "val": len(val_idx), "test": n_test},
        fp,
        report,
        labels_arr[val_idx],
    )


def take_samples(ds, limit: int | None = None) -> list[tuple[np.ndarray, int]]:
    """Materialize (uint8 image, label) pairs from an unbatched dataset."""
    ds = ds.take(limit) if limit else ds
    return [(image, int(label)) for image, label in ds.as_numpy_iterator()]
