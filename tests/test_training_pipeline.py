"""Train -> export in each mode -> load with edgecam, on a tiny generated image folder.

Also: the model builders, resume after an interruption, atomic export, the Edge TPU checker on
known op lists and on real exports, the compiler call, and the evaluate command.
"""

from __future__ import annotations

import json
import shutil
import stat

import numpy as np
import pytest
from conftest import run_cli
from test_training_folder import make_folder

pytest.importorskip("tensorflow", reason="TensorFlow is not installed (runs in .venv-train)")

import keras

from edgecam.bundle import BundleSpec
from edgecam.config import ClassifierOptions
from edgecam.labels import read_embedded_labels
from edgecam.vision import Classifier
from training.edgetpu import OpInfo, analyze_ops, check_edgetpu, compile_edgetpu
from training.errors import TrainingError
from training.model import ModelSpec, build_model, rebatch
from training.quantize import QuantizationConfig, convert

CLASSES = ["a_dark", "b_bright", "c_striped"]
TRAIN_ARGS = [
    "--input-size",
    "24",
    "--alpha",
    "0.25",
    "--depth",
    "3",
    "--batch-size",
    "8",
    "--val-split",
    "0.25",
    "--seed",
    "1",
    "--steps-per-epoch",
    "3",
]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return make_folder(tmp_path_factory.mktemp("data"), dict.fromkeys(CLASSES, 12), size=32)


@pytest.fixture(scope="module")
def run_dir(data_dir, tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    proc = run_cli(
        "train",
        "--data",
        str(data_dir),
        "--out",
        str(run),
        "--epochs",
        "1",
        *TRAIN_ARGS,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "done: 1 epochs" in proc.stdout
    return run


def test_builders_shapes_and_batch_one():
    v1 = build_model(ModelSpec("mobilenet_v1", 28, 1, 10, alpha=0.5, depth=7))
    assert v1.input_shape == (None, 28, 28, 1) and v1.output_shape == (None, 10)
    v2 = build_model(ModelSpec("mobilenet_v2", 96, 3, 4, alpha=0.35))
    assert v2.output_shape == (None, 4)
    assert any(isinstance(layer, keras.layers.Add) for layer in v2.layers)  # inverted residuals
    assert isinstance(v1.layers[1], keras.layers.Rescaling)  # preprocessing inside the model
    fixed = rebatch(v1, 1)
    assert fixed.input_shape == (1, 28, 28, 1)
    x = np.random.default_rng(0).uniform(0, 255, (1, 28, 28, 1)).astype(np.float32)
    np.testing.assert_allclose(fixed(x), v1(x), atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"arch": "resnet"}, "unknown architecture"),
        ({"channels": 2}, "channels must be 1 or 3"),
        ({"alpha": 0}, "alpha"),
    ],
)
def test_bad_model_specs(kwargs, message):
    with pytest.raises(TrainingError, match=message):
        ModelSpec(**kwargs)


def test_run_folder_holds_checkpoint_log_recipe_and_dataset(run_dir):
    assert (run_dir / "best.keras").exists()
    log = (run_dir / "training_log.csv").read_text().splitlines()
    assert log[0].startswith("epoch") and len(log) == 2
    recipe = json.loads((run_dir / "recipe.json").read_text())
    assert recipe["model"]["alpha"] == 0.25 and recipe["seed"] == 1
    dataset = json.loads((run_dir / "dataset.json").read_text())
    assert dataset["classes"] == CLASSES and dataset["sizes"] == {"train": 21, "val": 6, "test": 9}
    assert not (run_dir / "backup").exists()  # removed after a finished run


@pytest.mark.parametrize(
    "mode, io, in_dtype",
    [
        ("float32", "uint8", "float32"),
        ("float16", "uint8", "float32"),
        ("dynamic", "uint8", "float32"),
        ("int8", "uint8", "uint8"),
        ("int8", "int8", "int8"),
    ],
)
def test_export_each_mode_and_load_it_with_edgecam(run_dir, data_dir, tmp_path, mode, io, in_dtype):
    bundle = tmp_path / f"bundle-{mode}-{io}"
    proc = run_cli(
        "export",
        "--force",  # a one-epoch model may be at chance
        "--run",
        str(run_dir),
        "--out",
        str(bundle),
        "--mode",
        mode,
        "--io-dtype",
        io,
        "--calibration-samples",
        "10",
        "--max-drop",
        "100",
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert sorted(p.name for p in bundle.iterdir()) == ["labels.txt", "model.json", "model.tflite"]
    document = json.loads((bundle / "model.json").read_text())
    assert document["format_version"] == 1
    spec = BundleSpec.load(bundle / "model.json")
    assert spec.to_json() == document and not spec.extra  # every key written is a known one
    assert spec.quantization == mode and spec.classes == tuple(CLASSES)
    assert spec.input.dtype == in_dtype and (spec.input.width, spec.input.height) == (24, 24)
    assert spec.output.num_classes == 3 and spec.recipe["model"]["alpha"] == 0.25
    metrics = spec.metrics
    # size_bytes is the flatbuffer; the file adds the embedded labels and model.json.
    file_size = (bundle / "model.tflite").stat().st_size
    assert metrics.size_bytes < file_size < metrics.size_bytes + 16384
    assert 0 <= metrics.tflite_accuracy <= 1 and metrics.cpu_latency_ms > 0
    assert metrics.accuracy_drop_points is not None and spec.quality_gate.passed
    assert read_embedded_labels(bundle / "model.tflite") == CLASSES
    if mode == "int8":
        assert spec.edgetpu["compatible"] is True
        assert "calibrated on 10 training images" in proc.stdout
        assert "picks the float model's class on" in proc.stdout
        assert 0 <= metrics.extra["float_agreement"] <= 1
        assert metrics.extra["agreement_samples"] == 10
    else:
        assert spec.edgetpu is None and "calibrat" not in proc.stdout
    if mode == "float32":  # the same math as Keras: not one prediction may change
        assert metrics.accuracy_drop_points == 0
    # The bundle runs in the app, and the bare .tflite alone (no model.json beside it) carries
    # its labels and its input normalisation.
    bare = tmp_path / "alone" / "copied.tflite"
    bare.parent.mkdir()
    shutil.copy(bundle / "model.tflite", bare)
    for model in (bundle, bare):
        with Classifier(ClassifierOptions(model=model, delegate="cpu", top_k=3)) as clf:
            assert clf.input_spec.dtype.name == in_dtype
            assert clf.labels == CLASSES
            assert clf.files.spec is not None and clf.files.spec.normalization.std[0] == 1.0
            image = np.full((40, 40, 3), 240, np.uint8)
            result = clf.classify(image)
            assert {c.label for c in result.categories} == set(CLASSES)
            assert sum(c.score for c in result.categories) == pytest.approx(1.0, abs=0.02)


def test_quality_gate_fails_loudly(run_dir, tmp_path):
    proc = run_cli(
        "export",
        "--force",  # a one-epoch model may be at chance
        "--run",
        str(run_dir),
        "--out",
        str(tmp_path / "b"),
        "--mode",
        "int8",
        "--calibration-samples",
        "2",
        "--max-drop",
        "-1",
        timeout=300,
    )
    assert proc.returncode == 2
    assert "accuracy points (more than --max-drop -1)" in proc.stderr
    assert BundleSpec.load(tmp_path / "b" / "model.json").quality_gate.passed is False


def test_interrupted_export_leaves_the_old_bundle_untouched(run_dir, tmp_path, monkeypatch):
    from training import export as export_module

    target = tmp_path / "bundle"
    target.mkdir()
    (target / "model.tflite").write_bytes(b"old model")

    def explode(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(export_module, "_latency_ms", explode)
    model = rebatch(keras.models.load_model(run_dir / "best.keras"), 1)
    with pytest.raises(KeyboardInterrupt):
        export_module.export_bundle(
            model,
            target,
            CLASSES,
            export_module.ExportConfig(QuantizationConfig.for_float32()),
            log=lambda *_: None,
        )
    assert (target / "model.tflite").read_bytes() == b"old model"
    assert [p.name for p in tmp_path.iterdir()] == ["bundle"]  # no staging folder left


def test_resume_after_an_interruption(data_dir, tmp_path):
    from training.data import DataConfig, batched, load_splits
    from training.model import Augmentation
    from training.train import TrainConfig, train

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt  # like Ctrl-C after the second epoch's checkpoint

    splits = load_splits(DataConfig(data=str(data_dir), input_size=24, val_split=0.25))
    config = TrainConfig(
        model=ModelSpec(input_size=24, num_classes=3, alpha=0.25, depth=2),
        augmentation=Augmentation(False, 0, 0, 0, 0, 0),
        epochs=4,
        batch_size=8,
        patience=0,
    )

    def run(**kwargs):
        return train(
            config,
            batched(splits.train, 8, True, 0),
            batched(splits.val, 8, False, 0),
            4,
            tmp_path,
            **kwargs,
        )

    with pytest.raises(KeyboardInterrupt):
        run(extra_callbacks=[Interrupt()])
    assert (tmp_path / "backup").exists()
    with pytest.raises(TrainingError, match="holds an interrupted run"):
        run()
    result = run(resume=True)
    epochs = [
        int(line.split(",")[0])
        for line in (tmp_path / "training_log.csv").read_text().splitlines()[1:]
    ]
    assert epochs == [0, 1, 2, 3]  # two before the interruption, two after: none repeated
    assert result.epochs_run == 2
    assert [(p.name, p.epochs) for p in result.phases] == [("head", (2, 3))]
    assert not (tmp_path / "backup").exists()
    with pytest.raises(TrainingError, match="nothing to resume"):
        run(resume=True)


def _tiny_transfer_model(base, weights, spec, batch_size=None):
    """Stands in for the ImageNet MobileNetV2 (no internet here): a small nested backbone."""
    from keras import layers

    backbone = keras.Sequential(
        [
            keras.Input((spec.input_size, spec.input_size, 3)),
            layers.Conv2D(4, 3, strides=2, name="low"),
            layers.Conv2D(6, 3, name="top"),
        ],
        name="backbone",
    )
    backbone.trainable = False
    inputs = keras.Input((spec.input_size, spec.input_size, 3), name="image")
    x = layers.Rescaling(1 / 127.5, offset=-1.0)(inputs)
    x = layers.GlobalAveragePooling2D()(backbone(x, training=False))
    outputs = layers.Dense(spec.num_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs), backbone


class _Probe(keras.callbacks.Callback):
    """Records each fit's learning rate and trainable weights, and the weights at epoch ends."""

    def __init__(self, stop_at: tuple[str, int] | None = None):
        super().__init__()
        self.stop_at = stop_at
        self.fits = []  # (learning rate, trainable weight count, first weights)
        self.epoch_end = {}

    def on_train_begin(self, logs=None):
        lr = float(np.asarray(self.model.optimizer.learning_rate))
        self.fits.append((lr, len(self.model.trainable_weights), self.model.get_weights()))

    def on_epoch_begin(self, epoch, logs=None):
        if self.stop_at == ("begin", epoch):
            raise KeyboardInterrupt

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_end[epoch] = self.model.get_weights()
        if self.stop_at == ("end", epoch):
            raise KeyboardInterrupt


@pytest.mark.parametrize(
    "stop, resumed_epochs",
    [
        (("end", 2), (3,)),  # after the fine-tune phase's first epoch: its own backup
        (("begin", 2), (2, 3)),  # before it: from the weights the phase started with
    ],
)
def test_fine_tune_phase_continues_the_epochs_and_resumes_in_its_phase(
    data_dir, tmp_path, monkeypatch, stop, resumed_epochs
):
    from training import train as train_module
    from training.data import DataConfig, batched, load_splits
    from training.model import Augmentation
    from training.train import FINE_TUNE_START, PHASE_MARKER, TrainConfig, train

    monkeypatch.setattr(train_module, "build_transfer_model", _tiny_transfer_model)
    splits = load_splits(DataConfig(data=str(data_dir), input_size=24, val_split=0.25))
    config = TrainConfig(
        model=ModelSpec(input_size=24, num_classes=3),
        augmentation=Augmentation.none(),
        epochs=2,
        batch_size=8,
        schedule="constant",
        learning_rate=1e-3,
        patience=0,
        base="mobilenet_v2",
        fine_tune_epochs=2,
        fine_tune_layers=1,
    )

    def run(probe, **kwargs):
        return train(
            config,
            batched(splits.train, 8, True, 0),
            batched(splits.val, 8, False, 0),
            3,
            tmp_path,
            extra_callbacks=[probe],
            **kwargs,
        )

    first = _Probe(stop_at=stop)
    with pytest.raises(KeyboardInterrupt):
        run(first)
    # Two fits: the head (only the head's 2 weights train), then fine-tuning (the top conv too).
    assert [(lr, n) for lr, n, _ in first.fits] == [
        (pytest.approx(1e-3), 2),
        (pytest.approx(1e-4), 4),
    ]
    marker = json.loads((tmp_path / "backup" / PHASE_MARKER).read_text())
    assert marker == {"phase": "fine_tune", "initial_epoch": 2}
    assert (tmp_path / "backup" / FINE_TUNE_START).exists()

    resumed = _Probe()
    result = run(resumed, resume=True)
    assert [(p.name, p.epochs) for p in result.phases] == [("fine_tune", resumed_epochs)]
    assert [(lr, n) for lr, n, _ in resumed.fits] == [(pytest.approx(1e-4), 4)]  # no head fit
    # It starts from exactly the weights it stopped with.
    stopped = first.epoch_end[2] if stop[0] == "end" else first.fits[1][2]
    for now, then in zip(resumed.fits[0][2], stopped, strict=True):
        np.testing.assert_array_equal(now, then)
    epochs = [
        int(line.split(",")[0])
        for line in (tmp_path / "training_log.csv").read_text().splitlines()[1:]
    ]
    assert epochs == [0, 1, 2, 3]
    assert not (tmp_path / "backup").exists()


def test_mirrored_strategy_runs_with_one_cpu_replica(data_dir, tmp_path):
    proc = run_cli(
        "train",
        "--data",
        str(data_dir),
        "--out",
        str(tmp_path / "r"),
        "--epochs",
        "1",
        "--strategy",
        "mirrored",
        "--no-augment",
        *TRAIN_ARGS,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_transfer_learning_offline_fails_fast_with_a_hint(data_dir, tmp_path):
    from pathlib import Path

    if list((Path.home() / ".keras" / "models").glob("mobilenet_v2*")):
        pytest.skip("ImageNet weights are already in ~/.keras/models")
    proc = run_cli(
        "train",
        "--data",
        str(data_dir),
        "--out",
        str(tmp_path / "t"),
        "--base",
        "mobilenet_v2",
        "--weights",
        "imagenet",
        "--input-size",
        "96",
        timeout=120,
    )
    if proc.returncode == 0:
        pytest.skip("this machine reached the internet and downloaded the weights")
    assert "weights for MobileNetV2" in proc.stderr and "~/.keras/models" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    "ops, split_at, reason",
    [
        (
            [
                OpInfo("CONV_2D"),
                OpInfo("DEPTHWISE_CONV_2D"),
                OpInfo("MEAN"),
                OpInfo("FULLY_CONNECTED"),
                OpInfo("SOFTMAX"),
            ],
            None,
            None,
        ),
        ([OpInfo("CONV_2D"), OpInfo("ERF"), OpInfo("ADD")], 1, "not supported"),
        ([OpInfo("QUANTIZE"), OpInfo("CONV_2D", quantized=False)], 1, "not quantized"),
        ([OpInfo("CONV_2D", static_shape=False)], 0, "dynamic tensor shape"),
        ([OpInfo("RESHAPE"), OpInfo("CONV_2D", batch_one=False)], 1, "batch size is not 1"),
    ],
)
def test_edgetpu_checker_on_known_op_lists(ops, split_at, reason):
    report = analyze_ops(ops)
    assert report.split_at == split_at
    assert report.compatible is (split_at is None)
    if reason:
        assert reason in report.problems[0][2]
        assert f"would split at op #{split_at}" in report.format()


def test_edgetpu_checker_on_real_exports(run_dir, tmp_path):
    model = rebatch(keras.models.load_model(run_dir / "best.keras"), 1)
    float_path = tmp_path / "f.tflite"
    float_path.write_bytes(convert(model, QuantizationConfig.for_float32()).data)
    report = check_edgetpu(float_path)
    assert not report.compatible and "not quantized" in report.problems[0][2]
    rep = [np.full((24, 24, 3), v, np.uint8) for v in (0, 128, 255)]
    int8_path = tmp_path / "q.tflite"
    conversion = convert(model, QuantizationConfig.for_int8(), rep)
    assert conversion.calibration_images == 3
    int8_path.write_bytes(conversion.data)
    assert check_edgetpu(int8_path).compatible


def _fake_compiler(tmp_path, script: str):
    path = tmp_path / "edgetpu_compiler"
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def test_compile_calls_the_compiler_and_reattaches_labels(tmp_path):
    model = tmp_path / "model.tflite"
    shutil.copy(__import__("conftest").FIXTURES / "color_uint8.tflite", model)
    # Stands in for edgetpu_compiler: checks the arguments, writes <stem>_edgetpu.tflite.
    compiler = _fake_compiler(
        tmp_path,
        'test "$1" = --show_operations && test "$2" = --out_dir'
        ' && cp "$4" "$3/model_edgetpu.tflite"\n',
    )
    compiled = compile_edgetpu(model, ["x", "y", "z"], compiler=compiler)
    assert compiled == tmp_path / "model_edgetpu.tflite"
    assert read_embedded_labels(compiled) == ["x", "y", "z"]
    failing = _fake_compiler(tmp_path, 'echo "Model not quantized" >&2; exit 1\n')
    with pytest.raises(TrainingError, match=r"exit 1\).*Model not quantized"):
        compile_edgetpu(model, ["x"], compiler=failing)


def test_compile_without_the_compiler_returns_none(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert compile_edgetpu(tmp_path / "m.tflite", ["a"]) is None


@pytest.mark.hardware
def test_real_edgetpu_compiler_when_installed(run_dir, tmp_path):
    if shutil.which("edgetpu_compiler") is None:
        pytest.skip("edgetpu_compiler is not installed (x86-64 Debian package from Coral)")
    proc = run_cli(
        "export",
        "--force",  # a one-epoch model may be at chance
        "--run",
        str(run_dir),
        "--out",
        str(tmp_path / "b"),
        "--mode",
        "int8",
        "--calibration-samples",
        "10",
        "--max-drop",
        "100",
        timeout=300,
    )
    assert proc.returncode == 0 and (tmp_path / "b" / "model_edgetpu.tflite").exists()


def test_evaluate_writes_report_plots_and_metrics(run_dir, tmp_path):
    bundle = tmp_path / "bundle"
    assert (
        run_cli(
            "export",
            "--force",  # a one-epoch model may be at chance
            "--run",
            str(run_dir),
            "--out",
            str(bundle),
            "--mode",
            "int8",
            "--calibration-samples",
            "10",
            "--max-drop",
            "100",
            timeout=300,
        ).returncode
        == 0
    )
    for model in (bundle, run_dir / "best.keras"):
        out = tmp_path / f"report-{model.name}"
        proc = run_cli(
            "evaluate", "--model", str(model), "--run", str(run_dir), "--out", str(out), timeout=300
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        names = sorted(p.name for p in out.iterdir())
        assert names == [
            "confusion.png",
            "curves.png",
            "metrics.json",
            "misclassified.png",
            "report.md",
        ]
        metrics = json.loads((out / "metrics.json").read_text())
        assert metrics["num_samples"] == 9
        assert (
            "Accuracy" in (out / "report.md").read_text()
            or "accuracy" in (out / "report.md").read_text()
        )


def test_export_never_replaces_a_folder_that_is_not_a_bundle(run_dir, tmp_path):
    precious = tmp_path / "projects"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    proc = run_cli("export", "--run", str(run_dir), "--out", str(precious), timeout=120)
    assert proc.returncode == 2 and "holds other files (thesis.tex)" in proc.stderr
    assert (precious / "thesis.tex").exists()
    proc = run_cli("export", "--run", str(run_dir), "--out", str(run_dir / "b"), timeout=120)
    assert proc.returncode == 2 and "inside the run folder" in proc.stderr


def test_edgetpu_checker_reports_a_dynamic_batch(run_dir, tmp_path):
    model = keras.models.load_model(run_dir / "best.keras")  # batch dimension left open
    rep = [np.full((24, 24, 3), v, np.uint8) for v in (0, 128, 255)]
    path = tmp_path / "dynamic.tflite"
    path.write_bytes(convert(model, QuantizationConfig.for_int8(), rep).data)
    report = check_edgetpu(path)
    assert not report.compatible
    assert "dynamic tensor shape" in report.problems[0][2]
