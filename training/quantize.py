"""Keras -> TFLite in four modes, with a check that the result has the dtypes the mode promises."""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgecam.runtime.native import capture_native_stderr
from training.errors import TrainingError

MODES = ("float32", "float16", "dynamic", "int8")
IO_DTYPES = ("uint8", "int8")
#: Training images an int8 export is calibrated on unless told otherwise: enough for stable
#: activation ranges on small classifiers, a few seconds of conversion on a CPU.
CALIBRATION_SAMPLES = 300


@dataclass(frozen=True)
class QuantizationConfig:
    """How a Keras model becomes a TFLite model (after MediaPipe Model Maker's config).

    Build one with a preset: :meth:`for_float32`, :meth:`for_float16` (float16 weights),
    :meth:`for_dynamic` (int8 weights, float compute and I/O) or :meth:`for_int8` (full integer,
    calibrated on representative images; ``io`` is the input/output type).
    """

    mode: str = "float32"  # recorded as model.json's "quantization"
    io_dtype: str = "float32"  # the model's input and output type
    calibration_samples: int = 0  # int8: training images to calibrate on

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise TrainingError(
                f"unknown export mode '{self.mode}'", f"choose one of {', '.join(MODES)}"
            )
        if self.mode == "int8":
            if self.io_dtype not in IO_DTYPES:
                raise TrainingError(f"unknown --io-dtype '{self.io_dtype}'", "use uint8 or int8")
            if self.calibration_samples < 1:
                raise TrainingError("int8 export needs at least one calibration image")
        elif self.io_dtype != "float32":
            raise TrainingError(f"a {self.mode} model has float32 input and output")

    @classmethod
    def for_float32(cls) -> QuantizationConfig:
        return cls("float32")

    @classmethod
    def for_float16(cls) -> QuantizationConfig:
        return cls("float16")

    @classmethod
    def for_dynamic(cls) -> QuantizationConfig:
        return cls("dynamic")

    @classmethod
    def for_int8(
        cls, io: str = "uint8", calibration_samples: int = CALIBRATION_SAMPLES
    ) -> QuantizationConfig:
        """Full integer; ``io`` uint8 (Coral style, the default) or int8."""
        return cls("int8", io, calibration_samples)

    @classmethod
    def from_mode(
        cls, mode: str, io: str = "uint8", calibration_samples: int = CALIBRATION_SAMPLES
    ) -> QuantizationConfig:
        """The preset for ``edgecam export --mode``; ``io`` and the samples only apply to int8."""
        if mode == "int8":
            return cls.for_int8(io, calibration_samples)
        presets = {
            "float32": cls.for_float32,
            "float16": cls.for_float16,
            "dynamic": cls.for_dynamic,
        }
        return presets[mode]() if mode in presets else cls(mode)  # cls(mode): the clear error

    @property
    def integer_only(self) -> bool:
        """Full integer: needs calibration; the only mode the Edge TPU runs."""
        return self.mode == "int8"

    def apply(self, converter, representative: Callable[[], Iterable] | None = None) -> None:
        """Set ``converter``'s optimisations for this mode (``representative``: int8 data)."""
        import tensorflow as tf

        if self.mode == "float32":
            return
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if self.mode == "float16":
            converter.target_spec.supported_types = [tf.float16]
        elif self.mode == "int8":
            converter.representative_dataset = representative
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.inference_input_type = getattr(tf, self.io_dtype)
            converter.inference_output_type = getattr(tf, self.io_dtype)


@dataclass(frozen=True)
class Conversion:
    """A converted model and what calibrating it took."""

    data: bytes  # the .tflite flatbuffer
    calibration_images: int  # representative images the converter used (0 unless int8)


def convert(
    model,
    config: QuantizationConfig,
    representative: Iterable[np.ndarray] | None = None,
) -> Conversion:
    """Convert a batch-1 Keras model as ``config`` says.

    Args:
        model: takes raw pixels (float32 0..255), fixed batch size 1.
        config: the export mode (a :class:`QuantizationConfig` preset).
        representative: images (H, W, C) as the model takes them, for int8 calibration (uint8
            pixels from the training split for edgecam's models).

    Raises:
        TrainingError: int8 without representative images, or the converter failed.
    """
    import tensorflow as tf

    # TF warns that the (float) input has no statistics; the int8 I/O types make that moot.
    warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    used = 0
    samples = None
    if config.integer_only:
        images = list(representative or [])
        if not images:
            raise TrainingError(
                "int8 export needs representative images", "the training split is empty"
            )

        def samples():
            nonlocal used
            for image in images:
                yield [image[None].astype(np.float32)]
                used += 1

    config.apply(converter, samples)
    try:
        # Keras prints its SavedModel signature and the converter logs from C++: keep the
        # user's terminal to our progress lines.
        with contextlib.redirect_stdout(io.StringIO()), capture_native_stderr():
            data = converter.convert()
    except Exception as exc:
        raise TrainingError(
            f"TFLite conversion ({config.mode}) failed: {str(exc).splitlines()[0]}",
            "the model uses an op TFLite cannot convert",
        ) from None
    return Conversion(data, used)


def check_dtypes(path: Path, config: QuantizationConfig) -> dict:
    """Load the converted model with ai-edge-litert and check its dtypes match ``config``.

    Returns:
        {"input": dtype name, "output": dtype name, "weights": set of weight dtypes}.

    Raises:
        TrainingError: a float tensor in an int8 model, or the wrong input/output type.
    """
    found = read_dtypes(path)
    inp, out, tensor_types = found["input"], found["output"], set(found["tensor_types"])
    mode, expected_io = config.mode, config.io_dtype
    if inp != expected_io or out != expected_io:
        raise TrainingError(
            f"{mode} export produced {inp} input / {out} output, expected {expected_io}",
            "report this conversion problem",
        )
    if mode == "int8" and tensor_types & {"float32", "float16"}:
        raise TrainingError(
            "the int8 export still holds float tensors (not fully quantized)",
            "some op has no int8 kernel; check `edgecam info` on the model",
        )
    if mode == "float16" and "float16" not in tensor_types:
        raise TrainingError("the float16 export holds no float16 weights")
    if mode == "dynamic" and "int8" not in tensor_types:
        raise TrainingError("the dynamic-range export holds no int8 weights")
    return found


def read_dtypes(path: Path) -> dict:
    """{"input": dtype name, "output": dtype name, "tensor_types": sorted dtype names} of the
    model at ``path`` (loaded with ai-edge-litert)."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    tensors = interpreter.get_tensor_details()
    return {
        "input": np.dtype(interpreter.get_input_details()[0]["dtype"]).name,
        "output": np.dtype(interpreter.get_output_details()[0]["dtype"]).name,
        "tensor_types": sorted({np.dtype(t["dtype"]).name for t in tensors}),
    }
