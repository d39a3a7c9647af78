"""The benchmark scripts still run and the report still renders (tiny models, a few calls)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FIXTURES, HAS_LITERT, REPO

ROOT = REPO
BENCHMARKS = ROOT / "benchmarks"
DEFAULT_MODEL = ROOT / "assets" / "models" / "default" / "model.tflite"

pytestmark = [
    pytest.mark.full,
    pytest.mark.skipif(not HAS_LITERT, reason="the benchmarks use ai-edge-litert"),
]


@pytest.fixture
def benchmarks_on_path(monkeypatch):
    """The scripts import each other as top-level modules, as when run from benchmarks/."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))


@pytest.fixture(scope="module")
def overhead_json(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("overhead") / "overhead.json"
    argv = [sys.executable, str(BENCHMARKS / "overhead.py"), "--models", str(DEFAULT_MODEL)]
    argv += [str(FIXTURES / "color_float32.tflite"), "--threads", "1", "--rounds", "2"]
    argv += ["--block", "5", "--warmup", "2", "--json", str(out)]
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(out.read_text())


def test_overhead_measures_every_model(overhead_json):
    results = overhead_json["results"]
    assert [Path(r["model"]).name for r in results] == ["model.tflite", "color_float32.tflite"]
    gray, colour = results
    assert not gray["colour"] and colour["colour"]  # only colour models get a bare+rgb loop
    assert gray["bare_rgb_median_ms"] == gray["bare_median_ms"]
    for r in results:
        assert r["iterations_each"] == 10
        for key in ("bare_median_ms", "example_median_ms", "classify_median_ms"):
            assert 0 < r[key] < 100
        assert math.isfinite(r["overhead_pct"])
        assert list(r["invoke_median_ms_after_gap"]) == ["0us", "10us", "50us"]
        stages = r["classify_stage_median_ms"]
        assert stages["inference"] > 0 and stages["preprocess"] > 0


def test_overhead_section_renders_and_judges(overhead_json, benchmarks_on_path):
    import report

    text = "\n".join(report.overhead_section(overhead_json))
    assert "| `default model` | 1 |" in text
    assert "| `color_float32.tflite` | 1 |" in text
    verdicts = text.count("| met |") + text.count("| **not met** |")
    assert verdicts == 2  # one verdict per model and thread count


def test_own_bound_check(benchmarks_on_path):
    from latency import HANDOVER_TOLERANCE_MS, own_bound_check

    # Against work 20 + interval 33.3: 50 is within, 53.3 + half the tolerance is within the
    # hand-over allowance only, 80 is over; the last frame (no interval) is left out.
    ages = [50.0, 53.3 + HANDOVER_TOLERANCE_MS / 2, 80.0, 500.0]
    checked = own_bound_check(ages, [20.0] * 4, [33.3, 33.3, 33.3, None])
    assert checked["checked"] == 3
    assert checked["over_own_bound"] == 1
    assert checked["over_own_bound_strict"] == 2
    assert checked["max_excess_over_own_bound_ms"] == pytest.approx(80 - 53.3)


def test_age_verdict_wording(benchmarks_on_path):
    import report

    assert report.age_verdict({"checked": 9, "over_own_bound": 0}).startswith("met")
    assert "not met" in report.age_verdict({"checked": 9, "over_own_bound": 2})
    allowed = {"checked": 9, "over_own_bound": 0, "over_own_bound_strict": 1, "tolerance_ms": 0.1}
    assert report.age_verdict(allowed) == (
        "met (0 of 9 over their own bound; 1 within 100 µs over it, the capture hand-over)"
    )
