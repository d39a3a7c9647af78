"""Start the desktop app: the command line over saved settings over defaults, then the window."""

from __future__ import annotations

import logging
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

from PyQt6.QtCore import QStandardPaths, QTimer
from PyQt6.QtWidgets import QApplication

from edgecam.defaults import RECONNECT_SECONDS
from edgecam.errors import EXIT_INTERRUPTED, EdgecamError
from edgecam.gui.session import QtSession
from edgecam.gui.settings import Settings
from edgecam.gui.window import MainWindow
from edgecam.live import LiveSession
from edgecam.run_options import RunOptions, first_classifier

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AppOptions:
    """What the command line decided; ``given``'s None values fall back to saved settings."""

    given: RunOptions = field(default_factory=RunOptions)
    fullscreen: bool = False
    demo_clip: Path | None = None
    snapshot_dir: Path | None = None
    reconnect_s: float = RECONNECT_SECONDS


def _snapshot_dir() -> Path:
    pictures = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.PicturesLocation)
    return Path(pictures or Path.home()) / "edgecam"


class _Notes(logging.Handler):
    """Keeps the notes logged while the app starts, for the window's status bar."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def _start_source(window: MainWindow, live: LiveSession, opts: AppOptions, saved: RunOptions):
    """The command line's source, else the saved one, camera 0 and the demo clip, in order."""
    try:
        if opts.given.source is not None:
            spec = opts.given.source
            window.stats.set("source", spec)
            live.start(spec)
            window.settings.set("source", spec)
            return
        saved_first = [saved.source, "0"] if saved.source else None
        description = live.start_default(saved_first, demo=opts.demo_clip)
        window.stats.set("source", live.source_spec or description)
    except EdgecamError as exc:
        window.view.show_message(f"{exc.message}\nchoose a source in the Source menu")
        log.warning("%s", exc)


def _install_interrupt(app: QApplication, window: MainWindow) -> list[bool]:
    """Ctrl-C in the terminal closes the window the way its close button does.

    Python runs signal handlers only when it gets control, so a timer hands it control a few
    times a second while Qt's event loop runs.
    """
    interrupted: list[bool] = []

    def on_sigint(*_args) -> None:
        interrupted.append(True)
        window.close()
        app.quit()

    signal.signal(signal.SIGINT, on_sigint)
    timer = QTimer(window)
    timer.timeout.connect(lambda: None)
    timer.start(200)
    return interrupted


def _log_slot_errors(kind, value, tb) -> None:
    """An exception in a Qt slot would abort the whole app (PyQt6 calls qFatal): log it instead."""
    log.error(
        "unexpected error in the window: %s: %s", kind.__name__, value, exc_info=(kind, value, tb)
    )


def run_app(opts: AppOptions, argv0: str = "edgecam") -> int:
    """Open the window and run until it is closed. Returns the exit status."""
    from edgecam.vision.classifier import Classifier

    app = QApplication.instance() or QApplication([argv0])
    app.setApplicationName("edgecam")
    notes = _Notes()
    logging.getLogger("edgecam").addHandler(notes)
    try:
        settings = Settings()
        saved = settings.saved_options()
        classifier, options = first_classifier(opts.given, saved, Classifier)
        merged = opts.given.over(saved)
        live = LiveSession(
            classifier,
            loop_files=True,
            reconnect_s=opts.reconnect_s,
            threshold=merged.threshold_or_default,
        )
        session = QtSession(live)
        window = MainWindow(session, options, settings, opts.snapshot_dir or _snapshot_dir())
        geometry = settings.geometry()
        if geometry is not None and not window.restoreGeometry(geometry):
            log.warning("ignored the saved window geometry (unreadable)")
        if geometry is None:
            window.resize(1000, 640)
        window.view.mirror = settings.mirror()
        window.mirror_action.setChecked(window.view.mirror)
        _start_source(window, live, opts, saved)
        window.update_banner()
    finally:
        logging.getLogger("edgecam").removeHandler(notes)
    if opts.fullscreen:
        window.fullscreen_action.setChecked(True)
        window.toggle_fullscreen()
    window.show()
    if notes.lines:
        window.notify(notes.lines[-1])
    interrupted = _install_interrupt(app, window)
    log.debug("window open: %s, source %s", options.model, live.source_spec)
    previous_hook, sys.excepthook = sys.excepthook, _log_slot_errors
    try:
        status = app.exec()
    finally:
        sys.excepthook = previous_hook
        signal.signal(signal.SIGINT, signal.default_int_handler)
        session.close()
        live.close()
    return EXIT_INTERRUPTED if interrupted else status
