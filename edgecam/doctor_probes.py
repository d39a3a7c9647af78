"""The probes ``edgecam doctor`` runs in short-lived child processes.

Importing a TFLite runtime, opening a delegate or starting Picamera2 can crash the whole
process (tflite-runtime after TensorFlow or with numpy 2, a broken driver), so the doctor never
does them itself: it runs ``python -m edgecam.doctor_probes NAME [ARG]`` and reads one
``edgecam-doctor:`` JSON line from its stdout. A crash, a hang or a line that never comes is a
result too. Each probe returns a dict; a failure is ``{"error": "..."}``.
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

#: The prefix of the one line a probe prints; anything else on stdout (native logs) is ignored.
MARK = "edgecam-doctor: "


def sample_class(path: Path) -> str:
    """The class a demo sample shows, from its name: ``2_trouser.png`` -> ``trouser``."""
    return path.stem.split("_", 1)[-1]


def label_key(label: str) -> str:
    """A label as sample file names spell it: ``T-shirt/top`` -> ``t-shirt-top``."""
    return re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")


def probe_runtime(module: str, dist: str) -> dict:
    """Import one runtime's interpreter module; its version and numpy's."""
    import importlib
    from importlib.metadata import PackageNotFoundError, version

    imported = importlib.import_module(module)
    try:
        found = version(dist)
    except PackageNotFoundError:
        found = getattr(imported, "__version__", "unknown")
    import numpy

    return {"version": found, "numpy": numpy.__version__}


def probe_model() -> dict:
    """Load the bundled default model on the CPU as ``edgecam`` would and classify the samples."""
    from edgecam import defaults
    from edgecam.config import ClassifierOptions, Delegate
    from edgecam.vision.classifier import Classifier, read_image

    model = defaults.bundled_model()
    t0 = time.perf_counter()
    with Classifier(ClassifierOptions(model=model, delegate=Delegate.CPU, top_k=1)) as clf:
        load_s = time.perf_counter() - t0
        samples = []
        for path in defaults.demo_samples():
            top = clf.classify(read_image(path)).categories[0]
            samples.append(
                {
                    "file": path.name,
                    "expected": sample_class(path),
                    "got": top.label,
                    "correct": label_key(top.label) == sample_class(path),
                    "score": round(float(top.score), 4),
                }
            )
        threads = re.search(r"(\d+) threads?", clf.delegate)
        return {
            "model": str(model),
            "name": clf.name,
            "input_dtype": clf.input_spec.dtype.name,
            "runtime": clf.runtime,
            "delegate": clf.delegate,
            # XNNPACK replaces the ops it takes with DELEGATE nodes.
            "xnnpack": "DELEGATE" in clf.engine.ops,
            "threads": int(threads.group(1)) if threads else None,
            "load_s": round(load_s, 3),
            "samples": samples,
        }


def probe_gpu() -> dict:
    """Open the default model on ai-edge-litert's GPU accelerator and run it once."""
    from edgecam import defaults
    from edgecam.bundle import resolve_model
    from edgecam.config import Delegate, Runtime
    from edgecam.runtime.benchmark import random_input
    from edgecam.runtime.engine import EngineOptions, open_engine

    engine = open_engine(
        resolve_model(defaults.bundled_model()),
        EngineOptions(delegate=Delegate.GPU, runtime=Runtime.LITERT),
    )
    try:
        tensor = random_input(engine)
        t0 = time.perf_counter()
        engine.run(tensor)
        return {"delegate": engine.description, "first_ms": (time.perf_counter() - t0) * 1e3}
    finally:
        engine.close()


def probe_edgetpu(model: str = "") -> dict:
    """Open libedgetpu on the first device; with ``model`` (Edge TPU compiled), invoke it."""
    from edgecam.config import Delegate
    from edgecam.runtime.backends import load_backend
    from edgecam.runtime.delegates import is_edgetpu_compiled, load_edgetpu_delegate
    from edgecam.runtime.interpreter import interpreter_engine

    backend = load_backend()
    if model and not is_edgetpu_compiled(Path(model)):
        return {"error": f"{model} is not compiled for the Edge TPU", "runtime": backend.label}
    delegate = load_edgetpu_delegate(backend)
    result: dict = {"runtime": backend.label, "opened": True}
    if not model:
        return result
    from edgecam.runtime.benchmark import random_input

    engine = interpreter_engine(backend, Path(model), Delegate.EDGETPU, "", None, [delegate])
    try:
        tensor = random_input(engine)
        times = []
        for _ in range(6):
            t0 = time.perf_counter()
            engine.run(tensor)
            times.append((time.perf_counter() - t0) * 1e3)
    finally:
        engine.close()
    rest = sorted(times[1:])
    result.update(first_ms=times[0], median_ms=rest[len(rest) // 2])
    return result


def probe_picamera2() -> dict:
    """Import Picamera2 and count the cameras libcamera sees."""
    from importlib.metadata import PackageNotFoundError, version

    from picamera2 import Picamera2

    try:
        found = version("picamera2")
    except PackageNotFoundError:
        found = "unknown"
    return {"version": found, "cameras": len(Picamera2.global_camera_info())}


PROBES = {
    "runtime": probe_runtime,
    "model": probe_model,
    "gpu": probe_gpu,
    "edgetpu": probe_edgetpu,
    "picamera2": probe_picamera2,
}


def main(argv: list[str]) -> int:
    """Run the probe ``argv[0]`` with the rest as arguments; print its one result line."""
    from edgecam.errors import EdgecamError

    name, args = argv[0], argv[1:]
    try:
        result = PROBES[name](*args)
    except EdgecamError as exc:
        result = {"error": str(exc), "message": exc.message}
    except Exception as exc:  # the probe's subject failed: that is its result, not a crash
        text = str(exc).strip().splitlines()
        result = {"error": f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")}
    print(MARK + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
