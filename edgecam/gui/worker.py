"""Work off the GUI thread: a future's outcome delivered to GUI-thread slots as a signal."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future

from PyQt6.QtCore import QObject, pyqtSignal

from edgecam.errors import EdgecamError

log = logging.getLogger(__name__)


class Outcome(QObject):
    """Calls ``on_done(result)`` or ``on_failed(message, error)`` in the GUI thread, once.

    The worker thread emits a private signal; its slot is a method of this object, which
    lives in the GUI thread, so the call is queued there whatever the callbacks are.
    """

    _ready = pyqtSignal(object)

    def __init__(self, on_done, on_failed, parent=None) -> None:
        super().__init__(parent)
        self._on_done, self._on_failed = on_done, on_failed
        self._ready.connect(self._deliver)

    def post(self, future: Future) -> None:
        """Called in the worker thread when ``future`` is done."""
        self._ready.emit(future)

    def _deliver(self, future: Future) -> None:
        try:
            error = future.exception()
            if error is None:
                self._on_done(future.result())
            else:
                self._on_failed(describe(error), error)
        finally:
            self.deleteLater()


def describe(error: BaseException) -> str:
    """One line for a message box: an EdgecamError's message and hint, else the type too."""
    if isinstance(error, EdgecamError):
        return str(error)
    log.error("unexpected error in a worker", exc_info=error)
    return f"unexpected error: {type(error).__name__}: {error}"


def when_done(
    future: Future,
    parent: QObject,
    on_done: Callable[[object], None],
    on_failed: Callable[[str, object], None],
) -> Outcome:
    """Call ``on_done(result)`` or ``on_failed(message, error)`` in the GUI thread."""
    outcome = Outcome(on_done, on_failed, parent)
    future.add_done_callback(outcome.post)
    return outcome


def in_thread(fn: Callable[[], object], name: str) -> Future:
    """Run ``fn()`` in a new daemon thread; its Future."""
    future: Future = Future()

    def run() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(fn())
        except BaseException as exc:  # handed to the GUI thread, which reports it
            future.set_exception(exc)

    threading.Thread(target=run, daemon=True, name=name).start()
    return future
