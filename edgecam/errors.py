"""The one error hierarchy of edgecam.

Every error carries a message that says what failed (naming the file or device) and a hint the
user can act on. The CLI prints ``str(error)`` as one line and exits non-zero; it never shows a
traceback for these.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import traceback
from collections.abc import Callable


class EdgecamError(Exception):
    """Base class: a failure the user can understand and fix."""

    exit_code = 2

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} — {self.hint}" if self.hint else self.message


class ConfigError(EdgecamError):
    """An option or argument that cannot be used."""


class ModelError(EdgecamError):
    """A model file or bundle that is missing, corrupt or of an unsupported shape."""


class LabelsError(EdgecamError):
    """A labels file that is missing, unreadable or does not match the model's outputs."""


class RuntimeNotFoundError(EdgecamError):
    """No TFLite runtime (or not the one asked for) is installed."""


class DelegateError(EdgecamError):
    """A delegate (GPU, Edge TPU) that cannot be loaded or cannot run the model."""


class ImageError(EdgecamError):
    """An input image that cannot be read or decoded."""


class SourceError(EdgecamError):
    """A frame source (camera, video, folder, stream) that cannot be opened or has stopped."""


def _print_error(text: str) -> None:
    """Print the one error line, never into another thread's capture of native stderr.

    A worker may still hold fd 2 redirected (edgecam.runtime.native) when the command ends;
    a line written then would only reach the terminal when that capture ends, which a process
    about to exit may not wait for.
    """
    from edgecam.runtime import native

    held = native.capture_lock.acquire(timeout=2.0)
    try:
        print(text, file=sys.stderr, flush=True)
    finally:
        if held:
            native.capture_lock.release()


#: Exit status after Ctrl-C (128 + SIGINT), as shells expect.
EXIT_INTERRUPTED = 130

_ctrl_c_seen = False


def _remember_ctrl_c(signum, frame) -> None:
    global _ctrl_c_seen
    _ctrl_c_seen = True
    raise KeyboardInterrupt


def watch_for_ctrl_c() -> None:
    """Make SIGINT raise KeyboardInterrupt, as Python's own handler does, and remember it.

    Python drops an exception raised where it cannot propagate: a weakref callback of the
    import machinery, a ``__del__``. A Ctrl-C landing there (seen: 0.3 s into ``edgecam
    train``, while TensorFlow imports) printed "Exception ignored" and the run went on to the
    end with exit 0. :func:`raise_if_interrupted` raises it again at the next safe point, so
    Python's "Exception ignored" report (a traceback) of that one is left out.
    """
    signal.signal(signal.SIGINT, _remember_ctrl_c)  # the entry point's, on the main thread
    report = sys.unraisablehook

    def unless_ctrl_c(unraisable) -> None:
        if not (_ctrl_c_seen and issubclass(unraisable.exc_type, KeyboardInterrupt)):
            report(unraisable)

    sys.unraisablehook = unless_ctrl_c


def raise_if_interrupted() -> None:
    """Raise KeyboardInterrupt if a Ctrl-C came and was swallowed (see :func:`watch_for_ctrl_c`)."""
    if _ctrl_c_seen:
        raise KeyboardInterrupt


def run_command(command: Callable[[], int], interrupted_hint: str = "") -> int:
    """Run one CLI command and turn what it raises into an exit status.

    An :class:`EdgecamError` becomes one ``edgecam: error:`` line (a traceback first with
    ``-v``) and its ``exit_code``; Ctrl-C exits 130 (with ``interrupted_hint`` when given); a
    closed stdout (``edgecam classify ... | head``) exits 0. Every command line (``edgecam``
    and the training commands) goes through here.
    """
    from edgecam import logs

    try:
        raise_if_interrupted()  # one that came while the command's modules imported
        return command()
    except EdgecamError as exc:
        if logs.verbose():
            traceback.print_exc()
        _print_error(f"edgecam: error: {exc}")
        return exc.exit_code
    except KeyboardInterrupt:
        if interrupted_hint:
            print(f"edgecam: interrupted; {interrupted_hint}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # Python would complain again when it flushes stdout at exit.
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        return 0
