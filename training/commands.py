"""The work behind ``edgecam train | export | evaluate`` (TensorFlow is imported inside)."""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

from edgecam.bundle import BUNDLE_SPEC, BundleSpec
from training.errors import TrainingError

DATASET_JSON = "dataset.json"


def _log(text: str) -> None:
    print(text, flush=True)


def check_writable(folder: Path, parent_only: bool = False) -> None:
    """Fail before any work unless ``--out`` can be written: ``folder`` is created (or, with
    ``parent_only``, the folder it goes in) and a file is written and removed there.

    Raises:
        TrainingError: the folder is a file, or cannot be created or written.
    """
    import os
    import tempfile

    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise TrainingError(f"--out {folder} is a file", "give a folder")
    where = folder.parent if parent_only else folder
    try:
        where.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".edgecam-write-test-", dir=where)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise TrainingError(
            f"cannot write to --out {folder}: {exc.strerror or exc}",
            "choose a folder you can write to",
        ) from None


def _data_config(args, run_dataset: dict | None = None):
    """The data the command reads: the run's (``run_dataset``, from dataset.json or a bundle's
    model.json) with ``--data``/``--dataset`` swapped in if given, else the flags'."""
    from training.data import DataConfig

    if run_dataset is not None:
        cfg = DataConfig(**run_dataset["config"])
        # export has no data flags; evaluate may point a run's model at other data.
        data, dataset = getattr(args, "data", None), getattr(args, "dataset", None)
        if data or dataset:
            cfg = replace(cfg, source=dataset or "folder", data=data, test_data=args.test_data)
        return cfg
    if not args.data and not args.dataset:
        raise TrainingError("no data given", "pass --data DIR, or --dataset fashion-mnist")
    return DataConfig.create(
        source=args.dataset,
        data=args.data,
        test_data=args.test_data,
        val_split=args.val_split,
        seed=getattr(args, "seed", None),
        input_size=getattr(args, "input_size", None),
        channels=getattr(args, "channels", None),
        limit=args.limit,
    )


def _train_config(args, data, num_classes: int, n_train: int | None = None):
    """``edgecam train``'s flags as a TrainConfig (the flags' defaults are the fields'), and the
    size-dependent choices (:mod:`training.auto`) for ``n_train`` images where flags are unset.

    Returns:
        (config, reasons): one line per choice the data's size made.
    """
    from training.auto import size_recipe
    from training.model import Augmentation, ModelSpec
    from training.train import TrainConfig

    alpha = args.alpha
    if alpha is None and args.base and (args.weights or "").endswith(".tflite"):
        from training.tflite_backbone import file_alpha

        alpha = file_alpha(Path(args.weights))  # the file's width, not a default that won't fit
    sizing = size_recipe(
        n_train if n_train is not None else 10**9,
        args.epochs,
        batch_size=args.batch_size,
        steps_per_epoch=args.steps_per_epoch,
        alpha=alpha,
        depth=args.depth,
        bn_momentum=args.bn_momentum,
        pretrained=bool(args.base),
        default_batch=TrainConfig.batch_size,
        augmented=not args.no_augment,
    )
    augmentation = (
        Augmentation.none()
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
    model = ModelSpec.create(
        base=args.base,
        arch=args.arch,
        input_size=data.input_size,
        channels=data.channels,
        num_classes=num_classes,
        alpha=sizing.alpha,
        depth=sizing.depth,
        dropout=args.dropout,
        bn_momentum=sizing.bn_momentum,
    )
    one_pass = n_train is None or sizing.steps_per_epoch == -(-n_train // sizing.batch_size)
    config = TrainConfig(
        model=model,
        augmentation=augmentation,
        epochs=args.epochs,
        batch_size=sizing.batch_size,
        steps_per_epoch=None if one_pass else sizing.steps_per_epoch,
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
    return config, sizing.reasons


def _pretrained_default(args, n_train: int, channels: int):
    """``args`` with :data:`training.auto.PRETRAINED_BASE` for a small folder of colour images
    when its weights are here and no ``--base`` or ``--from-scratch`` was given; and the line
    saying so (or how to get them), else None."""
    from training.auto import PRETRAINED_BASE, PRETRAINED_ENTRY, SMALL_FOLDER, pretrained_weights

    if args.base or args.from_scratch or args.dataset or n_train >= SMALL_FOLDER or channels != 3:
        return args, None
    weights = pretrained_weights()
    if weights is None:
        return args, (
            f"note: {n_train} training images train poorly from scratch (docs/TRAINING.md, "
            f"'Learning curve'): `edgecam models pull {PRETRAINED_ENTRY}` once (3.3 MB) and "
            "train starts from its pretrained weights, or try `edgecam teach`"
        )
    from training.model import Augmentation

    # Augmentation on a frozen pretrained backbone cost 12.5 points on the cluttered shapes (25
    # per class: 70.0% with the default augmentation, 82.5% without): off unless a flag asks.
    defaults = Augmentation()
    asked = args.no_flip or any(
        getattr(args, name) != getattr(defaults, name)
        for name in ("rotation", "zoom", "translate", "brightness", "contrast")
    )
    chosen = argparse.Namespace(
        **{
            **vars(args),
            "base": PRETRAINED_BASE,
            "weights": str(weights),
            "no_augment": args.no_augment or not asked,
        }
    )
    return chosen, (
        f"{n_train} training images: starting from the pretrained {PRETRAINED_BASE} of "
        f"{PRETRAINED_ENTRY} (downloaded), which small folders need, without augmentation "
        "(it cost 12 points on a frozen backbone); --from-scratch to train from random weights"
    )


def _pretrained_input(args) -> int | None:
    """The input size of a ``.tflite`` backbone's file when ``--input-size`` is not given: its
    features were learnt at that scale (measured on the cluttered shapes at 25 images per
    class: 70% at 224 px against 61% at 96, docs/TRAINING.md)."""
    if not args.base or args.input_size is not None or not (args.weights or "").endswith(".tflite"):
        return None
    from training.tflite_backbone import file_input_size

    return file_input_size(Path(args.weights))


def cmd_train(args) -> int:
    from dataclasses import asdict

    from training.callbacks import chance_level
    from training.data import balancing_weights, batched, load_splits
    from training.distribute import make_strategy, own_folder
    from training.export import write_json
    from training.file_features import features_file
    from training.train import DEFAULT_BACKBONE_WEIGHTS, check_run_folder, train

    check_writable(args.out)
    # First: MultiWorkerMirroredStrategy must exist before any other TensorFlow work.
    _, role = make_strategy(args.strategy)
    own = own_folder(args.out, role)  # a worker other than the chief keeps its state apart
    check_run_folder(own, args.resume)
    if role.workers > 1:
        _log(f"multi-worker training: this is {role.describe()}")
    if args.base:
        from training.model import weights_argument

        # A bad path fails before any work; a catalogue name becomes its file.
        args.weights = weights_argument(args.weights or DEFAULT_BACKBONE_WEIGHTS)
    cfg = _data_config(args)
    _log("loading data...")
    splits = load_splits(cfg, own / "cache")
    if splits.report is not None:
        _log(splits.report.format())
    args, note = _pretrained_default(args, splits.sizes["train"], cfg.channels)
    if note:
        _log(note)
    size = _pretrained_input(args)
    if size and size != cfg.input_size:
        cfg = replace(cfg, input_size=size)
        _log(f"input {size}x{size}: the size the pretrained file was made for (--input-size N)")
        splits = load_splits(cfg, own / "cache")
    _log(
        f"split: {splits.sizes['train']} train, {splits.sizes['val']} validation, "
        f"{splits.sizes['test']} test (seed {cfg.seed})"
    )
    n_train = splits.sizes["train"]
    config, reasons = _train_config(args, cfg, len(splits.class_names), n_train)
    if reasons:
        _log(f"sized to {n_train} training images:")
        for reason in reasons:
            _log(f"  {reason}")
    spec = config.model
    weights = None
    if config.balance_classes:
        weights = balancing_weights(splits.train_labels, spec.num_classes)
    write_json(
        own / DATASET_JSON,
        {
            "config": asdict(cfg),
            "classes": splits.class_names,
            "sizes": splits.sizes,
            "fingerprint": splits.fingerprint,
            "report": splits.report.to_dict() if splits.report else None,
        },
    )
    steps = config.steps_per_epoch or -(-n_train // config.batch_size)
    what = (
        f"a new head on {config.base} (pretrained: {config.backbone_weights}, frozen"
        + (", on the file's own 8-bit features)" if features_file(config) else ")")
        if config.base
        else f"{spec.arch} alpha {spec.alpha:g}" + (f", {spec.depth} blocks" if spec.depth else "")
    )
    _log(
        f"training {what} on {cfg.input_size}x{cfg.input_size}x{cfg.channels} for up to "
        f"{config.epochs} epochs ({steps} batches of {config.batch_size} each)..."
    )
    val_labels = splits.val_labels
    chance = chance_level(val_labels, spec.num_classes)
    result = train(
        config,
        batched(splits.train, config.batch_size, True, cfg.seed),
        batched(splits.val, 256, False, cfg.seed),
        steps,
        args.out,
        class_weight=weights,
        resume=args.resume,
        log=_log,
        chance=(chance, max(0.02, 1.0 / max(1, len(val_labels)))),
    )
    rate = "images/s" + (" (the head alone)" if features_file(config) else "")
    _log(
        f"done: {result.epochs_run} epochs in {result.seconds / 60:.1f} min, "
        f"{result.images_per_second:.0f} {rate}, best validation accuracy "
        f"{(result.best_val_accuracy or 0):.4f}"
    )
    if not role.chief:
        _log(f"the chief wrote the run: {result.best_path}, {result.log_path}")
        return 0
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


def _frozen_backbone_int8(model, recipe: dict):
    """The int8 model of a run whose backbone is still a .tflite file's (frozen): that file's
    own 8-bit graph with the trained head appended (a training.export.Prebuilt); None for any
    other run (it is converted and calibrated as usual)."""
    from edgecam.bundle import BUNDLE_MODEL
    from training.export import Prebuilt
    from training.file_features import file_normalization
    from training.tflite_backbone import frozen_source, with_head_appended

    source = frozen_source(model, recipe)
    if source is None:
        if str(recipe.get("weights") or "").endswith(".tflite"):
            _log(
                f"note: the backbone is no longer exactly {recipe['weights']} (fine-tuned, or "
                "the file changed or is gone): int8 by post-training quantization"
            )
        return None
    # A catalogue model or a bundle is FOLDER/model.tflite: the folder names it.
    name = source.parent.name if source.name == BUNDLE_MODEL else source.name
    _log(
        f"int8: the backbone is {name}'s own 8-bit graph (frozen in training), with the "
        "trained head appended in float32"
    )
    return Prebuilt(
        with_head_appended(model, source),
        f"8-bit backbone of {name} (the file's own) + float32 head",
        file_normalization(source),  # what the head's features were computed with
    )


def cmd_export(args) -> int:
    from training.data import load_splits, take_samples
    from training.evaluate import compute_metrics, predict_keras
    from training.export import (
        ExportConfig,
        ExportData,
        chance_problem,
        check_target,
        export_bundle,
    )
    from training.model import rebatch
    from training.quantize import QuantizationConfig
    from training.train import interrupted_epochs

    check_target(args.out, args.run)
    check_writable(args.out, parent_only=True)
    done = interrupted_epochs(args.run)
    if done is not None:
        _log(
            f"note: {args.run} is an interrupted run ({done} epochs finished): exporting its "
            "best checkpoint so far; `edgecam train ... --resume` finishes it"
        )
    quantization = QuantizationConfig.from_mode(args.mode, args.io_dtype, args.calibration_samples)
    config = ExportConfig(
        quantization=quantization,
        max_drop=args.max_drop,
        edgetpu=not args.no_edgetpu,
        name=args.name,
        resize=args.resize,
    )
    model, run_info = _load_run(args.run)
    splits = load_splits(_data_config(args, run_info))
    names = run_info["classes"]
    calibration = quantization.calibration_samples if quantization.integer_only else 0
    what = f"{calibration} calibration and " if calibration else ""
    _log(f"loading {what}{args.test_limit or splits.sizes['test']} test images...")
    seed = run_info["config"]["seed"]
    representative = (
        [img for img, _ in take_samples(splits.train.shuffle(10_000, seed=seed), calibration)]
        if calibration
        else []
    )
    top1 = predict_keras(model, [(img, 0) for img in representative])[1] if calibration else None
    test = take_samples(splits.test, args.test_limit)
    y_true, y_pred, _ = predict_keras(model, test)
    float_acc = compute_metrics(y_true, y_pred, names).accuracy
    _log(f"float model accuracy on {len(test)} test images: {float_acc:.4f}")
    problem = chance_problem(y_true, y_pred, len(names))
    if problem and not args.force:
        raise TrainingError(
            f"{args.run}'s model has learnt nothing: {problem}",
            "train longer, on more images per class or with a pretrained --base (see "
            "docs/TRAINING.md, 'Small folders'); --force exports it anyway",
        )
    if problem:
        _log(f"warning: the model has learnt nothing ({problem}); exported as --force asks")
    recipe = json.loads((args.run / "recipe.json").read_text())
    prebuilt = _frozen_backbone_int8(model, recipe) if quantization.integer_only else None
    result = export_bundle(
        rebatch(model, 1),
        args.out,
        names,
        config,
        ExportData(representative, test, float_acc, top1),
        recipe=recipe,
        dataset={k: run_info[k] for k in ("config", "sizes", "fingerprint")},
        prebuilt=prebuilt,
        log=_log,
    )
    m = result.spec.metrics
    _log(
        f"bundle: {result.bundle} ({m.size_bytes / 1024:.1f} KiB model, "
        f"{m.cpu_latency_ms:.3f} ms median CPU latency)"
    )
    if m.tflite_accuracy is not None:
        float_text = f"{m.float_accuracy:.4f}" if m.float_accuracy is not None else "nan"
        _log(
            f"accuracy: float {float_text}, {args.mode} {m.tflite_accuracy:.4f} "
            f"(drop {m.accuracy_drop_points or 0:.2f} points)"
        )
    if not result.passed:
        raise TrainingError(
            f"the {args.mode} model loses {m.accuracy_drop_points:.2f} "
            f"accuracy points (more than --max-drop {args.max_drop:g}); the "
            f"bundle was written to {result.bundle} with quality_gate.passed "
            "= false",
            "use more --calibration-samples, another mode, or raise --max-drop",
        )
    return 0


def _test_folder(
    folder,
    classes: list[str] | None,
    run_info: dict | None,
    limit: int | None,
    shape: tuple[int, int, int] | None = None,
):
    """Every usable image of the test folder ``folder``, labelled by the model's class order
    (``classes``; None: the folder's own): ``(samples, class names, fingerprint)``. Images are
    sized as the run was (``run_info``), else to ``shape`` (height, width, channels), else to
    the DataConfig defaults (a .tflite resizes what it is given).

    Raises:
        DataError: the folder has a class the model does not know.
    """
    from training.data import (
        DataConfig,
        files_dataset,
        folder_fingerprint,
        scan_image_folder,
        take_samples,
    )
    from training.errors import DataError

    paths, labels, report = scan_image_folder(folder, min_classes=1)
    if report.skipped:
        _log(report.format())
    names = list(classes or report.class_names)
    unknown = [n for n in report.class_names if n not in names]
    if unknown:
        raise DataError(
            f"{folder} has classes the model does not know: {', '.join(unknown)}",
            f"the model's classes are {', '.join(names)}; a test folder holds some or all of them",
        )
    index = [names.index(n) for n in report.class_names]
    labels = [index[y] for y in labels]
    config = DataConfig(**run_info["config"]) if run_info else DataConfig()
    size, channels = (shape[0], shape[2]) if shape else (config.input_size, config.channels)
    ds = files_dataset(paths, labels, size, channels)
    return take_samples(ds, limit), names, folder_fingerprint(paths, labels)


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

    check_writable(args.out)
    if args.model.is_dir() and (args.model / "best.keras").is_file():
        # A run folder: its best checkpoint, with the run's split and curves.
        args.run = args.run or args.model
        args.model = args.model / "best.keras"
    run_info, classes = None, None
    if args.run:
        if not (args.run / DATASET_JSON).is_file():
            raise TrainingError(
                f"{args.run} is not a training run (no {DATASET_JSON})",
                "give --run the --out folder of edgecam train",
            )
        run_info = json.loads((args.run / DATASET_JSON).read_text())
        classes = run_info.get("classes")
    elif args.model.is_dir() and (args.model / BUNDLE_SPEC).exists():
        spec = BundleSpec.load(args.model / BUNDLE_SPEC)
        run_info, classes = spec.dataset, list(spec.classes or []) or None
    keras_model = None
    if args.model.suffix == ".keras":
        import keras

        keras_model = keras.models.load_model(args.model)
    folder = args.test_data or (args.data if not args.dataset else None)
    if folder:
        shape = None
        if keras_model is not None and run_info is None:  # the checkpoint alone: its input
            shape = tuple(int(d) for d in keras_model.input_shape[1:])
        test, names, fingerprint = _test_folder(folder, classes, run_info, args.limit, shape)
        _log(f"test set: all {len(test)} usable images of {folder}")
    else:
        splits = load_splits(_data_config(args, run_info))
        test = take_samples(splits.test, args.limit)
        names, fingerprint = splits.class_names, splits.fingerprint
    _log(f"evaluating {args.model} on {len(test)} test images...")
    started = time.perf_counter()
    if keras_model is not None:
        y_true, y_pred, _ = predict_keras(keras_model, test)
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
            "dataset fingerprint": fingerprint,
            "evaluation time (s)": round(seconds, 1),
        },
        images=images,
    )
    _log(f"accuracy {metrics.accuracy:.4f}, macro F1 {metrics.macro_f1:.4f}")
    _log(
        f"outputs: {report}, {out / 'metrics.json'}, " + ", ".join(str(p) for p in images.values())
    )
    return 0
