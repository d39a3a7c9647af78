"""The one error hierarchy of edgecam.

Every error carries a message that says what failed (naming the file or device) and a hint the
user can act on. The CLI prints ``str(error)`` as one line and exits non-zero; it never shows a
traceback for these.
"""

from __future__ import annotations


class EdgecamError(Exception):
    """Base class: a failure the user can understand and fix."""

    exit_code = 2

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} — {self.hint}" if self.hint else self.message


class ConfigError(EdgecamError):
    """An option or argument that cannot be used."""


class ModelError(EdgecamError):
    """A model file or bundle that is missing, corrupt or of an unsupported shape."""


class LabelsError(EdgecamError):
    """A labels file that is missing, unreadable or does not match the model's outputs."""


class RuntimeNotFoundError(EdgecamError):
    """No TFLite runtime (or not the one asked for) is installed."""


class DelegateError(EdgecamError):
    """A delegate (GPU, Edge TPU) that cannot be loaded or cannot run the model."""


class ImageError(EdgecamError):
    """An input image that cannot be read or decoded."""


class SourceError(EdgecamError):
    """A frame source (camera, video, folder, stream) that cannot be opened or has stopped."""
