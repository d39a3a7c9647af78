"""The Classifier: build once (model, delegate, buffers), then ``classify(image)`` per frame."""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

import numpy as np

from edgecam.bundle import ModelFiles, resolve_model
from edgecam.config import ClassifierOptions, ResizeMode
from edgecam.errors import EdgecamError, ImageError, LabelsError, ModelError
from edgecam.imagefile import read_image_file
from edgecam.labels import duplicates
from edgecam.runtime.engine import Engine, TensorSpec, open_engine
from edgecam.vision.postprocess import Postprocessor, outputs_are_probabilities
from edgecam.vision.preprocess import Preprocessor
from edgecam.vision.types import Classification, Timings

log = logging.getLogger(__name__)
_SUPPORTED_DTYPES = ("float32", "uint8", "int8")
#: Limits no real classifier reaches, so that a damaged shape cannot make edgecam allocate
#: without bound (ImageNet-21k has 21,843 classes).
MAX_INPUT_SIDE = 16384
MAX_CLASSES = 2**20


def check_classifier_shape(engine: Engine, model: Path) -> int:
    """Check the model is a single-image classifier; return its number of classes.

    Raises:
        ModelError: several inputs, a non-image input, or outputs that are not one score vector.
    """
    hint = "edgecam runs image classifiers: one [1, H, W, 1|3] input, one [1, N] output"
    if len(engine.inputs) != 1:
        raise ModelError(f"{model} has {len(engine.inputs)} inputs", hint)
    inp = engine.inputs[0]
    if len(inp.shape) != 4 or inp.shape[0] not in (1, -1) or inp.shape[3] not in (1, 3):
        raise ModelError(f"{model}: input {list(inp.shape)} is not an image", hint)
    if not all(1 <= side <= MAX_INPUT_SIDE for side in inp.shape[1:3]):
        raise ModelError(
            f"{model}: input {list(inp.shape)} is not an image size (corrupt?)",
            f"edgecam takes inputs of 1 to {MAX_INPUT_SIDE} pixels a side",
        )
    if inp.dtype.name not in _SUPPORTED_DTYPES:
        raise ModelError(
            f"{model}: input dtype {inp.dtype.name} is not supported",
            "export with float32, uint8 or int8 input",
        )
    if len(engine.outputs) != 1:
        kind = " (it looks like an object detector)" if len(engine.outputs) >= 3 else ""
        raise ModelError(f"{model} has {len(engine.outputs)} outputs{kind}", hint)
    out = engine.outputs[0]
    if (
        sorted(out.shape)[:-1] != [1] * (len(out.shape) - 1)
        or out.dtype.name not in _SUPPORTED_DTYPES
    ):
        raise ModelError(
            f"{model}: output {list(out.shape)} {out.dtype.name} is not a class score vector", hint
        )
    classes = int(max(out.shape)) if out.shape else 0
    if not 1 <= classes <= MAX_CLASSES:
        raise ModelError(
            f"{model}: output {list(out.shape)} claims {classes} classes (corrupt?)",
            f"edgecam takes 1 to {MAX_CLASSES} classes",
        )
    return classes


def align_labels(files: ModelFiles, num_classes: int) -> list[str]:
    """Labels with exactly one name per output.

    Evidence, strongest first: labels that match the outputs in number (``--labels``, the
    bundle's ``labels.txt``, the embedded ones); else the classes ``model.json`` names; else,
    for a model ``model.json`` says nothing about, the classic ImageNet case of one label short
    (1001 outputs, index 0 is ``background``), which is assumed and noted. No labels at all
    gives ``class_N`` names. Any other mismatch is an error. Labels naming two classes alike
    are noted.
    """
    labels = files.labels
    spec = files.spec
    classes = list(spec.classes) if spec is not None and spec.classes else None
    if labels is not None and len(labels) == num_classes:
        chosen = list(labels)
    elif classes is not None and len(classes) == num_classes:
        if labels is not None:
            log.warning(
                "%s has %d labels for %d outputs: using the %d classes model.json names",
                files.labels_origin,
                len(labels),
                num_classes,
                len(classes),
            )
        chosen = classes
    elif labels is None:
        log.warning(
            "no labels found for %s: showing class numbers (give --labels FILE)", files.model.name
        )
        return [f"class_{i}" for i in range(num_classes)]
    elif len(labels) == num_classes - 1 and (spec is None or spec.num_classes is None):
        log.warning(
            "%s has %d labels for %d outputs: assuming index 0 is 'background'",
            files.labels_origin,
            len(labels),
            num_classes,
        )
        chosen = ["background", *labels]
    else:
        raise LabelsError(
            f"{files.labels_origin} has {len(labels)} labels but {files.model.name} "
            f"has {num_classes} outputs",
            "use the labels file that belongs to this model (--labels FILE); a blank or "
            "missing line shifts every label after it",
        )
    repeated = duplicates(chosen)
    if repeated:
        shown = "; ".join(
            f"'{label}' names classes {', '.join(map(str, where))}"
            for label, where in list(repeated.items())[:3]
        )
        more = f" and {len(repeated) - 3} more" if len(repeated) > 3 else ""
        log.warning("labels for %s repeat: %s%s", files.model.name, shown, more)
    return chosen


class Classifier:
    """A loaded image classifier with an explicit lifetime.

    Example:
        with Classifier(ClassifierOptions(model="assets/models/default")) as clf:
            result = clf.classify(cv2.imread("shoe.jpg"))
            print(result.top.label, result.top.score)

    Not thread-safe: one thread classifies at a time (the pipeline gives it its own thread).
    """

    def __init__(self, options: ClassifierOptions) -> None:
        try:
            self._build(options)
        except EdgecamError:
            raise
        except Exception as exc:
            # A damaged file can make a parser deep inside raise anything: the caller gets a
            # clear error, and whatever was loaded is released (a process that must survive a
            # bad model needs nothing else).
            raise ModelError(
                f"{options.model} could not be loaded ({type(exc).__name__}: {exc})",
                "the file may be damaged: re-download or re-export it",
            ) from exc

    def _build(self, options: ClassifierOptions) -> None:
        self.options = options
        self.files = resolve_model(options.model, options.labels)
        self.engine = open_engine(self.files, options.engine_options())
        try:
            num_classes = check_classifier_shape(self.engine, self.files.model)
            if self.files.spec is not None:
                self.files.spec.check_num_classes(num_classes, self.files.model)
            self.labels = align_labels(self.files, num_classes)
            spec = self.files.spec
            self.preprocess = Preprocessor(
                self.input_spec,
                normalization=spec.normalization if spec else None,
                resize=options.resize or (spec.resize if spec else None) or ResizeMode.STRETCH,
                color_order=spec.color_order if spec else "RGB",
            )
            probabilities = outputs_are_probabilities(
                self.output_spec, self.engine.ops, spec.output_activation if spec else None
            )
            self.postprocess = Postprocessor(
                self.output_spec, self.labels, options.top_k, probabilities
            )
        except BaseException:
            self.engine.close()
            raise

    @property
    def input_spec(self) -> TensorSpec:
        return self.engine.inputs[0]

    @property
    def output_spec(self) -> TensorSpec:
        return self.engine.outputs[0]

    @property
    def input_size(self) -> tuple[int, int]:
        """(width, height) the model takes."""
        return self.preprocess.width, self.preprocess.height

    @property
    def name(self) -> str:
        return self.files.name

    @property
    def runtime(self) -> str:
        """The interpreter package in use, e.g. ``ai-edge-litert 2.3.0``."""
        return self.engine.backend.label

    @property
    def delegate(self) -> str:
        """Where inference runs, e.g. ``cpu (XNNPACK, 2 threads)``."""
        return self.engine.description

    def classify(
        self,
        image: np.ndarray,
        frame_timestamp: float | None = None,
        frame_index: int | None = None,
    ) -> Classification:
        """Classify one BGR (or grayscale / BGRA) uint8 image; return the top-k and timings."""
        t0 = time.perf_counter()
        tensor = self.preprocess(image)
        t1 = time.perf_counter()
        raw = self.engine.run(tensor)
        t2 = time.perf_counter()
        categories = self.postprocess(raw)
        t3 = time.perf_counter()
        timings = Timings((t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3)
        return Classification(categories, timings, frame_timestamp, frame_index)

    def set_top_k(self, k: int) -> None:
        """Return ``k`` predictions from now on (not while another thread classifies)."""
        self.options = dataclasses.replace(self.options, top_k=k)
        self.postprocess.top_k = k

    def close(self) -> None:
        """Release the model; the classifier cannot be used afterwards."""
        self.engine.close()

    def __enter__(self) -> Classifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as BGR uint8, with a clear error for every way it can fail.

    A FIFO or device is refused without being opened for a blocking read, a damaged file's
    decoder messages stay off stderr, and an image claiming more pixels than OpenCV decodes is
    an :class:`ImageError` like any other (see :mod:`edgecam.imagefile`).
    """
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        raise ImageError(f"image not found: {path}", "check the path")
    return read_image_file(path)
