"""Keras -> TFLite in four modes, with a check that the result has the dtypes the mode promises."""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from edgecam.runtime.native import capture_native_stderr
from training.errors import TrainingError

MODES = ("float32", "float16", "dynamic", "int8")
IO_DTYPES = ("uint8", "int8")


def convert(
    model,
    mode: str,
    representative: Iterable[np.ndarray] | None = None,
    io_dtype: str = "uint8",
    progress: Callable[[int], None] | None = None,
) -> bytes:
    """Convert a batch-1 Keras model.

    Args:
        model: takes raw pixels (float32 0..255), fixed batch size 1.
        mode: float32 | float16 (float16 weights) | dynamic (int8 weights, float I/O) |
            int8 (full integer, calibrated on ``representative``).
        representative: images (H, W, C) as the model takes them, for int8 calibration (uint8
            pixels from the training split for edgecam's models).
        io_dtype: input/output type of an int8 model: uint8 (default, Coral style) or int8.
        progress: called with the number of calibration images used so far.
    """
    import tensorflow as tf

    if mode not in MODES:
        raise TrainingError(f"unknown export mode '{mode}'", f"choose one of {', '.join(MODES)}")
    # TF warns that the (float) input has no statistics; the int8 I/O types make that moot.
    warnings.filterwarnings("ignore", message="Statistics for quantized inputs")
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if mode == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif mode == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif mode == "int8":
        if io_dtype not in IO_DTYPES:
            raise TrainingError(f"unknown --io-dtype '{io_dtype}'", "use uint8 or int8")
        images = list(representative or [])
        if not images:
            raise TrainingError(
                "int8 export needs representative images", "the training split is empty"
            )

        def samples():
            for i, image in enumerate(images, 1):
                yield [image[None].astype(np.float32)]
                if progress is not None:
                    progress(i)

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = samples
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = getattr(tf, io_dtype)
        converter.inference_output_type = getattr(tf, io_dtype)
    try:
        # Keras prints its SavedModel signature and the converter logs from C++: keep the
        # user's terminal to our progress lines.
        with contextlib.redirect_stdout(io.StringIO()), capture_native_stderr():
            return converter.convert()
    except Exception as exc:
        raise TrainingError(
            f"TFLite conversion ({mode}) failed: {str(exc).splitlines()[0]}",
            "the model uses an op TFLite cannot convert",
        ) from None


def check_dtypes(path: Path, mode: str, io_dtype: str = "uint8") -> dict:
    """Load the converted model with ai-edge-litert and check its dtypes match ``mode``.

    Returns:
        {"input": dtype name, "output": dtype name, "weights": set of weight dtypes}.

    Raises:
        TrainingError: a float tensor in an int8 model, or the wrong input/output type.
    """
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    inp = np.dtype(interpreter.get_input_details()[0]["dtype"]).name
    out = np.dtype(interpreter.get_output_details()[0]["dtype"]).name
    tensor_types = {np.dtype(t["dtype"]).name for t in interpreter.get_tensor_details()}
    expected_io = io_dtype if mode == "int8" else "float32"
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
    return {"input": inp, "output": out, "tensor_types": sorted(tensor_types)}
