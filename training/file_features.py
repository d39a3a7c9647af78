"""Train a frozen backbone's head on the features its own 8-bit ``.tflite`` computes.

A run whose backbone is an 8-bit MobileNet V1 file's (the small-folder default, or ``--weights
embedder-mobilenet-v1``), kept frozen (no fine-tune phase) and without augmentation, is exported
in int8 as that file's own graph with the head appended (training.tflite_backbone). Its head
then meets the file's 8-bit features, not the float Keras backbone's. Fitted on the file's
features instead of the float ones, the int8 bundle went from 60.4% to 62.9% on Fashion-MNIST at
5 images per class, and from 73.4% to 75.6% at 10 (all 10,000 test images; docs/TRAINING.md's
learning curve). So such a run embeds its training and validation
images once through the file (with :class:`edgecam.teach.Teacher`, cached by content, so a
resumed run does not embed them again) and trains only the head on those features: the same
layers, shared with the full model that ``best.keras`` saves, and an epoch costs milliseconds
instead of a backbone pass per step. Being cheap, the head is then trained again on the
training and validation images together, for all its epochs (training.train).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np


def features_file(config) -> Path | None:
    """The 8-bit ``.tflite`` whose features the head of ``config``'s run is trained on, or None
    (the head trains on the Keras backbone's, as any other run's)."""
    from training.model import Augmentation
    from training.tflite_backbone import file_input_size, is_8bit

    weights = str(config.weights or "")
    if config.base != "mobilenet_v1" or not weights.endswith(".tflite"):
        return None
    if config.fine_tune_epochs or config.augmentation != Augmentation.none():
        return None  # the backbone changes, or each step sees new images
    path = Path(weights)
    if not path.is_file() or file_input_size(path) != config.model.input_size:
        return None
    return path if is_8bit(path) else None


def file_normalization(path: Path):
    """How the file's input is fed, as :func:`embedded` fed it (its bundle's model.json, else
    the default: the raw pixel, for an 8-bit input); the int8 bundle's input must be the same."""
    from edgecam.bundle import resolve_model

    spec = resolve_model(path).spec
    return spec.normalization if spec else None


def head_of(model):
    """A model from ``model``'s pooled features to its output, made of ``model``'s own head
    layers (dropout, dense): training it trains ``model``."""
    import keras
    from keras import layers

    nested = [i for i, layer in enumerate(model.layers) if hasattr(layer, "layers")]
    backbone = model.layers[nested[0]]
    x = inputs = keras.Input((int(backbone.output.shape[-1]),), name="features")
    for layer in model.layers[nested[0] + 1 :]:
        if not isinstance(layer, layers.GlobalAveragePooling2D):
            x = layer(x)
    return keras.Model(inputs, x, name=f"{model.name}_head")


def feature_splits(path: Path, train_ds, val_ds, cache_dir: Path, batch_size: int, seed: int, log):
    """Batched ``(features, label)`` datasets of the training images (shuffled again each
    epoch, as the images were), of the validation images, and of both together."""
    import tensorflow as tf

    from training.data import batched

    (train_x, train_y), (val_x, val_y) = embedded(path, [train_ds, val_ds], cache_dir, log)

    def slices(x, y, shuffle: bool, size: int = batch_size):
        return batched(tf.data.Dataset.from_tensor_slices((x, y)), size, shuffle, seed)

    both = np.concatenate([train_x, val_x]), np.concatenate([train_y, val_y])
    return (
        slices(train_x, train_y, True),
        slices(val_x, val_y, False, 256),
        slices(*both, True),
    )


def embedded(path: Path, datasets: list, cache_dir: Path, log=print) -> list[tuple]:
    """``(features, labels)`` of each batched ``(uint8 RGB image, label)`` dataset, through
    ``path``'s own graph."""
    from edgecam.teach import Teacher, TeachOptions

    started, out = time.perf_counter(), []
    with Teacher(path, TeachOptions(cache_dir=cache_dir, validation=0)) as teacher:
        for ds in datasets:
            xs, ys = [], []
            for images, labels in ds.as_numpy_iterator():
                xs.append(teacher.embed(images[..., ::-1], cached=True))  # the Teacher takes BGR
                ys.append(labels)
            out.append((np.concatenate(xs), np.concatenate(ys)))
        teacher.save_cache()
        new, reused = teacher.embedded, teacher.cached
    log(
        f"features: {new + reused} images through {path.name}'s own 8-bit graph "
        f"({new} embedded, {reused} from the cache) in {time.perf_counter() - started:.1f} s; "
        "the head trains on them"
    )
    return out
