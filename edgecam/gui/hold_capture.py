"""Hold C (anywhere in the window but a text field) or a button: ``tick`` a few times a second."""

from __future__ import annotations

from PyQt6.QtCore import QEvent, QObject, Qt, QTimer, pyqtSignal
from PyQt6.QtWidgets import QAbstractSpinBox, QApplication, QLineEdit, QTextEdit, QWidget

#: Captures a second while the key or the button is held.
CAPTURES_PER_SECOND = 5
CAPTURE_KEY = Qt.Key.Key_C
_TEXT_INPUTS = (QLineEdit, QAbstractSpinBox, QTextEdit)


class HoldToCapture(QObject):
    """Emits ``started`` then ``tick`` every 1/CAPTURES_PER_SECOND s until released.

    The key is watched by an application event filter while :meth:`watch` is on, so it works
    whichever widget of ``window`` has the focus; autorepeat presses and releases are ignored
    (a held key repeats them on X11).
    """

    started = pyqtSignal()
    tick = pyqtSignal()

    def __init__(self, window: QWidget, parent=None) -> None:
        super().__init__(parent)
        self.window = window
        self._timer = QTimer(self)
        self._timer.setInterval(1000 // CAPTURES_PER_SECOND)
        self._timer.timeout.connect(self.tick.emit)
        self._watching = False

    @property
    def held(self) -> bool:
        return self._timer.isActive()

    def press(self) -> None:
        if not self.held:
            self._timer.start()
            self.started.emit()

    def release(self) -> None:
        self._timer.stop()

    def watch(self, on: bool) -> None:
        """Listen to the key (the panel is shown) or not (hidden: also stops a capture)."""
        app = QApplication.instance()
        if on and not self._watching:
            app.installEventFilter(self)
        elif not on and self._watching:
            app.removeEventFilter(self)
            self.release()
        self._watching = on

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if event.type() not in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
            return False
        if event.key() != CAPTURE_KEY or event.modifiers() != Qt.KeyboardModifier.NoModifier:
            return False
        if not isinstance(obj, QWidget) or obj.window() is not self.window:
            return False
        if isinstance(obj, _TEXT_INPUTS):
            return False  # typing a class name with a C in it
        if not event.isAutoRepeat():
            if event.type() == QEvent.Type.KeyPress:
                self.press()
            else:
                self.release()
        return True  # consumed: the parents the key propagates to must not see it again
