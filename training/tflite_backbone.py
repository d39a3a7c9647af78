"""A Keras MobileNetV1 backbone's weights from a MobileNet V1 ``.tflite``: transfer learning on
a machine without internet, from a file the catalogue already checked (``edgecam models pull
embedder-mobilenet-v1``) instead of Keras' ImageNet download.

The TFLite file has BatchNorm folded into each convolution (kernel and bias), 8-bit weights
and fused ReLU6; the Keras graph has a bias-free convolution, a BatchNorm and a ReLU6. So each
kernel is dequantized and transposed into the Keras layout, and its BatchNorm becomes the
identity plus the bias (gamma 1, beta = bias, mean 0, variance 1 - epsilon). Both graphs pad a
stride-2 convolution the same way (SAME on an even size is Keras' ZeroPadding ((0, 1), (0, 1)))
and take inputs in [-1, 1], so the backbone computes what the file computes, up to the file's
8-bit activations.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from training.errors import TrainingError

CONV_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D")


def _bad(path: Path, why: str) -> TrainingError:
    return TrainingError(
        f"--weights {path}: {why}",
        "give a MobileNet V1 .tflite (the catalogue's embedder-mobilenet-v1 or a V1 classifier)",
    )


def read_convolutions(path: Path) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(op name, Keras-layout float kernel, float bias) of each convolution, in graph order.

    Raises:
        TrainingError: not a readable .tflite, or one with no convolutions.
    """
    import tensorflow as tf

    graph = _graph(path)
    try:
        with warnings.catch_warnings():  # "tf.lite.Interpreter is deprecated": only data is read
            warnings.simplefilter("ignore")
            interpreter = tf.lite.Interpreter(model_content=graph.data)
        details = {d["index"]: d for d in interpreter.get_tensor_details()}
    except (ValueError, RuntimeError) as exc:
        raise _bad(path, f"the runtime cannot read it ({str(exc).splitlines()[0][:120]})") from None

    def constant(index: int) -> np.ndarray:
        values = interpreter.get_tensor(index).astype(np.float32)
        quant = details[index]["quantization_parameters"]
        scales, zeros = quant["scales"], quant["zero_points"]
        if not scales.size:
            return values
        shape = [1] * values.ndim
        if scales.size > 1:
            shape[quant["quantized_dimension"]] = scales.size
        return (values - zeros.reshape(shape)) * scales.reshape(shape).astype(np.float32)

    convolutions = []
    for op in graph.ops:
        if op.name not in CONV_OPS or len(op.inputs) < 3 or op.inputs[2] < 0:
            continue
        # TFLite kernels: CONV_2D [out, h, w, in], DEPTHWISE [1, h, w, channels]; Keras:
        # Conv2D [h, w, in, out], DepthwiseConv2D [h, w, channels, 1].
        kernel = constant(op.inputs[1]).transpose(1, 2, 3, 0)
        convolutions.append((op.name, kernel, constant(op.inputs[2])))
    if not convolutions:
        raise _bad(path, "it has no convolutions with weights")
    return convolutions


def _graph(path: Path):
    """``path``'s graph (edgecam.teach.graph.ModelGraph).

    Raises:
        TrainingError: not a readable .tflite.
    """
    from edgecam.errors import EdgecamError
    from edgecam.teach.graph import ModelGraph

    try:
        return ModelGraph.read(Path(path).read_bytes(), str(path))
    except (OSError, EdgecamError) as exc:
        raise _bad(path, str(exc).splitlines()[0]) from None


def file_input_size(path: Path) -> int | None:
    """The square input size the file was made for (224 for the catalogue's embedder), or None."""
    try:
        graph = _graph(path)
        shape = graph.tensors[graph.inputs[0]].shape
    except (TrainingError, IndexError):
        return None
    return shape[1] if len(shape) == 4 and shape[1] == shape[2] and shape[1] > 0 else None


def file_alpha(path: Path) -> float:
    """The width multiplier of the MobileNet V1 in ``path`` (its stem has 32 x alpha filters),
    read from the graph's shapes alone (no runtime, no weights decoded)."""
    graph = _graph(path)
    stem = next((op for op in graph.ops if op.name == "CONV_2D" and len(op.inputs) > 1), None)
    if stem is None:
        raise _bad(path, "it has no convolutions with weights")
    return graph.tensors[stem.inputs[1]].shape[0] / 32  # TFLite kernels: [out, h, w, in]


def load_into(backbone, path: Path) -> int:
    """Set ``backbone``'s (keras.applications.MobileNet) convolutions and BatchNorms from ``path``.

    Returns:
        the number of convolutions loaded.

    Raises:
        TrainingError: the file's convolutions do not fit the backbone's (another network or
            another width).
    """
    from keras import layers

    convs = [
        layer
        for layer in backbone.layers
        if isinstance(layer, (layers.Conv2D, layers.DepthwiseConv2D))
    ]
    found = read_convolutions(path)
    if len(found) < len(convs):
        raise _bad(path, f"{len(found)} convolutions, the backbone has {len(convs)}")
    # A classifier's file has more (its logits): the backbone takes the first ones.
    for layer, (op, kernel, bias) in zip(convs, found[: len(convs)], strict=True):
        depthwise = isinstance(layer, layers.DepthwiseConv2D)
        expected = tuple(layer.kernel.shape)
        if depthwise != (op == "DEPTHWISE_CONV_2D") or kernel.shape != expected:
            raise _bad(
                path,
                f"its {op} {kernel.shape} does not fit {layer.name} {expected} "
                "(another network, or another --alpha)",
            )
        layer.kernel.assign(kernel)
        norm = backbone.get_layer(f"{layer.name}_bn")
        norm.set_weights(
            [
                np.ones_like(bias),
                bias,
                np.zeros_like(bias),
                np.full_like(bias, 1.0 - norm.epsilon),
            ]
        )
    return len(convs)


def frozen_source(model, recipe: dict) -> Path | None:
    """The 8-bit MobileNet V1 ``.tflite`` a run's backbone was loaded from, when ``model`` still
    holds exactly that file's weights (the backbone stayed frozen: no fine-tune phase) under a
    dense head on the pooled features; else None.

    Such a model is best exported in int8 as the file's own graph with the head appended
    (:func:`with_head_appended`): measured on Fashion-MNIST at 25 images per class (the
    catalogue's embedder, docs/TRAINING.md), re-quantizing the dequantized backbone after
    training gave features with a mean cosine of 0.85 to the float model's and lost 12 points
    (500 test images), the file's own 8-bit graph 0.98 and 0.4 (benchmarks/int8_backbone.py).
    """
    from keras import layers

    weights = str(recipe.get("weights") or "")
    if recipe.get("base") != "mobilenet_v1" or not weights.endswith(".tflite"):
        return None
    path = Path(weights)
    nested = [i for i, layer in enumerate(model.layers) if hasattr(layer, "layers")]
    if not path.is_file() or len(nested) != 1:
        return None
    backbone, after = model.layers[nested[0]], model.layers[nested[0] + 1 :]
    kinds = [type(layer) for layer in after if not isinstance(layer, layers.Dropout)]
    if kinds != [layers.GlobalAveragePooling2D, layers.Dense]:
        return None
    if file_input_size(path) != int(model.input_shape[1]) or not is_8bit(path):
        return None  # a float file's backbone is better converted (and quantized) anew
    convs = [
        layer
        for layer in backbone.layers
        if isinstance(layer, (layers.Conv2D, layers.DepthwiseConv2D))
    ]
    try:
        found = read_convolutions(path)
    except TrainingError:
        return None
    if len(found) < len(convs):
        return None
    for layer, (_, kernel, bias) in zip(convs, found, strict=False):
        beta = backbone.get_layer(f"{layer.name}_bn").get_weights()[1]
        current = np.asarray(layer.kernel)
        if current.shape != kernel.shape or not (
            np.allclose(current, kernel, atol=1e-6) and np.allclose(beta, bias, atol=1e-6)
        ):
            return None
    return path


def is_8bit(path: Path) -> bool:
    """Whether ``path`` takes 8-bit input (a quantized graph); False if it is not readable."""
    try:
        graph = _graph(path)
    except TrainingError:
        return False
    return graph.tensors[graph.inputs[0]].dtype in ("uint8", "int8")


def with_head_appended(model, path: Path) -> bytes:
    """``path``'s own graph, cut at its pooled embedding, with ``model``'s dense head appended
    in float32 (DEQUANTIZE, RESHAPE, FULLY_CONNECTED, SOFTMAX): the file's 8-bit backbone as its
    makers quantized it, and the head trained on it (see :func:`frozen_source`)."""
    from keras import layers

    from edgecam.errors import EdgecamError
    from edgecam.teach.embedder import read_embedder
    from edgecam.teach.head import Head

    dense = [layer for layer in model.layers if isinstance(layer, layers.Dense)][-1]
    kernel, bias = dense.get_weights()
    try:
        return read_embedder(path).with_head(Head(kernel.T, bias), normalize=False)
    except EdgecamError as exc:
        raise _bad(path, str(exc)) from None
