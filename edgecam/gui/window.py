"""The main window: video, predictions, stats; menus, toolbar and shortcuts; snapshots.

The Models menu, the first-run banner and the teach mode are built in their own modules
(models_menu, banner, teach_dock); the window only places them and swaps models in.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from PyQt6.QtCore import Qt, QTimer
from PyQt6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QInputDialog,
    QMainWindow,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

from edgecam.catalogue.progress import megabytes
from edgecam.config import ClassifierOptions, Delegate
from edgecam.gui.banner import Banner, banner_wanted
from edgecam.gui.menus import build_menus
from edgecam.gui.models_menu import GENERAL_MODEL, ModelsMenu, catalogue_entry
from edgecam.gui.session import QtSession
from edgecam.gui.settings import Settings
from edgecam.gui.snapshot import write_snapshot
from edgecam.gui.teach_dock import TeachDock
from edgecam.gui.teaching import is_work_bundle
from edgecam.gui.widgets import PredictionPanel, StatsPanel, VideoView

VIDEO_FILTER = "Videos (*.mp4 *.avi *.mkv *.mov *.mjpg *.webm);;All files (*)"
MODEL_FILTER = "TFLite models (*.tflite);;All files (*)"


class MainWindow(QMainWindow):
    """Live classification window around a :class:`QtSession`.

    Nothing slow runs on the GUI thread: models load and sources open in the session's worker
    threads, and the window updates when their signals arrive.
    """

    def __init__(
        self,
        session: QtSession,
        options: ClassifierOptions,
        settings: Settings,
        snapshot_dir: Path,
    ) -> None:
        super().__init__()
        self.session = session
        self.live = session.live
        self.options = options
        self._loading: ClassifierOptions | None = None
        self._remember = True
        self.settings = settings
        self.snapshot_dir = snapshot_dir
        self.setWindowTitle("edgecam")
        self.view = VideoView()
        general = catalogue_entry(GENERAL_MODEL)
        self.banner = Banner(megabytes(general[0].size) if general else None)
        central = QWidget()
        column = QVBoxLayout(central)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.banner)
        column.addWidget(self.view, 1)
        self.setCentralWidget(central)
        self.teach: TeachDock | None = None
        self.predictions = PredictionPanel(min(options.top_k, len(session.classifier.labels)))
        self.predictions.threshold = self.live.threshold
        self.stats = StatsPanel()
        for title, widget in (("Predictions", self.predictions), ("Stats", self.stats)):
            dock = QDockWidget(title, self)
            dock.setObjectName(title)
            dock.setWidget(widget)
            widget.setMinimumWidth(300)  # room for "fashion-mnist-... (28x28x1 uint8)" lines
            dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable)
            self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        build_menus(self)
        self.models = ModelsMenu(self)
        self.banner.download.connect(lambda: self.models.fetch(GENERAL_MODEL, self.use_model))
        self.banner.teach.connect(lambda: self.show_teach(True))
        self.banner.dismissed.connect(self.settings.dismiss_banner)
        session.frame_ready.connect(self._on_frame)
        session.result_ready.connect(self._on_result)
        session.status.connect(self.notify)
        session.note.connect(self.notify)
        session.source_failed.connect(self._on_source_failed)
        session.source_opened.connect(self._on_source_opened)
        session.source_rejected.connect(self._on_source_rejected)
        session.model_ready.connect(self._on_model_ready)
        session.model_failed.connect(self._on_model_failed)
        self._stats_timer = QTimer(self)
        self._stats_timer.timeout.connect(self._update_stats)
        self._stats_timer.start(500)
        self._describe_classifier()

    # -- actions ---------------------------------------------------------------------------

    # -- model and inference settings ------------------------------------------------------

    def load_classifier(self, options: ClassifierOptions, remember: bool = True) -> None:
        """Load ``options``' model in the background; swap it in when ready, else keep the old.

        ``remember``: save it as the model to start with next time (not a taught model that
        was never saved: its folder goes when the window closes).
        """
        self._loading, self._remember = options, remember
        self.notify(f"loading {options.model.name} on {options.delegate}...")
        self.live.load_model(options)

    def _on_model_ready(self) -> None:
        if self._loading is not None:
            self.options, self._loading = self._loading, None
        classifier = self.session.classifier
        self.predictions.set_rows(min(self.options.top_k, len(classifier.labels)))
        self._describe_classifier()
        self.notify(f"model: {classifier.name} on {classifier.delegate}")
        self._remember_options()
        self.update_banner()

    def _remember_options(self) -> None:
        if self._remember:
            self.settings.remember_options(self.options)

    def use_model(self, folder: Path) -> None:
        """Switch to a model folder (downloaded, taught or trained), keeping the settings."""
        folder = Path(folder)
        options = dataclasses.replace(self.options, model=folder, labels=None)
        self.load_classifier(options, remember=not is_work_bundle(folder))

    def use_embedder(self, folder: Path) -> None:
        self.show_teach(True).panel.set_embedder(Path(folder), Path(folder).name)

    def show_teach(self, on: bool = True) -> TeachDock:
        """Open (or close) the teach panel, built the first time."""
        if self.teach is None:
            self.teach = TeachDock(self)
            self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.teach)
        self.teach.setVisible(on)
        self.teach_action.setChecked(on)
        return self.teach

    def toggle_teach(self) -> None:
        self.show_teach(self.teach_action.isChecked())

    def update_banner(self) -> None:
        self.banner.setVisible(banner_wanted(self.options.model, self.live.source, self.settings))

    def _on_model_failed(self, options: ClassifierOptions, message: str) -> None:
        self._loading = None
        QMessageBox.warning(self, "edgecam", f"Could not load the model.\n\n{message}")
        self.notify(f"model not changed: {message}")
        self._describe_classifier()  # put the check marks back on what is in use

    def _describe_classifier(self) -> None:
        clf = self.session.classifier
        width, height = clf.input_size
        self.stats.set(
            "model",
            f"{clf.name} ({width}x{height}x{clf.input_spec.shape[3]} {clf.input_spec.dtype.name})",
        )
        self.stats.set("runtime", clf.runtime)
        self.stats.set("delegate", clf.delegate)
        for delegate, action in self.delegate_actions.items():
            action.setChecked(delegate is self.options.delegate)

    def choose_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Open a .tflite (or a bundle's model.tflite)",
            str(self.options.model),
            MODEL_FILTER,
        )
        if path:
            model = Path(path)
            # model.tflite inside a bundle: load the bundle (labels, model.json, Edge TPU variant).
            if model.name == "model.tflite" and (model.parent / "model.json").exists():
                model = model.parent
            self.load_classifier(dataclasses.replace(self.options, model=model, labels=None))

    def choose_bundle(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open a model bundle folder")
        if path:
            self.load_classifier(dataclasses.replace(self.options, model=Path(path), labels=None))

    def choose_labels(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Labels for the current model", "", "Text files (*.txt);;All files (*)"
        )
        if path:
            self.load_classifier(dataclasses.replace(self.options, labels=Path(path)))

    def set_delegate(self, delegate: Delegate) -> None:
        self.load_classifier(dataclasses.replace(self.options, delegate=delegate))

    def set_threads(self, threads: int | None) -> None:
        """Reload the model with ``threads`` CPU threads (None: the fastest count, timed)."""
        self.load_classifier(dataclasses.replace(self.options, threads=threads))

    def choose_top_k(self) -> None:
        k, ok = QInputDialog.getInt(
            self, "Top-k", "Predictions to show:", self.options.top_k, 1, 20
        )
        if ok:
            self.set_top_k(k)

    def set_top_k(self, k: int) -> None:
        """Show ``k`` predictions; only the post-processing changes, the model stays loaded."""
        self.options = dataclasses.replace(self.options, top_k=k)
        self.live.set_top_k(k)
        self.predictions.set_rows(min(k, len(self.session.classifier.labels)))
        self._remember_options()

    def choose_threshold(self) -> None:
        value, ok = QInputDialog.getDouble(
            self,
            "Threshold",
            "Below this score show 'uncertain':",
            self.predictions.threshold,
            0.0,
            1.0,
            2,
        )
        if ok:
            self.set_threshold(value)

    def set_threshold(self, value: float) -> None:
        self.live.set_threshold(value)
        self.predictions.threshold = value
        self.settings.set("threshold", value)

    # -- sources -----------------------------------------------------------------------------

    def open_source(self, spec: str) -> None:
        """Switch to ``spec`` in the background; the current source runs until it opens."""
        self.notify(f"opening {spec}...")
        self.live.switch_source(spec)

    def _on_source_opened(self, spec: str, description: str) -> None:
        self.view.show_message(f"waiting for {description}...")
        self.stats.set("source", spec)
        self.settings.set("source", spec)
        self.pause_action.setChecked(False)
        self.live.pause(False)
        self.notify(f"source: {description}")
        self.update_banner()

    def _on_source_rejected(self, spec: str, message: str) -> None:
        QMessageBox.warning(self, "edgecam", f"Could not open the source.\n\n{message}")
        self.notify(f"source not changed: {message}")

    def choose_video(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a video", "", VIDEO_FILTER)
        if path:
            self.open_source(path)

    def choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open an image folder")
        if path:
            self.open_source(path)

    def choose_url(self) -> None:
        url, ok = QInputDialog.getText(self, "Stream URL", "rtsp://, http://, ... URL:")
        if ok and url.strip():
            self.open_source(url.strip())

    def _on_source_failed(self, message: str) -> None:
        self.view.show_message(message)
        self.notify(message)

    # -- view ------------------------------------------------------------------------------

    def toggle_pause(self) -> None:
        self.live.pause(self.pause_action.isChecked())
        self.notify("paused" if self.pause_action.isChecked() else "resumed")

    def toggle_mirror(self) -> None:
        self.view.mirror = self.mirror_action.isChecked()
        self.settings.set("mirror", self.view.mirror)
        self.view.update()

    def toggle_fullscreen(self) -> None:
        if self.fullscreen_action.isChecked():
            self.showFullScreen()
        else:
            self.showNormal()

    def notify(self, text: str) -> None:
        self.statusBar().showMessage(text, 8000)

    def snapshot(self) -> tuple[Path, Path] | None:
        """Save the shown frame as PNG and the newest predictions as JSON beside it."""
        # The frame the newest predictions belong to (with slow inference, the displayed frame
        # may be newer than the one that was classified).
        latest = self.session.latest_result
        frame = latest[1].bgr if latest is not None else self.view.frame
        if frame is None:
            self.notify("no frame to save yet")
            return None
        record = {
            "model": str(self.options.model),
            "source": self.session.source_spec,
            "delegate": self.session.classifier.delegate,
            "frame_index": latest[1].index if latest else None,
            **(latest[0].to_dict() if latest else {"predictions": []}),
        }
        try:
            image_path, json_path = write_snapshot(self.snapshot_dir, frame, record)
        except (OSError, ValueError) as exc:
            QMessageBox.warning(self, "edgecam", f"Could not save the snapshot: {exc}")
            return None
        self.notify(f"saved {image_path} and {json_path.name}")
        return image_path, json_path

    # -- updates -----------------------------------------------------------------------------

    def _on_frame(self) -> None:
        frame = self.session.take_frame()
        if frame is not None:
            self.view.show_frame(frame.bgr)

    def _on_result(self) -> None:
        latest = self.session.take_result()
        if latest is not None:
            self.predictions.show_result(latest[0])

    def _update_stats(self) -> None:
        latest = self.session.latest_result
        self.stats.show_stats(self.view.display_fps(), self.live.stats(), latest)

    def closeEvent(self, event) -> None:
        self._stats_timer.stop()
        self.settings.set_geometry(self.saveGeometry())
        self.models.close()
        if self.teach is not None:
            self.teach.panel.close_session()
        self.session.close()
        event.accept()
