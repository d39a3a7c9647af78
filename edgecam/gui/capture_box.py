"""The teach panel's capture side: classes, hold-to-capture, thumbnails, deleting captures."""

from __future__ import annotations

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtGui import QKeySequence, QShortcut
from PyQt6.QtWidgets import (
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListView,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from edgecam.errors import EdgecamError
from edgecam.gui.captures import Capture, CaptureSet
from edgecam.gui.hold_capture import CAPTURES_PER_SECOND, HoldToCapture
from edgecam.gui.thumbnails import THUMB, ThumbnailCache


def button(text: str, slot, tip: str = "") -> QPushButton:
    widget = QPushButton(text)
    widget.clicked.connect(slot)
    widget.setToolTip(tip)
    return widget


class CaptureBox(QWidget):
    """Classes of captured frames; a capture takes the session's newest frame.

    Signals:
        changed: the classes or captures changed (what Teach can do may have too).
        notify: a line for the status bar.
    """

    changed = pyqtSignal()
    notify = pyqtSignal(str)

    def __init__(self, session, parent=None) -> None:
        super().__init__(parent)
        self.session = session  # the QtSession: its newest frame is what a capture takes
        self.captures = CaptureSet()
        self._last_index: int | None = None
        self._icons = ThumbnailCache()
        self.hold = HoldToCapture(self.window(), self)
        self.hold.started.connect(self._on_hold)
        self.hold.tick.connect(self.capture_once)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("new class name")
        self.name_edit.returnPressed.connect(self._add_typed_class)
        row.addWidget(self.name_edit)
        row.addWidget(button("Add class", self._add_typed_class))
        layout.addLayout(row)
        self.class_list = QListWidget()
        self.class_list.setMaximumHeight(80)
        self.class_list.currentRowChanged.connect(lambda _row: self.refresh())
        layout.addWidget(self.class_list)
        row = QHBoxLayout()
        row.addWidget(button("Rename...", self.rename_current))
        row.addWidget(button("Remove class", self.remove_current))
        layout.addLayout(row)
        self.capture_button = QPushButton("Hold to capture (C)")
        self.capture_button.setToolTip(
            f"hold: {CAPTURES_PER_SECOND} frames a second into the selected class"
        )
        self.capture_button.pressed.connect(self.hold.press)
        self.capture_button.released.connect(self.hold.release)
        layout.addWidget(self.capture_button)
        self.count_label = QLabel("")
        layout.addWidget(self.count_label)
        self.thumbs = QListWidget()
        self.thumbs.setViewMode(QListView.ViewMode.IconMode)
        self.thumbs.setIconSize(THUMB)
        self.thumbs.setResizeMode(QListView.ResizeMode.Adjust)
        self.thumbs.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)
        self.thumbs.setMinimumHeight(120)
        layout.addWidget(self.thumbs, 1)
        delete = QShortcut(QKeySequence(QKeySequence.StandardKey.Delete), self.thumbs)
        delete.setContext(Qt.ShortcutContext.WidgetShortcut)
        delete.activated.connect(self.delete_selected)
        layout.addWidget(button("Delete selected captures", self.delete_selected))
        self.refresh()

    # -- classes ------------------------------------------------------------------------------

    @property
    def current_class(self) -> str | None:
        item = self.class_list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item is not None else None

    def _attempt(self, change) -> str | None:
        try:
            name = change()
        except EdgecamError as exc:
            QMessageBox.warning(self, "edgecam", str(exc))
            return None
        self.refresh(select=name)
        return name

    def add_class(self, name: str) -> str | None:
        return self._attempt(lambda: self.captures.add_class(name))

    def _add_typed_class(self) -> None:
        if self.add_class(self.name_edit.text()):
            self.name_edit.clear()

    def rename_current(self) -> None:
        old = self.current_class
        if old is not None:
            new, ok = QInputDialog.getText(self, "Rename class", "New name:", text=old)
            if ok:
                self.rename_class(old, new)

    def rename_class(self, old: str, new: str) -> str | None:
        return self._attempt(lambda: self.captures.rename_class(old, new))

    def remove_current(self) -> None:
        name = self.current_class
        if name is not None:
            for capture in self.captures.captures(name):
                self._icons.forget(capture.id)
            self.captures.remove_class(name)
            self.refresh()

    def set_captures(self, captures: CaptureSet) -> None:
        self.captures = captures
        self._icons.clear()
        self.refresh(select=captures.names[0] if captures.names else None)

    # -- capturing ----------------------------------------------------------------------------

    @property
    def capturing(self) -> bool:
        return self.hold.held

    def _on_hold(self) -> None:
        if self.current_class is None:
            self.hold.release()
            self.notify.emit("add a class first: captures go into the selected class")
            return
        self.capture_once()

    def capture_once(self) -> bool:
        """Add the source's newest frame to the selected class (once per frame)."""
        name = self.current_class
        frame = self.session.latest_frame
        if name is None or frame is None or frame.index == self._last_index:
            return False
        self._last_index = frame.index
        capture = self.captures.add(name, frame.bgr)
        self.thumbs.scrollToItem(self._add_thumb(capture))
        self._update_counts()
        self.changed.emit()
        return True

    def _add_thumb(self, capture: Capture) -> QListWidgetItem:
        item = QListWidgetItem(self._icons.get(capture.id, capture.image), "")
        item.setData(Qt.ItemDataRole.UserRole, capture.id)
        self.thumbs.addItem(item)
        return item

    def delete_selected(self) -> int:
        name = self.current_class
        if name is None:
            return 0
        ids = [item.data(Qt.ItemDataRole.UserRole) for item in self.thumbs.selectedItems()]
        for capture_id in ids:
            self.captures.delete(name, capture_id)
            self._icons.forget(capture_id)
        self.refresh()
        return len(ids)

    def showEvent(self, event) -> None:
        self.hold.window = self.window()  # the main window, once the dock holds the panel
        self.hold.watch(True)
        super().showEvent(event)

    def hideEvent(self, event) -> None:
        self.hold.watch(False)
        super().hideEvent(event)

    # -- state --------------------------------------------------------------------------------

    def _update_counts(self) -> None:
        for row in range(self.class_list.count()):
            item = self.class_list.item(row)
            name = item.data(Qt.ItemDataRole.UserRole)
            item.setText(f"{name}  ({self.captures.count(name)})")
        name = self.current_class
        self.count_label.setText(
            f"{self.captures.count(name)} captures of {name}" if name else "no class yet"
        )

    def refresh(self, select: str | None = None) -> None:
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
            self._add_thumb(capture)
        self._update_counts()
        self.changed.emit()
