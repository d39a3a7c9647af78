"""The delegate table: every way edgecam can run a model, in the order ``auto`` tries them.

Each entry is one module here implementing :class:`~edgecam.runtime.delegates.base.DelegateEntry`
(``applies``, ``probe``, ``load``, ``describe``). Adding a delegate is one new module plus one
line in :data:`DELEGATES`; :func:`edgecam.runtime.engine.open_engine` walks the table.
"""

from __future__ import annotations

from edgecam.runtime.delegates.base import DelegateEntry
from edgecam.runtime.delegates.cpu import Cpu
from edgecam.runtime.delegates.edgetpu import (
    EDGETPU_INSTALL_HINT,
    EDGETPU_LIBRARY,
    EdgeTpu,
    edgetpu_library_name,
    is_edgetpu_compiled,
    load_edgetpu_delegate,
)
from edgecam.runtime.delegates.gpu_compiled import GpuCompiled
from edgecam.runtime.delegates.gpu_library import GpuLibrary, load_gpu_delegate

#: In auto order: the Edge TPU (only for a model with an Edge TPU variant or compiled for it),
#: then the GPU (a given delegate library, else ai-edge-litert's accelerator), then the CPU,
#: which runs everything else and so must stay last.
DELEGATES: tuple[DelegateEntry, ...] = (EdgeTpu(), GpuLibrary(), GpuCompiled(), Cpu())

__all__ = [
    "DELEGATES",
    "EDGETPU_INSTALL_HINT",
    "EDGETPU_LIBRARY",
    "DelegateEntry",
    "edgetpu_library_name",
    "is_edgetpu_compiled",
    "load_edgetpu_delegate",
    "load_gpu_delegate",
]
