"""Settings that persist between runs (QSettings), read defensively.

A saved value that no longer makes sense (a deleted model, an unknown delegate, a corrupt
geometry) is dropped with a note in the log; it never stops the app from starting.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PyQt6.QtCore import QByteArray, QSettings

from edgecam.config import ClassifierOptions, Delegate
from edgecam.errors import ConfigError
from edgecam.run_options import RunOptions

log = logging.getLogger(__name__)


class Settings:
    """Typed access to the app's QSettings."""

    def __init__(self, qsettings: QSettings | None = None) -> None:
        self.store = qsettings or QSettings("edgecam", "edgecam")

    def _drop(self, key: str, why: str) -> None:
        log.warning("ignored the saved %s (%s)", key, why)
        self.store.remove(key)

    def saved_options(self) -> RunOptions:
        """The saved layer of the option precedence (every value checked, broken ones dropped)."""
        return RunOptions(
            model=self.model(),
            delegate=self.delegate(),
            threads=self.threads(),
            top_k=self.top_k(),
            source=self.source(),
            threshold=self.threshold(),
        )

    def model(self) -> Path | None:
        value = self.store.value("model")
        if not value:
            return None
        path = Path(str(value))
        if not path.exists():
            self._drop("model", f"{path} no longer exists")
            return None
        return path

    def delegate(self) -> Delegate | None:
        value = self.store.value("delegate")
        if not value:
            return None
        try:
            return Delegate.parse(str(value))
        except ConfigError:
            self._drop("delegate", f"unknown delegate {value!r}")
            return None

    def threads(self) -> int | None:
        return self._int("threads", 1, 64)

    def top_k(self) -> int | None:
        return self._int("top_k", 1, 20)

    def _int(self, key: str, low: int, high: int) -> int | None:
        value = self.store.value(key)
        if value in (None, ""):
            return None
        try:
            number = int(value)
        except (TypeError, ValueError):
            self._drop(key, f"not a number: {value!r}")
            return None
        if not low <= number <= high:
            self._drop(key, f"{number} is outside {low}..{high}")
            return None
        return number

    def threshold(self) -> float | None:
        value = self.store.value("threshold")
        if value in (None, ""):
            return None
        try:
            number = float(value)
        except (TypeError, ValueError):
            self._drop("threshold", f"not a number: {value!r}")
            return None
        if not 0.0 <= number <= 1.0:
            self._drop("threshold", f"{number} is outside 0..1")
            return None
        return number

    def source(self) -> str | None:
        value = self.store.value("source")
        return str(value) if value else None

    def mirror(self) -> bool:
        return str(self.store.value("mirror", "false")).lower() in ("true", "1")

    def banner_dismissed(self) -> bool:
        return str(self.store.value("banner_dismissed", "false")).lower() in ("true", "1")

    def dismiss_banner(self) -> None:
        """The first-run banner stays away from now on."""
        self.store.setValue("banner_dismissed", True)
        self.store.sync()

    def geometry(self) -> QByteArray | None:
        value = self.store.value("geometry")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def set(self, key: str, value) -> None:
        self.store.setValue(key, value)

    def set_geometry(self, geometry: QByteArray) -> None:
        self.store.setValue("geometry", geometry)
        self.store.sync()

    def remember_options(self, options: ClassifierOptions) -> None:
        self.store.setValue("model", str(options.model))
        self.store.setValue("delegate", options.delegate.value)
        if options.threads:
            self.store.setValue("threads", options.threads)
        else:  # auto: the fastest count, chosen at each load
            self.store.remove("threads")
        self.store.setValue("top_k", options.top_k)
        self.store.sync()
