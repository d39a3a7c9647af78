"""MobileNet-style classifiers written here (pure builder functions), and augmentation.

Every model takes raw pixels (0..255) and rescales to [-1, 1] inside, so the exported TFLite
model's input is the pixel itself and ``model.json`` says ``mean 0, std 1``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from training.errors import TrainingError

ARCHITECTURES = ("mobilenet_v1", "mobilenet_v2")
#: Pretrained keras.applications backbones for transfer learning: --base NAME -> class name.
BACKBONES = {
    "mobilenet_v1": "MobileNet",  # also from a MobileNet V1 .tflite (training.tflite_backbone)
    "mobilenet_v2": "MobileNetV2",
    "mobilenet_v3_small": "MobileNetV3Small",
    "mobilenet_v3_large": "MobileNetV3Large",
}
BASES = tuple(BACKBONES)
# (output channels at alpha 1, stride) of the 13 depthwise-separable blocks of MobileNetV1.
V1_BLOCKS = [
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (1024, 2),
    (1024, 1),
]
# (expansion, output channels, repeats, first stride) of MobileNetV2's bottleneck stages.
V2_STAGES = [
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
]


#: Width multiplier of a pretrained ``--base`` when ``--alpha`` is not given: 0.35 is the
#: narrowest MobileNetV2 with published ImageNet weights, the fastest on a CPU, a Pi or an Edge
#: TPU, and a frozen backbone's features transfer well at that width. MobileNetV3 has ImageNet
#: weights at 0.75 and 1.0 only; 1.0 is its standard.
TRANSFER_ALPHA = 0.35
#: MobileNetV1: 1.0, the width of the catalogue's embedder-mobilenet-v1 (a .tflite --weights).
TRANSFER_ALPHAS = {"mobilenet_v1": 1.0, "mobilenet_v2": TRANSFER_ALPHA}
V3_ALPHA = 1.0
#: Weights files ``--weights`` takes besides ``imagenet`` (Keras' own downloads are .h5; a
#: .tflite is a MobileNet V1 for ``--base mobilenet_v1``).
WEIGHT_FILE_SUFFIXES = (".h5", ".keras", ".tflite")


@dataclass(frozen=True)
class ModelSpec:
    """Architecture hyper-parameters (also recorded in model.json)."""

    arch: str = "mobilenet_v1"
    input_size: int = 96
    channels: int = 3
    num_classes: int = 2
    alpha: float = 1.0
    depth: int | None = None  # V1: blocks to keep (1-13); V2: stages to keep (1-7)
    dropout: float = 0.2
    #: BatchNormalization's moving-average momentum: Keras' 0.99 needs some hundreds of steps
    #: before its inference-time statistics mean anything (see :func:`training.auto`).
    bn_momentum: float = 0.99

    def __post_init__(self) -> None:
        if self.arch not in ARCHITECTURES:
            raise TrainingError(
                f"unknown architecture '{self.arch}'", f"choose one of {', '.join(ARCHITECTURES)}"
            )
        if self.channels not in (1, 3):
            raise TrainingError(f"channels must be 1 or 3, got {self.channels}")
        if not 0 < self.alpha <= 2:
            raise TrainingError(f"alpha must be in (0, 2], got {self.alpha}")
        if self.input_size < 16:
            raise TrainingError(f"input size must be at least 16, got {self.input_size}")
        if not 0 <= self.dropout < 1:
            raise TrainingError(f"dropout must be in [0, 1), got {self.dropout}")
        if not 0 < self.bn_momentum < 1:
            raise TrainingError(f"BatchNorm momentum must be in (0, 1), got {self.bn_momentum}")

    @classmethod
    def create(cls, base: str | None = None, **values) -> ModelSpec:
        """A spec from ``values`` (None: the default); ``alpha`` defaults to
        :data:`TRANSFER_ALPHA` for a pretrained ``base``."""
        values = {k: v for k, v in values.items() if v is not None}
        if base:
            values.setdefault("alpha", TRANSFER_ALPHAS.get(base, V3_ALPHA))
        return cls(**values)


def _divisible(value: float, divisor: int = 8) -> int:
    """Round channels to a multiple of 8 (as MobileNets do: fast on every backend)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def _stem_stride(input_size: int) -> int:
    # Small inputs (Fashion-MNIST's 28 px) keep full resolution in the stem.
    return 2 if input_size >= 64 else 1


def _bn(x, name: str, spec: ModelSpec):
    from keras import layers

    return layers.BatchNormalization(momentum=spec.bn_momentum, name=name)(x)


def _conv_bn(x, filters: int, kernel: int, stride: int, name: str, spec: ModelSpec, act=True):
    import keras
    from keras import layers

    x = layers.Conv2D(
        filters, kernel, strides=stride, padding="same", use_bias=False, name=f"{name}_conv"
    )(x)
    x = _bn(x, f"{name}_bn", spec)
    return layers.ReLU(6.0, name=f"{name}_relu")(x) if act else keras.layers.Identity()(x)


def _v1_features(x, spec: ModelSpec):
    from keras import layers

    size = spec.input_size // _stem_stride(spec.input_size)
    x = _conv_bn(x, _divisible(32 * spec.alpha), 3, _stem_stride(spec.input_size), "stem", spec)
    for i, (filters, stride) in enumerate(V1_BLOCKS[: spec.depth or len(V1_BLOCKS)]):
        stride = stride if size >= 4 else 1  # never shrink below 2x2
        size = -(-size // stride)
        x = layers.DepthwiseConv2D(
            3, strides=stride, padding="same", use_bias=False, name=f"block{i}_dw"
        )(x)
        x = _bn(x, f"block{i}_dw_bn", spec)
        x = layers.ReLU(6.0, name=f"block{i}_dw_relu")(x)
        x = _conv_bn(x, _divisible(filters * spec.alpha), 1, 1, f"block{i}_pw", spec)
    return x


def _v2_features(x, spec: ModelSpec):
    from keras import layers

    size = spec.input_size // _stem_stride(spec.input_size)
    x = _conv_bn(x, _divisible(32 * spec.alpha), 3, _stem_stride(spec.input_size), "stem", spec)
    block = 0
    for expansion, filters, repeats, first_stride in V2_STAGES[: spec.depth or len(V2_STAGES)]:
        out_channels = _divisible(filters * spec.alpha)
        for r in range(repeats):
            stride = first_stride if r == 0 and size >= 4 else 1
            size = -(-size // stride)
            name = f"block{block}"
            in_channels = x.shape[-1]
            y = x
            if expansion != 1:
                y = _conv_bn(y, in_channels * expansion, 1, 1, f"{name}_expand", spec)
            y = layers.DepthwiseConv2D(
                3, strides=stride, padding="same", use_bias=False, name=f"{name}_dw"
            )(y)
            y = _bn(y, f"{name}_dw_bn", spec)
            y = layers.ReLU(6.0, name=f"{name}_dw_relu")(y)
            y = _conv_bn(y, out_channels, 1, 1, f"{name}_project", spec, act=False)
            if stride == 1 and in_channels == out_channels:
                y = layers.Add(name=f"{name}_add")([x, y])
            x = y
            block += 1
    last = _divisible(1280 * max(1.0, spec.alpha)) if spec.depth is None else x.shape[-1] * 4
    return _conv_bn(x, last, 1, 1, "head", spec)


def build_model(spec: ModelSpec, batch_size: int | None = None):
    """Build the classifier: rescaling -> MobileNet features -> pooling -> dropout -> softmax.

    Args:
        spec: the architecture.
        batch_size: fixed batch size of the input (1 for export: the Edge TPU needs it).
    """
    import keras
    from keras import layers

    inputs = keras.Input(
        (spec.input_size, spec.input_size, spec.channels), batch_size=batch_size, name="image"
    )
    x = layers.Rescaling(1 / 127.5, offset=-1.0, name="rescale")(inputs)
    x = _v1_features(x, spec) if spec.arch == "mobilenet_v1" else _v2_features(x, spec)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    if spec.dropout:
        x = layers.Dropout(spec.dropout, name="dropout")(x)
    outputs = layers.Dense(spec.num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name=f"{spec.arch}_{spec.alpha:g}_{spec.input_size}")


def _catalogue_weights(name: str) -> Path | None:
    """The ``.tflite`` of catalogue entry ``name`` (pulled first when missing, saying so), or
    None when no entry has that name."""
    from edgecam.catalogue import load_catalogue, resolve_model
    from edgecam.errors import EdgecamError

    try:
        load_catalogue().get(name)
    except EdgecamError:
        return None
    try:
        return resolve_model(name) / "model.tflite"
    except EdgecamError as exc:
        raise TrainingError(f"--weights {name}: {exc}") from None


def weights_argument(weights: str) -> str:
    """``imagenet``, or the path of an existing weights file (keras.applications loads both; a
    .tflite is read by training.tflite_backbone), or a catalogue name (its .tflite).

    Raises:
        TrainingError: not ``imagenet``, a catalogue name, or a readable .h5 / .weights.h5 /
            .keras / .tflite file.
    """
    if weights == "imagenet":
        return weights
    path = Path(weights).expanduser()
    if not path.suffix and not path.exists():
        path = _catalogue_weights(weights) or path
    if not path.name.endswith(WEIGHT_FILE_SUFFIXES):
        raise TrainingError(
            f"--weights {weights}: neither imagenet nor a weights file",
            "give --weights imagenet, or a FILE.h5, FILE.weights.h5, FILE.keras, or (for "
            "--base mobilenet_v1) a MobileNet V1 FILE.tflite",
        )
    if not path.is_file():
        raise TrainingError(f"--weights file not found: {path}", "check the path")
    return str(path)


def build_transfer_model(base: str, weights: str, spec: ModelSpec, batch_size: int | None = None):
    """A keras.applications backbone (frozen) with a new head.

    ``weights``: ``imagenet`` (Keras' cache in ~/.keras/models, else a download that Keras
    checks against its hash) or a weights file saved from the same backbone (alpha, input size)
    for machines without internet.

    Returns:
        (model, backbone) so training can unfreeze the backbone's top blocks later.

    Raises:
        TrainingError: the weights are not available (offline and not in ~/.keras/models), or
            the file does not fit the backbone.
    """
    import keras
    from keras import layers

    if base not in BACKBONES or spec.channels != 3:
        raise TrainingError(
            f"transfer learning needs --base one of {', '.join(BASES)} and 3 channels"
        )
    source = weights_argument(weights)
    name = BACKBONES[base]
    from_tflite = source.endswith(".tflite")
    if from_tflite and base != "mobilenet_v1":
        raise TrainingError(
            f"--weights {source}: a .tflite gives the weights of --base mobilenet_v1 only",
            "use --base mobilenet_v1, or a Keras weights file for this backbone",
        )
    options = {} if base in ("mobilenet_v1", "mobilenet_v2") else {"include_preprocessing": False}
    try:
        backbone = getattr(keras.applications, name)(
            input_shape=(spec.input_size, spec.input_size, 3),
            alpha=spec.alpha,
            include_top=False,
            weights=None if from_tflite else source,
            **options,
        )
    except Exception as exc:
        reason = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        if source != "imagenet":
            raise TrainingError(
                f"--weights {source} does not fit {name} (alpha {spec.alpha:g}, "
                f"{spec.input_size} px): {reason}",
                "save the weights from the same backbone, alpha and --input-size",
            ) from None
        raise TrainingError(
            f"the imagenet weights for {name} (alpha {spec.alpha:g}, {spec.input_size} px) "
            f"are not available ({reason})",
            "connect to the internet once, or copy the .h5 file into ~/.keras/models/, or give "
            "--weights FILE; or train from scratch without --base",
        ) from None
    if from_tflite:
        from training.tflite_backbone import load_into

        load_into(backbone, Path(source))
    backbone.trainable = False
    inputs = keras.Input((spec.input_size, spec.input_size, 3), batch_size=batch_size, name="image")
    # Every keras.applications MobileNet here takes [-1, 1] (V3 with its own rescaling off).
    x = layers.Rescaling(1 / 127.5, offset=-1.0, name="rescale")(inputs)
    x = backbone(x, training=False)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    if spec.dropout:
        x = layers.Dropout(spec.dropout, name="dropout")(x)
    outputs = layers.Dense(spec.num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name=f"transfer_{base}"), backbone


@dataclass(frozen=True)
class Augmentation:
    """Random training-time changes; each one off at 0 / False."""

    flip: bool = True
    rotation: float = 0.05  # fraction of a full turn
    zoom: float = 0.1
    translate: float = 0.1
    brightness: float = 0.1
    contrast: float = 0.1

    @classmethod
    def none(cls) -> Augmentation:
        """No augmentation at all (``--no-augment``)."""
        return cls(False, 0, 0, 0, 0, 0)

    def layers(self, seed: int) -> list:
        from keras import layers

        out = []
        if self.flip:
            out.append(layers.RandomFlip("horizontal", seed=seed))
        if self.rotation:
            out.append(layers.RandomRotation(self.rotation, fill_mode="constant", seed=seed))
        if self.zoom:
            out.append(layers.RandomZoom(self.zoom, fill_mode="constant", seed=seed))
        if self.translate:
            out.append(
                layers.RandomTranslation(
                    self.translate, self.translate, fill_mode="constant", seed=seed
                )
            )
        if self.brightness:
            out.append(layers.RandomBrightness(self.brightness, value_range=(0, 255), seed=seed))
        if self.contrast:
            out.append(layers.RandomContrast(self.contrast, value_range=(0, 255), seed=seed))
        return out


def with_augmentation(model, augmentation: Augmentation, seed: int):
    """The training graph: augmentation layers in front of ``model`` (exported without them)."""
    import keras

    extra = augmentation.layers(seed)
    if not extra:
        return model
    inputs = keras.Input(model.input_shape[1:], name="image")
    x = keras.Sequential(extra, name="augment")(inputs)
    return keras.Model(inputs, model(x), name=f"{model.name}_train")


def rebatch(model, spec_batch: int = 1):
    """A copy of ``model`` whose input has a fixed batch size (the Edge TPU needs batch 1).

    Rebuilds the same architecture from its config with the new input and copies the weights.
    """
    import keras

    config = model.get_config()
    for layer in config["layers"]:
        if layer["class_name"] == "InputLayer":
            cfg = layer["config"]
            shape = cfg.get("batch_shape") or cfg.get("batch_input_shape")
            cfg["batch_shape"] = [spec_batch, *shape[1:]]
            cfg.pop("batch_input_shape", None)
    fixed = keras.Model.from_config(config)
    fixed.set_weights(model.get_weights())
    return fixed
