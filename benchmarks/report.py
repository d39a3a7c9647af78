"""The sections of docs/BENCHMARKS.md, one function per benchmark's JSON (used by run_all.py).

Each ``*_section(data)`` returns the Markdown lines for one step's results: what was measured,
how, the table, and the verdict against its target; ``summary(data)`` gives one line per target.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from models import ROOT

# Pipeline vs naive loop: results/s within 1% count as equal (both then run at the source's pace,
# and the rate over first-to-last result jitters by the timing of those two results).
PACE_TOLERANCE = 0.99
DEFAULT_LABEL = "assets/models/default/model.tflite"
PLOTS = ROOT / "docs" / "benchmarks"  # benchmarks/plots.py writes them there


def model_name(path: str) -> str:
    """A model's file name, or ``default model`` for the bundled one (its file is model.tflite)."""
    default = path.endswith((DEFAULT_LABEL, Path(DEFAULT_LABEL).parent.as_posix()))
    return "default model" if default else Path(path).name


def plot(name: str, alt: str) -> list[str]:
    """Markdown lines showing ``docs/benchmarks/NAME.png``, if plots.py made it."""
    return ["", f"![{alt}](benchmarks/{name}.png)"] if (PLOTS / f"{name}.png").exists() else []


def overhead_section(data: dict) -> list[str]:
    env = data["environment"]
    target = data["target_pct"]
    lines = [
        f"## Per-frame overhead of `Classifier.classify` (target: <= {target:g}%)",
        "",
        f"Python {env['python']}, ai-edge-litert {env['ai_edge_litert']}, numpy {env['numpy']}, "
        f"OpenCV {env['opencv']}; frame: {data['frame']}. Models: MobileNetV2 1.0 224 int8 "
        "(uint8 in/out) and float32 from `benchmarks/models.py`, and the bundled default model "
        "(28x28 grayscale, uint8 in/out, `crop` resize).",
        "",
        "One process per run, these loops on the same frame, runtime and thread count:",
        "",
        "- **bare**: the region classify uses (the centre square for a `crop` bundle), "
        "`cv2.resize` to the input size, for a grayscale model `cv2.cvtColor(BGR2GRAY)`, for a "
        "float model `(np.float32(x) - 127.5) / 127.5` as TensorFlow's `label_image` example "
        "does, then `set_tensor`, `invoke`, `get_tensor`: the least a caller can do (for a "
        "colour model it feeds BGR to an RGB model);",
        "- **bare+rgb** (colour models): the same plus `cv2.cvtColor(BGR2RGB)`, the least a "
        "*correct* caller does;",
        "- **example**: bare+rgb plus what `label_image` does with the output: "
        "`argsort()[-5:][::-1]`, each score dequantized to a Python float beside its label. "
        "This is the least a caller that *shows* predictions does;",
        "- **classify**: `Classifier(ClassifierOptions(model, delegate='cpu', threads=T))"
        ".classify(frame)`: checks, the cached fit, resize, colour conversion into the input "
        "tensor (the lookup table is skipped when it is the identity, as for these uint8 "
        "models), inference, the top 5 (ranked on the raw integers for quantized outputs, only "
        "those 5 dequantized) as `Category` tuples, per-stage timings.",
        "",
        f"After {data['warmup']} untimed calls of each, they alternate in blocks of "
        f"{data['block']} calls for {data['rounds']} rounds (the order rotates each round); each "
        "call is timed with `time.perf_counter` and the medians of all calls are compared. "
        "Overhead = classify / bare - 1. The same ratio from each round's block medians gives "
        "the per-round median and range, a measure of the noise. 'Other load' is the CPU other "
        "processes used meanwhile (from /proc/stat, in cores, out of "
        f"{env['cpu_count']}).",
        "",
        "| model | threads | bare (ms) | bare+rgb (ms) | example (ms) | classify (ms) "
        "| overhead vs bare | per-round median (range) | vs example | other load | target |",
        "|:---|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---|",
    ]
    for r in data["results"]:
        rounds = r["round_overhead_pct"]
        ok = "met" if r["overhead_pct"] <= target else "**not met**"
        rgb = f"{r['bare_rgb_median_ms']:.3f}" if r["colour"] else "(gray)"
        lines.append(
            f"| `{model_name(r['model'])}` | {r['threads']} | {r['bare_median_ms']:.3f} | {rgb} "
            f"| {r['example_median_ms']:.3f} | {r['classify_median_ms']:.3f} "
            f"| {r['overhead_pct']:.2f}% "
            f"| {r['round_overhead_median_pct']:.2f}% ({min(rounds):.2f}% .. {max(rounds):.2f}%) "
            f"| {r['overhead_vs_example_pct']:+.2f}% | {r['other_load_cores']:.2f} cores | {ok} |"
        )
    gaps = list(data["results"][0]["invoke_median_ms_after_gap"])
    lines += [
        "",
        "Where `classify`'s time goes (medians of the `Classification.timings` of the timed "
        "calls), the overhead in microseconds, and the bare loop's `invoke()` alone when the "
        f"caller spins {', '.join(g.replace('us', ' µs') for g in gaps)} between calls "
        "(`overhead.invoke_after_gap`):",
        "",
        "| model | threads | preprocess (ms) | inference (ms) | postprocess (ms) "
        "| classify - bare (µs) | "
        + " | ".join(f"invoke after {g[:-2]} µs (ms)" for g in gaps)
        + " |",
        "|:---|---:|---:|---:|---:|---:|" + "---:|" * len(gaps),
    ]
    for r in data["results"]:
        st = r["classify_stage_median_ms"]
        wake = " | ".join(f"{v:.3f}" for v in r["invoke_median_ms_after_gap"].values())
        lines.append(
            f"| `{model_name(r['model'])}` | {r['threads']} | {st['preprocess']:.3f} "
            f"| {st['inference']:.3f} | {st['postprocess']:.3f} "
            f"| {(r['classify_median_ms'] - r['bare_median_ms']) * 1e3:.1f} | {wake} |"
        )
    missed = [r for r in data["results"] if r["overhead_pct"] > target]
    if missed:
        lines += ["", *overhead_misses(missed, target)]
    lines += plot("overhead", "classify and the reference loops, relative to the bare loop")
    return [*lines, ""]


def overhead_misses(missed: list[dict], target: float) -> list[str]:
    """Why each missed overhead target is missed, in the run's own figures."""
    lines = ["Why the target is missed where it is:", ""]
    for r in missed:
        name, threads = model_name(r["model"]), r["threads"]
        extra_us = (r["classify_median_ms"] - r["bare_median_ms"]) * 1e3
        budget_us = r["bare_median_ms"] * target * 10
        wake = r["invoke_median_ms_after_gap"]
        first, *_, last = wake
        text = (
            f"- `{name}`, {threads} thread{'s' if threads > 1 else ''}: classify adds "
            f"{extra_us:.1f} µs to a {r['bare_median_ms'] * 1e3:.1f} µs bare loop, whose "
            f"{target:g}% is {budget_us:.1f} µs. Against the example loop, which also ranks and "
            f"reads out the top 5, classify is {r['overhead_vs_example_pct']:+.2f}%. "
        )
        if threads > 1:
            text += (
                f"With {threads} threads `invoke()` itself takes {wake[first]:.3f} ms when called "
                f"back to back but {wake[last]:.3f} ms after a {last[:-2]} µs gap: XNNPACK's "
                "workers spin only briefly after an invoke and then sleep, and the Python work "
                "between two invokes (postprocessing, then the next frame's preprocessing) is "
                "long enough for them to fall asleep, so classify pays for waking them and the "
                "back-to-back bare loop does not. A real camera loop (a read, a draw) pays it "
                "too. For a model this small one thread is as fast or faster: compare its "
                "1-thread row."
            )
        else:
            text += (
                "The difference is the fixed Python cost of a result a caller can use: the "
                "top-k ranking and k label/score objects (postprocess) and the per-frame checks "
                "and stage timings, a few microseconds each, which only a model this small "
                "makes visible."
            )
        lines.append(text)
    return lines


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
            f"| `{model_name(r['model'])}` | {r['case']} | {r['first_prediction_median_s']:.3f} "
            f"| {r['first_prediction_min_s']:.3f} | {r['exit_median_s']:.3f} | {ok} |"
        )
    lines += ["", "The timed command lines:", "", "```"]
    lines += [r["command"] for r in data["results"]]
    lines += ["```"]
    lines += plot("startup", "Start-up to first prediction")
    return [*lines, ""]


AGE_BOUNDS = (
    "Each result's age is checked two ways. **Own bound** (the target's verdict): that "
    "result's own work (its `classify`, preprocessing and postprocessing included, plus the "
    "drawing where there is one) plus its frame's own interval, from its capture to the next "
    "frame's capture. A result within it was made from the newest frame there was when its "
    "inference began, so it is no older than one inference plus one frame. A file's last frame "
    "has no next frame to replace it while the inference in progress ends, so it is left out "
    "of this check and shown on its own (a camera never ends). **Nominal bound**: the run's "
    "median inference (`timings.inference_ms`) plus 1/fps; it leaves out pre/postprocessing, "
    "a classify slower than the median (a sleep that woke late) and the source's pacing jitter "
    "(a frame delivered late), which is why a few results can exceed it by a fraction of a "
    "millisecond while within their own bound. One allowance: a frame is stamped in "
    "`source.read`, a few Python steps before it enters the slot, and under the GIL those steps "
    "can take tens of microseconds while the inference thread runs Python; an inference that "
    "starts in that window takes the previous frame. A result up to {tolerance} µs over its own "
    "bound counts as within it (`latency.HANDOVER_TOLERANCE_MS`), and the table shows the worst "
    "excess as measured."
)


def age_verdict(own: dict) -> str:
    """The target's verdict from ``latency.own_bound_check``'s figures."""
    strict = own.get("over_own_bound_strict", own["over_own_bound"])
    within = ""
    if strict > own["over_own_bound"]:
        within = (
            f"; {strict - own['over_own_bound']} within {own['tolerance_ms'] * 1e3:.0f} µs "
            "over it, the capture hand-over"
        )
    if own["over_own_bound"] == 0:
        return f"met (0 of {own['checked']} over their own bound{within})"
    return f"**not met** ({own['over_own_bound']} of {own['checked']} over their own bound{within})"


def latency_section(data: dict) -> list[str]:
    env = data["environment"]
    interval = 1e3 / data["fps"]
    lines = [
        "## Frame-to-result latency in the live pipeline "
        f"(target: age <= one inference + one frame interval, {interval:.1f} ms)",
        "",
        f"Python {env['python']}, ai-edge-litert {env['ai_edge_litert']}, OpenCV "
        f"{env['opencv']}. Source: `{data['clip']}`, {data['seconds']:g} s of 640x480 mp4v at "
        f"{data['fps']:g} fps (the synthetic frame scrolling sideways, written by "
        "`models.write_clip`), played by `VideoFileSource`, which paces it at the file's rate "
        "like a camera, into `edgecam.live.LiveSession`, what the window and headless mode run "
        "(its pipeline's capture thread, latest-frame slot and inference thread, then the "
        "listener hand-over). For every result a listener receives, age = `time.monotonic()` "
        "on entering `LiveListener.result` minus `Classification.frame_timestamp` "
        "(`time.monotonic()` when the source returned the decoded frame, so decoding is not "
        "counted, nor a real camera's exposure and driver buffering). One untimed `classify` "
        "precedes each run.",
        "",
        AGE_BOUNDS.format(
            tolerance=round(data["results"][0]["own_bound"].get("tolerance_ms", 0) * 1e3)
        ),
        "",
        "The 20 ms and 60 ms models are **emulated**: the colour fixture followed by "
        "`time.sleep(0.020)` / `time.sleep(0.060)` inside `classify` (counted as inference "
        "time). A sleep holds no CPU, unlike a real model of that speed, which would compete "
        "with the capture thread on these 2 cores.",
        "",
        "| model | delegate | inference, median (ms) | classify, median (ms) "
        "| age median (ms) | age p90 (ms) | age max (ms) | nominal bound (ms) | over nominal "
        "| worst age - own bound (ms) | last frame's age (ms) | results/s | capture fps "
        "| longest capture gap (ms) | dropped / captured | other load | target (own bound) |",
        "|:---|:---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---|",
    ]
    over_nominal = []
    for r in data["results"]:
        own, last = r["own_bound"], r["last_frame_age_ms"]
        if r["over_bound"]:
            ages = ", ".join(
                f"{o['age_ms']:.2f} = {o['classify_ms']:.2f} + {o['wait_ms']:.2f}"
                + (
                    f" (next frame after {o['next_capture_gap_ms']:.2f})"
                    if o["next_capture_gap_ms"] is not None
                    else " (the clip's last frame)"
                )
                for o in r["over_bound_examples"]
            )
            over_nominal.append(f"- {r['model']}: {ages}")
        lines.append(
            f"| {r['model']} | {r['delegate']} | {r['inference_median_ms']:.2f} "
            f"| {r['classify_median_ms']:.2f} | {r['age_median_ms']:.2f} "
            f"| {r['age_p90_ms']:.2f} | {r['age_max_ms']:.2f} | {r['bound_ms']:.2f} "
            f"| {r['over_bound']} of {r['results']} "
            f"| {own['max_excess_over_own_bound_ms']:+.2f} "
            f"| {'-' if last is None else f'{last:.2f}'} "
            f"| {r['results_per_s']:.2f} | {r['capture_fps']:.2f} "
            f"| {r['capture_gap_max_ms']:.2f} | {r['frames_dropped']} / {r['frames_captured']} "
            f"| {r['other_load_cores']:.2f} cores | {age_verdict(own)} |"
        )
    lines += [
        "",
        "Classify = preprocess + inference + postprocess (`timings.total_ms`). 'Worst age - own "
        "bound' is the largest of (age - own bound) over the results checked: negative means "
        "every one was within. Dropped = frames the capture thread overwrote in the slot "
        "before inference took them (by design when inference is slower than the source); "
        "results/s = results delivered per second between the first and the last; longest "
        "capture gap = the longest interval between two frames the source delivered; 'other "
        "load' as above.",
        *plot("latency", "Result age, cumulative, with each run's nominal bound"),
    ]
    if over_nominal:
        lines += [
            "",
            "The results over the nominal bound, as age = own classify + time from capture "
            "to classify start (slot wait, thread hand-over, delivery), with the interval to "
            "the next frame's capture (at most the 5 youngest and the 5 oldest shown; ms):",
            "",
            *over_nominal,
        ]
    return [*lines, ""]


def memory_section(data: dict) -> list[str]:
    n, first = data["frames"], data["first"]
    lines = [
        f"## Memory over {n:,} frames (target: RSS after {n:,} frames at most 5 MB above RSS "
        f"after {first})",
        "",
        f"Source: `{data['clip']}` (10 s, 640x480 mp4v) looped by "
        "`VideoFileSource(clip, loop=True, pace=False)`, so frames come as fast as they are "
        "classified (an unpaced file is read losslessly: none dropped); "
        f"model `{data['model']}` (`delegate='cpu'`, top 3). Each case runs in its own fresh "
        "process (`benchmarks/memory.py --child CASE`):",
        "",
        "- **headless**: `Pipeline(source, Classifier(...))`, the main thread polling;",
        "- **gui**: a `MainWindow` (`QT_QPA_PLATFORM=offscreen`, 800x500, shown) around a "
        "`QtSession` and its `LiveSession` running the same source and model, the Qt event "
        "loop running (frames painted, predictions and the 500 ms stats timer updated).",
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
    lines += plot("memory", "Resident memory against frames")
    return [*lines, ""]


def runtimes_section(data: dict) -> list[str]:
    names = list(data["versions"])
    lines = [
        "## The TFLite runtimes side by side",
        "",
        "Each runtime in its own fresh process of its own environment (tflite-runtime cannot be "
        "loaded after TensorFlow): "
        + "; ".join(
            f"{n} {data['versions'][n]} (`{data['pythons'][n]}`, import "
            f"{data['import_s'][n]:.2f} s)"
            for n in names
        )
        + f". {data['rounds']} rounds, the runtimes' processes alternating in rotating order; "
        f"in each, per model and thread count, {data['warmup']} untimed then {data['calls']} "
        "timed calls of `set_tensor` + `invoke` + `get_tensor` (random input). Median of all "
        "timed calls of all rounds, in ms; the ratio is to ai-edge-litert's median in the same "
        "run. MobileNetV2-1.0-224 has random weights, converted by `benchmarks/models.py --all`.",
        "",
        "| model | size (KiB) | threads | " + " | ".join(names) + " |",
        "|:---|---:|---:|" + "---:|" * len(names),
    ]
    errors = {}
    for r in data["results"]:
        base = r[names[0]].get("median_ms")
        cells = []
        for n in names:
            c = r[n]
            if "median_ms" in c:
                ratio = f" ({c['median_ms'] / base:.2f}x)" if base and n != names[0] else ""
                cells.append(f"{c['median_ms']:.3f}{ratio}")
            else:
                errors.setdefault((n, c["error"]), []).append(model_name(r["model"]))
                cells.append("cannot load (below)")
        label = model_name(r["model"])
        lines.append(
            f"| `{label}` | {r['size_bytes'] / 1024:.0f} | {r['threads']} | "
            + " | ".join(cells)
            + " |"
        )
    if errors:
        lines += ["", "Models a runtime could not load, with its error:", ""]
        for (n, err), models in errors.items():
            lines.append(f"- {n}, {', '.join(f'`{m}`' for m in sorted(set(models)))}: `{err}`")
    lines += runtimes_own_kernels(data)
    verdict = runtimes_verdict(data)
    lines += ["", verdict] if verdict else []
    lines += plot("runtimes", "Median latency per runtime, model and thread count")
    return [*lines, ""]


def runtimes_own_kernels(data: dict) -> list[str]:
    """Table: each runtime at 1 thread with its default delegate (XNNPACK) and without it."""
    names = list(data["versions"])
    rows = [r for r in data["results"] if r["threads"] == 1]
    if not any("own_kernels_median_ms" in r[n] for r in rows for n in names):
        return []
    lines = [
        "",
        "Why the differences: the same models at 1 thread with each runtime's default "
        "delegate (XNNPACK; the table above) and with its own kernels only "
        "(`experimental_op_resolver_type=BUILTIN_WITHOUT_DEFAULT_DELEGATES`); the ratio is how "
        "much XNNPACK speeds the model up. A ratio near 1.00x means XNNPACK does not run that "
        "model in that build.",
        "",
        "| model | " + " | ".join(f"{n}: XNNPACK / own kernels (ms)" for n in names) + " |",
        "|:---|" + "---:|" * len(names),
    ]
    no_xnnpack = []
    for r in rows:
        cells = []
        for n in names:
            c = r[n]
            if "own_kernels_median_ms" not in c:
                cells.append("-")
                continue
            speedup = c["own_kernels_median_ms"] / c["median_ms"]
            cells.append(
                f"{c['median_ms']:.3f} / {c['own_kernels_median_ms']:.3f} ({speedup:.2f}x)"
            )
            if speedup < 1.1:
                no_xnnpack.append(f"{n} on `{model_name(r['model'])}`")
        lines.append(f"| `{model_name(r['model'])}` | " + " | ".join(cells) + " |")
    if no_xnnpack:
        lines += [
            "",
            "XNNPACK gives less than 1.1x (so it is not doing the work) for: "
            + ", ".join(no_xnnpack)
            + ". That runtime's own kernels are all such a model gets there.",
        ]
    return lines


def runtimes_verdict(data: dict) -> str:
    """One sentence: which runtime to install, from the medians (geometric mean of ratios)."""
    names = list(data["versions"])
    ratios = {n: [] for n in names[1:]}
    fails = {n: 0 for n in names}
    for r in data["results"]:
        base = r[names[0]].get("median_ms")
        for n in names:
            if "median_ms" not in r[n]:
                fails[n] += 1
            elif n != names[0] and base:
                ratios[n].append(r[n]["median_ms"] / base)
    gm = {names[0]: 1.0}
    gm |= {n: float(np.exp(np.mean(np.log(rs)))) for n, rs in ratios.items() if rs}
    parts = [
        f"{n} takes {gm[n]:.2f}x ai-edge-litert's time (geometric mean)" for n in gm if n in ratios
    ]
    loads = [f"{n} cannot load {k} of the model/thread cases" for n, k in fails.items() if k]
    # Among the runtimes that load everything and are within 10% of the fastest (closer than
    # that is within this machine's run-to-run noise), the quickest to import.
    complete = [n for n in gm if not fails[n]]
    fastest = min(gm[n] for n in complete)
    pick = min((n for n in complete if gm[n] <= 1.10 * fastest), key=lambda n: data["import_s"][n])
    return (
        f"**Which to install**: {'; '.join(parts + loads)}; so install **{pick}**: of the "
        "runtimes that load every model, the fastest (within 10%), and of those the quickest to "
        "import ("
        + ", ".join(f"{n} {data['import_s'][n]:.2f} s" for n in complete)
        + ", the interpreter's import in a fresh process)."
    )


def quantization_section(data: dict) -> list[str]:
    lines = [
        "## Quantization: size, CPU latency and accuracy per export mode",
        "",
        "Default model: exported from `.runs/default/best.keras` by `.venv-train/bin/edgecam "
        "export --run .runs/default --out .bench-cache/quant/<mode> --mode <mode> --no-edgetpu "
        "--max-drop 100`; accuracy is the exported TFLite model's on the Fashion-MNIST test set "
        "(from each bundle's `model.json`, which also holds the export's own CPU latency). "
        "MobileNetV2-style models have random weights (no accuracy). Latency here: ai-edge-litert, "
        f"{data['threads']} thread, `set_tensor` + `invoke` + `get_tensor`, median of "
        f"{data['rounds']} rounds x {data['calls']} calls, all models in one process with the "
        "order rotating each round; ratios are to the float32 model of the same family.",
        "",
        "| model | mode | size (KiB) | size vs float32 | latency (ms) | latency vs float32 "
        "| export's latency (ms) | TFLite accuracy (float model) |",
        "|:---|:---|---:|---:|---:|---:|---:|---:|",
    ]
    base = {r["family"]: r for r in data["results"] if r["mode"] == "float32"}
    for r in data["results"]:
        b = base.get(r["family"], r)
        lat = r["latency_median_ms"]
        lat_txt = f"{lat:.3f}" if lat is not None else f"error: {r.get('error')}"
        lat_ratio = f"{lat / b['latency_median_ms']:.2f}x" if lat and b["latency_median_ms"] else ""
        acc = (
            f"{r['tflite_accuracy']:.4f} ({r['float_accuracy']:.4f}, {r['test_samples']:,} images)"
            if "tflite_accuracy" in r
            else "-"
        )
        export_lat = f"{r['export_cpu_latency_ms']:.3f}" if "export_cpu_latency_ms" in r else "-"
        lines.append(
            f"| {r['family']} | {r['mode']} | {r['size_bytes'] / 1024:.1f} "
            f"| {r['size_bytes'] / b['size_bytes']:.2f}x | {lat_txt} | {lat_ratio} "
            f"| {export_lat} | {acc} |"
        )
    lines += plot("quantization", "Size, latency and accuracy per export mode")
    return [*lines, ""]


def naive_section(data: dict) -> list[str]:
    interval = 1e3 / data["fps"]
    lines = [
        "## Pipeline vs the naive sequential camera loop (targets: results/s never below the "
        f"naive loop's; age <= one inference + one frame interval, {interval:.1f} ms)",
        "",
        f"Same clip (`{data['clip']}`, 30 fps) and model. **naive**: `cap.read() -> preprocess -> "
        "invoke -> draw` in one thread (the TFLite/Coral camera examples' loop); its source "
        "emulates a camera delivering the file at its own 30 fps pace: frame i is delivered at "
        f"t0 + i/30 s, a read waits for it, and a late loop gets the oldest of the "
        f"{data['buffers']} frames a V4L2 driver queue holds (OpenCV's default), the older ones "
        "dropped. **pipeline**: `VideoFileSource` (paced at 30 fps) into `edgecam.pipeline."
        "Pipeline`. Both draw the top label onto a copy of the frame per prediction; age = when "
        "that drawing is done minus when the frame was delivered. The models are **EMULATED**: "
        "the colour fixture followed by a sleep of 2, 20 or 60 ms (counted as inference). The "
        "age bounds are those of the latency section, with the drawing counted in a result's "
        "own work; the naive loop's camera delivers exactly every 1/fps.",
        "",
        "| model | loop | results/s | pipeline / naive | age median (ms) | age p90 (ms) "
        "| age max (ms) | nominal bound (ms) | over nominal | over own bound "
        "| dropped / frames | targets |",
        "|:---|:---|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---|",
    ]
    for r in data["results"]:
        ratio = r["pipeline"]["results_per_s"] / r["naive"]["results_per_s"]
        for loop in ("naive", "pipeline"):
            x = r[loop]
            own = x["own_bound"]
            target = ""
            if loop == "pipeline":
                target = (
                    f"throughput {'met' if ratio >= PACE_TOLERANCE else '**not met**'}, "
                    f"age {age_verdict(own)}"
                )
            lines.append(
                f"| {r['model']} | {loop} | {x['results_per_s']:.2f} "
                f"| {f'{ratio:.2f}x' if loop == 'pipeline' else ''} | {x['age_median_ms']:.2f} "
                f"| {x['age_p90_ms']:.2f} | {x['age_max_ms']:.2f} | {x['bound_ms']:.2f} "
                f"| {x['over_bound']} of {x['results']} "
                f"| {own['over_own_bound']} of {own['checked']} "
                f"| {x['dropped']} / {x['frames']} | {target} |"
            )
    lines += [
        "",
        "Throughput counts as not below the naive loop's when it is at least "
        f"{PACE_TOLERANCE:.0%} of it (when both keep up with the 30 fps source, both deliver every "
        "frame and the rate from first to last result only jitters). When inference is slower "
        "than the source, the naive loop keeps reading the oldest buffered frame, so its "
        "results are several frames old; the pipeline always takes the newest.",
        *plot("naive_loop", "Pipeline vs naive loop: results/s and result age"),
    ]
    return [*lines, ""]


def training_section(data: dict) -> list[str]:
    lines = [
        "## Training throughput on this CPU",
        "",
        f"TensorFlow {data['tensorflow']}, `.venv-train/bin/python benchmarks/"
        "training_throughput.py`: `training.model.build_model` with the recipe's augmentation "
        "layers, Adam, sparse categorical cross-entropy, random images and labels, one untimed "
        f"warm-up epoch then {data['epochs']} timed epochs; median images/s.",
        "",
        "| model | batch | parameters | images per epoch | images/s (median) | per epoch |",
        "|:---|---:|---:|---:|---:|:---|",
    ]
    for r in data["results"]:
        lines.append(
            f"| {r['model']} | {r['batch']} | {r['params']:,} | {r['images_per_epoch']:,} "
            f"| {r['images_per_s']:.1f} | "
            + ", ".join(f"{x:.1f}" for x in r["epoch_images_per_s"])
            + " |"
        )
    lines += plot("training_throughput", "Training images per second, per epoch")
    return [*lines, ""]


def summary(data: dict) -> list[str]:
    """One line per target: met or not, with the deciding figures."""

    def verdict(ok: bool) -> str:
        return "met" if ok else "**not met**"

    over, start, lat, mem = (data[k] for k in ("overhead", "startup", "latency", "memory"))
    lines = ["## Targets", ""]
    for r in over["results"]:
        lines.append(
            f"- `classify` overhead <= {over['target_pct']:g}%, `{model_name(r['model'])}`, "
            f"{r['threads']} thread{'s' if r['threads'] > 1 else ''}: "
            f"{verdict(r['overhead_pct'] <= over['target_pct'])} ({r['overhead_pct']:.2f}%; "
            f"{r['overhead_vs_example_pct']:+.2f}% against the label_image-style loop)"
        )
    worst = max(start["results"], key=lambda r: r["first_prediction_median_s"])
    lines.append(
        f"- start-up to first prediction <= {start['target_s']:g} s, every case: "
        f"{verdict(worst['first_prediction_median_s'] <= start['target_s'])} (slowest median "
        f"{worst['first_prediction_median_s']:.3f} s)"
    )
    for r in lat["results"]:
        lines.append(
            f"- result age <= one inference + one frame interval, {r['model']}: "
            f"{age_verdict(r['own_bound'])}; max age {r['age_max_ms']:.2f} ms, nominal bound "
            f"{r['bound_ms']:.2f} ms with {r['over_bound']} of {r['results']} over it"
        )
    for r in mem["results"]:
        lines.append(
            f"- RSS growth from {mem['first']} to {mem['frames']:,} frames <= 5 MB, {r['case']}: "
            f"{verdict(r['met'])} ({r['growth_bytes'] / 2**20:+.2f} MiB)"
        )
    for r in data["naive_loop"]["results"]:
        p, n = r["pipeline"], r["naive"]
        lines.append(
            f"- pipeline vs naive loop, {r['model']}: results/s not below the naive loop's "
            f"{verdict(p['results_per_s'] >= PACE_TOLERANCE * n['results_per_s'])} "
            f"({p['results_per_s']:.2f} vs "
            f"{n['results_per_s']:.2f}); age <= one inference + one frame "
            f"{age_verdict(p['own_bound'])} (max {p['age_max_ms']:.2f} ms, nominal bound "
            f"{p['bound_ms']:.2f} ms with {p['over_bound']} over; naive max "
            f"{n['age_max_ms']:.2f} ms)"
        )
    if "threads" in data:
        from threads import summary_lines

        lines += summary_lines(data["threads"])
    return [*lines, ""]
