"""Accuracy on unseen images against images per class: the tutorial CNN, `edgecam train`, and
`edgecam teach`, on Fashion-MNIST subsets and on a synthetic "own objects" folder.

    .venv-train/bin/python benchmarks/learning_curve.py \
        --embedder ../shared/models/mobilenet_v1_1.0_224_quant_embedding_extractor.tflite \
        [--sizes 5 10 25 50 100] [--datasets fashion shapes] [--methods cnn train teach] \
        [--work DIR] [--json out.json] [--train-args '--input-size 224'] [--teach-augment 2]

`edgecam train` starts a small folder from the pretrained embedder-mobilenet-v1 when that is
downloaded in $EDGECAM_HOME (`edgecam models pull embedder-mobilenet-v1 --from FILE`), else it
trains from scratch: set EDGECAM_HOME to measure one or the other.

Data:

* **fashion**: the first N images of each class of a seeded shuffle of the official 60,000
  training images (so the 5 are among the 10, and so on), written as PNG folders; scored on the
  official 10,000 test images.
* **shapes**: `benchmarks/teach_data.py`'s four classes (circle, triangle, star, cross at random
  places, sizes, rotations and colours on cluttered backgrounds, 160x160), a pool of 100 per
  class (seed 0); scored on 50 unseen images per class (seed 1).

Methods, each on the same N images per class:

* **cnn**: the ten-line Keras CNN of the beginners' tutorials (Conv32-MaxPool-Conv64-MaxPool-
  Flatten-Dense64-softmax, Adam, inputs scaled to [0, 1]; 28x28 grey for fashion, 64x64 colour
  for shapes), batch 32, scored after 10 and after 30 epochs; the baseline is the better one.
* **train**: what a user runs, with the defaults: `edgecam train --data DIR --out RUN`, then
  `edgecam export --run RUN --out BUNDLE --mode int8`; the int8 bundle is scored through
  `edgecam.vision.Classifier` (what `classify` and the app use). An export the gates refuse is
  reported, and scored again exported with `--force`. `--train-args` adds flags.
* **teach**: `edgecam.teach.Teacher` with the embedder (no validation split, so every image
  teaches), the numpy head scored on the test images' embeddings; `--teach-augment N` adds N
  augmented copies of each training image (teach's `--augment N`).

Wall time is per method and size: the whole train + export for `train`, embedding the new
training images plus fitting for `teach` (the test embeddings are computed once and not counted).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from teach_data import CLASSES as SHAPES  # noqa: E402
from teach_data import write_folder  # noqa: E402

SIZES = (5, 10, 25, 50, 100)
CNN_EPOCHS = (10, 30)


# --- data ------------------------------------------------------------------------------------


def fashion(work: Path, sizes: list[int]) -> dict:
    """Training folders per size and the official test set, as arrays (BGR) and labels."""
    from training.datasets import FASHION_MNIST_CLASSES, load_fashion_mnist

    (x_train, y_train), (x_test, y_test) = load_fashion_mnist(download=False)
    order = np.random.default_rng(0).permutation(len(y_train))
    names = [c.replace("/", "-") for c in FASHION_MNIST_CLASSES]  # folder names
    picked = {c: [i for i in order if y_train[i] == c][: max(sizes)] for c in range(10)}
    folders = {}
    for n in sizes:
        folder = work / "fashion" / f"train-{n}"
        if not folder.exists():
            for c in range(10):
                (folder / names[c]).mkdir(parents=True)
                for k, i in enumerate(picked[c][:n]):
                    cv2.imwrite(str(folder / names[c] / f"{k:03d}.png"), x_train[i])
        folders[n] = folder
    test = [cv2.cvtColor(x, cv2.COLOR_GRAY2BGR) for x in x_test]
    return {"classes": names, "folders": folders, "test": test, "test_labels": y_test}


def shapes(work: Path, sizes: list[int]) -> dict:
    pool = work / "shapes" / "pool"
    test_dir = work / "shapes" / "test"
    # Always the same pool (the generator draws the classes one after the other from one seed,
    # so a pool of 50 per class is not the first 50 of a pool of 100).
    per_class = max(*SIZES, *sizes)
    if len(list((pool / sorted(SHAPES)[-1]).glob("*.png"))) != per_class:
        shutil.rmtree(work / "shapes", ignore_errors=True)
        write_folder(pool, per_class, seed=0)
        write_folder(test_dir, 50, seed=1)
    classes = sorted(SHAPES)
    folders = {}
    for n in sizes:
        folder = work / "shapes" / f"train-{n}"
        if not folder.exists():
            for name in classes:
                (folder / name).mkdir(parents=True)
                for src in sorted((pool / name).glob("*.png"))[:n]:
                    (folder / name / src.name).write_bytes(src.read_bytes())
        folders[n] = folder
    files = [(p, classes.index(p.parent.name)) for p in sorted(test_dir.rglob("*.png"))]
    test = [cv2.imread(str(p)) for p, _ in files]
    return {
        "classes": classes,
        "folders": folders,
        "test": test,
        "test_labels": np.array([y for _, y in files]),
    }


def read_folder(folder: Path, classes: list[str]) -> tuple[list[np.ndarray], np.ndarray]:
    images, labels = [], []
    for c, name in enumerate(classes):
        for path in sorted((folder / name).glob("*.png")):
            images.append(cv2.imread(str(path)))
            labels.append(c)
    return images, np.array(labels)


# --- methods ---------------------------------------------------------------------------------


def tutorial_cnn(data: dict, n: int, dataset: str) -> dict:
    """The beginners' CNN; test accuracy after each of CNN_EPOCHS."""
    import keras

    images, labels = read_folder(data["folders"][n], data["classes"])

    def prepare(batch: list[np.ndarray]) -> np.ndarray:
        if dataset == "fashion":
            return np.stack([cv2.cvtColor(b, cv2.COLOR_BGR2GRAY)[..., None] for b in batch])
        return np.stack([cv2.resize(b, (64, 64), interpolation=cv2.INTER_AREA) for b in batch])

    x, x_test = prepare(images), prepare(data["test"])
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input(x.shape[1:]),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(64, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(len(data["classes"]), activation="softmax"),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    started, done, result = time.perf_counter(), 0, {}
    for epochs in CNN_EPOCHS:
        model.fit(x, labels, batch_size=32, epochs=epochs - done, verbose=0, shuffle=True)
        done = epochs
        predicted = np.argmax(model.predict(x_test, batch_size=256, verbose=0), axis=1)
        result[f"accuracy_{epochs}"] = float(np.mean(predicted == data["test_labels"]))
    result["seconds"] = time.perf_counter() - started
    result["accuracy"] = max(result[f"accuracy_{e}"] for e in CNN_EPOCHS)
    return result


def _edgecam(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edgecam", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def edgecam_train(data: dict, n: int, work: Path, extra: list[str]) -> dict:
    """`edgecam train` with the defaults (plus ``extra`` flags), int8 export, scored through the
    Classifier."""
    from edgecam.config import ClassifierOptions
    from edgecam.vision.classifier import Classifier

    run, bundle = work / f"run-{n}", work / f"bundle-{n}"
    shutil.rmtree(run, ignore_errors=True)  # a fresh run each time the benchmark runs
    started = time.perf_counter()
    proc = _edgecam("train", "--data", str(data["folders"][n]), "--out", str(run), *extra)
    if proc.returncode != 0:
        return {"error": _last_line(proc.stderr), "seconds": time.perf_counter() - started}
    result: dict = {"train_log": _train_summary(proc.stdout + proc.stderr)}
    proc = _edgecam("export", "--run", str(run), "--out", str(bundle), "--mode", "int8")
    if proc.returncode != 0:
        result["export_refused"] = _last_line(proc.stderr)
        proc = _edgecam(
            "export", "--run", str(run), "--out", str(bundle), "--mode", "int8", "--force"
        )
        if proc.returncode != 0 and not (bundle / "model.json").exists():
            result["error"] = _last_line(proc.stderr)
            result["seconds"] = time.perf_counter() - started
            return result
        # else the drop gate refused it: the bundle is written all the same (quality_gate
        # passed: false), and scored like the others.
    result["seconds"] = time.perf_counter() - started
    with Classifier(ClassifierOptions(model=bundle, delegate="cpu", top_k=1)) as clf:
        names = [clf.labels[i] if i < len(clf.labels) else "" for i in range(len(clf.labels))]
        index = {name: data["classes"].index(name) for name in names if name in data["classes"]}
        predicted = [index.get(clf.classify(image).top.label, -1) for image in data["test"]]
    result["accuracy"] = float(np.mean(np.array(predicted) == data["test_labels"]))
    return result


def _train_summary(output: str) -> list[str]:
    """The run's own lines about what it chose and how it ended (not the per-epoch lines)."""
    keep = ("chose", "stopped", "warning", "chance", "best", "input", "model", "epochs")
    return [
        line.strip()
        for line in output.splitlines()
        if any(k in line.lower() for k in keep) and "step" not in line.lower()
    ][:12]


def edgecam_teach(
    data: dict, n: int, embedder: Path, cache: Path, test_x: np.ndarray, augment: int = 0
) -> dict:
    from edgecam.teach import Teacher, TeachOptions

    images, labels = read_folder(data["folders"][n], data["classes"])
    options = TeachOptions(threads=2, validation=0, cache_dir=cache, augment=augment)
    with Teacher(embedder, options) as teacher:
        started = time.perf_counter()
        for c, name in enumerate(data["classes"]):
            teacher.add_images(name, [im for im, y in zip(images, labels, strict=True) if y == c])
        report = teacher.fit()
        seconds = time.perf_counter() - started
        order = np.array([teacher.classes.index(data["classes"][y]) for y in data["test_labels"]])
        accuracy = float(np.mean(teacher.head.predict(test_x) == order))
    return {"accuracy": accuracy, "seconds": seconds, "fit_seconds": report.fit_seconds}


def test_embeddings(data: dict, embedder: Path, path: Path) -> np.ndarray:
    """The test images' embeddings, computed once per dataset and kept in ``path``."""
    from edgecam.teach import Teacher, TeachOptions

    if path.exists():
        return np.load(path)
    with Teacher(embedder, TeachOptions(threads=2)) as teacher:
        x = teacher.embed(data["test"])
    np.save(path, x)
    return x


# --- report ----------------------------------------------------------------------------------


def table(results: dict, sizes: list[int]) -> list[str]:
    lines = []
    for dataset, rows in results["datasets"].items():
        test = rows["test_images"]
        lines += [
            f"**{dataset}** ({len(rows['classes'])} classes, {test} test images): test accuracy "
            "(wall time)",
            "",
            "| images per class | " + " | ".join(str(n) for n in sizes) + " |",
            "|---|" + "---|" * len(sizes),
        ]
        for method in results["methods"]:
            cells = []
            for n in sizes:
                r = rows["curve"].get(str(n), {}).get(method)
                if r is None:
                    cells.append("")
                elif "accuracy" not in r:
                    cells.append(f"failed: {r.get('error', '?')}")
                else:
                    mark = " (export refused)" if r.get("export_refused") else ""
                    cells.append(f"{r['accuracy']:.1%} ({r['seconds']:.0f} s){mark}")
            label = LABELS[method]
            if method == "teach" and results.get("teach_augment"):
                label = f"`edgecam teach --augment {results['teach_augment']}` (shared embedder)"
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


LABELS = {
    "cnn": "tutorial CNN (better of 10 / 30 epochs)",
    "train": "`edgecam train` defaults, int8",
    "teach": "`edgecam teach` (shared embedder)",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embedder", type=Path, help="for teach (skipped without it)")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--datasets", nargs="+", default=["fashion", "shapes"])
    parser.add_argument("--methods", nargs="+", default=["cnn", "train", "teach"])
    parser.add_argument(
        "--teach-augment", type=int, default=0, metavar="N", help="teach's --augment N"
    )
    parser.add_argument("--work", type=Path, help="data, runs and bundles (default: a temp dir)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--train-args",
        type=lambda text: text.split(),
        default=[],
        help="flags added to `edgecam train` (one quoted string: --train-args '--input-size 224')",
    )
    args = parser.parse_args()
    methods = [m for m in args.methods if m != "teach" or args.embedder]
    if "teach" in args.methods and not args.embedder:
        print("no --embedder: teach is skipped", file=sys.stderr)
    work = args.work or Path(tempfile.mkdtemp(prefix="edgecam-curve-"))
    work.mkdir(parents=True, exist_ok=True)
    results: dict = {"methods": methods, "sizes": args.sizes, "cpu_count": os.cpu_count()}
    results["teach_augment"] = args.teach_augment
    results["datasets"] = {}
    for dataset in args.datasets:
        data = (fashion if dataset == "fashion" else shapes)(work, args.sizes)
        rows = {"classes": data["classes"], "test_images": len(data["test"]), "curve": {}}
        results["datasets"][dataset] = rows
        test_x = None
        if "teach" in methods:
            test_x = test_embeddings(data, args.embedder, work / f"{dataset}-test-embeddings.npy")
        for n in args.sizes:
            row = rows["curve"].setdefault(str(n), {})
            for method in methods:
                print(f"{dataset} {n}/class: {method}...", file=sys.stderr, flush=True)
                if method == "cnn":
                    row[method] = tutorial_cnn(data, n, dataset)
                elif method == "train":
                    row[method] = edgecam_train(data, n, work / dataset, args.train_args)
                else:
                    row[method] = edgecam_teach(
                        data, n, args.embedder, work / "teach-cache", test_x, args.teach_augment
                    )
                print(f"  {json.dumps(row[method])[:300]}", file=sys.stderr, flush=True)
                if args.json:
                    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print("\n".join(table(results, args.sizes)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
