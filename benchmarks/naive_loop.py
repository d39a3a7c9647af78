"""edgecam's Pipeline against the classic sequential camera loop, on the same clip and model.

    .venv/bin/python benchmarks/naive_loop.py [--seconds 10] [--json out.json]

The naive loop is what the TFLite and Coral camera examples do: ``cap.read() -> preprocess ->
invoke -> draw``, one after the other in one thread. Its source emulates a camera delivering
the 30 fps clip at its own pace, whatever the loop does: frame i is delivered at
``t0 + i / fps``; ``read`` waits for it if it is early, and if the loop is late it gets the
oldest frame still in a 4-buffer driver queue (OpenCV's V4L2 default), the older ones dropped
(decoded with ``grab`` and thrown away). The Pipeline plays the same clip through
``VideoFileSource`` (paced at 30 fps) into its capture and inference threads. Both draw the top
label onto a copy of the frame for every prediction shown. Age = time the drawing is done minus
the time the frame was delivered. Models: the colour fixture followed by a 2, 20 or 60 ms sleep
(EMULATED, see latency.py). Target: results/s never below the naive loop's, and every age at
most one inference plus one frame interval: against each result's own classify + draw time
plus its frame's own interval (latency.own_bound_check), and against the nominal bound (the
median inference plus 1/fps).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from latency import EmulatedModel, own_bound_check
from models import CACHE, FIXTURE_MODEL, ROOT, write_clip

from edgecam.capture.sources import VideoFileSource
from edgecam.config import ClassifierOptions
from edgecam.pipeline import Pipeline
from edgecam.vision.classifier import Classifier

FPS = 30.0
BUFFERS = 4


def draw(image: np.ndarray, result) -> np.ndarray:
    """What a camera example does with a prediction: write the top label on the frame."""
    out = image.copy()
    label = result.categories[0].label if result.categories else "-"
    cv2.putText(out, str(label), (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (0, 255, 0), 2)
    return out


def naive(clip: Path, model) -> dict:
    """The sequential loop on an emulated 30 fps camera; per-prediction ages and timings."""
    cap = cv2.VideoCapture(str(clip))
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    ages, shown, inference, work, nxt, dropped = [], [], [], [], 0, 0
    t0 = time.monotonic()
    while nxt < total:
        newest = int((time.monotonic() - t0) * FPS)  # frames the camera has delivered so far
        if nxt > newest:  # early: wait for the camera
            time.sleep(t0 + nxt / FPS - time.monotonic())
        elif nxt < newest - (BUFFERS - 1):  # late: the driver queue overwrote the oldest
            for _ in range(newest - (BUFFERS - 1) - nxt):
                cap.grab()
                dropped += 1
            nxt = newest - (BUFFERS - 1)
        ok, image = cap.read()
        if not ok:
            break
        delivered = t0 + nxt / FPS
        start = time.monotonic()
        result = model.classify(image, delivered, nxt)
        draw(image, result)
        now = time.monotonic()
        ages.append((now - delivered) * 1e3)
        shown.append(now)
        inference.append(result.timings.inference_ms)
        work.append((now - start) * 1e3)
        nxt += 1
    cap.release()
    # The emulated camera delivers exactly every 1/fps: each frame's interval is nominal.
    return figures(ages, shown, inference, dropped, total, work, [1e3 / FPS] * len(ages))


def pipelined(clip: Path, model) -> dict:
    """edgecam's Pipeline on the same clip and model, drawing in ``on_result``."""
    ages, shown, inference, work, indices, captured = [], [], [], [], [], []

    def on_result(result, frame) -> None:
        draw_start = time.monotonic()
        draw(frame.bgr, result)
        now = time.monotonic()
        ages.append((now - result.frame_timestamp) * 1e3)
        shown.append(now)
        inference.append(result.timings.inference_ms)
        work.append(result.timings.total_ms + (now - draw_start) * 1e3)
        indices.append(frame.index)

    pipeline = Pipeline(
        VideoFileSource(clip), model, on_result, lambda f: captured.append(f.timestamp)
    )
    pipeline.run()
    if pipeline.error is not None:
        raise SystemExit(str(pipeline.error))
    stats = pipeline.stats()
    gaps = np.diff(captured) * 1e3
    intervals = [float(gaps[i]) if i < len(gaps) else None for i in indices]
    return figures(
        ages, shown, inference, stats.frames_dropped, stats.frames_captured, work, intervals
    )


def figures(ages, shown, inference, dropped, frames, work, intervals) -> dict:
    """Throughput and age statistics of one run (``work``: classify + draw ms per result)."""
    bound = float(np.median(inference)) + 1e3 / FPS
    return {
        "results": len(ages),
        "frames": frames,
        "dropped": dropped,
        "results_per_s": (len(shown) - 1) / (shown[-1] - shown[0]),
        "inference_median_ms": float(np.median(inference)),
        "age_median_ms": float(np.median(ages)),
        "age_p90_ms": float(np.percentile(ages, 90)),
        "age_max_ms": float(max(ages)),
        "bound_ms": bound,
        "over_bound": sum(a > bound for a in ages),
        "own_bound": own_bound_check(ages, work, intervals),
        "ages_ms": [round(a, 3) for a in ages],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="clip length")
    parser.add_argument("--sleeps", type=int, nargs="+", default=[2, 20, 60], metavar="MS")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results here")
    args = parser.parse_args()
    clip = write_clip(CACHE / f"clip_640x480_30fps_{args.seconds:g}s.mp4", args.seconds, FPS)
    options = ClassifierOptions(model=FIXTURE_MODEL, delegate="cpu")
    results = []
    print(
        f"{'model':<34} {'loop':<9} {'res/s':>6} {'age med':>8} {'p90':>7} {'max':>7} {'bound':>7}"
        "  over nominal / own bound"
    )
    for ms in args.sleeps:
        with Classifier(options) as clf:
            model = EmulatedModel(clf, ms / 1e3)
            model.classify(np.zeros((480, 640, 3), np.uint8))  # untimed warm-up
            row = {"model": f"color_float32 + {ms} ms sleep (EMULATED)", "sleep_ms": ms}
            for name, fn in (("naive", naive), ("pipeline", pipelined)):
                row[name] = r = fn(clip, model)
                print(
                    f"{row['model']:<34} {name:<9} {r['results_per_s']:>6.2f} "
                    f"{r['age_median_ms']:>8.2f} {r['age_p90_ms']:>7.2f} {r['age_max_ms']:>7.2f} "
                    f"{r['bound_ms']:>7.2f}  {r['over_bound']} / {r['own_bound']['over_own_bound']}"
                )
        results.append(row)
    if args.json:
        report = {
            "clip": str(clip.relative_to(ROOT)),
            "fps": FPS,
            "buffers": BUFFERS,
            "results": results,
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
