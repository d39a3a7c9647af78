"""Per-frame overhead of ``Classifier.classify`` over a bare TFLite interpreter loop.

    .venv/bin/python benchmarks/overhead.py [--models M ...] [--threads 1 2] [--json out.json]

Everything runs in this one process on the same 640x480 BGR frame and the same runtime
(ai-edge-litert, XNNPACK, same thread count). The bare loop is the least a caller can do:
take the region the model's bundle asks for (the centre square for ``crop``), ``cv2.resize`` it
to the input size, convert a float input the way TensorFlow's ``label_image`` example does
(``(np.float32(x) - 127.5) / 127.5``) or a grayscale one with ``cv2.cvtColor``, then
``set_tensor``, ``invoke``, ``get_tensor``. For a colour model it feeds BGR to an RGB model, so a
second reference, ``bare+rgb``, adds the ``cv2.cvtColor`` a correct caller needs. ``classify``
adds its own checks, the top-k and the result objects. The variants alternate in blocks over
several rounds (the order rotates every round) so that drift in a shared machine's load hits all
alike; the medians of all per-iteration times are compared. Takes uint8- or float32-input
models (default: MobileNetV2 int8 and float32 from models.py, and the bundled default model).
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
from models import DEFAULT_MODEL, MOBILENET_V2_INT8, mobilenet_v2_path, synthetic_frame

from edgecam.config import ClassifierOptions
from edgecam.vision.classifier import Classifier
from edgecam.vision.preprocess import fit_box

TARGET_PCT = 5.0
WAKEUP_GAPS_US = (0, 10, 50)
median_ms = statistics.median


class BareLoop:
    """The bare interpreter loop: region, resize, (colour,) (to float,) set, invoke, get."""

    def __init__(self, clf: Classifier, threads: int, rgb: bool = False) -> None:
        self.interpreter = Interpreter(model_path=str(clf.files.model), num_threads=threads)
        self.interpreter.allocate_tensors()
        inp = self.interpreter.get_input_details()[0]
        if inp["dtype"] not in (np.uint8, np.float32):
            raise SystemExit(f"{clf.files.model}: the bare loop takes uint8 or float32 input")
        self.float_input = inp["dtype"] == np.float32
        self.input_index = inp["index"]
        self.output_index = self.interpreter.get_output_details()[0]["index"]
        _, self.height, self.width, channels = (int(x) for x in inp["shape"])
        # Grayscale models need the conversion; colour ones get it only in ``bare+rgb``.
        self.conversion = (
            cv2.COLOR_BGR2GRAY if channels == 1 else cv2.COLOR_BGR2RGB if rgb else None
        )
        # The same region classify takes (the whole frame, or its centre for ``crop``).
        height, width = synthetic_frame().shape[:2]
        (x, y, w, h), _ = fit_box(width, height, self.width, self.height, clf.preprocess.resize)
        self.rows, self.cols = slice(y, y + h), slice(x, x + w)
        self.batch_shape = (1, self.height, self.width, channels)

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        resized = cv2.resize(frame[self.rows, self.cols], (self.width, self.height))
        if self.conversion is not None:
            resized = cv2.cvtColor(resized, self.conversion)
        if self.float_input:
            resized = (np.float32(resized) - 127.5) / 127.5
        self.interpreter.set_tensor(self.input_index, resized.reshape(self.batch_shape))
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output_index)


class ExampleLoop(BareLoop):
    """``bare+rgb`` plus what TensorFlow's ``label_image`` example does with the output.

    That is: ``argsort()[-5:][::-1]`` for the top 5, each score read (and dequantized) as a
    Python float beside its label: the least a caller that shows predictions does.
    """

    def __init__(self, clf: Classifier, threads: int) -> None:
        super().__init__(clf, threads, rgb=True)
        self.labels = clf.labels
        scale, zero_point = self.interpreter.get_output_details()[0]["quantization"]
        self.scale, self.zero_point = (scale, zero_point) if scale else (1.0, 0)

    def __call__(self, frame: np.ndarray) -> list[tuple[str, float]]:
        results = super().__call__(frame)[0]
        top = results.argsort()[-5:][::-1]
        return [(self.labels[i], float((results[i] - self.zero_point) * self.scale)) for i in top]


def invoke_after_gap(interpreter: Interpreter, gap_us: float, n: int = 300) -> float:
    """Median ms of ``invoke()`` when the caller spins ``gap_us`` between calls.

    Shows the thread pool's wake-up: with 2+ threads, XNNPACK's workers spin briefly after an
    invoke and then sleep, so any work between invokes longer than that makes the next one pay
    for waking them.
    """
    times = []
    clock = time.perf_counter
    for _ in range(n):
        end = clock() + gap_us * 1e-6
        while clock() < end:
            pass
        t0 = clock()
        interpreter.invoke()
        times.append((clock() - t0) * 1e3)
    return statistics.median(times)


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
        variants = {"bare": BareLoop(clf, threads)}
        colour = clf.preprocess.channels == 3
        if colour:
            variants["bare+rgb"] = BareLoop(clf, threads, rgb=True)
        variants["example"] = ExampleLoop(clf, threads)
        variants["classify"] = lambda image: stages.append(clf.classify(image).timings)
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
        bare = variants["bare"].interpreter
        n = 300 if median_ms(samples["bare"]) < 10 else 30
        wakeup = {f"{gap}us": invoke_after_gap(bare, gap, n) for gap in WAKEUP_GAPS_US}
        delegate = clf.delegate
        input_desc = clf.input_spec.describe()
    median = {name: median_ms(times) for name, times in samples.items()}
    # A grayscale model's bare loop already converts (it must), so bare+rgb would be the same.
    median.setdefault("bare+rgb", median["bare"])
    return {
        "model": str(model),
        "input": input_desc,
        "colour": colour,
        "threads": threads,
        "delegate": delegate,
        "iterations_each": len(samples["bare"]),
        "bare_median_ms": median["bare"],
        "bare_rgb_median_ms": median["bare+rgb"],
        "example_median_ms": median["example"],
        "classify_median_ms": median["classify"],
        "overhead_vs_example_pct": (median["classify"] / median["example"] - 1) * 100,
        "invoke_median_ms_after_gap": wakeup,
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
    parser.add_argument(
        "--models",
        type=Path,
        nargs="+",
        default=[MOBILENET_V2_INT8, mobilenet_v2_path("float32"), DEFAULT_MODEL],
    )
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--block", type=int, default=50, help="iterations per block")
    parser.add_argument("--rounds", type=int, default=20, help="blocks of each variant")
    parser.add_argument("--warmup", type=int, default=30, help="untimed iterations of each")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results here")
    args = parser.parse_args()
    missing = [str(m) for m in args.models if not m.exists()]
    if missing:
        sys.exit(f"not found: {', '.join(missing)}: build them with benchmarks/models.py --all")

    results = []
    load_start = os.getloadavg()
    print(f"640x480 BGR frame, {args.rounds} rounds x {args.block} iterations")
    print("medians in ms; overhead = classify / bare - 1 (per-round median, range)")
    print(
        "model                               threads    bare  bare+rgb   example  classify  "
        "overhead (per-round: median, range)  vs example  invoke after 0/10/50 us gap"
    )
    for model in args.models:
        for threads in args.threads:
            res = measure(model, threads, args.block, args.rounds, args.warmup)
            results.append(res)
            lo, hi = min(res["round_overhead_pct"]), max(res["round_overhead_pct"])
            ok = "met" if res["overhead_pct"] <= TARGET_PCT else "MISSED"
            wake = "/".join(f"{v:.3f}" for v in res["invoke_median_ms_after_gap"].values())
            print(
                f"{model.name:<35} {threads:>7} {res['bare_median_ms']:>7.3f}  "
                f"{res['bare_rgb_median_ms']:>8.3f}  {res['example_median_ms']:>8.3f}  "
                f"{res['classify_median_ms']:>8.3f}  {res['overhead_pct']:>6.2f}% "
                f"({res['round_overhead_median_pct']:>5.2f}%, {lo:>6.2f}% .. {hi:>6.2f}%)  "
                f"{res['overhead_vs_example_pct']:>9.2f}%  {wake}  "
                f"(other load {res['other_load_cores']:.2f} cores) target <= {TARGET_PCT:g}% {ok}"
            )
    if args.json:
        report = {
            "models": [str(m) for m in args.models],
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
