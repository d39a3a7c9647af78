"""Load a model this machine has not run before in a short-lived child process first.

A damaged model can kill the process that loads it, on every runtime: tflite-runtime 2.14
does not verify its input at all, and ai-edge-litert, which does, still aborts on some files
whose structure is sound (a weight scale of 1e35 makes XNNPACK free memory twice). The
structural check of :mod:`edgecam.runtime.verify` turns most damage into a clear error; what
is left is caught here: the first time a model's content meets a runtime, a child process
builds an interpreter from it, allocates its tensors and runs one inference on zeros. A crash
or a hang there becomes a clear "this model is corrupt" error in the parent, which never
touches the file.

Models that passed are remembered by content hash (SHA-256) and runtime version, in this
process and under :func:`cache_dir`, so a known model starts as fast as without the probe:
the cost of a repeat load is reading and hashing the file, a few milliseconds. The bytes that
were checked are the bytes the runtime gets (``model_content=``), so a file that changes
between the check and the load cannot slip through.

Run as ``python -m edgecam.runtime.probe RUNTIME`` with the model on stdin, this module is the
child: it imports only the standard library, numpy and the runtime.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from edgecam import defaults

if TYPE_CHECKING:
    from edgecam.runtime.backends import Backend

log = logging.getLogger(__name__)

#: Bumped when what the child checks changes: earlier passes are then probed again.
PROBE_VERSION = 1
#: Seconds a child may take before its model counts as hanging, plus one per MiB of model
#: (a large model on a slow board takes a while to load and run once).
TIMEOUT_S = 30.0
#: Inputs larger than this are not run in the child: no image classifier takes that much,
#: and a damaged shape that claims it would only make the child slow.
MAX_INPUT_BYTES = 256 * 2**20
#: Stages the child goes through, as they are named in errors.
STAGES = {
    "start": "starting",
    "build": "building the interpreter",
    "allocate": "allocating the tensors",
    "invoke": "running a first inference",
}

_lock = threading.Lock()
_passed: set[tuple[str, str]] = set()  # (runtime label, content digest), this process
_sound: set[str] = set()  # digests whose structure was verified in this process


@dataclass(frozen=True)
class ProbeResult:
    """How the child's load went."""

    stage: str  # the last stage it reached (a key of STAGES)
    ok: bool = False
    error: str | None = None  # the runtime's error, when it failed cleanly
    signal: int | None = None  # the signal that killed it
    exit_status: int | None = None  # it died without a verdict, with this status
    timed_out: bool = False
    seconds: float = 0.0  # the time limit it ran under
    detail: str = ""  # the child's last stderr line after a crash ("double free ...")


def _marker(backend: Backend, digest: str) -> Path:
    return (
        defaults.cache_home()
        / "probed"
        / f"v{PROBE_VERSION}-{backend.package}-{backend.version}"
        / digest
    )


def checked_model(backend: Backend, model: Path) -> bytes:
    """The content of ``model``, once it is known not to crash ``backend``.

    Verifies the structure (:func:`edgecam.runtime.verify.verify_model`), then, for content
    this runtime has not loaded on this machine before, loads it in a child process first.
    Load the returned bytes (``model_content=``), not the path.

    Raises:
        ModelError: the file cannot be read, its structure is broken, or the child crashed,
            hung, or failed at its first inference.
    """
    from edgecam.errors import ModelError

    try:
        data = Path(model).read_bytes()
    except OSError as exc:
        raise ModelError(
            f"cannot read model {model}: {exc.strerror or exc}", "check the file's permissions"
        ) from None
    digest = hashlib.sha256(data).hexdigest()
    with _lock:
        sound = digest in _sound
        passed = (backend.label, digest) in _passed
    if passed:
        return data
    marker = _marker(backend, digest)
    if marker.exists():  # written only after this content passed both checks
        with _lock:
            _passed.add((backend.label, digest))
        return data
    if not sound:
        from edgecam.runtime.verify import verify_model

        verify_model(data, model)
        with _lock:
            _sound.add(digest)
    result = probe(backend, data)
    _raise_for(result, backend, model)
    if result.ok:
        with _lock:
            _passed.add((backend.label, digest))
        _remember(marker)
    return data


def _raise_for(result: ProbeResult, backend: Backend, model: Path) -> None:
    from edgecam.errors import ModelError

    where = STAGES.get(result.stage, result.stage)
    hint = "the file is damaged: re-download or re-export the model"
    if result.signal is not None:
        name = _signal_name(result.signal)
        detail = f": {result.detail}" if result.detail else ""
        raise ModelError(
            f"{model} is corrupt: it crashed {backend.label} ({name}{detail}) while "
            f"{where}, in a test load in a separate process",
            hint,
        )
    if result.exit_status is not None:
        raise ModelError(
            f"{model} is corrupt: {backend.label} ended a test load in a separate process "
            f"while {where}, without a result (exit status {result.exit_status}: "
            f"{result.detail})",
            hint,
        )
    if result.timed_out:
        raise ModelError(
            f"{model} is corrupt or not a usable classifier: {backend.label} was still "
            f"{where} after {result.seconds:.0f} s in a test load",
            hint,
        )
    if result.error is not None and result.stage == "invoke":
        raise ModelError(
            f"{model} loads but fails at its first inference in {backend.label} ({result.error})",
            hint,
        )
    # A clean failure while building or allocating: the load in this process stops at the same
    # point with the same error, which the caller turns into its own message.


def _remember(marker: Path) -> None:
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    except OSError as exc:  # a read-only home: every new process probes again
        log.debug("cannot remember the probe result in %s: %s", marker.parent, exc)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _timeout(size: int) -> float:
    return TIMEOUT_S + size / 2**20


def probe(backend: Backend, data: bytes, timeout: float | None = None) -> ProbeResult:
    """Load ``data`` in ``backend``'s runtime in a child process and say how it went."""
    import subprocess  # here: a known model's start-up does not pay for the import

    import edgecam

    root = Path(edgecam.__file__).resolve().parents[1]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    env.pop("PYTHONSTARTUP", None)
    command = [sys.executable, "-m", "edgecam.runtime.probe", backend.runtime.value]
    timeout = _timeout(len(data)) if timeout is None else timeout
    try:
        proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=root,
            env=env,
        )
    except OSError as exc:
        # No way to start a child (a frozen app, no fork allowed): load in process as before.
        log.warning("could not test-load the model in a separate process (%s)", exc)
        return ProbeResult("start", ok=True)
    try:
        out, err = proc.communicate(data, timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        return ProbeResult(_last_stage(out), timed_out=True, seconds=timeout)
    except BrokenPipeError:  # the child died before reading the whole model
        out, err = proc.communicate()
    return _result(proc.returncode, out, err)


def _last_stage(out: bytes) -> str:
    stage = "start"
    for line in out.decode("utf-8", "replace").splitlines():
        if line.startswith("stage "):
            stage = line.split(" ", 1)[1].strip()
    return stage


def _result(returncode: int, out: bytes, err: bytes) -> ProbeResult:
    stage = _last_stage(out)
    lines = out.decode("utf-8", "replace").splitlines()
    if returncode < 0:
        tail = [line for line in err.decode("utf-8", "replace").splitlines() if line.strip()]
        detail = tail[-1].strip()[:200] if tail else ""
        if detail.startswith(("INFO:", "WARNING:")):
            detail = ""
        return ProbeResult(stage, signal=-returncode, detail=detail)
    for line in reversed(lines):
        if line.startswith("result "):
            report = json.loads(line[len("result ") :])
            return ProbeResult(stage, ok=report.get("ok", False), error=report.get("error"))
    tail = [line for line in err.decode("utf-8", "replace").splitlines() if line.strip()]
    text = tail[-1].strip()[:200] if tail else f"exit status {returncode}"
    if stage == "start":
        # It never got to the model (the runtime would not import there): no verdict either
        # way, so the load goes on in this process as it did before the probe existed.
        log.warning("could not test-load the model in a separate process (%s)", text)
        return ProbeResult("start", ok=False, error=text)
    # Died with the model in hand but no signal to show for it (Windows reports an access
    # violation as exit status 0xC0000005): a crash all the same.
    return ProbeResult(stage, exit_status=returncode, detail=text)


# -- the child --------------------------------------------------------------------------------


def _interpreter_class(runtime: str):
    import importlib

    if runtime == "litert":
        return importlib.import_module("ai_edge_litert.interpreter").Interpreter
    if runtime == "tflite_runtime":
        return importlib.import_module("tflite_runtime.interpreter").Interpreter
    return importlib.import_module("tensorflow").lite.Interpreter


def _child(runtime: str) -> int:
    def say(text: str) -> None:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    def verdict(ok: bool, error: str | None = None) -> int:
        say("result " + json.dumps({"ok": ok, "error": error}))
        return 0

    data = sys.stdin.buffer.read()
    interpreter_class = _interpreter_class(runtime)
    import numpy as np

    stage = "build"
    say("stage build")
    try:
        interpreter = interpreter_class(model_content=data, num_threads=1)
        stage = "allocate"
        say("stage allocate")
        interpreter.allocate_tensors()
        inputs = interpreter.get_input_details()
        interpreter.get_output_details()
        stage = "invoke"
        say("stage invoke")
        size = 0
        for detail in inputs:
            dtype = np.dtype(detail["dtype"])
            if dtype.kind not in "biuf":
                return verdict(True)  # string or resource inputs: nothing sensible to feed
            size += int(np.prod(detail["shape"])) * dtype.itemsize
        if size > MAX_INPUT_BYTES:
            return verdict(False, f"its inputs claim {size / 2**20:.0f} MiB")
        for detail in inputs:
            shape = [max(int(d), 1) for d in detail["shape"]]
            interpreter.set_tensor(detail["index"], np.zeros(shape, detail["dtype"]))
        interpreter.invoke()
        for detail in interpreter.get_output_details():
            interpreter.get_tensor(detail["index"])
    except Exception as exc:
        text = str(exc).strip().splitlines()
        message = text[0] if text else type(exc).__name__
        # A custom op only a delegate runs (the Edge TPU's): all a CPU can check was checked.
        if stage == "allocate" and "unresolved custom op" in str(exc):
            return verdict(True)
        return verdict(False, message[:300])
    return verdict(True)


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1]))
