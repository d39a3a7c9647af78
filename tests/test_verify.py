"""The structural check and the child-process probe that keep damaged models from the runtime."""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import pytest
from conftest import CLI_CWD, FIXTURES, REPO, cli_env, solid
from faults import zero_conv_strides

from edgecam import defaults
from edgecam.config import ClassifierOptions
from edgecam.errors import ModelError
from edgecam.runtime import probe
from edgecam.runtime.backends import load_backend
from edgecam.runtime.verify import MAX_TENSOR_BYTES, _Reader, verify_model
from edgecam.vision import Classifier

DEFAULT_MODEL = REPO / "assets" / "models" / "default" / "model.tflite"
VALID = [*sorted(FIXTURES.glob("*.tflite")), FIXTURES / "bundle_int8" / "model.tflite"]
VALID += [DEFAULT_MODEL]


@pytest.fixture(autouse=True)
def fresh_probe_cache(tmp_path, monkeypatch):
    """Each test starts with nothing probed: no earlier run's verdicts, in memory or on disk."""
    monkeypatch.setenv(defaults.HOME_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(probe, "_passed", set())
    monkeypatch.setattr(probe, "_sound", set())


@pytest.mark.parametrize("model", VALID, ids=lambda p: p.name)
def test_every_real_model_passes(model):
    verify_model(model.read_bytes(), model)


def _first_tensor(data: bytes):
    r = _Reader(data)
    model = r.table(r.follow(0, "root"), "model")
    graph = r.tables(model, 2, "subgraphs")[0]
    return r, r.tables(graph, 0, "tensors")[0]


def _with(data: bytes, at: int, fmt: str, value) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, at, value)
    return bytes(out)


def test_damage_is_named_with_where_it_is():
    data = (FIXTURES / "color_float32.tflite").read_bytes()
    r, tensor = _first_tensor(data)
    shape_at = r.offset(tensor, 0, "shape")
    cases = {
        "runs past the end of the file": data[: len(data) // 2],
        "the root offset has a broken offset": _with(data, 0, "<I", 0),
        "too short": data[:6],
        # A shape vector claiming a billion dimensions.
        "tensor 0 shape (1000000000 elements) runs past the end": _with(
            data, shape_at, "<I", 10**9
        ),
        "names buffer 4000000000": _with(data, r.field(tensor, 2), "<I", 4_000_000_000),
        "impossible shape": _with(data, shape_at + 4, "<i", 2**30),
        "negative dimension": _with(data, shape_at + 4, "<i", -7),
    }
    for needle, damaged in cases.items():
        with pytest.raises(ModelError, match="is corrupt or truncated") as err:
            verify_model(damaged, "m.tflite")
        assert needle in err.value.message, (needle, err.value.message)
        assert err.value.hint == "re-download or re-export the model"


def test_names_must_be_utf8_and_strings_must_end():
    data = (FIXTURES / "color_float32.tflite").read_bytes()
    r, tensor = _first_tensor(data)
    name_at = r.offset(tensor, 3, "name")
    length = struct.unpack_from("<I", data, name_at)[0]
    with pytest.raises(ModelError, match="tensor 0 name is not UTF-8"):
        verify_model(_with(data, name_at + 4, "<B", 0xFF), "m.tflite")
    with pytest.raises(ModelError, match="does not end where its length says"):
        verify_model(_with(data, name_at + 4 + length, "<B", 0x41), "m.tflite")


def test_tensor_size_limit_fits_32_bits():
    assert MAX_TENSOR_BYTES < 2**31


def test_a_model_that_passes_the_structure_check_but_crashes_the_runtime(tmp_path):
    """CONV_2D with stride 0: tflite-runtime 2.14 dies of SIGFPE (in the probe's child, not
    here); ai-edge-litert refuses it. Either way this process gets a ModelError."""
    damaged = tmp_path / "stride0.tflite"
    damaged.write_bytes(zero_conv_strides(DEFAULT_MODEL.read_bytes()))
    verify_model(damaged.read_bytes(), damaged)  # structurally sound
    with pytest.raises(ModelError) as err:
        Classifier(ClassifierOptions(model=damaged, delegate="cpu"))
    backend = load_backend()
    if backend.package == "tflite-runtime":
        assert "crashed tflite-runtime" in err.value.message
        assert "SIGFPE" in err.value.message
    else:
        assert "stride_width > 0" in err.value.message


def test_probe_reports_how_the_child_went():
    backend = load_backend()
    data = (FIXTURES / "color_float32.tflite").read_bytes()
    assert probe.probe(backend, data) == probe.ProbeResult("invoke", ok=True)
    cut = probe.probe(backend, data[:600])  # unverified on purpose: the child copes or dies
    assert not cut.ok


def test_probe_result_parsing_of_a_killed_child():
    result = probe._result(-11, b"stage build\nstage allocate\n", b"INFO: x\nfree(): bad\n")
    assert result == probe.ProbeResult("allocate", signal=11, detail="free(): bad")
    with pytest.raises(ModelError, match=r"crashed .* \(SIGSEGV: free\(\): bad\) while allocating"):
        probe._raise_for(result, load_backend(), Path("m.tflite"))
    hung = probe.ProbeResult("invoke", timed_out=True, seconds=31)
    with pytest.raises(ModelError, match="still running a first inference after 31 s"):
        probe._raise_for(hung, load_backend(), Path("m.tflite"))
    died = probe._result(3221225477, b"stage build\n", b"")  # Windows: an access violation
    with pytest.raises(ModelError, match=r"without a result \(exit status 3221225477"):
        probe._raise_for(died, load_backend(), Path("m.tflite"))
    no_runtime = probe._result(1, b"", b"ModuleNotFoundError: No module named 'x'\n")
    assert no_runtime.stage == "start" and not no_runtime.ok
    probe._raise_for(no_runtime, load_backend(), Path("m.tflite"))  # the load goes on here
    failed = probe._result(0, b'stage invoke\nresult {"ok": false, "error": "Input lacks"}\n', b"")
    with pytest.raises(ModelError, match=r"fails at its first inference .*Input lacks"):
        probe._raise_for(failed, load_backend(), Path("m.tflite"))


def test_a_passed_model_is_remembered_and_not_probed_again(tmp_path, monkeypatch):
    model = FIXTURES / "color_int8.tflite"
    with Classifier(ClassifierOptions(model=model, delegate="cpu", threads=1)) as clf:
        clf.classify(solid("red"))
    markers = list((tmp_path / "cache" / "probed").rglob("*"))
    assert [m.name for m in markers if m.is_file()] == [
        __import__("hashlib").sha256(model.read_bytes()).hexdigest()
    ]

    def no_probe(*args, **kwargs):
        raise AssertionError("probed again")

    monkeypatch.setattr(probe, "probe", no_probe)
    monkeypatch.setattr(probe, "_passed", set())  # a new process: only the disk remembers
    with Classifier(ClassifierOptions(model=model, delegate="cpu", threads=1)) as clf:
        assert clf.classify(solid("green")).top.label == "class_1"


def test_an_unwritable_cache_only_costs_time(tmp_path, monkeypatch):
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("")
    monkeypatch.setenv(defaults.HOME_ENV, str(blocked / "cache"))
    with Classifier(ClassifierOptions(model=FIXTURES / "color_uint8.tflite", delegate="cpu")):
        pass


def test_the_child_imports_neither_edgecam_extras_nor_opencv():
    code = (
        "import sys, runpy; sys.argv = ['probe', 'x'];"
        "import edgecam.runtime.probe as p; print(sorted(m for m in sys.modules if m in "
        "('cv2', 'edgecam.vision', 'edgecam.runtime.engine')))"
    )
    import subprocess

    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=CLI_CWD, env=cli_env()
    )
    assert proc.stdout.strip() == "[]", proc.stderr
