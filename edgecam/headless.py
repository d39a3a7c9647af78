"""Headless mode: the live session printing predictions and periodic stats, no display needed."""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

from edgecam.capture.sources import Frame
from edgecam.defaults import PRINT_MODES, STATS_EVERY_S
from edgecam.errors import EXIT_INTERRUPTED
from edgecam.live import LiveListener, LiveSession
from edgecam.pipeline import PipelineStats
from edgecam.vision.types import Classification

log = logging.getLogger(__name__)

#: The top-1 name "changes" mode gives a result below the threshold.
UNCERTAIN = "uncertain"


def format_prediction(result: Classification, frame: Frame) -> str:
    """One human-readable line for a classified frame."""
    top, rest = result.top, result.categories[1:]
    others = ", ".join(f"{c.label} {c.score:.1%}" for c in rest)
    return (
        f"frame {frame.index:>5}  {top.label} {top.score:.1%}"
        + (f"  ({others})" if others else "")
        + f"  {result.timings.total_ms:.1f} ms"
        + (f"  {frame.origin}" if frame.origin else "")
    )


def format_stats(stats: PipelineStats) -> str:
    return (
        f"[stats] capture {stats.capture_fps:.1f} fps, inference {stats.inference_fps:.1f} fps, "
        f"invoke {stats.inference_ms:.1f} ms, result age {stats.result_age_ms:.0f} ms, "
        f"{stats.frames_classified}/{stats.frames_captured} frames classified, "
        f"{stats.frames_dropped} dropped, {stats.frames_skipped} skipped"
    )


def stats_dict(stats: PipelineStats) -> dict:
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in vars(stats).items()}


class TerminalPrinter(LiveListener):
    """Writes results (JSON lines with ``as_json``) to ``out``: each one, or with ``mode``
    "changes" those whose top-1 differs from the last printed (below ``threshold`` it counts as
    "uncertain", so a flicker between two weak guesses prints nothing), or none."""

    def __init__(
        self,
        session: LiveSession,
        out: TextIO,
        as_json: bool,
        mode: str = "every",
        threshold: float = 0.0,
    ) -> None:
        if mode not in PRINT_MODES:
            raise ValueError(f"print mode {mode!r} is not one of {PRINT_MODES}")
        self.session = session
        self.out = out
        self.as_json = as_json
        self.mode = mode
        self.threshold = threshold
        self._last: str | None = None  # the top-1 last printed in "changes" mode
        self._write_lock = threading.Lock()

    def emit(self, text: str) -> None:
        with self._write_lock:
            self.out.write(text + "\n")
            self.out.flush()

    def result(self, result: Classification, frame: Frame) -> None:
        if self.mode == "none" or (self.mode == "changes" and not self._changed(result)):
            return
        uncertain = self.mode == "changes" and self._last == UNCERTAIN
        if self.as_json:
            record = {"frame": frame.index, "source": self._source_name()}
            if frame.origin:
                record["image"] = frame.origin
            self.emit(json.dumps({**record, **result.to_dict()}))
        else:
            line = format_prediction(result, frame)
            if uncertain:
                head = f"frame {frame.index:>5}  "
                line = f"{head}{UNCERTAIN}: {line[len(head) :]}"
            self.emit(line)

    def _changed(self, result: Classification) -> bool:
        top = result.top
        name = top.label if top.score >= self.threshold else UNCERTAIN
        with self._write_lock:
            changed, self._last = name != self._last, name
        return changed

    def status(self, text: str) -> None:
        log.warning("%s", text)

    def emit_stats(self, stats: PipelineStats | None, final: bool = False) -> None:
        if stats is None:
            return
        if self.as_json:
            self.emit(json.dumps({"stats": stats_dict(stats), "final": final}))
        else:
            self.emit(format_stats(stats).replace("[stats]", "[final]" if final else "[stats]"))

    def _source_name(self) -> str:
        source = self.session.source
        return source.description if source is not None else (self.session.source_spec or "")


def run_headless(
    session: LiveSession,
    start: Callable[[], str],
    *,
    as_json: bool = False,
    stats_every_s: float = STATS_EVERY_S,
    out: TextIO = sys.stdout,
    print_mode: str = "every",
    threshold: float = 0.0,
) -> int:
    """Start ``session`` with ``start()`` and print its results until its source ends or fails
    for good, or Ctrl-C.

    ``start`` opens the source and returns its description; it runs once the printer listens,
    so no result is missed. Predictions go to ``out`` as they come (JSON lines with
    ``as_json``; which ones: ``print_mode``, see :class:`TerminalPrinter`), a stats line every
    ``stats_every_s`` seconds and once at the end. Returns 0,
    or :data:`EXIT_INTERRUPTED` after Ctrl-C; the caller checks ``session.error``.
    """
    printer = TerminalPrinter(session, out, as_json, print_mode, threshold)
    session.add_listener(printer)
    status = 0
    try:
        description = start()
        if not as_json:
            clf = session.classifier
            print(
                f"edgecam: {clf.name} on {clf.delegate} ({clf.runtime}), source {description}",
                file=sys.stderr,
                flush=True,
            )
        next_stats = time.monotonic() + stats_every_s
        while not session.wait(timeout=0.1):
            if stats_every_s > 0 and time.monotonic() >= next_stats:
                printer.emit_stats(session.stats())
                next_stats += stats_every_s
    except KeyboardInterrupt:
        status = EXIT_INTERRUPTED
        session.stop()
    finally:
        session.remove_listener(printer)
    printer.emit_stats(session.stats(), final=True)
    return status
