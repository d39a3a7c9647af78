"""The Models menu: the catalogue, what is downloaded, and downloads that never freeze the window.

A download runs in a worker thread behind a cancellable QProgressDialog; the model is switched
in only once it has arrived whole and checked (the catalogue's store guarantees a cancelled or
failed download installs nothing), so on any failure the current model simply stays.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from PyQt6.QtCore import QObject, Qt, pyqtSignal
from PyQt6.QtGui import QAction
from PyQt6.QtWidgets import QMessageBox, QProgressDialog

from edgecam.catalogue import (
    Catalogue,
    DownloadCancelled,
    Entry,
    ModelStore,
    load_catalogue,
)
from edgecam.catalogue.progress import megabytes
from edgecam.errors import EdgecamError
from edgecam.gui.worker import in_thread, when_done

log = logging.getLogger(__name__)

#: What the banner offers and the teach mode embeds with.
GENERAL_MODEL = "imagenet-mobilenet-v2"
TEACH_EMBEDDER = "embedder-mobilenet-v1"


def catalogue_entry(name: str) -> tuple[Entry, ModelStore] | None:
    """The catalogue's entry ``name`` and the store, or None (noted) when unreadable."""
    try:
        return load_catalogue().get(name), ModelStore()
    except EdgecamError as exc:
        log.warning("the model catalogue is unusable: %s", exc)
        return None


class _Progress(QObject):
    """Carries ``(done, total)`` from the download thread to the dialog (queued)."""

    changed = pyqtSignal(int, int)


class ModelsMenu(QObject):
    """The menu and the downloads; ``window`` is the MainWindow (use_model, notify)."""

    downloaded = pyqtSignal(object)  # the entry's folder

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.menu = window.menuBar().addMenu("&Models")
        self.menu.setToolTipsVisible(True)
        self.menu.aboutToShow.connect(self.rebuild)
        self.dialog: QProgressDialog | None = None
        self.cancel: threading.Event | None = None
        self.actions: dict[str, QAction] = {}
        self.closed = False
        self.rebuild()

    # -- the menu -------------------------------------------------------------------------

    def _load(self) -> tuple[Catalogue, ModelStore] | None:
        try:
            return load_catalogue(), ModelStore()
        except EdgecamError as exc:
            self._error_item = str(exc)
            return None

    def rebuild(self) -> None:
        """List the entries with a check mark on the one in use (re-read at each opening)."""
        self.menu.clear()
        self.actions = {}
        loaded = self._load()
        if loaded is None:
            action = self.menu.addAction(f"catalogue unusable: {self._error_item}")
            action.setEnabled(False)
            return
        catalogue, store = loaded
        twins = {e.edgetpu for e in catalogue.entries if e.edgetpu}
        model = Path(self.window.options.model).resolve()
        sections = (
            ("Classifiers", [e for e in catalogue.entries if e.kind == "classifier"]),
            ("Embedders (for Teach)", [e for e in catalogue.entries if e.kind == "embedder"]),
        )
        for title, entries in sections:
            self.menu.addSection(title)
            tpu_menu = None
            # The Edge TPU twins last, in a submenu: most machines have no Coral.
            for entry in sorted(entries, key=lambda e: e.name in twins):
                if entry.name in twins:
                    tpu_menu = tpu_menu or self.menu.addMenu(f"Edge TPU ({title.split()[0]})")
                    target = tpu_menu
                else:
                    target = self.menu
                here = store.is_downloaded(entry)
                state = "downloaded" if here else f"download {megabytes(entry.size)}"
                action = QAction(f"{entry.name}  —  {entry.task} ({state})", self)
                action.setToolTip(entry.description)
                in_use = here and store.path(entry).resolve() == model
                action.setCheckable(in_use)  # a check mark on the one in use, no empty boxes
                action.setChecked(in_use)
                action.triggered.connect(lambda _=False, e=entry: self.choose(e))
                target.addAction(action)
                self.actions[entry.name] = action
        self.menu.addSeparator()
        where = self.menu.addAction(f"models folder: {store.root}")
        where.setEnabled(False)

    def choose(self, entry: Entry) -> None:
        """A classifier: use it live. An embedder: teach with it. Downloading first if needed."""
        if entry.kind == "embedder":
            self.fetch(entry, self.window.use_embedder)
        else:
            self.fetch(entry, self.window.use_model)

    # -- downloads ------------------------------------------------------------------------

    def fetch(self, entry: Entry | str, then: Callable[[Path], None]):
        """``then(folder)`` once ``entry`` is here (at once if it is); the download's Future."""
        if isinstance(entry, str):
            found = catalogue_entry(entry)
            if found is None:
                QMessageBox.warning(self.window, "edgecam", f"{entry} is not in the catalogue")
                return None
            entry = found[0]
        store = ModelStore()
        if store.is_downloaded(entry):
            then(store.path(entry))
            return None
        if self.dialog is not None:
            self.window.notify("a download is already running")
            return None
        self.cancel = cancel = threading.Event()
        dialog = QProgressDialog(
            f"Downloading {entry.name} ({megabytes(entry.size)})...", "Cancel", 0, 1000, self.window
        )
        dialog.setWindowTitle("edgecam")
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(0)
        dialog.setAutoClose(False)
        dialog.setAutoReset(False)
        dialog.canceled.connect(cancel.set)
        dialog.setValue(0)
        dialog.show()
        self.dialog = dialog
        progress = _Progress(self)
        progress.changed.connect(self._on_progress)
        future = in_thread(
            lambda: store.pull(entry, progress=progress.changed.emit, cancel=cancel),
            "edgecam-download",
        )
        when_done(
            future,
            self,
            lambda folder: self._on_done(entry, folder, then),
            lambda message, error: self._on_failed(entry, message, error),
        )
        self.window.notify(f"downloading {entry.name}...")
        return future

    def _on_progress(self, done: int, total: int) -> None:
        dialog = self.dialog
        if dialog is None or total <= 0 or self.cancel.is_set():
            return
        dialog.setLabelText(f"Downloading... {megabytes(done)} of {megabytes(total)}")
        # Last: a window-modal dialog's setValue runs the event loop, which may deliver the
        # download's end (and close the dialog) before it returns.
        dialog.setValue(min(1000, done * 1000 // total))

    def _close_dialog(self) -> None:
        if self.dialog is not None:
            self.dialog.canceled.disconnect()
            self.dialog.close()
            self.dialog.deleteLater()
            self.dialog = None

    def _on_done(self, entry: Entry, folder: Path, then) -> None:
        self._close_dialog()
        if self.closed:
            return
        self.window.notify(f"downloaded {entry.name} to {folder}")
        self.downloaded.emit(folder)
        then(folder)

    def close(self) -> None:
        """Cancel a download in flight (the window is closing); its end is then ignored."""
        self.closed = True
        if self.cancel is not None:
            self.cancel.set()

    def _on_failed(self, entry: Entry, message: str, error) -> None:
        self._close_dialog()
        if self.closed:
            return
        if isinstance(error, DownloadCancelled):
            self.window.notify(f"download of {entry.name} cancelled: the model did not change")
            return
        QMessageBox.warning(
            self.window,
            "edgecam",
            f"Could not download {entry.name}.\n\n{message}\n\nThe current model stays.",
        )
        self.window.notify(f"download of {entry.name} failed: {message}")
