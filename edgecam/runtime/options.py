"""What opening an engine needs: the delegate, the runtime and their settings, nothing else."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from edgecam.config import GPU_DELEGATE_ENV, Delegate, Runtime
from edgecam.errors import ConfigError

_EDGETPU_DEVICE = re.compile(r"^(usb|pci)(:\d+)?$")


@dataclass(frozen=True)
class EngineOptions:
    """How :func:`edgecam.runtime.engine.open_engine` loads a model.

    Attributes:
        delegate: where to run (see :class:`~edgecam.config.Delegate`).
        runtime: which interpreter package (see :class:`~edgecam.config.Runtime`).
        threads: CPU threads for XNNPACK; None lets edgecam decide (all cores, at most 4).
        edgetpu_device: ``usb``, ``usb:N``, ``pci`` or ``pci:N``; None for the first found.
        gpu_delegate_library: a classic GPU delegate library; default from $EDGECAM_GPU_DELEGATE.
    """

    delegate: Delegate = Delegate.AUTO
    runtime: Runtime = Runtime.AUTO
    threads: int | None = None
    edgetpu_device: str | None = None
    gpu_delegate_library: Path | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "delegate", Delegate.parse(self.delegate))
        object.__setattr__(self, "runtime", Runtime.parse(self.runtime))
        if self.threads is not None and not 1 <= self.threads <= 64:
            raise ConfigError(
                f"--threads must be between 1 and 64, got {self.threads}",
                f"this machine has {os.cpu_count()} CPU cores",
            )
        if self.edgetpu_device is not None and not _EDGETPU_DEVICE.match(self.edgetpu_device):
            raise ConfigError(
                f"unknown Edge TPU device '{self.edgetpu_device}'", "use usb, usb:N, pci or pci:N"
            )
        gpu_lib = self.gpu_delegate_library or os.environ.get(GPU_DELEGATE_ENV) or None
        object.__setattr__(self, "gpu_delegate_library", Path(gpu_lib) if gpu_lib else None)
