"""Runtime choice and delegate loading: every failure becomes our error with a hint."""

from __future__ import annotations

import shutil

import pytest
from conftest import FIXTURES, HAS_LITERT, has_module, solid

from edgecam.config import ClassifierOptions, Delegate, Runtime
from edgecam.errors import ConfigError, DelegateError, RuntimeNotFoundError
from edgecam.runtime.backends import available_runtimes, load_backend
from edgecam.runtime.delegates import (
    edgetpu_library_name,
    is_edgetpu_compiled,
    load_edgetpu_delegate,
)
from edgecam.vision import Classifier

needs_litert = pytest.mark.skipif(not HAS_LITERT, reason="ai-edge-litert is not installed here")


def options(model="color_float32.tflite", **kwargs) -> ClassifierOptions:
    return ClassifierOptions(model=FIXTURES / model, **kwargs)


def test_auto_runtime_is_the_first_installed():
    backend = load_backend("auto")
    assert backend.runtime.value == available_runtimes()[0]
    assert backend.version != "unknown"


@pytest.mark.skipif(has_module("tensorflow"), reason="TensorFlow is installed here")
def test_missing_runtime_is_a_clear_error():
    with pytest.raises(RuntimeNotFoundError, match="runtime 'tensorflow' is not installed"):
        load_backend(Runtime.TENSORFLOW)


def test_unknown_choices_are_config_errors():
    with pytest.raises(ConfigError, match="unknown delegate 'tpu'"):
        options(delegate="tpu")
    with pytest.raises(ConfigError, match="usb, usb:N, pci or pci:N"):
        options(edgetpu_device="usb0")
    with pytest.raises(ConfigError, match="--threads"):
        options(threads=0)


@pytest.mark.parametrize(
    "system, name",
    [("Linux", "libedgetpu.so.1"), ("Darwin", "libedgetpu.1.dylib"), ("Windows", "edgetpu.dll")],
)
def test_edgetpu_library_per_os(system, name):
    assert edgetpu_library_name(system) == name


def test_edgetpu_compiled_detection():
    assert is_edgetpu_compiled(FIXTURES / "edgetpu_like.tflite")
    assert not is_edgetpu_compiled(FIXTURES / "color_uint8.tflite")


def test_explicit_edgetpu_without_the_library(capfd):
    with pytest.raises(DelegateError, match="Edge TPU library libedgetpu") as err:
        Classifier(options("edgetpu_like.tflite", delegate="edgetpu", edgetpu_device="usb:0"))
    assert "libedgetpu1-std" in err.value.hint
    # The runtimes' own "Exception ignored in Delegate.__del__" noise must not appear.
    assert "Exception ignored" not in capfd.readouterr().err


def test_explicit_edgetpu_with_a_plain_model():
    with pytest.raises(DelegateError, match="not compiled for the Edge TPU"):
        Classifier(options("color_uint8.tflite", delegate="edgetpu"))


def test_auto_with_a_bare_edgetpu_model_cannot_fall_back():
    with pytest.raises(DelegateError, match="compiled for the Edge TPU, which is not available"):
        Classifier(options("edgetpu_like.tflite", delegate="auto"))


def test_auto_falls_back_from_edgetpu_variant_to_cpu(tmp_path):
    shutil.copytree(FIXTURES / "bundle_int8", tmp_path / "b")
    shutil.copy(FIXTURES / "edgetpu_like.tflite", tmp_path / "b" / "model_edgetpu.tflite")
    with Classifier(ClassifierOptions(model=tmp_path / "b", delegate="auto")) as clf:
        assert clf.engine.delegate is not Delegate.EDGETPU
        assert any(n.startswith("Edge TPU not used") for n in clf.notices)
        assert clf.classify(solid("red")).top.label == "red"


def test_missing_classic_gpu_delegate_library(tmp_path):
    with pytest.raises(DelegateError, match="GPU delegate library not found"):
        Classifier(options(delegate="gpu", gpu_delegate_library=tmp_path / "libgpu.so"))


def test_gpu_delegate_library_from_environment(monkeypatch, tmp_path):
    fake = tmp_path / "libnot_a_delegate.so"
    fake.write_bytes(b"\x7fELF but not really")
    monkeypatch.setenv("EDGECAM_GPU_DELEGATE", str(fake))
    opts = options(delegate="gpu")
    assert opts.gpu_delegate_library == fake
    with pytest.raises(DelegateError, match="could not be loaded"):
        Classifier(opts)


def _gpu_available() -> bool:
    try:
        Classifier(options(delegate="gpu")).close()
    except DelegateError:
        return False
    return True


@needs_litert
def test_explicit_gpu_without_a_gpu_is_an_error(capfd):
    if _gpu_available():
        pytest.skip("this machine has a working GPU accelerator")
    with pytest.raises(DelegateError, match="GPU accelerator could not start") as err:
        Classifier(options(delegate="gpu"))
    assert "--delegate cpu" in err.value.hint
    # The native WebGPU/Vulkan log lines are captured, not dumped on the terminal.
    assert "delegate_webgpu" not in capfd.readouterr().err


@needs_litert
def test_auto_falls_back_to_cpu_and_says_so():
    if _gpu_available():
        pytest.skip("this machine has a working GPU accelerator")
    with Classifier(options(delegate="auto")) as clf:
        assert clf.engine.delegate is Delegate.CPU
        assert any(n.startswith("GPU not used") for n in clf.notices)
        assert clf.classify(solid("blue")).top.label == "blue"


@needs_litert
def test_gpu_runs_for_real_when_present():
    if not _gpu_available():
        pytest.skip("no GPU with Vulkan drivers on this machine")
    with Classifier(options(delegate="gpu")) as clf:
        assert clf.engine.delegate is Delegate.GPU
        assert clf.classify(solid("green")).top.label == "green"


@pytest.mark.hardware
def test_edgetpu_delegate_loads_when_present():
    try:
        delegate = load_edgetpu_delegate(load_backend())
    except DelegateError as exc:
        pytest.skip(f"no Edge TPU here: {exc.message}")
    assert delegate is not None
