"""The training configs and the flags that fill them (no TensorFlow needed)."""

from __future__ import annotations

import dataclasses
from dataclasses import fields

import numpy as np
import pytest

from edgecam.bundle import BundleSpec, Metrics, QualityGate
from training.auto import (
    FAST_BN_MOMENTUM,
    MIN_STEPS_PER_EPOCH,
    SMALL_ALPHA,
    SMALL_DEPTH,
    size_recipe,
)
from training.cli import build_parser
from training.commands import _data_config, _train_config
from training.data import IMBALANCE_THRESHOLD, DataConfig, DatasetReport, balancing_weights
from training.errors import TrainingError
from training.export import ExportConfig, ExportResult, quality_gate
from training.model import TRANSFER_ALPHA, Augmentation, ModelSpec
from training.quantize import CALIBRATION_SAMPLES, QuantizationConfig
from training.train import FINE_TUNE_LR_FACTOR, TrainConfig


def _subparsers():
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return action.choices


def _train_args(*argv: str):
    return build_parser().parse_args(["train", "--out", "run", *argv])


def test_every_flag_has_a_one_line_help_naming_its_default():
    for name, sub in _subparsers().items():
        for action in sub._actions:
            if action.dest in ("help",) or action.required:
                continue
            text = action.help or ""
            assert text and "\n" not in text, f"{name} {action.option_strings}"
            if action.dest not in ("data",):  # --data is the one without a default
                assert "default" in text, f"{name} {action.option_strings}: {text}"


def test_train_flags_map_onto_the_dataclass_defaults():
    args = _train_args("--data", "photos")
    data = _data_config(args)
    assert data == DataConfig(data="photos")
    # A large folder (10,000 images, 157 steps a pass, 3,140 steps in 20 epochs) keeps every
    # dataclass default.
    config, reasons = _train_config(args, data, num_classes=4, n_train=10_000)
    assert config == TrainConfig(model=ModelSpec(num_classes=4)) and reasons == ()
    # Every flag is a config field, or one of these (whose mapping is tested below).
    flags = {a.dest for a in _subparsers()["train"]._actions} - {"help"}
    config_fields = {
        f.name for cls in (DataConfig, ModelSpec, Augmentation, TrainConfig) for f in fields(cls)
    }
    others = {"out", "resume", "dataset", "lr", "no_class_weights", "no_augment", "no_flip"}
    others.add("from_scratch")  # chooses --base (training.commands._pretrained_default)
    assert flags - config_fields == others


def test_a_small_folder_gets_the_small_recipe_and_is_told_why():
    data = _data_config(_train_args("--data", "photos"))
    config, reasons = _train_config(_train_args("--data", "photos"), data, 3, n_train=147)
    assert (config.batch_size, config.steps_per_epoch) == (16, MIN_STEPS_PER_EPOCH)
    assert (config.model.alpha, config.model.depth) == (SMALL_ALPHA, SMALL_DEPTH)
    assert config.model.bn_momentum == FAST_BN_MOMENTUM
    text = "\n".join(reasons)
    assert "batch size 16" in text and f"an epoch is {MIN_STEPS_PER_EPOCH} steps" in text
    assert "alpha 0.5 with the first 7 blocks" in text and "BatchNorm momentum 0.9" in text
    # Flags given win, and what they fix is not explained as a choice.
    given = _train_args(
        "--data", "d", "--batch-size", "8", "--alpha", "1", "--steps-per-epoch", "3",
        "--bn-momentum", "0.99",
    )  # fmt: skip
    config, reasons = _train_config(given, data, 3, n_train=147)
    assert (config.batch_size, config.steps_per_epoch, config.model.alpha) == (8, 3, 1.0)
    assert (config.model.depth, config.model.bn_momentum) == (None, 0.99) and reasons == ()
    # A long run of a middle-sized folder keeps 0.99 (its statistics have time to settle).
    middle = _train_args("--data", "d", "--epochs", "40")
    config, _ = _train_config(middle, data, 3, n_train=5_000)
    assert config.model.bn_momentum == 0.99 and config.steps_per_epoch is None
    assert size_recipe(5_000, 20).bn_momentum == FAST_BN_MOMENTUM  # 79 x 20 = 1,580 steps


def test_policies_live_in_the_configs():
    fashion = _data_config(_train_args("--dataset", "fashion-mnist"))
    assert (fashion.input_size, fashion.channels) == (28, 1)
    assert _data_config(_train_args("--dataset", "fashion-mnist", "--channels", "3")).channels == 3
    transfer, _ = _train_config(_train_args("--data", "d", "--base", "mobilenet_v2"), fashion, 3)
    assert transfer.model.alpha == TRANSFER_ALPHA and transfer.backbone_weights == "imagenet"
    explicit, _ = _train_config(
        _train_args("--data", "d", "--base", "mobilenet_v2", "--alpha", "0.5"), fashion, 3
    )
    assert explicit.model.alpha == 0.5
    assert TrainConfig(learning_rate=0.01).fine_tune_learning_rate == pytest.approx(
        0.01 * FINE_TUNE_LR_FACTOR
    )
    off, _ = _train_config(_train_args("--data", "d", "--no-augment", "--zoom", "0.3"), fashion, 3)
    assert off.augmentation == Augmentation.none()
    with pytest.raises(TrainingError, match="alpha"):
        _train_config(_train_args("--data", "d", "--alpha", "0"), fashion, 3)  # no silent 1.0


def test_class_weights_only_from_the_imbalance_threshold():
    balanced = [0] * 10 + [1] * 7  # 1.43x
    assert IMBALANCE_THRESHOLD > 10 / 7 and balancing_weights(balanced, 2) is None
    weights = balancing_weights([0] * 15 + [1] * 10, 2)  # 1.5x
    assert weights is not None and weights[1] == pytest.approx(1.5 * weights[0])
    assert "imbalance" in DatasetReport("d", ["a", "b"], {"a": 15, "b": 10}).format()
    assert "imbalance" not in DatasetReport("d", ["a", "b"], {"a": 10, "b": 7}).format()
    assert balancing_weights(np.array([0, 0, 0]), 2) is not None  # an empty class: weighted


def test_quantization_presets():
    assert QuantizationConfig.for_float32() == QuantizationConfig("float32", "float32", 0)
    assert QuantizationConfig.for_float16().mode == "float16"
    assert QuantizationConfig.for_dynamic().io_dtype == "float32"
    int8 = QuantizationConfig.for_int8()
    assert (int8.mode, int8.io_dtype, int8.calibration_samples) == (
        "int8",
        "uint8",
        CALIBRATION_SAMPLES,
    )
    assert int8.integer_only and not QuantizationConfig.for_dynamic().integer_only
    assert QuantizationConfig.for_int8(io="int8").io_dtype == "int8"
    assert QuantizationConfig.from_mode("float16", "int8") == QuantizationConfig.for_float16()
    assert QuantizationConfig.from_mode("int8", "int8", 10) == QuantizationConfig.for_int8(
        "int8", 10
    )
    assert ExportConfig().quantization == int8  # the export command's default


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: QuantizationConfig.from_mode("int4"), "unknown export mode 'int4'"),
        (lambda: QuantizationConfig.for_int8(io="float32"), "unknown --io-dtype 'float32'"),
        (lambda: QuantizationConfig.for_int8(calibration_samples=0), "calibration image"),
        (lambda: QuantizationConfig("float16", "uint8"), "float32 input and output"),
    ],
)
def test_bad_quantization_configs(make, message):
    with pytest.raises(TrainingError, match=message):
        make()


def test_export_flags_build_the_export_config():
    args = build_parser().parse_args(["export", "--run", "r", "--out", "b"])
    quantization = QuantizationConfig.from_mode(args.mode, args.io_dtype, args.calibration_samples)
    config = ExportConfig(quantization, args.max_drop, not args.no_edgetpu, args.name, args.resize)
    assert config == ExportConfig()


def test_quality_gate_step():
    assert quality_gate(Metrics(accuracy_drop_points=0.5), 1.0) == QualityGate(1.0, True)
    assert not quality_gate(Metrics(accuracy_drop_points=1.5), 1.0).passed
    assert quality_gate(Metrics(), -1.0).passed  # nothing measured: nothing to fail
    # One image of a 20-image test split is 5 points: noise, not a loss; two images are not.
    assert quality_gate(Metrics(test_samples=20, accuracy_drop_points=5.0), 1.0).passed
    assert not quality_gate(Metrics(test_samples=20, accuracy_drop_points=10.0), 1.0).passed
    assert not quality_gate(Metrics(test_samples=1000, accuracy_drop_points=1.5), 1.0).passed
    failed = BundleSpec(quality_gate=QualityGate(1.0, False))
    assert not ExportResult("b", failed).passed
    assert ExportResult("b", dataclasses.replace(failed, quality_gate=None)).passed


def test_the_epoch_reason_says_augmented_only_when_it_is():
    def epoch_reason(**kw):
        return next(r for r in size_recipe(100, 20, **kw).reasons if r.startswith("an epoch"))

    assert "each differently augmented" in epoch_reason()
    assert "augmented" not in epoch_reason(augmented=False, pretrained=True)
