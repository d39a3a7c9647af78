"""The model catalogue (``edgecam models``): pretrained models a user pulls by name.

Qt-free and TensorFlow-free. :func:`load_catalogue` reads the entries, :class:`ModelStore`
downloads and keeps them (one bundle-like folder each), :func:`resolve_model` turns a
``--model NAME`` into that folder, pulling it first when it is missing.
"""

from edgecam.catalogue.download import DownloadCancelled, DownloadError
from edgecam.catalogue.entries import (
    Catalogue,
    CatalogueError,
    Entry,
    LabelsRef,
    load_catalogue,
)
from edgecam.catalogue.resolve import resolve_model
from edgecam.catalogue.store import ModelStore, models_home

__all__ = [
    "Catalogue",
    "CatalogueError",
    "DownloadCancelled",
    "DownloadError",
    "Entry",
    "LabelsRef",
    "ModelStore",
    "load_catalogue",
    "models_home",
    "resolve_model",
]
