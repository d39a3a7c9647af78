"""``--model NAME|PATH``: a path that exists wins; else a catalogue name, pulled when missing."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

from edgecam.catalogue.entries import Catalogue, CatalogueError, Entry, load_catalogue
from edgecam.catalogue.progress import TerminalProgress, megabytes
from edgecam.catalogue.store import ModelStore


def _say(text: str) -> None:
    print(f"edgecam: {text}", file=sys.stderr, flush=True)  # stdout may be JSON


def looks_like_path(text: str) -> bool:
    """A value no catalogue name can be: it has a folder separator or a file suffix."""
    return (
        os.sep in text
        or "/" in text
        or text.endswith((".tflite", ".json"))
        or text
        in (
            ".",
            "..",
        )
    )


def resolve_model(
    text: str | os.PathLike,
    pull_missing: bool = True,
    say: Callable[[str], None] = _say,
    *,
    catalogue: Catalogue | None = None,
    store: ModelStore | None = None,
) -> Path:
    """The path ``--model`` names: an existing path as given; a catalogue name's folder
    (pulled first when missing, saying so through ``say``).

    A path-like value that does not exist is returned as given, so the bundle code says
    "model not found" about it.

    Raises:
        CatalogueError: neither a path nor a catalogue name (close matches listed), or not
            downloaded with ``pull_missing`` False.
        DownloadError, DownloadCancelled: the pull failed.
    """
    path = Path(text).expanduser()
    if path.exists() or looks_like_path(str(text)):
        return path
    catalogue = catalogue or load_catalogue()
    entry = catalogue.find(str(text))
    if entry is None:
        raise CatalogueError(
            f"model not found: {text} (no such file or folder, nor a catalogue model)",
            catalogue.hint(str(text)),
        )
    return ensure(entry, pull_missing, say, store or ModelStore(catalogue=catalogue))


def what_to_pull(entry: Entry, store: ModelStore) -> str:
    """``3.6 MB, URL``; for an Edge TPU twin whose CPU model is missing, both."""
    cpu = store.cpu_twin(entry)
    if cpu is None or store.is_downloaded(cpu):
        return f"{megabytes(entry.size)}, {entry.url}"
    both = megabytes(entry.size + cpu.size)
    return f"{both} with its CPU model {cpu.name} as a fallback, from {_host(entry.url)}"


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).netloc or url


def ensure(
    entry: Entry,
    pull_missing: bool = True,
    say: Callable[[str], None] = _say,
    store: ModelStore | None = None,
) -> Path:
    """The entry's folder, pulled first when it is not downloaded."""
    store = store or ModelStore()
    if store.is_downloaded(entry):
        return store.path(entry)
    if not pull_missing:
        raise CatalogueError(f"{entry.name} is not downloaded", f"edgecam models pull {entry.name}")
    say(f"{entry.name} is not downloaded yet: pulling it ({what_to_pull(entry, store)})")
    bar = TerminalProgress(f"{entry.name}")
    try:
        folder = store.pull(entry, progress=bar)
    finally:
        bar.close()
    say(f"{entry.name}: SHA-256 checked, installed in {folder}")
    return folder
