"""The CPU: XNNPACK where the runtime applies it, else the runtime's built-in kernels.

With no ``--threads``, the thread count is chosen per model, runtime and machine by timing a
few invokes at each candidate count (:func:`fastest_engine`), on XNNPACK and on the built-in
kernels alike: no fixed rule holds on both (tflite-runtime 2.14's built-in int8 kernels made the
bundled model 3.7x slower with 2 threads but MobileNetV2 int8 1.2x faster; docs/BENCHMARKS.md).
An explicit ``--threads N`` always wins.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from edgecam.config import Delegate
from edgecam.errors import DelegateError
from edgecam.runtime.backends import Backend
from edgecam.runtime.delegates.base import DelegateEntry
from edgecam.runtime.delegates.edgetpu import is_bare_edgetpu_model
from edgecam.runtime.interpreter import Engine, default_threads, interpreter_engine

if TYPE_CHECKING:
    from pathlib import Path

    from edgecam.bundle import ModelFiles
    from edgecam.runtime.options import EngineOptions

log = logging.getLogger(__name__)

#: Invoke time spent timing one candidate thread count, at most (after two warm-up invokes).
TRIAL_BUDGET_S = 0.1
#: Invokes timed per candidate, at most (the median counts), and at least.
TRIAL_RUNS = 15
MIN_TRIAL_RUNS = 3
#: An invoke slower than this warms up once instead of twice: a big model on the built-in
#: kernels (100+ ms) would otherwise spend a second on warm-ups alone.
SLOW_INVOKE_S = 0.02
#: A count within this fraction of the fastest counts as as fast: then fewer threads win,
#: because in live use waking idle worker threads between frames costs more than a trial shows.
SAME_SPEED = 0.05


class Cpu(DelegateEntry):
    """The CPU with ``options.threads`` threads, or the fastest count when not given."""

    name = "cpu"
    delegate = Delegate.CPU
    label = "CPU"

    def probe(
        self, backend: Backend, files: ModelFiles, options: EngineOptions
    ) -> DelegateError | None:
        if is_bare_edgetpu_model(files):
            return DelegateError(
                f"{files.model} is compiled for the Edge TPU and cannot run on the CPU",
                "use --delegate edgetpu, or the model's plain .tflite",
            )
        return None

    def load(self, backend: Backend, files: ModelFiles, options: EngineOptions) -> Engine:
        if options.threads is None:
            return fastest_engine(backend, files.model)
        engine = interpreter_engine(backend, files.model, Delegate.CPU, "", options.threads, [])
        engine.description = describe_cpu(engine, options.threads)
        return engine

    def describe(self, options: EngineOptions) -> str:
        threads = options.threads
        if threads is None:
            return "cpu (threads: the fastest count, timed at load)"
        return f"cpu ({threads} thread{'s' if threads > 1 else ''})"


def thread_candidates(cores: int | None = None) -> list[int]:
    """Thread counts worth trying: 1, 2 and 4, up to :func:`default_threads` (all cores, <= 4)."""
    top = default_threads() if cores is None else max(1, min(4, cores))
    return sorted({1, top, *(n for n in (2, 4) if n <= top)})


def describe_cpu(engine: Engine, threads: int, why: str = "") -> str:
    """``cpu (XNNPACK, 2 threads)``; XNNPACK only where the runtime really applied it."""
    # XNNPACK shows up as DELEGATE nodes in the graph; tflite-runtime 2.14 leaves int8 models to
    # its built-in kernels.
    kernels = "XNNPACK" if "DELEGATE" in engine.ops else "built-in kernels"
    text = f"{kernels}, {threads} thread{'s' if threads > 1 else ''}"
    return f"cpu ({text}{', ' + why if why else ''})"


def time_invokes(engine: Engine) -> float:
    """Median milliseconds of one invoke, after one or two warm-ups, within
    :data:`TRIAL_BUDGET_S` (at least :data:`MIN_TRIAL_RUNS` invokes)."""
    from edgecam.runtime.benchmark import random_input

    tensor = random_input(engine)
    t0 = time.perf_counter()
    engine.run(tensor)  # the first invoke also sets up the kernels' buffers
    if time.perf_counter() - t0 < SLOW_INVOKE_S:
        engine.run(tensor)
    samples: list[float] = []
    deadline = time.perf_counter() + TRIAL_BUDGET_S
    while len(samples) < TRIAL_RUNS and (
        len(samples) < MIN_TRIAL_RUNS or time.perf_counter() < deadline
    ):
        t0 = time.perf_counter()
        engine.run(tensor)
        samples.append((time.perf_counter() - t0) * 1e3)
    samples.sort()
    return samples[len(samples) // 2]


def choose_threads(medians_ms: dict[int, float]) -> int:
    """The fewest threads within :data:`SAME_SPEED` of the fastest."""
    best = min(medians_ms.values())
    return min(n for n, ms in medians_ms.items() if ms <= best * (1 + SAME_SPEED))


def fastest_engine(backend: Backend, model: Path) -> Engine:
    """Load ``model`` at each candidate thread count, time a few invokes, keep the fastest."""
    candidates = thread_candidates()
    engines: dict[int, Engine] = {}
    medians: dict[int, float] = {}
    try:
        for threads in candidates:
            engines[threads] = interpreter_engine(backend, model, Delegate.CPU, "", threads, [])
            if len(candidates) > 1:
                medians[threads] = time_invokes(engines[threads])
    except BaseException:
        for engine in engines.values():
            engine.close()
        raise
    chosen = choose_threads(medians) if medians else candidates[0]
    for threads, engine in engines.items():
        if threads != chosen:
            engine.close()
    engine = engines[chosen]
    if len(medians) > 1:
        timed = ", ".join(f"{n}: {ms:.3g} ms" for n, ms in sorted(medians.items()))
        why = f"fastest here ({timed})"
    else:
        why = "one core"
    engine.description = describe_cpu(engine, chosen, why)
    log.debug("threads for %s: %s", model.name, engine.description)
    return engine
