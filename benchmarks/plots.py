"""PNG plots of the cached benchmark results (the JSON files in .bench-cache/).

    .venv-train/bin/python benchmarks/plots.py [--cache .bench-cache] [--out docs/benchmarks]

Needs matplotlib (the training environment has it; the app environment does not). One plot per
JSON file: overhead, runtimes, quantization, latency, naive_loop, memory, startup and
training_throughput. A file or a key that is missing skips its plot with one line saying why.
Each PNG is written atomically (a temporary file in the same folder, then ``os.replace``) and
without a software stamp, so rerunning on the same results gives the same bytes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.transforms import blended_transform_factory

ROOT = Path(__file__).resolve().parent.parent
RUNTIMES = ("ai-edge-litert", "tflite-runtime", "tf.lite")
MODES = ("float32", "float16", "dynamic", "int8")
DASHED = {"color": "k", "linestyle": "--", "linewidth": 1}
NOTE = {"textcoords": "offset points", "ha": "center", "va": "bottom", "fontsize": 7}


class Skip(Exception):
    """A plot that cannot be made from the results at hand; the message says why."""


def load(path: Path) -> dict | None:
    """The JSON object in ``path``, or None after printing why there is none."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        print(f"skip {path.stem}.png: {path} not found")
        return None
    except (OSError, ValueError) as exc:
        print(f"skip {path.stem}.png: cannot read {path}: {exc}")
        return None
    if not isinstance(data, dict):
        print(f"skip {path.stem}.png: {path} does not hold a JSON object")
        return None
    return data


def save(fig: Figure, path: Path) -> Path:
    """Write ``fig`` to ``path`` atomically as a 100 dpi PNG, then close it."""
    if fig.get_layout_engine() is None:
        fig.tight_layout()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fig.savefig(tmp, format="png", dpi=100, metadata={"Software": None})
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        tmp.unlink(missing_ok=True)
    return path


def short(model: str) -> str:
    """A model path's file name without ``.tflite`` (``default/model`` for a bundle's model)."""
    p = Path(model)
    return f"{p.parent.name}/{p.stem}" if p.stem == "model" and p.parent.name else p.stem


def wrap(text: str, width: int = 22) -> str:
    """``text`` broken into lines of at most ``width`` characters after spaces or underscores."""
    lines = [""]
    for token in re.findall(r"[^ _]+[ _]*|[ _]+", text):
        if lines[-1] and len(lines[-1] + token.rstrip()) > width:
            lines.append("")
        lines[-1] += token
    return "\n".join(line.rstrip() for line in lines)


def bound_lines(ax: Axes, x: np.ndarray, bounds: list[float], color: str = "k") -> None:
    """A dashed line across each group of bars at its bound, and headroom for the legend."""
    ax.hlines(bounds, x - 0.45, x + 0.45, colors=color, linestyles="--", label="nominal bound")
    ax.set_ylim(top=ax.get_ylim()[1] * 4)


def note(ax: Axes, text: str, xy: tuple[float, float], **kwargs) -> None:
    """Small text just above the point ``xy`` (data coordinates)."""
    ax.annotate(text, xy, (0, 2), **NOTE, **kwargs)


def bars(ax: Axes, groups: list[str], series: dict[str, list], fmt: str = "") -> np.ndarray:
    """Grouped bars, one bar per series in each group; a None value shows "n/a" instead."""
    x = np.arange(len(groups))
    width = 0.8 / max(len(series), 1)
    bottom = blended_transform_factory(ax.transData, ax.transAxes)
    for i, (name, values) in enumerate(series.items()):
        pos = x + (i - (len(series) - 1) / 2) * width
        ax.bar(pos, [np.nan if v is None else v for v in values], width, label=name)
        for p, v in zip(pos, values, strict=True):
            if v is None:
                ax.text(p, 0.03, "n/a", transform=bottom, ha="center", fontsize=7, rotation=90)
            elif fmt:
                note(ax, fmt.format(v), (p, v))
    ax.set_xticks(x, groups)
    return x


def threads_label(res: dict, width: int) -> str:
    n = res["threads"]
    return f"{wrap(short(res['model']), width)}\n{n} thread{'s' if n != 1 else ''}"


def plot_overhead(data: dict) -> Figure:
    keys = {"bare": "bare", "bare+rgb": "bare_rgb", "example": "example", "classify": "classify"}
    results = data["results"]
    series = {
        name: [r[f"{key}_median_ms"] / r["bare_median_ms"] for r in results]
        for name, key in keys.items()
    }
    fig, ax = plt.subplots(figsize=(8, 4.5))
    x = bars(ax, [threads_label(r, 16) for r in results], series)
    for p, v in zip(x + 0.3, series["classify"], strict=True):
        note(ax, f"{(v - 1) * 100:+.1f}%", (p, v), bbox={"fc": "w", "ec": "none", "pad": 0.5})
    target = 1 + data["target_pct"] / 100
    ax.axhline(target, label=f"target (+{data['target_pct']:g}%)", **DASHED)
    low, high = (f(f(v) for v in series.values()) for f in (min, max))
    ax.set_ylim(min(0.95, low - 0.01), max(target, high) * 1.06)
    ax.tick_params(axis="x", labelsize=8)
    ax.set_ylabel("median time per frame (bare = 1.0)")
    ax.set_title("Per-frame overhead of Classifier.classify over a bare interpreter loop")
    ax.legend(fontsize=8, ncols=5, loc="upper center")
    return fig


def plot_runtimes(data: dict) -> Figure:
    results = data["results"]
    series = {
        rt: [r[rt].get("median_ms") if isinstance(r.get(rt), dict) else None for r in results]
        for rt in RUNTIMES
        if any(rt in r for r in results)
    }
    if not series:
        raise Skip(f"no results for any of {', '.join(RUNTIMES)}")
    fig, ax = plt.subplots(figsize=(8, 4.5))
    bars(ax, [threads_label(r, 12) for r in results], series)
    ax.set_yscale("log")
    ax.tick_params(axis="x", labelsize=7)
    ax.set_ylabel("median inference time (ms, log scale)")
    ax.set_title("Inference time per runtime (n/a: the runtime could not load the model)")
    ax.legend(fontsize=8)
    return fig


def plot_quantization(data: dict) -> Figure:
    results = [r for r in data["results"] if not r.get("error")]
    if not results:
        raise Skip("every result has an error")
    families = list(dict.fromkeys(r["family"] for r in results))
    modes = [m for m in MODES if any(r["mode"] == m for r in results)]
    modes += list(dict.fromkeys(r["mode"] for r in results if r["mode"] not in modes))
    table = {(r["family"], r["mode"]): r for r in results}

    def column(key: str, scale: float = 1.0, only: list[str] = families) -> dict[str, list]:
        cells = {f: [table.get((f, m), {}).get(key) for m in modes] for f in only}
        return {f: [None if v is None else v * scale for v in vs] for f, vs in cells.items()}

    accuracy = [f for f in families if any(v is not None for v in column("tflite_accuracy")[f])]
    fig, axes = plt.subplots(1, 3 if accuracy else 2, figsize=(10, 4.5))
    bars(axes[0], modes, column("size_bytes", 1 / 1024))
    axes[0].set(yscale="log", ylabel="model size (KiB, log scale)", title="Size")
    bars(axes[1], modes, column("latency_median_ms"))
    axes[1].set(yscale="log", ylabel="median latency (ms, log scale)", title="Latency")
    if accuracy:
        acc = column("tflite_accuracy", 100, accuracy)
        bars(axes[2], modes, acc, fmt="{:.2f}")
        values = [v for vs in acc.values() for v in vs if v is not None]
        axes[2].set_ylim(min(values) - 0.5, max(values) + 0.4)
        title = "Test accuracy" + (f"\n{wrap(accuracy[0], 40)}" if len(accuracy) == 1 else "")
        axes[2].set(ylabel="TFLite test accuracy (%)", title=title)
    for ax in axes:
        ax.set_xlabel("export mode")
        ax.tick_params(axis="x", labelsize=8)
    fig.legend(
        *axes[0].get_legend_handles_labels(), loc="lower center", ncols=len(families), fontsize=8
    )
    fig.suptitle("Post-training quantization per model family")
    fig.set_layout_engine("tight", rect=(0, 0.08, 1, 1))  # room for the legend below
    return fig


def cdf(ax: Axes, ages: list[float], bound: float | None, label: str, **style) -> None:
    """An empirical CDF of ``ages`` with a dotted line at ``bound`` in the same colour."""
    xs = np.sort(np.asarray(ages, dtype=float))
    (line,) = ax.step(xs, np.arange(1, len(xs) + 1) / len(xs), where="post", label=label, **style)
    if bound is not None:
        ax.axvline(bound, color=line.get_color(), linestyle=":", linewidth=1)


def plot_latency(data: dict) -> Figure:
    results = data["results"]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    cdfs = all(isinstance(r.get("ages_ms"), list) and r["ages_ms"] for r in results)
    if cdfs:
        for r in results:
            cdf(ax, r["ages_ms"], r["bound_ms"], r["model"])
        ax.set(
            xscale="log",
            xlabel="result age (ms, log scale; dotted: nominal bound)",
            ylabel="fraction of results",
            ylim=(0, 1.02),
        )
    else:
        keys = {"median": "age_median_ms", "p90": "age_p90_ms", "max": "age_max_ms"}
        series = {name: [r[key] for r in results] for name, key in keys.items()}
        x = bars(ax, [wrap(r["model"]) for r in results], series)
        ax.set(yscale="log", ylabel="result age (ms, log scale)")
        bound_lines(ax, x, [r["bound_ms"] for r in results])
        ax.tick_params(axis="x", labelsize=8)
    ax.set_title("Result age: from frame capture to its prediction")
    ax.legend(fontsize=8, **({"loc": "best"} if cdfs else {"ncols": 4, "loc": "upper left"}))
    return fig


def plot_naive_loop(data: dict) -> Figure:
    results = sorted(data["results"], key=lambda r: r["sleep_ms"])
    loops = ("pipeline", "naive")
    groups = [f"{r['sleep_ms']:g} ms" for r in results]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 4.5))
    bars(left, groups, {k: [r[k]["results_per_s"] for r in results] for k in loops}, "{:.1f}")
    left.set(
        xlabel="emulated inference time (sleep)", ylabel="results per second", title="Throughput"
    )
    left.set_ylim(0, left.get_ylim()[1] * 1.08)
    left.legend(fontsize=8, loc="lower left")
    if all(
        isinstance(r[k].get("ages_ms"), list) and r[k]["ages_ms"] for r in results for k in loops
    ):
        for i, r in enumerate(results):
            for k, style in zip(loops, ("-", "--"), strict=True):
                label = f"{k}, {groups[i]}"
                cdf(right, r[k]["ages_ms"], r[k]["bound_ms"], label, color=f"C{i}", ls=style)
        right.set(
            xscale="log",
            xlabel="result age (ms, log scale; dotted: nominal bound)",
            ylabel="fraction of results",
            title="Result age",
        )
    else:
        x = bars(right, groups, {k: [r[k]["age_median_ms"] for r in results] for k in loops})
        for i, k in enumerate(loops):
            pos = x + (i - 0.5) * 0.4
            lo, hi = ([r[k][key] for r in results] for key in ("age_p90_ms", "age_max_ms"))
            right.vlines(pos, lo, hi, color="k", linewidth=1.5, label="p90..max" if i else None)
        right.set(
            yscale="log",
            xlabel="emulated inference time (sleep)",
            ylabel="result age (ms, log scale)",
            title="Result age (bar: median)",
        )
        bound_lines(right, x, [max(r[k]["bound_ms"] for k in loops) for r in results])
    right.legend(fontsize=8, ncols=2, loc="upper left")
    fig.suptitle("Naive capture-then-classify loop vs the pipeline")
    return fig


def plot_memory(data: dict) -> Figure:
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for r in data["results"]:
        frames, rss = zip(*((s["frames"], s["rss_kib"] / 1024) for s in r["samples"]), strict=True)
        growth = f" (growth {r['growth_bytes'] / 1024:.0f} KiB)" if "growth_bytes" in r else ""
        ax.plot(frames, rss, "o-", markersize=3, label=f"{r['case']}{growth}")
    ax.set(xlabel="frames captured", ylabel="resident memory (MiB)")
    ax.set_title("Resident memory over a long run")
    ax.legend(fontsize=8)
    return fig


def plot_startup(data: dict) -> Figure:
    results = data["results"]
    labels = [f"{short(r['model'])}: {r['case']}" for r in results]
    y = np.arange(len(results))
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.barh(y, [r["first_prediction_median_s"] for r in results], label="median")
    ax.plot(
        [r["first_prediction_min_s"] for r in results], y, "k|", markersize=14, mew=2, label="min"
    )
    ax.axvline(data["target_s"], label=f"target ({data['target_s']:g} s)", **DASHED)
    ax.set_yticks(y, labels, fontsize=8)
    ax.invert_yaxis()
    ax.set(xlabel="launch to first prediction (s)", title="Start-up time (warm start)")
    ax.legend(fontsize=8, loc="lower right")
    return fig


def plot_training_throughput(data: dict) -> Figure:
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for r in data["results"]:
        label = f"{r['model']} ({r['images_per_s']:.0f} images/s)"
        epochs = r["epoch_images_per_s"]
        ax.plot(range(1, len(epochs) + 1), epochs, "o-", label=label)
    ax.set(xlabel="epoch", ylabel="training throughput (images/s)", ylim=(0, None))
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_title("Training throughput per epoch")
    ax.legend(fontsize=8, loc="lower right")
    return fig


PLOTS: dict[str, Callable[[dict], Figure]] = {
    "overhead": plot_overhead,
    "runtimes": plot_runtimes,
    "quantization": plot_quantization,
    "latency": plot_latency,
    "naive_loop": plot_naive_loop,
    "memory": plot_memory,
    "startup": plot_startup,
    "training_throughput": plot_training_throughput,
}


def make_plots(cache: Path, out: Path) -> list[Path]:
    """Write every plot the results in ``cache`` allow to ``out``; return the written paths."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, plot in PLOTS.items():
        data = load(cache / f"{name}.json")
        if data is None:
            continue
        if not data.get("results"):
            print(f"skip {name}.png: {name}.json has no results")
            continue
        try:
            fig = plot(data)
        except KeyError as exc:
            print(f"skip {name}.png: {name}.json has no key {exc}")
        except (Skip, TypeError, ValueError, IndexError, AttributeError) as exc:
            print(f"skip {name}.png: {exc}")
        else:
            written.append(save(fig, out / f"{name}.png"))
            print(f"wrote {written[-1]}")
        plt.close("all")
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=ROOT / ".bench-cache", metavar="DIR")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks", metavar="DIR")
    args = parser.parse_args()
    make_plots(args.cache, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
