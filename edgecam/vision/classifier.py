"""The Classifier: build once (model, delegate, buffers), then ``classify(image)`` per frame."""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

import cv2
import numpy as np

from edgecam.bundle import ModelFiles, resolve_model
from edgecam.config import ClassifierOptions, ResizeMode
from edgecam.errors import ImageError, LabelsError, ModelError
from edgecam.runtime.engine import Engine, TensorSpec, open_engine
from edgecam.vision.postprocess import Postprocessor, outputs_are_probabilities
from edgecam.vision.preprocess import Preprocessor
from edgecam.vision.types import Classification, Timings

log = logging.getLogger(__name__)
_SUPPORTED_DTYPES = ("float32", "uint8", "int8")


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
    return int(max(out.shape))


def align_labels(files: ModelFiles, num_classes: int) -> list[str]:
    """Labels with exactly one name per output.

    A file one short of the outputs is the classic ImageNet case (1001 outputs, index 0 is
    ``background``): the background label is added and the user told. No labels at all gives
    ``class_N`` names. Any other mismatch is an error. What was assumed is logged as a note.
    """
    labels = files.labels
    if labels is None:
        log.warning(
            "no labels found for %s: showing class numbers (give --labels FILE)", files.model.name
        )
        return [f"class_{i}" for i in range(num_classes)]
    if len(labels) == num_classes:
        return list(labels)
    if len(labels) == num_classes - 1:
        log.warning(
            "%s has %d labels for %d outputs: assuming index 0 is 'background'",
            files.labels_origin,
            len(labels),
            num_classes,
        )
        return ["background", *labels]
    raise LabelsError(
        f"{files.labels_origin} has {len(labels)} labels but {files.model.name} "
        f"has {num_classes} outputs",
        "use the labels file that belongs to this model (--labels FILE)",
    )


class Classifier:
    """A loaded image classifier with an explicit lifetime.

    Example:
        with Classifier(ClassifierOptions(model="assets/models/default")) as clf:
            result = clf.classify(cv2.imread("shoe.jpg"))
            print(result.top.label, result.top.score)

    Not thread-safe: one thread classifies at a time (the pipeline gives it its own thread).
    """

    def __init__(self, options: ClassifierOptions) -> None:
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
    """Read an image file as BGR uint8, with a clear error for every way it can fail."""
    path = Path(path)
    if not path.exists():
        raise ImageError(f"image not found: {path}", "check the path")
    if path.is_dir():
        raise ImageError(f"{path} is a folder, not an image", "give image files, e.g. dir/*.jpg")
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise ImageError(f"cannot read {path}: {exc.strerror}", "check its permissions") from None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise ImageError(
            f"{path} is not a readable image (empty, corrupt or unknown format)",
            "use a JPEG, PNG, BMP, WebP or TIFF file",
        )
    return image
