"""The recipe's size-dependent defaults: what ``edgecam train`` picks for a folder's size, and why.

Measured on a generated 3-class folder (benchmarks/small_data.py: 147 training images, 60
unseen test images; docs/TRAINING.md, "Small folders"): the full MobileNetV1 (alpha 1, 3.2M
parameters) with the dataclass defaults stays at chance (33%), with BatchNorm momentum 0.9 or
batches of 16 alone too: 3 steps an epoch give early stopping, the checkpoint and the
learning-rate schedule nothing to work with, and 3.2M weights are not fitted from 147 images in
a few dozen steps. Alpha 0.5 with the first 7 blocks (~0.14M parameters), batches of 16, epochs
of at least 50 steps and momentum 0.9 reach 77% (int8, unseen images) in 8 epochs and 90% with
the default 20. Folders from :data:`SMALL_FOLDER` images on keep the dataclass defaults (what
the bundled model was trained with); flags given on the command line always win.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: Training images below which a folder counts as small and gets the small recipe.
SMALL_FOLDER = 1000
#: An epoch is at least this many steps (a small folder is passed over several times), so that
#: validation, the best checkpoint and early stopping see some training between two looks.
MIN_STEPS_PER_EPOCH = 50
SMALL_ALPHA, SMALL_DEPTH = 0.5, 7
#: Keras' BatchNorm momentum 0.99 keeps ~37% of the initial statistics after 100 steps: the
#: model then predicts from statistics it never had in training. 0.9 settles within ~50 steps.
FAST_BN_MOMENTUM, BN_SLOW_FROM_STEPS = 0.9, 2000


#: A small folder trains from this catalogue entry's pretrained MobileNet V1 when it is here
#: (``edgecam models pull embedder-mobilenet-v1``): docs/TRAINING.md's learning curve shows
#: training from scratch at chance on cluttered images that pretrained features separate.
PRETRAINED_ENTRY = "embedder-mobilenet-v1"
PRETRAINED_BASE = "mobilenet_v1"


def pretrained_weights() -> Path | None:
    """The downloaded :data:`PRETRAINED_ENTRY` file, or None (nothing is downloaded here)."""
    from edgecam.catalogue import ModelStore, load_catalogue
    from edgecam.errors import EdgecamError

    try:
        entry = load_catalogue().get(PRETRAINED_ENTRY)
        store = ModelStore()
        return store.model_file(entry) if store.is_downloaded(entry) else None
    except EdgecamError:  # no such entry in a user's replacement catalogue
        return None


@dataclass(frozen=True)
class Sizing:
    """What the data's size decided, with one reason per choice (printed before training)."""

    batch_size: int
    steps_per_epoch: int
    alpha: float | None  # None: the ModelSpec default
    depth: int | None
    bn_momentum: float | None
    reasons: tuple[str, ...]


def size_recipe(
    n_train: int,
    epochs: int,
    *,
    batch_size: int | None = None,
    steps_per_epoch: int | None = None,
    alpha: float | None = None,
    depth: int | None = None,
    bn_momentum: float | None = None,
    pretrained: bool = False,
    default_batch: int = 64,
    augmented: bool = True,
) -> Sizing:
    """The size-dependent settings for ``n_train`` training images; given values are kept.

    ``pretrained``: a ``--base`` backbone has its own width and depth (only the batch size and
    the epoch length are sized then). ``augmented``: whether each pass is augmented (a reason
    says so).
    """
    small = n_train < SMALL_FOLDER
    reasons = []
    if batch_size is None:
        batch_size = 16 if n_train < 500 else 32 if small else default_batch
        if small:
            reasons.append(
                f"batch size {batch_size}: {n_train} training images give "
                f"{-(-n_train // batch_size)} steps a pass"
            )
    passes = -(-n_train // batch_size)
    if steps_per_epoch is None:
        steps_per_epoch = max(passes, MIN_STEPS_PER_EPOCH)
        if steps_per_epoch > passes:
            reasons.append(
                f"an epoch is {steps_per_epoch} steps ({steps_per_epoch * batch_size / n_train:.1f}"
                f" passes over the images{', each differently augmented' if augmented else ''}):"
                f" a pass is only {passes} steps, too few between two validations for the"
                " checkpoint and early stopping"
            )
    if small and not pretrained and alpha is None and depth is None:
        alpha, depth = SMALL_ALPHA, SMALL_DEPTH
        reasons.append(
            f"alpha {alpha:g} with the first {depth} blocks (MobileNetV1: ~0.14M parameters): "
            f"the full network's 3.2M cannot be fitted from {n_train} images"
        )
    total = steps_per_epoch * epochs
    if bn_momentum is None and total < BN_SLOW_FROM_STEPS and not pretrained:
        bn_momentum = FAST_BN_MOMENTUM
        reasons.append(
            f"BatchNorm momentum {bn_momentum:g}: at most {total} steps, too few for 0.99's "
            "moving statistics to settle"
        )
    return Sizing(batch_size, steps_per_epoch, alpha, depth, bn_momentum, tuple(reasons))
