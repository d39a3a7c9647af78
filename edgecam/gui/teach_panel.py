"""The teach panel: name classes, hold C (or the button) to capture, Teach, Save, Open captures.

The captures live in a :class:`~edgecam.gui.captures.CaptureSet`; fitting and exporting run on
the :class:`~edgecam.gui.teaching.TeachSession`'s worker thread, and the window swaps the
taught bundle in when :attr:`TeachPanel.use_model` fires. Nothing slow runs on the GUI thread.
"""

from __future__ import annotations

import time
from pathlib import Path

from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import (
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QVBoxLayout,
    QWidget,
)

from edgecam.defaults import cache_home
from edgecam.errors import EdgecamError
from edgecam.gui.capture_box import CaptureBox, button
from edgecam.gui.captures import CaptureSet
from edgecam.gui.teaching import Taught, TeachSession
from edgecam.gui.train_fully import FullTraining, training_problem
from edgecam.gui.worker import when_done


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
        self.teacher = TeachSession()
        self.embedder: Path | None = None
        self.busy = False
        self.last: Taught | None = None
        self.training = FullTraining(self)
        layout = QVBoxLayout(self)
        self.embedder_label = QLabel("embedder: none")
        self.embedder_label.setWordWrap(True)
        layout.addWidget(self.embedder_label)
        row = QHBoxLayout()
        self.download_button = button(
            "Download embedder", self.embedder_wanted.emit, "the catalogue's embedder-mobilenet-v1"
        )
        row.addWidget(self.download_button)
        row.addWidget(button("Choose...", self.choose_embedder, "any .tflite or bundle"))
        layout.addLayout(row)
        self.box = CaptureBox(session)
        self.box.notify.connect(self.notify.emit)
        layout.addWidget(self.box, 1)
        grid = QGridLayout()
        self.teach_button = button("Teach", self.teach_now, "fit and use it live")
        self.save_button = button("Save...", self.choose_save, "a bundle + the captures")
        self.open_button = button("Open captures...", self.choose_captures)
        self.train_button = button("Train fully", self.train_fully)
        problem = training_problem()
        self.train_button.setToolTip(
            problem or "edgecam train + export on the captures (minutes); swapped in if it passes"
        )
        for i, widget in enumerate(
            (self.teach_button, self.save_button, self.open_button, self.train_button)
        ):
            grid.addWidget(widget, i // 2, i % 2)
        layout.addLayout(grid)
        self.train_progress = QProgressBar()
        self.train_progress.setVisible(False)
        layout.addWidget(self.train_progress)
        self.result_label = QLabel("Add two classes, capture a few seconds of each, then Teach.")
        self.result_label.setWordWrap(True)
        layout.addWidget(self.result_label)
        self.box.changed.connect(self._refresh)
        self.training.progress.connect(self._on_train_progress)
        self.training.finished.connect(self._on_trained)
        self.training.failed.connect(self._on_train_failed)
        self._refresh()

    @property
    def captures(self) -> CaptureSet:
        return self.box.captures

    def _warn(self, text: str) -> None:
        QMessageBox.warning(self, "edgecam", text)

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

    # -- teaching -----------------------------------------------------------------------------

    def _can_teach(self) -> str | None:
        if self.embedder is None:
            return "choose or download an embedder first"
        return self._classes_problem()

    def _classes_problem(self) -> str | None:
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
        self.box.set_captures(loaded)
        counts = ", ".join(f"{n} {loaded.count(n)}" for n in loaded.names)
        self.result_label.setText(f"opened {loaded.total} captures: {counts}")

    # -- training fully (TensorFlow) ----------------------------------------------------------

    def train_fully(self) -> None:
        """edgecam train + export on the captures; the bundle lands in the cache folder
        (``trained/<time>``), so minutes of training outlive the window."""
        problem = training_problem() or self._classes_problem()
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
        bundle = cache_home() / "trained" / time.strftime("%Y%m%d-%H%M%S")
        self.training.start(folder, self.teacher.work_dir / "run", bundle)
        self._refresh()

    def _on_train_progress(self, done: int, total: int, line: str) -> None:
        if total:
            self.train_progress.setRange(0, total)
            self.train_progress.setValue(done)
        self.result_label.setText(line)

    def _on_trained(self, bundle: Path) -> None:
        self.train_progress.setVisible(False)
        self.result_label.setText(f"trained fully, now live: {bundle}")
        self.use_model.emit(bundle)
        self._refresh()

    def _on_train_failed(self, message: str) -> None:
        self.train_progress.setVisible(False)
        self.result_label.setText(f"training failed: {message}")
        self._refresh()

    # -- state --------------------------------------------------------------------------------

    def _refresh(self) -> None:
        self.teach_button.setEnabled(not self.busy and self._can_teach() is None)
        for widget in (self.save_button, self.open_button):
            widget.setEnabled(not self.busy)
        self.train_button.setEnabled(
            not self.busy
            and not self.training.running
            and training_problem() is None
            and self._classes_problem() is None
        )

    def close_session(self) -> None:
        """Stop capturing and training; release the embedder (the window is closing)."""
        self.box.hold.watch(False)
        self.training.stop()
        self.teacher.close()


def captures_folder(bundle: Path) -> Path:
    """Where "Save" puts the captures of ``bundle``: beside it, ``<name>-captures``."""
    return bundle.with_name(f"{bundle.name}-captures")
