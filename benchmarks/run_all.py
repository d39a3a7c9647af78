"""Run every benchmark and write docs/BENCHMARKS.md (what ``make bench`` does).

    .venv/bin/python benchmarks/run_all.py --build-python .venv-train/bin/python

The model is built (if not cached) by ``--build-python``, which needs TensorFlow. Everything
timed runs in separate processes of ``--python`` (the app's ``.venv``: ai-edge-litert, no
TensorFlow), so TensorFlow is never loaded where time is measured. This script imports neither.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

from models import CACHE, FIXTURE_MODEL, MOBILENET_V2_INT8, ROOT

HERE = Path(__file__).resolve().parent
DOC = ROOT / "docs" / "BENCHMARKS.md"


def run(argv: list[str]) -> None:
    """Run a step, its output going to the terminal; stop everything if it fails."""
    print("+", " ".join(argv), flush=True)
    subprocess.run(argv, check=True, cwd=ROOT)


def output(argv: list[str]) -> str:
    """A command's stdout, stripped ('unknown' if it fails)."""
    try:
        return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def cpu_model() -> str:
    """The CPU's name from /proc/cpuinfo."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine(build_python: str) -> list[str]:
    """Markdown bullet lines describing where and with what the figures were measured."""
    tf_version = output(
        [build_python, "-c", "from importlib.metadata import version; print(version('tensorflow'))"]
    )
    commit = output(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    dirty = output(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"])
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return [
        f"- CPU: {cpu_model()}, {os.cpu_count()} logical cores "
        f"(load average {load} when the run started; the machine is shared)",
        f"- OS: {platform.system()} {platform.release()} ({platform.machine()})",
        f"- edgecam: commit {commit}{' with local changes' if dirty else ''}",
        f"- TensorFlow (builds the model only, `{build_python}`): {tf_version}",
    ]


def overhead_section(data: dict) -> list[str]:
    env = data["environment"]
    lines = [
        f"## Per-frame overhead of `Classifier.classify` (target: <= {data['target_pct']:g}%)",
        "",
        f"Python {env['python']}, ai-edge-litert {env['ai_edge_litert']}, numpy {env['numpy']}, "
        f"OpenCV {env['opencv']}. Model `{Path(data['model']).name}`; frame: {data['frame']}.",
        "",
        "One process, three loops on the same frame and the same runtime and thread count:",
        "",
        "- **bare**: `cv2.resize` to 224x224, `set_tensor`, `invoke`, `get_tensor` (the least a "
        "caller can do; it feeds BGR to an RGB model);",
        "- **bare+rgb**: the same plus `cv2.cvtColor(BGR2RGB)`, the least a *correct* caller does;",
        "- **classify**: `Classifier(ClassifierOptions(model, delegate='cpu', threads=T))"
        ".classify(frame)`: resize, colour conversion, input lookup table, inference, "
        "dequantization, top-5, result objects.",
        "",
        f"After {data['warmup']} untimed calls of each, they alternate in blocks of "
        f"{data['block']} calls for {data['rounds']} rounds (the order rotates each round); each "
        "call is timed with `time.perf_counter` and the medians of all calls are compared. "
        "Overhead = classify / bare - 1. The same ratio from each round's block medians gives "
        "the per-round median and range, a measure of the noise. 'Other load' is the CPU other "
        "processes used meanwhile (from /proc/stat, in cores, out of "
        f"{data['environment']['cpu_count']}): with 2 threads on 2 cores, any of it slows the "
        "runs it lands on.",
        "",
        "| threads | bare (ms) | bare+rgb (ms) | classify (ms) | overhead vs bare "
        "| per-round median (range) | overhead vs bare+rgb | other load | target |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|:---|",
    ]
    for r in data["results"]:
        rounds = r["round_overhead_pct"]
        ok = "met" if r["overhead_pct"] <= data["target_pct"] else "**not met**"
        lines.append(
            f"| {r['threads']} | {r['bare_median_ms']:.3f} | {r['bare_rgb_median_ms']:.3f} "
            f"| {r['classify_median_ms']:.3f} | {r['overhead_pct']:.2f}% "
            f"| {r['round_overhead_median_pct']:.2f}% ({min(rounds):.2f}% .. {max(rounds):.2f}%) "
            f"| {r['overhead_vs_bare_rgb_pct']:.2f}% | {r['other_load_cores']:.2f} cores | {ok} |"
        )
    lines += [
        "",
        "Where `classify`'s time goes (medians of the `Classification.timings` of the timed "
        "calls):",
        "",
        "| threads | preprocess (ms) | inference (ms) | postprocess (ms) |",
        "|---:|---:|---:|---:|",
    ]
    for r in data["results"]:
        s = r["classify_stage_median_ms"]
        lines.append(
            f"| {r['threads']} | {s['preprocess']:.3f} | {s['inference']:.3f} "
            f"| {s['postprocess']:.3f} |"
        )
    return [*lines, ""]


def startup_section(data: dict) -> list[str]:
    auto = [r for r in data["results"] if "auto" in r["case"]]
    skip = ("ended after", "no labels found")
    lines = [
        f"## Start-up to first prediction (target: <= {data['target_s']:g} s)",
        "",
        "Each run is a fresh process of `.venv/bin/edgecam`, timed from just before "
        "`subprocess.Popen` to the arrival of its first prediction line on stdout ('exit' is to "
        f"the process's end). {data['results'][0]['runs']} timed runs per case after one untimed "
        f"run (so files are in the page cache: a warm start). Input: `{data['image']}`, the "
        "640x480 synthetic frame. For scale, a bare `.venv/bin/python -c \"print('ready')\"` "
        f"takes {data['baseline_python_s']:.3f} s (median) here. `--delegate auto` tries the "
        "GPU accelerator first and falls back to the CPU, saying so; what it said here "
        "(stderr of an auto run, `--max-frames`/labels notes left out):",
        "",
        "```",
        *[
            line.replace(f"{ROOT}/", "")
            for line in auto[0]["stderr"]
            if not any(x in line for x in skip)
        ],
        "```",
        "",
        "| model | case | median (s) | min (s) | exit, median (s) | target |",
        "|:---|:---|---:|---:|---:|:---|",
    ]
    for r in data["results"]:
        ok = "met" if r["first_prediction_median_s"] <= data["target_s"] else "**not met**"
        lines.append(
            f"| `{Path(r['model']).name}` | {r['case']} | {r['first_prediction_median_s']:.3f} "
            f"| {r['first_prediction_min_s']:.3f} | {r['exit_median_s']:.3f} | {ok} |"
        )
    lines += ["", "The timed command lines:", "", "```"]
    lines += [r["command"] for r in data["results"]]
    return [*lines, "```", ""]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--python", default=str(ROOT / ".venv" / "bin" / "python"), help="runs the timed scripts"
    )
    parser.add_argument(
        "--build-python", default=sys.executable, help="builds the model (needs TensorFlow)"
    )
    parser.add_argument("--out", type=Path, default=DOC)
    args = parser.parse_args()

    started = datetime.datetime.now(datetime.timezone.utc)
    about = machine(args.build_python)
    run([args.build_python, str(HERE / "models.py")])
    overhead_json, startup_json = CACHE / "overhead.json", CACHE / "startup.json"
    run([args.python, str(HERE / "overhead.py"), "--json", str(overhead_json)])
    run([args.python, str(HERE / "startup.py"), "--json", str(startup_json)])
    overhead = json.loads(overhead_json.read_text())
    startup = json.loads(startup_json.read_text())

    size_kib = MOBILENET_V2_INT8.stat().st_size / 1024
    lines = [
        "# Benchmarks",
        "",
        f"Measured {started:%Y-%m-%d %H:%M} UTC by `make bench` (`benchmarks/run_all.py`); "
        "this file is generated, re-run it rather than editing. Figures are as measured, "
        "printed to the digits shown.",
        "",
        "## Machine",
        "",
        *about,
        "",
        "Timings on this 2-core shared machine are noisy: compare the ratios measured in the "
        "same run rather than absolute times across runs.",
        "",
        "## Models",
        "",
        f"- `{MOBILENET_V2_INT8.relative_to(ROOT)}` ({size_kib:.0f} KiB): "
        "`keras.applications.MobileNetV2(weights=None, input_shape=(224, 224, 3), alpha=1.0)` "
        "(random weights: no internet here; fine for timing), converted to full int8 with uint8 "
        "input and output (20 random representative images) by `benchmarks/models.py`.",
        f"- `{FIXTURE_MODEL.relative_to(ROOT)}`: the tiny committed colour fixture "
        "(float32), for the start-up floor.",
        "",
        *overhead_section(overhead),
        *startup_section(startup),
        "## Reproduce",
        "",
        "```bash",
        "make bench   # builds .venv and .venv-train if needed, then runs everything below",
        "# or step by step:",
        ".venv-train/bin/python benchmarks/models.py   # builds the model (TensorFlow), cached",
        ".venv/bin/python benchmarks/overhead.py [--threads 1 2] [--json out.json]",
        ".venv/bin/python benchmarks/startup.py [--runs 7] [--json out.json]",
        ".venv/bin/python benchmarks/run_all.py --build-python .venv-train/bin/python",
        "```",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
