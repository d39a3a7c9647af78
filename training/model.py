"""MobileNet-style classifiers written here (pure builder functions), and augmentation.

Every model takes raw pixels (0..255) and rescales to [-1, 1] inside, so the exported TFLite
model's input is the pixel itself and ``model.json`` says ``mean 0, std 1``.
"""

from __future__ import annotations

from dataclasses import dataclass

from training.errors import TrainingError

ARCHITECTURES = ("mobilenet_v1", "mobilenet_v2")
BASES = ("mobilenet_v2",)  # pretrained keras.applications backbones for transfer learning
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
#: TPU, and a frozen backbone's features transfer well at that width.
TRANSFER_ALPHA = 0.35


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

    @classmethod
    def create(cls, base: str | None = None, **values) -> ModelSpec:
        """A spec from ``values`` (None: the default); ``alpha`` defaults to
        :data:`TRANSFER_ALPHA` for a pretrained ``base``."""
        values = {k: v for k, v in values.items() if v is not None}
        if base:
            values.setdefault("alpha", TRANSFER_ALPHA)
        return cls(**values)


def _divisible(value: float, divisor: int = 8) -> int:
    """Round channels to a multiple of 8 (as MobileNets do: fast on every backend)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def _stem_stride(input_size: int) -> int:
    # Small inputs (Fashion-MNIST's 28 px) keep full resolution in the stem.
    return 2 if input_size >= 64 else 1


def _conv_bn(x, filters: int, kernel: int, stride: int, name: str, act: bool = True):
    import keras
    from keras import layers

    x = layers.Conv2D(
        filters, kernel, strides=stride, padding="same", use_bias=False, name=f"{name}_conv"
    )(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.ReLU(6.0, name=f"{name}_relu")(x) if act else keras.layers.Identity()(x)


def _v1_features(x, spec: ModelSpec):
    from keras import layers

    size = spec.input_size // _stem_stride(spec.input_size)
    x = _conv_bn(x, _divisible(32 * spec.alpha), 3, _stem_stride(spec.input_size), "stem")
    for i, (filters, stride) in enumerate(V1_BLOCKS[: spec.depth or len(V1_BLOCKS)]):
        stride = stride if size >= 4 else 1  # never shrink below 2x2
        size = -(-size // stride)
        x = layers.DepthwiseConv2D(
            3, strides=stride, padding="same", use_bias=False, name=f"block{i}_dw"
        )(x)
        x = layers.BatchNormalization(name=f"block{i}_dw_bn")(x)
        x = layers.ReLU(6.0, name=f"block{i}_dw_relu")(x)
        x = _conv_bn(x, _divisible(filters * spec.alpha), 1, 1, f"block{i}_pw")
    return x


def _v2_features(x, spec: ModelSpec):
    from keras import layers

    size = spec.input_size // _stem_stride(spec.input_size)
    x = _conv_bn(x, _divisible(32 * spec.alpha), 3, _stem_stride(spec.input_size), "stem")
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
                y = _conv_bn(y, in_channels * expansion, 1, 1, f"{name}_expand")
            y = layers.DepthwiseConv2D(
                3, strides=stride, padding="same", use_bias=False, name=f"{name}_dw"
            )(y)
            y = layers.BatchNormalization(name=f"{name}_dw_bn")(y)
            y = layers.ReLU(6.0, name=f"{name}_dw_relu")(y)
            y = _conv_bn(y, out_channels, 1, 1, f"{name}_project", act=False)
            if stride == 1 and in_channels == out_channels:
                y = layers.Add(name=f"{name}_add")([x, y])
            x = y
            block += 1
    last = _divisible(1280 * max(1.0, spec.alpha)) if spec.depth is None else x.shape[-1] * 4
    return _conv_bn(x, last, 1, 1, "head")


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


def build_transfer_model(base: str, weights: str, spec: ModelSpec, batch_size: int | None = None):
    """A keras.applications backbone (frozen) with a new head; needs the weights file.

    Returns:
        (model, backbone) so training can unfreeze the backbone's top blocks later.

    Raises:
        TrainingError: the weights are not available (offline and not in ~/.keras/models).
    """
    import keras
    from keras import layers

    if base not in BASES or spec.channels != 3:
        raise TrainingError("transfer learning supports --base mobilenet_v2 with 3 channels")
    try:
        backbone = keras.applications.MobileNetV2(
            input_shape=(spec.input_size, spec.input_size, 3),
            alpha=spec.alpha,
            include_top=False,
            weights=weights,
        )
    except Exception as exc:
        raise TrainingError(
            f"the {weights} weights for MobileNetV2 (alpha {spec.alpha:g}, {spec.input_size} px) "
            f"are not available ({str(exc).splitlines()[0][:120]})",
            "connect to the internet once, or copy the .h5 file into ~/.keras/models/; "
            "or train from scratch without --weights",
        ) from None
    backbone.trainable = False
    inputs = keras.Input((spec.input_size, spec.input_size, 3), batch_size=batch_size, name="image")
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
