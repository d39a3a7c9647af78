"""What every delegate module provides, and the library check they share."""

from __future__ import annotations

import ctypes
from typing import TYPE_CHECKING

from edgecam.errors import DelegateError, EdgecamError

if TYPE_CHECKING:
    from edgecam.bundle import ModelFiles
    from edgecam.config import Delegate
    from edgecam.runtime.backends import Backend
    from edgecam.runtime.interpreter import Engine
    from edgecam.runtime.options import EngineOptions


class DelegateEntry:
    """One way to run a model; :data:`edgecam.runtime.delegates.DELEGATES` lists them in order.

    ``--delegate auto`` walks the table: each entry that :meth:`applies` is probed, then loaded,
    and the first that loads wins; a failure is logged as ``"<label> not used: <why>"`` and the
    walk goes on. An explicit ``--delegate X`` takes the first entry of kind ``X`` that applies
    (or the last of that kind, so that its probe can say why it cannot) and raises its errors.
    The last entry of the table applies to every model: it is where auto ends.

    Attributes:
        name: the entry's own name (``"gpu-library"``), for tests and logs.
        delegate: the ``--delegate`` choice it implements.
        label: how fallback lines name it (``"Edge TPU"``).
    """

    name: str
    delegate: Delegate
    label: str

    def applies(self, files: ModelFiles, options: EngineOptions) -> bool:
        """Whether this entry is meant for this model and these options (cheap, no loading).

        False skips it silently in auto: the Edge TPU for a model without an Edge TPU variant,
        the classic GPU delegate when no library is given.
        """
        return True

    def probe(
        self, backend: Backend, files: ModelFiles, options: EngineOptions
    ) -> DelegateError | None:
        """Why this entry cannot run ``files`` (None: worth loading). Cheap, no model load.

        The reason is the error an explicit choice raises; auto logs its message and moves on.
        """
        return None

    def load(self, backend: Backend, files: ModelFiles, options: EngineOptions) -> Engine:
        """Load the model on this delegate.

        Raises:
            DelegateError: the delegate could not start or cannot run this model.
            ModelError: the model itself failed to load.
        """
        raise NotImplementedError

    def describe(self, options: EngineOptions) -> str:
        """The status line for an engine this entry loads, e.g. ``cpu (XNNPACK, 2 threads)``."""
        raise NotImplementedError

    def fatal(self, files: ModelFiles, error: EdgecamError) -> DelegateError | None:
        """In auto, the error that ends the walk when this entry failed (None: fall back).

        For models nothing later in the table can run.
        """
        return None

    def __repr__(self) -> str:
        return f"<delegate {self.name}>"


def check_library(library: str, what: str, hint: str) -> None:
    """Open the shared library ourselves first.

    The runtimes' ``load_delegate`` prints an ugly "Exception ignored in Delegate.__del__"
    traceback when the library is missing; failing here first keeps the output to one line.
    """
    try:
        ctypes.CDLL(library)
    except OSError as exc:
        raise DelegateError(f"{what} library {library} could not be loaded ({exc})", hint) from None
