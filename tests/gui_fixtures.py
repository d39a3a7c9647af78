"""Fixtures the window's tests share (imported by them: conftest stays free of Qt, which the Pi
environment lacks), under ``*_fixture`` names so that a test's parameters do not shadow
the imports. Import only after ``pytest.importorskip("PyQt6.QtWidgets")``."""

from __future__ import annotations

import pytest
from conftest import FIXTURES
from PyQt6.QtCore import QSettings
from PyQt6.QtWidgets import QMessageBox

from edgecam.config import ClassifierOptions
from edgecam.gui.session import QtSession
from edgecam.gui.settings import Settings
from edgecam.gui.window import MainWindow
from edgecam.live import LiveSession
from edgecam.vision import Classifier

COLOR = FIXTURES / "color_float32.tflite"


@pytest.fixture(name="settings")
def settings_fixture(tmp_path):
    return Settings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))


@pytest.fixture(name="warnings_shown")
def warnings_shown_fixture(monkeypatch):
    """Record QMessageBox warnings instead of blocking on them."""
    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text: shown.append(text))
    return shown


@pytest.fixture(name="make_window")
def make_window_fixture(qtbot, settings, tmp_path):
    """``make(model=..., delegate=..., classifier=..., live=..., size=..., **options)``: a shown
    MainWindow on a looping live session, closed after the test."""
    created = []

    def make(model=COLOR, delegate="cpu", classifier=None, live=None, size=(800, 500), **kwargs):
        options = ClassifierOptions(model=model, delegate=delegate, top_k=3, **kwargs)
        live = live or LiveSession(classifier or Classifier(options), loop_files=True)
        window = MainWindow(QtSession(live), options, settings, tmp_path / "snaps")
        qtbot.addWidget(window)
        window.resize(*size)
        window.show()
        created.append(window)
        return window

    yield make
    for window in created:
        window.close()
