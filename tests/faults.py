"""Seeded faults: mutated models, damaged and odd images, and how a run against them is judged.

Shared by ``tests/test_faults.py`` (a few dozen cases per run, in ``make test``) and
``benchmarks/robustness.py`` (hundreds, written to docs/RELIABILITY.md). Every case is a pure
function of its seed, so a failure is replayed from the seed and the mutation it prints:

    python tests/faults.py mutate MODEL SEED OUT.tflite     # write that mutated model again
    python tests/faults.py worker MODEL IMAGE SEED [SEED...] # the one-long-process check

The worker loads each seed's mutated model through the Python API (``Classifier``) in one
process, classifies an image with it, and prints one JSON line per case; then it loads the
intact model and checks it still works, so a process that survived but was left broken fails
too. It prints a case's seed before trying it: when the process dies, the caller knows which
model killed it.
"""

from __future__ import annotations

import json
import os
import random
import signal
import struct
import subprocess
import sys
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

#: The mutation kinds, in seed order (seed % len): every few seeds cover them all.
KINDS = ("flip", "truncate", "zero", "header", "bits")
#: Outcome names, in the order the tables show them.
OUTCOMES = ("ok", "clean error", "traceback", "crash", "hang")


@dataclass(frozen=True)
class Mutation:
    """One damaged copy of a file: what was done to it, and the bytes."""

    seed: int
    kind: str
    text: str  # e.g. "truncate to 1800 of 204262 bytes"
    data: bytes

    def describe(self, source: str | Path) -> str:
        return f"seed {self.seed}: {self.text} ({Path(source).name})"


def mutate(data: bytes, seed: int, region: tuple[int, int] | None = None) -> Mutation:
    """Damage ``data`` the way seed ``seed`` says.

    Args:
        region: ``(start, end)`` to damage only those bytes (the embedded zip, say); default all.
    """
    rng = random.Random(seed)
    kind = KINDS[seed % len(KINDS)]
    start, end = region or (0, len(data))
    out = bytearray(data)
    if kind == "flip":
        where = sorted(rng.randrange(start, end) for _ in range(rng.randint(1, 8)))
        for i in where:
            out[i] = rng.randrange(256)
        text = f"random bytes at {where}"
    elif kind == "bits":
        where = sorted(rng.randrange(start, end) for _ in range(rng.randint(1, 4)))
        for i in where:
            out[i] ^= 1 << rng.randrange(8)
        text = f"one bit flipped at each of {where}"
    elif kind == "truncate":
        size = rng.randrange(max(start, 8), end)
        out = out[:size]
        text = f"truncated to {size} of {len(data)} bytes"
    elif kind == "zero":
        length = rng.choice((4, 16, 64, 256, 4096))
        at = rng.randrange(start, end)
        out[at : at + length] = bytes(len(out[at : at + length]))
        text = f"{length} bytes zeroed at {at}"
    else:  # header: the root offset, the identifier, the root table and its vtable
        top = min(end, start + 64)
        where = sorted(rng.randrange(start, top) for _ in range(rng.randint(1, 2)))
        for i in where:
            out[i] = rng.randrange(256)
        text = f"header bytes {where} changed"
    return Mutation(seed, kind, text, bytes(out))


def zip_region(data: bytes) -> tuple[int, int] | None:
    """Where the metadata zip appended to a model lies (its first local header to the end)."""
    at = data.find(b"PK\x03\x04")
    return (at, len(data)) if at >= 0 else None


def zero_conv_strides(data: bytes) -> bytes:
    """``data`` with every CONV_2D's horizontal stride set to 0, in place (same size).

    The structure stays sound, so :mod:`edgecam.runtime.verify` passes it; tflite-runtime 2.14
    then divides by the stride and dies of SIGFPE, while ai-edge-litert refuses it cleanly: a
    model only the child-process probe can catch.
    """
    from edgecam.runtime.verify import _Reader

    r = _Reader(data)
    out = bytearray(data)
    model = r.table(r.follow(0, "root"), "model")
    changed = 0
    for graph in r.tables(model, 2, "subgraphs"):
        for op in r.tables(graph, 3, "operators"):
            if r.get(op, 3, "B", 0, "options type") != 1:  # BuiltinOptions.Conv2DOptions
                continue
            options = r.table(r.offset(op, 4, "options"), "options")
            at = r.field(options, 1)  # Conv2DOptions.stride_w
            if at is not None:
                out[at : at + 4] = bytes(4)
                changed += 1
    assert changed, "no CONV_2D with a stride field"
    return bytes(out)


# -- images -----------------------------------------------------------------------------------


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def png_claiming(width: int, height: int) -> bytes:
    """A small PNG whose header claims ``width`` x ``height`` (a decompression bomb's shape)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + _png_chunk(b"IEND", b"")
    )


# A 1x1 GIF (white pixel).
TINY_GIF = bytes.fromhex(
    "47494638396101000100800000ffffff00000021f90401000000002c00000000010001000002024401003b"
)


@dataclass
class ImageSet:
    """A folder of damaged and odd image files; ``valid`` are those that must classify."""

    folder: Path
    valid: list[Path] = field(default_factory=list)
    damaged: list[Path] = field(default_factory=list)  # may decode partly, or fail cleanly
    special: list[Path] = field(default_factory=list)  # not regular files: a FIFO, links...

    @property
    def all(self) -> list[Path]:
        return sorted(self.valid + self.damaged + self.special)


def make_images(folder: Path, seed: int, damaged_per_format: int = 4) -> ImageSet:
    """Write a seeded set: valid images in every format and shape, damaged copies of each,
    and the odd files users have (empty, text named .jpg, a PNG claiming 100000x100000, a
    folder named .png, a dangling link, a FIFO)."""
    import cv2
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    noise = np.random.default_rng(seed)
    images = ImageSet(folder)
    base = (noise.random((48, 64, 3)) * 255).astype(np.uint8)
    base[:, :32] = (0, 0, 255)
    encoded = {}
    for ext in (".jpg", ".png", ".bmp", ".webp", ".tif"):
        ok, buf = cv2.imencode(ext, base)
        if ok:
            encoded[ext] = buf.tobytes()
            path = folder / f"valid{ext}"
            path.write_bytes(encoded[ext])
            images.valid.append(path)
    odd_valid = {
        "gray.png": cv2.imencode(".png", base[:, :, 0])[1].tobytes(),
        "alpha.png": cv2.imencode(".png", cv2.cvtColor(base, cv2.COLOR_BGR2BGRA))[1].tobytes(),
        "deep16.png": cv2.imencode(".png", base.astype(np.uint16) * 257)[1].tobytes(),
        "one_pixel.png": cv2.imencode(".png", base[:1, :1])[1].tobytes(),
        "thin_1x3000.png": cv2.imencode(".png", np.zeros((1, 3000, 3), np.uint8))[1].tobytes(),
        "jpeg_named.png": encoded[".jpg"],
        "UPPER.JPG": encoded[".jpg"],
    }
    for name, data in odd_valid.items():
        (folder / name).write_bytes(data)
        images.valid.append(folder / name)
    for ext, data in encoded.items():
        for k in range(damaged_per_format):
            m = mutate(data, rng.randrange(2**31))
            path = folder / f"damaged_{ext[1:]}_{k}_{m.kind}{ext}"
            path.write_bytes(m.data)
            images.damaged.append(path)
    odd_bad = {
        "empty.jpg": b"",
        "text.jpg": b"this is not an image\n",
        "html.png": b"<html><body>404 Not Found</body></html>",
        "huge_100000x100000.png": png_claiming(100_000, 100_000),
        "zero_width.png": png_claiming(0, 10),
        "random.webp": noise.integers(0, 256, 2000, dtype=np.uint8).tobytes(),
        "tiny.gif": TINY_GIF,
        "truncated_header.jpg": encoded[".jpg"][:20],
    }
    for name, data in odd_bad.items():
        (folder / name).write_bytes(data)
        images.damaged.append(folder / name)
    (folder / "folder.png").mkdir()
    images.special.append(folder / "folder.png")
    (folder / "gone.png").symlink_to(folder / "no-such-file.png")
    images.special.append(folder / "gone.png")
    if hasattr(os, "mkfifo"):
        os.mkfifo(folder / "pipe.jpg")
        images.special.append(folder / "pipe.jpg")
    return images


# -- judging a command line --------------------------------------------------------------------


def strict_json(line: str) -> object:
    """Parse one JSON line, refusing the NaN / Infinity Python's json would accept."""

    def refuse(name: str):
        raise ValueError(f"{name} is not JSON")

    return json.loads(line, parse_constant=refuse)


@dataclass(frozen=True)
class Verdict:
    outcome: str  # one of OUTCOMES
    detail: str = ""
    stray: tuple[str, ...] = ()  # stderr lines that are not edgecam's own


def judge(returncode: int | None, stdout: str, stderr: str, json_output: str = "") -> Verdict:
    """Classify one finished command (``returncode`` None: it hung and was killed)."""
    stray = tuple(
        line for line in stderr.splitlines() if line.strip() and not line.startswith("edgecam:")
    )
    if returncode is None:
        return Verdict("hang", "killed after the time limit", stray)
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return Verdict("crash", name, stray)
    if "Traceback (most recent call last)" in stderr:
        return Verdict("traceback", stderr.strip().splitlines()[-1], stray)
    chunks = stdout.splitlines() if json_output == "lines" else [stdout] if stdout else []
    for chunk in chunks if json_output else ():
        try:
            strict_json(chunk)
        except ValueError as exc:
            return Verdict("traceback", f"invalid JSON on stdout ({exc}): {chunk[:120]}", stray)
    errors = [line for line in stderr.splitlines() if line.startswith("edgecam: error:")]
    if returncode == 0:
        return Verdict("ok", "", stray)
    if errors:
        return Verdict("clean error", errors[0], stray)
    return Verdict("traceback", f"exit {returncode} without an error line", stray)


def run_command(
    argv: list[str], env: dict, cwd: Path, timeout: float, json_output: str = ""
) -> Verdict:
    """Run ``argv`` and judge it."""
    try:
        proc = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        err = exc.stderr.decode() if isinstance(exc.stderr, bytes) else exc.stderr or ""
        return judge(None, out, err, json_output)
    return judge(proc.returncode, proc.stdout, proc.stderr, json_output)


# -- the long-lived process ---------------------------------------------------------------------


def worker(model: Path, image: Path, seeds: list[int], out: Path, region: str = "all") -> int:
    """Load each seed's mutated ``model`` in this one process; print one JSON line per case.

    Ends with ``{"final": ...}``: the intact model loaded and classified ``image`` again.
    """
    from edgecam.config import ClassifierOptions
    from edgecam.errors import EdgecamError
    from edgecam.vision import Classifier, read_image

    data = model.read_bytes()
    picture = read_image(image)
    span = zip_region(data) if region == "zip" else None
    expected = None
    with Classifier(ClassifierOptions(model=model, delegate="cpu")) as clf:
        expected = clf.classify(picture).top.label
    for seed in seeds:
        mutation = mutate(data, seed, span)
        print(json.dumps({"start": seed, "mutation": mutation.text}), flush=True)
        out.write_bytes(mutation.data)
        try:
            with Classifier(ClassifierOptions(model=out, delegate="cpu")) as clf:
                clf.classify(picture)
            outcome, detail = "ok", ""
        except EdgecamError as exc:
            outcome, detail = "clean error", str(exc)
        except Exception as exc:  # what the test exists to catch
            outcome, detail = "traceback", f"{type(exc).__name__}: {exc}"
        print(json.dumps({"seed": seed, "outcome": outcome, "detail": detail}), flush=True)
    with Classifier(ClassifierOptions(model=model, delegate="cpu")) as clf:
        again = clf.classify(picture).top.label
    print(json.dumps({"final": again == expected, "label": again}), flush=True)
    return 0


@dataclass
class WorkerRun:
    """What one or more worker processes reported, case by case."""

    counts: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)  # "seed N: mutation -> what happened"
    deaths: Counter = field(default_factory=Counter)  # signal name -> count
    final_ok: bool = True


def run_worker(
    python: str,
    model: Path,
    image: Path,
    seeds: list[int],
    scratch: Path,
    env: dict,
    cwd: Path,
    region: str = "all",
    timeout: float = 600,
) -> WorkerRun:
    """Run :func:`worker` over ``seeds``; when a case kills the process, note it and go on
    with a new process from the next seed (so a run still counts every case)."""
    result = WorkerRun()
    todo = list(seeds)
    while todo:
        argv = [python, str(Path(__file__).resolve()), "worker", str(model), str(image)]
        argv += ["--out", str(scratch), "--region", region, *map(str, todo)]
        try:
            proc = subprocess.run(
                argv, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd
            )
            code, out, err = proc.returncode, proc.stdout, proc.stderr
        except subprocess.TimeoutExpired as exc:
            code = None
            out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
            err = exc.stderr.decode() if isinstance(exc.stderr, bytes) else exc.stderr or ""
        started, done = None, set()
        for line in out.splitlines():
            record = json.loads(line)
            if "start" in record:
                started = (record["start"], record["mutation"])
            elif "seed" in record:
                done.add(record["seed"])
                result.counts[record["outcome"]] += 1
                if record["outcome"] not in ("ok", "clean error"):
                    result.failures.append(
                        f"seed {record['seed']}: {started[1]} -> {record['detail']}"
                    )
            elif "final" in record:
                result.final_ok = result.final_ok and record["final"]
        if code == 0 and "final" in out:
            return result
        # The process died (or hung) on the case it had started and not finished.
        if started is None or started[0] in done:
            result.failures.append(f"the worker failed outside a case: {err.strip()[-500:]}")
            result.final_ok = False
            return result
        seed, text = started
        what = "hang" if code is None else "crash"
        name = "killed after the time limit" if code is None else _signal(code)
        result.counts[what] += 1
        result.deaths[name] += 1
        result.failures.append(f"seed {seed}: {text} -> the process died ({name})")
        todo = todo[todo.index(seed) + 1 :]
    return result


def _signal(code: int) -> str:
    if code < 0:
        try:
            return signal.Signals(-code).name
        except ValueError:
            return f"signal {-code}"
    return f"exit {code}"


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("mutate", help="write one seed's mutated copy of a model")
    p.add_argument("model", type=Path)
    p.add_argument("seed", type=int)
    p.add_argument("out", type=Path)
    p.add_argument("--region", choices=("all", "zip"), default="all")
    p = sub.add_parser("worker", help="load mutated models in this one process")
    p.add_argument("model", type=Path)
    p.add_argument("image", type=Path)
    p.add_argument("seeds", type=int, nargs="+")
    p.add_argument("--out", type=Path, required=True, help="where each mutated copy is written")
    p.add_argument("--region", choices=("all", "zip"), default="all")
    args = parser.parse_args(argv)
    if args.command == "mutate":
        data = args.model.read_bytes()
        span = zip_region(data) if args.region == "zip" else None
        mutation = mutate(data, args.seed, span)
        args.out.write_bytes(mutation.data)
        print(mutation.describe(args.model))
        return 0
    return worker(args.model, args.image, args.seeds, args.out, args.region)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
