"""Open an inference engine: one loaded model on the delegate the user's options ask for.

The engine kinds live in :mod:`edgecam.runtime.interpreter`, the delegates in the table of
:mod:`edgecam.runtime.delegates`; :func:`open_engine` walks that table.
"""

from __future__ import annotations

import logging

from edgecam.bundle import ModelFiles
from edgecam.config import Delegate
from edgecam.errors import DelegateError, ModelError
from edgecam.runtime import delegates
from edgecam.runtime.backends import Backend, load_backend
from edgecam.runtime.delegates import DelegateEntry
from edgecam.runtime.interpreter import (
    CompiledModelEngine,
    Engine,
    InterpreterEngine,
    TensorSpec,
    default_threads,
)
from edgecam.runtime.options import EngineOptions

__all__ = [
    "CompiledModelEngine",
    "Engine",
    "EngineOptions",
    "InterpreterEngine",
    "TensorSpec",
    "default_threads",
    "open_engine",
]

logger = logging.getLogger(__name__)


def _load(
    entry: DelegateEntry, backend: Backend, files: ModelFiles, options: EngineOptions
) -> Engine:
    reason = entry.probe(backend, files, options)
    if reason is not None:
        raise reason
    return entry.load(backend, files, options)


def open_engine(files: ModelFiles, options: EngineOptions) -> Engine:
    """Load ``files`` on the delegate ``options`` asks for.

    An explicit delegate that cannot be honoured raises :class:`DelegateError`. ``auto`` walks
    :data:`edgecam.runtime.delegates.DELEGATES` in order (the Edge TPU when the model has an
    Edge TPU variant, then the GPU, then the CPU) and logs a warning for each fallback so the
    front end can tell the user.
    """
    backend = load_backend(options.runtime)
    table = delegates.DELEGATES  # looked up per call: tests put entries in
    if options.delegate is not Delegate.AUTO:
        kind = [entry for entry in table if entry.delegate is options.delegate]
        # None applies (the Edge TPU for a plain model): the last of its kind says why not.
        entry = next((e for e in kind if e.applies(files, options)), kind[-1])
        return _load(entry, backend, files, options)

    candidates = [entry for entry in table if entry.applies(files, options)]
    # The fallbacks are told only once an engine runs: when the model fails everywhere, the
    # user's error is the model's, not a GPU note before it.
    fallbacks: list[str] = []
    for i, entry in enumerate(candidates):
        if i == len(candidates) - 1:  # the last resort: its failure is the user's error
            engine = _load(entry, backend, files, options)
            for text in fallbacks:
                logger.warning(text)
            return engine
        try:
            engine = _load(entry, backend, files, options)
        except (DelegateError, ModelError) as exc:
            fatal = entry.fatal(files, exc)
            if fatal is not None:
                raise fatal from None
            text = f"{entry.label} not used: {exc.message}"
            if i + 1 == len(candidates) - 1:
                text += f"; running on the {candidates[-1].label}"
            fallbacks.append(text)
            continue
        for text in fallbacks:
            logger.warning(text)
        return engine
    raise DelegateError(  # only a table whose last entry does not apply gets here
        f"no delegate can run {files.model}", "use --delegate cpu"
    )
