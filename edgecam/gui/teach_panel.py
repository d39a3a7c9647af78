"""The teach panel: name classes, hold C (or the button) to capture, Teach, Save, Open captures.

The captures live in a :class:`~edgecam.gui.captures.CaptureSet`; fitting and exporting run on
the :class:`~edgecam.gui.teaching.TeachSession`'s worker thread, and the window swaps the
taught bundle in when :attr:`TeachPanel.use_model` fires. Nothing slow runs on the GUI thread.
"""

from __future__ import annotations

import time
from pathlib import Path

from PyQt6.QtCore import QEvent, QObject, Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QKeySequence, QShortcut
from PyQt6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListView,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from edgecam.errors import EdgecamError
from edgecam.gui.captures import CaptureSet
from edgecam.gui.teaching import Taught, TeachSession
from edgecam.gui.thumbnails import THUMB, ThumbnailCache
from edgecam.gui.train_fully import FullTraining, training_problem
from edgecam.gui.worker import when_done

#: Captures a second while C (or the capture button) is held.
CAPTURES_PER_SECOND = 5
CAPTURE_KEY = Qt.Key.Key_C
_TEXT_INPUTS = (QLineEdit, QAbstractSpinBox, QTextEdit)


class TeachPanel(QWidget):
    """The teach mode's controls.

    Signals:
        use_model: a bundle folder to use live (taught, or trained fully); the last
            :class:`Taught` is in :attr:`last`.
        embedder_wanted: the user asked for the catalogue's embedder (download it).
        notify: a line for the status bar.
    """

    use_model = pyqtSignal(object)
    embedder_wanted = pyqtSignal()
    notify = pyqtSignal(str)

    def __init__(self, session, parent=None) -> None:
        super().__init__(parent)
        self.session = session  # the QtSession: its newest frame is what a capture takes
        self.captures = CaptureSet()
        self.teacher = TeachSession()
        self.embedder: Path | None = None
        self.busy = False
        self.last: Taught | None = None
        self._last_index: int | None = None
        self._icons = ThumbnailCache()
        self._timer = QTimer(self)
        self._timer.setInterval(1000 // CAPTURES_PER_SECOND)
        self._timer.timeout.connect(self.capture_once)
        self.training = FullTraining(self)
        self._build()
        self.training.progress.connect(self._on_train_progress)
        self.training.finished.connect(self._on_trained)
        self.training.failed.connect(self._on_train_failed)
        self._refresh()

    # -- layout -------------------------------------------------------------------------------

    def _button(self, text: str, slot, tip: str = "") -> QPushButton:
        button = QPushButton(text)
        button.clicked.connect(slot)
        button.setToolTip(tip)
        return button

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        self.embedder_label = QLabel("embedder: none")
        self.embedder_label.setWordWrap(True)
        layout.addWidget(self.embedder_label)
        row = QHBoxLayout()
        self.download_button = self._button(
            "Download embedder", self.embedder_wanted.emit, "the catalogue's embedder-mobilenet-v1"
        )
        row.addWidget(self.download_button)
        row.addWidget(self._button("Choose...", self.choose_embedder, "any .tflite or bundle"))
        layout.addLayout(row)

        row = QHBoxLayout()
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("new class name")
        self.name_edit.returnPressed.connect(self._add_typed_class)
        row.addWidget(self.name_edit)
        row.addWidget(self._button("Add class", self._add_typed_class))
        layout.addLayout(row)
        self.class_list = QListWidget()
        self.class_list.setMaximumHeight(110)
        self.class_list.currentRowChanged.connect(lambda _row: self._refresh())
        layout.addWidget(self.class_list)
        row = QHBoxLayout()
        row.addWidget(self._button("Rename...", self.rename_current))
        row.addWidget(self._button("Remove class", self.remove_current))
        layout.addLayout(row)

        self.capture_button = QPushButton("Hold to capture (C)")
        self.capture_button.setToolTip(
            f"hold: {CAPTURES_PER_SECOND} frames a second into the selected class"
        )
        self.capture_button.pressed.connect(self.start_capture)
        self.capture_button.released.connect(self.stop_capture)
        layout.addWidget(self.capture_button)
        self.count_label = QLabel("")
        layout.addWidget(self.count_label)
        self.thumbs = QListWidget()
        self.thumbs.setViewMode(QListView.ViewMode.IconMode)
        self.thumbs.setIconSize(THUMB)
        self.thumbs.setResizeMode(QListView.ResizeMode.Adjust)
        self.thumbs.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)
        self.thumbs.setMinimumHeight(130)
        layout.addWidget(self.thumbs, 1)
        delete = QShortcut(QKeySequence(QKeySequence.StandardKey.Delete), self.thumbs)
        delete.setContext(Qt.ShortcutContext.WidgetShortcut)
        delete.activated.connect(self.delete_selected)
        layout.addWidget(self._button("Delete selected captures", self.delete_selected))

        grid = QGridLayout()
        self.teach_button = self._button("Teach", self.teach_now, "fit and use it live")
        self.save_button = self._button("Save...", self.choose_save, "a bundle + the captures")
        self.open_button = self._button("Open captures...", self.choose_captures)
        self.train_button = self._button("Train fully", self.train_fully)
        for i, button in enumerate(
            (self.teach_button, self.save_button, self.open_button, self.train_button)
        ):
            grid.addWidget(button, i // 2, i % 2)
        layout.addLayout(grid)
        problem = training_problem()
        self.train_button.setEnabled(problem is None)
        self.train_button.setToolTip(
            problem or "edgecam train + export on the captures (minutes); swapped in if it passes"
        )
        self.train_progress = QProgressBar()
        self.train_progress.setVisible(False)
        layout.addWidget(self.train_progress)
        self.result_label = QLabel("Add two classes, capture a few seconds of each, then Teach.")
        self.result_label.setWordWrap(True)
        layout.addWidget(self.result_label)

    # -- the embedder -------------------------------------------------------------------------

    def set_embedder(self, path: Path | None, description: str = "") -> None:
        self.embedder = Path(path) if path else None
        text = description or (self.embedder.name if self.embedder else "none")
        self.embedder_label.setText(f"embedder: {text}")
        self.download_button.setVisible(self.embedder is None)
        self._refresh()

    def offer_download(self, text: str) -> None:
        """Name what :attr:`embedder_wanted` would download (e.g. its size)."""
        self.download_button.setText(text)

    def choose_embedder(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "An embedder or classifier to teach on", "", "TFLite models (*.tflite)"
        )
        if path:
            model = Path(path)
            if model.name == "model.tflite" and (model.parent / "model.json").exists():
                model = model.parent
            self.set_embedder(model)

    # -- classes ------------------------------------------------------------------------------

    @property
    def current_class(self) -> str | None:
        item = self.class_list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else None

    def _warn(self, text: str) -> None:
        QMessageBox.warning(self, "edgecam", text)

    def add_class(self, name: str) -> str | None:
        try:
            name = self.captures.add_class(name)
        except EdgecamError as exc:
            self._warn(str(exc))
            return None
        self._refresh(select=name)
        return name

    def _add_typed_class(self) -> None:
        if self.add_class(self.name_edit.text()):
            self.name_edit.clear()

    def select_class(self, name: str) -> None:
        self._refresh(select=name)

    def rename_current(self) -> None:
        old = self.current_class
        if old is None:
            return
        new, ok = QInputDialog.getText(self, "Rename class", "New name:", text=old)
        if ok:
            self.rename_class(old, new)

    def rename_class(self, old: str, new: str) -> None:
        try:
            new = self.captures.rename_class(old, new)
        except EdgecamError as exc:
            self._warn(str(exc))
            return
        self._refresh(select=new)

    def remove_current(self) -> None:
        name = self.current_class
        if name is not None:
            for capture in self.captures.captures(name):
                self._icons.forget(capture.id)
            self.captures.remove_class(name)
            self._refresh()

    # -- capturing ----------------------------------------------------------------------------

    def start_capture(self) -> None:
        if self.current_class is None:
            self.notify.emit("add a class first: captures go into the selected class")
            return
        self.capture_once()
        self._timer.start()

    def stop_capture(self) -> None:
        self._timer.stop()

    @property
    def capturing(self) -> bool:
        return self._timer.isActive()

    def capture_once(self) -> bool:
        """Add the source's newest frame to the selected class (once per frame)."""
        name = self.current_class
        frame = self.session.latest_frame
        if name is None or frame is None or frame.index == self._last_index:
            return False
        self._last_index = frame.index
        capture = self.captures.add(name, frame.bgr)
        item = QListWidgetItem(self._icons.get(capture.id, capture.image), "")
        item.setData(Qt.ItemDataRole.UserRole, capture.id)
        self.thumbs.addItem(item)
        self.thumbs.scrollToItem(item)
        self._update_counts()
        return True

    def delete_selected(self) -> int:
        name = self.current_class
        if name is None:
            return 0
        ids = [item.data(Qt.ItemDataRole.UserRole) for item in self.thumbs.selectedItems()]
        for capture_id in ids:
            self.captures.delete(name, capture_id)
            self._icons.forget(capture_id)
        self._refresh()
        return len(ids)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        """Holding C anywhere in the window (but in a text field) captures."""
        if event.type() not in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
            return False
        if event.key() != CAPTURE_KEY or event.modifiers() != Qt.KeyboardModifier.NoModifier:
            return False
        if not isinstance(obj, QWidget) or obj.window() is not self.window():
            return False
        if isinstance(obj, _TEXT_INPUTS):
            return False
        if not event.isAutoRepeat():
            if event.type() == QEvent.Type.KeyPress:
                self.start_capture()
            else:
                self.stop_capture()
        return True

    def showEvent(self, event) -> None:
        QApplication.instance().installEventFilter(self)
        super().showEvent(event)

    def hideEvent(self, event) -> None:
        QApplication.instance().removeEventFilter(self)
        self.stop_capture()
        super().hideEvent(event)

    # -- teaching -----------------------------------------------------------------------------

    def _can_teach(self) -> str | None:
        if self.embedder is None:
            return "choose or download an embedder first"
        if len(self.captures.names) < 2:
            return "teaching needs at least two classes"
        empty = [n for n in self.captures.names if not self.captures.count(n)]
        if empty:
            return f"class {empty[0]!r} has no captures yet"
        return None

    def teach_now(self):
        """Fit on the captures in the worker; the Future, or None when it cannot start."""
        problem = self._can_teach()
        if problem or self.busy:
            self.notify.emit(problem or "already teaching")
            return None
        self._set_busy(True, f"teaching {len(self.captures.names)} classes...")
        started = time.monotonic()
        future = self.teacher.teach(self.embedder, self.captures.snapshot(), self.captures.key())
        when_done(future, self, lambda taught: self._on_taught(taught, started), self._on_failed)
        return future

    def _on_taught(self, taught: Taught, started: float) -> None:
        self._set_busy(False)
        self.last = taught
        report = taught.report
        counts = ", ".join(f"{c.name} {c.train}" for c in report.classes)
        self.result_label.setText(
            f"taught in {time.monotonic() - started:.1f} s on {counts} "
            f"(train accuracy {100 * report.train_accuracy:.0f}%): now live"
        )
        self.use_model.emit(taught.bundle)

    def _on_failed(self, message: str, _error=None) -> None:
        self._set_busy(False)
        self.result_label.setText(f"not taught: {message}")
        self._warn(message)

    def _set_busy(self, busy: bool, text: str = "") -> None:
        self.busy = busy
        if text:
            self.result_label.setText(text)
        self._refresh()

    def choose_save(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Save the taught model (a bundle folder) and its captures", "my-objects"
        )
        if path:
            self.save_to(Path(path))

    def save_to(self, bundle: Path):
        """Write the bundle to ``bundle`` and the captures to ``<bundle>-captures``."""
        problem = self._can_teach()
        if problem or self.busy:
            self._warn(problem or "wait for the current teach to finish")
            return None
        bundle = Path(bundle)
        folder = captures_folder(bundle)
        self._set_busy(True, f"saving {bundle.name}...")
        captures = self.captures

        def saved(taught: Taught) -> None:
            self._set_busy(False)
            self.result_label.setText(f"saved {taught.bundle} and the captures in {folder}")
            self.notify.emit(f"saved {taught.bundle} (edgecam run --model {taught.bundle})")

        future = self.teacher.save(
            self.embedder,
            captures.snapshot(),
            captures.key(),
            bundle,
            then=lambda: captures.save(folder),
        )
        when_done(future, self, saved, self._on_failed)
        return future

    def choose_captures(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open captures (a folder of class folders)")
        if path:
            self.open_captures(Path(path))

    def open_captures(self, folder: Path):
        """Load a class-per-folder dataset in the worker, replacing the captures."""
        if self.busy:
            return None
        self._set_busy(True, f"opening {folder}...")
        future = self.teacher.submit(CaptureSet.load, Path(folder))
        when_done(future, self, self._on_opened, self._on_failed)
        return future

    def _on_opened(self, loaded: CaptureSet) -> None:
        self._set_busy(False)
        self.captures = loaded
        self._icons.clear()
        counts = ", ".join(f"{n} {loaded.count(n)}" for n in loaded.names)
        self.result_label.setText(f"opened {loaded.total} captures: {counts}")
        self._refresh(select=loaded.names[0])

    # -- training fully (TensorFlow) ----------------------------------------------------------

    def train_fully(self) -> None:
        problem = training_problem() or self._can_teach()
        if problem or self.busy or self.training.running:
            self._warn(problem or "wait for the current job to finish")
            return
        folder = self.teacher.work_dir / "captures"
        try:
            self.captures.save(folder)
        except EdgecamError as exc:
            self._warn(str(exc))
            return
        self.train_progress.setVisible(True)
        self.train_progress.setRange(0, 0)
        self.training.start(folder, self.teacher.work_dir / "trained")
        self._refresh()

    def _on_train_progress(self, done: int, total: int, line: str) -> None:
        if total:
            self.train_progress.setRange(0, total)
            self.train_progress.setValue(done)
        self.result_label.setText(line)

    def _on_trained(self, bundle: Path) -> None:
        self.train_progress.setVisible(False)
        self.result_label.setText(f"trained fully: {bundle}, now live")
        self.use_model.emit(bundle)
        self._refresh()

    def _on_train_failed(self, message: str) -> None:
        self.train_progress.setVisible(False)
        self.result_label.setText(f"training failed: {message}")
        self._refresh()

    # -- state --------------------------------------------------------------------------------

    def _update_counts(self) -> None:
        name = self.current_class
        for row in range(self.class_list.count()):
            item = self.class_list.item(row)
            n = item.data(Qt.ItemDataRole.UserRole)
            item.setText(f"{n}  ({self.captures.count(n)})")
        self.count_label.setText(
            f"{self.captures.count(name)} captures of {name}" if name else "no class selected"
        )
        self.teach_button.setEnabled(not self.busy and self._can_teach() is None)

    def _refresh(self, select: str | None = None) -> None:
        """Rebuild the class list and the thumbnails from the captures."""
        current = select or self.current_class
        self.class_list.blockSignals(True)
        self.class_list.clear()
        for name in self.captures.names:
            item = QListWidgetItem(name)
            item.setData(Qt.ItemDataRole.UserRole, name)
            self.class_list.addItem(item)
            if name == current:
                self.class_list.setCurrentItem(item)
        if self.class_list.currentItem() is None and self.class_list.count():
            self.class_list.setCurrentRow(0)
        self.class_list.blockSignals(False)
        self.thumbs.clear()
        name = self.current_class
        for capture in self.captures.captures(name) if name else []:
            item = QListWidgetItem(self._icons.get(capture.id, capture.image), "")
            item.setData(Qt.ItemDataRole.UserRole, capture.id)
            self.thumbs.addItem(item)
        self._update_counts()
        for button in (self.save_button, self.open_button):
            button.setEnabled(not self.busy)
        self.train_button.setEnabled(
            not self.busy and not self.training.running and training_problem() is None
        )

    def close_session(self) -> None:
        """Stop capturing and training; release the embedder (the window is closing)."""
        self.stop_capture()
        self.training.stop()
        self.teacher.close()


def captures_folder(bundle: Path) -> Path:
    """Where "Save" puts the captures of ``bundle``: beside it, ``<name>-captures``."""
    return bundle.with_name(f"{bundle.name}-captures")
