"""Training errors: part of edgecam's one error hierarchy, so the CLI prints them as one line."""

from edgecam.errors import EdgecamError


class DataError(EdgecamError):
    """A dataset that is missing, empty, unbalanced beyond use, or damaged."""


class TrainingError(EdgecamError):
    """A training, export or evaluation step that cannot go on."""
