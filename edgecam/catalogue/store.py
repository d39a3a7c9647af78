"""Where catalogue models live: one bundle-like folder per entry in the models home.

Layout (``models_home()`` is ``$EDGECAM_HOME``, else ``$XDG_CACHE_HOME/edgecam``, else
``~/.cache/edgecam``)::

    <home>/models/<name>/model.tflite     the entry's file, checked
    <home>/models/<name>/model_edgetpu.tflite  for an Edge TPU twin: its file (model.tflite
                                          is then the CPU entry's, so the bundle falls back)
    <home>/models/<name>/labels.txt       when the entry's labels are a separate file
    <home>/models/<name>/model.json       what the entry and the file say (edgecam.bundle_spec)
    <home>/downloads/<name>.<sha>.part    a download in progress (resumable)

A folder appears whole or not at all: it is assembled under a hidden name beside its final
one and renamed into place, after the SHA-256 check. ``edgecam run --model <folder>`` takes it
like any bundle.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import threading
from pathlib import Path

from edgecam import defaults
from edgecam.bundle import BUNDLE_EDGETPU_MODEL, BUNDLE_LABELS, BUNDLE_MODEL, BUNDLE_SPEC
from edgecam.bundle_spec import BundleSpec, InputSpec, OutputSpec
from edgecam.catalogue.download import (
    CHUNK,
    RETRIES,
    DownloadError,
    Progress,
    _disk_error,
    fetch,
)
from edgecam.catalogue.entries import Catalogue, CatalogueError, Entry, load_catalogue
from edgecam.files import new_staging_dir, recover_dir, replace_dir

log = logging.getLogger(__name__)

#: The key of model.json that records which catalogue entry (and file) the folder holds.
SPEC_KEY = "catalogue"


def models_home() -> Path:
    """edgecam's cache folder, which holds ``models/``, ``downloads/`` and ``catalogue.json``."""
    return defaults.cache_home()


class ModelStore:
    """The downloaded catalogue models (``root``: ``<models home>/models``)."""

    def __init__(
        self,
        home: Path | None = None,
        *,
        timeout: float | None = None,
        retries: int = RETRIES,
        chunk: int = CHUNK,
        catalogue: Catalogue | None = None,
    ) -> None:
        self.home = Path(home) if home is not None else models_home()
        self._catalogue = catalogue  # for an Edge TPU twin's CPU entry; loaded when needed
        self.root = self.home / "models"
        self.staging = self.home / "downloads"
        self.timeout = timeout
        self.retries = retries
        self.chunk = chunk

    def path(self, entry: Entry) -> Path:
        """The entry's folder (whether or not it is downloaded)."""
        return self.root / entry.name

    def part_files(self, entry: Entry) -> list[Path]:
        """The entry's downloads in progress."""
        return sorted(self.staging.glob(f"{entry.name}.*.part"))

    def cpu_twin(self, entry: Entry) -> Entry | None:
        """The CPU entry an Edge TPU entry was compiled from (None for others)."""
        if entry.cpu is None:
            return None
        if self._catalogue is None:
            self._catalogue = load_catalogue()
        twin = self._catalogue.find(entry.cpu)
        if twin is None:  # the entry came from another catalogue than this store's
            raise CatalogueError(
                f"{entry.name}'s CPU model '{entry.cpu}' is not in the catalogue",
                "give the store the catalogue the entry came from",
            )
        return twin

    def model_file(self, entry: Entry) -> Path:
        """Where the entry's own file is in its folder: ``model_edgetpu.tflite`` for an Edge TPU
        twin (beside its CPU entry's ``model.tflite``), else ``model.tflite``."""
        name = BUNDLE_EDGETPU_MODEL if entry.cpu is not None else BUNDLE_MODEL
        return self.path(entry) / name

    def is_downloaded(self, entry: Entry) -> bool:
        """The folder holds this entry's file (same SHA-256 as the catalogue, same size)."""
        folder = self.path(entry)
        try:
            recorded = json.loads((folder / BUNDLE_SPEC).read_text(encoding="utf-8"))
            ok = recorded[SPEC_KEY]["sha256"] == entry.sha256
            ok = ok and (folder / BUNDLE_MODEL).is_file()
            return ok and self.model_file(entry).stat().st_size == entry.size
        except (OSError, ValueError, KeyError, TypeError):
            return False

    def installed_spec(self, entry: Entry) -> dict | None:
        """The downloaded folder's model.json (what was measured at install), or None."""
        if not self.is_downloaded(entry):
            return None
        try:
            return json.loads((self.path(entry) / BUNDLE_SPEC).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def pull(
        self,
        entry: Entry,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
        source: Path | None = None,
    ) -> Path:
        """Download, check and install the entry; its folder (at once when already here).

        ``source``: a local copy of the entry's file to install instead of downloading it (a
        machine without internet), checked against the catalogue's size and SHA-256 all the same.

        ``progress(done, total)`` is called from this thread; ``cancel`` stops the download
        (:class:`~edgecam.catalogue.download.DownloadCancelled`) and installs nothing. An Edge
        TPU twin pulls its CPU entry too (when that is not here yet): its folder is a bundle
        with both, which runs on the CPU where there is no Coral.

        Raises:
            DownloadError, DownloadCancelled: see :func:`edgecam.catalogue.download.fetch`.
        """
        if self.is_downloaded(entry):
            return self.path(entry)
        url = entry.url
        if source is not None:
            if entry.labels is not None:
                raise CatalogueError(
                    f"{entry.name}'s labels are a separate download: --from gives only its model",
                    f"pull {entry.name} where there is internet, and copy its folder",
                )
            if not Path(source).is_file():
                raise CatalogueError(f"--from {source}: no such file", "check the path")
            url = Path(source).resolve().as_uri()  # urllib reads file:// as it reads https://
        cpu = self.cpu_twin(entry)
        cpu_model = None
        if cpu is not None:
            todo = entry.size + (0 if self.is_downloaded(cpu) else cpu.size)
            ahead = _offset(progress, 0, todo)
            cpu_model = self.model_file(cpu) if self.is_downloaded(cpu) else None
            if cpu_model is None:
                cpu_model = self.pull(cpu, ahead, cancel) / BUNDLE_MODEL
                progress = _offset(progress, cpu.size, todo)
        labels = None
        if entry.labels is not None:
            labels = self._fetch(
                entry,
                entry.labels.url,
                entry.labels.size,
                entry.labels.sha256,
                None,
                cancel,
                "labels",
            )
        try:
            model = self._fetch(entry, url, entry.size, entry.sha256, progress, cancel, "model")
        except DownloadError as exc:
            if source is None:
                raise
            raise CatalogueError(
                f"--from {source} is not {entry.name}'s file ({exc.message})",
                f"copy the file the catalogue lists: {entry.url}",
            ) from None
        return self._install(entry, model, labels, cpu_model)

    def remove(self, entry: Entry) -> bool:
        """Delete the entry's folder and any download in progress; False when none was here."""
        removed = False
        for part in self.part_files(entry):
            part.unlink(missing_ok=True)
            removed = True
        for lock in self.staging.glob(f".{entry.name}.*.part.lock"):
            lock.unlink(missing_ok=True)
        folder = self.path(entry)
        if folder.is_dir():
            shutil.rmtree(folder)
            removed = True
        return removed

    # -- internals ---------------------------------------------------------------------------

    def _fetch(self, entry, url, size, sha256, progress, cancel, what) -> Path:
        part = self.staging / f"{entry.name}.{what}-{sha256[:12]}.part"
        return fetch(
            url,
            part,
            size=size,
            sha256=sha256,
            progress=progress,
            cancel=cancel,
            timeout=self.timeout,
            retries=self.retries,
            chunk=self.chunk,
        )

    def _install(
        self, entry: Entry, model: Path, labels: Path | None, cpu_model: Path | None = None
    ) -> Path:
        target = self.path(entry)
        try:
            recover_dir(target)
            building = new_staging_dir(target)
        except OSError as exc:
            raise _disk_error(self.root, exc) from None
        try:
            own = building / self.model_file(entry).name
            shutil.move(str(model), own)
            if cpu_model is not None:
                _link_or_copy(cpu_model, building / BUNDLE_MODEL)
            if labels is not None:
                shutil.move(str(labels), building / BUNDLE_LABELS)
            spec = describe(entry, own, labels is not None)
            (building / BUNDLE_SPEC).write_text(spec, encoding="utf-8")
            replace_dir(building, target)
        except OSError as exc:
            shutil.rmtree(building, ignore_errors=True)
            raise _disk_error(target, exc) from None
        return target


def _offset(progress: Progress | None, before: int, total: int) -> Progress | None:
    """``progress`` for one file of several: ``before`` bytes done ahead of it, ``total`` in all."""
    if progress is None:
        return None
    return lambda done, _size: progress(before + done, total)


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)  # the CPU entry's file, not stored twice
    except OSError:
        shutil.copy2(source, target)


def describe(entry: Entry, model: Path, separate_labels: bool) -> str:
    """``model.json`` for an installed entry: the catalogue's record, and the input and output
    read from the file's own graph (no runtime needed)."""
    from edgecam.labels import read_embedded_labels
    from edgecam.teach.graph import ModelGraph

    shape, dtype, outputs = None, None, None
    with contextlib.suppress(Exception):  # a graph this reader does not know: no record
        graph = ModelGraph.read(model.read_bytes(), str(model))
        tensor = graph.tensors[graph.inputs[0]]
        shape, dtype = tensor.shape, tensor.dtype
        out = graph.tensors[graph.outputs[0]].shape
        outputs = int(out[-1]) if out else None
    inp = InputSpec()
    if shape is not None and len(shape) == 4 and shape[3] in (1, 3):
        color = "GRAY" if shape[3] == 1 else "RGB"
        inp = InputSpec(shape[2], shape[1], shape[3], color_order=color, dtype=dtype)
    classifier = entry.kind == "classifier"
    labels = None if separate_labels else read_embedded_labels(model)
    record = {
        "name": entry.name,
        "url": entry.url,
        "size": entry.size,
        "sha256": entry.sha256,
        "license": entry.license,
        "description": entry.description,
        "edgetpu": entry.edgetpu,
        "cpu": entry.cpu,
        "embedded_labels": len(labels) if labels else None,
        "outputs": outputs,
    }
    spec = BundleSpec(
        name=entry.name,
        task="image_classification" if classifier else "image_embedding",
        input=inp,
        output=OutputSpec(num_classes=outputs if classifier and outputs else None),
        labels=BUNDLE_LABELS if separate_labels else None,
        extra={SPEC_KEY: record},
    )
    return spec.to_text()
