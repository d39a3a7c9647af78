"""Start-up time: from launching ``edgecam`` to its first prediction, measured from outside.

    .venv/bin/python benchmarks/startup.py [--runs 7] [--json out.json]

Each case is a fresh process of the repository's ``.venv/bin/edgecam``, timed with
``time.perf_counter`` from just before ``subprocess.Popen`` to the moment its first prediction
line arrives on stdout, and to its exit. One untimed run per case goes first, so every timed run
finds the files in the page cache (a warm start, the usual case on a device that has run the app
before). Cases: ``classify`` one image, ``run --headless --max-frames 1`` on the same image with
``--delegate cpu`` and with ``--delegate auto`` (which tries the GPU first and falls back), for
the small committed fixture model, the MobileNetV2 int8 model of models.py and the bundled
default model (its folder, as users run it: labels, model.json and metadata read too).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from models import CACHE, DEFAULT_MODEL, FIXTURE_MODEL, MOBILENET_V2_INT8, ROOT, write_frame

EDGECAM = ROOT / ".venv" / "bin" / "edgecam"
TARGET_S = 1.5


def commands(model: Path, image: Path) -> dict[str, list[str]]:
    """The timed command lines for ``model``, by case name."""
    run = ["run", "--headless", "--source", str(image), "--max-frames", "1", "--model", str(model)]
    return {
        "classify (cpu)": ["classify", str(image), "--model", str(model), "--delegate", "cpu"],
        "run --headless (cpu)": [*run, "--delegate", "cpu"],
        "run --headless (auto)": [*run, "--delegate", "auto"],
    }


def time_once(argv: list[str]) -> tuple[float, float, str]:
    """Run ``argv``; return seconds to the first stdout line and to its exit, and its stderr."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT
    )
    first = proc.stdout.readline()
    t_first = time.perf_counter() - t0
    out, err = proc.communicate()
    t_exit = time.perf_counter() - t0
    if proc.returncode != 0 or not first or first.startswith("["):
        raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}): {first}{out}{err}")
    return t_first, t_exit, err


def measure(argv: list[str], runs: int) -> dict:
    """Time ``argv`` ``runs`` times after one untimed run."""
    stderr = time_once(argv)[2]
    firsts, exits, _ = zip(*(time_once(argv) for _ in range(runs)), strict=True)
    return {
        "stderr": [line for line in stderr.splitlines() if line.startswith("edgecam:")],
        "runs": runs,
        "first_prediction_median_s": statistics.median(firsts),
        "first_prediction_min_s": min(firsts),
        "exit_median_s": statistics.median(exits),
        "first_prediction_s": list(firsts),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument(
        "--models",
        type=Path,
        nargs="+",
        default=[FIXTURE_MODEL, MOBILENET_V2_INT8, DEFAULT_MODEL.parent],
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results here")
    args = parser.parse_args()
    if not EDGECAM.exists():
        sys.exit(f"{EDGECAM} not found: run `make venv` first")
    image = write_frame(CACHE / "frame_640x480.png")

    results = []
    baseline = measure([str(EDGECAM.parent / "python"), "-c", "print('ready')"], args.runs)
    print(f"{args.runs} runs each (after one untimed run); image {image.name} (640x480)")
    print(f"baseline, a bare .venv/bin/python start: median {baseline['exit_median_s']:.3f} s")
    print(f"{'model':<34} {'case':<22} {'median s':>8} {'min s':>7} {'exit s':>7}  target")
    for model in (m.resolve() for m in args.models):
        for case, argv in commands(model, image).items():
            res = measure([str(EDGECAM), *argv], args.runs)
            res |= {"model": str(model.relative_to(ROOT)), "case": case}
            res["command"] = " ".join([str(EDGECAM.relative_to(ROOT)), *argv]).replace(
                f"{ROOT}/", ""
            )
            results.append(res)
            ok = "met" if res["first_prediction_median_s"] <= TARGET_S else "MISSED"
            print(
                f"{model.name:<34} {case:<22} {res['first_prediction_median_s']:>8.3f} "
                f"{res['first_prediction_min_s']:>7.3f} {res['exit_median_s']:>7.3f}  "
                f"<= {TARGET_S:g} s {ok}"
            )
    if args.json:
        report = {
            "image": str(image.relative_to(ROOT)),
            "target_s": TARGET_S,
            "baseline_python_s": baseline["exit_median_s"],
            "results": results,
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
