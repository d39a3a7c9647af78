"""The teach mode's worker: fits a head on the captures with :class:`edgecam.teach.Teacher`.

Qt-free. Everything runs on one worker thread (the Teacher is not thread-safe) and is handed
back as a :class:`concurrent.futures.Future`. One Teacher is kept per embedder, so a second
"Teach" embeds only the captures that are new: the rest come from its in-memory cache.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgecam.teach import Teacher, TeachOptions
from edgecam.teach.teacher import TeachReport

WORK_PREFIX = "edgecam-teach-"
#: Every capture trains: the live view is the test, and a few captures are all there is.
LIVE_OPTIONS = TeachOptions(validation=0.0)

Classes = list[tuple[str, list[np.ndarray]]]


def is_work_bundle(path: Path) -> bool:
    """``path`` is in a teach session's work folder (gone when the window closes)."""
    return any(p.name.startswith(WORK_PREFIX) for p in Path(path).parents)


@dataclass(frozen=True)
class Taught:
    """A fitted and exported head: the bundle, the report and how long it all took."""

    bundle: Path
    report: TeachReport
    seconds: float
    key: object


class TeachSession:
    """Teaches in a worker thread; bundles go to a private work folder until saved."""

    def __init__(self, options: TeachOptions = LIVE_OPTIONS) -> None:
        self.options = options
        self.work_dir = Path(tempfile.mkdtemp(prefix=WORK_PREFIX))
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="edgecam-teach")
        self._teacher: Teacher | None = None
        self._embedder: Path | None = None
        self._count = 0
        self._fitted_key: object = None

    def teach(self, embedder: Path, classes: Classes, key: object) -> Future:
        """Fit on ``classes`` and export a bundle to the work folder; a Future of :class:`Taught`.

        ``key`` identifies the captures (equal keys, equal captures): saving them again
        without a change reuses this fit.
        """
        return self._executor.submit(self._teach, Path(embedder), classes, key)

    def save(
        self, embedder: Path, classes: Classes, key: object, bundle: Path, then=None
    ) -> Future:
        """Export the head for ``classes`` to ``bundle`` (fitting first if they changed), then
        call ``then()`` on the same thread (e.g. to write the captures)."""
        return self._executor.submit(self._save, Path(embedder), classes, key, Path(bundle), then)

    def submit(self, fn, *args) -> Future:
        """Run ``fn(*args)`` on the teach thread (in order with the fits)."""
        return self._executor.submit(fn, *args)

    def close(self) -> None:
        """Finish what was asked, release the embedder and delete the work folder."""
        self._executor.submit(self._close)
        self._executor.shutdown(wait=True)

    # -- the worker thread -------------------------------------------------------------------

    def _teacher_for(self, embedder: Path) -> Teacher:
        if self._teacher is None or self._embedder != embedder:
            if self._teacher is not None:
                self._teacher.close()
                self._teacher = None
            self._teacher = Teacher(embedder, self.options)
            self._embedder = embedder
            self._fitted_key = None
        return self._teacher

    def _fit(self, embedder: Path, classes: Classes, key: object) -> Teacher:
        teacher = self._teacher_for(embedder)
        if key is not None and key == self._fitted_key and teacher.head is not None:
            return teacher
        # Start from no classes each time: deleted captures and renamed classes are then
        # simply absent, and the images still there come from the embedding cache.
        for name in list(teacher.classes):
            teacher.remove_class(name)
        for name, images in classes:
            teacher.add_images(name, images)
        teacher.fit()
        self._fitted_key = key
        return teacher

    def _teach(self, embedder: Path, classes: Classes, key: object) -> Taught:
        started = time.perf_counter()
        teacher = self._fit(embedder, classes, key)
        self._count += 1
        previous = self.work_dir / f"taught-{self._count - 2}"
        if previous.exists():  # the one before the bundle in use: nothing reads it any more
            shutil.rmtree(previous, ignore_errors=True)
        bundle = teacher.export(self.work_dir / f"taught-{self._count}", name="taught")
        return Taught(bundle, teacher.report, time.perf_counter() - started, key)

    def _save(self, embedder: Path, classes: Classes, key: object, bundle: Path, then) -> Taught:
        started = time.perf_counter()
        teacher = self._fit(embedder, classes, key)
        target = teacher.export(bundle)
        if then is not None:
            then()
        return Taught(target, teacher.report, time.perf_counter() - started, key)

    def _close(self) -> None:
        if self._teacher is not None:
            self._teacher.close()
            self._teacher = None
        shutil.rmtree(self.work_dir, ignore_errors=True)
