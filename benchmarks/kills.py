"""Kills at random moments of `edgecam train` and `edgecam export`, and what is left, counted.

    .venv-train/bin/python benchmarks/kills.py [--train 12] [--export 12] [--interrupts 8]
        [--seed 7] [--json out.json] [--no-doc]

On a tiny generated folder (two classes, 48 images of 24x24) and a small model (4 epochs):

* **train, SIGKILL**: a run is started and killed at a random moment of the time a whole run
  takes (measured first); then `edgecam train --resume` (or, when the run had written nothing
  to resume, the same command again, which edgecam's message says to do). Fine when the second
  command ends with exit 0 and a loadable `best.keras` and a log of all the epochs.
* **export, SIGKILL**: over an existing bundle, an export is killed at a random moment; at
  once, `--out` must hold a complete bundle (the old one or the new one: `model.tflite`,
  `labels.txt` and `model.json` that edgecam loads); then the same export again must succeed and
  leave no staging folder beside `--out`.
* **train, Ctrl-C**: SIGINT at a random moment: exit 130 or 0, one `edgecam:` line, no
  traceback; then `--resume` (or the plain command) finishes.

Every command is judged like the fault tests (tests/faults.py: ok, clean error, traceback,
crash, hang, and stray stderr lines). Writes its section of docs/RELIABILITY.md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

from faults import OUTCOMES, judge  # noqa: E402
from robustness import write_doc  # noqa: E402

TRAIN = ["--input-size", "24", "--alpha", "0.25", "--depth", "2", "--batch-size", "8"]
TRAIN += ["--epochs", "4", "--patience", "0", "--seed", "3", "--no-augment"]
TIMEOUT_S = 300


def make_data(root: Path) -> Path:
    import cv2
    import numpy as np

    rng = np.random.default_rng(1)
    for name, bright in (("dark", 0), ("bright", 180)):
        (root / name).mkdir(parents=True)
        for i in range(24):
            image = (rng.integers(0, 40, (24, 24, 3)) + bright).astype(np.uint8)
            cv2.imwrite(str(root / name / f"{i}.png"), image)
    return root


def _env() -> dict:
    return dict(os.environ, PYTHONPATH=str(ROOT), CUDA_VISIBLE_DEVICES="-1")


def edgecam(*args: str) -> list[str]:
    return [sys.executable, "-m", "edgecam", *args]


def run(argv: list[str]) -> tuple[object, float]:
    """Run to the end; its verdict and seconds."""
    started = time.monotonic()
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT_S, env=_env())
        verdict = judge(proc.returncode, proc.stdout, proc.stderr)
    except subprocess.TimeoutExpired as exc:
        verdict = judge(None, str(exc.stdout or ""), str(exc.stderr or ""))
    return verdict, time.monotonic() - started


def killed_after(argv: list[str], seconds: float, sig: int) -> object:
    """Start ``argv``, send ``sig`` after ``seconds`` (if still running); its verdict."""
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env()
    )
    try:
        out, err = proc.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        proc.send_signal(sig)
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            return judge(None, out, err)
    return judge(proc.returncode, out, err)


def run_complete(run_dir: Path, epochs: int = 4) -> str:
    """'' when the run folder holds a finished run, else what is wrong."""
    best, log = run_dir / "best.keras", run_dir / "training_log.csv"
    if not best.exists() or not log.exists():
        return "no best.keras or log"
    rows = [r for r in log.read_text().strip().splitlines()[1:] if r]
    done = sorted({int(r.split(",")[0]) for r in rows})
    if done != list(range(epochs)):
        return f"log has epochs {done}"
    try:
        import keras

        keras.models.load_model(best)
    except Exception as exc:
        return f"best.keras does not load: {exc}"
    return ""


def bundle_usable(bundle: Path) -> str:
    """'' when ``bundle`` is a complete bundle edgecam loads."""
    from edgecam.bundle import resolve_model

    for name in ("model.tflite", "labels.txt", "model.json"):
        if not (bundle / name).exists():
            return f"no {name}"
    try:
        resolve_model(bundle)
    except Exception as exc:
        return f"does not load: {exc}"
    return ""


def train_kill(data: Path, out: Path, delay: float, sig: int) -> dict:
    argv = edgecam("train", "--data", str(data), "--out", str(out), *TRAIN)
    first = killed_after(argv, delay, sig)
    resume = [*argv, "--resume"]
    second, _ = run(resume)
    again = None
    if second.outcome == "clean error" and "nothing to resume" in second.detail:
        again, _ = run(argv)  # killed before anything was written: start again, as it says
    final = again or second
    problem = run_complete(out) if final.outcome == "ok" else final.detail
    return {
        "delay_s": round(delay, 2),
        "killed": first.outcome,
        "killed_detail": first.detail,
        "killed_stray": list(first.stray),
        "then": final.outcome,
        "then_detail": final.detail,
        "restarted": again is not None,
        "stray": list(second.stray) + list(again.stray if again else ()),
        "lost": problem,
    }


def export_kill(run_dir: Path, out: Path, delay: float) -> dict:
    argv = edgecam("export", "--run", str(run_dir), "--out", str(out), "--mode", "int8")
    argv += ["--no-edgetpu", "--force"]
    first = killed_after(argv, delay, signal.SIGKILL)
    at_once = bundle_usable(out)
    second, _ = run(argv)
    leftovers = sorted(p.name for p in out.parent.glob(f".{out.name}.*"))
    problem = at_once or (bundle_usable(out) if second.outcome == "ok" else second.detail)
    return {
        "delay_s": round(delay, 2),
        "killed": first.outcome,
        "then": second.outcome,
        "then_detail": second.detail,
        "stray": list(second.stray),
        "lost": problem,
        "leftovers": leftovers,
    }


def tally(cases: list[dict], kind: str) -> dict:
    counts = Counter(c["then"] for c in cases)
    killed = Counter(c["killed"] for c in cases)
    return {
        "kind": kind,
        "cases": len(cases),
        "then": {k: counts.get(k, 0) for k in OUTCOMES},
        "killed": dict(killed),
        "lost": sum(1 for c in cases if c["lost"]),
        "stray": sum(1 for c in cases if c.get("stray") or c.get("killed_stray")),
        "leftovers": sum(1 for c in cases if c.get("leftovers")),
    }


def render(rows: list[dict], results: dict, command: str) -> str:
    lines = [
        "<!-- robustness:training -->",
        "## Training and export killed at random moments (`.venv-train`)",
        "",
        f"Command: `{command}`, {results['when']}, TensorFlow {results['tensorflow']}, "
        f"a whole training run taking {results['train_s']:.1f} s and an export "
        f"{results['export_s']:.1f} s here (the kill moments are drawn from those spans, seed "
        f"{results['seed']}).",
        "",
        "| case | tried | then: ok | clean error | traceback | crash | hang | data lost | "
        "stray stderr | leftovers |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        t = row["then"]
        lines.append(
            f"| {row['kind']} | {row['cases']} | {t['ok']} | {t['clean error']} | "
            f"{t['traceback']} | {t['crash']} | {t['hang']} | {row['lost']} | {row['stray']} | "
            f"{row['leftovers']} |"
        )
    lines += [
        "",
        "'then' is the command after the kill (`--resume`, or the same export again); "
        "'data lost' counts cases where that did not end with a complete run (every epoch in "
        "the log, a loadable `best.keras`) or, for exports, where `--out` did not hold a "
        "complete, loadable bundle at once after the kill; 'leftovers' counts staging folders "
        "still beside `--out` after the next export. The interrupted commands themselves: "
        + "; ".join(
            f"{row['kind']}: " + ", ".join(f"{n} {k}" for k, n in sorted(row["killed"].items()))
            for row in rows
        )
        + ".",
        "<!-- /robustness:training -->",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=12, help="SIGKILLed training runs")
    parser.add_argument("--export", type=int, default=12, help="SIGKILLed exports")
    parser.add_argument("--interrupts", type=int, default=8, help="Ctrl-C'd training runs")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--no-doc", action="store_true")
    args = parser.parse_args()
    import tensorflow as tf

    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="edgecam-kills-"))
    try:
        data = make_data(work / "data")
        # How long a whole run and an export take: the spans the kill moments are drawn from.
        base = work / "base"
        verdict, train_s = run(edgecam("train", "--data", str(data), "--out", str(base), *TRAIN))
        if verdict.outcome != "ok" or run_complete(base):
            raise SystemExit(f"a plain training run failed: {verdict.detail or run_complete(base)}")
        bundle = work / "bundle"
        export = ["export", "--run", str(base), "--out", str(bundle), "--mode", "int8"]
        verdict, export_s = run(edgecam(*export, "--no-edgetpu", "--force"))
        if verdict.outcome != "ok":
            raise SystemExit(f"a plain export failed: {verdict.detail}")
        cases: dict[str, list[dict]] = {"train, SIGKILL": [], "train, Ctrl-C": [], "export": []}
        for i in range(args.train):
            out = work / f"kill-{i}"
            case = train_kill(data, out, rng.uniform(0.5, train_s), signal.SIGKILL)
            cases["train, SIGKILL"].append(case)
            print(f"train kill {i}: {json.dumps(case)[:300]}", file=sys.stderr, flush=True)
        for i in range(args.interrupts):
            out = work / f"int-{i}"
            case = train_kill(data, out, rng.uniform(0.5, train_s), signal.SIGINT)
            cases["train, Ctrl-C"].append(case)
            print(f"train ctrl-c {i}: {json.dumps(case)[:300]}", file=sys.stderr, flush=True)
        for i in range(args.export):
            out = work / f"bundle-{i}"
            shutil.copytree(bundle, out)
            case = export_kill(base, out, rng.uniform(0.3, export_s))
            cases["export"].append(case)
            print(f"export kill {i}: {json.dumps(case)[:300]}", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows = [tally(c, kind) for kind, c in cases.items() if c]
    results = {
        "when": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "tensorflow": tf.__version__,
        "train_s": train_s,
        "export_s": export_s,
        "seed": args.seed,
        "rows": rows,
        "cases": cases,
    }
    command = " ".join(
        [os.path.relpath(sys.executable, ROOT), os.path.relpath(__file__, ROOT), *sys.argv[1:]]
    )
    section = render(rows, results, command)
    print(section)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    if not args.no_doc:
        write_doc(section, "training")
    bad = sum(
        r["then"]["traceback"] + r["then"]["crash"] + r["then"]["hang"] + r["lost"] for r in rows
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
