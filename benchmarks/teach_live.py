"""The window's teach mode on a clip: captures per class needed, and "Teach" to live prediction.

    .venv/bin/python benchmarks/teach_live.py \
        [--embedder ../shared/models/mobilenet_v1_1.0_224_quant_embedding_extractor.tflite]

Writes a clip (mp4v, 320x240, 30 fps) of a fixed cluttered "room" in front of which one object
is held at a time (a circle, then a star, then a cross) for 8 s each while it moves, turns,
grows and shrinks under a slowly changing light, with sensor noise; two clips: "distinct"
objects (a red ball, a yellow star, a blue cross: objects that differ as a mug and keys do) and
"shape" objects (all the same green: only the shape tells them apart). Then, for each clip:

* **captures needed**: for N = 1, 2, 3, 5, 7, 10, 15, 20, the first N frames of each object as
  the window captures them (5 a second from the object's first frame: every 6th frame, all
  within the first half of its segment) teach the head (edgecam.gui.teaching, the window's own
  code: no validation split), and the bundle it exports classifies, through edgecam's
  Classifier, the frames of the second half of each segment (which the captures never saw;
  every other frame, 180 in all). The smallest N at 95% or more is reported.
* **Teach to live** (on the first clip): the real window (offscreen Qt) plays the clip with the
  bundled model; its teach panel holds 5 captures per class; the seconds from clicking Teach
  to the first prediction of the taught model in the window's predictions panel, then again
  after 5 more captures per class (only those are embedded: the rest come from the panel's
  cache).

Skips with a message when the embedder is missing. Prints a Markdown table and, with --json,
the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from teach_data import _polygon  # noqa: E402

SHARED = REPO.parent / "shared" / "models" / "mobilenet_v1_1.0_224_quant_embedding_extractor.tflite"
KINDS = ("circle", "star", "cross")
SIZE = (320, 240)
FPS = 30
SEGMENT = 8 * FPS  # frames per object
CAPTURE_EVERY = FPS // 5  # the window's 5 captures a second
#: BGR colour of each object per clip: "distinct" objects differ in colour and shape (a red
#: ball, a yellow star, a blue cross), "shape" objects are all the same green.
COLORS = {
    "distinct": {"circle": (40, 40, 210), "star": (30, 200, 230), "cross": (200, 90, 30)},
    "shape": dict.fromkeys(KINDS, (60, 140, 40)),
}
COUNTS = (1, 2, 3, 5, 7, 10, 15, 20)


def _room(rng: np.random.Generator) -> np.ndarray:
    """A fixed cluttered background (shelves, posters, a lamp): the same in every frame."""
    w, h = SIZE
    image = np.empty((h, w, 3), np.uint8)
    image[:] = (170, 180, 190)
    for _ in range(14):
        color = tuple(int(c) for c in rng.integers(30, 230, 3))
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        x1, y1 = x0 + int(rng.integers(20, 120)), y0 + int(rng.integers(10, 90))
        cv2.rectangle(image, (x0, y0), (x1, y1), color, -1)
    for _ in range(6):
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        pts = [(int(rng.integers(0, w)), int(rng.integers(0, h))) for _ in range(2)]
        cv2.line(image, pts[0], pts[1], color, int(rng.integers(2, 6)))
    return image


def frame(
    room: np.ndarray, kind: str, t: float, rng: np.random.Generator, color: tuple, noise: float
) -> np.ndarray:
    """The object ``kind`` at ``t`` (0..1 through its segment) in front of ``room``."""
    w, h = SIZE
    image = room.copy()
    cx = w / 2 + 0.28 * w * np.sin(2 * np.pi * (t + 0.1 * KINDS.index(kind)))
    cy = h / 2 + 0.18 * h * np.sin(4 * np.pi * t)
    r = 38 + 18 * np.sin(3 * np.pi * t)
    angle = 2.5 * np.pi * t
    if kind == "circle":
        cv2.circle(image, (int(cx), int(cy)), int(r), color, -1, cv2.LINE_AA)
        highlight = tuple(min(255, c + 80) for c in color)
        cv2.circle(image, (int(cx - r / 3), int(cy - r / 3)), int(r / 5), highlight, -1)
    else:
        cv2.fillPoly(image, [_polygon(kind, cx, cy, r, angle)], color, cv2.LINE_AA)
    light = 0.85 + 0.3 * (0.5 + 0.5 * np.sin(2 * np.pi * (t + 0.3)))
    noisy = image * light + rng.normal(0, noise, image.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def write_clip(path: Path, colors: str = "distinct", seed: int = 0, noise: float = 6.0) -> Path:
    """The three objects one after the other, SEGMENT frames each (``colors``: a COLORS key;
    ``noise``: the sensor noise's standard deviation, in pixel levels)."""
    rng = np.random.default_rng(seed)
    room = _room(rng)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, SIZE)
    if not writer.isOpened():
        raise SystemExit("OpenCV cannot write mp4v here")
    for kind in KINDS:
        for i in range(SEGMENT):
            writer.write(frame(room, kind, i / SEGMENT, rng, COLORS[colors][kind], noise))
    writer.release()
    return path


def decoded(path: Path) -> list[np.ndarray]:
    """Every frame of the clip as the app reads it (edgecam's video source, unpaced)."""
    from edgecam.capture.sources import VideoFileSource

    source = VideoFileSource(path, loop=False, pace=False).open()
    frames = []
    try:
        while (f := source.read()) is not None:
            frames.append(f.bgr)
    finally:
        source.close()
    return frames


def captures_needed(embedder: Path, frames: list[np.ndarray]) -> list[dict]:
    from edgecam.config import ClassifierOptions
    from edgecam.gui.teaching import TeachSession
    from edgecam.vision.classifier import Classifier

    half = SEGMENT // 2
    test = [
        (k, frames[s * SEGMENT + i])
        for s, k in enumerate(KINDS)
        for i in range(half, SEGMENT, 2)  # every other frame: neighbours are near twins
    ]
    rows = []
    session = TeachSession()
    try:
        for n in COUNTS:
            classes = [
                (k, [frames[s * SEGMENT + i * CAPTURE_EVERY] for i in range(n)])
                for s, k in enumerate(KINDS)
            ]
            taught = session.teach(embedder, classes, key=("n", n)).result()
            options = ClassifierOptions(model=taught.bundle, delegate="cpu", top_k=1)
            with Classifier(options) as clf:
                right = sum(clf.classify(image).top.label == k for k, image in test)
            rows.append(
                {
                    "captures_per_class": n,
                    "accuracy": right / len(test),
                    "test_frames": len(test),
                    "teach_s": taught.seconds,
                }
            )
            print(f"  {n:>2} captures per class: {100 * right / len(test):5.1f}%", flush=True)
    finally:
        session.close()
    return rows


def teach_to_live(embedder: Path, clip: Path, frames: list[np.ndarray]) -> list[dict]:
    """Seconds from clicking Teach to the window showing a taught label (twice)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PyQt6.QtCore import QSettings, Qt
    from PyQt6.QtTest import QTest
    from PyQt6.QtWidgets import QApplication

    from edgecam.config import ClassifierOptions
    from edgecam.defaults import bundled_model
    from edgecam.gui.session import QtSession
    from edgecam.gui.settings import Settings
    from edgecam.gui.window import MainWindow
    from edgecam.live import LiveSession
    from edgecam.vision.classifier import Classifier

    app = QApplication.instance() or QApplication(["edgecam-bench"])
    work = Path(tempfile.mkdtemp(prefix="edgecam-teach-live-"))
    settings = Settings(QSettings(str(work / "settings.ini"), QSettings.Format.IniFormat))
    model = bundled_model()
    options = ClassifierOptions(model=model, delegate="cpu", top_k=3)
    live = LiveSession(Classifier(options), loop_files=True)
    window = MainWindow(QtSession(live), options, settings, work)
    window.resize(1100, 700)
    window.show()
    window.open_source(str(clip))
    panel = window.show_teach(True).panel
    panel.set_embedder(embedder)
    for kind in KINDS:
        panel.captures.add_class(kind)
    panel.box.refresh()

    def wait(predicate, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise SystemExit("timed out waiting for the window")
            app.processEvents()
            time.sleep(0.001)

    wait(lambda: window.predictions.top_label.text() not in ("—", ""), 30)
    rows = []
    for round_, (start, stop) in enumerate(((0, 5), (5, 10))):
        for s, kind in enumerate(KINDS):
            for i in range(start, stop):
                panel.captures.add(kind, frames[s * SEGMENT + i * CAPTURE_EVERY])
        panel.box.refresh()
        before = window.session.classifier
        t0 = time.perf_counter()
        QTest.mouseClick(panel.teach_button, Qt.MouseButton.LeftButton)
        wait(lambda b=before: window.session.classifier is not b, 60)
        # The first result of the taught model reaches the predictions panel.
        wait(lambda: _shows_taught(window), 60)
        seconds = time.perf_counter() - t0
        rows.append(
            {
                "round": round_ + 1,
                "captures_per_class": stop,
                "new_captures_embedded": (stop - start) * len(KINDS),
                "teach_to_live_s": seconds,
                "fit_and_export_s": panel.last.seconds,
            }
        )
        print(f"  Teach with {stop} captures per class: {seconds:.2f} s to live", flush=True)
    window.close()
    return rows


def _shows_taught(window) -> bool:
    """The predictions panel (updated by the window's own slot) lists a taught class first."""
    rows = window.predictions.rows
    return bool(rows) and rows[0][0].text().split("  ")[0] in KINDS


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embedder", type=Path, default=SHARED)
    parser.add_argument("--clips", nargs="+", choices=sorted(COLORS), default=["distinct", "shape"])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not args.embedder.exists():
        print(f"skipped: no embedder at {args.embedder} (give --embedder)")
        return 0
    work = Path(tempfile.mkdtemp(prefix="edgecam-teach-live-"))
    results: dict[str, dict] = {}
    for colors in args.clips:
        clip = write_clip(work / f"{colors}.mp4", colors)
        frames = decoded(clip)
        print(f"{colors} clip: {clip} ({len(frames)} frames, {len(KINDS)} objects x {SEGMENT})")
        results[colors] = {"captures_needed": captures_needed(args.embedder, frames)}
        if colors == args.clips[0]:
            results[colors]["teach_to_live"] = teach_to_live(args.embedder, clip, frames)
    print()
    print(
        "| captures per class | "
        + " | ".join(f"{c} objects: accuracy (fit + export s)" for c in results)
        + " |"
    )
    print("|---:|" + "---:|" * len(results))
    for i, n in enumerate(COUNTS):
        cells = [
            f"{100 * r['captures_needed'][i]['accuracy']:.1f}% "
            f"({r['captures_needed'][i]['teach_s']:.2f})"
            for r in results.values()
        ]
        print(f"| {n} | " + " | ".join(cells) + " |")
    tests = results[args.clips[0]]["captures_needed"][0]["test_frames"]
    print(f"\n(accuracy on {tests} frames of the second halves, which no capture saw)")
    for colors, r in results.items():
        enough = [x["captures_per_class"] for x in r["captures_needed"] if x["accuracy"] >= 0.95]
        needed = enough[0] if enough else "not reached"
        print(f"{colors} objects: captures per class for 95%: {needed}")
    print()
    print(
        "| Teach with | new captures embedded | fit + export (s) | Teach to live prediction (s) |"
    )
    print("|---|---:|---:|---:|")
    for r in results[args.clips[0]]["teach_to_live"]:
        print(
            f"| {r['captures_per_class']} per class | {r['new_captures_embedded']} | "
            f"{r['fit_and_export_s']:.2f} | {r['teach_to_live_s']:.2f} |"
        )
    if args.json:
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
