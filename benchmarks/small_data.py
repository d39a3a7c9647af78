"""Small-data training from scratch: a generated 3-class folder, edgecam train vs the tutorial CNN.

    python benchmarks/small_data.py make --out /tmp/sd --per-class 60 --test 20 --seed 0
    python benchmarks/small_data.py tutorial --data /tmp/sd/train --test /tmp/sd/test --epochs 10
    python benchmarks/small_data.py score --bundle BUNDLE --test /tmp/sd/test
    python benchmarks/small_data.py all --work /tmp/sd-bench     # every row of the table

``make`` writes OUT/train/<class>/<n>.png (plus 2 corrupt files, as a user's folder may hold)
and OUT/test/<class>/<n>.png: solid shapes (circle, square, triangle) of random size, colour
and place on a noisy background of random colour, 64x64. ``tutorial`` trains the ten-line Keras
CNN of the beginners' tutorials (Conv32-MaxPool-Conv64-MaxPool-Flatten-Dense64-softmax, Adam)
and prints its accuracy on the test folder; ``score`` prints a bundle's accuracy on it through
edgecam's Classifier (the code the app runs); ``all`` makes the folders (60 and 25 images per
class, the same 60 unseen test images), runs the tutorial CNN and ``edgecam train`` + ``export
--mode int8`` on each and prints the rows of docs/TRAINING.md's table. Every command prints its
wall time.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

CLASSES = ("circle", "square", "triangle")
SIZE = 64


def draw(kind: str, rng: np.random.Generator, size: int = SIZE) -> np.ndarray:
    """One BGR image of class ``kind``: a solid shape at a random place on a noisy background."""
    background = rng.integers(0, 110, 3)  # dark, of any hue
    image = np.ones((size, size, 3)) * background + rng.normal(0, 20, (size, size, 3))
    image = np.clip(image, 0, 255).astype(np.uint8)
    r = float(rng.uniform(size * 0.15, size * 0.3))
    cx, cy = (float(v) for v in rng.uniform(r + 2, size - r - 2, 2))
    color = tuple(int(c) for c in rng.integers(150, 256, 3))  # bright, of any hue
    if kind == "circle":
        cv2.circle(image, (int(cx), int(cy)), int(r), color, -1, cv2.LINE_AA)
    elif kind == "square":
        cv2.rectangle(image, (int(cx - r), int(cy - r)), (int(cx + r), int(cy + r)), color, -1)
    else:
        t = float(rng.uniform(0, 2 * np.pi)) + np.arange(3) * 2 * np.pi / 3
        pts = np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], 1).astype(np.int32)
        cv2.fillPoly(image, [pts], color, cv2.LINE_AA)
    return image


def write_split(out: Path, per_class: int, rng: np.random.Generator) -> None:
    for kind in CLASSES:
        (out / kind).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            cv2.imwrite(str(out / kind / f"{i:03d}.png"), draw(kind, rng))


def make(out: Path, per_class: int, test: int, seed: int, corrupt: bool = True) -> Path:
    """OUT/train and OUT/test (disjoint: one random stream, train drawn first)."""
    rng = np.random.default_rng(seed)
    write_split(out / "train", per_class, rng)
    write_split(out / "test", test, rng)
    if corrupt:
        (out / "train" / CLASSES[0] / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
        (out / "train" / CLASSES[1] / "empty.png").write_bytes(b"")
    return out


def read_folder(root: Path, size: int = SIZE) -> tuple[np.ndarray, np.ndarray]:
    """RGB images and labels of ROOT/<class>/*.png (unreadable files skipped)."""
    images, labels = [], []
    for index, kind in enumerate(sorted(p.name for p in root.iterdir() if p.is_dir())):
        for path in sorted((root / kind).iterdir()):
            image = cv2.imread(str(path))
            if image is None:
                continue
            image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
            images.append(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
            labels.append(index)
    return np.stack(images), np.asarray(labels)


def tutorial(data: Path, test: Path, epochs: int, seed: int) -> float:
    """The tutorial CNN's accuracy on ``test`` after ``epochs`` epochs on ``data``."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    x, y = read_folder(data)
    xt, yt = read_folder(test)
    n = int(y.max()) + 1
    model = keras.Sequential(
        [
            keras.Input(x.shape[1:]),
            layers.Rescaling(1 / 255),
            layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.Conv2D(64, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dense(64, activation="relu"),
            layers.Dense(n, activation="softmax"),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=epochs, batch_size=32, verbose=0, shuffle=True)
    return float((model.predict(xt, verbose=0).argmax(1) == yt).mean())


def score(bundle: Path, test: Path) -> float:
    """A bundle's top-1 accuracy on ``test`` through edgecam's Classifier."""
    from edgecam.config import ClassifierOptions
    from edgecam.vision import Classifier

    x, y = read_folder(test)
    with Classifier(ClassifierOptions(model=bundle, delegate="cpu", top_k=1)) as clf:
        pred = [clf.classify(cv2.cvtColor(img, cv2.COLOR_RGB2BGR)).top.index for img in x]
    return float((np.asarray(pred) == y).mean())


def _edgecam(*args: str) -> float:
    """Run ``python -m edgecam ARGS`` (output to the terminal); its wall time in seconds."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "edgecam", *args], check=True)
    return time.perf_counter() - started


def run_all(work: Path) -> list[str]:
    """Every row of the small-data table, as Markdown table rows."""
    make(work, 60, 20, seed=0)
    small = work / "train25"
    for kind in CLASSES:
        (small / kind).mkdir(parents=True, exist_ok=True)
        for i in range(25):
            shutil.copy(work / "train" / kind / f"{i:03d}.png", small / kind)
    rows = []
    for per_class, data in ((60, work / "train"), (25, small)):
        for epochs in (10, 30):
            started = time.perf_counter()
            acc = tutorial(data, work / "test", epochs, seed=0)
            seconds = time.perf_counter() - started
            rows.append(
                f"| {per_class} | tutorial CNN, {epochs} epochs | {acc:.1%} | {seconds:.0f} s |"
            )
        for extra in ([], ["--epochs", "8"]):
            run, bundle = (
                work / f"run{per_class}{len(extra)}",
                work / f"bundle{per_class}{len(extra)}",
            )
            shutil.rmtree(run, ignore_errors=True)
            t_train = _edgecam(
                "train", "--data", str(data), "--out", str(run), "--input-size", "64", *extra
            )
            t_export = _edgecam("export", "--run", str(run), "--out", str(bundle), "--mode", "int8")
            acc = score(bundle, work / "test")
            what = "edgecam train, " + (" ".join(extra) or "defaults") + ", int8"
            times = f"train {t_train:.0f} s, export {t_export:.0f} s"
            rows.append(f"| {per_class} | {what} | {acc:.1%} | {times} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("make")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--per-class", type=int, default=60)
    p.add_argument("--test", type=int, default=20, help="unseen test images per class")
    p.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("tutorial")
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--test", type=Path, required=True)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("score")
    p.add_argument("--bundle", type=Path, required=True)
    p.add_argument("--test", type=Path, required=True)
    p = sub.add_parser("all")
    p.add_argument("--work", type=Path, required=True, help="a scratch folder")
    args = parser.parse_args()
    started = time.perf_counter()
    if args.command == "make":
        make(args.out, args.per_class, args.test, args.seed)
        print(f"wrote {args.out}/train ({args.per_class}/class) and {args.out}/test")
    elif args.command == "tutorial":
        acc = tutorial(args.data, args.test, args.epochs, args.seed)
        print(f"tutorial CNN, {args.epochs} epochs: {acc:.4f} on {args.test}")
    elif args.command == "score":
        print(f"{args.bundle}: {score(args.bundle, args.test):.4f} on {args.test}")
    else:
        rows = run_all(args.work)
        print("| images per class | what | accuracy on 60 unseen images | wall time |")
        print("|---|---|---|---|")
        print("\n".join(rows))
    print(f"wall time {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
