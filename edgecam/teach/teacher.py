"""The Teacher: images in, embeddings cached by content, a fitted head, a bundle out.

Example:
    with Teacher("mobilenet_v1_1.0_224_quant_embedding_extractor.tflite") as teacher:
        teacher.add_folder("photos/")            # or teacher.add_images("mug", [bgr, ...])
        report = teacher.fit()
        print(report.format())
        teacher.export("bundles/mine")

Embeddings are cached per image content (sha256 of the file's bytes, or of the array) and per
embedder (sha256 of the model and the preprocessing), in memory and, with ``cache_dir``, in one
``.npz`` per embedder: adding images or a class embeds only what is new. The train/validation
split is decided per image from its hash, so an image stays on its side when others are added.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgecam import defaults
from edgecam.bundle import (
    BUNDLE_EDGETPU_MODEL,
    BUNDLE_LABELS,
    BUNDLE_MODEL,
    BUNDLE_SPEC,
    BundleSpec,
    InputSpec,
    Metrics,
    OutputSpec,
    check_bundle_target,
    resolve_model,
)
from edgecam.config import Delegate, ResizeMode, Runtime
from edgecam.errors import ConfigError, EdgecamError, ImageError, ModelError
from edgecam.files import new_staging_dir, recover_dir, replace_dir
from edgecam.teach.augment import augment
from edgecam.teach.embedder import EmbedderGraph, head_graph, read_embedder
from edgecam.teach.head import FitConfig, Head, fit_head

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
#: Fewer images than this in a class: all of them train (none held out for validation).
MIN_FOR_VALIDATION = 5
#: Images per class kept to check the exported model against the numpy head.
_CHECK_PER_CLASS = 3
_CHECK_TOLERANCE = 1e-4


class TeachError(EdgecamError):
    """Teaching failed: no classes, an unusable folder, an export that does not match."""


@dataclass(frozen=True)
class TeachOptions:
    """How a Teacher embeds and fits.

    Attributes:
        cache_dir: where embeddings are kept between runs (None: memory only).
        resize: how an image is fitted to the embedder's input (None: the embedder's bundle's,
            else stretch).
        runtime: the interpreter package.
        threads: CPU threads for the embedder.
        augment: extra augmented copies of each training image (flips, crops, colour).
        validation: the fraction of each class's images held out (classes with fewer than
            :data:`MIN_FOR_VALIDATION` images keep all of them for training).
        seed: for the split and the augmentations.
        fit: the head's fitting.
        cut: the embedding tensor (name or index); None decides from the graph.
    """

    cache_dir: Path | None = None
    resize: ResizeMode | None = None
    runtime: Runtime = Runtime.AUTO
    threads: int | None = None
    augment: int = 0
    validation: float = 0.2
    seed: int = 0
    fit: FitConfig = field(default_factory=FitConfig)
    cut: str | None = None

    def __post_init__(self) -> None:
        if self.resize is not None:
            object.__setattr__(self, "resize", ResizeMode.parse(self.resize))
        object.__setattr__(self, "runtime", Runtime.parse(self.runtime))
        if self.cache_dir is not None:
            object.__setattr__(self, "cache_dir", Path(self.cache_dir).expanduser())
        if not 0 <= self.augment <= 50:
            raise ConfigError(f"--augment must be between 0 and 50, got {self.augment}")
        if not 0 <= self.validation < 1:
            raise ConfigError(f"--validation must be in [0, 1), got {self.validation}")


@dataclass
class _Sample:
    key: str  # content hash
    label: int
    embedding: np.ndarray
    augmented: list[np.ndarray] = field(default_factory=list)
    validation: bool = False


@dataclass(frozen=True)
class ClassReport:
    name: str
    train: int
    validation: int
    correct: int  # on validation, or on training when there is no validation
    scored: int

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.scored if self.scored else None


@dataclass(frozen=True)
class TeachReport:
    """What :meth:`Teacher.fit` did and measured."""

    classes: tuple[ClassReport, ...]
    train_accuracy: float
    validation_accuracy: float | None
    train_samples: int  # augmented copies included
    validation_samples: int
    fit_seconds: float
    embedded: int  # embeddings computed for this fit and the adds before it
    cached: int  # embeddings found in the cache
    embedder: str

    def format(self) -> str:
        """The report as text: the accuracies and a per-class table."""
        val = (
            f"{100 * self.validation_accuracy:.1f}% on {self.validation_samples} held-out images"
            if self.validation_accuracy is not None
            else "no validation images (--validation 0, or under 5 images per class)"
        )
        scored_on = "validation" if self.validation_accuracy is not None else "train"
        lines = [
            f"embedder: {self.embedder}",
            f"embeddings: {self.embedded} computed, {self.cached} from the cache",
            f"head fitted on {self.train_samples} images in {self.fit_seconds:.2f} s",
            f"train accuracy {100 * self.train_accuracy:.1f}%, validation {val}",
            "",
            f"{'class':<20} {'train':>6} {'val':>5} {scored_on + ' accuracy':>20}",
        ]
        for c in self.classes:
            acc = f"{100 * c.accuracy:.1f}% ({c.correct}/{c.scored})" if c.scored else "-"
            lines.append(f"{c.name[:20]:<20} {c.train:>6} {c.validation:>5} {acc:>20}")
        return "\n".join(lines)

    def to_json(self) -> dict:
        return {
            "train_accuracy": self.train_accuracy,
            "validation_accuracy": self.validation_accuracy,
            "train_samples": self.train_samples,
            "validation_samples": self.validation_samples,
            "fit_seconds": round(self.fit_seconds, 4),
            "classes": [dataclasses.asdict(c) for c in self.classes],
        }


def _hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def array_key(image: np.ndarray) -> str:
    """The content hash of a decoded image (its shape and pixels)."""
    image = np.ascontiguousarray(image)
    return _hash(repr((image.shape, image.dtype.str)).encode() + image.tobytes())


class Teacher:
    """Few-shot learning on a pretrained embedder, without TensorFlow (see the module docstring).

    Not thread-safe. Close it (or use ``with``) to release the embedder.
    """

    def __init__(self, embedder: str | Path, options: TeachOptions | None = None) -> None:
        self.options = options or TeachOptions()
        files = resolve_model(embedder)
        # A bundle with an Edge TPU model (a catalogue twin): the head goes on both models.
        self.embedder_path = files.edgetpu_model or files.model
        self._cpu_twin = files.model if files.edgetpu_model else None
        self.embedder = read_embedder(self.embedder_path, self.options.cut)
        self._spec = files.spec
        self.cpu_embedder: EmbedderGraph | None = None  # the CPU twin of an Edge TPU model
        self._engine = None
        self._preprocess = None
        self.classes: list[str] = []
        self._samples: dict[str, _Sample] = {}
        self._checks: dict[int, list[np.ndarray]] = {}
        self.head: Head | None = None
        self.report: TeachReport | None = None
        self.embedded = 0
        self.cached = 0
        self._cache: dict[str, np.ndarray] = {}
        self._cache_dirty = False
        self._open_engine()
        self._cache_id = self._cache_identity()
        self._load_cache()

    # -- the embedder ---------------------------------------------------------------------------

    def _open_engine(self) -> None:
        from edgecam.runtime.engine import EngineOptions, open_engine
        from edgecam.vision.preprocess import Preprocessor

        model = self.embedder
        delegate = Delegate.CPU
        if model.edgetpu:
            twin = self._cpu_twin or self.embedder_path.with_name(
                self.embedder_path.name.replace("_edgetpu.tflite", ".tflite")
            )
            if twin != self.embedder_path and twin.exists():
                self.cpu_embedder = read_embedder(twin, self.options.cut)
                if self.cpu_embedder.dim != model.dim:
                    raise ModelError(
                        f"{twin} is not the CPU version of {self.embedder_path}",
                        "give the Edge TPU model and its own CPU model side by side",
                    )
                cpu_q, tpu_q = self.cpu_embedder.tensor, model.tensor
                if (cpu_q.scale, cpu_q.zero_point) != (tpu_q.scale, tpu_q.zero_point):
                    log.warning(
                        "%s and %s quantize the embedding differently: the Edge TPU model's "
                        "scores will differ from the CPU model's",
                        twin.name,
                        self.embedder_path.name,
                    )
                log.info("embedding on the CPU with %s (the Edge TPU model's twin)", twin.name)
                model = self.cpu_embedder
            else:
                delegate = Delegate.EDGETPU
        self._cpu_model = model
        fd, name = tempfile.mkstemp(prefix="edgecam-embedder-", suffix=".tflite")
        os.close(fd)
        self._tmp_model = Path(name)
        self._tmp_model.write_bytes(model.embedder_model())
        files = resolve_model(self._tmp_model)
        try:
            self._engine = open_engine(
                files,
                EngineOptions(
                    delegate=delegate, runtime=self.options.runtime, threads=self.options.threads
                ),
            )
        except EdgecamError as exc:
            self._tmp_model.unlink(missing_ok=True)
            if delegate is Delegate.EDGETPU:
                raise ModelError(
                    f"{self.embedder_path} is compiled for the Edge TPU and no Edge TPU "
                    f"could run it ({exc.message})",
                    "connect a Coral, or put the CPU version "
                    f"({self.embedder_path.name.replace('_edgetpu', '')}) next to it",
                ) from None
            raise
        spec = self._spec
        self.resize = self.options.resize or (spec.resize if spec else None) or ResizeMode.STRETCH
        self.normalization = spec.normalization if spec else None
        self.color_order = spec.color_order if spec else "RGB"
        self._preprocess = Preprocessor(
            self._engine.inputs[0], self.normalization, self.resize, self.color_order
        )
        out = self._engine.outputs[0]
        self._out_scale, self._out_zero = out.scale, out.zero_point
        self._out_quantized = out.quantized

    def _cache_identity(self) -> str:
        parts = [
            _hash(self._cpu_model.graph.data),
            str(self._cpu_model.embedding),
            self.resize.value,
            repr(self.normalization),
            self.color_order,
        ]
        return _hash("|".join(parts).encode())[:24]

    def _embed(self, image: np.ndarray) -> np.ndarray:
        raw = self._engine.run(self._preprocess(image))
        vector = raw.reshape(-1)
        if self._out_quantized:
            # As DEQUANTIZE computes it: scale * (q - zero_point), in float32.
            return (
                np.float32(self._out_scale) * (vector.astype(np.int32) - self._out_zero)
            ).astype(np.float32)
        return vector.astype(np.float32)

    def embed(self, images: Iterable[np.ndarray], cached: bool = False) -> np.ndarray:
        """The embeddings ``(N, dim)`` of BGR uint8 images, as the head sees them (dequantized).

        ``cached``: keep them in the cache by content, to reuse on a later call or run (a
        training run's images; not every frame of a video).
        """
        vectors = [
            self._embedding(array_key(im), lambda im=im: im) if cached else self._embed(im)
            for im in images
        ]
        return np.stack(vectors) if vectors else np.zeros((0, self.embedder.dim), np.float32)

    def _embedding(self, key: str, image_fn) -> np.ndarray:
        cached = self._cache.get(key)
        if cached is not None:
            self.cached += 1
            return cached
        vector = self._embed(image_fn())
        self._cache[key] = vector
        self._cache_dirty = True
        self.embedded += 1
        return vector

    # -- the cache ------------------------------------------------------------------------------

    @property
    def cache_file(self) -> Path | None:
        d = self.options.cache_dir
        return d / f"embeddings-{self._cache_id}.npz" if d is not None else None

    def _load_cache(self) -> None:
        path = self.cache_file
        if path is None or not path.exists():
            return
        try:
            with np.load(path, allow_pickle=False) as data:
                keys, vectors = data["keys"], data["vectors"]
            self._cache.update(zip((str(k) for k in keys), vectors.astype(np.float32), strict=True))
        except (OSError, KeyError, ValueError) as exc:
            log.warning("ignoring the unreadable embedding cache %s (%s)", path, exc)

    def save_cache(self) -> None:
        """Write new embeddings to the cache file (atomically); a no-op without ``cache_dir``."""
        path = self.cache_file
        if path is None or not self._cache_dirty or not self._cache:
            return
        from edgecam.files import atomic_write

        keys = np.array(sorted(self._cache))
        vectors = np.stack([self._cache[k] for k in keys])

        def write(tmp: Path) -> None:
            with tmp.open("wb") as handle:
                np.savez(handle, keys=keys, vectors=vectors)

        atomic_write(path, write)
        self._cache_dirty = False

    # -- adding images --------------------------------------------------------------------------

    def _class_index(self, label: str) -> int:
        label = str(label).strip()
        if not label:
            raise ConfigError("a class needs a name")
        if label not in self.classes:
            self.classes.append(label)
        return self.classes.index(label)

    def add_images(self, label: str, images: Iterable[np.ndarray | str | Path]) -> int:
        """Add images (BGR uint8 arrays, or image files) of class ``label``; returns how many
        were new. An image already added (same content) is not added twice.

        Raises:
            ImageError: a file is not a readable image (use :meth:`add_folder` to skip those).
        """
        from edgecam.vision.classifier import read_image

        index = self._class_index(label)
        added = 0
        for image in images:
            if isinstance(image, str | Path):
                path = Path(image)
                try:
                    key = _hash(path.read_bytes())
                except OSError:
                    read_image(path)  # the clear error for a missing or unreadable file
                    raise
                loader = _cached_loader(lambda p=path: read_image(p))
            else:
                if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.size == 0:
                    raise ImageError("an image must be a non-empty uint8 array (BGR)")
                key = array_key(image)
                loader = _cached_loader(lambda im=image: im)
            if key in self._samples:
                if self._samples[key].label != index:
                    log.warning(
                        "the same image is in %s and %s: kept in %s",
                        self.classes[self._samples[key].label],
                        label,
                        self.classes[self._samples[key].label],
                    )
                continue
            sample = _Sample(key, index, self._embedding(key, loader))
            sample.validation = self._is_validation(key)
            if not sample.validation:
                for i in range(self.options.augment):
                    aug_key = f"{key}#aug{i}.{self.options.seed}"
                    sample.augmented.append(
                        self._embedding(
                            aug_key,
                            lambda ld=loader, i=i, k=key: augment(ld(), _seed(k, i, self.options)),
                        )
                    )
            self._samples[key] = sample
            checks = self._checks.setdefault(index, [])
            if len(checks) < _CHECK_PER_CLASS:
                checks.append(loader())
            added += 1
        self.head = None
        return added

    def add_folder(self, folder: str | Path) -> dict[str, int]:
        """Add every image of ``folder/<class>/``; unreadable files are skipped with a warning.

        Returns the number of new images per class.

        Raises:
            TeachError: the folder is missing or has no class sub-folders with images.
        """
        folder = Path(folder).expanduser()
        if not folder.is_dir():
            raise TeachError(f"data folder not found: {folder}", "give a folder of class folders")
        counts: dict[str, int] = {}
        for class_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
            if class_dir.name.startswith("."):
                continue
            files = sorted(
                p
                for p in class_dir.rglob("*")
                if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
            )
            if not files:
                continue
            good = 0
            for path in files:
                try:
                    good += self.add_images(class_dir.name, [path])
                except ImageError as exc:
                    log.warning("skipped %s: %s", path, exc.message)
            counts[class_dir.name] = good
        if not counts:
            raise TeachError(
                f"{folder} has no class folders with images",
                "lay it out as FOLDER/<class name>/*.jpg, one folder per class",
            )
        return counts

    def remove_class(self, label: str) -> None:
        """Forget class ``label`` and its images (their embeddings stay cached)."""
        if label not in self.classes:
            return
        index = self.classes.index(label)
        self._samples = {
            k: dataclasses.replace(s, label=s.label - (s.label > index))
            for k, s in self._samples.items()
            if s.label != index
        }
        self._checks = {c - (c > index): v for c, v in self._checks.items() if c != index}
        self.classes.pop(index)
        self.head = None

    def _is_validation(self, key: str) -> bool:
        digest = hashlib.sha256(f"{self.options.seed}:{key}".encode()).digest()
        return int.from_bytes(digest[:4], "big") / 2**32 < self.options.validation

    # -- fitting --------------------------------------------------------------------------------

    def _split(self) -> tuple[list[_Sample], list[_Sample]]:
        train, val = [], []
        for c in range(len(self.classes)):
            samples = [s for s in self._samples.values() if s.label == c]
            if len(samples) < MIN_FOR_VALIDATION:
                train += samples
                continue
            held = [s for s in samples if s.validation]
            kept = [s for s in samples if not s.validation]
            if not kept:  # every image hashed to validation: train on one
                kept, held = held[:1], held[1:]
            train += kept
            val += held
        return train, val

    def fit(self) -> TeachReport:
        """Fit the head on the images added so far; returns (and keeps) the report.

        Raises:
            TeachError: fewer than two classes, or a class without images.
        """
        counts = [
            sum(s.label == c for s in self._samples.values()) for c in range(len(self.classes))
        ]
        if len(self.classes) < 2:
            raise TeachError(
                f"teach needs at least two classes, it has {len(self.classes)}",
                "add a folder (or images) for each class",
            )
        empty = [self.classes[c] for c, n in enumerate(counts) if n == 0]
        if empty:
            raise TeachError(f"class {empty[0]!r} has no images", "add images or remove the class")
        train, val = self._split()
        x = np.stack([v for s in train for v in [s.embedding, *s.augmented]])
        y = np.array([s.label for s in train for _ in range(1 + len(s.augmented))])
        t0 = time.perf_counter()
        head = fit_head(x, y, len(self.classes), self.options.fit)
        fit_seconds = time.perf_counter() - t0
        self.head = head
        train_plain = np.stack([s.embedding for s in train])
        train_pred = head.predict(train_plain)
        train_y = np.array([s.label for s in train])
        if val:
            val_pred = head.predict(np.stack([s.embedding for s in val]))
            val_y = np.array([s.label for s in val])
            scored_pred, scored_y = val_pred, val_y
        else:
            scored_pred, scored_y = train_pred, train_y
        classes = tuple(
            ClassReport(
                name,
                train=int(np.sum(train_y == c)),
                validation=sum(s.label == c for s in val),
                correct=int(np.sum((scored_pred == c) & (scored_y == c))),
                scored=int(np.sum(scored_y == c)),
            )
            for c, name in enumerate(self.classes)
        )
        self.report = TeachReport(
            classes=classes,
            train_accuracy=float(np.mean(train_pred == train_y)),
            validation_accuracy=float(np.mean(val_pred == val_y)) if val else None,
            train_samples=len(y),
            validation_samples=len(val),
            fit_seconds=fit_seconds,
            embedded=self.embedded,
            cached=self.cached,
            embedder=f"{self.embedder_path.name}, {self.embedder.describe()}",
        )
        self.save_cache()
        return self.report

    def scores(self, images: Iterable[np.ndarray]) -> np.ndarray:
        """The numpy head's class probabilities for BGR images (after :meth:`fit`)."""
        if self.head is None:
            raise TeachError("the head is not fitted", "call fit() first")
        return self.head.scores(self.embed(images))

    # -- export ---------------------------------------------------------------------------------

    def export(self, bundle: str | Path, name: str | None = None) -> Path:
        """Write a bundle (model.tflite with the head appended, labels, model.json; and
        model_edgetpu.tflite for an Edge TPU embedder), swapped in atomically.

        The exported model is run on a few of the images and must give the numpy head's scores
        (within 1e-4) before the bundle is kept.

        Raises:
            TeachError: not fitted, ``bundle`` is not a folder teach may replace, or the exported
                model disagrees with the numpy head.
        """
        from edgecam.labels import embed_labels
        from edgecam.metadata import build_metadata

        if self.head is None:
            raise TeachError("nothing to export: the head is not fitted", "call fit() first")
        target = Path(bundle).expanduser()
        check_bundle_target(target, TeachError)
        name = name or target.name
        metadata = build_metadata(name, "Image classifier (edgecam teach)", BUNDLE_LABELS)
        cpu_bytes = self._cpu_model.with_head(self.head, metadata)
        tpu_bytes = self.embedder.with_head(self.head, metadata) if self.embedder.edgetpu else None
        if tpu_bytes is not None and self.cpu_embedder is None:
            cpu_bytes = tpu_bytes  # no CPU twin: the bundle's model is the Edge TPU one
        spec = self._bundle_spec(name, len(cpu_bytes))
        for line in recover_dir(target):
            log.warning("%s", line)
        staging = new_staging_dir(target)
        try:
            extra = {BUNDLE_SPEC: spec.to_text()}
            (staging / BUNDLE_MODEL).write_bytes(cpu_bytes)
            embed_labels(staging / BUNDLE_MODEL, self.classes, extra=extra, title=name)
            if tpu_bytes is not None and self.cpu_embedder is not None:
                (staging / BUNDLE_EDGETPU_MODEL).write_bytes(tpu_bytes)
                embed_labels(staging / BUNDLE_EDGETPU_MODEL, self.classes, extra=extra, title=name)
            (staging / BUNDLE_LABELS).write_text("\n".join(self.classes) + "\n", encoding="utf-8")
            (staging / BUNDLE_SPEC).write_text(spec.to_text(), encoding="utf-8")
            if self.cpu_embedder is not None or not self.embedder.edgetpu:
                self._check_export(staging / BUNDLE_MODEL)
            check_bundle_target(target, TeachError)  # still: nothing else was put there
            replace_dir(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return target

    def _check_export(self, model: Path) -> None:
        from edgecam.runtime.engine import EngineOptions, open_engine

        images = [im for c in sorted(self._checks) for im in self._checks[c]]
        if not images:
            return
        expected = self.scores(images)
        engine = open_engine(
            resolve_model(model),
            EngineOptions(delegate=Delegate.CPU, runtime=self.options.runtime, threads=1),
        )
        try:
            got = np.stack([engine.run(self._preprocess(im)).reshape(-1).copy() for im in images])
        finally:
            engine.close()
        worst = float(np.max(np.abs(got - expected)))
        if worst > _CHECK_TOLERANCE or np.any(got.argmax(1) != expected.argmax(1)):
            raise TeachError(
                f"the exported model's scores differ from the fitted head's by {worst:.2g}",
                "report this as a bug (the bundle was not written)",
            )
        log.info("exported model checked on %d images: scores within %.1g", len(images), worst)

    def _bundle_spec(self, name: str, size: int) -> BundleSpec:
        inp = self._engine.inputs[0]
        report = self.report
        # None (no model.json with the embedder): the app's documented defaults by input dtype,
        # which are what the embeddings were computed with.
        norm = self.normalization
        return BundleSpec(
            name=name,
            task="image_classification",
            created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            input=InputSpec(
                width=int(inp.shape[2]),
                height=int(inp.shape[1]),
                channels=int(inp.shape[3]),
                color_order=self.color_order,
                dtype=inp.dtype.name,
                resize=self.resize,
                normalization=norm,
            ),
            output=OutputSpec(num_classes=len(self.classes), activation="softmax", dtype="float32"),
            quantization=f"{self.embedder.tensor.dtype} embedder + float32 head",
            labels=BUNDLE_LABELS,
            classes=tuple(self.classes),
            metrics=Metrics(
                size_bytes=size,
                tflite_accuracy=report.validation_accuracy if report else None,
                test_samples=report.validation_samples if report else None,
                extra={"train_accuracy": report.train_accuracy} if report else {},
            ),
            recipe={
                "tool": "edgecam teach",
                "embedder": self.embedder_path.name,
                "embedder_sha256": _hash(self.embedder.graph.data),
                "embedding_tensor": self.embedder.tensor.name,
                "head": [op.builtin for op in head_graph(self.embedder.tensor, self.head)[1]],
                "fit": dataclasses.asdict(self.options.fit),
                "augment": self.options.augment,
                "validation": self.options.validation,
                "seed": self.options.seed,
            },
            dataset={
                "classes": list(self.classes),
                "images": len(self._samples),
                "fingerprint": _hash("".join(sorted(self._samples)).encode())[:16],
                **({"report": report.to_json()} if report else {}),
            },
        )

    # -- lifetime -------------------------------------------------------------------------------

    def close(self) -> None:
        """Write the cache and release the embedder."""
        try:
            self.save_cache()
        finally:
            if self._engine is not None:
                self._engine.close()
                self._engine = None
            tmp = getattr(self, "_tmp_model", None)
            if tmp is not None:
                tmp.unlink(missing_ok=True)

    def __enter__(self) -> Teacher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def default_cache_dir() -> Path:
    """``teach/`` in edgecam's cache folder (:func:`edgecam.defaults.cache_home`)."""
    return defaults.cache_home() / "teach"


def _cached_loader(load):
    """``load`` called at most once."""
    box: list[np.ndarray] = []

    def get() -> np.ndarray:
        if not box:
            box.append(load())
        return box[0]

    return get


def _seed(key: str, i: int, options: TeachOptions) -> int:
    return int.from_bytes(hashlib.sha256(f"{options.seed}:{key}:{i}".encode()).digest()[:8], "big")
