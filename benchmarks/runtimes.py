"""The TFLite runtimes side by side: ai-edge-litert, tflite-runtime and tf.lite, same models.

    .venv/bin/python benchmarks/runtimes.py [--rounds 3] [--json out.json]

Each runtime runs in its own fresh process of its own environment (``.venv``: ai-edge-litert;
``.venv-pi``: tflite-runtime 2.14; ``.venv-train``: ``tf.lite.Interpreter`` of TensorFlow), since
tflite-runtime cannot be loaded after TensorFlow. The rounds alternate the runtimes (one process
each per round) so that background load lands on all of them alike. In a child, for each model
and thread count: ``Interpreter(model_path, num_threads=T)``, ``allocate_tensors``, a few untimed
calls, then ``set_tensor`` + ``invoke`` + ``get_tensor`` timed call by call with
``time.perf_counter``. A model a runtime cannot load is recorded with its error. At one thread
each model is also timed with ``experimental_op_resolver_type=BUILTIN_WITHOUT_DEFAULT_DELEGATES``
(the runtime's own kernels, no XNNPACK), which shows whether a runtime's XNNPACK handles it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from models import DEFAULT_MODEL, MODES, ROOT, mobilenet_v2_path

RUNTIMES = {
    "ai-edge-litert": (ROOT / ".venv" / "bin" / "python", "ai_edge_litert"),
    "tflite-runtime": (ROOT / ".venv-pi" / "bin" / "python", "tflite_runtime"),
    "tf.lite": (ROOT / ".venv-train" / "bin" / "python", "tensorflow"),
}


def interpreter_class(runtime: str):
    """The ``Interpreter`` class and ``OpResolverType`` of a runtime (imported in the child)."""
    if runtime == "ai-edge-litert":
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    elif runtime == "tflite-runtime":
        from tflite_runtime.interpreter import Interpreter, OpResolverType
    else:
        import os

        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import tensorflow as tf

        Interpreter, OpResolverType = tf.lite.Interpreter, tf.lite.experimental.OpResolverType
    return Interpreter, OpResolverType


def version(runtime: str) -> str:
    """The installed version of a runtime's distribution."""
    from importlib.metadata import version as dist_version

    dist = {"ai-edge-litert": "ai-edge-litert", "tflite-runtime": "tflite-runtime"}
    return dist_version(dist.get(runtime, "tensorflow"))


def time_model(
    interpreter_cls, model: Path, threads: int, calls: int, warmup: int, **options
) -> dict:
    """Median milliseconds of set_tensor + invoke + get_tensor, or the error loading it."""
    try:
        interp = interpreter_cls(model_path=str(model), num_threads=threads, **options)
        interp.allocate_tensors()
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {' '.join(str(exc).split())}"}
    inp = interp.get_input_details()[0]
    out = interp.get_output_details()[0]
    rng = np.random.default_rng(0)
    if np.issubdtype(inp["dtype"], np.integer):
        info = np.iinfo(inp["dtype"])
        data = rng.integers(info.min, info.max, inp["shape"], endpoint=True).astype(inp["dtype"])
    else:
        data = rng.uniform(-1, 1, inp["shape"]).astype(inp["dtype"])
    times = []
    for i in range(warmup + calls):
        t0 = time.perf_counter()
        interp.set_tensor(inp["index"], data)
        interp.invoke()
        interp.get_tensor(out["index"])
        if i >= warmup:
            times.append((time.perf_counter() - t0) * 1e3)
    return {"times_ms": times, "median_ms": float(np.median(times))}


def child(runtime: str, models: list[Path], threads: list[int], calls: int, warmup: int) -> dict:
    """Time every model at every thread count in this process's runtime."""
    t0 = time.perf_counter()
    cls, resolvers = interpreter_class(runtime)
    import_s = time.perf_counter() - t0
    results = {}
    own_kernels = {"experimental_op_resolver_type": resolvers.BUILTIN_WITHOUT_DEFAULT_DELEGATES}
    for model in models:
        for t in threads:
            results[f"{model.name}|{t}"] = time_model(cls, model, t, calls, warmup)
        results[f"{model.name}|1|own"] = time_model(cls, model, 1, calls, warmup, **own_kernels)
    return {"version": version(runtime), "import_s": import_s, "results": results}


def default_models() -> list[Path]:
    """MobileNetV2-1.0-224 in each export mode (those built), then the default model."""
    found = [mobilenet_v2_path(m) for m in MODES if mobilenet_v2_path(m).exists()]
    return [*found, DEFAULT_MODEL]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", choices=list(RUNTIMES), help=argparse.SUPPRESS)
    parser.add_argument("--models", type=Path, nargs="+", default=None)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=3, help="processes per runtime")
    parser.add_argument("--calls", type=int, default=30, help="timed calls per model per round")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results here")
    args = parser.parse_args()
    models = args.models or default_models()
    if args.child:
        print(json.dumps(child(args.child, models, args.threads, args.calls, args.warmup)))
        return 0

    runs: dict[str, list[dict]] = {name: [] for name in RUNTIMES}
    for r in range(args.rounds):
        order = list(RUNTIMES)[r % 3 :] + list(RUNTIMES)[: r % 3]
        for name in order:
            python = RUNTIMES[name][0]
            argv = [str(python), __file__, "--child", name, "--models", *map(str, models)]
            argv += ["--threads", *map(str, args.threads), "--calls", str(args.calls)]
            argv += ["--warmup", str(args.warmup)]
            proc = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT)
            if proc.returncode != 0:
                tail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
                runs[name].append({"error": f"process failed: {tail[0]}"})
            else:
                runs[name].append(json.loads(proc.stdout.strip().splitlines()[-1]))
            print(f"round {r + 1}/{args.rounds}: {name} done", file=sys.stderr, flush=True)

    results = []
    for model in models:
        for t in args.threads:
            key = f"{model.name}|{t}"
            name = str(model.resolve().relative_to(ROOT))
            row = {"model": name, "size_bytes": model.stat().st_size, "threads": t}
            for name in RUNTIMES:
                cells = [
                    run.get("results", {}).get(key, {"error": run.get("error")})
                    for run in runs[name]
                ]
                timed = [c for c in cells if "times_ms" in c]
                if timed:
                    pooled = [x for c in timed for x in c["times_ms"]]
                    row[name] = {
                        "median_ms": float(np.median(pooled)),
                        "round_medians_ms": [c["median_ms"] for c in timed],
                    }
                else:
                    row[name] = {"error": cells[0].get("error") if cells else "not run"}
                if t == 1 and "median_ms" in row[name]:
                    own = [run.get("results", {}).get(f"{key}|own", {}) for run in runs[name]]
                    pooled = [x for c in own for x in c.get("times_ms", [])]
                    if pooled:
                        row[name]["own_kernels_median_ms"] = float(np.median(pooled))
            results.append(row)
    versions = {n: next((r["version"] for r in runs[n] if "version" in r), None) for n in RUNTIMES}
    imports = {
        n: float(np.median([r["import_s"] for r in runs[n] if "import_s" in r] or [np.nan]))
        for n in RUNTIMES
    }
    print(f"{'model':<38} {'T':>2} " + " ".join(f"{n:>16}" for n in RUNTIMES))
    for row in results:
        cells = [
            f"{row[n]['median_ms']:>13.3f} ms" if "median_ms" in row[n] else f"{'error':>16}"
            for n in RUNTIMES
        ]
        print(f"{row['model']:<38} {row['threads']:>2} " + " ".join(cells))
    if args.json:
        report = {
            "rounds": args.rounds,
            "calls": args.calls,
            "warmup": args.warmup,
            "versions": versions,
            "import_s": imports,
            "pythons": {n: str(p.relative_to(ROOT)) for n, (p, _) in RUNTIMES.items()},
            "results": results,
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
