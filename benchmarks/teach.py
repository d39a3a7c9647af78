"""edgecam teach on the cluttered 4-class shapes folder: accuracy, fit time, the head's latency.

    .venv/bin/python benchmarks/teach.py \
        --embedder ../shared/models/mobilenet_v1_1.0_224_quant_embedding_extractor.tflite

Generates (benchmarks/teach_data.py) a training folder of 50 images per class and a test folder
of 50 unseen images per class (another seed), then:

* accuracy on the 200 test images after teaching on the first 5, 10, 25 and 50 images of each
  class (no validation split: every image teaches);
* the time to embed the 200 training images, and the time ``Teacher.fit`` takes on them
  (300 softmax-regression steps, the default);
* the latency of the embedder alone against the exported bundle's model (embedder + head), both
  through edgecam's engine on 1 CPU thread, medians of interleaved runs.

Prints a Markdown table (docs/TRAINING.md, "Teach") and, with --json, the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from teach_data import CLASSES, write_folder

from edgecam.bundle import resolve_model
from edgecam.config import Delegate
from edgecam.runtime.engine import EngineOptions, open_engine
from edgecam.teach import Teacher, TeachOptions
from edgecam.teach.embedder import OUTPUT_NAME, head_graph, read_embedder
from edgecam.teach.graph import rebuild
from edgecam.vision.classifier import read_image


def _latency(models: dict[str, Path], runs: int) -> dict[str, float]:
    engines = {
        name: open_engine(resolve_model(path), EngineOptions(delegate=Delegate.CPU, threads=1))
        for name, path in models.items()
    }
    rng = np.random.default_rng(0)
    times: dict[str, list[float]] = {name: [] for name in engines}
    try:
        for engine in engines.values():
            x = rng.integers(0, 256, engine.inputs[0].shape).astype(engine.inputs[0].dtype)
            for _ in range(5):
                engine.run(x)
        for _ in range(runs):
            for name, engine in engines.items():  # interleaved: drift hits both alike
                x = rng.integers(0, 256, engine.inputs[0].shape).astype(engine.inputs[0].dtype)
                t0 = time.perf_counter()
                engine.run(x)
                times[name].append((time.perf_counter() - t0) * 1e3)
    finally:
        for engine in engines.values():
            engine.close()
    return {name: float(np.median(t)) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embedder", type=Path, required=True)
    parser.add_argument("--work", type=Path, help="folder for the data and bundles (default: temp)")
    parser.add_argument("--threads", type=int, default=2, help="embedder threads while teaching")
    parser.add_argument("--runs", type=int, default=200, help="latency runs per model")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    work = args.work or Path(tempfile.mkdtemp(prefix="edgecam-teach-bench-"))
    train_dir, test_dir = work / "train", work / "test"
    if not train_dir.exists():
        write_folder(train_dir, 50, seed=0)
        write_folder(test_dir, 50, seed=1)
    test = [(read_image(p), CLASSES.index(p.parent.name)) for p in sorted(test_dir.rglob("*.png"))]
    cache = work / "cache"
    results: dict = {"embedder": args.embedder.name, "cpu_count": os.cpu_count()}

    # Embedding time: a fresh cache, all 200 training images.
    with Teacher(args.embedder, TeachOptions(threads=args.threads, validation=0)) as teacher:
        t0 = time.perf_counter()
        teacher.add_folder(train_dir)
        results["embed_200_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        report = teacher.fit()
        results["fit_200_s"] = report.fit_seconds
        results["fit_200_wall_s"] = time.perf_counter() - t0
        teacher.export(work / "bundle-50")
        head = teacher.head
        test_embeddings = teacher.embed(image for image, _ in test)

    labels = np.array([y for _, y in test])
    curve = {}
    for per_class, augment in ((5, 0), (10, 0), (25, 0), (50, 0), (5, 4), (10, 4)):
        options = TeachOptions(threads=args.threads, validation=0, cache_dir=cache, augment=augment)
        with Teacher(args.embedder, options) as teacher:
            for name in sorted(CLASSES):
                files = sorted((train_dir / name).glob("*.png"))[:per_class]
                teacher.add_images(name, files)
            teacher.fit()
            order = [teacher.classes.index(CLASSES[y]) for y in labels]
            predicted = teacher.head.predict(test_embeddings)
            key = f"{per_class}" + (f" --augment {augment}" if augment else "")
            curve[key] = float(np.mean(predicted == np.array(order)))
    results["test_accuracy"] = curve
    results["test_images"] = len(test)

    # The head alone: the same appended ops with none of the embedder's, the embedding tensor as
    # the graph's input, so its cost is not lost in the embedder's run-to-run noise.
    head_only = work / "head-only.tflite"
    embedder = read_embedder(args.embedder)
    tensors, ops = head_graph(embedder.tensor, head)
    head_only.write_bytes(
        rebuild(embedder.graph, [], (OUTPUT_NAME,), tensors, ops, inputs=(embedder.embedding,))
    )
    latency = _latency(
        {
            "embedder": args.embedder,
            "embedder + head": work / "bundle-50" / "model.tflite",
            "head": head_only,
        },
        args.runs,
    )
    results["latency_ms"] = latency
    results["head_added_pct"] = 100 * latency["head"] / latency["embedder"]

    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"embedder: {args.embedder.name}, {os.cpu_count()} CPU cores\n")
    print("| images per class | " + " | ".join(str(k) for k in curve) + " |")
    print("|---|" + "---|" * len(curve))
    print(
        f"| accuracy on {len(test)} unseen images | "
        + " | ".join(f"{100 * v:.1f}%" for v in curve.values())
        + " |"
    )
    print()
    print(f"embedding 200 images ({args.threads} threads): {results['embed_200_s']:.1f} s")
    print(f"fitting the head on 200 embeddings: {results['fit_200_s']:.2f} s")
    print(
        f"latency, 1 thread: embedder {latency['embedder']:.2f} ms, with the head "
        f"{latency['embedder + head']:.2f} ms; the head alone {latency['head'] * 1e3:.0f} us "
        f"({results['head_added_pct']:.2f}% of the embedder)"
    )


if __name__ == "__main__":
    main()
