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
        ".classify(frame)`: resize, colour conversion into the input tensor (the input "
        "lookup table is skipped: it is the identity for this raw-pixel uint8 model), "
        "inference, top-5 ranked on the raw uint8 outputs with only those 5 dequantized, "
        "result objects.",
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


def latency_section(data: dict) -> list[str]:
    env = data["environment"]
    interval = 1e3 / data["fps"]
    lines = [
        "## Frame-to-result latency in the live pipeline "
        f"(target: age <= median inference + one frame interval, {interval:.1f} ms)",
        "",
        f"Python {env['python']}, ai-edge-litert {env['ai_edge_litert']}, OpenCV "
        f"{env['opencv']}. Source: `{data['clip']}`, {data['seconds']:g} s of 640x480 mp4v at "
        f"{data['fps']:g} fps (the synthetic frame scrolling sideways, written by "
        "`models.write_clip`), played by `VideoFileSource`, which paces it at the file's rate "
        "like a camera, into `edgecam.pipeline.Pipeline` (capture thread, latest-frame slot, "
        "inference thread). For every result the pipeline delivers, age = `time.monotonic()` "
        "on entering `on_result` minus `Classification.frame_timestamp` (`time.monotonic()` when "
        "the source returned the decoded frame, so decoding is not counted, nor a real camera's "
        "exposure and driver buffering). One untimed `classify` precedes each run. Bound = the "
        "run's median `timings.inference_ms` + one frame interval; the target is met when every "
        "result (the max) is within it.",
        "",
        "The 20 ms and 60 ms models are **emulated**: the colour fixture followed by "
        "`time.sleep(0.020)` / `time.sleep(0.060)` inside `classify` (counted as inference "
        "time). A sleep holds no CPU, unlike a real model of that speed, which would compete "
        "with the capture thread on these 2 cores.",
        "",
        "| model | delegate | inference, median (ms) | classify, median (ms) "
        "| age median (ms) | age p90 (ms) | age max (ms) | bound (ms) | results/s "
        "| capture fps | longest capture gap (ms) | dropped / captured | other load | target |",
        "|:---|:---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---|",
    ]
    missed = []
    for r in data["results"]:
        if r["max_within"]:
            ok = "met"
        else:
            ok = f"**not met**: {r['over_bound']} of {r['results']} results over the bound"
            ok += ", p90 within" if r["p90_within"] else ", p90 over"
            ages = ", ".join(
                f"{o['age_ms']:.2f} ({o['classify_ms']:.2f}, frame {o['frame']}"
                + (", the clip's last" if o["frame"] == r["last_frame"] else "")
                + ")"
                for o in r["over_bound_examples"]
            )
            missed.append(f"- {r['model']}: age (own classify time, frame), ms: {ages}")
        lines.append(
            f"| {r['model']} | {r['delegate']} | {r['inference_median_ms']:.2f} "
            f"| {r['classify_median_ms']:.2f} | {r['age_median_ms']:.2f} "
            f"| {r['age_p90_ms']:.2f} | {r['age_max_ms']:.2f} | {r['bound_ms']:.2f} "
            f"| {r['results_per_s']:.2f} | {r['capture_fps']:.2f} "
            f"| {r['capture_gap_max_ms']:.2f} | {r['frames_dropped']} / {r['frames_captured']} "
            f"| {r['other_load_cores']:.2f} cores | {ok} |"
        )
    lines += [
        "",
        "Classify = preprocess + inference + postprocess (`timings.total_ms`). Dropped = frames "
        "the capture thread overwrote in the slot before inference took them (by design when "
        "inference is slower than the source); results/s = results delivered per second between "
        "the first and the last; longest capture gap = the longest interval between two frames "
        "the source delivered; 'other load' as above.",
    ]
    if missed:
        lines += [
            "",
            "Where the target was missed, the results over the bound (at most the 5 youngest and "
            "the 5 oldest shown):",
            "",
            *missed,
            "",
            "By construction a result can be as old as one frame interval (the newest frame "
            "arrived just after the previous inference started and waited for it) plus a whole "
            "`classify` (preprocessing and postprocessing too, not only the inference the bound "
            "counts) plus the thread hand-over; a `classify` slower than the median (here: a "
            "sleep that woke late) and a frame the source delivers late (a capture gap longer "
            "than the interval) add to that. The clip's last frame has no successor: it waits in "
            "the slot for the whole inference in progress, so its result can be up to two "
            "inferences old (a camera never ends, so this is a file's end, not the steady state).",
        ]
    return [*lines, ""]


def memory_section(data: dict) -> list[str]:
    n, first = data["frames"], data["first"]
    lines = [
        f"## Memory over {n:,} frames (target: RSS after {n:,} frames at most 5 MB above RSS "
        f"after {first})",
        "",
        f"Source: `{data['clip']}` (10 s, 640x480 mp4v) looped by "
        "`VideoFileSource(clip, loop=True, pace=False)`, so frames come as fast as they decode; "
        f"model `{data['model']}` (`delegate='cpu'`, top 3). Each case runs in its own fresh "
        "process (`benchmarks/memory.py --child CASE`):",
        "",
        "- **headless**: `Pipeline(source, Classifier(...))`, the main thread polling;",
        "- **gui**: a `MainWindow` (`QT_QPA_PLATFORM=offscreen`, 800x500, shown) around a "
        "`LiveSession` running the same source and model, the Qt event loop running (frames "
        "painted, predictions and the 500 ms stats timer updated).",
        "",
        "RSS is VmRSS from `/proc/self/status`, read in the main thread, which polls the "
        "pipeline's captured-frame count every 5 ms and samples the first time it reaches each "
        "mark (so a sample may be a few frames past its mark). 'Start' is after the model is "
        "loaded (and the window shown), before the first frame; peak is VmHWM at the end. "
        "MiB = 2^20 bytes; the 5 MB target is taken as 5,000,000 bytes (4.77 MiB).",
        "",
        f"| case | start (MiB) | after {first} (MiB) | after {n:,} (MiB) | growth (MiB) "
        "| peak (MiB) | seconds | classified / dropped | target |",
        "|:---|---:|---:|---:|---:|---:|---:|---:|:---|",
    ]
    for r in data["results"]:
        s = r["stats"]
        ok = "met" if r["met"] else "**not met**"
        lines.append(
            f"| {r['case']} | {r['start_rss_kib'] / 1024:.1f} | {r['rss_first_kib'] / 1024:.1f} "
            f"| {r['rss_last_kib'] / 1024:.1f} | {r['growth_bytes'] / 2**20:+.2f} "
            f"| {r['peak_rss_kib'] / 1024:.1f} | {r['samples'][-1]['seconds']:.1f} "
            f"| {s['frames_classified']:,} / {s['frames_dropped']:,} | {ok} |"
        )
    lines += ["", "RSS (MiB) at each mark, to show the trend:", ""]
    marks = [s["mark"] for s in data["results"][0]["samples"]]
    lines += [
        "| case | " + " | ".join(f"{m:,}" for m in marks) + " |",
        "|:---|" + "---:|" * len(marks),
    ]
    for r in data["results"]:
        lines.append(
            f"| {r['case']} | "
            + " | ".join(f"{s['rss_kib'] / 1024:.1f}" for s in r["samples"])
            + " |"
        )
    gui = [r for r in data["results"] if r["case"] == "gui"]
    if gui:
        g = gui[0]
        lines += [
            "",
            f"In the gui case the GUI thread picked up {g['gui_frame_signals']:,} frames and "
            f"{g['gui_result_signals']:,} results (it takes the newest when it gets to it; "
            "the rest are skipped by design) and painted at "
            f"{g['display_fps_last_60_paints']:.1f} fps over its last 60 paints.",
        ]
    return [*lines, ""]


def summary(data: dict) -> list[str]:
    """One line per target: met or not, with the deciding figures."""

    def verdict(ok: bool) -> str:
        return "met" if ok else "**not met**"

    over, start, lat, mem = (data[k] for k in ("overhead", "startup", "latency", "memory"))
    lines = ["## Targets", ""]
    for r in over["results"]:
        lines.append(
            f"- `classify` overhead <= {over['target_pct']:g}%, {r['threads']} "
            f"thread{'s' if r['threads'] > 1 else ''}: "
            f"{verdict(r['overhead_pct'] <= over['target_pct'])} ({r['overhead_pct']:.2f}%)"
        )
    worst = max(start["results"], key=lambda r: r["first_prediction_median_s"])
    lines.append(
        f"- start-up to first prediction <= {start['target_s']:g} s, every case: "
        f"{verdict(worst['first_prediction_median_s'] <= start['target_s'])} (slowest median "
        f"{worst['first_prediction_median_s']:.3f} s)"
    )
    for r in lat["results"]:
        last = r["last_frame_age_ms"]
        note = ""
        if last is not None and last > r["bound_ms"]:
            note = (
                f"; one of them the clip's last frame, {last:.2f} ms; the others' max "
                f"{r['age_max_not_last_frame_ms']:.2f} ms"
            )
        lines.append(
            f"- result age <= median inference + one frame interval, {r['model']}: "
            f"{verdict(r['max_within'])} (max {r['age_max_ms']:.2f} ms, bound "
            f"{r['bound_ms']:.2f} ms; {r['over_bound']} of {r['results']} results over{note})"
        )
    for r in mem["results"]:
        lines.append(
            f"- RSS growth from {mem['first']} to {mem['frames']:,} frames <= 5 MB, {r['case']}: "
            f"{verdict(r['met'])} ({r['growth_bytes'] / 2**20:+.2f} MiB)"
        )
    return [*lines, ""]


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
    command = " ".join(
        [os.path.relpath(sys.executable, ROOT), os.path.relpath(__file__, ROOT), *sys.argv[1:]]
    )
    about = machine(args.build_python)
    run([args.build_python, str(HERE / "models.py")])
    data = {}
    for name in ("overhead", "startup", "latency", "memory"):
        path = CACHE / f"{name}.json"
        run([args.python, str(HERE / f"{name}.py"), "--json", str(path)])
        data[name] = json.loads(path.read_text())

    size_kib = MOBILENET_V2_INT8.stat().st_size / 1024
    lines = [
        "# Benchmarks",
        "",
        f"Measured {started:%Y-%m-%d %H:%M} UTC by `{command}` (what `make bench` runs); "
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
        *summary(data),
        "## Models",
        "",
        f"- `{MOBILENET_V2_INT8.relative_to(ROOT)}` ({size_kib:.0f} KiB): "
        "`keras.applications.MobileNetV2(weights=None, input_shape=(224, 224, 3), alpha=1.0)` "
        "(random weights: no internet here; fine for timing), converted to full int8 with uint8 "
        "input and output (20 random representative images) by `benchmarks/models.py`.",
        f"- `{FIXTURE_MODEL.relative_to(ROOT)}`: the tiny committed colour fixture "
        "(float32, ~0.05 ms an inference), for the start-up floor, the latency runs (alone and "
        "with an emulated slower model) and the memory runs.",
        "",
        *overhead_section(data["overhead"]),
        *startup_section(data["startup"]),
        *latency_section(data["latency"]),
        *memory_section(data["memory"]),
        "## Reproduce",
        "",
        "```bash",
        "make bench   # builds .venv and .venv-train if needed, then runs everything below",
        "# or step by step:",
        ".venv-train/bin/python benchmarks/models.py   # builds the model (TensorFlow), cached",
        ".venv/bin/python benchmarks/overhead.py [--threads 1 2] [--json out.json]",
        ".venv/bin/python benchmarks/startup.py [--runs 7] [--json out.json]",
        ".venv/bin/python benchmarks/latency.py [--seconds 20] [--json out.json]",
        ".venv/bin/python benchmarks/memory.py [--frames 10000] [--json out.json]",
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
