"""Size, CPU latency and accuracy of each export mode: the default model and MobileNetV2.

    .venv/bin/python benchmarks/quantization.py [--train-python .venv-train/bin/python]
        [--json out.json]

The default model: each mode is exported (once; cached) from the trained run ``.runs/default``
by ``edgecam export --run .runs/default --out .bench-cache/quant/<mode> --mode <mode>
--no-edgetpu --max-drop 100`` (``--train-python``'s environment, TensorFlow); size, TFLite
accuracy on the Fashion-MNIST test set and the export's own CPU latency come from each bundle's
``model.json``. MobileNetV2-style models at 224 px (alpha 1.0) and 96 px (alpha 0.35), random
weights (no accuracy), are built by ``models.py --all``. Every model is also timed here, in one
process, with ai-edge-litert (``set_tensor`` + ``invoke`` + ``get_tensor``, 1 thread, median of
rounds of calls, the modes alternating round by round), so the modes' ratios come from one run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from models import CACHE, MODES, ROOT, mobilenet_v2_path
from runtimes import interpreter_class, time_model

from edgecam.bundle import BUNDLE_SPEC, BundleSpec

RUN = ROOT / ".runs" / "default"
QUANT = CACHE / "quant"


def export(train_python: str, mode: str) -> Path:
    """The default model's bundle in ``mode``, exported if it is not cached."""
    out = QUANT / mode
    if not (out / BUNDLE_SPEC).exists():
        argv = [str(Path(train_python).parent / "edgecam"), "export", "--run", str(RUN)]
        argv += ["--out", str(out), "--mode", mode, "--no-edgetpu", "--max-drop", "100"]
        print("+", " ".join(argv), file=sys.stderr, flush=True)
        subprocess.run(argv, check=True, cwd=ROOT)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-python", default=str(ROOT / ".venv-train" / "bin" / "python"))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=20, help="timed calls per model per round")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results here")
    args = parser.parse_args()

    rows = []
    for mode in MODES:
        m = BundleSpec.load(export(args.train_python, mode) / BUNDLE_SPEC).metrics
        rows.append(
            {
                "family": "default (Fashion-MNIST, 28x28x1)",
                "mode": mode,
                "path": QUANT / mode / "model.tflite",
                "tflite_accuracy": m.tflite_accuracy,
                "float_accuracy": m.float_accuracy,
                "test_samples": m.test_samples,
                "export_cpu_latency_ms": m.cpu_latency_ms,
            }
        )
    for size, alpha in ((96, 0.35), (224, 1.0)):
        for mode in MODES:
            path = mobilenet_v2_path(mode, size, alpha)
            if path.exists():
                rows.append(
                    {"family": f"MobileNetV2 {size} px alpha {alpha:g}", "mode": mode, "path": path}
                )
            else:
                print(f"{path.name} not built (models.py --all): skipped", file=sys.stderr)

    cls, _ = interpreter_class("ai-edge-litert")
    times: dict[int, list[float]] = {i: [] for i in range(len(rows))}
    for r in range(args.rounds):
        order = list(range(len(rows)))
        for i in order[r % len(order) :] + order[: r % len(order)]:
            res = time_model(cls, rows[i]["path"], args.threads, args.calls, warmup=3)
            times[i] += res.get("times_ms", [])
            rows[i]["error"] = res.get("error")
    for i, row in enumerate(rows):
        row["size_bytes"] = row["path"].stat().st_size
        row["latency_median_ms"] = float(np.median(times[i])) if times[i] else None
        row["path"] = str(row["path"].relative_to(ROOT))
        acc = row.get("tflite_accuracy")
        print(
            f"{row['family']:<34} {row['mode']:<8} {row['size_bytes'] / 1024:>9.1f} KiB "
            f"{row['latency_median_ms'] or float('nan'):>8.3f} ms  "
            + (f"acc {acc:.4f}" if acc is not None else "")
        )
    if args.json:
        report = {"rounds": args.rounds, "calls": args.calls, "threads": args.threads}
        args.json.write_text(json.dumps(report | {"results": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
