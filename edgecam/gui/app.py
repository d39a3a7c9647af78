"""Start the desktop app: pick model and source (arguments, saved settings, defaults), show it."""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path

from PyQt6.QtCore import QStandardPaths
from PyQt6.QtWidgets import QApplication

from edgecam.capture.sources import VideoFileSource
from edgecam.config import ClassifierOptions
from edgecam.errors import EdgecamError
from edgecam.gui.session import LiveSession
from edgecam.gui.settings import Settings
from edgecam.gui.window import MainWindow
from edgecam.vision import Classifier


@dataclass(frozen=True)
class AppOptions:
    """What the command line decided; None means "use the saved setting, else the default"."""

    classifier: ClassifierOptions
    model_given: bool = False
    top_k_given: bool = False
    delegate_given: bool = False
    source: str | None = None
    threshold: float | None = None
    fullscreen: bool = False
    demo_clip: Path | None = None
    default_model: Path | None = None
    snapshot_dir: Path | None = None


def _snapshot_dir() -> Path:
    pictures = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.PicturesLocation)
    return Path(pictures or Path.home()) / "edgecam"


def _classifier(opts: AppOptions, settings: Settings, notes: list[str]):
    """The classifier to start with: saved model/delegate unless given on the command line."""
    options = opts.classifier
    saved_model = None if opts.model_given else settings.model()
    saved_delegate = None if opts.delegate_given else settings.delegate()
    saved_top_k = None if opts.top_k_given else settings.top_k()
    saved_threads = settings.threads() if options.threads is None else None
    candidate = dataclasses.replace(
        options,
        model=saved_model or options.model,
        delegate=saved_delegate or options.delegate,
        top_k=saved_top_k or options.top_k,
        threads=saved_threads or options.threads,
        # --labels belongs to the model given with it, not to a saved one.
        labels=None if saved_model else options.labels,
    )
    try:
        return Classifier(candidate), candidate
    except EdgecamError as exc:
        if candidate == options:
            raise
        notes.append(f"the saved model settings did not load ({exc.message}); using defaults")
        return Classifier(options), options


def _start_source(
    window: MainWindow, opts: AppOptions, settings: Settings, notes: list[str]
) -> None:
    if opts.source is not None:
        window.open_source(opts.source)
        return
    spec = settings.source() or "0"
    try:
        window.session.start(spec)
        window.stats.set("source", spec)
        return
    except EdgecamError as exc:
        reason = exc.message
    if spec != "0":
        notes.append(f"the saved source did not open ({reason}); trying camera 0")
        try:
            window.session.start("0")
            window.stats.set("source", "0")
            return
        except EdgecamError as exc:
            reason = exc.message
    if opts.demo_clip is not None and opts.demo_clip.exists():
        window.session.start(VideoFileSource(opts.demo_clip, loop=True))
        window.stats.set("source", f"demo clip ({reason})")
        notes.append(f"{reason}: showing the demo clip {opts.demo_clip.name} instead")
    else:
        window.view.show_message(f"{reason}\nchoose a source in the Source menu")
        notes.append(reason)


def run_app(opts: AppOptions, argv0: str = "edgecam") -> int:
    """Open the window and run until it is closed. Returns the exit status."""
    app = QApplication.instance() or QApplication([argv0])
    app.setApplicationName("edgecam")
    settings = Settings()
    notes = list(settings.notices)
    classifier, options = _classifier(opts, settings, notes)
    notes += classifier.notices
    threshold = opts.threshold if opts.threshold is not None else settings.threshold()
    session = LiveSession(classifier, loop_files=True)
    window = MainWindow(
        session,
        options,
        settings,
        opts.snapshot_dir or _snapshot_dir(),
        threshold=0.5 if threshold is None else threshold,
    )
    geometry = settings.geometry()
    if geometry is not None and not window.restoreGeometry(geometry):
        notes.append("ignored the saved window geometry (unreadable)")
    if geometry is None:
        window.resize(1000, 640)
    window.view.mirror = settings.mirror()
    window.mirror_action.setChecked(window.view.mirror)
    _start_source(window, opts, settings, notes)
    if opts.fullscreen:
        window.fullscreen_action.setChecked(True)
        window.toggle_fullscreen()
    window.show()
    for note in notes:
        print(f"edgecam: note: {note}", file=sys.stderr)
    if notes:
        window.notify(notes[-1])
    try:
        return app.exec()
    finally:
        session.stop()
        session.classifier.close()
