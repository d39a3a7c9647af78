"""Robustness on damaged input: hundreds of mutated models, images and videos, counted.

    .venv/bin/python benchmarks/robustness.py                 # the main environment
    .venv-pi/bin/python benchmarks/robustness.py              # the Pi one (tflite-runtime)
    ... [--models 300] [--images 120] [--zips 2000] [--videos 24] [--soak 10000] [--seed 1000]

Each run writes its environment's section of docs/RELIABILITY.md (the other environment's
section is kept), in the table form of issue 14: for each test, how many cases were tried and
how many were fine, a clean error, a traceback, a crash (the process killed by a signal) or a
hang, plus how many printed anything on stderr that is not one of edgecam's own lines.

The cases are those of ``tests/test_faults.py`` at other seeds (mutations from
``tests/faults.py``; ``python tests/faults.py mutate MODEL SEED OUT`` writes one again):

* ``edgecam classify --json`` and ``edgecam info --json`` in a fresh process per mutated
  model, and the same files through ``Classifier`` in one long-lived process;
* the embedded labels zip alone mutated (``resolve_model`` in this process);
* one ``classify`` call over a folder of damaged and odd images, then the same folder as a
  ``run --headless`` source, then looped for ``--soak`` frames (memory growth measured);
* mutated videos through ``run --headless`` (a damaged one must end with an error);
* the cost of the corrupt-model check: ``classify`` start-up with a model the machine has
  already checked and with a new one (an empty probe cache), against ``--baseline-src`` (a
  checkout of the code before the check, e.g. ``git archive COMMIT | tar -x -C DIR``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from faults import (  # noqa: E402
    OUTCOMES,
    make_images,
    mutate,
    run_command,
    run_worker,
    strict_json,
    zip_region,
)

DOC = ROOT / "docs" / "RELIABILITY.md"
FIXTURES = ROOT / "tests" / "fixtures"
DEFAULT_MODEL = ROOT / "assets" / "models" / "default" / "model.tflite"
#: Models that are mutated, when present: committed ones, Coral's MobileNet v1 (a model the
#: app did not make) and the benchmarks' MobileNetV2 int8 (benchmarks/models.py).
CANDIDATE_MODELS = [
    DEFAULT_MODEL,
    FIXTURES / "color_float32.tflite",
    FIXTURES / "bundle_int8" / "model.tflite",
    ROOT.parent / "shared" / "models" / "mobilenet_v1_1.0_224_quant_embedding_extractor.tflite",
    ROOT / ".bench-cache" / "mobilenet_v2_1.0_224_int8.tflite",
]
COLUMNS = (*OUTCOMES, "stray stderr")
NEUTRAL = Path(tempfile.gettempdir())


def _env(cache: Path) -> dict:
    env = dict(os.environ, EDGECAM_HOME=str(cache), PYTHONPATH=str(ROOT))
    for name in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"):
        env.pop(name, None)
    return env


def _edgecam(*args) -> list[str]:
    return [sys.executable, "-m", "edgecam", *map(str, args)]


class Row:
    """One line of the table, and the cases that broke the bar."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.counts: Counter = Counter()
        self.failures: list[str] = []
        self.note = ""

    def add(self, outcome: str, stray: bool = False, failure: str | None = None) -> None:
        self.counts["tried"] += 1
        self.counts[outcome] += 1
        if stray:
            self.counts["stray stderr"] += 1
        if failure and (outcome not in ("ok", "clean error") or stray):
            self.failures.append(failure)

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "counts": dict(self.counts),
            "failures": self.failures[:20],
            "note": self.note,
        }


def mutated_models(models: list[Path], count: int, seed: int, scratch: Path):
    """``count`` (model, mutation, path) triples, spread over ``models``."""
    cases = []
    for i in range(count):
        model = models[i % len(models)]
        mutation = mutate(model.read_bytes(), seed + i)
        path = scratch / f"{i:04d}-{model.stem}.tflite"
        path.write_bytes(mutation.data)
        cases.append((model, mutation, path))
    return cases


#: How a clean error was caught, from its text (first match wins).
CAUGHT_BY = (
    ("the structure check", "is corrupt or truncated ("),
    ("the probe: the child crashed", "crashed"),
    ("the probe: the child hung", "was still"),
    ("the probe: the first inference failed", "fails at its first inference"),
)


def caught_by(detail: str) -> str:
    for name, needle in CAUGHT_BY:
        if needle in detail:
            return name
    return "the runtime's or edgecam's own checks"


def cli_rows(cases, photo: Path, env: dict, baseline: Path | None = None) -> list[Row]:
    rows = []
    commands = ["classify", "info"] + (["before"] if baseline is not None else [])
    for command in commands:
        if command == "before":
            row = Row("`edgecam classify --json` on the same files, the code before the check")
            run_env = dict(env, PYTHONPATH=str(baseline))
        else:
            row = Row(f"`edgecam {command} --json` on mutated models")
            run_env = env
        how: Counter = Counter()
        for model, mutation, path in cases:
            if command == "info":
                argv, shape = _edgecam("info", "--json", path), "document"
            else:
                argv, shape = _edgecam("classify", "--json", photo, "--model", path), "lines"
            # Not run from ROOT: `python -m` would import the checkout there, whatever
            # PYTHONPATH says (the code before the check is on PYTHONPATH).
            limit = 60 if command == "before" else 300  # the old code hangs on some files
            verdict = run_command(argv, run_env, NEUTRAL, timeout=limit, json_output=shape)
            if command == "before":  # what the checks are for: counted, not failures here
                row.counts["tried"] += 1
                row.counts[verdict.outcome] += 1
                row.counts["stray stderr"] += bool(verdict.stray)
                continue
            row.add(
                verdict.outcome,
                bool(verdict.stray),
                f"{mutation.describe(model)} -> {verdict.outcome}: {verdict.detail} "
                f"{list(verdict.stray)[:2]}",
            )
            if verdict.outcome == "clean error":
                how[caught_by(verdict.detail)] += 1
            _progress(row)
        if how:
            row.note = "the clean errors were caught by " + ", ".join(
                f"{name} ({n})" for name, n in how.most_common()
            )
        elif command == "before":
            row.note = f"`--baseline-src {baseline}`, no structure check and no probe"
        rows.append(row)
    return rows


def worker_row(cases, photo: Path, env: dict, scratch: Path) -> Row:
    row = Row("the same files through the Python API (`Classifier`) in one long-lived process")
    by_model: dict[Path, list[int]] = {}
    for model, mutation, _ in cases:
        by_model.setdefault(model, []).append(mutation.seed)
    processes = 0
    for model, seeds in by_model.items():
        run = run_worker(sys.executable, model, photo, seeds, scratch / "w.tflite", env, ROOT)
        for outcome, n in run.counts.items():
            row.counts[outcome] += n
            row.counts["tried"] += n
        row.failures += [f"{model.name} {f}" for f in run.failures]
        processes += 1 + sum(run.deaths.values())
        if not run.final_ok:
            row.failures.append(f"{model.name}: the intact model no longer worked afterwards")
        _progress(row)
    row.note = (
        f"{processes} worker processes for {len(by_model)} models (a new one only after a death); "
        "each ended by loading the intact model again: "
        + ("it still worked every time" if not any("intact" in f for f in row.failures) else "")
    )
    return row


def zip_row(count: int, seed: int, scratch: Path) -> Row:
    import logging

    from edgecam.bundle import resolve_model
    from edgecam.errors import EdgecamError

    logging.getLogger("edgecam").addHandler(logging.NullHandler())  # no note per damaged zip
    row = Row("mutated embedded-labels zip only (`resolve_model`, one process)")
    data = DEFAULT_MODEL.read_bytes()
    span = zip_region(data)
    labels = Counter()
    for i in range(count):
        mutation = mutate(data, seed + i, span)
        path = scratch / "zip.tflite"
        path.write_bytes(mutation.data)
        try:
            files = resolve_model(path)
        except EdgecamError:
            row.add("clean error")
            continue
        except Exception as exc:
            row.add("traceback", failure=f"{mutation.describe(DEFAULT_MODEL)} -> {exc!r}")
            continue
        labels["kept" if files.labels else "lost"] += 1
        row.add("ok")
    row.note = (
        f"{DEFAULT_MODEL.relative_to(ROOT)}; labels still read in {labels['kept']}, "
        f"damaged zip ignored with a note in {labels['lost']}"
    )
    return row


def image_rows(count: int, seed: int, scratch: Path, env: dict, soak: int) -> list[Row]:
    per_format = max(1, (count - 20) // 5)
    images = make_images(scratch / "images", seed, damaged_per_format=per_format)
    paths = images.all
    model = FIXTURES / "color_float32.tflite"
    batch = Row(f"{len(paths)} damaged/odd images in one `classify` call")
    argv = _edgecam("classify", "--json", "--model", model, *paths)
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    from faults import judge

    verdict = judge(proc.returncode, proc.stdout, proc.stderr, "lines")
    records = []
    if verdict.outcome in ("ok", "clean error"):
        records = [strict_json(line) for line in proc.stdout.splitlines()]
    by_image = {r["image"]: r for r in records}
    stray = [line for line in proc.stderr.splitlines() if not line.startswith("edgecam:")]
    for path in paths:
        record = by_image.get(str(path))
        if record is None:
            batch.add(
                verdict.outcome if verdict.outcome != "clean error" else "traceback",
                failure=f"{path.name}: never processed ({verdict.outcome}: {verdict.detail})",
            )
        elif "error" in record:
            batch.add("clean error")
        else:
            batch.add("ok")
    if stray:
        batch.counts["stray stderr"] = len(stray)
        batch.failures.append(f"stray stderr lines: {stray[:3]}")
    valid_ok = sum("predictions" in by_image.get(str(p), {}) for p in images.valid)
    batch.note = (
        f"{len(images.valid)} valid (every format, gray, alpha, 16-bit, 1x1, 1x3000) of which "
        f"{valid_ok} classified; {len(images.damaged)} damaged; {len(images.special)} not "
        "regular files (a folder, a dangling link, a FIFO); exit status "
        f"{proc.returncode}, one JSON line per image"
    )

    folder = Row("the same folder as a `run --headless` source")
    argv = _edgecam(
        "run", "--headless", "--json", "--no-pace", "--source", images.folder, "--model", model
    )
    verdict = run_command(argv, env, ROOT, timeout=600, json_output="lines")
    folder.add(verdict.outcome, bool(verdict.stray), f"folder -> {verdict.detail}")

    rows = [batch, folder]
    if soak:
        rows.append(soak_row(images.folder, model, soak, env))
    return rows


def soak_row(folder: Path, model: Path, frames: int, env: dict) -> Row:
    """Loop the damaged folder for ``frames`` classified frames; RSS sampled as it runs."""
    row = Row(f"{frames:,} frames from that folder, looping (`run --headless --loop`)")
    argv = _edgecam(
        "run", "--headless", "--json", "--no-pace", "--loop", "--max-frames", frames,
        "--stats-every", "0", "--source", folder, "--model", model,
    )  # fmt: skip
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT
    )
    rss: dict[int, float] = {}
    seen = 0
    for line in proc.stdout:
        if line.startswith('{"frame"'):
            seen += 1
            if seen in (500, frames):
                rss[seen] = _rss_mib(proc.pid)
    err = proc.stderr.read()
    proc.wait()
    from faults import judge

    verdict = judge(proc.returncode, "", err)
    row.add(verdict.outcome, bool(verdict.stray), f"soak -> {verdict.detail} {verdict.stray[:2]}")
    if len(rss) == 2:
        row.note = (
            f"{seen:,} results; RSS {rss[500]:.1f} MiB at frame 500, {rss[frames]:.1f} MiB at "
            f"frame {frames:,} ({rss[frames] - rss[500]:+.1f} MiB)"
        )
    else:
        row.note = f"{seen:,} results"
    return row


def _rss_mib(pid: int) -> float:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return float("nan")
    match = re.search(r"VmRSS:\s+(\d+) kB", text)
    return int(match.group(1)) / 1024 if match else float("nan")


def video_row(count: int, seed: int, scratch: Path, env: dict) -> Row:
    import cv2
    from conftest import solid, write_video

    colors = ["red", "green", "blue"] * 50
    good = write_video(scratch / "good.mp4", colors)
    avi = scratch / "good.avi"
    writer = cv2.VideoWriter(str(avi), cv2.VideoWriter_fourcc(*"MJPG"), 30, (160, 120))
    for color in colors:
        writer.write(solid(color, (160, 120)))
    writer.release()
    row = Row("mutated videos through `run --headless` (mp4v .mp4 and MJPG .avi)")
    model = FIXTURES / "color_float32.tflite"
    said = silent = 0
    for i in range(count):
        source = (good, avi)[i % 2]
        mutation = mutate(source.read_bytes(), seed + i)
        path = scratch / f"video-{i}{source.suffix}"
        path.write_bytes(mutation.data)
        argv = _edgecam("run", "--headless", "--no-pace", "--source", path, "--model", model)
        verdict = run_command(argv, env, ROOT, timeout=300)
        row.add(verdict.outcome, bool(verdict.stray), f"{mutation.describe(source)} -> {verdict}")
        if mutation.kind == "truncate":
            said += verdict.outcome == "clean error"
            silent += verdict.outcome == "ok"
    row.note = (
        f"truncated copies: {said} ended with an error that says so, {silent} exited 0 "
        "(cut within the last frames, which the header's frame count does not reveal)"
    )
    return row


def _progress(row: Row) -> None:
    done = row.counts["tried"]
    if done % 25 == 0:
        print(f"  {row.name}: {done}", file=sys.stderr, flush=True)


# -- the cost of the check ---------------------------------------------------------------------


def startup_costs(photo: Path, runs: int, baseline: Path | None) -> list[dict]:
    """Median seconds from launch to the first prediction of ``classify``, per case.

    The cases alternate run by run (known, new, before, known, ...), so that load from other
    work on the machine falls on all of them alike.
    """
    models = [
        FIXTURES / "color_float32.tflite",
        DEFAULT_MODEL.parent,
        ROOT / ".bench-cache" / "mobilenet_v2_1.0_224_int8.tflite",
    ]
    results = []
    for model in (m for m in models if m.exists()):
        argv = ["classify", str(photo), "--model", str(model), "--delegate", "cpu"]
        times: dict[str, list[float]] = {"known_s": [], "new_s": []}
        with tempfile.TemporaryDirectory() as known_cache:
            known = _env(Path(known_cache))
            _first_line(argv, known)  # checks the model once: this cache now knows it
            before = None
            if baseline is not None:
                before = dict(known, PYTHONPATH=str(baseline))
                times["before_s"] = []
                _first_line(argv, before)
            for _ in range(runs):
                times["known_s"].append(_first_line(argv, known))
                with tempfile.TemporaryDirectory() as cache:
                    times["new_s"].append(_first_line(argv, _env(Path(cache))))
                if before is not None:
                    times["before_s"].append(_first_line(argv, before))
        row = {"model": str(model.relative_to(ROOT)), "runs": runs}
        row.update({key: statistics.median(values) for key, values in times.items()})
        results.append(row)
    return results


def _first_line(argv: list[str], env: dict) -> float:
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgecam", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=NEUTRAL,
    )
    line = proc.stdout.readline()
    elapsed = time.perf_counter() - t0
    out, err = proc.communicate()
    if proc.returncode != 0 or not line:
        raise RuntimeError(f"{argv} failed: {line}{out}{err}")
    return elapsed


# -- the document ------------------------------------------------------------------------------


def environment() -> dict:
    import cv2
    import numpy as np

    from edgecam.runtime.backends import load_backend

    backend = load_backend()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    return {
        "key": backend.package,
        "runtime": backend.label,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "opencv": cv2.__version__,
        "venv": Path(sys.prefix).name,
        "commit": commit,
        "cpu": f"{os.cpu_count()} logical cores",
        "when": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def render(env: dict, rows: list[dict], costs: list[dict], command: str, models) -> str:
    lines = [
        f"<!-- robustness:{env['key']} -->",
        f"## {env['runtime']} (`{env['venv']}`)",
        "",
        f"Measured {env['when']} at commit {env['commit']} by `{command}`: Python "
        f"{env['python']}, numpy {env['numpy']}, OpenCV {env['opencv']}, {env['cpu']}. "
        f"Mutated models: {', '.join(f'`{m}`' for m in models)}.",
        "",
        "| test | tried | ok | clean error | traceback | crash (signal) | hang | stray stderr |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        c = row["counts"]
        cells = [str(c.get(name, 0)) for name in ("tried", *COLUMNS)]
        lines.append(f"| {row['name']} | " + " | ".join(cells) + " |")
    lines.append("")
    for row in rows:
        if row["note"]:
            lines.append(f"- {row['name']}: {row['note']}.")
    failures = [f for row in rows for f in row["failures"]]
    lines += ["", "Cases that broke the bar (replay with `python tests/faults.py mutate ...`):", ""]
    lines += [f"- {f}" for f in failures[:40]] or ["- none"]
    if costs:
        lines += [
            "",
            "Start-up of `classify` to its first prediction (median of fresh processes, "
            "`--delegate cpu`, warm page cache): a model this machine has checked before "
            "(content hash found in the probe cache), a model it has not (empty cache: "
            "structure check plus one test load in a child process)"
            + (", and the code before the check" if "before_s" in costs[0] else "")
            + ":",
            "",
            "| model | known model (s) | new model (s) |"
            + (" before the check (s) |" if "before_s" in costs[0] else ""),
            "|---|---:|---:|" + ("---:|" if "before_s" in costs[0] else ""),
        ]
        for cost in costs:
            line = f"| `{cost['model']}` | {cost['known_s']:.3f} | {cost['new_s']:.3f} |"
            if "before_s" in cost:
                line += f" {cost['before_s']:.3f} |"
            lines.append(line)
    lines.append(f"<!-- /robustness:{env['key']} -->")
    return "\n".join(lines) + "\n"


HEADER = """# Reliability: damaged and odd inputs

Generated by `benchmarks/robustness.py`, one section per environment (re-run it rather than
edit; each run replaces its own section). The bar (issue 14): no crash, no hang, no traceback,
and nothing on stderr that is not one of edgecam's own lines, whatever model, bundle, image or
video edgecam is given. A damaged model is either still usable or one clear error, and the
process that met it goes on; one bad image never stops a batch. `make test` runs the same kind
of cases at fixed seeds (`tests/test_faults.py`, a few dozen models and about 40 images per
environment); this script runs hundreds at other seeds.

How a damaged model is kept from killing the process: before any runtime sees a model's bytes,
`edgecam.runtime.verify` walks the flatbuffer the way the runtimes read it (tables, vtables,
vectors and strings inside the file and aligned; tensor, buffer, opcode and subgraph indices in
range; constant data inside the file; tensor sizes that fit 31 bits; UTF-8 names), in pure
Python, so it works where no schema package is installed. Content that passes and is new to the
runtime is then loaded once in a child process (`edgecam.runtime.probe`): interpreter, tensors,
one inference on zeros. A crash or a hang there becomes a clear "this model is corrupt" error;
a pass is remembered by SHA-256 and runtime version, in the process and under
`~/.cache/edgecam/probed/` (`$EDGECAM_HOME/probed/` when set). The runtime in the process then
gets exactly the bytes that were checked (`model_content=`). Both parts are needed:
tflite-runtime 2.14 verifies nothing, and the structure check stops the files that made it
crash or loop; but some files with a sound structure still kill a runtime (CONV_2D with stride
0 is SIGFPE in tflite-runtime 2.14; a weight scale of 1e35 makes ai-edge-litert 2.3 abort with
"double free") and only a separate process survives those.

What it costs, from the start-up tables below (cases alternating run by run on a shared
2-core machine, so differences of a few tens of milliseconds are noise): a model this machine
has run before costs a read and a hash of the file and the import of two small modules, about
20 ms; a model it has not costs one child process on its first start, about 0.2 s with
ai-edge-litert and 0.2 to 0.6 s with tflite-runtime (slower to import, and slow on int8), then
nothing more. Every case that met the 1.5 s start-up goal before the check still does; the
one that misses it, MobileNetV2 int8 on tflite-runtime, missed it before the check too (2.0 s:
`--threads auto` times its slow int8 kernels at 1 and 2 threads while loading).

"""


def write_doc(section: str, key: str) -> None:
    text = DOC.read_text() if DOC.exists() else HEADER
    pattern = re.compile(
        rf"<!-- robustness:{re.escape(key)} -->.*?<!-- /robustness:{re.escape(key)} -->\n",
        re.S,
    )
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text + section
    DOC.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=300, help="mutated models")
    parser.add_argument("--images", type=int, default=120, help="images in the batch (about)")
    parser.add_argument("--zips", type=int, default=2000, help="mutated labels zips")
    parser.add_argument("--videos", type=int, default=24, help="mutated videos")
    parser.add_argument("--soak", type=int, default=10_000, help="frames looped (0: none)")
    parser.add_argument("--seed", type=int, default=1000, help="first seed (tests use 0-600)")
    parser.add_argument("--startup-runs", type=int, default=9)
    parser.add_argument(
        "--reuse-faults", type=Path, help="take the fault rows from an earlier --json run"
    )
    parser.add_argument(
        "--baseline-src", type=Path, help="a checkout before the check, for start-up times"
    )
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--no-doc", action="store_true", help="do not touch docs/RELIABILITY.md")
    parser.add_argument(
        "--from-json", type=Path, help="write the doc section of an earlier --json run, no run"
    )
    args = parser.parse_args()
    if args.from_json:
        saved = json.loads(args.from_json.read_text())
        section = render(saved["env"], saved["rows"], saved["costs"], saved["command"],
                         saved["models"])  # fmt: skip
        write_doc(section, saved["env"]["key"])
        print(section)
        return 0

    models = [m for m in CANDIDATE_MODELS if m.exists()]
    env_info = environment()
    print(f"robustness in {env_info['runtime']}, models: {[m.name for m in models]}", flush=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="edgecam-robustness-") as tmp:
        scratch = Path(tmp)
        env = _env(scratch / "cache")
        import cv2
        from conftest import solid

        photo = scratch / "photo.png"
        cv2.imwrite(str(photo), solid("red", (96, 72)))
        if args.reuse_faults:
            earlier = json.loads(args.reuse_faults.read_text())
            results, fault_command = earlier["rows"], earlier["command"]
        else:
            cases = mutated_models(models, args.models, args.seed, scratch)
            rows = cli_rows(cases, photo, env, args.baseline_src)
            shutil.rmtree(scratch / "cache", ignore_errors=True)  # the worker meets them anew
            rows.append(worker_row(cases, photo, env, scratch))
            rows.append(zip_row(args.zips, args.seed + 100_000, scratch))
            rows += image_rows(args.images, args.seed, scratch, env, args.soak)
            if args.videos:
                rows.append(video_row(args.videos, args.seed + 200_000, scratch, env))
            results, fault_command = [row.as_dict() for row in rows], None
        costs = startup_costs(photo, args.startup_runs, args.baseline_src)
    for row in results:
        print(row["name"], row["counts"], flush=True)
    shown_args, skip = [], False
    for arg in sys.argv[1:]:  # where the raw results went is no part of the method
        if skip or arg == "--no-doc":
            skip = False
            continue
        skip = arg == "--json"
        if not skip:
            shown_args.append(arg)
    command = " ".join(
        [str(Path(sys.executable).relative_to(ROOT)) if ROOT in Path(sys.executable).parents
         else sys.executable, "benchmarks/robustness.py", *shown_args]
    )  # fmt: skip
    if fault_command is not None:
        command = f"{fault_command}` (the fault rows) and `{command}"
    shown = [os.path.relpath(m, ROOT) for m in models]
    section = render(env_info, results, costs, command, shown)
    print(section)
    print(f"took {time.monotonic() - started:.0f} s", file=sys.stderr)
    if args.json:
        saved = {"env": env_info, "rows": results, "costs": costs, "command": command}
        args.json.write_text(json.dumps({**saved, "models": shown}, indent=1))
    if not args.no_doc:
        write_doc(section, env_info["key"])
    bad = sum(
        r["counts"].get(k, 0)
        for r in results
        if "the code before" not in r["name"]
        for k in ("traceback", "crash", "hang")
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
