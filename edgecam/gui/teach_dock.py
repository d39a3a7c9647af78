"""The teach panel in a dock of the main window, wired to its models and status bar."""

from __future__ import annotations

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QDockWidget, QScrollArea

from edgecam.gui.models_menu import TEACH_EMBEDDER, catalogue_entry, megabytes
from edgecam.gui.teach_panel import TeachPanel


class TeachDock(QDockWidget):
    """Holds a :class:`TeachPanel`; its taught bundles go live through ``window.use_model``."""

    def __init__(self, window) -> None:
        super().__init__("Teach", window)
        self.setObjectName("Teach")
        self.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetClosable
        )
        self.panel = TeachPanel(window.session)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        # Only vertical scrolling (a short screen): the dock is as wide as the panel needs.
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(self.panel.minimumSizeHint().width() + 24)
        scroll.setWidget(self.panel)
        self.setWidget(scroll)
        self.panel.use_model.connect(window.use_model)
        self.panel.notify.connect(window.notify)
        self.panel.embedder_wanted.connect(
            lambda: window.models.fetch(TEACH_EMBEDDER, window.use_embedder)
        )
        self.visibilityChanged.connect(
            lambda shown: window.teach_action.setChecked(shown or not self.isHidden())
        )
        found = catalogue_entry(TEACH_EMBEDDER)
        if found is None:
            self.panel.offer_download("no catalogue: choose an embedder")
            self.panel.download_button.setEnabled(False)
            return
        entry, store = found
        if store.is_downloaded(entry):
            self.panel.set_embedder(store.path(entry), entry.name)
        else:
            self.panel.embedder_label.setText(f"embedder: {entry.name} (not downloaded)")
            self.panel.offer_download(f"Download {entry.name} ({megabytes(entry.size)})")
