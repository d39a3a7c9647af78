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
from report import (
    PLOTS,
    latency_section,
    memory_section,
    naive_section,
    overhead_section,
    quantization_section,
    runtimes_section,
    startup_section,
    summary,
    training_section,
)
from threads import section as threads_section

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
    # The generated report itself does not count as a local change.
    generated = [f":!{DOC.relative_to(ROOT)}", f":!{PLOTS.relative_to(ROOT)}"]
    dirty = output(
        [
            "git",
            "-C",
            str(ROOT),
            "status",
            "--porcelain",
            "--untracked-files=no",
            "--",
            ".",
            *generated,
        ]
    )
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return [
        f"- CPU: {cpu_model()}, {os.cpu_count()} logical cores "
        f"(load average {load} when the run started; the machine is shared)",
        f"- OS: {platform.system()} {platform.release()} ({platform.machine()})",
        f"- edgecam: commit {commit}{' with local changes' if dirty else ''}",
        f"- TensorFlow (builds the model only, `{build_python}`): {tf_version}",
    ]


def hand_written_sections(doc: Path) -> list[str]:
    """The sections of the current ``doc`` marked "*Added by hand" (kept as they are)."""
    if not doc.exists():
        return []
    sections, current = [], None
    for line in doc.read_text().splitlines():
        if line.startswith("## "):
            current = [line]
            sections.append(current)
        elif current is not None:
            current.append(line)
    kept = []
    for section in sections:
        body = [line for line in section[1:] if line.strip()]
        if body and body[0].startswith("*Added by hand"):
            kept += [*section, ""] if section[-1].strip() else section
    return kept


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--python", default=str(ROOT / ".venv" / "bin" / "python"), help="runs the timed scripts"
    )
    parser.add_argument(
        "--build-python", default=sys.executable, help="builds the model (needs TensorFlow)"
    )
    parser.add_argument("--out", type=Path, default=DOC)
    parser.add_argument(
        "--reuse",
        nargs="*",
        default=[],
        metavar="STEP",
        help="reuse these steps' cached .bench-cache/STEP.json instead of re-running them",
    )
    args = parser.parse_args()

    started = datetime.datetime.now(datetime.timezone.utc)
    command = " ".join(
        [os.path.relpath(sys.executable, ROOT), os.path.relpath(__file__, ROOT), *sys.argv[1:]]
    )
    about = machine(args.build_python)
    run([args.build_python, str(HERE / "models.py"), "--all"])
    steps = {
        "overhead": [args.python],
        "startup": [args.python],
        "latency": [args.python],
        "memory": [args.python],
        "runtimes": [args.python],
        "threads": [args.python],
        "naive_loop": [args.python],
        "quantization": [args.python, "--train-python", args.build_python],
        "training_throughput": [args.build_python],
    }
    data, reused = {}, []
    for name, (python, *extra) in steps.items():
        path = CACHE / f"{name}.json"
        if name not in args.reuse or not path.exists():
            run([python, str(HERE / f"{name}.py"), *extra, "--json", str(path)])
        else:
            when = datetime.datetime.fromtimestamp(path.stat().st_mtime, datetime.timezone.utc)
            reused.append(f"`{name}` ({when:%Y-%m-%d %H:%M} UTC)")
        data[name] = json.loads(path.read_text())
    # The plots need matplotlib, which the training environment has.
    run([args.build_python, str(HERE / "plots.py"), "--cache", str(CACHE), "--out", str(PLOTS)])

    size_kib = MOBILENET_V2_INT8.stat().st_size / 1024
    lines = [
        "# Benchmarks",
        "",
        f"Measured {started:%Y-%m-%d %H:%M} UTC by `{command}` (what `make bench` runs); "
        "this file is generated, re-run it rather than editing. Figures are as measured, "
        "printed to the digits shown."
        + (
            " Steps whose results were reused from an earlier run of their script "
            f"(`--reuse`), measured at: {', '.join(reused)}."
            if reused
            else ""
        ),
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
        "input and output (20 random representative images) by `benchmarks/models.py`; the "
        "same model in the other export modes, and MobileNetV2 0.35 at 96x96, come from "
        "`benchmarks/models.py --all` (the runtimes and quantization tables).",
        "- `assets/models/default/model.tflite`: the bundled Fashion-MNIST model (28x28 "
        "grayscale, int8 with uint8 I/O), for the overhead and quantization tables.",
        f"- `{FIXTURE_MODEL.relative_to(ROOT)}`: the tiny committed colour fixture "
        "(float32, ~0.05 ms an inference), for the start-up floor, the latency runs (alone and "
        "with an emulated slower model) and the memory runs.",
        "",
        *overhead_section(data["overhead"]),
        *startup_section(data["startup"]),
        *latency_section(data["latency"]),
        *memory_section(data["memory"]),
        *runtimes_section(data["runtimes"]),
        *threads_section(data["threads"]),
        *quantization_section(data["quantization"]),
        *naive_section(data["naive_loop"]),
        *training_section(data["training_throughput"]),
        "## Reproduce",
        "",
        "```bash",
        "make bench   # builds .venv and .venv-train if needed, then runs everything below",
        "# or step by step:",
        ".venv-train/bin/python benchmarks/models.py   # builds the model (TensorFlow), cached",
        ".venv/bin/python benchmarks/overhead.py [--models M ...] [--threads 1 2] [--json out]",
        ".venv/bin/python benchmarks/startup.py [--runs 7] [--json out.json]",
        ".venv/bin/python benchmarks/latency.py [--seconds 20] [--json out.json]",
        ".venv/bin/python benchmarks/memory.py [--frames 10000] [--json out.json]",
        ".venv-train/bin/python benchmarks/models.py --all   # every export mode, 224 and 96 px",
        ".venv/bin/python benchmarks/runtimes.py [--rounds 3] [--calls 20] [--json out.json]",
        ".venv/bin/python benchmarks/threads.py [--rounds 3] [--runs 50] [--json out.json]",
        ".venv/bin/python benchmarks/quantization.py --train-python .venv-train/bin/python "
        "[--json out.json]",
        ".venv/bin/python benchmarks/naive_loop.py [--seconds 10] [--json out.json]",
        ".venv-train/bin/python benchmarks/training_throughput.py [--epochs 3] [--json out.json]",
        ".venv-train/bin/python benchmarks/plots.py   # docs/benchmarks/*.png from .bench-cache",
        ".venv/bin/python benchmarks/run_all.py --build-python .venv-train/bin/python",
        "```",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    kept = hand_written_sections(args.out)
    args.out.write_text("\n".join(lines) + ("\n" + "\n".join(kept) if kept else ""))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
