"""Seeded fault tests: damaged models, bundles, images and videos never crash, hang or trace back.

Each case is a pure function of its seed (tests/faults.py), and the seeds are fixed, so a
failure here is a change's doing and replays exactly: the message names the seed, the mutation
and the command that writes the damaged file again. ``EDGECAM_FAULT_SEED=N`` shifts every
seed by N to explore new cases (``benchmarks/robustness.py`` runs hundreds). The bar is the
issue's: zero crashes, zero hangs, zero tracebacks, and nothing on stderr but edgecam's own
lines; a damaged file is either still usable or one clear error.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections import Counter

import cv2
import pytest
from conftest import CLI_CWD, FIXTURES, REPO, cli_env, solid, write_video
from faults import OUTCOMES, make_images, mutate, run_command, run_worker, strict_json, zip_region

from edgecam.bundle import resolve_model
from edgecam.config import ClassifierOptions
from edgecam.errors import EdgecamError
from edgecam.vision import Classifier

pytestmark = pytest.mark.slow

SEED = int(os.environ.get("EDGECAM_FAULT_SEED", "0"))
DEFAULT_MODEL = REPO / "assets" / "models" / "default" / "model.tflite"
MODELS = [
    DEFAULT_MODEL,  # int8 MobileNet, labels and model.json in its zip
    FIXTURES / "color_float32.tflite",  # float, labels in its zip
    FIXTURES / "bundle_int8" / "model.tflite",  # int8, bare
]
FAULTS = REPO / "tests" / "faults.py"


@pytest.fixture
def env(tmp_path):
    """A child's environment with an empty probe cache: every model is new to it."""
    return cli_env(EDGECAM_HOME=str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    path = tmp_path_factory.mktemp("photo") / "photo.png"
    cv2.imwrite(str(path), solid("red", (96, 72)))
    return path


def _edgecam(*args) -> list[str]:
    return [sys.executable, "-m", "edgecam", *map(str, args)]


def _failed(what: str, failures: list[str], counts: Counter) -> str:
    table = ", ".join(f"{name} {counts[name]}" for name in OUTCOMES)
    return (
        f"{what}: {table}\n"
        + "\n".join(failures)
        + f"\nreplay one: python {FAULTS.relative_to(REPO)} mutate MODEL SEED out.tflite"
    )


def _mutated_cli(tmp_path, env, photo, command: str, seeds: range) -> None:
    counts: Counter = Counter()
    failures = []
    for model in MODELS:
        data = model.read_bytes()
        for seed in seeds:
            mutation = mutate(data, SEED + seed)
            path = tmp_path / f"{model.stem}-{mutation.seed}.tflite"
            path.write_bytes(mutation.data)
            if command == "classify":
                argv = _edgecam("classify", "--json", photo, "--model", path)
            else:
                argv = _edgecam("info", "--json", path)
            shape = "lines" if command == "classify" else "document"
            verdict = run_command(argv, env, CLI_CWD, timeout=120, json_output=shape)
            counts[verdict.outcome] += 1
            if verdict.outcome not in ("ok", "clean error") or verdict.stray:
                stray = f"; stray stderr: {list(verdict.stray)[:3]}" if verdict.stray else ""
                failures.append(
                    f"{mutation.describe(model)} -> {verdict.outcome}: {verdict.detail}{stray}"
                )
    assert not failures, _failed(f"edgecam {command} on mutated models", failures, counts)
    assert counts["clean error"] > 0, counts  # the mutations did damage something


def test_mutated_models_through_classify(tmp_path, env, photo):
    _mutated_cli(tmp_path, env, photo, "classify", range(8))


def test_mutated_models_through_info(tmp_path, env, photo):
    _mutated_cli(tmp_path, env, photo, "info", range(100, 104))


@pytest.mark.parametrize("model", MODELS, ids=lambda p: p.parent.name + "/" + p.name)
def test_mutated_models_in_one_long_lived_process(tmp_path, env, photo, model):
    seeds = [SEED + s for s in range(200, 212)]
    run = run_worker(sys.executable, model, photo, seeds, tmp_path / "m.tflite", env, CLI_CWD)
    assert not run.failures, _failed("Classifier in one process", run.failures, run.counts)
    assert sum(run.counts.values()) == len(seeds)
    assert run.final_ok  # the intact model still loads and answers as before


def test_mutated_labels_zip_in_one_long_lived_process(tmp_path, env, photo):
    seeds = [SEED + s for s in range(300, 306)]
    run = run_worker(
        sys.executable, DEFAULT_MODEL, photo, seeds, tmp_path / "m.tflite", env, CLI_CWD, "zip"
    )
    assert not run.failures, _failed("damaged labels zip", run.failures, run.counts)
    assert run.final_ok


def test_mutated_labels_zip_is_read_without_surprises(tmp_path):
    """The zip readers alone, many cases (no runtime involved, so they are cheap)."""
    data = DEFAULT_MODEL.read_bytes()
    span = zip_region(data)
    assert span is not None
    counts: Counter = Counter()
    failures = []
    for seed in range(SEED + 400, SEED + 500):
        mutation = mutate(data, seed, span)
        path = tmp_path / "m.tflite"
        path.write_bytes(mutation.data)
        try:
            files = resolve_model(path)
        except EdgecamError:
            counts["clean error"] += 1
            continue
        except Exception as exc:
            failures.append(f"{mutation.describe(DEFAULT_MODEL)} -> {exc!r}")
            continue
        counts["ok"] += 1
        assert files.labels is None or all(isinstance(x, str) for x in files.labels)
    assert not failures, _failed("resolve_model on damaged zips", failures, counts)
    assert counts["ok"] == 100 - counts["clean error"]


@pytest.mark.parametrize("name", ["labels.txt", "model.json"])
def test_damaged_bundle_files_are_clear_errors_or_harmless(tmp_path, name):
    bundle = tmp_path / "bundle"
    shutil.copytree(FIXTURES / "bundle_int8", bundle)
    original = (bundle / name).read_bytes()
    counts: Counter = Counter()
    failures = []
    for seed in range(SEED + 500, SEED + 540):
        mutation = mutate(original, seed)
        (bundle / name).write_bytes(mutation.data)
        try:
            with Classifier(ClassifierOptions(model=bundle, delegate="cpu", threads=1)) as clf:
                result = clf.classify(solid("green"))
            assert len(result.categories) == 3
            counts["ok"] += 1
        except EdgecamError:
            counts["clean error"] += 1
        except Exception as exc:
            failures.append(f"{mutation.describe(bundle / name)} -> {exc!r}")
    assert not failures, _failed(f"damaged {name}", failures, counts)
    assert counts["clean error"] > 0


def test_damaged_and_odd_images_in_one_batch(tmp_path, env):
    images = make_images(tmp_path / "images", seed=SEED)
    model = FIXTURES / "color_float32.tflite"
    paths = images.all
    argv = _edgecam("classify", "--json", "--model", model, *paths)
    verdict = run_command(argv, env, CLI_CWD, timeout=120, json_output="lines")
    assert verdict.outcome == "clean error", verdict  # exit 1: some images failed
    assert not verdict.stray, verdict.stray  # no OpenCV / libjpeg / libpng lines
    import subprocess

    proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=CLI_CWD, timeout=120)
    records = [strict_json(line) for line in proc.stdout.splitlines()]
    assert [r["image"] for r in records] == [str(p) for p in paths]  # each one, in order
    by_path = {r["image"]: r for r in records}
    for path in images.valid:
        assert "predictions" in by_path[str(path)], by_path[str(path)]
    for path in images.special:
        assert "error" in by_path[str(path)]
    assert "claims more pixels" in by_path[str(images.folder / "huge_100000x100000.png")]["error"]
    assert "not a regular file" in by_path[str(images.folder / "pipe.jpg")]["error"]
    failed = sum("error" in r for r in records)
    assert f"{failed} of {len(paths)} images could not be classified" in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("edgecam: error:")]
    assert len(errors) == failed  # one line per bad file, nothing else

    # The same folder as a source: every image classify could read, each bad file noted once.
    proc = subprocess.run(
        _edgecam(
            "run", "--headless", "--json", "--no-pace", "--source", images.folder, "--model", model
        ),
        capture_output=True,
        text=True,
        env=env,
        cwd=CLI_CWD,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert all(line.startswith("edgecam:") for line in lines), lines
    listed = {
        p
        for p in paths
        if p.is_file() and p.suffix.lower() in (".jpg", ".png", ".bmp", ".webp", ".tif", ".gif")
    }
    readable = {p for p in listed if "predictions" in by_path[str(p)]}
    frames = [strict_json(line) for line in proc.stdout.splitlines()]
    seen = {r["image"] for r in frames if "image" in r}
    assert seen == {str(p) for p in readable}
    for path in listed - readable:
        assert sum(f"skipped {path}:" in line for line in lines) == 1, path


def test_damaged_videos_say_so_and_fail(tmp_path, env):
    colors = ["red", "green", "blue"] * 50
    good = write_video(tmp_path / "good.mp4", colors)
    zeroed = tmp_path / "zeroed.mp4"
    data = bytearray(good.read_bytes())
    data[len(data) // 2 : len(data) // 2 + len(data) // 8] = bytes(len(data) // 8)
    zeroed.write_bytes(data)
    avi = tmp_path / "good.avi"
    writer = cv2.VideoWriter(str(avi), cv2.VideoWriter_fourcc(*"MJPG"), 30, (160, 120))
    for color in colors:
        writer.write(solid(color, (160, 120)))
    writer.release()
    truncated = tmp_path / "truncated.avi"
    truncated.write_bytes(avi.read_bytes()[: avi.stat().st_size // 2])
    header = tmp_path / "header.avi"  # OpenCV's AVI reader says "Unexpected element" here
    header.write_bytes(mutate(avi.read_bytes(), 201003).data)
    model = FIXTURES / "color_float32.tflite"
    cases = ((good, False), (avi, False), (zeroed, True), (truncated, True), (header, None))
    for video, damaged in cases:
        argv = _edgecam("run", "--headless", "--no-pace", "--source", video, "--model", model)
        verdict = run_command(argv, env, CLI_CWD, timeout=120)
        assert not verdict.stray, (video.name, verdict.stray)
        if damaged is None:
            assert verdict.outcome == "clean error", (video.name, verdict)
        elif damaged:
            assert verdict.outcome == "clean error", (video.name, verdict)
            assert "of its 150 frames: the file is damaged or truncated" in verdict.detail
        else:
            assert verdict.outcome == "ok", (video.name, verdict)


def test_nan_normalization_never_reaches_json(tmp_path, env, photo):
    bundle = tmp_path / "bundle"
    shutil.copytree(FIXTURES / "bundle_int8", bundle)
    spec = json.loads((bundle / "model.json").read_text())
    spec["input"]["normalization"] = {"mean": [float("nan")] * 3, "std": [1.0] * 3}
    spec["metrics"] = {"tflite_accuracy": float("nan")}
    (bundle / "model.json").write_text(json.dumps(spec))  # Python writes a bare NaN
    verdict = run_command(
        _edgecam("classify", "--json", photo, "--model", bundle),
        env,
        CLI_CWD,
        timeout=60,
        json_output="lines",
    )
    assert verdict.outcome == "clean error"
    assert "normalization holds nan, not a finite number" in verdict.detail
    # A NaN in a record is kept, but `info --json` still prints valid JSON.
    spec["input"].pop("normalization")
    (bundle / "model.json").write_text(json.dumps(spec))
    import subprocess

    proc = subprocess.run(
        _edgecam("info", "--json", bundle), capture_output=True, text=True, env=env, cwd=CLI_CWD
    )
    assert proc.returncode == 0, proc.stderr
    info = strict_json(proc.stdout)
    assert info["model_json"]["metrics"]["tflite_accuracy"] is None
