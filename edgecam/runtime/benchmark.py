"""`edgecam bench`: latency of one model on one delegate, like TFLite's benchmark_model."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from edgecam.runtime.engine import Engine


def random_input(engine: Engine, seed: int = 0) -> np.ndarray:
    """A random tensor of the model's input shape and dtype (what benchmark_model feeds)."""
    spec = engine.inputs[0]
    rng = np.random.default_rng(seed)
    shape = tuple(1 if d < 0 else d for d in spec.shape)
    if spec.dtype.kind == "f":
        return rng.uniform(-1, 1, shape).astype(spec.dtype)
    info = np.iinfo(spec.dtype)
    return rng.integers(info.min, info.max, shape, endpoint=True).astype(spec.dtype)


def latency_stats(samples_ms: list[float]) -> dict[str, float]:
    """min / median / mean / p90 / p99 / max of ``samples_ms`` and throughput from the mean."""
    arr = np.asarray(samples_ms, dtype=np.float64)
    mean = float(arr.mean())
    return {
        "min_ms": float(arr.min()),
        "median_ms": float(np.median(arr)),
        "mean_ms": mean,
        "p90_ms": float(np.percentile(arr, 90)),
        "p99_ms": float(np.percentile(arr, 99)),
        "max_ms": float(arr.max()),
        "throughput_ips": 1000.0 / mean if mean > 0 else float("inf"),
    }


def benchmark(engine: Engine, runs: int = 100, warmup: int = 10, progress=None) -> dict[str, Any]:
    """Time ``engine.run`` (set input + invoke + read output) on a random input.

    The first run is reported on its own (an Edge TPU loads the weights then; a GPU compiles).
    """
    tensor = random_input(engine)
    t0 = time.perf_counter()
    engine.run(tensor)
    first_ms = (time.perf_counter() - t0) * 1e3
    for _ in range(max(0, warmup - 1)):
        engine.run(tensor)
    samples = []
    for i in range(runs):
        t0 = time.perf_counter()
        engine.run(tensor)
        samples.append((time.perf_counter() - t0) * 1e3)
        if progress is not None:
            progress(i + 1, runs)
    return {"runs": runs, "warmup": warmup, "first_ms": first_ms, **latency_stats(samples)}
