"""Runtime choice and delegate loading: every failure becomes our error with a hint."""

from __future__ import annotations

import logging
import shutil

import pytest
from conftest import FIXTURES, HAS_LITERT, has_module, solid

from edgecam.bundle import resolve_model
from edgecam.config import ClassifierOptions, Delegate, Runtime
from edgecam.defaults import bundled_model
from edgecam.errors import ConfigError, DelegateError, ModelError, RuntimeNotFoundError
from edgecam.runtime import delegates
from edgecam.runtime.backends import available_runtimes, load_backend
from edgecam.runtime.delegates import (
    DELEGATES,
    DelegateEntry,
    edgetpu_library_name,
    is_edgetpu_compiled,
    load_edgetpu_delegate,
)
from edgecam.runtime.delegates.cpu import Cpu
from edgecam.runtime.engine import EngineOptions, open_engine
from edgecam.runtime.interpreter import interpreter_engine
from edgecam.vision import Classifier

needs_litert = pytest.mark.skipif(not HAS_LITERT, reason="ai-edge-litert is not installed here")


def options(model="color_float32.tflite", **kwargs) -> ClassifierOptions:
    return ClassifierOptions(model=FIXTURES / model, **kwargs)


@pytest.fixture
def notes(caplog, monkeypatch):
    """The edgecam logger's warnings, whatever logging setup an earlier test left behind."""
    monkeypatch.setattr(logging.getLogger("edgecam"), "propagate", True)
    caplog.set_level(logging.WARNING, logger="edgecam")
    return caplog


def warnings_of(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


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


def test_auto_falls_back_from_edgetpu_variant_to_cpu(tmp_path, notes):
    shutil.copytree(FIXTURES / "bundle_int8", tmp_path / "b")
    shutil.copy(FIXTURES / "edgetpu_like.tflite", tmp_path / "b" / "model_edgetpu.tflite")
    with Classifier(ClassifierOptions(model=tmp_path / "b", delegate="auto")) as clf:
        assert clf.engine.delegate is not Delegate.EDGETPU
        assert clf.classify(solid("red")).top.label == "red"
    (edgetpu,) = [r for r in notes.records if r.getMessage().startswith("Edge TPU not used")]
    assert "Edge TPU library libedgetpu" in edgetpu.getMessage()
    assert edgetpu.name == "edgecam.runtime.engine"


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
def test_auto_falls_back_to_cpu_and_says_so(notes):
    if _gpu_available():
        pytest.skip("this machine has a working GPU accelerator")
    notes.clear()
    with Classifier(options(delegate="auto")) as clf:
        assert clf.engine.delegate is Delegate.CPU
        assert clf.engine.description.startswith("cpu (XNNPACK, ")
        assert clf.classify(solid("blue")).top.label == "blue"
    assert warnings_of(notes) == [
        "GPU not used: the GPU accelerator could not start (no GPU adapter found); "
        "running on the CPU"
    ]


@pytest.mark.skipif(not has_module("tflite_runtime"), reason="tflite-runtime is not installed")
def test_auto_on_tflite_runtime_says_the_gpu_needs_litert(notes):
    with Classifier(options(delegate="auto", runtime="tflite_runtime")) as clf:
        assert clf.engine.delegate is Delegate.CPU
        assert clf.classify(solid("red")).top.label == "red"
    (line,) = warnings_of(notes)
    assert line.startswith("GPU not used: the GPU needs ai-edge-litert's accelerator, not ")
    assert line.endswith("; running on the CPU")


@needs_litert
def test_gpu_runs_for_real_when_present(notes):
    if not _gpu_available():
        pytest.skip("no GPU with Vulkan drivers on this machine")
    with Classifier(options(delegate="gpu")) as clf:
        assert clf.engine.delegate is Delegate.GPU
        assert clf.engine.description == "gpu (LiteRT WebGPU accelerator)"
        assert clf.classify(solid("green")).top.label == "green"
    notes.clear()
    with Classifier(options(delegate="auto")) as clf:  # auto takes the GPU, silently
        assert clf.engine.delegate is Delegate.GPU
    assert warnings_of(notes) == []


@pytest.mark.hardware
def test_edgetpu_delegate_loads_when_present():
    try:
        delegate = load_edgetpu_delegate(load_backend())
    except DelegateError as exc:
        pytest.skip(f"no Edge TPU here: {exc.message}")
    assert delegate is not None


# --- the delegate table ------------------------------------------------------------------------


def test_table_order_is_edgetpu_gpu_cpu():
    assert [e.name for e in DELEGATES] == ["edgetpu", "gpu-library", "gpu-compiled", "cpu"]
    assert [e.delegate for e in DELEGATES] == [
        Delegate.EDGETPU,
        Delegate.GPU,
        Delegate.GPU,
        Delegate.CPU,
    ]
    # Every explicit choice but auto has an entry.
    assert {e.delegate for e in DELEGATES} == set(Delegate) - {Delegate.AUTO}


def test_the_last_entry_applies_to_every_model():
    last = DELEGATES[-1]
    for model in ("color_float32.tflite", "edgetpu_like.tflite", "bundle_int8"):
        for engine in (EngineOptions(), EngineOptions(gpu_delegate_library="/x/libgpu.so")):
            assert last.applies(resolve_model(FIXTURES / model), engine)


def test_which_entries_apply(tmp_path):
    plain = resolve_model(FIXTURES / "color_uint8.tflite")
    bare = resolve_model(FIXTURES / "edgetpu_like.tflite")
    shutil.copytree(FIXTURES / "bundle_int8", tmp_path / "b")
    shutil.copy(FIXTURES / "edgetpu_like.tflite", tmp_path / "b" / "model_edgetpu.tflite")
    variant = resolve_model(tmp_path / "b")

    def applying(files, **kwargs):
        return [e.name for e in DELEGATES if e.applies(files, EngineOptions(**kwargs))]

    assert applying(plain) == ["gpu-compiled", "cpu"]
    assert applying(bare) == ["edgetpu", "gpu-compiled", "cpu"]
    assert applying(variant) == ["edgetpu", "gpu-compiled", "cpu"]
    assert applying(plain, gpu_delegate_library="/x/libgpu.so") == ["gpu-library", "cpu"]


def test_descriptions():
    by_name = {e.name: e for e in DELEGATES}
    assert by_name["cpu"].describe(EngineOptions(threads=2)) == "cpu (2 threads)"
    assert by_name["cpu"].describe(EngineOptions(threads=1)) == "cpu (1 thread)"
    assert "fastest" in by_name["cpu"].describe(EngineOptions())
    assert by_name["edgetpu"].describe(EngineOptions()) == "edgetpu (first found)"
    assert by_name["edgetpu"].describe(EngineOptions(edgetpu_device="pci:1")) == "edgetpu (pci:1)"
    lib = EngineOptions(gpu_delegate_library="/opt/libtensorflowlite_gpu_delegate.so")
    assert (
        by_name["gpu-library"].describe(lib) == "gpu (delegate libtensorflowlite_gpu_delegate.so)"
    )
    assert by_name["gpu-compiled"].describe(EngineOptions()) == "gpu (LiteRT WebGPU accelerator)"


class FakeDelegate(DelegateEntry):
    """A delegate put first in the table; it fails in probe or load, or loads the CPU."""

    name = "fake"
    delegate = Delegate.GPU
    label = "Fake"

    def __init__(self, probe_error=None, load_error=None):
        self.probe_error = probe_error
        self.load_error = load_error
        self.loaded = 0

    def probe(self, backend, files, options):
        return self.probe_error

    def load(self, backend, files, options):
        self.loaded += 1
        if self.load_error is not None:
            raise self.load_error
        return interpreter_engine(
            backend, files.model, self.delegate, self.describe(options), 1, []
        )

    def describe(self, options):
        return "fake (on the CPU really)"


@pytest.fixture
def fake_first(monkeypatch):
    def put(fake):
        monkeypatch.setattr(delegates, "DELEGATES", (fake, *DELEGATES))
        return fake

    return put


def test_auto_tries_the_first_entry_first(fake_first, notes):
    fake = fake_first(FakeDelegate())
    engine = open_engine(resolve_model(FIXTURES / "color_float32.tflite"), EngineOptions())
    try:
        assert engine.description == "fake (on the CPU really)"
        assert fake.loaded == 1
    finally:
        engine.close()
    assert warnings_of(notes) == []


def test_a_failing_first_entry_becomes_the_fallback_warning(fake_first, notes):
    fake = fake_first(FakeDelegate(load_error=DelegateError("the fake chip is unplugged", "x")))
    files = resolve_model(FIXTURES / "color_float32.tflite")
    engine = open_engine(files, EngineOptions(gpu_delegate_library="/no/libgpu.so"))
    try:
        assert fake.loaded == 1
        assert engine.delegate is Delegate.CPU
    finally:
        engine.close()
    # The fake is followed by the GPU library, which fails too, then the CPU.
    assert warnings_of(notes) == [
        "Fake not used: the fake chip is unplugged",
        "GPU not used: GPU delegate library not found: /no/libgpu.so; running on the CPU",
    ]


def test_a_probe_reason_skips_the_load(fake_first, notes):
    fake = fake_first(FakeDelegate(probe_error=DelegateError("no fake chip on this bus")))
    files = resolve_model(FIXTURES / "color_float32.tflite")
    engine = open_engine(files, EngineOptions(gpu_delegate_library="/no/libgpu.so"))
    engine.close()
    assert fake.loaded == 0
    assert warnings_of(notes)[0] == "Fake not used: no fake chip on this bus"


def test_a_model_error_in_auto_also_falls_back(fake_first, notes):
    fake_first(FakeDelegate(load_error=ModelError("fake cannot read it")))
    files = resolve_model(FIXTURES / "color_float32.tflite")
    engine = open_engine(files, EngineOptions(gpu_delegate_library="/no/libgpu.so"))
    engine.close()
    assert warnings_of(notes)[0] == "Fake not used: fake cannot read it"


def test_explicit_choice_takes_the_first_entry_of_its_kind(fake_first, notes):
    fake_first(FakeDelegate(load_error=DelegateError("the fake chip is unplugged", "plug it")))
    files = resolve_model(FIXTURES / "color_float32.tflite")
    with pytest.raises(DelegateError, match="the fake chip is unplugged") as err:
        open_engine(files, EngineOptions(delegate="gpu"))
    assert err.value.hint == "plug it"
    assert warnings_of(notes) == []  # an explicit choice never falls back


def test_explicit_cpu_uses_the_cpu_entry():
    engine = open_engine(
        resolve_model(FIXTURES / "color_float32.tflite"), EngineOptions(delegate="cpu", threads=2)
    )
    try:
        assert engine.delegate is Delegate.CPU
        assert engine.description == "cpu (XNNPACK, 2 threads)"
    finally:
        engine.close()


def test_cpu_probe_refuses_a_bare_edgetpu_model():
    reason = Cpu().probe(
        load_backend(), resolve_model(FIXTURES / "edgetpu_like.tflite"), EngineOptions()
    )
    assert isinstance(reason, DelegateError)
    assert "compiled for the Edge TPU and cannot run on the CPU" in reason.message
    assert reason.hint == "use --delegate edgetpu, or the model's plain .tflite"


def test_explicit_gpu_on_tflite_runtime_needs_litert():
    if not has_module("tflite_runtime"):
        pytest.skip("tflite-runtime is not installed")
    files = resolve_model(FIXTURES / "color_float32.tflite")
    with pytest.raises(DelegateError, match="the GPU needs ai-edge-litert's accelerator") as err:
        open_engine(files, EngineOptions(delegate="gpu", runtime="tflite_runtime"))
    assert "--runtime litert" in err.value.hint


def test_threads_auto_times_the_candidates_and_keeps_the_fastest():
    from edgecam.runtime.delegates.cpu import choose_threads, thread_candidates

    assert thread_candidates(1) == [1]
    assert thread_candidates(2) == [1, 2]
    assert thread_candidates(16) == [1, 2, 4]
    assert choose_threads({1: 1.0, 2: 0.5}) == 2
    assert choose_threads({1: 1.0, 2: 0.97}) == 1  # as fast: fewer threads win
    assert choose_threads({1: 3.0, 2: 8.6}) == 1
    engine = open_engine(resolve_model(bundled_model()), EngineOptions(delegate="cpu"))
    try:
        text = engine.description
        if len(thread_candidates()) > 1:
            assert "fastest here (1: " in text, text
        # The chosen count is in the description, and XNNPACK only where it is applied.
        assert ("XNNPACK" in text) == ("DELEGATE" in engine.ops)
    finally:
        engine.close()


def test_tflite_runtime_int8_is_not_called_xnnpack_and_its_threads_are_timed():
    from edgecam.runtime.delegates.cpu import thread_candidates

    if "tflite_runtime" not in available_runtimes():
        pytest.skip("tflite-runtime is not installed here (the Pi environment has it)")
    engine = open_engine(
        resolve_model(bundled_model()), EngineOptions(delegate="cpu", runtime="tflite_runtime")
    )
    try:
        # No XNNPACK on int8 there, and the built-in kernels' best count depends on the model
        # (docs/BENCHMARKS.md), so they are timed like XNNPACK's.
        assert engine.description.startswith("cpu (built-in kernels, "), engine.description
        if len(thread_candidates()) > 1:
            assert "fastest here (1: " in engine.description, engine.description
    finally:
        engine.close()
