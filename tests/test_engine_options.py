"""EngineOptions: what open_engine takes, validated at construction like ClassifierOptions."""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

import pytest
from conftest import FIXTURES

from edgecam.config import GPU_DELEGATE_ENV, ClassifierOptions, Delegate, Runtime
from edgecam.errors import ConfigError
from edgecam.runtime.engine import EngineOptions
from edgecam.runtime.native import capture_native_stderr


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
