"""Plain result types shared by the classifier, the pipeline, the CLI and the GUI."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

# Category and Timings are NamedTuples: immutable like frozen dataclasses, but built about twice
# as fast, and classify builds k + 1 of them per frame.


class Category(NamedTuple):
    """One prediction: class index, label and probability."""

    index: int
    label: str
    score: float


class Timings(NamedTuple):
    """Milliseconds spent in each stage of one classification."""

    preprocess_ms: float
    inference_ms: float
    postprocess_ms: float

    @property
    def total_ms(self) -> float:
        return self.preprocess_ms + self.inference_ms + self.postprocess_ms


@dataclass(frozen=True)
class Classification:
    """The result for one image or frame.

    Attributes:
        categories: top-k, best first.
        timings: per-stage milliseconds.
        frame_timestamp: ``time.monotonic()`` when the frame was captured (None for files).
        frame_index: the frame's number in its source (None for files).
    """

    categories: tuple[Category, ...]
    timings: Timings
    frame_timestamp: float | None = None
    frame_index: int | None = None

    @property
    def top(self) -> Category:
        return self.categories[0]

    def to_dict(self) -> dict:
        """JSON-ready form: ``predictions`` best first and ``latency_ms``."""
        return {
            "predictions": [c._asdict() for c in self.categories],
            "latency_ms": round(self.timings.total_ms, 3),
            "timings_ms": {k: round(v, 3) for k, v in self.timings._asdict().items()},
        }
