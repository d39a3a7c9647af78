"""Per-frame overhead of ``Classifier.classify`` over a bare TFLite interpreter loop.

    .venv/bin/python benchmarks/overhead.py [--model M] [--threads 1 2] [--json out.json]

Everything runs in this one process on the same 640x480 BGR frame and the same runtime
(ai-edge-litert, XNNPACK, same thread count). The bare loop is the least a caller can do:
``cv2.resize`` to the input size, ``set_tensor``, ``invoke``, ``get_tensor``. It feeds BGR to an
RGB model, so a second reference, ``bare+rgb``, adds the ``cv2.cvtColor`` a correct caller
needs. ``classify`` adds to that its own checks, the top-k and the result objects (for a
raw-pixel uint8 model the input lookup table is the identity and skipped, and the top-k is
ranked on the raw outputs, only those k being dequantized). The variants alternate in blocks
over several rounds (the order rotates every round) so that drift in a shared machine's load
hits all alike; the medians of all per-iteration times are compared. Needs a uint8-input model
(the default: the MobileNetV2 int8 model of models.py).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from importlib.metadata import version
from pathlib import Path

import cv2
import numpy as np
from ai_edge_litert.interpreter import Interpreter
from models import MOBILENET_V2_INT8, synthetic_frame

from edgecam.config import ClassifierOptions
from edgecam.vision.classifier import Classifier

TARGET_PCT = 5.0


class BareLoop:
    """The bare interpreter loop: resize, (BGR->RGB,) set_tensor, invoke, get_tensor."""

    def __init__(self, model: Path, threads: int, rgb: bool = False) -> None:
        self.rgb = rgb
        self.interpreter = Interpreter(model_path=str(model), num_threads=threads)
        self.interpreter.allocate_tensors()
        inp = self.interpreter.get_input_details()[0]
        if inp["dtype"] != np.uint8:
            raise SystemExit(f"{model}: the bare loop needs a uint8 input, not {inp['dtype']}")
        self.input_index = inp["index"]
        self.output_index = self.interpreter.get_output_details()[0]["index"]
        _, self.height, self.width, _ = inp["shape"]

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        resized = cv2.resize(frame, (int(self.width), int(self.height)))
        if self.rgb:
            resized = cv2.cvtColor(resized, cv2.COLOR_BGR2RGB)
        self.interpreter.set_tensor(self.input_index, resized[np.newaxis])
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output_index)


def time_block(fn, frame: np.ndarray, n: int, out: list[float]) -> None:
    """Call ``fn(frame)`` ``n`` times, appending each call's milliseconds to ``out``."""
    clock = time.perf_counter
    for _ in range(n):
        t0 = clock()
        fn(frame)
        out.append((clock() - t0) * 1e3)


def busy_seconds() -> tuple[float, float]:
    """(CPU seconds all processes have used, CPU seconds this process has used) so far."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[:8])
    ticks = os.sysconf("SC_CLK_TCK")
    mine = os.times()
    return (user + nice + system + irq + softirq + steal) / ticks, mine.user + mine.system


def measure(model: Path, threads: int, block: int, rounds: int, warmup: int) -> dict:
    """Interleave the bare loops and ``classify`` at ``threads`` threads; return the figures."""
    frame = synthetic_frame()
    options = ClassifierOptions(model=model, delegate="cpu", threads=threads, top_k=5)
    with Classifier(options) as clf:
        stages = []  # classify's own per-stage timings, from the timed calls themselves
        variants = {
            "bare": BareLoop(model, threads),
            "bare+rgb": BareLoop(model, threads, rgb=True),
            "classify": lambda image: stages.append(clf.classify(image).timings),
        }
        samples: dict[str, list[float]] = {name: [] for name in variants}
        for fn in variants.values():
            time_block(fn, frame, warmup, [])
        stages.clear()
        round_overhead = []
        wall0, (busy0, mine0) = time.perf_counter(), busy_seconds()
        for r in range(rounds):
            names = list(variants)
            names = names[r % len(names) :] + names[: r % len(names)]
            block_median = {}
            for name in names:
                times: list[float] = []
                time_block(variants[name], frame, block, times)
                samples[name].extend(times)
                block_median[name] = statistics.median(times)
            round_overhead.append((block_median["classify"] / block_median["bare"] - 1) * 100)
        wall, (busy, mine) = time.perf_counter() - wall0, busy_seconds()
        delegate = clf.delegate
    median = {name: statistics.median(times) for name, times in samples.items()}
    return {
        "threads": threads,
        "delegate": delegate,
        "iterations_each": len(samples["bare"]),
        "bare_median_ms": median["bare"],
        "bare_rgb_median_ms": median["bare+rgb"],
        "classify_median_ms": median["classify"],
        "overhead_pct": (median["classify"] / median["bare"] - 1) * 100,
        "overhead_vs_bare_rgb_pct": (median["classify"] / median["bare+rgb"] - 1) * 100,
        "round_overhead_pct": round_overhead,
        "round_overhead_median_pct": statistics.median(round_overhead),
        # Cores' worth of CPU other processes used meanwhile: how disturbed the run was.
        "other_load_cores": max(0.0, ((busy - busy0) - (mine - mine0)) / wall),
        "classify_stage_median_ms": {
            "preprocess": statistics.median(s.preprocess_ms for s in stages),
            "inference": statistics.median(s.inference_ms for s in stages),
            "postprocess": statistics.median(s.postprocess_ms for s in stages),
        },
    }


def environment() -> dict:
    """Versions of what was measured."""
    return {
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "ai_edge_litert": version("ai-edge-litert"),
        "numpy": np.__version__,
        "opencv": cv2.__version__,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=MOBILENET_V2_INT8)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--block", type=int, default=50, help="iterations per block")
    parser.add_argument("--rounds", type=int, default=20, help="blocks of each variant")
    parser.add_argument("--warmup", type=int, default=30, help="untimed iterations of each")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results here")
    args = parser.parse_args()
    if not args.model.exists():
        sys.exit(f"{args.model} not found: build it with benchmarks/models.py (needs TensorFlow)")

    results = []
    load_start = os.getloadavg()
    print(f"{args.model.name}, 640x480 BGR frame, {args.rounds} rounds x {args.block} iterations")
    print("medians in ms; overhead = classify / bare - 1 (per-round median, range); vs bare+rgb")
    print(
        "threads    bare  bare+rgb  classify  overhead (per-round: median, range)  vs bare+rgb"
        "  other load"
    )
    for threads in args.threads:
        res = measure(args.model, threads, args.block, args.rounds, args.warmup)
        results.append(res)
        lo, hi = min(res["round_overhead_pct"]), max(res["round_overhead_pct"])
        ok = "met" if res["overhead_pct"] <= TARGET_PCT else "MISSED"
        print(
            f"{threads:>7} {res['bare_median_ms']:>7.3f}  {res['bare_rgb_median_ms']:>8.3f}  "
            f"{res['classify_median_ms']:>8.3f}  {res['overhead_pct']:>6.2f}% "
            f"({res['round_overhead_median_pct']:>5.2f}%, {lo:>6.2f}% .. {hi:>6.2f}%)  "
            f"{res['overhead_vs_bare_rgb_pct']:>10.2f}%  {res['other_load_cores']:>5.2f} cores  "
            f"target <= {TARGET_PCT:g}% {ok}"
        )
    if args.json:
        report = {
            "model": str(args.model),
            "frame": "640x480 BGR uint8 (synthetic_frame(seed=0) in benchmarks/models.py)",
            "block": args.block,
            "rounds": args.rounds,
            "warmup": args.warmup,
            "target_pct": TARGET_PCT,
            "environment": environment(),
            "load_average_start": load_start,
            "load_average_end": os.getloadavg(),
            "results": results,
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
