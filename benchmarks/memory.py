"""Resident memory over a long run: RSS after 500 and after 10,000 frames (a leak check).

    .venv/bin/python benchmarks/memory.py [--frames 10000] [--json out.json]

Two cases, each in a fresh process of this interpreter so that they share no memory:

- headless: ``Pipeline(VideoFileSource(clip, loop=True, pace=False), Classifier(fixture))``;
- gui: a ``MainWindow`` (``QT_QPA_PLATFORM=offscreen``) around a ``LiveSession`` running the
  same source and model, with the Qt event loop running (frames painted, results shown, the
  stats timer) until the source has delivered the frames.

The source is a 10 s 640x480 mp4v clip (models.write_clip) looped without pacing, so frames
come as fast as they decode; the model is the committed colour fixture (float32). RSS is VmRSS
from /proc/self/status, read by the main thread, which polls the pipeline's count of captured
frames every 5 ms; each sample records the count it was taken at. Target: RSS after 10,000
frames at most 5 MB (5,000,000 bytes) above RSS after 500.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from models import CACHE, FIXTURE_MODEL, ROOT, write_clip

from edgecam.capture.sources import VideoFileSource
from edgecam.config import ClassifierOptions
from edgecam.pipeline import Pipeline
from edgecam.vision.classifier import Classifier

FIRST = 500
TARGET_BYTES = 5_000_000
OPTIONS = ClassifierOptions(model=FIXTURE_MODEL, delegate="cpu", top_k=3)


def proc_status_kib(field: str) -> int:
    """A ``kB`` field of /proc/self/status (VmRSS, VmHWM), in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise OSError(f"no {field} in /proc/self/status")


class Sampler:
    """Takes an RSS sample the first time the frame count reaches each mark."""

    def __init__(self, marks: list[int]) -> None:
        self.marks = sorted(marks)
        self.samples: list[dict] = []
        self.t0 = time.perf_counter()

    def poll(self, frames: int) -> bool:
        """Sample every mark ``frames`` has reached; True once the last mark is done."""
        while self.marks and frames >= self.marks[0]:
            self.samples.append(
                {
                    "mark": self.marks.pop(0),
                    "frames": frames,
                    "rss_kib": proc_status_kib("VmRSS"),
                    "seconds": time.perf_counter() - self.t0,
                }
            )
        return not self.marks


def run_headless(clip: Path, marks: list[int]) -> dict:
    """The Pipeline alone, polled from this (main) thread."""
    with Classifier(OPTIONS) as clf:
        start_kib = proc_status_kib("VmRSS")
        pipeline = Pipeline(VideoFileSource(clip, loop=True, pace=False), clf).start()
        sampler = Sampler(marks)
        while not sampler.poll(pipeline.stats().frames_captured):
            if not pipeline.running:
                raise SystemExit(f"the pipeline stopped early: {pipeline.error}")
            time.sleep(0.005)
        pipeline.stop()
        pipeline.join(timeout=5.0)
        stats = pipeline.stats()
    return {"start_rss_kib": start_kib, "samples": sampler.samples, "stats": vars(stats)}


def run_gui(clip: Path, marks: list[int]) -> dict:
    """A MainWindow offscreen, polled by a 5 ms QTimer in the GUI thread."""
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PyQt6.QtCore import QEventLoop, QSettings, QTimer
    from PyQt6.QtWidgets import QApplication

    from edgecam.gui.session import QtSession
    from edgecam.gui.settings import Settings
    from edgecam.gui.window import MainWindow
    from edgecam.live import LiveSession

    app = QApplication([sys.argv[0]])
    with tempfile.TemporaryDirectory() as tmp:
        ini = QSettings(str(Path(tmp) / "settings.ini"), QSettings.Format.IniFormat)
        live = LiveSession(Classifier(OPTIONS), loop_files=True)
        session = QtSession(live)
        window = MainWindow(session, OPTIONS, Settings(ini), Path(tmp) / "snaps")
        window.resize(800, 500)
        window.show()
        shown = {"frames": 0, "results": 0}
        session.frame_ready.connect(lambda: shown.update(frames=shown["frames"] + 1))
        session.result_ready.connect(lambda: shown.update(results=shown["results"] + 1))
        app.processEvents()
        start_kib = proc_status_kib("VmRSS")
        sampler, failed, loop = Sampler(marks), [], QEventLoop()

        def check() -> None:
            # A local loop: app.quit() would close the window (and stop the session) first.
            if sampler.poll(live.stats().frames_captured):
                loop.quit()
            elif not live.running:
                failed.append(str(live.error))
                loop.quit()

        timer = QTimer()
        timer.timeout.connect(check)
        live.start(VideoFileSource(clip, loop=True, pace=False))
        timer.start(5)
        loop.exec()
        timer.stop()
        stats = live.stats()
        display_fps = window.view.display_fps()
        window.close()
    if failed:
        raise SystemExit(f"the pipeline stopped early: {failed[0]}")
    return {
        "start_rss_kib": start_kib,
        "samples": sampler.samples,
        "stats": vars(stats),
        "gui_frame_signals": shown["frames"],
        "gui_result_signals": shown["results"],
        "display_fps_last_60_paints": display_fps,
    }


CASES = {"headless": run_headless, "gui": run_gui}


def run_case(case: str, clip: Path, frames: int) -> dict:
    """Run one case in a fresh process; return what it reported."""
    argv = [sys.executable, __file__, "--child", case, "--clip", str(clip), "--frames", str(frames)]
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"{case} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    by_mark = {s["mark"]: s for s in res["samples"]}
    first, last = by_mark[FIRST], by_mark[frames]
    growth = (last["rss_kib"] - first["rss_kib"]) * 1024
    return res | {
        "case": case,
        "rss_first_kib": first["rss_kib"],
        "rss_last_kib": last["rss_kib"],
        "growth_bytes": growth,
        "met": growth <= TARGET_BYTES,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results here")
    parser.add_argument("--child", choices=sorted(CASES), help=argparse.SUPPRESS)
    parser.add_argument("--clip", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    marks = sorted({FIRST, *range(1000, args.frames + 1, 1000), args.frames})
    if args.child:
        res = CASES[args.child](args.clip, marks)
        print(json.dumps(res | {"peak_rss_kib": proc_status_kib("VmHWM")}))
        return 0

    clip = write_clip(CACHE / "clip_640x480_30fps_10s.mp4", 10.0)
    print(f"{clip.name} looped, unpaced; model {FIXTURE_MODEL.name}; RSS in MiB")
    print(f"{'case':<9} {'start':>7} {'@' + str(FIRST):>8} {'@' + str(args.frames):>8} ", end="")
    print(f"{'growth':>8} {'peak':>7} {'seconds':>8}  target (growth <= 5 MB)")
    results = []
    for case in CASES:
        res = run_case(case, clip, args.frames)
        results.append(res)
        mib = [res[k] / 1024 for k in ("start_rss_kib", "rss_first_kib", "rss_last_kib")]
        print(
            f"{case:<9} {mib[0]:>7.1f} {mib[1]:>8.1f} {mib[2]:>8.1f} "
            f"{res['growth_bytes'] / 2**20:>+8.2f} {res['peak_rss_kib'] / 1024:>7.1f} "
            f"{res['samples'][-1]['seconds']:>8.1f}  {'met' if res['met'] else 'MISSED'}"
        )
    if args.json:
        report = {
            "clip": str(clip.relative_to(ROOT)),
            "model": str(FIXTURE_MODEL.relative_to(ROOT)),
            "frames": args.frames,
            "first": FIRST,
            "target_bytes": TARGET_BYTES,
            "results": results,
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
