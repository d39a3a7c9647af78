"""``--threads auto`` against fixed thread counts, per runtime and model, in the same run.

    .venv/bin/python benchmarks/threads.py [--rounds 3] [--json out.json]

Each runtime runs in its own fresh process of its own environment (``.venv``: ai-edge-litert;
``.venv-pi``: tflite-runtime 2.14), alternating over the rounds so background load lands on both
alike. In a child, for each model: ``open_engine`` on the CPU with ``threads=1``, ``2`` and
``None`` (auto: edgecam times 1, 2 and 4 threads at load and keeps the fastest), then
``edgecam.runtime.benchmark.benchmark`` on each (set input + invoke + read output, back to back,
after a warm-up). The old default was every core up to 4 (2 here). Target: auto within 5% of
the best fixed count for each model and runtime.

Two verdicts. The engine auto builds is the engine of the count it chose, so its true latency is
that count's: **the cost of the choice** is, per round, the chosen count's latency over the best
count's, both timed in that round's process (the median over rounds is the verdict). Auto's own
timing is shown too; its gap to the chosen count's is the noise between identical engines.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from models import DEFAULT_MODEL, MOBILENET_V2_INT8, ROOT

RUNTIMES = {
    "ai-edge-litert": (ROOT / ".venv" / "bin" / "python", "litert"),
    "tflite-runtime": (ROOT / ".venv-pi" / "bin" / "python", "tflite_runtime"),
}
SETTINGS = (1, 2, None)  # None: --threads auto
FIXED = ("1", "2")
TARGET = 0.05


def chosen_threads(description: str) -> str:
    """'2' for ``cpu (XNNPACK, 2 threads, fastest here ...)``."""
    match = re.search(r"(\d+) threads?\b", description)
    if not match:
        raise ValueError(f"no thread count in {description!r}")
    return match.group(1)


def choice_costs(round_results: list[dict], model: str) -> list[float]:
    """Per round: the latency of the count auto chose over the best fixed count's."""
    costs = []
    for result in round_results:
        cells = {t: result[f"{model}|{t}"] for t in ("1", "2", "None")}
        chosen = chosen_threads(cells["None"]["description"])
        best = min(cells[t]["median_ms"] for t in FIXED)
        costs.append(cells[chosen]["median_ms"] / best if chosen in FIXED else float("nan"))
    return costs


def child(runtime: str, models: list[Path], runs: int, warmup: int) -> dict:
    """Time every model at each setting in this process's runtime."""
    from edgecam.bundle import resolve_model
    from edgecam.runtime.benchmark import benchmark
    from edgecam.runtime.engine import EngineOptions, open_engine

    results = {}
    for model in models:
        for threads in SETTINGS:
            t0 = time.perf_counter()
            engine = open_engine(
                resolve_model(model),
                EngineOptions(delegate="cpu", runtime=runtime, threads=threads),
            )
            load_s = time.perf_counter() - t0
            stats = benchmark(engine, runs=runs, warmup=warmup)
            results[f"{model.name}|{threads}"] = {
                "median_ms": stats["median_ms"],
                "load_s": load_s,
                "description": engine.description,
            }
            engine.close()
    return {"results": results}


def choice_cost(row: dict) -> float:
    """The verdict: the median over rounds of the chosen count's latency over the best's."""
    return float(np.median(row["choice_costs"]))


def summary_lines(data: dict) -> list[str]:
    """docs/BENCHMARKS.md's target lines, one per runtime and model."""
    return [
        f"- `--threads auto` within {TARGET:.0%} of the best fixed count, {row['runtime']}, "
        f"`{Path(row['model']).name}`: "
        f"{'met' if choice_cost(row) <= 1 + TARGET else '**not met**'} (the count it chose "
        f"costs {choice_cost(row):.3f}x the best's; chose {', '.join(row['chosen'])} threads "
        "over the rounds)"
        for row in data["results"]
    ]


def section(data: dict) -> list[str]:
    """The docs/BENCHMARKS.md section for these results."""
    lines = [
        f"## Thread count: `--threads auto` against fixed counts (target: auto within "
        f"{TARGET:.0%} of the best fixed count)",
        "",
        "Command: `.venv/bin/python benchmarks/threads.py --json ...` "
        f"({data['rounds']} rounds, {data['runs']} timed runs each after {data['warmup']} "
        "warm-up; each runtime in its own process per round, alternating). Latency is "
        "`edgecam bench`'s: set input + invoke + read output, back to back, the median over the "
        "rounds' medians. `auto` loads the model at 1, 2 (and 4 where there are 4 cores) "
        "threads, times a few invokes of each and keeps the fastest (the fewer threads when "
        "within 5%); the load column is that whole choice. The old default was every core up "
        "to 4: 2 threads on this machine.",
        "",
        "The engine auto builds is the engine of the count it chose, so its latency is that "
        "count's. **Cost of the choice** (the verdict): per round, the chosen count's latency "
        "over the best fixed count's, both timed in that round's process; the median over the "
        "rounds, with the per-round values. **Auto timed**: auto's engine timed on its own "
        "after the fixed counts, over the best fixed count; where auto chose the best count, "
        "its distance from 1 is the noise between two identical engines in one process.",
        "",
        "| runtime | model | 1 thread | 2 threads (old default) | auto chose (per round) | "
        "cost of the choice (per round) | auto timed / best | load with auto | verdict |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in data["results"]:
        cells = row["settings"]
        best = min(cells[t]["median_ms"] for t in FIXED)
        auto = cells["auto"]
        costs = row["choice_costs"]
        cost = choice_cost(row)
        verdict = "met" if cost <= 1 + TARGET else "MISSED"
        chose = ", ".join(row["chosen"])
        per_round = ", ".join(f"{c:.3f}" for c in costs)
        lines.append(
            f"| {row['runtime']} | `{row['model']}` | {cells['1']['median_ms']:.3f} ms | "
            f"{cells['2']['median_ms']:.3f} ms | {chose} | {cost:.3f} ({per_round}) | "
            f"{auto['median_ms'] / best:.3f} | {auto['load_s']:.3f} s | {verdict} |"
        )
    chose = sorted({d for row in data["results"] for d in row["settings"]["auto"]["descriptions"]})
    lines += ["", "What auto said it chose: " + "; ".join(f"`{d})`" for d in chose) + "."]
    lines.append("")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", choices=list(RUNTIMES), help=argparse.SUPPRESS)
    parser.add_argument("--models", type=Path, nargs="+", default=None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=50, help="timed runs per setting per round")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results here")
    args = parser.parse_args()
    models = args.models or [m for m in (DEFAULT_MODEL, MOBILENET_V2_INT8) if m.exists()]
    if args.child:
        runtime = RUNTIMES[args.child][1]
        print(json.dumps(child(runtime, models, args.runs, args.warmup)))
        return 0

    runs: dict[str, list[dict]] = {name: [] for name in RUNTIMES}
    for r in range(args.rounds):
        order = list(RUNTIMES)[r % 2 :] + list(RUNTIMES)[: r % 2]
        for name in order:
            argv = [str(RUNTIMES[name][0]), __file__, "--child", name]
            argv += ["--models", *map(str, models), "--runs", str(args.runs)]
            argv += ["--warmup", str(args.warmup)]
            proc = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT)
            if proc.returncode != 0:
                raise SystemExit(f"{name} failed: {proc.stderr.strip()[-500:]}")
            runs[name].append(json.loads(proc.stdout.strip().splitlines()[-1]))
            print(f"round {r + 1}/{args.rounds}: {name} done", file=sys.stderr, flush=True)

    results = []
    for name in RUNTIMES:
        for model in models:
            settings = {}
            for threads in SETTINGS:
                cells = [run["results"][f"{model.name}|{threads}"] for run in runs[name]]
                settings["auto" if threads is None else str(threads)] = {
                    "median_ms": float(np.median([c["median_ms"] for c in cells])),
                    "round_medians_ms": [c["median_ms"] for c in cells],
                    "load_s": float(np.median([c["load_s"] for c in cells])),
                    "description": cells[-1]["description"],
                    "descriptions": sorted({c["description"].split(", fastest")[0] for c in cells}),
                }
            model_name = str(model.resolve().relative_to(ROOT))
            round_results = [run["results"] for run in runs[name]]
            chosen = [chosen_threads(r[f"{model.name}|None"]["description"]) for r in round_results]
            results.append(
                {
                    "runtime": name,
                    "model": model_name,
                    "settings": settings,
                    "chosen": chosen,
                    "choice_costs": choice_costs(round_results, model.name),
                }
            )
    data = {"rounds": args.rounds, "runs": args.runs, "warmup": args.warmup, "results": results}
    print("\n".join(section(data)))
    if args.json:
        args.json.write_text(json.dumps(data, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
