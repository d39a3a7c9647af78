"""How an int8 export of a pretrained, frozen MobileNet V1 keeps its features (docs/TRAINING.md,
"A frozen backbone from an 8-bit .tflite is not quantized again").

Takes a run of ``edgecam train`` on a Fashion-MNIST folder (made by benchmarks/learning_curve.py,
which starts from the catalogue's embedder) and compares, on the official test images, the
pooled features and the accuracy of the run's float model against:

* ``calibrated``: the backbone converted and calibrated again (what export did before), per
  channel and per tensor;
* ``dynamic``: int8 weights, float activations; ``16x8``: int16 activations;
* ``own graph``: the pretrained file's own 8-bit graph with the run's head (what export does now).

Run with .venv-train (TensorFlow):
    .venv-train/bin/python benchmarks/int8_backbone.py --run WORK/fashion/run-25 --test 500
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _rgb(images: list[np.ndarray], size: int) -> np.ndarray:
    """Grey or BGR uint8 images as the run's input: RGB, resized as training resizes."""
    import cv2
    import tensorflow as tf

    rgb = [
        cv2.cvtColor(a, cv2.COLOR_GRAY2RGB if a.ndim == 2 else cv2.COLOR_BGR2RGB) for a in images
    ]
    out = tf.image.resize(np.stack(rgb), (size, size), antialias=True).numpy()
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def _run_tflite(data: bytes, images: np.ndarray, unit_range: bool = False) -> np.ndarray:
    """Each image through the model, its output dequantized and flattened. The input is the raw
    pixel (a converted Keras model rescales inside), or with ``unit_range`` the pixel mapped
    to [-1, 1] and quantized as the input says (the pretrained file's own graph)."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=data)
    interpreter.allocate_tensors()
    given, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    if unit_range:
        scale, zero = given["quantization"]
        info = np.iinfo(given["dtype"])
        real = (images.astype(np.float32) - 127.5) / 127.5
        images = np.clip(np.round(real / scale + zero), info.min, info.max)
    rows = []
    for image in images:
        interpreter.set_tensor(given["index"], image[None].astype(given["dtype"]))
        interpreter.invoke()
        values = interpreter.get_tensor(out["index"]).astype(np.float32)
        scale, zero = out["quantization"]
        rows.append(((values - zero) * scale if scale else values).reshape(-1))
    return np.stack(rows)


def _convert(model, mode: str, calibration: np.ndarray) -> bytes:
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode != "dynamic":
        converter.representative_dataset = lambda: (
            [a[None].astype(np.float32)] for a in calibration
        )
    if mode.startswith("calibrated"):
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.uint8
        converter._experimental_disable_per_channel = mode.endswith("per tensor")
    elif mode == "16x8":
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
        ]
    with contextlib.redirect_stdout(io.StringIO()):  # Keras prints the SavedModel signature
        return converter.convert()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--test", type=int, default=500, help="official test images scored")
    parser.add_argument("--calibration", type=int, default=300)
    args = parser.parse_args()

    import cv2
    import keras

    from edgecam.teach.embedder import read_embedder
    from training.datasets import FASHION_MNIST_CLASSES, load_fashion_mnist
    from training.model import rebatch

    run_info = json.loads((args.run / "dataset.json").read_text())
    recipe = json.loads((args.run / "recipe.json").read_text())
    size = int(recipe["model"]["input_size"])
    model = rebatch(keras.saving.load_model(args.run / "best.keras", compile=False), 1)
    head = model.get_layer("predictions")
    features = keras.Model(model.inputs, model.get_layer("pool").output)
    kernel, bias = head.get_weights()

    names = [c.replace("/", "-") for c in FASHION_MNIST_CLASSES]
    (_, _), (x_test, y_test) = load_fashion_mnist(download=False)
    order = np.array([run_info["classes"].index(names[y]) for y in y_test[: args.test]])
    test = _rgb(list(x_test[: args.test]), size)
    folder = Path(run_info["config"]["data"])
    files = sorted(folder.rglob("*.png"))[: args.calibration]
    calibration = _rgb([cv2.imread(str(p)) for p in files], size)

    reference = features.predict(test.astype(np.float32), batch_size=64, verbose=0)
    own = read_embedder(Path(recipe["weights"])).embedder_model()
    variants = {
        "float Keras model": lambda: reference,
        "own graph": lambda: _run_tflite(own, test, unit_range=True),
        # 16x8 last: TFLite's int16 kernels are slow reference code.
        **{
            mode: lambda mode=mode: _run_tflite(_convert(features, mode, calibration), test)
            for mode in ("calibrated", "calibrated per tensor", "dynamic", "16x8")
        },
    }
    for name, compute in variants.items():
        found = compute()
        cosine = np.sum(found * reference, 1) / (
            np.linalg.norm(found, axis=1) * np.linalg.norm(reference, axis=1)
        )
        accuracy = float(np.mean((found @ kernel + bias).argmax(1) == order))
        print(
            json.dumps(
                {
                    "variant": name,
                    "test_images": args.test,
                    "cosine_mean": round(float(cosine.mean()), 4),
                    "cosine_min": round(float(cosine.min()), 4),
                    "accuracy": round(accuracy, 4),
                }
            ),
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
