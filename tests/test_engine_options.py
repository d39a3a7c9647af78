"""EngineOptions: what open_engine takes, validated at construction like ClassifierOptions."""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

import pytest
from conftest import FIXTURES, HAS_LITERT

from edgecam.bundle import resolve_model
from edgecam.config import GPU_DELEGATE_ENV, ClassifierOptions, Delegate, Runtime
from edgecam.errors import ConfigError
from edgecam.runtime import flatbuffer
from edgecam.runtime.engine import EngineOptions, open_engine
from edgecam.runtime.model_info import format_info, inspect_model
from edgecam.runtime.native import capture_native_stderr

needs_litert = pytest.mark.skipif(not HAS_LITERT, reason="ai-edge-litert is not installed here")


@pytest.fixture(autouse=True)
def no_gpu_env(monkeypatch):
    monkeypatch.delenv(GPU_DELEGATE_ENV, raising=False)


def test_strings_become_enums_and_paths():
    opts = EngineOptions(
        delegate="EdgeTPU", runtime="tflite-runtime", gpu_delegate_library="/x/libgpu.so"
    )
    assert opts.delegate is Delegate.EDGETPU
    assert opts.runtime is Runtime.TFLITE_RUNTIME
    assert opts.gpu_delegate_library == Path("/x/libgpu.so")
    assert EngineOptions() == EngineOptions(delegate="auto", runtime="auto")


@pytest.mark.parametrize("threads", [0, 65, -1])
def test_threads_out_of_range(threads):
    with pytest.raises(ConfigError) as err:
        EngineOptions(threads=threads)
    assert err.value.message == f"--threads must be between 1 and 64, got {threads}"
    assert err.value.hint == f"this machine has {os.cpu_count()} CPU cores"


@pytest.mark.parametrize("device", ["usb", "usb:0", "pci", "pci:12"])
def test_edgetpu_devices_accepted(device):
    assert EngineOptions(edgetpu_device=device).edgetpu_device == device


@pytest.mark.parametrize("device", ["usb0", "USB", "pci:", "tpu", ""])
def test_edgetpu_devices_refused(device):
    with pytest.raises(ConfigError) as err:
        EngineOptions(edgetpu_device=device)
    assert err.value.message == f"unknown Edge TPU device '{device}'"
    assert err.value.hint == "use usb, usb:N, pci or pci:N"


def test_unknown_delegate_and_runtime():
    with pytest.raises(ConfigError, match="unknown delegate 'tpu'") as err:
        EngineOptions(delegate="tpu")
    assert err.value.hint == "choose one of: auto, cpu, gpu, edgetpu"
    with pytest.raises(ConfigError, match="unknown runtime 'tflite'"):
        EngineOptions(runtime="tflite")


def test_gpu_library_defaults_from_the_environment(monkeypatch):
    monkeypatch.setenv(GPU_DELEGATE_ENV, "/opt/libgpu.so")
    assert EngineOptions().gpu_delegate_library == Path("/opt/libgpu.so")
    assert EngineOptions(gpu_delegate_library="/b.so").gpu_delegate_library == Path("/b.so")
    monkeypatch.setenv(GPU_DELEGATE_ENV, "")
    assert EngineOptions().gpu_delegate_library is None


def test_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        EngineOptions().threads = 2


def test_classifier_options_hand_over_their_engine_part():
    opts = ClassifierOptions(
        model=FIXTURES / "color_float32.tflite",
        delegate="cpu",
        runtime="litert",
        threads=3,
        top_k=2,
        edgetpu_device="usb:1",
        gpu_delegate_library="/x/libgpu.so",
    )
    assert opts.engine_options() == EngineOptions(
        delegate=Delegate.CPU,
        runtime=Runtime.LITERT,
        threads=3,
        edgetpu_device="usb:1",
        gpu_delegate_library=Path("/x/libgpu.so"),
    )
    changed = dataclasses.replace(opts, delegate="gpu", threads=None)
    assert changed.engine_options().delegate is Delegate.GPU
    assert changed.engine_options().threads is None
    assert opts.engine_options().delegate is Delegate.CPU  # the original is unchanged


def test_classifier_options_keep_the_same_errors():
    for kwargs, message in [
        ({"threads": 0}, "--threads must be between 1 and 64, got 0"),
        ({"edgetpu_device": "usb0"}, "unknown Edge TPU device 'usb0'"),
        ({"delegate": "tpu"}, "unknown delegate 'tpu'"),
        ({"top_k": 0}, "--top-k must be at least 1, got 0"),
    ]:
        with pytest.raises(ConfigError) as err:
            ClassifierOptions(model="m.tflite", **kwargs)
        assert err.value.message == message


def test_classifier_options_read_the_gpu_library_once(monkeypatch):
    opts = ClassifierOptions(model="m.tflite")
    monkeypatch.setenv(GPU_DELEGATE_ENV, "/late/libgpu.so")
    # Set after construction: neither the options nor their engine part change under them.
    assert opts.gpu_delegate_library is None
    assert opts.engine_options().gpu_delegate_library is None


# --- model_info and the flatbuffer reader --------------------------------------------------------


def test_info_opens_its_cpu_engine_with_engine_options():
    files = resolve_model(FIXTURES / "color_int8.tflite")
    info = inspect_model(files, EngineOptions(delegate="gpu", threads=4))  # only runtime counts
    assert info["inputs"][0]["dtype"] == "int8"
    assert info["runtime"] is not None
    assert info["ops"]["SOFTMAX"] == 1
    assert inspect_model(files) == info
    assert inspect_model(files, ClassifierOptions(model=files.model)) == info


def test_info_on_an_edgetpu_model_reads_the_flatbuffer():
    info = inspect_model(resolve_model(FIXTURES / "edgetpu_like.tflite"))
    assert info["edgetpu_compiled"] is True
    assert info["runtime"] is None  # no engine loaded it
    if not HAS_LITERT:
        assert info["inputs"] == [] and "ai-edge-litert" in info["note"]
        return
    assert "note" not in info
    assert info["ops"] == {
        "FULLY_CONNECTED": 1,
        "MEAN": 1,
        "SOFTMAX": 1,
        "edgetpu-custom-op": 2,
    }
    (inp,) = info["inputs"]
    assert inp["shape"] == [1, 32, 32, 3] and inp["dtype"] == "uint8"
    assert inp["quantization"]["zero_point"] == 127
    assert info["outputs"][0]["shape"] == [1, 3]
    assert "edgetpu-custom-op x2" in format_info(info)


@needs_litert
@pytest.mark.parametrize(
    "model", ["color_int8.tflite", "color_float32.tflite", "color_uint8.tflite"]
)
def test_flatbuffer_agrees_with_the_interpreter(model):
    files = resolve_model(FIXTURES / model)
    engine = open_engine(files, EngineOptions(delegate="cpu", threads=1))
    try:
        parsed = flatbuffer.read_model(files.model)
        assert [name for name, _ in flatbuffer.operators(parsed)] == [
            op
            for op in engine.ops
            if op != "DELEGATE"  # XNNPACK's, not in the file
        ]
        assert flatbuffer.io_specs(parsed) == (engine.inputs, engine.outputs)
    finally:
        engine.close()


@pytest.mark.skipif(HAS_LITERT, reason="ai-edge-litert (and its schema) is installed here")
def test_flatbuffer_without_the_schema_is_an_import_error():
    with pytest.raises(ImportError):
        flatbuffer.read_model(FIXTURES / "color_int8.tflite")


@needs_litert
def test_training_checker_reads_ops_through_the_same_reader():
    from training.edgetpu import check_edgetpu, read_ops

    ops = read_ops(FIXTURES / "edgetpu_like.tflite")
    assert [op.name for op in ops] == [
        name
        for name, _ in flatbuffer.operators(flatbuffer.read_model(FIXTURES / "edgetpu_like.tflite"))
    ]
    report = check_edgetpu(FIXTURES / "edgetpu_like.tflite")
    assert not report.compatible
    assert report.ops[report.split_at].name == "edgetpu-custom-op"
    assert check_edgetpu(FIXTURES / "color_uint8.tflite").compatible == all(
        op.quantized for op in read_ops(FIXTURES / "color_uint8.tflite")
    )


# --- native log capture follows the edgecam logger ------------------------------------------------


def test_native_lines_are_captured_unless_verbose(capfd):
    logger = logging.getLogger("edgecam")
    before = logger.level
    try:
        logger.setLevel(logging.WARNING)
        with capture_native_stderr() as log:
            os.write(2, b"native chatter\n")
        assert "native chatter" in log.text
        assert "native chatter" not in capfd.readouterr().err

        logger.setLevel(logging.DEBUG)  # what -v sets
        with capture_native_stderr() as log:
            os.write(2, b"native chatter\n")
        assert log.text == ""
        assert "native chatter" in capfd.readouterr().err
    finally:
        logger.setLevel(before)
