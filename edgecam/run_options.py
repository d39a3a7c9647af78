"""Option precedence for the live app: the command line, over saved settings, over defaults.

Each layer is a :class:`RunOptions` where ``None`` means "not given"; :meth:`RunOptions.over`
stacks two layers, and :meth:`RunOptions.classifier_options` fills what is still missing from
:mod:`edgecam.defaults`. No front end needs "was this given?" flags.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edgecam import defaults
from edgecam.config import ClassifierOptions, Delegate, ResizeMode, Runtime
from edgecam.errors import ConfigError, EdgecamError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunOptions:
    """What one layer (the command line, the saved settings) says; None: not given."""

    model: Path | None = None
    labels: Path | None = None  # belongs to the model of the same layer
    delegate: Delegate | None = None
    runtime: Runtime | None = None
    threads: int | None = None
    top_k: int | None = None
    edgetpu_device: str | None = None
    gpu_delegate_library: Path | None = None
    resize: ResizeMode | None = None
    source: str | None = None
    threshold: float | None = None

    def __post_init__(self) -> None:
        if self.threshold is not None and not 0.0 <= self.threshold <= 1.0:
            raise ConfigError(f"--threshold must be between 0 and 1, got {self.threshold}")

    def over(self, lower: RunOptions) -> RunOptions:
        """These options, with what is not given here taken from ``lower``.

        A labels file travels with its model: a saved model never gets the command line's
        ``--labels``, and a model given here never gets saved labels.
        """
        merged = {
            f.name: getattr(self, f.name)
            if getattr(self, f.name) is not None
            else getattr(lower, f.name)
            for f in dataclasses.fields(self)
        }
        if self.model is not None:
            merged["labels"] = self.labels
        elif lower.model is not None:
            merged["labels"] = lower.labels
        return RunOptions(**merged)

    def classifier_options(self) -> ClassifierOptions:
        """The classifier these options ask for, defaults filling the gaps.

        Raises:
            ConfigError: no model given and the default model is missing.
        """
        model = self.model
        if model is None:
            model, origin = defaults.default_model()
            if not model.exists():
                raise ConfigError(
                    f"no model given and {origin} ({model}) does not exist",
                    "pass --model BUNDLE_OR_TFLITE"
                    + (
                        f", or point ${defaults.DEFAULT_MODEL_ENV} at a model"
                        if origin.startswith("$")
                        else ""
                    ),
                )
        return ClassifierOptions(
            model=model,
            labels=self.labels,
            delegate=self.delegate or Delegate.AUTO,
            runtime=self.runtime or Runtime.AUTO,
            threads=self.threads,
            top_k=self.top_k or defaults.LIVE_TOP_K,
            edgetpu_device=self.edgetpu_device,
            gpu_delegate_library=self.gpu_delegate_library,
            resize=self.resize,
        )

    @property
    def threshold_or_default(self) -> float:
        return defaults.THRESHOLD if self.threshold is None else self.threshold


def first_classifier(
    given: RunOptions,
    saved: RunOptions,
    factory: Callable[[ClassifierOptions], object],
):
    """Build the classifier to start with: the command line over the saved settings.

    When the saved settings are what fails, they are dropped with a note and the command line
    with the defaults is tried instead. Returns ``(classifier, options)``.
    """
    from edgecam.live import build_classifier

    wanted = given.over(saved).classifier_options()
    try:
        return build_classifier(factory, wanted), wanted
    except EdgecamError as exc:
        plain = given.classifier_options()
        if wanted == plain:
            raise
        log.warning("the saved model settings did not load (%s); using defaults", exc.message)
    return build_classifier(factory, plain), plain
