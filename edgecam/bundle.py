"""The model bundle contract: find the model, its labels and its ``model.json``, and validate them.

A bundle is a folder holding ``model.tflite`` (labels embedded as TFLite metadata), optionally
``model_edgetpu.tflite``, ``labels.txt`` and ``model.json`` (docs/USAGE.md, "Model bundles").
A bare ``.tflite`` works too: labels then come from ``--labels`` or the model's metadata, and
the input normalisation from the documented defaults in :mod:`edgecam.vision.preprocess`.
``model.json`` itself is :class:`~edgecam.bundle_spec.BundleSpec`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# The typed model.json lives in bundle_spec; importable from here as the bundle contract.
from edgecam.bundle_spec import (  # noqa: F401
    FORMAT_VERSION,
    SUPPORTED_FORMAT_VERSIONS,
    BundleSpec,
    InputSpec,
    Metrics,
    Normalization,
    OutputSpec,
    QualityGate,
)
from edgecam.errors import EdgecamError, ModelError
from edgecam.labels import read_associated_file, read_embedded_labels, read_labels_file

BUNDLE_MODEL = "model.tflite"
BUNDLE_EDGETPU_MODEL = "model_edgetpu.tflite"
BUNDLE_LABELS = "labels.txt"
BUNDLE_SPEC = "model.json"
#: The 4-byte flatbuffer file identifier of a TFLite model (bytes 4..8).
TFLITE_IDENTIFIER = b"TFL3"


@dataclass(frozen=True)
class ModelFiles:
    """The files a model is made of, resolved from a bundle folder or a bare ``.tflite``."""

    model: Path
    edgetpu_model: Path | None = None
    labels: list[str] | None = None
    labels_origin: str = "none"
    spec: BundleSpec | None = None
    bundle_dir: Path | None = None

    @property
    def name(self) -> str:
        if self.spec and self.spec.name:
            return self.spec.name
        return self.bundle_dir.name if self.bundle_dir else self.model.stem


#: What an existing output folder may hold for a new bundle (export, teach) to replace it.
BUNDLE_ENTRIES = frozenset(
    {BUNDLE_MODEL, BUNDLE_EDGETPU_MODEL, BUNDLE_LABELS, BUNDLE_SPEC, "report"}
)


def check_bundle_target(target: Path, error: type[EdgecamError] = ModelError) -> None:
    """Refuse to replace anything but an empty folder or an earlier bundle at ``target``.

    Raises:
        error: ``target`` is a file, or a folder holding files a bundle does not have.
    """
    if not target.exists():
        return
    if not target.is_dir():
        raise error(f"--out {target} is a file", "give a folder for the bundle")
    strangers = sorted(p.name for p in target.iterdir() if p.name not in BUNDLE_ENTRIES)
    if strangers:
        raise error(
            f"--out {target} holds other files ({', '.join(strangers[:3])})",
            "give a new or empty folder, or an earlier bundle to replace",
        )


def check_tflite_file(path: Path) -> None:
    """Fail with a clear error unless ``path`` is a readable file holding a TFLite model."""
    if not path.exists():
        raise ModelError(f"model not found: {path}", "give a bundle folder or a .tflite file")
    if path.is_dir():
        raise ModelError(
            f"{path} is a folder without {BUNDLE_MODEL}",
            "a bundle folder must hold model.tflite; or give the .tflite itself",
        )
    if not path.is_file():  # a FIFO or a device would block the read below
        raise ModelError(f"{path} is not a regular file", "give a .tflite file or a bundle folder")
    try:
        with path.open("rb") as handle:
            head = handle.read(8)
    except OSError as exc:
        raise ModelError(
            f"cannot read model {path}: {exc.strerror}", "check the file's permissions"
        ) from None
    if len(head) < 8 or head[4:8] != TFLITE_IDENTIFIER:
        if path.suffix in (".keras", ".h5"):  # a training checkpoint: the app runs bundles
            raise ModelError(
                f"{path} is a Keras training checkpoint, not a TFLite model",
                f"export it first: edgecam export --run {path.parent} --out BUNDLE_DIR, "
                "then --model BUNDLE_DIR",
            )
        raise ModelError(
            f"{path} is not a TFLite model (no TFL3 header)",
            "give a .tflite file exported by TensorFlow Lite / LiteRT",
        )


def resolve_model(path: str | Path, labels: str | Path | None = None) -> ModelFiles:
    """Find the model, the Edge TPU variant, the labels and the spec for ``path``.

    Label precedence: ``labels`` argument, then the bundle's ``labels.txt``, then labels
    embedded in the model. The labels/outputs count is checked later, once the model is loaded.

    Raises:
        ModelError: the path is missing or is not a model or bundle (also for any unexpected
            failure reading a damaged one).
        LabelsError: an explicit labels file cannot be read.
    """
    try:
        return _resolve(Path(path).expanduser(), labels)
    except EdgecamError:
        raise
    except Exception as exc:
        raise ModelError(
            f"{path} could not be read ({type(exc).__name__}: {exc})",
            "the bundle may be damaged: re-download or re-export it",
        ) from exc


def _resolve(path: Path, labels: str | Path | None) -> ModelFiles:
    bundle_dir = None
    spec = None
    edgetpu = None
    if path.is_dir():
        bundle_dir = path
        model = path / BUNDLE_MODEL
        if not model.exists():
            candidates = sorted(p.name for p in path.glob("*.tflite"))
            hint = (
                f"it holds {', '.join(candidates)}: give one of them instead"
                if candidates
                else "a bundle folder must hold model.tflite"
            )
            raise ModelError(f"{path} is not a model bundle (no {BUNDLE_MODEL})", hint)
        if (path / BUNDLE_EDGETPU_MODEL).exists():
            edgetpu = path / BUNDLE_EDGETPU_MODEL
        if (path / BUNDLE_SPEC).exists():
            spec = BundleSpec.load(path / BUNDLE_SPEC)
    else:
        model = path
        # A .tflite inside a bundle folder still gets the bundle's spec and labels.
        sibling_spec = path.parent / BUNDLE_SPEC
        if path.name in (BUNDLE_MODEL, BUNDLE_EDGETPU_MODEL) and sibling_spec.exists():
            bundle_dir = path.parent
            spec = BundleSpec.load(sibling_spec)
    check_tflite_file(model)
    if spec is None:
        # edgecam's exports carry their model.json inside, so the bare file needs nothing else.
        embedded = read_associated_file(model, BUNDLE_SPEC)
        if embedded is not None:
            spec = BundleSpec.load(Path(f"{model} (embedded {BUNDLE_SPEC})"), embedded)

    if labels is not None:
        names, origin = read_labels_file(labels), str(labels)
    elif bundle_dir is not None and (bundle_dir / BUNDLE_LABELS).exists():
        names, origin = (
            read_labels_file(bundle_dir / BUNDLE_LABELS),
            str(bundle_dir / BUNDLE_LABELS),
        )
    else:
        names = read_embedded_labels(model)
        origin = f"embedded in {model.name}" if names else "none"
    return ModelFiles(
        model=model,
        edgetpu_model=edgetpu,
        labels=names,
        labels_origin=origin,
        spec=spec,
        bundle_dir=bundle_dir,
    )
