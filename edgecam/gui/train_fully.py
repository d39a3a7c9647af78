""" "Train fully": ``edgecam train`` then ``edgecam export`` on the captures, as child processes.

TensorFlow never enters the window's process: the two commands run in a QProcess, their
output lines become progress ("Epoch 3/30"), and the bundle is handed over only when export
succeeds (it fails when the TFLite model loses more accuracy than its gate allows).
The Python that trains is ``$EDGECAM_TRAIN_PYTHON`` (e.g. a separate TensorFlow environment),
else the window's own.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from PyQt6.QtCore import QObject, QProcess, pyqtSignal

TRAIN_PYTHON_ENV = "EDGECAM_TRAIN_PYTHON"
#: The recipe is `edgecam train`'s own defaults (it sizes itself to the folder); a fifth of
#: the captures is held out, so the export's accuracy gate has images to judge by.
TRAIN_ARGS = ("--val-split", "0.2")
EXPORT_ARGS = ("--no-edgetpu",)
_EPOCH = re.compile(r"^Epoch (\d+)/(\d+)")


def train_python() -> str:
    return os.environ.get(TRAIN_PYTHON_ENV) or sys.executable


@functools.cache
def _problem_for(python: str) -> str | None:
    if python == sys.executable:
        missing = [m for m in ("tensorflow", "training") if importlib.util.find_spec(m) is None]
    else:
        code = (
            "import importlib.util as u, sys; "
            "print(' '.join(m for m in ('tensorflow', 'training') if u.find_spec(m) is None))"
        )
        try:
            proc = subprocess.run(
                [python, "-c", code], capture_output=True, text=True, timeout=30, check=True
            )
        except (OSError, subprocess.SubprocessError) as exc:
            return f"{TRAIN_PYTHON_ENV}={python} does not run ({exc})"
        missing = proc.stdout.split()
    if "tensorflow" in missing:
        return (
            "TensorFlow is not installed for this Python: install the train extra "
            f"(pip install 'edgecam[train]') or point {TRAIN_PYTHON_ENV} at a Python that has it"
        )
    if missing:
        return "the training package is not importable (train from an edgecam checkout)"
    return None


def training_problem() -> str | None:
    """Why "Train fully" cannot run here, or None when it can."""
    return _problem_for(train_python())


class FullTraining(QObject):
    """Runs train, then export; ``finished(bundle)`` or ``failed(message)`` at the end."""

    progress = pyqtSignal(int, int, str)  # epochs done, epochs in all (0: unknown), a line
    finished = pyqtSignal(object)
    failed = pyqtSignal(str)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._process: QProcess | None = None
        self._steps: list[list[str]] = []
        self._bundle: Path | None = None
        self._last_line = ""

    @property
    def running(self) -> bool:
        return self._process is not None

    def start(self, data: Path, run: Path, bundle: Path, extra_train: tuple[str, ...] = ()) -> None:
        """Train on ``data`` into the run folder ``run``, then export the bundle ``bundle``."""
        shutil.rmtree(run, ignore_errors=True)  # a new run, never a resumed one
        self._bundle = bundle
        train = ["-m", "edgecam", "train", "--data", str(data), "--out", str(run)]
        self._steps = [
            [*train, *TRAIN_ARGS, *extra_train],
            ["-m", "edgecam", "export", "--run", str(run), "--out", str(bundle), *EXPORT_ARGS],
        ]
        self._next()

    def _next(self) -> None:
        args = self._steps.pop(0)
        process = QProcess(self)
        process.setProcessChannelMode(QProcess.ProcessChannelMode.MergedChannels)
        process.readyReadStandardOutput.connect(lambda: self._read(process))
        process.finished.connect(lambda code, _status: self._done(process, code))
        process.errorOccurred.connect(lambda _e: self._error(process))
        self._process = process
        self.progress.emit(0, 0, f"running edgecam {args[2]}...")
        process.start(train_python(), args)

    def _read(self, process: QProcess) -> None:
        text = bytes(process.readAllStandardOutput()).decode("utf-8", "replace")
        for line in text.splitlines():
            line = line.strip()
            if not line:
                continue
            self._last_line = line
            match = _EPOCH.match(line)
            if match:
                done, total = int(match.group(1)) - 1, int(match.group(2))
                self.progress.emit(done, total, f"training: epoch {done + 1} of {total}")
            elif line.startswith(("done:", "wrote", "edgecam: error")):
                self.progress.emit(0, 0, line)

    def _done(self, process: QProcess, code: int) -> None:
        if process is not self._process:
            return
        self._read(process)
        self._process = None
        if code != 0:
            self._steps = []
            self.failed.emit(self._last_line or f"exit status {code}")
        elif self._steps:
            self._next()
        else:
            self.finished.emit(self._bundle)

    def _error(self, process: QProcess) -> None:
        if process is self._process and process.error() == QProcess.ProcessError.FailedToStart:
            self._process = None
            self._steps = []
            self.failed.emit(f"{train_python()} could not start: {process.errorString()}")

    def stop(self) -> None:
        """Kill a running step (the window is closing)."""
        process, self._process = self._process, None
        self._steps = []
        if process is not None:
            process.kill()
            process.waitForFinished(3000)
