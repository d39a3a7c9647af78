"""Headless mode: the live pipeline printing predictions and periodic stats, no display needed."""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import TextIO

from edgecam.capture.sources import Frame, FrameSource
from edgecam.pipeline import Pipeline, PipelineStats
from edgecam.vision.types import Classification


def format_prediction(result: Classification, frame: Frame) -> str:
    """One human-readable line for a classified frame."""
    top, rest = result.top, result.categories[1:]
    others = ", ".join(f"{c.label} {c.score:.1%}" for c in rest)
    return (
        f"frame {frame.index:>5}  {top.label} {top.score:.1%}"
        + (f"  ({others})" if others else "")
        + f"  {result.timings.total_ms:.1f} ms"
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


def run_headless(
    source: FrameSource,
    classifier,
    *,
    max_results: int | None = None,
    as_json: bool = False,
    stats_every_s: float = 2.0,
    out: TextIO = sys.stdout,
) -> Pipeline:
    """Run the pipeline until the source ends, ``max_results`` or Ctrl-C; return it finished.

    Predictions go to ``out`` as they come (JSON lines with ``as_json``), and a stats line every
    ``stats_every_s`` seconds and once at the end. The caller checks ``pipeline.error``.
    """
    write_lock = threading.Lock()

    def emit(text: str) -> None:
        with write_lock:
            out.write(text + "\n")
            out.flush()

    def on_result(result: Classification, frame: Frame) -> None:
        if as_json:
            emit(
                json.dumps({"frame": frame.index, "source": source.description, **result.to_dict()})
            )
        else:
            emit(format_prediction(result, frame))

    def emit_stats(stats: PipelineStats, final: bool = False) -> None:
        if as_json:
            emit(json.dumps({"stats": stats_dict(stats), "final": final}))
        else:
            emit(format_stats(stats).replace("[stats]", "[final]" if final else "[stats]"))

    pipeline = Pipeline(source, classifier, on_result=on_result, max_results=max_results)
    pipeline.start()
    next_stats = time.monotonic() + stats_every_s
    try:
        while not pipeline.join(timeout=0.1):
            if stats_every_s > 0 and time.monotonic() >= next_stats:
                emit_stats(pipeline.stats())
                next_stats += stats_every_s
    except KeyboardInterrupt:
        pipeline.stop()
        pipeline.join(timeout=2.0)
    emit_stats(pipeline.stats(), final=True)
    return pipeline
