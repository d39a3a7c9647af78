"""The work behind ``edgecam train | export | evaluate`` (TensorFlow is imported inside)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from training.errors import TrainingError

DATASET_JSON = "dataset.json"


def _log(text: str) -> None:
    print(text, flush=True)


def _data_config(args, run_dataset: dict | None = None):
    from training.data import DataConfig

    if run_dataset is not None:
        cfg = dict(run_dataset["config"])
        if getattr(args, "data", None) or getattr(args, "dataset", None):
            cfg.update(
                source="fashion-mnist" if args.dataset else "folder",
                data=args.data,
                test_data=args.test_data,
            )
        return DataConfig(**cfg)
    if not args.data and not args.dataset:
        raise TrainingError("no data given", "pass --data DIR, or --dataset fashion-mnist")
    fashion = args.dataset == "fashion-mnist"
    return DataConfig(
        source="fashion-mnist" if fashion else "folder",
        data=args.data,
        test_data=args.test_data,
        val_split=args.val_split,
        seed=getattr(args, "seed", 42),
        input_size=getattr(args, "input_size", None) or (28 if fashion else 96),
        channels=getattr(args, "channels", None) or (1 if fashion else 3),
        limit=args.limit,
    )


def cmd_train(args) -> int:
    from dataclasses import asdict

    from training.data import batched, class_weights, load_splits
    from training.export import write_json
    from training.model import Augmentation, ModelSpec
    from training.train import TrainConfig, train

    cfg = _data_config(args)
    _log("loading data...")
    splits = load_splits(cfg, args.out / "cache")
    if splits.report is not None:
        _log(splits.report.format())
    _log(
        f"split: {splits.sizes['train']} train, {splits.sizes['val']} validation, "
        f"{splits.sizes['test']} test (seed {cfg.seed})"
    )
    aug = (
        Augmentation(False, 0, 0, 0, 0, 0)
        if args.no_augment
        else Augmentation(
            flip=not args.no_flip,
            rotation=args.rotation,
            zoom=args.zoom,
            translate=args.translate,
            brightness=args.brightness,
            contrast=args.contrast,
        )
    )
    spec = ModelSpec(
        arch=args.arch,
        input_size=cfg.input_size,
        channels=cfg.channels,
        num_classes=len(splits.class_names),
        alpha=args.alpha or (0.35 if args.base else 1.0),
        depth=args.depth,
        dropout=args.dropout,
    )
    config = TrainConfig(
        model=spec,
        augmentation=aug,
        epochs=args.epochs,
        batch_size=args.batch_size,
        optimizer=args.optimizer,
        learning_rate=args.lr,
        schedule=args.schedule,
        label_smoothing=args.label_smoothing,
        balance_classes=not args.no_class_weights,
        patience=args.patience,
        seed=args.seed,
        strategy=args.strategy,
        base=args.base,
        weights=args.weights,
        fine_tune_epochs=args.fine_tune_epochs,
        fine_tune_layers=args.fine_tune_layers,
    )
    weights = None
    if config.balance_classes:
        weights = class_weights(splits.train_labels, spec.num_classes)
        if max(weights.values()) / max(min(weights.values()), 1e-9) < 1.5:
            weights = None  # balanced enough: plain loss
    write_json(
        args.out / DATASET_JSON,
        {
            "config": asdict(cfg),
            "classes": splits.class_names,
            "sizes": splits.sizes,
            "fingerprint": splits.fingerprint,
            "report": splits.report.to_dict() if splits.report else None,
        },
    )
    steps = -(-splits.sizes["train"] // config.batch_size)
    _log(
        f"training {spec.arch} alpha {spec.alpha:g} on {cfg.input_size}x{cfg.input_size}x"
        f"{cfg.channels} for up to {config.epochs} epochs ({steps} batches each)..."
    )
    result = train(
        config,
        batched(splits.train, config.batch_size, True, cfg.seed),
        batched(splits.val, 256, False, cfg.seed),
        steps,
        args.out,
        class_weight=weights,
        resume=args.resume,
    )
    _log(
        f"done: {result.epochs_run} epochs in {result.seconds / 60:.1f} min, "
        f"{result.images_per_second:.0f} images/s, best validation accuracy "
        f"{(result.best_val_accuracy or 0):.4f}"
    )
    _log(f"outputs: {result.best_path} (best checkpoint), {result.log_path} (CSV log)")
    _log(f"next: edgecam export --run {args.out} --out BUNDLE_DIR")
    return 0


def _load_run(run: Path):
    import keras

    missing = [n for n in ("best.keras", DATASET_JSON, "recipe.json") if not (run / n).exists()]
    if missing:
        raise TrainingError(
            f"{run} is not a finished training run (no {', '.join(missing)})",
            "train first: edgecam train --out RUN ...",
        )
    try:
        model = keras.models.load_model(run / "best.keras")
        info = json.loads((run / DATASET_JSON).read_text())
    except Exception as exc:
        raise TrainingError(
            f"{run} holds a damaged checkpoint or dataset.json ({str(exc).splitlines()[0][:120]})",
            "train again into a new --out folder",
        ) from None
    return model, info


def _progress(label: str):
    state = {"next": 0.0}

    def report(done: int, total: int | None) -> None:
        if total and done / total >= state["next"]:
            _log(f"  {label}: {done}/{total}")
            state["next"] += 0.25

    return report


def cmd_export(args) -> int:
    from training.data import load_splits, take_samples
    from training.evaluate import compute_metrics, predict_keras
    from training.export import check_target, export_bundle
    from training.model import rebatch

    check_target(args.out, args.run)
    model, run_info = _load_run(args.run)
    splits = load_splits(_data_config(args, run_info))
    names = run_info["classes"]
    _log(
        f"loading {args.calibration_samples} calibration and "
        f"{args.test_limit or splits.sizes['test']} test images..."
    )
    seed = run_info["config"]["seed"]
    representative = [
        img
        for img, _ in take_samples(
            splits.train.shuffle(10_000, seed=seed), args.calibration_samples
        )
    ]
    test = take_samples(splits.test, args.test_limit)
    y_true, y_pred, _ = predict_keras(model, test)
    float_acc = compute_metrics(y_true, y_pred, names).accuracy
    _log(f"float model accuracy on {len(test)} test images: {float_acc:.4f}")
    recipe = json.loads((args.run / "recipe.json").read_text())
    size = int(model.input_shape[1])
    result = export_bundle(
        rebatch(model, 1),
        args.out,
        class_names=names,
        input_spec={"width": size, "height": size, "channels": int(model.input_shape[3])},
        mode=args.mode,
        io_dtype=args.io_dtype,
        representative=representative,
        test_samples=test,
        float_accuracy=float_acc,
        recipe=recipe,
        dataset={k: run_info[k] for k in ("config", "sizes", "fingerprint")},
        max_drop=args.max_drop,
        edgetpu=not args.no_edgetpu,
        name=args.name,
        resize=args.resize,
        log=_log,
    )
    m = result.spec["metrics"]
    _log(
        f"bundle: {result.bundle} ({m['size_bytes'] / 1024:.1f} KiB model, "
        f"{m['cpu_latency_ms']:.3f} ms median CPU latency)"
    )
    if "tflite_accuracy" in m:
        _log(
            f"accuracy: float {m.get('float_accuracy', float('nan')):.4f}, "
            f"{args.mode} {m['tflite_accuracy']:.4f} "
            f"(drop {m.get('accuracy_drop_points', 0):.2f} points)"
        )
    if not result.passed:
        raise TrainingError(
            f"the {args.mode} model loses {m['accuracy_drop_points']:.2f} "
            f"accuracy points (more than --max-drop {args.max_drop:g}); the "
            f"bundle was written to {result.bundle} with quality_gate.passed "
            "= false",
            "use more --calibration-samples, another mode, or raise --max-drop",
        )
    return 0


def cmd_evaluate(args) -> int:
    from training.data import load_splits, take_samples
    from training.evaluate import (
        compute_metrics,
        plot_confusion,
        plot_curves,
        plot_misclassified,
        predict_keras,
        predict_tflite,
        write_report,
    )
    from training.export import write_json

    run_info = None
    if args.run:
        run_info = json.loads((args.run / DATASET_JSON).read_text())
    elif args.model.is_dir() and (args.model / "model.json").exists():
        run_info = json.loads((args.model / "model.json").read_text()).get("dataset") or None
    cfg = _data_config(args, run_info)
    splits = load_splits(cfg)
    test = take_samples(splits.test, args.limit)
    names = splits.class_names
    _log(f"evaluating {args.model} on {len(test)} test images...")
    started = time.perf_counter()
    if args.model.suffix == ".keras":
        import keras

        y_true, y_pred, _ = predict_keras(keras.models.load_model(args.model), test)
    else:
        y_true, y_pred, _ = predict_tflite(args.model, test, progress=_progress("classified"))
    seconds = time.perf_counter() - started
    metrics = compute_metrics(y_true, y_pred, names)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    images = {"Confusion matrix": plot_confusion(metrics, out / "confusion.png")}
    log_path = (args.run / "training_log.csv") if args.run else None
    if log_path and log_path.exists():
        images["Training curves"] = plot_curves(log_path, out / "curves.png")
    images["Misclassified examples"] = plot_misclassified(
        [img for img, _ in test], y_true, y_pred, names, out / "misclassified.png"
    )
    write_json(out / "metrics.json", metrics.to_dict())
    report = write_report(
        out,
        f"Evaluation of {args.model.name}",
        metrics,
        extra={
            "model": str(args.model),
            "test images": len(test),
            "dataset fingerprint": splits.fingerprint,
            "evaluation time (s)": round(seconds, 1),
        },
        images=images,
    )
    _log(f"accuracy {metrics.accuracy:.4f}, macro F1 {metrics.macro_f1:.4f}")
    _log(
        f"outputs: {report}, {out / 'metrics.json'}, " + ", ".join(str(p) for p in images.values())
    )
    return 0
